#!/usr/bin/python3
"""Load for the fault and soak tests: one client process making calls back
to back on one connection (reopened when the server closes it) until
SIGTERM or MAXSEC, recording each completed call. Run with /usr/bin/python3
(Debian's httpx and h2 for the HTTP/2 mode).

    load_client.py h1 PORT PREFIX OUTFILE MAXSEC [PAUSE_MS]
        http.client (HTTP/1.1 keep-alive), GET PREFIX<i>
    load_client.py h2 PORT PREFIX OUTFILE MAXSEC [PAUSE_MS]
        httpx with http2=True (one HTTP/2 connection), GET PREFIX<i>

OUTFILE gets one line per completed call, flushed at once:
"<i> <t0> <t1> <status>" (time.monotonic(), the same clock as the tests).
Hosts are 127.0.0.1; certificates are not verified.
"""

import http.client
import signal
import ssl
import sys
import time

stopping = False


def on_term(sig, frame):
    global stopping
    stopping = True


def h1_session(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)

    def get(path):
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            return r.status
        except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
            conn.close()  # the server ended the connection: a new one next time
            return None

    return get


def h2_session(port):
    import httpx
    client = httpx.Client(http2=True, http1=False, verify=False, timeout=30)
    base = "https://127.0.0.1:%d" % port

    def get(path):
        try:
            r = client.get(base + path)
            return r.status_code
        except httpx.HTTPError:
            return None

    return get


def main():
    mode, port, prefix, outfile, maxsec = sys.argv[1:6]
    pause = float(sys.argv[6]) / 1000.0 if len(sys.argv) > 6 else 0.0
    signal.signal(signal.SIGTERM, on_term)
    get = (h1_session if mode == "h1" else h2_session)(int(port))
    end = time.monotonic() + float(maxsec)
    i = 0
    with open(outfile, "a") as out:
        while not stopping and time.monotonic() < end:
            t0 = time.monotonic()
            status = get("%s%d" % (prefix, i))
            t1 = time.monotonic()
            if status is not None:
                out.write("%d %.6f %.6f %d\n" % (i, t0, t1, status))
                out.flush()
            i += 1
            if pause:
                time.sleep(pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
