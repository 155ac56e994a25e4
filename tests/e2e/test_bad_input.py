"""Untrusted input from traced clients: garbage, giant heads, early exits.
The daemon never crashes, never forwards a malformed datagram (the
orchestrator fixture fails the test on any), and keeps reporting normal calls.
"""

import time

from conftest import MAX_DATAGRAM, curl_get, py_client


def settle(orchestrator, host, seconds=1.5):
    """Give late datagrams time to arrive; return the calls for host."""
    time.sleep(seconds)
    orchestrator.assert_no_errors()
    return orchestrator.matching(host)


def still_reporting(daemon, orchestrator, server, tag):
    """The daemon is alive and a normal curl call afterwards is reported once."""
    daemon.assert_alive()
    path = "/hello/after-%s" % tag
    curl_get([server.url(path)])
    got = orchestrator.wait_for(1, host=server.host, pred=lambda c: c.path == path)
    orchestrator.assert_quiet(0.5, host=server.host, pred=lambda c: c.path == path)
    assert len(got) == 1, "normal call reported %d times\n%s" % (len(got), orchestrator.describe())
    daemon.assert_alive()


def test_binary_garbage(daemon, orchestrator, tls_server):
    r = py_client("raw", tls_server.port, "garbage", timeout=30)
    assert r.returncode == 0, r.stderr
    orchestrator.assert_quiet(1.0, host=tls_server.host)
    assert not orchestrator.matching(tls_server.host), orchestrator.describe()
    assert not [c for c in daemon.logged_calls() if c.comm.startswith("python")], daemon.log()[-4000:]
    still_reporting(daemon, orchestrator, tls_server, "garbage")


def test_giant_header(daemon, orchestrator, tls_server):
    """A 300 KB header value: the request is not forwarded."""
    r = py_client("raw", tls_server.port, "bigheader", timeout=30)
    assert r.returncode == 0, r.stderr
    orchestrator.assert_quiet(1.0, host=tls_server.host)
    assert not orchestrator.matching(tls_server.host), orchestrator.describe()
    still_reporting(daemon, orchestrator, tls_server, "bigheader")


def test_one_megabyte_url(daemon, orchestrator, tls_server):
    """A 1 MB request target: no crash; whatever is forwarded is a valid,
    unfragmented datagram (the orchestrator fixture parses every one)."""
    r = py_client("raw", tls_server.port, "longurl", timeout=30)
    assert r.returncode == 0, r.stderr
    got = settle(orchestrator, tls_server.host)
    assert len(got) <= 1, orchestrator.describe()
    for c in got:
        assert len(c.raw) <= MAX_DATAGRAM
        assert c.method == "GET" and c.path.startswith("/long/"), c.raw[:200]
        assert c.path.endswith("/") or c.path.endswith("segment-0123456789"), (
            "path not cut at a / boundary: ...%r" % c.path[-40:])
    still_reporting(daemon, orchestrator, tls_server, "longurl")


def test_client_closes_mid_response(daemon, orchestrator, tls_server):
    """The client drops the connection 200 KB into a 20 MB body: at most one
    call (its end is the last byte seen), no crash."""
    r = py_client("raw", tls_server.port, "abort", timeout=30)
    assert r.returncode == 0, r.stderr
    settle(orchestrator, tls_server.host)
    still_reporting(daemon, orchestrator, tls_server, "abort")
    got = orchestrator.matching(tls_server.host, pred=lambda c: not c.path.startswith("/hello/"))
    assert len(got) <= 1 and all(c.path == "/big" for c in got), orchestrator.describe()


def test_client_killed_mid_response(daemon, orchestrator, tls_server):
    """The client process is SIGKILLed mid-response (no SSL_free, no close)."""
    r = py_client("raw", tls_server.port, "die", timeout=30)
    assert r.returncode == -9, "client should have killed itself: %s %s" % (r.returncode, r.stderr)
    settle(orchestrator, tls_server.host)
    still_reporting(daemon, orchestrator, tls_server, "die")
    got = orchestrator.matching(tls_server.host, pred=lambda c: not c.path.startswith("/hello/"))
    assert len(got) <= 1 and all(c.path == "/big" for c in got), orchestrator.describe()


def test_all_bad_clients_then_normal_traffic(daemon, orchestrator, tls_server):
    """Every bad client in a row against one daemon, then keep-alive traffic
    is still reported exactly."""
    for mode in ("garbage", "bigheader", "longurl", "abort", "die"):
        py_client("raw", tls_server.port, mode, timeout=30)
        daemon.assert_alive()
    final = lambda c: c.path.startswith("/hello/final")  # noqa: E731
    urls = [tls_server.url("/hello/final%d" % i) for i in range(10)]
    curl_get(urls)
    got = orchestrator.wait_for(10, host=tls_server.host, pred=final)
    orchestrator.assert_quiet(1.0, host=tls_server.host, pred=final)
    others = orchestrator.matching(tls_server.host, pred=lambda c: not final(c))
    # At most: the 1 MB URL (cut), the aborted and the killed /big.
    assert len(others) <= 3 and all(c.path == "/big" or c.path.startswith("/long/") for c in others), (
        orchestrator.describe())
    assert sorted(c.path for c in got) == sorted("/hello/final%d" % i for i in range(10)), (
        orchestrator.describe())
