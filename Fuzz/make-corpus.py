#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target under Fuzz/corpus/<target>/seed-*.

The seeds are real examples: the worked example of docs/formats.md (entry headers, payloads,
the checkpoint note signed with the documented test key), the messages of docs/protocol.md, the
payloads of docs/entries.md, the agreement of docs/agreements.md, the example configuration in
config/. Run from anywhere; it rewrites only files named seed-*, so inputs the fuzzer found
(and crash inputs kept as regressions, named crash-*) stay.
"""
import base64
import hashlib
import json
import struct
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
H = lambda b: hashlib.sha256(b).digest()


def write(target, name, data):
    d = ROOT / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


# --- docs/formats.md section 1 and 8: the worked example ---------------------------------------

def s8(x):
    x = x.encode()
    return bytes([len(x)]) + x


def header(log, index, ms, typ, cls, author, commitment, length):
    return (b"\x01" + s8(log) + struct.pack(">QQ", index, ms) + s8(typ) + s8(cls) + s8(author)
            + commitment + struct.pack(">I", length))


MS = 1767225600000
payloads = [
    b'{"measure":"wales.p2.a3.m1","period":"2026-Q1","value":12}',
    b'{"measure":"wales.p2.a3.m1","period":"2026-Q2","value":15}',
    b'{"action":"wales.p2.a3","status":"on-track"}',
]
types = ["progress.reading", "progress.reading", "progress.status"]
salts = [bytes((i + k) & 0xFF for k in range(32)) for i in range(3)]
headers = [header("wales", i, MS, types[i], "public", "a.jones", H(salts[i] + payloads[i]), len(payloads[i]))
           for i in range(3)]
assert headers[0].hex().startswith("010577616c6573"), "the worked example changed"
leaves = [H(b"\x00" + h) for h in headers]
assert base64.b64encode(leaves[0]).decode() == "pRQK/yxNZZQHER1wqGIalrGkBQ8I4w8xLs/3re6Lw3Y="
node = lambda l, r: H(b"\x01" + l + r)
root2 = node(leaves[0], leaves[1])
root3 = node(root2, leaves[2])
assert base64.b64encode(root3).decode() == "nWveQwMILTVia1+dGYiQMjokwjHzHBFXimwYTtG7oZk="

ORIGIN = "quartet.ot-workforce.uk/wales"
key = Ed25519PrivateKey.from_private_bytes(b"\x51" * 32)
public = key.public_key().public_bytes_raw()
key_id = H(ORIGIN.encode() + b"\n\x01" + public)[:4]
assert key_id.hex() == "14aefc5a"
VKEY = ORIGIN + "+" + key_id.hex() + "+" + base64.b64encode(b"\x01" + public).decode()


def checkpoint(size, root, ms=MS, origin=ORIGIN):
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\nquartet-time {ms}\n"


def sign(text, name=ORIGIN, k=key, kid=key_id):
    return text + "\n" + f"\u2014 {name} {base64.b64encode(kid + k.sign(text.encode())).decode()}\n"


note3 = sign(checkpoint(3, root3))
assert note3.endswith("FK78Wo7wAvJkCcaGIqUIW5u77H7EkPzyIiiHvOlQp8hGpgJw1HrDBdT7rif6OavvIAKjXpCmPJlRBfd0ZsTYxKk55QA=\n"), "docs/formats.md's note"
note2 = sign(checkpoint(2, root2))
note2_other = sign(checkpoint(2, H(b"another history")))  # equivocates against note3
note3_other = sign(checkpoint(3, H(b"yet another")))

# --- FuzzEntryHeader --------------------------------------------------------------------------
for i, h in enumerate(headers):
    write("FuzzEntryHeader", f"formats-entry-{i}", h)
write("FuzzEntryHeader", "restricted", header("wales", 7, MS, "dataset.rows", "heiw.workforce.headcount", "",
                                              H(b"salt" + b"{}"), 2))
write("FuzzEntryHeader", "longest", header("a" * 64, 2**64 - 1, 2**64 - 1, "t" * 64, "c" * 64, "\u00e9" * 127 + "x",
                                           H(b""), 1 << 20))

# --- FuzzWire: frames (length, type, body) and bare bodies ----------------------------------
def u16(v): return struct.pack(">H", v)
def u32(v): return struct.pack(">I", v)
def u64(v): return struct.pack(">Q", v)
def bts(b): return u32(len(b)) + b
def st(t): return bts(t.encode())
def frame(kind, body): return u32(1 + len(body)) + bytes([kind]) + body


hello = frame(1, u16(2) + st("wales") + st("uk-ot-workforce"))
heads = frame(2, u32(2) + st("wales") + st(note3) + st("uk") + st(sign(checkpoint(0, H(b""), origin="quartet.ot-workforce.uk/uk"), name="quartet.ot-workforce.uk/uk")))
request = frame(3, st("wales") + u64(1))
entries_body = st("wales") + u64(0) + st(note3) + u32(3)
for i in range(3):
    entries_body += bts(headers[i]) + (b"\x01" + salts[i] + bts(payloads[i]) if i != 1 else b"\x00")
entries = frame(4, entries_body)
evidence = frame(5, st("wales") + st(note2_other) + st(note3) + root2 + u16(1) + leaves[2])
evidence_same = frame(5, st("wales") + st(note3_other) + st(note3) + root3 + u16(0))
error = frame(6, u16(4) + st("frame of 1073741824 bytes exceeds the limit of 67108864"))
unavailable = frame(7, st("wales") + u64(4096))
for name, f in [("hello", hello), ("heads", heads), ("request", request), ("entries", entries), ("evidence", evidence),
                ("evidence-same-size", evidence_same), ("error", error), ("unavailable", unavailable)]:
    write("FuzzWire", f"frame-{name}", f)
    write("FuzzWire", f"body-{name}", f[4:])
write("FuzzWire", "stream-connect", hello + heads + request + entries)
write("FuzzWire", "stream-version1", frame(1, u16(1) + st("england") + st("uk-ot-workforce")) + frame(2, u32(0)))

# --- FuzzSignedNote ------------------------------------------------------------------------
write("FuzzSignedNote", "formats-checkpoint-note", note3)
write("FuzzSignedNote", "checkpoint-size-2", note2)
write("FuzzSignedNote", "checkpoint-body", checkpoint(3, root3))
write("FuzzSignedNote", "checkpoint-extensions", checkpoint(3, root3) + "other-extension 1\n")
write("FuzzSignedNote", "empty-tree", sign(f"{ORIGIN}\n0\n{base64.b64encode(H(b'')).decode()}\n"))
witness = Ed25519PrivateKey.from_private_bytes(b"\x52" * 32)
wid = H(b"witness.example\n\x01" + witness.public_key().public_bytes_raw())[:4]
cosigned = sign(checkpoint(3, root3)) + sign(checkpoint(3, root3), name="witness.example", k=witness, kid=wid).split("\n\n")[1]
write("FuzzSignedNote", "cosigned", cosigned)
go_text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
write("FuzzSignedNote", "go-note-example", go_text + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
write("FuzzSignedNote", "vkey", VKEY + "\n")
for node_entry in json.loads((REPO / "config" / "federation.example.json").read_text())["nodes"]:
    write("FuzzSignedNote", f"vkey-{node_entry['id']}", node_entry["vkey"] + "\n")

# --- FuzzAgreement (docs/agreements.md) ----------------------------------------------------
agreement = """quartet-agreement v1
id HEIW-WALES-2025-01
owner HEIW
holder wales
label heiw.workforce.headcount
recipient england none
recipient uk aggregate
purpose UK OT workforce planning
valid-from 2025-01-01T00:00:00Z
valid-until 2027-01-01T00:00:00Z
min-cell-size 5
"""
write("FuzzAgreement", "agreements-md", agreement)
write("FuzzAgreement", "many", """quartet-agreement v1
id HCPC_2024.uk
owner HCPC
holder uk
label hcpc.register.count
label hcpc.register:regions
recipient england full
recipient northern-ireland aggregate
recipient scotland aggregate
recipient wales none
purpose UK-wide register counts \u2014 \u00e9t\u00e9 2024
valid-from 2024-02-29T23:59:59Z
valid-until 9999-12-31T23:59:59Z
min-cell-size 1000
""")
write("FuzzAgreement", "no-recipients", agreement.replace("recipient england none\nrecipient uk aggregate\n", ""))

# --- FuzzJSONValidator and FuzzFlatJSON ---------------------------------------------------------
json_seeds = {
    "formats-reading": payloads[0], "formats-status": payloads[2],
    "entries-reading": b'{"measure": "P2.A2.M1", "period": "2025-Q2", "value": 3, "note": "Cardiff and Swansea"}',
    "entries-status": b'{"action": "P2.A4", "status": "at-risk", "note": "venue lost", "as_of": "2025-06-30"}',
    "reading-all": b'{"measure":"P2.A4.M3","period":"2025-03","achieved":true,"text":null,"note":"caf\xc3\xa9 \xe2\x80\x94 ok"}',
    "numbers": b' {"a":0,"b":-0.5e-3,"c":1E+21,"d":123456789012345678901,"e":-0,"f":1.7976931348623157e308,"g":5e-324} ',
    "empty": b"{}",
    "escapes": b'{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00","t":"\xf0\x9f\x98\x80"}',
    "nested": b'{"a":[1,{"b":[true,false,null]},"x"],"c":{"d":{}}}',
    "deep-64": b'{"a":' + b"[" * 63 + b"]" * 63 + b"}",
}
for name, data in json_seeds.items():
    write("FuzzJSONValidator", name, data)
    write("FuzzFlatJSON", name, data)
for path in sorted((REPO / "config").glob("*.json")):
    write("FuzzJSONValidator", f"config-{path.stem}", path.read_bytes())

# --- FuzzPlanPayload (docs/entries.md; ids of the harness's context) ------------------------
plan = {
    "priority": ("plan.priority uk", {"id": "P2", "number": 2, "title": "Demonstrating value and impact", "goals": ["We will ..."]}),
    "action": ("plan.action", {"id": "P2.A5", "priority": "P2", "statements": ["We will host sessions through our events and networks, ..."],
                               "measures": ["P2.A5.M1", "P2.A5.M2"], "timeframe": {"text": "2024 to 2027", "start_year": 2024, "end_year": 2027},
                               "uk_actions": ["P2.A6", "P2.A2"], "source": "wales-plan.yaml"}),
    "action-revised": ("plan.action.revised", {"id": "P2.A4", "priority": "P2", "statements": ["We will host more sessions."], "reason": "widened"}),
    "action-withdrawn": ("plan.action.withdrawn", {"id": "P1.A1", "reason": "merged into P1.A5", "as_of": "2025-06-30"}),
    "measure": ("plan.measure", {"id": "P2.A4.M6", "action": "P2.A4",
                                 "text": "10 workforce reform workshops co-delivered annually across the four nations of the UK.",
                                 "kind": "count", "unit": "workshops", "cadence": "annual",
                                 "target": {"value": 10, "per": "year", "scope": "uk", "quote": "10 workforce reform workshops"},
                                 "uk_measure": "P2.A2.M1"}),
    "status": ("progress.status", {"action": "P2.A4", "status": "at-risk", "note": "venue lost", "as_of": "2025-06-30"}),
    "reading-count": ("progress.reading", {"measure": "P2.A4.M1", "period": "2025-Q2", "value": 3, "note": "Cardiff and Swansea"}),
    "reading-percentage": ("progress.reading", {"measure": "P2.A4.M2", "period": "2025", "value": 62.5}),
    "reading-milestone": ("progress.reading", {"measure": "P2.A4.M3", "period": "2025-03", "achieved": True}),
    "reading-distribution": ("progress.reading", {"measure": "P2.A4.M4", "period": "2025-Q4", "categories": {"band-5": 3, "band-6": 2.5}}),
    "reading-qualitative": ("progress.reading", {"measure": "P2.A4.M5", "period": "2026", "text": "Sessions ran in every board."}),
    "evidence": ("progress.evidence", {"action": "P1.A1", "kind": "case-study", "title": "Acute to community",
                                       "link": "https://example.org/cs/1", "summary": "...", "date": "2025-05-01"}),
}
for name, (type_line, payload) in plan.items():
    write("FuzzPlanPayload", name, type_line + "\n" + json.dumps(payload, ensure_ascii=False))

# --- FuzzSuppression (dataset.rows as `quartet demo` records them) ------------------------------
demo = {"dataset": "ot-headcount", "period": "2025-Q1", "rows": [
    {"board": b, "band": band, "count": c}
    for (b, band, c) in [("Cardiff and Vale", "5", 31), ("Cardiff and Vale", "6", 3), ("Cardiff and Vale", "7", 12),
                         ("Swansea Bay", "5", 27), ("Swansea Bay", "6", 19), ("Swansea Bay", "7", 2),
                         ("Betsi Cadwaladr", "5", 0), ("Betsi Cadwaladr", "6", 8), ("Betsi Cadwaladr", "7", 14)]]}
write("FuzzSuppression", "demo", json.dumps(demo))
write("FuzzSuppression", "agreement-test", json.dumps({"rows": [{"band": "6", "board": "Cardiff and Vale", "count": 3, "note": "marker"}]}))
write("FuzzSuppression", "one-dimension", json.dumps({"rows": [{"band": "7", "count": 14}, {"band": "8a", "count": 4}, {"band": "5", "count": 9}]}))
write("FuzzSuppression", "large-counts", json.dumps({"rows": [{"a": "x", "b": "y", "count": 4611686018427387903}, {"a": "x", "b": "z", "count": 1}]}))
print("seeds written under", ROOT / "corpus")
