"""faults.py - misbehaving peers for the backup tests, on loopback, stdlib
only: an HTTP proxy in front of etcd that cuts or damages the snapshot
stream, and one in front of the S3 server that answers 500 or never
answers.  Neither is etcd nor S3: each only passes bytes on, or does not.
"""

import http.client
import http.server
import socket
import threading
import time


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Proxy:
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

        self.srv = _Server(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
