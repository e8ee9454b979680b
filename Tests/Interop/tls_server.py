"""A TLS server for the test doubles here (a slow witness, a hostile API): listens on
127.0.0.1:PORT with a node's certificate, prints "listening" once it does, and runs `serve`
on each accepted connection in a thread of its own. `ca` given: a client certificate from it
is required."""
import socket, ssl, threading

def run(port, cert, key, serve, ca=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if ca:
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(16)
    print('listening', flush=True)
    while True:
        raw, _ = listener.accept()
        def accept(raw=raw):
            try:
                serve(context.wrap_socket(raw, server_side=True))
            except Exception:
                raw.close()
        threading.Thread(target=accept, daemon=True).start()
