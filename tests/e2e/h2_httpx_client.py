"""HTTP/2 client for the e2e tests: httpx with http2=True (Debian's
python3-httpx and python3-h2: run with /usr/bin/python3). One httpx.Client,
so one TLS connection, to https://127.0.0.1:PORT (:authority 127.0.0.1:PORT).

    h2_httpx_client.py PORT seq REQ...   REQs one after the other
        REQ is "/path" (GET) or "METHOD:/path" (a body of 3 bytes unless GET/HEAD)
    h2_httpx_client.py PORT preopen      GET /h2/pre/before/0 and /h2/pre/before/1,
        then prints {"opened": true} and reads lines on stdin: each a list of
        REQs made one after the other; an empty line or EOF ends.

Prints one JSON line per request: method, path, status, http_version, bytes,
ms (around the request), stream_id (1, 3, 5, ... on one connection); then
{"done": true, "connections": [...]} (httpx's pool: one HTTP/2 connection).

python's hpack encoder adds :path and :authority to the dynamic table, so a
path requested again is sent as an index into it.
"""

import json
import sys
import time

import httpx


def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def connections(client):
    """The connections in httpx's pool (httpcore), for the final line."""
    return [repr(c) for c in client._transport._pool.connections]


def do(client, base, req):
    method, _, path = req.partition(":") if req[0] != "/" else ("GET", "", req)
    body = None if method in ("GET", "HEAD") else b"x=1"
    t0 = time.monotonic()
    r = client.request(method, base + path, content=body)
    data = r.read()
    ms = (time.monotonic() - t0) * 1000
    out({"method": method, "path": path, "status": r.status_code, "http_version": r.http_version,
         "bytes": len(data), "ms": ms, "stream_id": r.extensions.get("stream_id")})


def main():
    port, mode, reqs = sys.argv[1], sys.argv[2], sys.argv[3:]
    base = "https://127.0.0.1:%s" % port
    with httpx.Client(http2=True, verify=False, timeout=20) as client:
        if mode == "seq":
            for req in reqs:
                do(client, base, req)
        elif mode == "preopen":
            for req in ("/h2/pre/before/0", "/h2/pre/before/1"):
                do(client, base, req)
            out({"opened": True})
            for line in sys.stdin:
                if not line.strip():
                    break
                for req in line.split():
                    do(client, base, req)
                out({"batch": True})
        else:
            raise SystemExit("unknown mode %s" % mode)
        out({"done": True, "connections": connections(client)})


if __name__ == "__main__":
    main()
