#!/usr/bin/env bash
# The federation across a (virtual) network: five nodes in their own network namespaces,
# onboarded by certificate requests and started from the packaged unit's ExecStart line
# (scripts/netns/federation.py says what it shows). Needs root; fails, never passes empty,
# where namespaces cannot be made.
#   scripts/check-netns.sh [QUARTET_BINARY] [-- options of federation.py]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-.build/debug/quartet}"
shift || true
[ "${1:-}" = "--" ] && shift
if [ "$(id -u)" -ne 0 ]; then
    echo "check-netns: needs root (network namespaces); CI runs as root" >&2
    exit 1
fi
for tool in ip nft curl python3; do
    command -v "$tool" >/dev/null || { echo "check-netns: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
exec python3 scripts/netns/federation.py --quartet "$binary" --unit "${QUARTET_UNIT:-deploy/debian/quartet@.service}" \
    --example "${QUARTET_EXAMPLE_CONFIG:-config/wales.example.json}" "$@"
