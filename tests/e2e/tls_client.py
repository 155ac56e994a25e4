#!/usr/bin/python3
"""TLS clients for the end-to-end tests, run as separate processes with
/usr/bin/python3 (whose _ssl module dlopens libssl.so.3 when ssl is imported).

    tls_client.py keepalive PORT PATH...     http.client, one connection, one
                                             GET per PATH; prints
                                             "STATUS BYTES LOCALPORT" per request
    tls_client.py loop PORT OUTFILE MAXSEC   one keep-alive connection, GET
                                             /hello/<i> every 100 ms until
                                             SIGTERM or MAXSEC; appends
                                             "REQ i t0 t1 status localport" to
                                             OUTFILE (time.monotonic())
    tls_client.py raw PORT MODE              hand-written bytes on a TLS socket:
        garbage    random binary + junk lines, then read whatever comes back
        bigheader  GET /hello with a 300 KB header value
        longurl    GET with a 1 MB request target
        split      one GET /hello/split written line by line
        pipeline   three GETs in one write, then read three responses
        abort      GET /big?size=20000000, read ~200 KB, close the socket
        die        like abort, but the process SIGKILLs itself mid-response

Hosts are always 127.0.0.1; server certificates are not verified.
"""

import http.client
import os
import random
import signal
import socket
import ssl
import sys
import time


def context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def connect(port, timeout=20):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return context().wrap_socket(raw, server_hostname="localhost")


def read_response(f):
    """Read one response with a Content-Length (or no) body from file f.
    Returns (status, body_len) or None at EOF."""
    line = f.readline(70000)
    if not line:
        return None
    status = int(line.split()[1])
    length = 0
    while True:
        h = f.readline(70000)
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = f.read(length) if length else b""
    return status, len(body)


def read_until_eof(s, limit=1 << 20):
    got = 0
    try:
        while got < limit:
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
    except (OSError, ssl.SSLError):
        pass
    return got


# ---- modes ------------------------------------------------------------------

def keepalive(port, paths):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context(), timeout=20)
    for p in paths:
        conn.request("GET", p)
        r = conn.getresponse()
        body = r.read()
        print(r.status, len(body), conn.sock.getsockname()[1], flush=True)
    conn.close()


def loop(port, outfile, maxsec):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context(), timeout=20)
    deadline = time.monotonic() + maxsec
    with open(outfile, "a", buffering=1) as out:
        for i in range(1000):
            if stop or time.monotonic() > deadline:
                break
            t0 = time.monotonic()
            conn.request("GET", "/hello/%d" % i)
            r = conn.getresponse()
            r.read()
            t1 = time.monotonic()
            out.write("REQ %d %.6f %.6f %d %d\n" % (i, t0, t1, r.status, conn.sock.getsockname()[1]))
            time.sleep(0.1)
        out.write("DONE\n")
    conn.close()


def raw(port, mode):
    host = b"127.0.0.1:%d" % port
    s = connect(port)
    if mode == "garbage":
        rnd = random.Random(1234)
        junk = [
            b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
            b"NOT-A-METHOD\r\n",
            b"GET\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\r\n" * 50,
        ]
        payload = bytes(rnd.getrandbits(8) for _ in range(8192))
        try:
            for j in junk:
                s.sendall(j)
            s.sendall(payload)
            s.sendall(b"\x00" * 1024 + b"\r\n\r\n")
        except (OSError, ssl.SSLError) as e:
            print("write stopped:", type(e).__name__)
        s.settimeout(3)
        print("read", read_until_eof(s))
    elif mode == "bigheader":
        req = (b"GET /hello HTTP/1.1\r\nHost: " + host + b"\r\nX-Big: " + b"a" * 300000 +
               b"\r\nConnection: close\r\n\r\n")
        try:
            s.sendall(req)
        except (OSError, ssl.SSLError) as e:
            print("write stopped:", type(e).__name__)
        s.settimeout(5)
        print("read", read_until_eof(s))
    elif mode == "longurl":
        target = b"/long/" + b"segment-0123456789/" * (1000000 // 19)
        req = b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
        # 16 KiB per SSL_write: the server answers 414 and closes after 64
        # KiB, and one 1 MB SSL_write still blocked then fails as a whole
        # (no byte of it is reported: the daemon saw nothing, in about half
        # of the runs). The first writes always succeed.
        try:
            for i in range(0, len(req), 16384):
                s.sendall(req[i:i + 16384])
        except (OSError, ssl.SSLError) as e:
            print("write stopped:", type(e).__name__)
        s.settimeout(5)
        print("read", read_until_eof(s))
    elif mode == "split":
        # Line by line, as some clients write heads: one SSL_write per line.
        for piece in (b"GET /hello/split HTTP/1.1\r\n", b"Host: " + host + b"\r\n",
                      b"User-Agent: split-writer\r\n", b"Accept: */*\r\n", b"\r\n"):
            s.sendall(piece)
            time.sleep(0.02)
        print(read_response(s.makefile("rb")))
    elif mode == "split-midword":
        # Cut anywhere, even inside the method: the kernel must still see a client.
        for piece in (b"GE", b"T /hel", b"lo/midword HT", b"TP/1.1\r\nHo",
                      b"st: " + host + b"\r\n\r", b"\n"):
            s.sendall(piece)
            time.sleep(0.02)
        print(read_response(s.makefile("rb")))
    elif mode == "pipeline":
        reqs = b"".join(b"GET /hello/p%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (i, host) for i in range(3))
        s.sendall(reqs)
        f = s.makefile("rb")
        for _ in range(3):
            print(read_response(f))
    elif mode in ("abort", "die"):
        s.sendall(b"GET /big?size=20000000 HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
        got = 0
        while got < 200000:
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
        print("got", got, flush=True)
        if mode == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        # Abrupt: Python's close() sends no close_notify; unread data makes
        # the kernel answer the server with a reset.
        s.close()
    else:
        raise SystemExit("unknown mode " + mode)


def main():
    cmd = sys.argv[1]
    port = int(sys.argv[2])
    if cmd == "keepalive":
        keepalive(port, sys.argv[3:])
    elif cmd == "loop":
        loop(port, sys.argv[3], float(sys.argv[4]))
    elif cmd == "raw":
        raw(port, sys.argv[3])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
