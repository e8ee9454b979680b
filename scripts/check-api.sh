#!/usr/bin/env bash
# Checks a seeded five-node federation from outside, with independent clients:
#   1. the web interface driven by Selenium in headless Chromium (Tests/Browser/web_test.py): a
#      reader's path from the home page to a measure's provenance, verified in the browser;
#      tampered proofs shown as failed; axe-core with zero violations on every page; screenshots
#      in $OUT/web;
#   2. the overview as that browser rendered it once signed in: the page shows the priorities x
#      nations matrix and SVG charts, loads nothing external; a screenshot is kept in
#      $OUT/dashboard.png for people to look at;
#   3. schemathesis (PyPI) against docs/openapi.yaml on the UK node: no 5xx and no response that
#      contradicts the document (status codes, content types, schemas, headers).
# Usage: scripts/check-api.sh [QUARTET_BINARY]   (default .build/debug/quartet)
set -euo pipefail
cd "$(dirname "$0")/.."
Q="${1:-$PWD/.build/debug/quartet}"
# (A variable of its own: a shell's generic OUT is not removed.)
OUT="${QUARTET_CHECK_API_OUT:-$PWD/.build/check-api}"
case "$OUT" in
    */ | */. | */.. | */./* | */../*) echo "check-api: QUARTET_CHECK_API_OUT must not end in / nor hold . or .. components: $OUT" >&2; exit 1 ;;
    /?*/?*) ;;
    *) echo "check-api: QUARTET_CHECK_API_OUT must be an absolute path below a directory, not $OUT" >&2; exit 1 ;;
esac
# Only a directory this script made is removed (it leaves a mark in it), or its own default.
if [ -e "$OUT" ] && [ ! -e "$OUT/.quartet-check-api" ] && [ "$OUT" != "$PWD/.build/check-api" ]; then
    echo "check-api: $OUT exists and is not check-api's output (no .quartet-check-api in it): not removed" >&2
    exit 1
fi
rm -rf "$OUT" && mkdir -p "$OUT" && touch "$OUT/.quartet-check-api"
dir="$OUT/federation"
"$Q" demo --dir "$dir" > "$OUT/demo.out" 2>&1 &
demo=$!
trap 'kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    grep -q "^Dashboard" "$OUT/demo.out" 2>/dev/null && break
    kill -0 $demo 2>/dev/null || { cat "$OUT/demo.out" >&2; echo "check-api: the demo did not start" >&2; exit 1; }
    sleep 0.2
done
grep -q "^Dashboard" "$OUT/demo.out" || { cat "$OUT/demo.out" >&2; echo "check-api: no dashboard address after 120 s" >&2; exit 1; }
read -r api reader operator ca < <(python3 - "$dir/demo.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
uk = [n for n in d["nodes"] if n["name"] == "uk"][0]
print(uk["api"], d["reader"]["token"], uk["operator_token"], d["ca_certificate"])
PY
)
# Hostile labels: wales's operator records rows whose labels carry markup behind a prepend mark
# (U+0600 merges with '<' into one grapheme) and plain markup; the aggregate shows the labels
# at uk. None of it may become an element in the browser.
python3 - "$dir/demo.json" "$OUT/hostile.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wales = [n for n in d["nodes"] if n["name"] == "wales"][0]
rows = [{"board": "\u0600<meta http-equiv=refresh content=0;url=https://example.invalid/>", "band": "7", "count": 12},
        {"board": "\u0600<style>body{display:none}</style>", "band": "7", "count": 15},
        {"board": "<img src=x onerror=alert(1)>", "band": "6", "count": 20}]
json.dump({"type": "dataset.rows", "classification": "heiw.workforce.headcount", "payload": {"dataset": "hostile", "period": "2025", "rows": rows}},
          open(sys.argv[2], "w"))
print(wales["api"], wales["operator_token"], file=open(sys.argv[2] + ".target", "w"))
PY
read -r wales_api wales_token < "$OUT/hostile.json.target"
curl -sS --fail-with-body --cacert "$ca" -H "Authorization: Bearer $wales_token" -H "content-type: application/json" \
    --data-binary "@$OUT/hostile.json" "$wales_api/v1/logs/wales/entries" > "$OUT/hostile.out" \
    || { cat "$OUT/hostile.out"; echo "check-api: could not record the hostile rows" >&2; exit 1; }
# Until the aggregator holds every nation's log as far as its writer does and its view has
# folded it all (replicated batches are folded a few ms after they are stored: view_size).
python3 - "$dir/demo.json" "$ca" <<'PY' || exit 1
import json, ssl, sys, time, urllib.request
d, ca = json.load(open(sys.argv[1])), sys.argv[2]
context = ssl.create_default_context(cafile=ca)
def logs(node):
    request = urllib.request.Request(node["api"] + "/v1/logs", headers={"Authorization": "Bearer " + d["reader"]["token"]})
    return {l["log"]: l for l in json.load(urllib.request.urlopen(request, context=context, timeout=10))["logs"]}
uk = [n for n in d["nodes"] if n["name"] == "uk"][0]
deadline, last = time.time() + 60, None
while time.time() < deadline:
    try:
        own = {n["name"]: logs(n)[n["name"]]["size"] for n in d["nodes"]}
        held = logs(uk)
        last = {name: (own[name], held[name]["size"], held[name].get("view_size")) for name in own}
        if all(h == o and v is not None and v >= o for o, h, v in last.values()):
            sys.exit(0)
    except Exception as error:
        last = error
    time.sleep(0.2)
print("check-api: the aggregator did not hold and fold every nation's log within 60 s (log: writer, held, folded): %s" % (last,), file=sys.stderr)
sys.exit(1)
PY

# 1. The web interface, a reader's path through it, in-browser verification and axe-core
#    (Tests/Browser/web_test.py; screenshots of every page in $OUT/web).
QUARTET_BIN="$Q" python3 Tests/Browser/web_test.py "$dir/demo.json" "$OUT/web" || { echo "check-api: the browser tests failed" >&2; exit 1; }

# 2. The overview as the reader's browser rendered it (web_test.py wrote the screenshot and
#    the DOM once signed in: a sign-in link opens a page whose button signs in).
python3 - "$OUT/dashboard.png" "$OUT/dashboard.html" <<'PY'
import struct, sys, zlib
png, html = sys.argv[1], open(sys.argv[2], encoding="utf-8").read()
data = open(png, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert w >= 1000 and h >= 1000, (w, h)
assert len(data) > 50_000, "the screenshot is suspiciously small (%d bytes): a blank page?" % len(data)
for needle in ["Priorities × nations", "UK measures with a target", "Wales", "Northern Ireland", "verified", "target 10"]:
    assert needle in html, "the rendered dashboard lacks %r" % needle
# The overview draws the measures with a target; every other measure is a link to its page.
assert html.count("<svg") >= 2, "expected the targets' charts, found %d svg elements" % html.count("<svg")
assert html.count('href="/measures/') >= 10, "expected links to the measures' pages, found %d" % html.count('href="/measures/')
for bad in ["<script", "src=\"http", "href=\"http", "@import"]:
    assert bad not in html, "the dashboard refers to something external or runs script: %r" % bad
# The hostile labels are shown as text, never as elements.
assert "http-equiv=refresh" in html, "the hostile aggregate did not reach the dashboard"
assert "<meta http-equiv" not in html.lower(), "a label injected a <meta> element"
assert html.lower().count("<style") == 1, "a label injected a <style> element"
assert "<img" not in html.lower(), "a label injected an <img> element"

print("check-api: dashboard rendered in Chromium (%dx%d, %d bytes, %d charts) -> %s" % (w, h, len(data), html.count("<svg"), png))
PY


# 3. schemathesis against the OpenAPI document, as the UK operator (who may also read).
schemathesis run docs/openapi.yaml --url "$api" -H "Authorization: Bearer $operator" --tls-verify "$ca" \
    -n "${SCHEMATHESIS_EXAMPLES:-20}" --generation-deterministic \
    --checks not_a_server_error,unsupported_method,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    > "$OUT/schemathesis.txt" 2>&1 || { cat "$OUT/schemathesis.txt"; echo "check-api: schemathesis found problems" >&2; exit 1; }
grep -E "generated|passed" "$OUT/schemathesis.txt" | tail -2 | sed 's/^/check-api: schemathesis: /'
echo "check-api: ok"
