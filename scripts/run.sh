#!/usr/bin/env bash
# The main command: builds `quartet` and runs the five-node federation on loopback
# (deploy/local-federation.sh -> `quartet demo`), each nation and the UK aggregator a separate
# process replicating over mutual TLS. Once the nodes listen, it appends the UK plan's four
# workforce priorities at uk and quarterly readings of UK measure P2.A2.M1 at each nation through
# the operators' HTTPS API, and shows them replicated at uk. Ctrl-C stops the federation.
# Not built yet: the dashboard and the import of the full seed plans (issue 5).
# Usage: scripts/run.sh [DIR]   (default ./demo-data/federation; reused if it exists)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
if [ -z "${QUARTET:-}" ]; then
    swift build -c release --product quartet >/dev/null
    export QUARTET="$PWD/.build/release/quartet"
fi
dir="${1:-$PWD/demo-data/federation}"
fresh=1
[ -e "$dir/demo.json" ] && fresh=0
deploy/local-federation.sh "$dir" &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo' INT TERM
# Wait until every node's /healthz answers.
up() {
    [ -e "$dir/demo.json" ] || return 1
    python3 - "$dir/demo.json" <<'PY'
import json, subprocess, sys
demo = json.load(open(sys.argv[1]))
for n in demo["nodes"]:
    if subprocess.run(["curl", "-sf", "--max-time", "1", "--cacert", demo["ca_certificate"], n["api"] + "/healthz"], capture_output=True).returncode:
        sys.exit(1)
PY
}
for _ in $(seq 1 300); do
    up && break
    kill -0 $demo 2>/dev/null || { echo "run: the federation did not start" >&2; exit 1; }
    sleep 0.2
done
if [ "$fresh" = 1 ]; then
    python3 - "$dir/demo.json" <<'PY'
import json, subprocess, sys
demo = json.load(open(sys.argv[1]))
ca = demo["ca_certificate"]
nodes = {n["name"]: n for n in demo["nodes"]}
def post(node, body):
    n = nodes[node]
    out = subprocess.run(["curl", "-sS", "--fail-with-body", "--cacert", ca, "--cert", n["operator_certificate"], "--key", n["operator_key"],
                          "-H", "content-type: application/json", "-d", json.dumps(body), n["api"] + "/v1/logs/" + node + "/entries"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("append at %s failed: %s %s" % (node, out.stdout, out.stderr))
for pid, title in [("P1", "Optimising occupational therapy"), ("P2", "Demonstrating value and impact"),
                   ("P3", "Retention and career development"), ("P4", "Effective workforce planning")]:
    post("uk", {"type": "plan.priority", "payload": {"id": pid, "title": title}})
for nation in ["wales", "england", "scotland", "northern-ireland"]:
    for q in range(1, 5):
        # UK measure P2.A2.M1: "10 workforce reform workshops co-delivered annually ..."
        post(nation, {"type": "progress.reading", "payload": {"measure": "P2.A2.M1", "nation": nation, "period": "2026-Q%d" % q, "value": q % 2}})
print("seeded: 4 priorities at uk, 4 readings at each nation")
PY
fi
sleep 1
python3 - "$dir/demo.json" <<'PY'
import json, subprocess, sys
demo = json.load(open(sys.argv[1]))
r = demo["reader"]
uk = [n for n in demo["nodes"] if n["name"] == "uk"][0]
out = subprocess.run(["curl", "-sS", "--cacert", demo["ca_certificate"], "--cert", r["certificate"], "--key", r["key"], uk["api"] + "/v1/logs"],
                     capture_output=True, text=True)
logs = json.loads(out.stdout)["logs"]
print("logs held at uk (the aggregator):")
for l in logs:
    print("  %-17s %3d entries  root %s" % (l["log"], l["size"], l.get("root", "-")))
print("read them: curl --cacert %s --cert %s --key %s %s/v1/logs/wales/entries" % (demo["ca_certificate"], r["certificate"], r["key"], uk["api"]))
print("dashboard: not built yet (issue 5); Ctrl-C stops the federation")
PY
wait $demo
