#!/usr/bin/python3
"""HTTPS test server for the end-to-end tests (run as a separate process).

    tls_server.py CERT KEY LOGFILE

Listens on 127.0.0.1, on a free port, and prints "PORT <n>" on stdout once it
accepts connections. HTTP/1.1 with keep-alive (protocol_version HTTP/1.1),
ALPN offers http/1.1 only. One thread per connection; the TLS handshake runs in
that thread, so a client that never completes it blocks nobody.

Routes (query strings are ignored unless stated):
  GET/HEAD /hello, /hello/<anything>   fixed body with Content-Length
  GET /chunked        Transfer-Encoding: chunked, several chunks (separate writes)
  GET /empty          204, no body
  GET /big?size=N     N-byte body with Content-Length (default 1 MB)
  GET /slow?ms=N      sleeps N ms, then answers like /hello
  POST/PUT /echo      reads the Content-Length body, answers its length
  GET /close          HTTP/1.0-style: no length, body ended by closing the
                      connection (after a TLS close_notify)
  GET /cut?size=N&sent=M  Content-Length N, then only M bytes and the
                      connection closed (after a TLS close_notify): a server
                      dying mid-body
  anything else, any method: 200 with a small fixed body (or 404 for GET of
  unknown paths)

Each handled request is appended to LOGFILE as "METHOD TARGET STATUS HOST".
"""

import http.server
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

HELLO = b"hello, world\n"
BLOCK = bytes(range(256)) * 256  # 64 KiB


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-tls-server/1"
    timeout = 30  # idle keep-alive connections do not live forever

    # ---- plumbing ---------------------------------------------------------
    def setup(self):
        # TLS handshake here, in the connection's own thread.
        self.request.settimeout(10)
        self.request = self.server.ssl_ctx.wrap_socket(self.request, server_side=True)
        self.request.settimeout(self.timeout)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            try:
                self.request.close()
            except OSError:
                pass

    def log_message(self, fmt, *args):  # quiet: no per-request stderr noise
        pass

    def log_request(self, code="-", size="-"):
        headers = getattr(self, "headers", None)
        self.server.record("%s %s %s %s" % (getattr(self, "command", None), getattr(self, "path", None),
                                            code, headers.get("Host") if headers else None))

    def _split(self):
        u = urllib.parse.urlsplit(self.path)
        return u.path, urllib.parse.parse_qs(u.query)

    def _send_body(self, status, body, ctype="text/plain", head=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    # ---- routes -----------------------------------------------------------
    def _route(self, head=False):
        path, q = self._split()
        if path == "/hello" or path.startswith("/hello/"):
            return self._send_body(200, HELLO, head=head)
        if path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if head:
                return
            for i in range(5):
                part = (b"chunk %d " % i) * (50 * (i + 1))
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                time.sleep(0.005)
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/empty":
            self.send_response(204)
            self.end_headers()
            return
        if path == "/big":
            size = int(q.get("size", ["1000000"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if not head:
                self._write_blocks(size)
            return
        if path == "/slow":
            time.sleep(int(q.get("ms", ["100"])[0]) / 1000.0)
            return self._send_body(200, HELLO, head=head)
        if path == "/close":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                for i in range(3):
                    self.wfile.write(b"until-close body part %d\n" % i)
                    time.sleep(0.005)
            self.close_connection = True
            self._tls_close()
            return
        if path == "/cut":
            size = int(q.get("size", ["1000000"])[0])
            left = min(size, int(q.get("sent", ["200000"])[0]))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self._write_blocks(left)
            self.close_connection = True
            self._tls_close()
            return
        if self.command == "GET":
            return self._send_body(404, b"not found\n", head=head)
        return self._send_body(200, b"ok\n", head=head)

    def _write_blocks(self, size):
        """size body bytes, written a BLOCK at a time."""
        while size > 0:
            n = min(size, len(BLOCK))
            self.wfile.write(BLOCK[:n])
            size -= n

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        got = 0
        while got < n:
            chunk = self.rfile.read(min(65536, n - got))
            if not chunk:
                break
            got += len(chunk)
        return got

    def _tls_close(self):
        """Send close_notify so that the client sees a clean end of stream."""
        try:
            self.wfile.flush()
            self.request.settimeout(2)
            self.request = self.request.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass

    def do_GET(self):
        self._route()

    def do_HEAD(self):
        self._route(head=True)

    def do_POST(self):
        path, _ = self._split()
        n = self._read_body()
        if path == "/echo":
            return self._send_body(200, b"%d\n" % n)
        return self._send_body(200, b"ok\n")

    do_PUT = do_POST
    do_PATCH = do_POST

    def do_DELETE(self):
        self._read_body()
        self._send_body(200, b"deleted\n")

    def do_OPTIONS(self):
        self._read_body()
        self._send_body(200, b"")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, ssl_ctx, logfile):
        self.ssl_ctx = ssl_ctx
        self._log = open(logfile, "a", buffering=1)
        self._log_lock = threading.Lock()
        super().__init__(addr, Handler)

    def record(self, line):
        with self._log_lock:
            self._log.write(line + "\n")

    def handle_error(self, request, client_address):
        # Bad clients (garbage, early close, failed handshake) are expected.
        exc = sys.exc_info()[1]
        self.record("ERR %s: %s" % (type(exc).__name__, exc))


def main():
    cert, key, logfile = sys.argv[1:4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    srv = Server(("127.0.0.1", 0), ctx, logfile)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
