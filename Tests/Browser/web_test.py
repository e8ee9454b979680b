#!/usr/bin/env python3
"""The web interface in a real browser (Selenium driving Debian's Chromium), against a seeded
demo federation (scripts/check-api.sh starts it and passes its demo.json):

1. a reader signs in and follows links from the home page: a nation, an action, a priority, a
   measure and its "How do we know?" page, where the page's own script verifies every entry's
   inclusion proof and the checkpoint's Ed25519 signature with WebCrypto (every row ticked);
2. a tampered proof and a tampered checkpoint signature in the served page are shown as failed,
   saying what failed;
2a. wales's operator records a reading through the form (a bad value is reported beside its
   field first), sees the receipt, and a reader finds it on uk's measure page within seconds;
   a reader gets no form; the node status page and a data owner's audit page (for the
   holder's operator) render;
3. search finds an action by words;
4. every page passes axe-core 4.12 (WCAG 2.0/2.1/2.2 A and AA rules) with zero violations, starts
   with a skip link reachable by keyboard, and a chart's data is in a table as well;
5. a screenshot of each page is kept in OUT.

Usage: web_test.py DEMO_JSON OUT_DIR
"""
import base64
import http.server
import importlib.util
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def axe_source():
    """axe-core 4.12 as the axe-playwright-python package bundles it (read as a file, the
    package is not imported: Selenium injects it). axe-selenium-python bundles axe-core 3.x,
    which has no WCAG 2.1 or 2.2 rules."""
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None:
        fail("axe-playwright-python is not installed (scripts/setup.sh installs it)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "axe.min.js")
    return open(path, encoding="utf-8").read()


def fail(message):
    print("web-test: FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def browser():
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--window-size=1280,1600",
                 "--disable-dev-shm-usage", "--no-first-run"]:
        options.add_argument(flag)
    options.accept_insecure_certs = True
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(120)
    return driver


def sign_in_by_link(d, base, token):
    """A sign-in link opens a page that asks, whose button signs in: a link changes no session
    by itself (one opened from a mail or chat application could sign an operator out)."""
    d.get(base + "/login?token=" + token)
    WebDriverWait(d, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "form[action='/login'] input[type=hidden][name=token]")))
    d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(d, 20).until(lambda drv: "/login" not in drv.current_url)


class Visit:
    def __init__(self, driver, out):
        self.driver, self.out, self.pages = driver, out, []
        self.axe = axe_source()

    def check(self, name):
        """axe with zero violations, a skip link first by keyboard, a screenshot."""
        d = self.driver
        d.execute_script(self.axe)
        # Only the violations come back (the whole result, with every pass, is slow to carry).
        violations = json.loads(d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {runOnly: {type: 'tag', values: %s}})"
            ".then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify([{id: 'axe-error', impact: String(e), nodes: [{html: ''}]}])));"
            % json.dumps(AXE_TAGS)))
        if violations:
            detail = "; ".join("%s (%s): %s" % (v["id"], v["impact"], v["nodes"][0]["html"][:160]) for v in violations)
            fail("%s: axe found %d violation(s): %s" % (name, len(violations), detail))
        d.save_screenshot(os.path.join(self.out, name + ".png"))
        body = d.find_element(By.TAG_NAME, "body")
        d.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0,0)")
        body.send_keys(Keys.TAB)
        first = d.switch_to.active_element
        if first.get_attribute("href") is None or not first.get_attribute("href").endswith("#main"):
            fail("%s: the first element reached by Tab is not the skip link (got %r)" % (name, first.get_attribute("outerHTML")[:120]))
        first.send_keys(Keys.ENTER)  # the skip link moves on to the main content
        if not d.execute_script("return location.hash === '#main'"):
            fail("%s: the skip link does not lead to the main content" % name)
        if len(d.find_elements(By.TAG_NAME, "h1")) != 1:
            fail("%s: expected exactly one h1" % name)
        self.pages.append((name, d.current_url, len(d.page_source.encode())))

    def follow(self, css, name):
        links = self.driver.find_elements(By.CSS_SELECTOR, css)
        if not links:
            fail("no link %r on %s" % (css, self.driver.current_url))
        href = links[0].get_attribute("href")
        links[0].click()
        WebDriverWait(self.driver, 20).until(EC.url_to_be(href))
        self.check(name)
        return href


def tampering_node(api, token, ca, figure_path):
    """A test node that serves the real node's "How do we know?" page and its script, with the
    first entry's inclusion proof changed (or, for an entry with an empty proof, its header):
    what a lying node would serve. Plain HTTP on 127.0.0.1, which browsers treat as a secure
    context (WebCrypto works). Returns its address and the server (to shut down)."""
    context = ssl.create_default_context(cafile=ca)

    def get(path):
        request = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token})
        return urllib.request.urlopen(request, context=context, timeout=20).read()
    page = get(figure_path).decode()
    script = get("/assets/verify.js")
    marker = "id=provenance-data>"
    start = page.index(marker) + len(marker)
    end = page.index("</script>", start)
    data = json.loads(page[start:end])
    inclusion = data["entries"][0]["inclusion"]
    if inclusion["proof"]:
        inclusion["proof"][0] = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
    else:
        data["entries"][0]["entry"]["header"] = data["entries"][0]["entry"]["header"][:-4] + "AAAA"
    tampered = (page[:start] + json.dumps(data).replace("<", "\\u003c") + page[end:]).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, kind = (script, "text/javascript") if self.path == "/assets/verify.js" else (tampered, "text/html; charset=utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/figure" % server.server_address[1], server


def tamper(driver, change):
    """Changes the page's provenance data with the JavaScript `change` (it sees `data`), then
    has the page check it again, as if the node had served it so."""
    driver.execute_script(
        "const el = document.getElementById('provenance-data');"
        "const data = JSON.parse(el.textContent);"
        + change +
        "el.textContent = JSON.stringify(data);"
        "window.quartetVerify();")


def wait_verified(driver, timeout=30):
    WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-verified")


def fresh_vkey(name, kind):
    """A verifier key (signed-note, kind 0x01; tlog-cosignature, 0x04) for a new Ed25519 key."""
    import base64, hashlib
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    khash = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw).digest()[:4].hex()
    return "%s+%s+%s" % (name, khash, base64.b64encode(bytes([kind]) + raw).decode())


def rotated_log(variant=None, name="zz-rotated", origin="example.org/zz-rotated"):
    """A two-entry log written here from docs/formats.md with Python `cryptography`, sharing no
    code with Quartet: entry 0 a note, entry 1 a `key.rotation` from key 0 (the pinned one) to
    key 1, and the checkpoint of size 2 signed by key 1. `variant` makes the rotation wrong in
    one way, the entry still in the tree: "unsigned" (its previous-key signature by key 1),
    "stolen" (from a third key, signed by it), "spaced" (signed, but not the payload's one fixed
    form), "back" (two more rotations, signed: key 1 back to key 0, then to key 1 again); and
    "twice", no fault: a second rotation, key 1 to key 2, at entry 2 and a note at entry 3, the
    checkpoint of size 4 signed by key 2; "twice-back": key 1 to key 2, then key 2 back to key 0,
    signed by key 0. Returns (JavaScript that adds the log to the page's data, the log's name,
    its pinned verifier key — for "twice" and "twice-back", key 1's: the key a policy written
    between the first two rotations names)."""
    import base64, hashlib, struct
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    b64 = lambda b: base64.b64encode(b).decode()
    sha = lambda b: hashlib.sha256(b).digest()
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    raw = [k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for k in keys]
    key_id = lambda pub: sha(origin.encode() + b"\n" + b"\x01" + pub)[:4]
    vkeys = ["%s+%s+%s" % (origin, key_id(pub).hex(), b64(b"\x01" + pub)) for pub in raw]
    string = lambda t: bytes([len(t.encode())]) + t.encode()

    def entry(index, kind, payload):
        salt = os.urandom(32)
        header = (b"\x01" + string(name) + struct.pack(">QQ", index, 1767225600000 + index) + string(kind) + string("public")
                  + string("test") + sha(salt + payload) + struct.pack(">I", len(payload)))
        return header, salt, payload

    previous = 2 if variant == "stolen" else 0
    statement = ("quartet key rotation\n%s\n1\n%s\n%s\n" % (origin, vkeys[previous], vkeys[1])).encode()
    fields = {"key": b64(raw[1]), "key_signature": b64(keys[1].sign(statement)), "previous": b64(raw[previous]),
              "previous_signature": b64(keys[1 if variant == "unsigned" else previous].sign(statement)), "vkey": vkeys[1]}
    payload = json.dumps(fields, separators=(", ", ": ") if variant == "spaced" else (",", ":")).encode()
    h0, _, _ = entry(0, "test.note", b'{"n":0}')
    h1, salt, payload = entry(1, "key.rotation", payload)
    leaves = [sha(b"\x00" + h) for h in (h0, h1)]
    if variant in ("back", "twice", "twice-back"):
        # "back": two more rotations, at entries 2 and 3: key 1 back to key 0 (the pinned key),
        # then to key 1 again; the checkpoint of size 4 is signed by key 1. Every step is
        # signed; the chain comes back to keys it had. "twice": key 1 to key 2 at entry 2, a
        # note at 3, the checkpoint signed by key 2.
        def rotation(index, frm, to):
            st = ("quartet key rotation\n%s\n%d\n%s\n%s\n" % (origin, index, vkeys[frm], vkeys[to])).encode()
            f = {"key": b64(raw[to]), "key_signature": b64(keys[to].sign(st)), "previous": b64(raw[frm]),
                 "previous_signature": b64(keys[frm].sign(st)), "vkey": vkeys[to]}
            return f, entry(index, "key.rotation", json.dumps(f, separators=(",", ":")).encode())
        # "twice-back": key 1 to key 2 at entry 2, key 2 back to key 0 at entry 3, signed by
        # key 0: followed from key 1 (a policy written between the rotations), key 0 is a key
        # stated before the one followed from.
        signer = {"twice": 2, "back": 1, "twice-back": 0}[variant]
        f2, (h2, salt2, payload2) = rotation(2, 1, 0 if variant == "back" else 2)
        if variant == "twice":
            f3, (h3, salt3, payload3) = None, entry(3, "test.note", b'{"n":3}')
        else:
            f3, (h3, salt3, payload3) = rotation(3, 0, 1) if variant == "back" else rotation(3, 2, 0)
        leaves += [sha(b"\x00" + h2), sha(b"\x00" + h3)]
        left, right = sha(b"\x01" + leaves[0] + leaves[1]), sha(b"\x01" + leaves[2] + leaves[3])
        root = sha(b"\x01" + left + right)
        text = "%s\n4\n%s\n" % (origin, b64(root))
        note = text + "\n\u2014 %s %s\n" % (origin, b64(key_id(raw[signer]) + keys[signer].sign(text.encode())))
        def item(index, h, salt_, payload_, fields_, proof):
            return {"entry": {"log": name, "index": index, "header": b64(h), "payload": fields_, "payload_base64": b64(payload_), "salt": b64(salt_),
                              "type": "key.rotation"},
                    "inclusion": {"log": name, "index": index, "size": 4, "proof": [b64(x) for x in proof]}}
        items = [item(1, h1, salt, payload, fields, [leaves[0], right]), item(2, h2, salt2, payload2, f2, [leaves[3], left])]
        if variant != "twice":
            items.append(item(3, h3, salt3, payload3, f3, [leaves[2], left]))
        js = ("data.checkpoints[%s] = %s; data.keys[%s] = {vkey: %s, pinned: %s}; data.rotations = data.rotations || {}; data.rotations[%s] = %s;"
              % tuple(json.dumps(x) for x in (name, note, name, vkeys[signer], vkeys[0], name, items)))
        return js, name, vkeys[0] if variant == "back" else vkeys[1]
    root = sha(b"\x01" + leaves[0] + leaves[1])
    text = "%s\n2\n%s\n" % (origin, b64(root))
    note = text + "\n\u2014 %s %s\n" % (origin, b64(key_id(raw[1]) + keys[1].sign(text.encode())))
    item = {"entry": {"log": name, "index": 1, "header": b64(h1), "payload": fields, "payload_base64": b64(payload), "salt": b64(salt),
                      "type": "key.rotation"},
            "inclusion": {"log": name, "index": 1, "size": 2, "proof": [b64(leaves[0])]}}
    js = ("data.checkpoints[%s] = %s; data.keys[%s] = {vkey: %s, pinned: %s}; data.rotations = data.rotations || {}; data.rotations[%s] = [%s];"
          % tuple(json.dumps(x) for x in (name, note, name, vkeys[1], vkeys[0], name, item)))
    return js, name, vkeys[0]


def made_up_log(name, origin, entries, time=1767225600000):
    """A log written here from docs/formats.md with Python `cryptography` (no code shared with
    Quartet), as a hostile member could sign one: `entries` are (type, payload) pairs, the
    payload a dict or its exact bytes, all public, and the checkpoint covers them all. Returns JavaScript that puts the log on the
    page's data (its checkpoint, its key as the node's, every entry with its inclusion proof)."""
    import base64, hashlib, struct
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    b64 = lambda b: base64.b64encode(b).decode()
    sha = lambda b: hashlib.sha256(b).digest()
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = sha(origin.encode() + b"\n" + b"\x01" + raw)[:4]
    vkey = "%s+%s+%s" % (origin, key_id.hex(), b64(b"\x01" + raw))
    string = lambda t: bytes([len(t.encode())]) + t.encode()
    made = []
    for index, (kind, fields) in enumerate(entries):
        payload = fields if isinstance(fields, bytes) else json.dumps(fields, separators=(",", ":")).encode()
        if isinstance(fields, bytes):
            fields = None
        salt = os.urandom(32)
        header = (b"\x01" + string(name) + struct.pack(">QQ", index, time + index) + string(kind) + string("public")
                  + string("test") + sha(salt + payload) + struct.pack(">I", len(payload)))
        made.append((index, kind, fields, payload, salt, header))
    leaves = [sha(b"\x00" + m[5]) for m in made]

    # RFC 9162 section 2.1.1 and 2.1.3.1: the tree's root and a leaf's inclusion path.
    def root(hs):
        if len(hs) == 1:
            return hs[0]
        k = 1
        while k * 2 < len(hs):
            k *= 2
        return sha(b"\x01" + root(hs[:k]) + root(hs[k:]))

    def path(m, hs):
        if len(hs) == 1:
            return []
        k = 1
        while k * 2 < len(hs):
            k *= 2
        return path(m, hs[:k]) + [root(hs[k:])] if m < k else path(m - k, hs[k:]) + [root(hs[:k])]

    text = "%s\n%d\n%s\n" % (origin, len(made), b64(root(leaves)))
    note = text + "\n\u2014 %s %s\n" % (origin, b64(key_id + key.sign(text.encode())))
    items = [{"entry": {"log": name, "index": i, "header": b64(h), "payload": f, "payload_base64": b64(pl), "salt": b64(sl), "type": k},
              "inclusion": {"log": name, "index": i, "size": len(made), "proof": [b64(x) for x in path(i, leaves)]}}
             for (i, k, f, pl, sl, h) in made]
    return ("data.checkpoints[%s] = %s; data.keys[%s] = {vkey: %s, pinned: %s}; if (data.witnesses) delete data.witnesses[%s]; data.entries = data.entries.concat(%s);"
            % tuple(json.dumps(x) for x in (name, note, name, vkey, vkey, name, items)))


def check_log_context(d, api, total, status):
    """A member's own log signed with entries every node's fold refuses for what came before them
    in that log (a measure of an action the log never defined; a status after its action's
    withdrawal): the page takes them no more than the nodes do, so a node stating the figure
    they would give fails, and the figure the nodes give matches."""
    figure_line = lambda: d.find_element(By.ID, "figure-check").text
    year = total.split(":")[2]
    uk_measure = total.split(":")[1]
    measure = {"id": "P1.A9.M1", "action": "P1.A9", "text": "made up", "kind": "count", "uk_measure": uk_measure}
    action = {"id": "P1.A9", "priority": "P1", "statements": ["made up"]}
    reading = {"measure": "P1.A9.M1", "period": year, "value": 1000}
    raw = lambda d: json.dumps(d, separators=(",", ":")).encode()
    # Payloads the node's JSON parser refuses (so every node's fold leaves them out) and
    # JSON.parse takes: a byte-order mark, a lone UTF-16 surrogate, a number that is zero only
    # by underflow; and one with a key twice, which must leave the entry out, not fail the page.
    surrogate = b'{"id":"P1.A9","priority":"P1","statements":["\\udc00"]}'
    underflow = raw(measure)[:-1] + b',"target":{"value":1e-400,"per":"year"}}'
    twice = b'{"action":"P1.A9","action":"P1.A9","status":"done","as_of":"2026-01-01"}'
    cases = [("with its action", [("plan.action", action), ("plan.measure", measure), ("progress.reading", reading)], True),
             ("without its action", [("plan.measure", measure), ("progress.reading", reading)], False),
             ("read with a byte-order mark", [("plan.action", action), ("plan.measure", measure), ("progress.reading", b"\xef\xbb\xbf" + raw(reading))], False),
             ("of an action with a lone surrogate", [("plan.action", surrogate), ("plan.measure", measure), ("progress.reading", reading)], False),
             ("with a target of 1e-400", [("plan.action", action), ("plan.measure", underflow), ("progress.reading", reading)], False),
             ("beside a status giving a key twice", [("plan.action", action), ("progress.status", twice), ("plan.measure", measure), ("progress.reading", reading)], True)]
    # Entries dated past JavaScript's last date (year 275,760) are shown, not a failure.
    cases.append(("dated past any date", [("plan.action", action), ("plan.measure", measure), ("progress.reading", reading)], True, 9_000_000_000_000_000))
    cases.append(("dated 2^60 ms", [("plan.action", action), ("plan.measure", measure), ("progress.reading", reading)], True, 1 << 60))
    for case in cases:
        what, entries, adds = case[:3]
        d.get(api + "/figures/" + total)
        wait_verified(d)
        state = rerun(d, made_up_log("zz-member", "example.org/zz-member", entries, *case[3:])
                      + "data.stated = JSON.stringify(JSON.parse(data.stated) + 1000);")
        if state[0] != "ok" and adds:
            fail("a made-up member's measure %s failed the page: %r" % (what, state))
        figure = d.find_element(By.TAG_NAME, "body").get_attribute("data-figure")
        # Left out means the page's own figure is the nodes' (a clean mismatch with the stated
        # value), not a page that broke.
        if figure != ("match" if adds else "mismatch"):
            fail("a made-up member's measure %s was %s in the UK total: %s %r" % (what, "left out" if adds else "added", figure, figure_line()))
        print("web-test: a member's measure %s %s the total: %s" % (what, "adds to" if adds else "does not add to", figure_line()))
    def stated_with(entries, cases, what, figure_id=total):
        """The total (`figure_id`), stated with each delta over what the nodes give, against a
        made-up member holding `entries`: `match` or `mismatch` as `cases` expects."""
        for delta, expected in cases:
            d.get(api + "/figures/" + figure_id)
            wait_verified(d)
            rerun(d, made_up_log("zz-member", "example.org/zz-member", entries) + "data.stated = JSON.stringify(JSON.parse(data.stated) + %d);" % delta)
            figure = d.find_element(By.TAG_NAME, "body").get_attribute("data-figure")
            if figure != expected:
                fail("%s, stated %+d in the total: %s, not %s: %r" % (what, delta, figure, expected, figure_line()))
    # A reading admitted while its measure was a percentage, the measure then redefined as a
    # count mapped to the UK measure: it adds nothing (as every node folds it, the kind a
    # reading was admitted under decides), so a node stating the total with it fails.
    percentage = {k: v for k, v in measure.items() if k != "uk_measure"}
    percentage["kind"] = "percentage"
    stated_with([("plan.action", action), ("plan.measure", percentage), ("progress.reading", dict(reading, value=50)), ("plan.measure", measure)],
                [(50, "mismatch"), (0, "match")], "a reading admitted as a percentage")
    print("web-test: a reading admitted as a percentage adds nothing to a UK total once its measure is a count")
    # A level (the UK plan's headcount P1.A1.M1, `over_time: latest` in the UK log): a member's
    # year is its latest quarter, a quarter its latest month (in calendar order, whatever order
    # the entries came in), not their sum, whatever the member's own definition says; a UK
    # measure that sums (P2.A2.M1, workshops) adds them all, whatever the member says.
    def periods(uk_measure, own_rule):
        return [("plan.action", action), ("plan.measure", dict(measure, uk_measure=uk_measure, over_time=own_rule)),
                ("progress.reading", dict(reading, period="2025-Q1", value=100)),
                ("progress.reading", dict(reading, period="2025-08", value=7)), ("progress.reading", dict(reading, period="2025-07", value=5))]
    stated_with(periods("P1.A1.M1", "sum"), [(112, "mismatch"), (5, "mismatch"), (7, "match")], "a level's latest period", "total:P1.A1.M1:2025")
    stated_with(periods("P2.A2.M1", "latest"), [(7, "mismatch"), (112, "match")], "a sum of periods", "total:P2.A2.M1:2025")
    print("web-test: a UK level adds a member's latest period, a UK sum all of them, whatever the member's own rule")
    # A year is the sum of its quarters as each stands (its reading, else its months'): the
    # first quarter whole and a later month both count, as every node sums them.
    if not re.fullmatch(r"[0-9]{4}", year):
        fail("the demo's first UK total is not a year's: %s" % total)
    # (Of a UK measure that sums: the demo's first total may be a level's.)
    stated_with([("plan.action", action), ("plan.measure", dict(measure, uk_measure="P2.A2.M1")), ("progress.reading", dict(reading, period=year + "-Q1", value=5)),
                 ("progress.reading", dict(reading, period=year + "-05", value=1))],
                [(5, "mismatch"), (6, "match")], "a quarter and a later month", "total:P2.A2.M1:" + year)
    print("web-test: a year sums a quarter reported whole and a later month")
    log, action_id = status.split(":")[1], status.split(":")[2]
    entries = [("plan.action", {"id": action_id, "priority": action_id.split(".")[0], "statements": ["made up"]}),
               ("progress.status", {"action": action_id, "status": "on-track", "as_of": "2026-01-01"}),
               ("plan.action.withdrawn", {"id": action_id, "reason": "made up", "as_of": "2026-01-15"}),
               ("progress.status", {"action": action_id, "status": "done", "as_of": "2026-02-01"})]
    for stated, expected in [("done", "mismatch"), ("on-track", "match")]:
        d.get(api + "/figures/" + status)
        wait_verified(d)
        rerun(d, "data.checkpoints = {}; data.keys = {}; data.entries = []; data.rotations = {};"
              + made_up_log(log, "example.org/" + log, entries) + "data.stated = %s;" % json.dumps(json.dumps(stated)))
        figure = d.find_element(By.TAG_NAME, "body").get_attribute("data-figure")
        if figure != expected:
            fail("a status recorded after its action's withdrawal, stated %s: %s %r" % (stated, figure, figure_line()))
    print("web-test: a status recorded after its action's withdrawal is left out, as the nodes leave it: %s" % figure_line())


def json_corpus(count=3000, seed=2026):
    """Payload bytes for the differential check of the two JSON parsers: hand-picked edges of
    the node's rules (a byte-order mark, surrogates escaped and encoded, zeros by exponent or
    underflow, keys equal only canonically, control characters, nesting at the bound, bytes that
    are not UTF-8) and random edits of well-formed payloads over JSON's own characters."""
    import random
    seeds = [b'{"measure":"P1.A1.M1","period":"2025-Q1","value":7}',
             b'{"a":[1,2,{"b":null}],"c":true,"d":false,"e":"x","f":-0.5e3}',
             '{"id":"P1.A1","priority":"P1","statements":["T\u00e9st é  "]}'.encode(),
             rb'[{"k":"\"\\\/\b\f\n\r\t\u0041"}]']
    edges = [b"\xef\xbb\xbf{}", b"{}", b"", b" ", b"1", b'"x"', b"null", b"true false", b"{} {}",
             b'{"a":"\\ud800"}', b'{"a":"\\udc00"}', b'{"a":"\\ud800\\u0041"}', b'{"a":"\\ud83d\\ude00"}',
             b'{"a":"\xed\xa0\x80"}', b'{"a":"\xf0\x9f\x98\x80"}', b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xe2\x82"}',
             b'{"a":1e-400}', b'{"a":0e0}', b'{"a":-0}', b'{"a":-0.0}', b'{"a":0.000}', b'{"a":1e400}', b'{"a":-1e400}',
             b'{"a":01}', b'{"a":1.}', b'{"a":.5}', b'{"a":+1}', b'{"a":1e+5}', b'{"a":-}', b'{"a":1E-5}', b'{"a":2.4e-324}',
             b'{"a":4.9e-324}', b'{"a":1e-323}', b'{"a":123456789012345678901234567890}', b'{"a":1.7976931348623157e308}',
             b'{"a":1.7976931348623159e308}', b'{"a":0.0e-0}', b'{"a":-0e5}',
             b'{"a":1,"a":2}', '{"é":1,"é":2}'.encode(), '{"\\u00e9":1,"é":2}'.encode(), b'{"a":1,"A":2}',
             b'{"a":"\x01"}', b'{"a":"\\u0000"}', b'{"a":"\x7f"}', b'{"a":"\xc2\x80"}', b'{"a":"\t"}',
             b'{ "a" :\t1\r\n}', b'{\x0c"a":1}', b'\xc2\xa0{}', b'{"a":1,}', b'[1,]', b'{"a":"\\x"}', b'{"a":"\\U0041"}',
             '{"a":"￿"}'.encode(), b'{"a":"\\uffff"}', b'{"a":"\\u00"}', b'{"a":tru}', b'{"a":nul}', b'{"a" 1}', b'{1:2}']
    # Keys equal only canonically (Kelvin sign, Greek question mark), a slash escaped or not,
    # surrogate escapes paired and not, numbers at the edges of a double, bytes past Unicode.
    edges += ['{"K":1,"\u212a":2}'.encode(), '{";":1,"\u037e":2}'.encode(), b'{"/":1,"\\/":2}', b'{"":1,"":2}',
              b'{"a":"\\uD83D\\uDE00"}', b'{"a":"\\uD800\\uDBFF"}', b'{"a":"\\uDFFF"}', b'{"a":"\\uFFFE"}', b'{"__proto__":1}',
              b'{"a":2.4703282292062327e-324}', b'{"a":2.4703282292062328e-324}', b'{"a":1' + b"0" * 309 + b"}",
              b'{"a":0.' + b"0" * 400 + b"1}", b'{"a":-0e-0}', b'{"a":0e+1}', b'{"a":1E400}', b'{"a":-}', b'{"a":1.e5}', b'{"a":-01}',
              b'{"a":1.7976931348623158e308}', b'{"a":1.7976931348623159077e308}', b'{"a":"\xf4\x90\x80\x80"}', b'{"a":"\xf5"}',
              b'{"a":"\xe0\x80\x80"}', '\u2028{}'.encode(), b"[" * 100000, b'{"a":' * 5000 + b"1"]
    for depth in (126, 127, 128, 129, 200):
        edges.append(b"[" * depth + b"]" * depth)
        edges.append(b'{"a":' * depth + b"1" + b"}" * depth)
    alphabet = list(b'{}[]":,\\ue-+.0123456789 \t\n\rEabtrfln') + [0xc3, 0xa9, 0xef, 0xbb, 0xbf, 0xed, 0xa0, 0x80, 0x01, 0x7f]
    rng = random.Random(seed)
    out = list(edges)
    while len(out) < count:
        b = bytearray(rng.choice(seeds + edges[:10]))
        for _ in range(rng.randint(1, 3)):
            op, at = rng.randint(0, 2), rng.randint(0, len(b))
            if op == 0:
                b[at:at] = bytes([rng.choice(alphabet)])
            elif op == 1 and at < len(b):
                del b[at]
            elif at < len(b):
                b[at] = rng.choice(alphabet)
        out.append(bytes(b))
    return out


def plan_corpus(count=4000, seed=2027):
    """Entries for the differential check of the two folds: for each plan type the page
    recomputes, well-formed payloads and random structured edits of them (a field dropped or
    added, a value swapped for one at the edge of the node's rules: ids, periods, dates, lengths
    in scalars, blanks by Unicode's tables, numbers at their bounds, controls and overrides),
    then byte edits of some, each under a measure kind. Returns (kind, type, payload bytes)."""
    import random, json
    kinds = ["count", "percentage", "milestone", "distribution", "qualitative"]
    seeds = {
        "progress.reading": [{"measure": "P1.A1.M1", "period": "2025-Q1", "value": 7}, {"measure": "P1.A1.M1", "period": "2025", "value": 55.5},
                             {"measure": "P1.A1.M1", "period": "2025-03", "achieved": True}, {"measure": "P1.A1.M1", "period": "2025", "categories": {"a": 1, "b 2": 3}},
                             {"measure": "P1.A1.M1", "period": "2025", "text": "hello", "note": "n"}],
        "progress.status": [{"action": "P1.A1", "status": "on-track", "as_of": "2025-02-28", "note": "x"}],
        "plan.measure": [{"id": "P1.A1.M2", "action": "P1.A1", "text": "t", "kind": "count", "unit": "u", "uk_measure": "P2.A1.M1",
                          "target": {"value": 10, "per": "year", "scope": "uk", "quote": "q"}, "cadence": "annual", "over_time": "latest"},
                         {"id": "P1.A1.M3", "action": "P1.A1", "text": "t", "kind": "percentage", "target": {"value": 90, "per": "plan"}}],
        "plan.action": [{"id": "P1.A2", "priority": "P1", "statements": ["a", "b"], "measures": ["P1.A2.M1"],
                         "timeframe": {"text": "t", "start_year": 2024, "end_year": 2026}, "uk_actions": ["P1.A1"], "source": "s"}],
        "plan.action.revised": [{"id": "P1.A1", "priority": "P1", "statements": ["a"], "reason": "r"}],
        "plan.action.withdrawn": [{"id": "P1.A1", "reason": "r", "as_of": "2025-01-31"}],
    }
    texts = ["", " ", "\u3000", "\u200b", "\ufeff", "\u180e", "\u0085", "\u00a0", "\t", "x\ny", "x\ty", "x\u2028y", "\u202ex", "x\u2066",
             "\u0080", "\u009f", "\u007f", "\u0001", "\u00e9", "e\u0301", "\U0001F600", "a" * 200, "a" * 201, "\U0001F600" * 2000,
             "\U0001F600" * 2001, "a" * 4000, "a" * 4001, "a" * 8000, "a" * 8001, " a ", "P1.A1", "P1.A01", "P01.A1", "P1.A1.M0", "P1.A1.M1",
             "P1.A1.M2", "P2.A1.M1", "P999.A999.M999", "P1000.A1", "P1.A1 ", "P1.a1", "P\u0661.A1", "2025", "2025-Q1", "2025-Q5", "2025-00",
             "2025-12", "2025-13", "1899", "1900", "2999", "3000", "2025-02-29", "2024-02-29", "2025-13-01", "2025-1-01", "20250101",
             "on-track", "done", "ON-TRACK", "year", "plan", "uk", "nation", "annual", "monthly", "every-three-years", "count", "qualitative", "sum", "latest"]
    numbers = [0, 1, -1, 7, 7.0, 7.5, -0.0, 1e-7, 100, 100.0001, 99.99, 1e9, 1e9 + 1, 1000000000.5, 2 ** 53 + 1, 1e300, 2000, 2100, 2101, 1999]
    others = [True, False, None, [], {}, ["a"], [""], ["a"] * 100, ["a"] * 101, ["a" * 4000], ["a" * 4001], ["e" + "\u0301" * 3999], ["e" + "\u0301" * 4000], {"a": 1}, {"": 1}, {" ": 1}, {"\u200b": 1}, {"a\tb": 2},
              {"a\nb": 2}, {"k%d" % i: 1 for i in range(1000)}, {"k%d" % i: 1 for i in range(1001)}, {"a": -1}, {"a": 1e9 + 1}, {"a": "1"}]
    pool = texts + numbers + others
    rng = random.Random(seed)

    def edit(value):
        value = json.loads(json.dumps(value))
        target = value
        path = []
        while isinstance(target, dict) and target and rng.random() < 0.3:
            key = rng.choice(sorted(target))
            if not isinstance(target[key], (dict, list)):
                break
            path.append(key)
            target = target[key]
        if isinstance(target, list):
            if target and rng.random() < 0.5:
                target[rng.randrange(len(target))] = rng.choice(pool)
            else:
                target.append(rng.choice(pool))
            return value
        op = rng.randrange(4)
        if op == 0 and target:
            del target[rng.choice(sorted(target))]
        elif op == 1:
            target[rng.choice(texts[:30] + ["value", "achieved", "text", "categories", "note", "extra", "id", "reason"])] = rng.choice(pool)
        elif target:
            target[rng.choice(sorted(target))] = rng.choice(pool)
        return value

    out = []
    for type_, payloads in seeds.items():
        for p in payloads:
            for kind in kinds:
                out.append((kind, type_, json.dumps(p, ensure_ascii=rng.random() < 0.5).encode()))
    fits = {"value": ["count", "percentage"], "achieved": ["milestone"], "categories": ["distribution"], "text": ["qualitative"]}
    while len(out) < count:
        type_ = rng.choice(sorted(seeds))
        p = rng.choice(seeds[type_])
        # A reading mostly under a kind it fits, so that edits that keep it foldable are seen.
        kind = rng.choice(kinds)
        for field, good in fits.items():
            if field in p and rng.random() < 0.6:
                kind = rng.choice(good)
        for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
            p = edit(p)
        raw = json.dumps(p, ensure_ascii=rng.random() < 0.5, separators=rng.choice([(",", ":"), (", ", ": ")])).encode()
        if rng.random() < 0.15:
            b = bytearray(raw)
            at = rng.randrange(len(b) + 1)
            b[at:at] = bytes([rng.choice(b'0123456789.-eE"\\ ,:{}[]')])
            raw = bytes(b)
        out.append((kind, type_, raw))
    return out


def check_fold_differential(d):
    """The page's fold (`foldLog`: the shapes, the clean strings and the log's context it checks
    an entry against) against the node's (`StrategyView`: `PlanValidator`, the typed decoding and
    its control checks, through `quartet dev plan-reads`), entry by entry, for every plan type
    the page recomputes under every measure kind: an entry one folds and the other leaves out
    would make the page's figure differ from every node's."""
    import base64
    quartet = os.environ["QUARTET_BIN"]
    if not d.execute_script("return typeof window.quartetFoldTakes === 'function'"):
        fail("the figure page has no window.quartetFoldTakes")
    corpus = plan_corpus()
    lines = ["%s\t%s\t%s" % (kind, type_, base64.b64encode(raw).decode()) for kind, type_, raw in corpus]
    swift = subprocess.run([quartet, "dev", "plan-reads"], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True).stdout.split()
    page = d.execute_script("return arguments[0].map(x => window.quartetFoldTakes(x[0], x[1], x[2]) ? '1' : '0')",
                            [[kind, type_, base64.b64encode(raw).decode()] for kind, type_, raw in corpus])
    taken = same_verdicts("the page's fold and the node's", "plan entries", corpus, swift, page, minimum=200)
    print("web-test: the page's fold and the node's agree on %d plan entries (%d folded, %d left out)" % (len(corpus), taken, len(corpus) - taken))
    # After the action's withdrawal (as of 2025-01-31): no new measure, no status, readings of
    # periods begun by then only; each fold judges the entry against the log as it stands.
    withdrawal = [["plan.action.withdrawn", '{"id":"P1.A1","reason":"merged","as_of":"2025-01-31"}']]
    fits = {"count": '"value":3', "percentage": '"value":3', "milestone": '"achieved":true', "distribution": '"categories":{"a":1}', "qualitative": '"text":"t"'}
    sequences = []
    for kind, value in fits.items():
        for period in ["2024", "2024-Q4", "2025", "2025-Q1", "2025-01", "2025-02", "2025-Q2", "2026"]:
            sequences.append((kind, "progress.reading", ('{"measure":"P1.A1.M1","period":"%s",%s}' % (period, value)).encode()))
        sequences.append((kind, "plan.measure", ('{"id":"P1.A1.M1","action":"P1.A1","text":"again","kind":"%s"}' % kind).encode()))
        # Defined again with a new mapping, or another kind: left out (its readings would count anew).
        sequences.append((kind, "plan.measure", ('{"id":"P1.A1.M1","action":"P1.A1","text":"again","kind":"%s","uk_measure":"P2.A1.M1"}' % kind).encode()))
        sequences.append((kind, "plan.measure", ('{"id":"P1.A1.M1","action":"P1.A1","text":"again","kind":"%s"}' % ("percentage" if kind == "count" else "count")).encode()))
        sequences.append((kind, "plan.measure", b'{"id":"P1.A1.M2","action":"P1.A1","text":"new","kind":"count"}'))
        sequences.append((kind, "progress.status", b'{"action":"P1.A1","status":"done","as_of":"2025-02-01"}'))
    before = base64.b64encode(json.dumps(withdrawal).encode()).decode()
    swift = subprocess.run([quartet, "dev", "plan-reads"], input="".join("%s\t%s\t%s\t%s\n" % (k, t, base64.b64encode(r).decode(), before) for k, t, r in sequences),
                           capture_output=True, text=True, check=True).stdout.split()
    page = d.execute_script("return arguments[0].map(x => window.quartetFoldTakes(x[0], x[1], x[2], arguments[1]) ? '1' : '0')",
                            [[k, t, base64.b64encode(r).decode()] for k, t, r in sequences], withdrawal)
    taken = same_verdicts("the page's fold and the node's after a withdrawal", "plan entries", sequences, swift, page, minimum=0)
    if taken != 5 * 6:
        fail("after a withdrawal as of 2025-01-31 the folds took %d entries, not the 30 expected (per kind: readings of 2024, 2024-Q4, 2025, 2025-Q1, 2025-01 and the measure defined again)" % taken)
    print("web-test: after a withdrawal the page's fold and the node's agree on %d entries (%d folded)" % (len(sequences), taken))


def same_verdicts(what, items, corpus, node, page, minimum):
    """Fails unless the node's and the page's verdicts (one '1' or '0' each per input) agree on
    every input of `corpus` and each side has at least `minimum`; the number taken."""
    if len(node) != len(corpus) or len(page) != len(corpus):
        fail("%s: the node answered %d and the page %d of %d %s" % (what, len(node), len(page), len(corpus), items))
    differ = [(corpus[i], node[i], page[i]) for i in range(len(corpus)) if node[i] != page[i]]
    if differ:
        fail("%s differ on %d of %d %s, e.g. %s" % (what, len(differ), len(corpus), items,
                                                   "; ".join("%r node %s page %s" % c for c in differ[:8])))
    taken = node.count("1")
    if taken < minimum or len(corpus) - taken < minimum:
        fail("%s: the corpus is one-sided, %d of %d taken" % (what, taken, len(corpus)))
    return taken


def check_json_parsers(d):
    """The page's parser (`nodeReadsJSON`, which decides what the page folds) against the node's
    (`JSONValueCoding.parse`, through `quartet dev json-reads`), input by input: a payload one
    takes and the other refuses would make the page's figure differ from every node's."""
    import base64
    quartet = os.environ.get("QUARTET_BIN")
    if not quartet:
        fail("QUARTET_BIN is not set (scripts/check-api.sh sets it to the quartet binary)")
    if not d.execute_script("return typeof window.quartetNodeReads === 'function'"):
        fail("the figure page has no window.quartetNodeReads")
    corpus = json_corpus()
    encoded = [base64.b64encode(b).decode() for b in corpus]
    swift = subprocess.run([quartet, "dev", "json-reads"], input="\n".join(encoded) + "\n", capture_output=True, text=True, check=True).stdout.split()
    page = d.execute_script("return arguments[0].map(x => window.quartetNodeReads(x) ? '1' : '0')", encoded)
    taken = same_verdicts("the page's JSON parser and the node's", "inputs", corpus, swift, page, minimum=100)
    print("web-test: the page's JSON parser and the node's agree on %d inputs (%d taken, %d refused)" % (len(corpus), taken, len(corpus) - taken))


def rerun(d, change):
    """Changes the page's data with `change` and waits for the page's check of it: the body's
    data-verified, data-rotations and data-failure, and the summary."""
    tamper(d, "document.body.dataset.verified = ''; " + change)
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    body = d.find_element(By.TAG_NAME, "body")
    return (body.get_attribute("data-verified"), body.get_attribute("data-rotations"), body.get_attribute("data-failure"),
            d.find_element(By.ID, "verify-summary").text)


def omit_and_state_the_rest(d, omit):
    """Has the page's data leave entries out (the JavaScript `omit`) and state the figure the
    rest give, as a node hiding entries would: the page's own check then matches."""
    tamper(d, "document.body.dataset.verified = ''; " + omit + " data.stated = JSON.stringify(-1);")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
    line = d.find_element(By.ID, "figure-check").text
    rest = re.search(r"entries give ([0-9,.]+),", line)
    if not rest:
        fail("no figure given by the entries left: %r" % line)
    tamper(d, "document.body.dataset.verified = ''; data.stated = JSON.stringify(%s);" % rest.group(1).replace(",", ""))
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))


def served_as(d, url, change, address=None):
    """Loads the honest page at `url`, then has it check its data as changed by `change` (as a
    lying node would serve it), under the figure `address` in the page's address if given;
    returns the body once the check ended."""
    d.get(url)
    wait_verified(d)
    if address is not None:
        d.execute_script("history.replaceState(null, '', '/figures/' + encodeURIComponent(arguments[0]));", address)
    tamper(d, "document.body.dataset.verified = ''; " + change)
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    return d.find_element(By.TAG_NAME, "body")


def check_recomputed(d, api, token, ca):
    """The page recomputes a reading, a UK total and an action's status from the entries it
    verified and sets them against the value the node states: equal on an honest node; a node
    stating another value (or one whose entries give another) is shown as failed."""
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(api + "/v1/view", headers={"Authorization": "Bearer " + token})
    view = json.load(urllib.request.urlopen(request, context=context, timeout=30))
    totals = [t["figure"] for t in view.get("totals", []) if t.get("figure", "").startswith("total:")]
    if not totals:
        fail("the demo's UK view has no totals to recompute")
    statuses = figures_in(view, "status:")
    if not statuses:
        fail("the demo's UK view names no action status figure")
    reading = d.current_url[d.current_url.index("/figures/"):]
    figure_line = lambda: d.find_element(By.ID, "figure-check").text
    for path in [reading, "/figures/" + totals[0], "/figures/" + statuses[0]]:
        d.get(api + path)
        state = wait_verified(d)
        body = d.find_element(By.TAG_NAME, "body")
        if state != "ok" or body.get_attribute("data-figure") != "match" or not figure_line().startswith("\u2713 Recomputed"):
            fail("%s was not recomputed to the node's figure: %s %s %r" % (path, state, body.get_attribute("data-figure"), figure_line()))
        print("web-test: %s recomputed in the browser: %s" % (path, figure_line()))
    # The whole logs, read and checked against the signed roots: the same figure.
    d.get(api + "/figures/" + totals[0])
    wait_verified(d)
    whole_line = lambda: d.find_element(By.ID, "whole-check").text
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") in ("match", "mismatch", "failed", "not-recomputed"))
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") != "match":
        fail("the whole-log check of %s did not match: %r" % (totals[0], whole_line()))
    print("web-test: the whole logs of %s read in the browser: %s" % (totals[0], whole_line()))
    # A node leaving a reading out and stating what the rest give: the page's own check cannot
    # tell; reading the logs whole does.
    omit_and_state_the_rest(d, """const i = data.entries.findIndex(item => item.entry.type === 'progress.reading');
        data.entries.splice(i, 1);""")
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-figure") != "match":
        fail("the page's own check did not take the consistent omission (as designed): %r" % figure_line())
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") in ("match", "mismatch", "failed", "not-recomputed"))
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") != "mismatch" or "left out" not in whole_line():
        fail("a reading left out with the figure stated to match was not caught by reading the logs whole: %r" % whole_line())
    print("web-test: a reading left out (the figure stated to match the rest) is caught by reading the logs whole: %s" % whole_line())
    # A public entry shown as a stub (its payload withheld, so the figure would leave it out):
    # that entry fails.
    d.get(api + "/figures/" + totals[0])
    wait_verified(d)
    tamper(d, """document.body.dataset.verified = '';
        const item = data.entries.find(item => item.entry.type === 'progress.reading');
        item.entry.payload = null; delete item.entry.payload_base64; delete item.entry.salt;""")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
    stubbed = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-entry]") if e.text.startswith("\u2717")]
    if not stubbed or "public entry is shown without its payload" not in stubbed[0]:
        fail("a public reading shown as a stub was not failed: %r" % stubbed)
    # A node stating a figure its entries do not give: the same entries all verify, the page fails.
    d.get(api + "/figures/" + totals[0])
    wait_verified(d)
    tamper(d, "document.body.dataset.verified = ''; data.stated = JSON.stringify(JSON.parse(data.stated) + 9999);")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
    body = d.find_element(By.TAG_NAME, "body")
    summary = d.find_element(By.ID, "verify-summary").text
    if body.get_attribute("data-figure") != "mismatch" or "this node states" not in summary:
        fail("a total stated 9,999 above what its entries give was not shown as failed: %r" % summary)
    print("web-test: a figure its entries do not give is shown as failed: %s" % summary)
    # A figure stated a hair off (within the 1e-9 relative the page once allowed; a total is
    # whole counts, exact in any order): failed too, with the stated value written in full, not
    # rounded to the true one.
    d.get(api + "/figures/" + totals[0])
    wait_verified(d)
    tamper(d, "document.body.dataset.verified = ''; const t = JSON.parse(data.stated); data.stated = JSON.stringify(t + Math.max(1, Math.abs(t)) * 1e-10);")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-figure") != "mismatch" or ".0000000" not in figure_line():
        fail("a total stated a hair off was not shown as a mismatch with its digits: %r" % figure_line())
    print("web-test: a figure stated a hair off is shown as failed: %s" % figure_line())
    # A reading left out of the answer: its nation's part is missing, so the entries give less.
    tamper(d, """document.body.dataset.verified = '';
        data.stated = %s;
        const i = data.entries.findIndex(item => { try { return item.entry.type === 'progress.reading'; } catch (e) { return false; } });
        data.entries.splice(i, 1);""" % json.dumps(json.dumps(0)))
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    # (Stated 0 now: whatever the rest gives, a total of readings above 0 differs, or none is left.)
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-figure") != "mismatch":
        fail("a total with a reading removed and a stated 0 was not shown as a mismatch: %r" % figure_line())
    # Data for another figure than the page's address asks for fails the page.
    tamper(d, "document.body.dataset.verified = ''; data.figure = 'total:P9.A9.M9:2025';")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-figure") != "mismatch" or "not the one this address asks for" not in figure_line():
        fail("data for another figure than the address was not refused: %r" % figure_line())
    d.get(api + "/figures/" + totals[0])
    wait_verified(d)
    # Entries left out by the answer's bound: not recomputed, and said so.
    tamper(d, "document.body.dataset.verified = ''; data.omitted = 5;")
    WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-figure") != "incomplete" or "cannot be checked whole" not in figure_line():
        fail("a figure with entries left out was not shown as incomplete: %r" % figure_line())
    # An address of a recomputed kind in a shape no node answers (a total with a fourth part),
    # served with the honest total's entries: refused, not shown green as "not recomputed".
    odd = totals[0] + ":"
    body = served_as(d, api + "/figures/" + totals[0], "data.figure = %s;" % json.dumps(odd), address=odd)
    if body.get_attribute("data-verified") != "failed" or "not one a node answers" not in figure_line():
        fail("a total's address of another shape passed unrecomputed: %r" % figure_line())
    print("web-test: a figure address of another shape is refused: %s" % figure_line())
    # A status page with the action's definition left out and no status stated: the action is
    # not shown to have no status — its definition is missing, and the page fails.
    body = served_as(d, api + "/figures/" + statuses[0], """data.entries = data.entries.filter(item => {
        try { return item.entry.type !== 'plan.action'; } catch (e) { return true; } }); data.stated = JSON.stringify(null);""")
    if body.get_attribute("data-figure") != "mismatch" or "no definition of action" not in figure_line():
        fail("a status without its action's definition, stated as none, was not failed: %r" % figure_line())
    print("web-test: a status whose action is not defined on the page fails: %s" % figure_line())
    d.get(api + reading)
    wait_verified(d)


def context_figures(api, token, ca):
    """A UK total and an action's status the demo's view names."""
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(api + "/v1/view", headers={"Authorization": "Bearer " + token})
    view = json.load(urllib.request.urlopen(request, context=context, timeout=30))
    totals = [t["figure"] for t in view.get("totals", []) if t.get("figure", "").startswith("total:")]
    statuses = figures_in(view, "status:")
    if not totals or not statuses:
        fail("the demo's UK view has no total or no status figure")
    return totals[0], statuses[0]


def check_whole_with_policy(d, api, demo, out):
    """With the reader's policy file, the whole-log check of a UK total reads every log the
    file names: a node that leaves a whole nation off the page (its entries and checkpoint) and
    states what the others give is caught."""
    quartet = os.environ["QUARTET_BIN"]
    policy = subprocess.run([quartet, "policy", "--federation", demo["federation"]], capture_output=True, text=True, check=True).stdout
    path = os.path.abspath(os.path.join(out, "policy-whole.txt"))
    with open(path, "w") as f:
        f.write(policy)
    context = ssl.create_default_context(cafile=demo["ca_certificate"])
    request = urllib.request.Request(api + "/v1/view", headers={"Authorization": "Bearer " + demo["reader"]["token"]})
    view = json.load(urllib.request.urlopen(request, context=context, timeout=30))
    total = [t["figure"] for t in view.get("totals", []) if t.get("figure", "").startswith("total:")][0]
    d.get(api + "/figures/" + total)
    wait_verified(d)
    d.find_element(By.ID, "verify-policy").send_keys(path)
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-policy") == "file"
                               and d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") in ("ok", "failed"))
    whole_line = lambda: d.find_element(By.ID, "whole-check").text
    # The first nation with a reading on the page, left off whole.
    omit_and_state_the_rest(d, """const gone = data.entries.find(item => item.entry.type === 'progress.reading').entry.log;
        data.entries = data.entries.filter(item => item.entry.log !== gone);
        delete data.checkpoints[gone];""")
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") in ("match", "mismatch", "failed", "not-recomputed"))
    if d.find_element(By.TAG_NAME, "body").get_attribute("data-whole") != "mismatch":
        fail("a nation left off a UK total whole was not caught with the reader's policy file: %r" % whole_line())
    print("web-test: a nation left off a UK total whole is caught by reading every log the policy names: %s" % whole_line())


def check_verify_figure(api, demo, out):
    """`quartet verify-figure`: the reader's own binary checks a figure's provenance answer
    against the policy file they hold, and recomputes the figure, with no script a node serves:
    a reading, a status and a UK total pass; a value stated otherwise, a payload altered, and a
    reading left out of a total with the value stated for what the rest give fail (the last is
    what reading the logs whole catches: here the stated value is kept, so it fails)."""
    quartet = os.environ["QUARTET_BIN"]
    policy = os.path.abspath(os.path.join(out, "policy-verify-figure.txt"))
    with open(policy, "w") as f:
        f.write(subprocess.run([quartet, "policy", "--federation", demo["federation"]], capture_output=True, text=True, check=True).stdout)
    reader = demo["reader"]["token"]
    context = ssl.create_default_context(cafile=demo["ca_certificate"])

    def get(path):
        request = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + reader})
        return json.load(urllib.request.urlopen(request, context=context, timeout=30))

    def verify(answer, name):
        path = os.path.join(out, name)
        with open(path, "w") as f:
            json.dump(answer, f)
        return subprocess.run([quartet, "verify-figure", "--policy", policy, "--figure", answer["figure"], path, "--format", "json"], capture_output=True, text=True)

    view = get("/v1/view")
    total = [t["figure"] for t in view.get("totals", []) if t.get("figure", "").startswith("total:")][0]
    reading = figures_in(view, "reading:")[0]
    status = figures_in(view, "status:")[0]
    for figure in (total, reading, status):
        # The idle demo's checkpoints meet the policy of every log once all four others cosigned.
        deadline = time.time() + 30
        while True:
            answer = get("/v1/view/figures/%s/provenance" % urllib.parse.quote(figure, safe=":"))
            result = verify(answer, "provenance.json")
            if result.returncode == 0 or time.time() > deadline:
                break
            time.sleep(1)
        if result.returncode != 0:
            fail("quartet verify-figure refused the honest %s: %s" % (figure, result.stderr))
        report = json.loads(result.stdout)
        if report["recomputed"] != json.dumps(answer["stated"], separators=(",", ":")) and json.loads(report["recomputed"]) != answer["stated"]:
            fail("verify-figure recomputed %s as %r, the answer states %r" % (figure, report["recomputed"], answer["stated"]))
        print("web-test: quartet verify-figure checks %s offline: %s" % (figure, report["recomputed"]))
    answer = get("/v1/view/figures/%s/provenance" % urllib.parse.quote(total, safe=":"))
    # Said as text: how late each checkpoint's quorum saw it as the newest, and that freshness
    # was not checked without --max-age (an old state a quorum did cosign passes as its time's).
    path = os.path.join(out, "provenance-text.json")
    with open(path, "w") as f:
        json.dump(answer, f)
    text = subprocess.run([quartet, "verify-figure", "--policy", policy, "--figure", total, path], capture_output=True, text=True)
    if text.returncode != 0 or "had seen as late as" not in text.stdout or "not checked: how fresh" not in text.stdout:
        fail("verify-figure's text does not say how old the checkpoints are: %s %s" % (text.stdout, text.stderr))
    # Stated otherwise: the entries give another figure.
    stated = dict(answer, stated=answer["stated"] + 1)
    result = verify(stated, "provenance-stated.json")
    if result.returncode == 0 or "not the" not in result.stderr:
        fail("verify-figure took a total stated 1 higher: %s %s" % (result.stdout, result.stderr))
    # A payload altered: its commitment no longer holds.
    altered = json.loads(json.dumps(answer))
    item = next(i for i in altered["entries"] if i["entry"]["type"] == "progress.reading")
    payload = json.loads(base64.b64decode(item["entry"]["payload_base64"]))
    payload["value"] = payload["value"] + 1
    item["entry"]["payload_base64"] = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    result = verify(altered, "provenance-altered.json")
    if result.returncode == 0 or "entry %s/%d" % (item["entry"]["log"], item["entry"]["index"]) not in result.stderr:
        fail("verify-figure took an altered payload: %s %s" % (result.stdout, result.stderr))
    # A reading left out, the value stated kept: the rest give less.
    fewer = json.loads(json.dumps(answer))
    i = next(n for n, it in enumerate(fewer["entries"]) if it["entry"]["type"] == "progress.reading" and json.loads(base64.b64decode(it["entry"]["payload_base64"])).get("value", 0) > 0)
    del fewer["entries"][i]
    result = verify(fewer, "provenance-fewer.json")
    if result.returncode == 0 or ("not the" not in result.stderr and "no such figure" not in result.stderr):
        fail("verify-figure took a total with a reading left out: %s %s" % (result.stdout, result.stderr))
    print("web-test: quartet verify-figure refuses a value stated otherwise, an altered payload and a reading left out")
    # Asked of a node and read whole (--config, --whole): the honest total passes; an answer
    # that leaves a whole nation off (its entries and checkpoint) stating what the rest give
    # passes alone, and reading the logs whole catches it.
    uk = next(n for n in demo["nodes"] if n["name"] == "uk")
    node = ["--config", uk["config"], "--token", reader]
    result = subprocess.run([quartet, "verify-figure", "--policy", policy, "--figure", total, "--whole"] + node, capture_output=True, text=True)
    if result.returncode == 0 or "--whole needs --max-age" not in result.stderr:
        fail("verify-figure --whole without --max-age was not refused (an old quorum checkpoint would pass): %s %s" % (result.stdout, result.stderr))
    result = subprocess.run([quartet, "verify-figure", "--policy", policy, "--figure", total, "--whole", "--max-age", "3600", "--format", "json"] + node, capture_output=True, text=True)
    if result.returncode != 0 or not json.loads(result.stdout).get("whole"):
        fail("verify-figure --whole refused the honest total: %s %s" % (result.stdout, result.stderr))
    print("web-test: quartet verify-figure --whole reads %s" % json.loads(result.stdout)["whole"]["logs"])
    contributors = sorted({i["entry"]["log"] for i in answer["entries"] if i["entry"]["type"] == "progress.reading"})
    if len(contributors) < 2:
        fail("the demo's total %s has readings of %r only: no nation can be left off with others left" % (total, contributors))
    gone = contributors[0]
    left = json.loads(json.dumps(answer))
    left["entries"] = [i for i in left["entries"] if i["entry"]["log"] != gone]
    del left["checkpoints"][gone]
    left.get("witnessed", {}).pop(gone, None)
    left["stated"] = 0
    said = verify(left, "provenance-left.json").stderr
    rest = re.search(r"the entries give ([0-9.]+), not the 0", said)
    if not rest:
        fail("verify-figure did not say what the rest give: %s" % said)
    left["stated"] = json.loads(rest.group(1))
    if verify(left, "provenance-left.json").returncode != 0:
        fail("the answer with a nation left off did not pass alone (it should: what is not there is not seen)")
    path = os.path.join(out, "provenance-left.json")
    result = subprocess.run([quartet, "verify-figure", "--policy", policy, "--figure", total, "--whole", "--max-age", "3600", path] + node, capture_output=True, text=True)
    if result.returncode == 0 or "read whole" not in result.stderr or "left out" not in result.stderr:
        fail("verify-figure --whole took an answer with %s left off: %s %s" % (gone, result.stdout, result.stderr))
    print("web-test: quartet verify-figure --whole catches a nation left off the answer: %s" % result.stderr.strip()[:200])


def figures_in(value, prefix):
    """Every figure id (a string starting with `prefix`) anywhere in a view answer."""
    if isinstance(value, dict):
        return [f for v in value.values() for f in figures_in(v, prefix)]
    if isinstance(value, list):
        return [f for v in value for f in figures_in(v, prefix)]
    return [value] if isinstance(value, str) and value.startswith(prefix) else []


def check_moved_on(d, api, demo):
    """The whole-log check recomputes a figure from the entries the node's view had read when
    it stated it: a view ahead of the page's checkpoint is read up to a newer one that covers
    it (checked as the page's was, and against it); entries newer than what the view had read
    are said to move the figure on, not taken as a lie."""
    context = ssl.create_default_context(cafile=demo["ca_certificate"])
    wales = [n for n in demo["nodes"] if n["name"] == "wales"][0]
    def call(base, path, token, body=None, raw=False):
        request = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        answer = urllib.request.urlopen(request, context=context, timeout=30).read()
        return answer.decode() if raw else json.loads(answer)
    view = call(api, "/v1/view", demo["reader"]["token"])
    whole_line = lambda: d.find_element(By.ID, "whole-check").text
    body = lambda: d.find_element(By.TAG_NAME, "body")
    def stated():
        return d.execute_script("return JSON.parse(JSON.parse(document.getElementById('provenance-data').textContent).stated || 'null')")
    # A wales reading whose figure is a number.
    figure = None
    for candidate in figures_in(view, "reading:wales:"):
        d.get(api + "/figures/" + candidate)
        wait_verified(d)
        if isinstance(stated(), (int, float)) and not isinstance(stated(), bool):
            figure = candidate
            break
    if figure is None:
        fail("the demo's UK view has no numeric wales reading to correct")
    _, _, measure, period = figure.split(":", 3)
    before = stated()
    page_size = d.execute_script("return Number(JSON.parse(document.getElementById('provenance-data').textContent).checkpoints.wales.split('\\n')[1])")
    # A correction of it at wales; waited for at this node, witnessed by a quorum.
    receipt = call(wales["api"], "/v1/logs/wales/entries", wales["operator_token"],
                   {"type": "progress.reading", "payload": {"measure": measure, "period": period, "value": before + 1}})
    needed = receipt["index"] + 1
    deadline = time.time() + 60
    while True:
        try:
            note = call(api, "/v1/logs/wales/checkpoint?covering=%d" % needed, demo["reader"]["token"], raw=True)
            if int(note.split("\n")[1]) >= needed and note.count("\u2014 ") >= 4:
                break
        except urllib.error.HTTPError:
            pass
        if time.time() > deadline:
            fail("the correction wales/%d did not reach this node witnessed in 60 s" % receipt["index"])
        time.sleep(0.5)
    # The page still holds the older checkpoint; its data says the view read the correction
    # and states its value, as the node would have a moment later.
    tamper(d, "document.body.dataset.verified = ''; data.folded.wales = %d; data.stated = JSON.stringify(%s);" % (needed, json.dumps(before + 1)))
    wait_verified(d)
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 60).until(lambda d: body().get_attribute("data-whole") in ("match", "moved-on", "mismatch", "failed", "not-recomputed"))
    if body().get_attribute("data-whole") != "match" or re.search(r"wales to size %d\b" % page_size, whole_line()):
        fail("a view ahead of the page's checkpoint (wales %d against %d) was not read up to a newer checkpoint: %r" % (needed, page_size, whole_line()))
    print("web-test: a figure the view read past the page's checkpoint is read whole up to a newer one: %s" % whole_line())
    # The page made after the correction, but stating the figure as of before it: the newer
    # entry is read, and said to move the figure on.
    d.get(api + "/figures/" + figure)
    wait_verified(d)
    if stated() != before + 1:
        fail("the figure did not take the correction: %r" % stated())
    tamper(d, "document.body.dataset.verified = ''; data.folded.wales = %d; data.stated = JSON.stringify(%s); data.entries = data.entries.filter(item => !(item.entry.log === 'wales' && item.entry.index >= %d));"
           % (receipt["index"], json.dumps(before), receipt["index"]))
    wait_verified(d)
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 60).until(lambda d: body().get_attribute("data-whole") in ("match", "moved-on", "mismatch", "failed", "not-recomputed"))
    # (How far the view had read is the node's word: the line says the node may have left the
    # newer entries out, never that nothing was left out.)
    if body().get_attribute("data-whole") != "moved-on" or "moved on" not in whole_line() \
            or "out of what it says its view had read" not in whole_line() or "Nothing was left out" in whole_line():
        fail("entries newer than what the view had read were not said to move the figure on: %s %r" % (body().get_attribute("data-whole"), whole_line()))
    print("web-test: newer entries than the view had read move the figure on: %s" % whole_line())
    # A node saying its view had read fewer entries than the figure's own newest: refused.
    d.get(api + "/figures/" + figure)
    wait_verified(d)
    tamper(d, "document.body.dataset.verified = ''; data.folded.wales = %d;" % receipt["index"])
    wait_verified(d)
    d.execute_script("document.body.dataset.whole = ''; window.quartetCheckWhole();")
    WebDriverWait(d, 60).until(lambda d: body().get_attribute("data-whole") in ("match", "moved-on", "mismatch", "failed", "not-recomputed"))
    if body().get_attribute("data-whole") != "failed" or "rests on its entry" not in whole_line():
        fail("a view said to have read less than the figure's own entries was not refused: %r" % whole_line())


def check_rotations(d):
    """The page follows a log's key rotations from the pinned key (a made-up log added to the
    page's data, signed by its second key): all checked, it passes; a rotation not signed by the
    key in force, one missing, or one not in the checkpoint fails it, saying why."""
    def verdict(change):
        d.refresh()
        wait_verified(d)
        return rerun(d, change)

    js, name, _ = rotated_log()
    state, rotations, _, summary = verdict(js)
    if state != "ok" or rotations != "1" or "key rotations" not in summary:
        fail("a log signed after a valid key rotation was not verified: %r %r %r" % (state, rotations, summary))
    print("web-test: a checkpoint signed after a key rotation is verified along the chain: %s" % summary)
    quoted = json.dumps(name)
    for what, change, expected in [
        ("a rotation not signed by the key in force", rotated_log("unsigned")[0], "not signed by the key in force"),
        ("a rotation from a key that was not in force", rotated_log("stolen")[0], "does not start from the key in force"),
        ("a rotation not in the fixed form", rotated_log("spaced")[0], "fixed form"),
        ("a rotation back to a key the log signed with before", rotated_log("back")[0], "signed with before"),
        ("the rotation left out", js + "data.rotations[%s] = [];" % quoted, "do not lead to"),
        ("the rotation's proof changed", js + "data.rotations[%s][0].inclusion.proof = [btoa('x'.repeat(32))];" % quoted, "inclusion proof"),
        ("the rotation's payload changed",
         js + "const r = data.rotations[%s][0].entry; r.payload_base64 = btoa(atob(r.payload_base64).replace('vkey', 'vkez'));" % quoted,
         "payload does not match"),
    ]:
        state, _, failure, _ = verdict(change)
        if state != "failed" or expected not in failure:
            fail("%s was not shown as failed (%s): %r %r" % (what, expected, state, failure))
        print("web-test: %s fails the checkpoint: %s" % (what, failure))


def check_with_policies(d, demo, out):
    quartet = os.environ.get("QUARTET_BIN")
    if not quartet:
        fail("QUARTET_BIN is not set (scripts/check-api.sh sets it to the quartet binary)")
    policy = subprocess.run([quartet, "policy", "--federation", demo["federation"]], capture_output=True, text=True, check=True).stdout

    def replaced(kind, text):
        # Every key of one kind swapped for a new key under the same key name.
        lines = []
        for line in text.splitlines():
            words = line.split()
            if kind == "log" and words[:1] == ["log"]:
                words[1] = fresh_vkey(words[1].split("+")[0], 1)
            if kind == "witness" and words[:1] == ["witness"]:
                words[2] = fresh_vkey(words[2].split("+")[0], 4)
            lines.append(" ".join(words))
        return "\n".join(lines) + "\n"

    def use(text, name):
        path = os.path.abspath(os.path.join(out, name))
        with open(path, "w") as f:
            f.write(text)
        d.refresh()
        wait_verified(d)
        d.find_element(By.ID, "verify-policy").send_keys(path)
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-policy") in ("file", "error"))
        body = d.find_element(By.TAG_NAME, "body")
        cells = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]")]
        return (body.get_attribute("data-policy"), body.get_attribute("data-verified"), body.get_attribute("data-witnessed"),
                cells, d.find_element(By.ID, "verify-summary").text)

    # The policy of every log asks one more cosignature than a log's own quorum (its own node
    # is among the witnesses): the page's checkpoints meet it once all four others cosigned,
    # which the idle demo reaches within moments of its last append.
    deadline = time.time() + 30
    got = use(policy, "policy.txt")
    while got[:3] != ("file", "ok", "quorum") and time.time() < deadline:
        time.sleep(1)
        got = use(policy, "policy.txt")
    if got[:3] != ("file", "ok", "quorum") or not all("your policy file's key" in c and "meeting its quorum" in c and "as late as" in c for c in got[3]):
        fail("the federation's policy file did not verify the page with a quorum: %r" % (got,))
    print("web-test: checked against a policy file the reader holds: %s" % got[3][0])
    d.save_screenshot(os.path.join(out, "figure-policy.png"))
    # A log's checkpoint filed under another log's name (a member showing its own tree, with
    # entries that claim to be another member's): the policy's line names the log, so it fails.
    state = rerun(d, 'const first = Object.keys(data.checkpoints)[0]; data.checkpoints["zz-elsewhere"] = data.checkpoints[first];')
    if state[0] != "failed" or "the page shows this checkpoint as log zz-elsewhere's" not in state[2]:
        fail("a checkpoint filed under another log's name was not failed: %r" % (state,))
    print("web-test: a checkpoint filed under another log's name fails: %s" % state[2])
    # A log line whose URL names no log is refused, not taken by its origin (which each member
    # chooses); a query string does not make a URL name a log either.
    # Nor one whose dot segments are percent-encoded (the URL parser resolves them; the node's
    # reading of the file does not).
    for url in ("https://example.org/elsewhere", "https://example.org/v1/logs/wales?x=/logs/england", "https://example.org/v1/logs/wales/%2e%2e/england"):
        odd = "\n".join((l.rsplit(" ", 1)[0] + " " + url) if l.startswith("log ") else l for l in policy.splitlines()) + "\n"
        got = use(odd, "policy-odd-url.txt")
        if got[1] != "failed" or not any("names no log" in c or "names the log wales" in c for c in got[3]):
            fail("a policy whose log URL is %s did not fail the checkpoints: %r" % (url, got))
    print("web-test: a policy log line whose URL names no log (or another) fails the checkpoints")
    # As the node's parser reads a policy file (finding 283): a byte-order mark before the first
    # line is refused (verify-checkpoint refuses it: an unknown first word), and so is a witness
    # whose name differs from one defined above only in Unicode form.
    got = use("\ufeff" + policy, "policy-bom.txt")
    if got[0] != "error":
        fail("a policy file starting with a byte-order mark was taken: %r" % (got,))
    lines = policy.splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("witness "))
    words = lines[at].split()
    twin = ["witness", "cafe\u0301", fresh_vkey("cafe", 4)]
    words[1] = "caf\u00e9"
    forms = "\n".join(lines[:at] + [" ".join(words), " ".join(twin)] + lines[at + 1:]) + "\n"
    got = use(forms, "policy-forms.txt")
    if got[0] != "error" or "only in Unicode form" not in got[4]:
        fail("a policy naming two witnesses that differ only in Unicode form was taken: %r" % (got,))
    print("web-test: a policy file is read as the node reads it (a byte-order mark, names differing only in Unicode form: refused)")
    # A policy written before a log rotated its key (it names the pinned key): the page follows
    # the log's rotations from the policy's key; left out, the checkpoint fails.
    # A policy written between two rotations names the first's new key: followed from there.
    cases = [("rotations on the page", None, "", None), ("rotations left out", None, 'data.rotations["zz-rotated"] = [];', "no signature by the log's key"),
             ("a rotation from a key that was not in force", "stolen", "", "does not start from the key in force"),
             ("naming the key of the first of two rotations", "twice", "", None),
             ("naming the key between two rotations, the second back to a key before it", "twice-back", "", "signed with before")]
    for what, variant, extra, failure in cases:
        # Each log made has keys of its own: the policy names its pinned key.
        js, _, pinned = rotated_log(variant)
        use(policy + "log " + pinned + "\n", "policy-rotated.txt")
        state = rerun(d, js + extra)
        policy_used = d.find_element(By.TAG_NAME, "body").get_attribute("data-policy")
        # (The made-up log has no cosignatures: under the policy's quorum the page fails, but
        # its rotations are followed and its signature stands.)
        if policy_used != "file" or (failure is None and (state[:2] != ("failed", "1") or state[2] or "lack your policy's quorum" not in state[3])) \
                or (failure is not None and (state[0] != "failed" or failure not in state[2])):
            fail("a policy naming a log's key before its rotation, %s: %r %r" % (what, policy_used, state))
        print("web-test: a policy written before a key rotation, %s: %s %s" % (what, state[0], state[2] or ""))
    # With quorum none only the log's keys vouch, and the page cannot know which the federation
    # revoked: a key the log rotated to is not followed.
    js, _, pinned = rotated_log()
    unwitnessed = "".join(l + "\n" for l in policy.splitlines() if not l.startswith(("group ", "quorum "))) + "log " + pinned + "\nquorum none\n"
    use(unwitnessed, "policy-rotated-none.txt")
    state = rerun(d, js)
    if state[0] != "failed" or "quorum is none" not in state[2]:
        fail("a policy with quorum none followed a log's key rotation: %r" % (state,))
    print("web-test: a policy with quorum none does not follow a key rotation: %s" % state[2])
    # Witness keys the node's witnesses do not hold: the log's signature stands, no quorum.
    # Below the policy's quorum a checkpoint is not accepted (tlog-policy): the page fails.
    got = use(replaced("witness", policy), "policy-other-witnesses.txt")
    if got[:3] != ("file", "failed", "below-quorum") or not all("not meeting its quorum" in c for c in got[3]) or "lack your policy's quorum" not in got[4]:
        fail("a policy naming other witness keys still found a quorum: %r" % (got,))
    print("web-test: a policy with other witness keys finds no quorum: %s" % got[3][0])
    # Log keys the logs never signed with: every checkpoint fails.
    got = use(replaced("log", policy), "policy-other-logs.txt")
    if got[1] != "failed" or not all(c.startswith("\u2717") and "no signature by the log's key" in c for c in got[3]):
        fail("a policy naming other log keys did not fail the checkpoints: %r" % (got,))
    print("web-test: a policy with other log keys fails the checkpoints: %s" % got[3][0])
    # A malformed file is refused with its line: here a witness in two groups (the groups must
    # form a tree, as the node's parser requires).
    got = use(policy + "group extra any uk\n", "policy-malformed.txt")
    if got[0] != "error" or "policy line" not in got[4] or "uk is a member of more than one group" not in got[4]:
        fail("a malformed policy file was not refused with its line: %r" % (got,))
    print("web-test: a malformed policy file is refused: %s" % got[4])
    # The parser's other refusals, through the page's script itself.
    parse = ("const done = arguments[arguments.length - 1];"
             "window.quartetParsePolicy(arguments[0]).then(p => done('parsed')).catch(e => done(e.message));")
    log_line = "log " + fresh_vkey("example.test/log", 1) + "\n"
    witness_line = "witness w " + fresh_vkey("example.test/w", 4) + "\n"
    import base64 as b64mod, hashlib
    def vkey_of(name, kind, raw):
        return "%s+%s+%s" % (name, hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw).digest()[:4].hex(), b64mod.b64encode(bytes([kind]) + raw).decode())
    # A witness key that is the identity point (anyone can sign for it), as the node refuses.
    weak = "witness z " + vkey_of("example.test/z", 4, bytes([1]) + bytes(31)) + "\n"
    # Two keys of one name whose 4-byte key ids collide (a birthday search, as anyone can make):
    # a signature line names only name and id, so the parser refuses the second, as the node's does.
    def colliding(name):
        seen, i = {}, 0
        while True:
            i += 1
            raw = hashlib.sha256(b"key %d" % i).digest()
            kind = 1 if i % 3 == 0 else 4
            kid = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + raw).digest()[:4]
            if kid in seen and seen[kid][1] != raw and 4 in (kind, seen[kid][0]):
                return sorted([seen[kid], (kind, raw)]), kid.hex()
            seen[kid] = (kind, raw)
    twins, twin_id = colliding("example.test/twin")
    twin_lines = ["log %s\n" % vkey_of("example.test/twin", k, r) if k == 1 else "witness T%d %s\n" % (n, vkey_of("example.test/twin", k, r))
                  for n, (k, r) in enumerate(twins)]
    twin_policy = (log_line if twins[0][0] == 4 else "") + "".join(twin_lines) + "quorum T1\n"
    twin_refusal = "policy line %d: the key name example.test/twin with key id %s is listed before (ambiguous keys)" % (3 if twins[0][0] == 4 else 2, twin_id)
    refusals = {
        twin_policy: twin_refusal,
        log_line + witness_line.replace("\n", "==\n") + "quorum w\n": "policy line 2: a value is not base64 as the node writes it (padded, without spaces)",
        log_line + weak + "quorum z\n": "policy line 2: verifier key example.test/z: a point of small order, for which anyone can make signatures",
        log_line + witness_line + "group g 2 w\nquorum g\n": "policy line 3: the threshold of g must be all, any or a number from 1 to 1",
        log_line + witness_line + "quorum nobody\n": "policy line 3: the quorum names nobody, not defined above it",
        log_line + witness_line + witness_line.replace("witness w ", "witness v ") + "quorum w\n": "policy line 3: the key of v is listed before",
        witness_line + "quorum w\n": "the policy names no log",
        log_line + "log " + fresh_vkey("example.test/log", 1) + "\n" + witness_line + "quorum w\n": "policy line 2: the log example.test/log is listed twice",
        log_line + witness_line + witness_line.replace("witness w ", "witness v ").replace(witness_line.split()[2], fresh_vkey("example.test/v", 4)) + "group g 02 w v\nquorum g\n":
            "policy line 4: the threshold of g must be all, any or a number from 1 to 2",
        log_line + "frobnicate x\n": "policy line 2: unknown line type frobnicate",
        log_line + "quorum none\n" + "#" * 70000: "the policy file is longer than 64 KiB",
    }
    for text, expected in refusals.items():
        said = d.execute_async_script(parse, text)
        if said != expected:
            fail("the page's policy parser said %r, not %r" % (said, expected))
    if d.execute_async_script(parse, log_line + witness_line + "group g any w\nquorum g\n") != "parsed":
        fail("the page's policy parser refused a good policy")
    print("web-test: the page's policy parser refuses %d malformed files with their line" % len(refusals))


def main():
    demo_json, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    demo = json.load(open(demo_json))
    uk = [n for n in demo["nodes"] if n["name"] == "uk"][0]
    api, reader = uk["api"], demo["reader"]["token"]
    d = browser()
    try:
        v = Visit(d, out)
        sign_in_by_link(d, api, reader)
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.TAG_NAME, "main")))
        # The overview as scripts/check-api.sh checks it: a tall screenshot and the DOM.
        d.set_window_size(1400, 2200)
        d.save_screenshot(os.path.join(os.path.dirname(os.path.abspath(out)), "dashboard.png"))
        with open(os.path.join(os.path.dirname(os.path.abspath(out)), "dashboard.html"), "w", encoding="utf-8") as f:
            f.write(d.page_source)
        d.set_window_size(1280, 1600)
        v.check("home")
        home = d.current_url
        # Home -> nation -> action (its status timeline).
        v.follow("div.badge h3 a[href^='/nations/wales']", "nation")
        v.follow("table.data tbody a[href*='/actions/']", "action")
        if not d.find_elements(By.CSS_SELECTOR, "ol.timeline li"):
            fail("the action page shows no status history")
        # A UK action lists the nations' actions mapped to it.
        d.get(api + "/nations/uk/actions/P1.A1")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        v.check("uk-action")
        mapped = d.find_elements(By.XPATH, "//table[starts-with(caption, \"The nations' actions mapped\")]//tbody/tr")
        if len(mapped) < 3:
            fail("the UK action P1.A1 shows %d nations' actions mapped to it" % len(mapped))
        # Home -> priority (a matrix row).
        d.get(home)
        v.follow("table.matrix tbody th a[href^='/priorities/']", "priority")
        # Home -> a bar of a target chart -> that year's readings.
        d.get(home)
        bars = d.find_elements(By.CSS_SELECTOR, "figure.chart svg a")
        if not bars:
            fail("the overview's target charts have no bar links")
        year_href = bars[-1].get_attribute("href")
        d.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", bars[-1])
        WebDriverWait(d, 20).until(EC.url_contains("year="))
        if not d.find_elements(By.CSS_SELECTOR, "#readings caption"):
            fail("a bar did not lead to its year's readings (%s)" % year_href)
        d.get(home)
        v.follow("figure.chart figcaption a[href^='/measures/']", "measure")
        rows = d.find_elements(By.CSS_SELECTOR, "#readings tbody tr")
        if len(rows) < 2:
            fail("the measure page's table has %d rows" % len(rows))
        if d.find_elements(By.CSS_SELECTOR, "figure.chart svg") and not d.find_elements(By.CSS_SELECTOR, "figure.chart figcaption"):
            fail("the chart has no caption pointing at its table")
        # The measure's figure: verified in the browser.
        v.follow("#readings a[href^='/figures/']", "figure")
        state = wait_verified(d)
        summary = d.find_element(By.ID, "verify-summary").text
        ticks = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-entry]")]
        signatures = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]")]
        if state != "ok" or not ticks or not all(t.startswith("\u2713") for t in ticks + signatures):
            fail("the provenance page did not verify: %s %s %s" % (summary, ticks, signatures))
        # The checkpoints' cosignatures, checked in the browser against the witness keys.
        witnessed = d.find_element(By.TAG_NAME, "body").get_attribute("data-witnessed")
        # With how late the quorum's witnesses had seen no larger tree (their cosignatures'
        # times: a node serving an old checkpoint a quorum did cosign shows its age).
        if witnessed != "quorum" or not all("a quorum" in s and "had seen no larger tree as late as" in s for s in signatures):
            fail("the provenance page's checkpoints are not shown cosigned by a quorum, and when: %s %s" % (witnessed, signatures))
        print("web-test: %d entries verified in the browser (%s)" % (len(ticks), summary))
        d.save_screenshot(os.path.join(out, "figure-verified.png"))
        figure_path_first = d.current_url[d.current_url.index("/figures/"):]
        check_recomputed(d, api, reader, demo["ca_certificate"])
        d.get(api + figure_path_first)
        wait_verified(d)
        check_json_parsers(d)
        check_fold_differential(d)
        check_log_context(d, api, *context_figures(api, reader, demo["ca_certificate"]))

        # A policy file the reader holds (C2SP tlog-policy, from `quartet policy`): the page then
        # takes the log keys, witness keys and quorum from it alone, not from the node.
        check_with_policies(d, demo, out)
        check_whole_with_policy(d, api, demo, out)
        check_verify_figure(api, demo, out)
        check_moved_on(d, api, demo)
        d.get(api + figure_path_first)
        wait_verified(d)

        # Verifier keys whose base64 holds "+" and "/" parse (names never hold "+"), and one
        # whose hash does not match its key is refused.
        import base64, hashlib
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        while True:
            raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            text = base64.b64encode(b"\x01" + raw).decode()
            if "+" in text and "/" in text:
                break
        name = "quartet.test/key"
        khash = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4].hex()
        good = d.execute_async_script("const done = arguments[arguments.length - 1];"
                                      "window.quartetParseVkey(arguments[0]).then(v => done(v.name)).catch(e => done('error: ' + e.message));",
                                      "%s+%s+%s" % (name, khash, text))
        bad = d.execute_async_script("const done = arguments[arguments.length - 1];"
                                     "window.quartetParseVkey(arguments[0]).then(v => done(v.name)).catch(e => done('error: ' + e.message));",
                                     "%s+%s+%s" % (name, "00000000" if khash != "00000000" else "11111111", text))
        if good != name or "hash does not match" not in bad:
            fail("verifier keys: %r / %r" % (good, bad))

        # A lying node serves the same page with the first entry's proof changed: the reader's
        # browser shows exactly what failed.
        figure_path = d.current_url[d.current_url.index("/figures/"):]
        liar, server = tampering_node(api, reader, demo["ca_certificate"], figure_path)
        try:
            d.get(liar)
            state = wait_verified(d)
            bad = d.find_element(By.CSS_SELECTOR, "[data-entry='0']").text
            if state != "failed" or ("inclusion proof" not in bad and "header" not in bad):
                fail("a proof tampered by a lying node was not shown as failed: %r" % bad)
            print("web-test: a proof served tampered by a test node is shown as failed: %s" % bad)
            d.save_screenshot(os.path.join(out, "figure-tampered-proof.png"))
        finally:
            server.shutdown()
        d.get(api + figure_path)
        wait_verified(d)

        # A tampered payload: the bytes shown are not the ones the header committed to.
        d.refresh()
        wait_verified(d)
        tamper(d, """
            const i = data.entries.findIndex(item => typeof item.entry.payload_base64 === 'string');
            const bytes = atob(data.entries[i].entry.payload_base64);
            data.entries[i].entry.payload_base64 = btoa(bytes.slice(0, -2) + (bytes.slice(-2, -1) === '1' ? '2' : '1') + bytes.slice(-1));""")
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
        bad = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-entry]") if e.text.startswith("\u2717")]
        if not bad or "payload does not match" not in bad[0]:
            fail("a tampered payload was not shown as failed: %r" % bad)
        print("web-test: a tampered payload is shown as failed: %s" % bad[0])

        # A tampered checkpoint: one byte of its signature changed.
        d.refresh()
        wait_verified(d)
        tamper(d, """
            const log = Object.keys(data.checkpoints)[0];
            const note = data.checkpoints[log];
            // The log's own signature line: the first after the blank line (witnesses'
            // cosignature lines follow it).
            const first = note.indexOf('\\n\\n') + 2;
            const at = note.lastIndexOf(' ', note.indexOf('\\n', first)) + 10;
            data.checkpoints[log] = note.slice(0, at) + (note[at] === 'A' ? 'B' : 'A') + note.slice(at + 1);""")
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
        cp = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]") if e.text.startswith("\u2717")]
        if not cp or "signature" not in cp[0]:
            fail("a tampered checkpoint signature was not shown as failed: %r" % cp)
        print("web-test: a tampered checkpoint signature is shown as failed: %s" % cp[0])

        # A short line under the log's key put before its good one: the first line by the key
        # decides, as in the node and Go's note package (the page skipped it and passed).
        d.refresh()
        wait_verified(d)
        tamper(d, """
            const log = Object.keys(data.checkpoints)[0];
            const lines = data.checkpoints[log].split('\\n');
            const blank = lines.indexOf('');
            const own = lines[blank + 1];
            const sig = own.slice(own.lastIndexOf(' ') + 1);
            const short = btoa(atob(sig).slice(0, 14));
            lines.splice(blank + 1, 0, own.slice(0, own.lastIndexOf(' ') + 1) + short);
            data.checkpoints[log] = lines.join('\\n');""")
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-verified") == "failed")
        cp = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]") if e.text.startswith("\u2717")]
        if not cp or "not a 64-byte Ed25519 signature" not in cp[0]:
            fail("a short first line under the log's key was not shown as failed: %r" % cp)
        print("web-test: a short first signature line under the log's key fails the checkpoint: %s" % cp[0])

        # A tampered cosignature: one byte of a witness's signature (past its key id and time)
        # changed. A line a listed witness did not make counts as absent and is named (as
        # `quartet verify-checkpoint` counts and names it): the entries still verify.
        d.refresh()
        wait_verified(d)
        tamper(d, """document.body.dataset.verified = '';
            const log = Object.keys(data.checkpoints)[0];
            const note = data.checkpoints[log];
            const lines = note.split('\\n');
            const blank = lines.indexOf('');
            // The second signature line is the first witness's.
            const i = blank + 2;
            const at = lines[i].lastIndexOf(' ') + 20;
            lines[i] = lines[i].slice(0, at) + (lines[i][at] === 'A' ? 'B' : 'A') + lines[i].slice(at + 1);
            data.checkpoints[log] = lines.join('\\n');""")
        wait_verified(d)
        cp = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]") if "not counted (made up or mangled)" in e.text]
        if len(cp) != 1 or "does not verify" not in cp[0] or not cp[0].startswith("\u2713"):
            fail("a tampered cosignature was not shown as not counted: %r" % [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]")])
        # One witness fewer: still a quorum where the others make one, else below it, never more.
        if d.find_element(By.TAG_NAME, "body").get_attribute("data-witnessed") not in ("quorum", "below-quorum"):
            fail("a tampered cosignature left the page's witnessing at %r" % d.find_element(By.TAG_NAME, "body").get_attribute("data-witnessed"))
        print("web-test: a tampered cosignature is not counted, and named: %s" % cp[0])

        # Cosignatures stripped (what a node showing a history no witness saw would serve):
        # the entries still verify against the log's signature, but the page says no quorum.
        d.refresh()
        wait_verified(d)
        tamper(d, """
            for (const log of Object.keys(data.checkpoints)) {
              const note = data.checkpoints[log];
              const lines = note.split('\\n');
              const blank = lines.indexOf('');
              data.checkpoints[log] = lines.slice(0, blank + 2).join('\\n') + '\\n';
              // A page stating a quorum of none is not believed: a majority of the keys it is.
              if (data.witnesses[log]) data.witnesses[log].quorum = 0;
            }""")
        WebDriverWait(d, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-witnessed") == "below-quorum")
        state = d.find_element(By.TAG_NAME, "body").get_attribute("data-verified")
        cp = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-checkpoint-row]")]
        summary = d.find_element(By.ID, "verify-summary").text
        if state != "ok" or not all("below the quorum" in c for c in cp) or "lack a quorum" not in summary:
            fail("a checkpoint without cosignatures was not shown below the quorum: %s %r %r" % (state, cp, summary))
        print("web-test: a checkpoint stripped of its cosignatures is shown below the quorum: %s" % cp[0])

        # Key rotations followed from the pinned key, in the browser.
        check_rotations(d)

        # An operator records a reading through the form at wales; it appears on uk's page.
        wales = [n for n in demo["nodes"] if n["name"] == "wales"][0]
        # (An operator signs in through the form: a link takes a reader's token only.)
        d.get(wales["api"] + "/login")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.NAME, "token")))
        # The field takes only a token of this node (or of no one node), as Chromium applies
        # its pattern: another node's token is not sent.
        field = d.find_element(By.NAME, "token")
        field.send_keys("qt_uk_" + "A" * 43)
        if d.execute_script("return arguments[0].checkValidity()", field):
            fail("wales's sign-in field takes uk's token")
        field.clear()
        field.send_keys(wales["operator_token"])
        if not d.execute_script("return arguments[0].checkValidity()", field):
            fail("wales's sign-in field refuses wales's own operator token %r" % wales["operator_token"][:10])
        d.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        WebDriverWait(d, 20).until(lambda drv: "/login" not in drv.current_url)
        d.get(wales["api"] + "/record/reading")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.ID, "f-measure")))
        v.check("record-reading")
        options = [o for o in d.find_elements(By.CSS_SELECTOR, "#f-measure option") if o.text.endswith("(count)")]
        if not options:
            fail("the reading form offers no count measure")
        measure = options[0].get_attribute("value")
        marker = "browser-test-%d" % int(time.time() * 1000)

        def fill(value):
            d.find_element(By.CSS_SELECTOR, "#f-measure option[value='%s']" % measure).click()
            period = d.find_element(By.ID, "f-period")
            period.clear()
            period.send_keys("2026")
            box = d.find_element(By.ID, "f-value")
            box.clear()
            box.send_keys(value)
            note = d.find_element(By.ID, "f-note")
            note.clear()
            note.send_keys(marker)
            d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()

        # A value that is not a number: the message beside the field, the values kept.
        fill("twelve")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.ID, "e-value")))
        if "expected a decimal number" not in d.find_element(By.ID, "e-value").text or d.find_element(By.ID, "f-note").get_attribute("value") != marker:
            fail("a bad value was not reported beside its field with the form kept")
        v.check("record-reading-error")
        fill("7")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".receipt")))
        receipt = d.find_element(By.CSS_SELECTOR, ".receipt").text
        if "Saved in the log" not in receipt or "wales/" not in receipt or "?saved=" not in d.current_url:
            fail("no receipt after saving (at %s): %r" % (d.current_url, receipt))
        # The receipt is a page of its own (post, redirect, get): reloading it records nothing.
        saved_at = d.current_url
        d.refresh()
        if d.current_url != saved_at or "Saved in the log" not in d.find_element(By.CSS_SELECTOR, ".receipt").text:
            fail("reloading the receipt did not show it again")
        v.check("record-reading-saved")
        print("web-test: an operator recorded a reading through the form: %s" % receipt.replace("\n", " | "))
        # The node status page and a data owner's audit page, for wales's operator.
        d.get(wales["api"] + "/status")
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        v.check("status")
        if len(d.find_elements(By.XPATH, "//table[caption='Peers']//span[text()='connected']")) < 3:
            fail("the status page does not show wales's peers connected")
        d.get(wales["api"] + "/v1/agreements")
        agreements = json.loads(d.find_element(By.TAG_NAME, "pre").text)["agreements"]
        held = sorted({a["owner"] for a in agreements if a["holder"] == "wales"})
        if not held:
            fail("the demo has no agreement held by wales")
        d.get(wales["api"] + "/owners/" + held[0])
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
        v.check("owner")
        if not d.find_elements(By.XPATH, "//table[starts-with(caption, 'Disclosures under')]"):
            fail("the owner page lists no agreement's disclosures")
        # A reader of uk (the cookie is per host, so sign in again) sees it within seconds.
        sign_in_by_link(d, api, reader)
        seen = False
        for _ in range(40):
            d.get(api + "/measures/%s?year=2026" % measure)
            if marker in d.page_source:
                seen = True
                break
            time.sleep(0.5)
        if not seen:
            fail("the reading recorded at wales did not appear on uk's measure page within 20 s")
        print("web-test: the reading is on uk's measure page")
        # A reader gets no form: wales refuses its form page to a reader.
        sign_in_by_link(d, wales["api"], reader)
        d.get(wales["api"] + "/record/reading")
        if d.find_elements(By.CSS_SELECTOR, "form select, form input[name=value]") or "this needs the operator of wales" not in d.page_source:
            fail("a reader was not refused the operator's form: %r" % d.page_source[:300])
        sign_in_by_link(d, api, reader)

        # Search by words.
        d.get(api + "/search")
        v.check("search")
        box = d.find_element(By.ID, "q")
        box.send_keys("workforce reform")
        box.send_keys(Keys.ENTER)
        WebDriverWait(d, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, "main ul li a")))
        v.check("search-results")
        # Pages are small.
        for name, url, size in v.pages:
            if size > 100_000:
                fail("%s (%s) is %d bytes; pages must stay under 100 KB" % (name, url, size))
        print("web-test: ok: %s" % ", ".join("%s %d B" % (n, s) for n, _, s in v.pages))
    finally:
        d.quit()


if __name__ == "__main__":
    main()
