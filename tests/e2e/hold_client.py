#!/usr/bin/python3
"""One process holding many TLS client connections open (e2e helper).

    hold_client.py PORT N HOST TRICKLE

Opens N TLS connections to 127.0.0.1:PORT (non-blocking sockets, at most
WINDOW handshakes at once) and on each writes the start of a request head,
"GET /hold/<i> HTTP/1.1\\r\\nHost: HOST\\r\\n", without the blank line that
would end it: every connection looks like an HTTP client's to the kernel, and
none is ever answered. Prints "HELD <n> <seconds>" once all are open. Then,
for each line read on stdin ("CALLS"), completes the heads of the TRICKLE
most recently opened connections still unanswered, reads their responses
and prints "CALLED <path> <path> ...". Exits when stdin closes; every
connection is closed only then.
"""

import errno
import os
import resource
import selectors
import socket
import ssl
import sys
import time

WINDOW = 256  # handshakes in flight at once


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))


class Conn:
    def __init__(self, ctx, port, i, host):
        self.i = i
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setblocking(False)
        self.s = ctx.wrap_socket(raw, do_handshake_on_connect=False, server_hostname="localhost")
        self.s.connect_ex(("127.0.0.1", port))  # EINPROGRESS
        self.out = b"GET /hold/%d HTTP/1.1\r\nHost: %s\r\n" % (i, host.encode())
        self.shaken = False
        self.answered = False

    def step(self):
        """Advance the handshake, then the write: the events to wait for, or 0 when done."""
        try:
            if not self.shaken:
                self.s.do_handshake()
                self.shaken = True
            while self.out:
                self.out = self.out[self.s.send(self.out):]
            return 0
        except ssl.SSLWantReadError:
            return selectors.EVENT_READ
        except (ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return selectors.EVENT_WRITE
        except OSError as e:
            if e.errno == errno.ENOTCONN:  # still connecting
                return selectors.EVENT_WRITE
            raise


def open_all(port, n, host):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    sel = selectors.DefaultSelector()
    conns, pending, nxt = [], 0, 0
    deadline = time.monotonic() + 50
    while nxt < n or pending:
        if time.monotonic() > deadline:
            sys.exit("only %d of %d connections opened in 50 s" % (nxt - pending, n))
        while nxt < n and pending < WINDOW:
            c = Conn(ctx, port, nxt, host)
            conns.append(c)
            sel.register(c.s, selectors.EVENT_WRITE, c)
            pending += 1
            nxt += 1
        for key, _ in sel.select(timeout=5):
            c = key.data
            ev = c.step()
            if ev:
                sel.modify(c.s, ev, c)
            else:
                sel.unregister(c.s)
                pending -= 1
    sel.close()
    return conns


def complete(conns, k):
    """Finish the heads of the k newest unanswered connections, read the answers."""
    batch = [c for c in reversed(conns) if not c.answered][:k]
    paths = []
    for c in batch:
        c.s.setblocking(True)
        c.s.settimeout(20)
        c.s.sendall(b"\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf or not buf.endswith(b"\n"):
            data = c.s.recv(65536)
            if not data:
                break
            buf += data
        if not buf.startswith(b"HTTP/1.1 200"):
            sys.exit("connection %d: unexpected answer %r" % (c.i, buf[:200]))
        c.answered = True
        paths.append("/hold/%d" % c.i)
    return paths


def main():
    port, n, host, trickle = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    raise_nofile(n)
    t0 = time.monotonic()
    conns = open_all(port, n, host)
    print("HELD %d %.1f" % (len(conns), time.monotonic() - t0), flush=True)
    for line in sys.stdin:
        if line.strip() == "CALLS":
            print("CALLED " + " ".join(complete(conns, trickle)), flush=True)
    os._exit(0)  # closing 10,000 TLS connections one by one takes a while


if __name__ == "__main__":
    main()
