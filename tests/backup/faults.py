"""faults.py - misbehaving peers for the backup tests, on loopback, stdlib
only: an HTTP/1 proxy in front of etcd that cuts or damages the JSON
gateway's snapshot stream (and, speaking no HTTP/2, makes etcd-medic fall
back to that gateway), one in front of the S3 server that answers 500 or
never answers, and a TCP relay that cuts or damages whatever etcd sends,
gRPC's snapshot stream included.  None is etcd nor S3: each only passes
bytes on, or does not.
"""

import http.client
import http.server
import socket
import socketserver
import threading
import time


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Served:
    """A server of ours on a free loopback port, in a thread of its own."""

    def _serve(self, server_class, handler):
        self.srv = server_class(("127.0.0.1", 0), handler)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class Proxy(_Served):
    """Forwards every request to target (host, port).  mode, changeable at
    any time: "pass"; for etcd's snapshot stream, "cut" (close the
    connection after cut_at bytes of the answer) or "flip" (change one
    base64 character of a blob, keeping it base64); for the store, "500"
    (every PUT and POST answered 500) or "hang" (PUTs and POSTs read, never
    answered)."""

    def __init__(self, target, mode="pass", cut_at=200000):
        self.target, self.mode, self.cut_at = target, mode, cut_at
        self.hits = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):
                pass

            def do_any(self):
                proxy.hits += 1
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if proxy.mode in ("500", "hang") and self.command in ("PUT", "POST"):
                    if proxy.mode == "hang":
                        time.sleep(3600)
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.end_headers()
                    self.wfile.write(b"<Error><Code>InternalError</Code>"
                                     b"<Message>We encountered an internal error.</Message></Error>")
                    return
                c = http.client.HTTPConnection(*proxy.target, timeout=60)
                hdrs = {k: v for k, v in self.headers.items()}
                c.request(self.command, self.path, body, hdrs)
                r = c.getresponse()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.end_headers()
                snap = self.path.startswith("/v3/maintenance/snapshot")
                sent, flipped = 0, False
                while True:
                    chunk = r.read1(65536) if hasattr(r, "read1") else r.read(65536)
                    if not chunk:
                        break
                    if snap and proxy.mode == "cut" and sent + len(chunk) > proxy.cut_at:
                        self.wfile.write(chunk[:proxy.cut_at - sent])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        c.close()
                        return
                    if snap and proxy.mode == "flip" and not flipped:
                        i = chunk.find(b'"blob":"')
                        if i >= 0 and len(chunk) > i + 200:
                            j = i + 100
                            ch = chunk[j:j + 1]
                            chunk = chunk[:j] + (b"B" if ch != b"B" else b"C") + chunk[j + 1:]
                            flipped = True
                    self.wfile.write(chunk)
                    sent += len(chunk)
                c.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_any

        self._serve(_Server, Handler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class TcpRelay(_Served):
    """Relays each connection to target (host, port) byte for byte.  mode,
    changeable at any time, applies to what the target sends on each
    connection: "pass"; "cut" (close both sides once `at` bytes went
    through); "flip" (invert the byte at offset `at`).  Connections whose
    answers stay below `at` bytes (etcd-medic's status calls) pass
    untouched."""

    def __init__(self, target, mode="pass", at=1000000):
        self.target, self.mode, self.at = target, mode, at
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                up = socket.create_connection(relay.target, timeout=60)
                threading.Thread(target=self.pump_up, args=(up,), daemon=True).start()
                sent = 0
                try:
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        mode, at = relay.mode, relay.at
                        if mode == "cut" and sent + len(chunk) >= at:
                            self.request.sendall(chunk[:at - sent])
                            break
                        if mode == "flip" and sent <= at < sent + len(chunk):
                            i = at - sent
                            chunk = chunk[:i] + bytes([chunk[i] ^ 0xff]) + chunk[i + 1:]
                        self.request.sendall(chunk)
                        sent += len(chunk)
                except OSError:
                    pass
                finally:
                    for sock in (up, self.request):
                        try:
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    up.close()

            def pump_up(self, up):
                try:
                    while True:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            break
                        up.sendall(chunk)
                except OSError:
                    pass

        self._serve(_TcpServer, Handler)
