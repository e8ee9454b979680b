#!/usr/bin/env bash
# The main command: builds `quartet` and runs the five-node federation on loopback
# (deploy/local-federation.sh -> `quartet demo`), each nation and the UK aggregator a separate
# process replicating over mutual TLS. A new federation is seeded through the operators' API:
# the UK plan at uk, the Wales plan at wales, the UK actions adopted at england, scotland and
# northern-ireland, and a year of status updates, readings and evidence at every node. It
# prints the dashboard address and a reader token. Ctrl-C stops the federation.
# Usage: scripts/run.sh [DIR]   (default ./demo-data/federation; reused if it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
if [ -z "${QUARTET:-}" ]; then
    swift build -c release --product quartet >/dev/null
    export QUARTET="$PWD/.build/release/quartet"
fi
exec deploy/local-federation.sh "${1:-$PWD/demo-data/federation}"
