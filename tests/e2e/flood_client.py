#!/usr/bin/python3
"""Many distinct paths on one keep-alive TLS connection, fast (e2e helper).

    flood_client.py PORT HOST N [FIRST]

GET N requests (numbered from FIRST, default 0) to 127.0.0.1:PORT with Host: HOST, one write per request (as
any client does), each answered before the next is sent. Every other path
ends in a number (/flood/items/<i>: one template), the others in a name of
letters that is not an id (/flood/names/<name>: a template each). The server
must answer "200 ... ok\\n" with Content-Length (the nginx `return 200`).
Prints "DONE <n> <seconds>".

Hand-written HTTP on the ssl socket rather than http.client: its parsing
costs 3x more than the request itself, and this must stay short.
"""

import socket
import ssl
import sys
import time

LETTERS = "ghijklmnopqrstuvwxyz"  # no hex digit: a name, never an id


def name(i):
    out = ""
    for _ in range(5):
        out += LETTERS[i % len(LETTERS)]
        i //= len(LETTERS)
    return out


def main():
    port, host, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname=host)
    t0 = time.monotonic()
    for i in range(first, first + n):
        path = "/flood/items/%d" % i if i % 2 == 0 else "/flood/names/%s" % name(i)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
        buf = b""
        while not buf.endswith(b"\r\n\r\nok\n"):
            data = s.recv(65536)
            if not data:
                sys.exit("connection closed after %d requests" % (i - first))
            buf += data
        if not buf.startswith(b"HTTP/1.1 200 "):
            sys.exit("unexpected response: %r" % buf[:200])
    print("DONE %d %.1f" % (n, time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    main()
