#!/usr/bin/env python3
"""A member's witness that cosigns every add-checkpoint request correctly, but only after
DELAY seconds (so its requests never fail): for the test that one slow witness does not hold a
log's other witnesses back. Written from C2SP tlog-witness and tlog-cosignature.

usage: slow_witness.py PORT CERT KEY CA WITNESS_KEY_PEM WITNESS_NAME DELAY [lag]

With `lag`, its copy of every log is taken to hold one entry less than the largest checkpoint
it was ever sent: a checkpoint beyond that is answered 503 as a Quartet witness whose copy has
not caught up answers (`Witnessing.copyGate`), one within it is cosigned.
"""
import base64, hashlib, struct, sys, time
import tls_server
from cryptography.hazmat.primitives.serialization import load_pem_private_key, Encoding, PublicFormat

port, cert, key, ca, witness_pem, name, delay = sys.argv[1:8]
port, delay = int(port), float(delay)
lag = sys.argv[8:9] == ['lag']
largest = {}
witness = load_pem_private_key(open(witness_pem, 'rb').read(), None)
public = witness.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
key_id = hashlib.sha256(name.encode() + b'\n\x04' + public).digest()[:4]

def cosignature(body):
    now = int(time.time())
    signature = witness.sign(b'cosignature/v1\ntime %d\n' % now + body)
    return '\u2014 %s %s\n' % (name, base64.b64encode(key_id + struct.pack('>Q', now) + signature).decode())

def answer(status, body):
    body = body.encode()
    return b'HTTP/1.1 %d X\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n' % (status, len(body)) + body

def serve(connection):
    stream = connection.makefile('rb')
    try:
        while True:
            line = stream.readline()
            if not line:
                return
            headers = {}
            while True:
                header = stream.readline()
                if header in (b'\r\n', b'\n', b''):
                    break
                k, v = header.decode().split(':', 1)
                headers[k.strip().lower()] = v.strip()
            body = stream.read(int(headers.get('content-length', '0')))
            if not line.split()[1].startswith(b'/witness/'):
                connection.sendall(answer(404, 'not here\n'))
                continue
            # old N, proof lines, a blank line, then the signed checkpoint: cosign its body.
            note = body.split(b'\n\n', 1)[1]
            checkpoint = note.split(b'\n\n')[0] + b'\n'
            time.sleep(delay)
            if lag:
                origin, size = checkpoint.split(b'\n')[0].decode(), int(checkpoint.split(b'\n')[1])
                largest[origin] = max(largest.get(origin, 0), size)
                held = largest[origin] - 1
                if size > held:
                    connection.sendall(answer(503, "this witness's copy of %s holds %d entries, fewer than the checkpoint's %d: "
                                                   "it cosigns what its copy holds and agrees with (ask again once the entries have reached it)\n" % (origin, held, size)))
                    continue
            connection.sendall(answer(200, cosignature(checkpoint)))
    except Exception:
        pass
    finally:
        connection.close()

tls_server.run(port, cert, key, serve, ca=ca)
