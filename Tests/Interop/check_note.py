#!/usr/bin/env python3
"""Checks a Quartet checkpoint with Python's `cryptography` (OpenSSL-backed, written by others).

Usage: check_note.py VKEY NOTE_FILE
Parses the C2SP signed note and the note verifier key, recomputes the key id, and verifies the
Ed25519 signature over the note text. Prints "ok ..." or exits 1 naming what failed.
"""
import base64
import hashlib
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def main() -> int:
    vkey, path = sys.argv[1], sys.argv[2]
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64, validate=True)
    if len(key) != 33 or key[0] != 0x01:
        print("FAIL vkey is not an Ed25519 note key")
        return 1
    expected_id = hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]
    if expected_id.hex() != key_id_hex:
        print("FAIL key id mismatch")
        return 1
    note = open(path, "rb").read().decode("utf-8")
    split = note.rindex("\n\n")
    text, signatures = note[: split + 1], note[split + 2 :]
    public = Ed25519PublicKey.from_public_bytes(key[1:])
    for line in signatures.splitlines():
        dash, signer, b64 = line.split(" ")
        if dash != "\u2014" or signer != name:
            continue
        raw = base64.b64decode(b64, validate=True)
        if raw[:4] != expected_id:
            continue
        try:
            public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            print("FAIL signature does not verify")
            return 1
        lines = text.split("\n")
        print(f"ok {name} size {lines[1]} root {lines[2]}")
        return 0
    print("FAIL no signature by", name)
    return 1


if __name__ == "__main__":
    sys.exit(main())
