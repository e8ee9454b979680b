#!/usr/bin/env python3
"""A hostile node's API for the CLI's client tests: presents a node's real certificate (as a
member gone bad would) and answers every request in MODE:
  silent  reads the request and never answers;
  escape  answers 403 with a JSON error whose message holds terminal escape sequences.

usage: hostile_api.py PORT CERT KEY MODE
"""
import sys, time
import tls_server

port, cert, key, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def serve(connection):
    try:
        stream = connection.makefile('rb')
        while stream.readline() not in (b'\r\n', b'\n', b''):
            pass
        if mode == 'silent':
            time.sleep(3600)
        body = b'{"error":{"status":403,"message":"forbidden\\u001b[2J\\u001b[H\\u001b]0;pwned\\u0007OK: all verified"},"request_id":"x"}'
        connection.sendall(b'HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n' % len(body) + body)
    except Exception:
        pass
    finally:
        connection.close()

tls_server.run(port, cert, key, serve)
