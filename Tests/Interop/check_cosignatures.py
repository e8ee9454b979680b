#!/usr/bin/env python3
"""Checks C2SP tlog-cosignature/v1 lines on a checkpoint with Python's `cryptography`, written
from the spec text (c2sp.org/tlog-cosignature), sharing no code with Quartet.

Usage: check_cosignatures.py NOTE_FILE WITNESS_VKEY...
For each witness vkey (name+hex(key id)+base64(0x04 || Ed25519 key)): recompute the key id as
SHA-256(name || "\\n" || 0x04 || key)[:4], find the note's signature line with that name and key
id, split its bytes into key id (4), big-endian timestamp (8) and signature (64), and verify the
signature over "cosignature/v1\\n" "time <t>\\n" followed by the note body. Prints
"ok NAME time T" for each witness that cosigned and "absent NAME" for one that did not; exits 1
on a line that does not verify or a malformed input.
"""
import base64
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def main() -> int:
    note = open(sys.argv[1], "rb").read().decode("utf-8")
    split = note.rindex("\n\n")
    body, lines = note[: split + 1], note[split + 2 :].splitlines()
    status = 0
    for vkey in sys.argv[2:]:
        name, key_id_hex, key_b64 = vkey.split("+", 2)
        key = base64.b64decode(key_b64, validate=True)
        if len(key) != 33 or key[0] != 0x04:
            print(f"FAIL {name}: not an Ed25519 cosignature key (type 0x04)")
            return 1
        key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + key[1:]).digest()[:4]
        if key_id.hex() != key_id_hex:
            print(f"FAIL {name}: key id mismatch")
            return 1
        public = Ed25519PublicKey.from_public_bytes(key[1:])
        found = False
        for line in lines:
            dash, signer, b64 = line.split(" ")
            raw = base64.b64decode(b64, validate=True)
            if dash != "\u2014" or signer != name or raw[:4] != key_id:
                continue
            found = True
            if len(raw) != 4 + 8 + 64:
                print(f"FAIL {name}: cosignature is {len(raw)} bytes, expected 76")
                return 1
            (timestamp,) = struct.unpack(">Q", raw[4:12])
            message = b"cosignature/v1\n" + f"time {timestamp}\n".encode() + body.encode("utf-8")
            try:
                public.verify(raw[12:], message)
                print(f"ok {name} time {timestamp}")
            except InvalidSignature:
                print(f"FAIL {name}: the cosignature does not verify")
                status = 1
            break
        if not found:
            print(f"absent {name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
