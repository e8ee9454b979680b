#!/usr/bin/env bash
# Starts the five-node federation (uk, wales, england, scotland, northern-ireland) on loopback
# with `quartet demo`: PKI, keys, configurations, five `quartet serve` processes. Ctrl-C stops
# them all. Usage: deploy/local-federation.sh [DIR] (default ./demo-data/federation).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
Q="${QUARTET:-$PWD/.build/release/quartet}"
[ -x "$Q" ] || swift build -c release --product quartet >/dev/null
exec "$Q" demo --dir "${1:-$PWD/demo-data/federation}"
