"""HTTP/1.x over dynamically linked OpenSSL 3 (curl, python3, nginx): every
completed outgoing call becomes exactly one datagram; server sides produce none.

Unless stated, clients start after the daemon is ready. Exact-count assertions
(`expect_calls`) also prove that the servers (tls_server.py, nginx: TLS server
processes with libssl mapped) add nothing: their side of each call would show
up as a duplicate.
"""

import os
import re
import signal
import subprocess
import time

from conftest import PYTHON, TLS_CLIENT, curl, curl_get, py_client


def assert_latencies(calls, wall_ms):
    for c in calls:
        assert 0 < c.value <= wall_ms, "latency %.3f ms of %r outside (0, %.1f] (client wall time)" % (
            c.value, c.raw, wall_ms)


def test_curl_keepalive_several_urls(daemon, orchestrator, tls_server):
    s = tls_server
    r = curl_get([s.url("/hello"), s.url("/chunked"), s.url("/empty"),
                  s.url("/hello?api_key=SECRET")])
    assert r.statuses == [200, 200, 204, 200]
    calls = orchestrator.expect_calls(
        [("GET", "/hello"), ("GET", "/chunked"), ("GET", "/empty"), ("GET", "/hello")], s.host)
    assert_latencies(calls, r.wall_ms)
    for d in orchestrator.raw:
        assert b"SECRET" not in d and b"?" not in d, "query leaked: %r" % d
    log = daemon.log()
    assert "SECRET" not in log, "query leaked into the log"
    logged = daemon.wait_logged_calls(4, s.host)
    for c in logged:
        assert "?" not in c.path, "query in log line: %r" % (c,)
        assert c.comm == "curl", "comm %r, expected curl" % c.comm
        assert c.status in (200, 204), "status %d in log" % c.status
    assert sorted(c.status for c in logged) == [200, 200, 200, 204]


def test_curl_localhost_host(daemon, orchestrator, tls_server):
    s = tls_server
    r = curl_get([s.url("/hello", host="localhost")],
                 extra=["--resolve", "localhost:%d:127.0.0.1" % s.port])
    calls = orchestrator.expect_calls([("GET", "/hello")], "localhost:%d" % s.port)
    assert_latencies(calls, r.wall_ms)
    assert not orchestrator.matching(s.host), "Host header was localhost:%d" % s.port


def test_host_header_lower_cased(daemon, orchestrator, tls_server):
    s = tls_server
    curl_get([s.url("/hello")], extra=["-H", "Host: LocalHost.Example:%d" % s.port])
    orchestrator.expect_calls([("GET", "/hello")], "localhost.example:%d" % s.port)


def test_absolute_form_target(daemon, orchestrator, tls_server):
    """GET https://h/p?q yields host h and path /p (SPEC)."""
    s = tls_server
    curl_get([s.url("/")], extra=["--request-target",
                                  "https://abs.example:%d/hello/abs?token=SECRET" % s.port])
    orchestrator.expect_calls([("GET", "/hello/abs")], "abs.example:%d" % s.port)
    assert not orchestrator.matching(s.host)
    for d in orchestrator.raw:
        assert b"SECRET" not in d
    assert "SECRET" not in daemon.log(), "query leaked into the log"


def test_methods(daemon, orchestrator, tls_server):
    """Several methods on one connection (curl --next keeps the connection)."""
    s = tls_server
    args = []
    for i, m in enumerate(["PUT", "PATCH", "DELETE", "OPTIONS", "GET"]):
        if i:
            args.append("--next")
        args += ["--http1.1", "-k", "-sS", "-o", "/dev/null", "-X", m, s.url("/hello/m")]
    curl(*args)
    orchestrator.expect_calls([(m, "/hello/m") for m in ["PUT", "PATCH", "DELETE", "OPTIONS", "GET"]],
                              s.host)


def test_curl_post_100k(daemon, orchestrator, tls_server, tmp_path):
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(100 * 1024))
    r = curl("-H", "Expect:", "--data-binary", "@%s" % body, tls_server.url("/echo"))
    assert r.stdout.strip() == str(100 * 1024), "server saw %r" % r.stdout
    calls = orchestrator.expect_calls([("POST", "/echo")], tls_server.host)
    assert_latencies(calls, r.wall_ms)


def test_curl_post_expect_100_continue(daemon, orchestrator, tls_server, tmp_path):
    """An interim 100 Continue precedes the final response: still one call."""
    body = tmp_path / "body.bin"
    body.write_bytes(os.urandom(2 * 1024 * 1024))
    r = curl("-H", "Expect: 100-continue", "--data-binary", "@%s" % body, tls_server.url("/echo"))
    assert r.stdout.strip() == str(2 * 1024 * 1024)
    calls = orchestrator.expect_calls([("POST", "/echo")], tls_server.host)
    assert_latencies(calls, r.wall_ms)
    logged = daemon.wait_logged_calls(1, tls_server.host)
    assert logged[0].status == 200, "final status is 200, not the interim 100: %r" % (logged[0],)


def test_curl_head(daemon, orchestrator, tls_server):
    r = curl("-I", "-o", "/dev/null", tls_server.url("/hello"))
    calls = orchestrator.expect_calls([("HEAD", "/hello")], tls_server.host)
    assert_latencies(calls, r.wall_ms)


def test_latency_slow(daemon, orchestrator, tls_server):
    r = curl_get([tls_server.url("/slow?ms=300")])
    (c,) = orchestrator.expect_calls([("GET", "/slow")], tls_server.host)
    assert 300 <= c.value < r.wall_ms, "latency %.3f ms: expected >= 300 and < %.1f (client wall)" % (
        c.value, r.wall_ms)


def test_python_http_client_keepalive(daemon, orchestrator, tls_server):
    paths = ["/hello", "/chunked", "/big?size=1000000", "/hello", "/chunked"]
    r = py_client("keepalive", tls_server.port, *paths).check()
    rows = [l.split() for l in r.stdout.splitlines()]
    assert [x[0] for x in rows] == ["200"] * 5, r.stdout
    assert len({x[2] for x in rows}) == 1, "python used several connections: %s" % r.stdout
    calls = orchestrator.expect_calls(
        [("GET", "/hello"), ("GET", "/chunked"), ("GET", "/big"), ("GET", "/hello"), ("GET", "/chunked")],
        tls_server.host)
    assert_latencies(calls, r.wall_ms)
    for c in daemon.wait_logged_calls(5, tls_server.host):
        assert c.comm.startswith("python3"), "comm %r" % c.comm


def test_request_split_over_writes(daemon, orchestrator, tls_server):
    r = py_client("raw", tls_server.port, "split").check()
    assert "(200, 13)" in r.stdout, r.stdout
    orchestrator.expect_calls([("GET", "/hello/split")], tls_server.host)


def test_request_split_inside_method(daemon, orchestrator, tls_server):
    r = py_client("raw", tls_server.port, "split-midword").check()
    assert "(200, 13)" in r.stdout, r.stdout
    orchestrator.expect_calls([("GET", "/hello/midword")], tls_server.host)


def test_pipelined_requests(daemon, orchestrator, tls_server):
    r = py_client("raw", tls_server.port, "pipeline").check()
    assert r.stdout.count("(200, 13)") == 3, r.stdout
    orchestrator.expect_calls([("GET", "/hello/p0"), ("GET", "/hello/p1"), ("GET", "/hello/p2")],
                              tls_server.host)


def test_big_body_20mb(daemon, orchestrator, tls_server):
    r = curl("-w", "%{size_download}", "-o", "/dev/null", tls_server.url("/big?size=20000000"))
    assert r.stdout.strip() == "20000000", r.stdout
    calls = orchestrator.expect_calls([("GET", "/big")], tls_server.host)
    assert_latencies(calls, r.wall_ms)
    daemon.assert_alive()
    curl_get([tls_server.url("/hello/after-big")])
    orchestrator.expect_calls([("GET", "/big"), ("GET", "/hello/after-big")], tls_server.host)


def test_http10_body_until_close(daemon, orchestrator, tls_server):
    r = curl("-o", "/dev/null", "-w", "%{http_code}", tls_server.url("/close"))
    assert r.stdout == "200"
    calls = orchestrator.expect_calls([("GET", "/close")], tls_server.host)
    assert_latencies(calls, r.wall_ms)


EXIT_WITHOUT_CLOSE = r"""
import os, socket, ssl, sys
ctx = ssl._create_unverified_context()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.sendall(b"GET /close HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n\r\n" % sys.argv[1].encode())
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print(got.split(b" ")[1].decode())
sys.stdout.flush()
os._exit(0)  # no SSL_shutdown, no SSL_free: like node's process.exit()
"""


def test_exit_without_closing_ends_the_call(daemon, orchestrator, tls_server):
    """A response read until the connection closes, by a client that then
    exits without closing TLS (no SSL_shutdown/SSL_free to end the call):
    its exit ends the connection, and the call is reported."""
    r = subprocess.run([PYTHON, "-c", EXIT_WITHOUT_CLOSE, str(tls_server.port)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "200", (r.returncode, r.stdout, r.stderr[-2000:])
    orchestrator.expect_calls([("GET", "/close")], tls_server.host)


def test_client_started_before_daemon(orchestrator, tls_server, daemon_factory, tmp_path):
    """A process with an established keep-alive connection when the daemon
    starts: its later calls are reported, each once."""
    out = tmp_path / "loop.txt"
    client = subprocess.Popen([PYTHON, TLS_CLIENT, "loop", str(tls_server.port), str(out), "40"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while (not out.exists() or out.read_text().count("REQ ") < 3) and time.monotonic() < deadline:
            assert client.poll() is None, "loop client died: %s" % client.stderr.read()
            time.sleep(0.05)
        assert out.read_text().count("REQ ") >= 3, "loop client made no requests"
        daemon_start = time.monotonic()
        d = daemon_factory(orchestrator.endpoint)
        ready = d.ready_at
        time.sleep(4.0)
        assert client.poll() is None, "loop client ended early: %s" % client.stderr.read()
    finally:
        if client.poll() is None:
            client.send_signal(signal.SIGTERM)
        try:
            _, err = client.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            client.kill()
            client.communicate()
            raise
    assert client.returncode == 0, "loop client failed: %s" % err
    rows = [l.split() for l in out.read_text().splitlines() if l.startswith("REQ ")]
    reqs = {int(x[1]): (float(x[2]), float(x[3]), int(x[4]), int(x[5])) for x in rows}
    assert len({v[3] for v in reqs.values()}) == 1, "the loop client reconnected"
    assert all(v[2] == 200 for v in reqs.values())
    assert any(v[0] < daemon_start for v in reqs.values())
    after = sorted(i for i, v in reqs.items() if v[0] >= ready + 1.0)

    orchestrator.wait_for(len(after), host=tls_server.host)
    orchestrator.assert_quiet(1.0, host=tls_server.host)
    calls = orchestrator.matching(tls_server.host)
    seen = []
    for c in calls:
        m = re.fullmatch(r"/hello/(\d+)", c.path)
        assert c.method == "GET" and m, "unexpected call %r\n%s" % (c.raw, orchestrator.describe())
        seen.append(int(m.group(1)))
    dups = sorted({i for i in seen if seen.count(i) > 1})
    assert not dups, "requests reported more than once: %s" % dups
    assert set(seen) <= set(reqs), "reported requests the client never made: %s" % (set(seen) - set(reqs))
    missing = [i for i in after if i not in seen]
    assert not missing, "requests made >= 1 s after ready but not reported: %s (reported: %s)" % (
        missing, sorted(seen))
    assert len(seen) >= 20, "only %d calls reported: %s" % (len(seen), sorted(seen))
    for lc in d.logged_calls(tls_server.host):
        assert lc.pid == client.pid, "call attributed to pid %d, client is %d" % (lc.pid, client.pid)


def test_nginx_keepalive(daemon, orchestrator, nginx):
    n = nginx
    r = curl_get([n.url("/hello"), n.url("/api/v1/items?page=2&key=SECRET"), n.url("/static/file.txt"),
                  n.url("/created"), n.url("/hello")])
    assert r.statuses == [200, 200, 200, 201, 200]
    calls = orchestrator.expect_calls(
        [("GET", "/hello"), ("GET", "/api/v1/items"), ("GET", "/static/file.txt"), ("GET", "/created"),
         ("GET", "/hello")], n.host)
    assert_latencies(calls, r.wall_ms)
    for d in orchestrator.raw:
        assert b"SECRET" not in d
    assert "SECRET" not in daemon.log(), "query leaked into the log"
    for lc in daemon.wait_logged_calls(5, n.host):
        assert lc.pid != n.pid and lc.comm == "curl", "call attributed to %r" % (lc,)
    assert not [lc for lc in daemon.logged_calls() if lc.pid == n.pid], "nginx's server side was reported"


def test_nginx_python_client(daemon, orchestrator, nginx):
    r = py_client("keepalive", nginx.port, "/hello", "/static/file.txt", "/hello").check()
    calls = orchestrator.expect_calls([("GET", "/hello"), ("GET", "/static/file.txt"), ("GET", "/hello")],
                                      nginx.host)
    assert_latencies(calls, r.wall_ms)


def test_orchestrator_unreachable(daemon_factory, tls_server):
    """Nothing listens at the endpoint (ICMP port unreachable): calls are still
    logged, the daemon neither crashes nor blocks."""
    d = daemon_factory("127.0.0.1:9")
    urls = [tls_server.url("/hello/u%d" % i) for i in range(20)]
    curl_get(urls)
    curl_get(urls)
    logged = d.wait_logged_calls(40, tls_server.host, timeout=10)
    assert len(logged) == 40, "expected 40 logged calls, got %d" % len(logged)
    d.assert_alive()
