#!/usr/bin/env bash
# The main command. The five-node federation (`quartet demo`: TLS, replication, the combined
# view and its dashboard) is not built yet (issues 3-5). Until it is, this builds `quartet` and
# creates the five logs the federation will hold - uk, wales, england, scotland,
# northern-ireland - each in its own data directory under ./demo-data (or $1), appends the UK
# plan's four workforce priorities and a year of quarterly readings of one UK measure, verifies every directory, and prints each log's
# signed checkpoint and verifier key.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build -c release --product quartet >/dev/null
Q="$PWD/.build/release/quartet"
root="${1:-$PWD/demo-data}"
if [ -e "$root" ]; then
    echo "run: $root already exists; remove it or pass another directory" >&2
    exit 1
fi
mkdir -p "$root"

priorities=(
  '{"id":"P1","title":"Optimising occupational therapy"}'
  '{"id":"P2","title":"Demonstrating value and impact"}'
  '{"id":"P3","title":"Retention and career development"}'
  '{"id":"P4","title":"Effective workforce planning"}'
)
for log in uk wales england scotland northern-ireland; do
    "$Q" init --log "$log" --data "$root/$log" >/dev/null
    if [ "$log" = uk ]; then
        for p in "${priorities[@]}"; do
            printf '%s' "$p" | "$Q" append --data "$root/$log" --type plan.priority --author demo --payload - >/dev/null
        done
    else
        for q in 1 2 3 4; do
            # UK measure P2.A2.M1: "10 workforce reform workshops co-delivered annually ..."
            printf '{"measure":"P2.A2.M1","nation":"%s","period":"2026-Q%s","value":%s}' "$log" "$q" "$((q % 2))" \
                | "$Q" append --data "$root/$log" --type progress.reading --author demo --payload - >/dev/null
        done
    fi
    "$Q" verify --data "$root/$log" >/dev/null
    echo "== $log ($root/$log): verified"
    "$Q" checkpoint --data "$root/$log" --log "$log"
    echo "vkey: $("$Q" key vkey --data "$root/$log" --log "$log")"
    echo
done
echo "Five signed logs are in $root. Try:"
echo "  $Q log --data $root/wales --log wales"
echo "  $Q proof inclusion --data $root/wales --log wales --index 2 --format json"
echo "There is no dashboard yet: the federation (serve, demo, dashboard) arrives with issues 3-5."
