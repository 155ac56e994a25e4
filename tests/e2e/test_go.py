"""Go crypto/tls (issue 14): Go programs carry their own TLS in the
executable; the daemon finds crypto/tls.(*Conn).Read/Write by their symbols
or, stripped, through .gopclntab, and reads results at each return
instruction (never a return probe on Go).

The clients are tests/e2e/go_calls/main.go built at test time with Debian's
golang-go, once with symbols and once with -ldflags='-s -w'.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import E2E_DIR, _stop_proc, daemon_path
from test_probe_strategy import (UNTRACED_GO, attached_after, go_run, wait_disarmed,
                                 wait_links_gone)

GO = "/usr/bin/go"


def go_build(d, src, out, stripped=False, pie=False):
    env = dict(os.environ, GOCACHE=str(d / "cache"), GOPATH=str(d / "gopath"), GOFLAGS="-mod=mod",
               CGO_ENABLED="0", GOPROXY="off", GOTOOLCHAIN="local", GOTELEMETRY="off",
               GO111MODULE="auto", HOME=str(d))
    cmd = [GO, "build", "-o", str(out)]
    if stripped:
        cmd.append("-ldflags=-s -w")
    if pie:
        cmd.append("-buildmode=pie")
    r = subprocess.run(cmd + [str(src)], cwd=str(d), env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, "go build failed:\n%s\n%s" % (r.stdout, r.stderr)
    return str(out)


@pytest.fixture(scope="session")
def go_clients(tmp_path_factory):
    """{"plain": path, "stripped": path, "pie": path} of go_calls (the last two
    built -ldflags='-s -w', the last as a position-independent executable)."""
    built = os.environ.get("GO_TEST_DIR")  # make e2e builds them there
    if built and os.access(os.path.join(built, "go_calls-stripped"), os.X_OK):
        return {"plain": os.path.join(built, "go_calls"),
                "stripped": os.path.join(built, "go_calls-stripped"),
                "pie": os.path.join(built, "go_calls-pie-stripped")}
    assert os.access(GO, os.X_OK), "%s not found (Debian package golang-go, in TEST_DEPS)" % GO
    d = tmp_path_factory.mktemp("go_calls")
    src = E2E_DIR / "go_calls" / "main.go"
    return {"plain": go_build(d, src, d / "go_calls"),
            "stripped": go_build(d, src, d / "go_calls_stripped", stripped=True),
            "pie": go_build(d, src, d / "go_calls_pie", stripped=True, pie=True)}


@pytest.fixture(scope="session")
def go_binaries(tmp_path_factory):
    """{"go_server": path, "go_client": path} built with symbols."""
    built = os.environ.get("GO_TEST_DIR")
    if built and all(os.access(os.path.join(built, n), os.X_OK) for n in ("go_server", "go_client")):
        return {n: os.path.join(built, n) for n in ("go_server", "go_client")}
    d = tmp_path_factory.mktemp("go_more")
    return {name: go_build(d, E2E_DIR / name / "main.go", d / name)
            for name in ("go_server", "go_client")}


LINE_RE = re.compile(r"^(HTTP/\S+) (\d+) (\S+) (\S+)$", re.M)


def go_calls(binary, urls, proto="h2", g=1, repeat=1, method="GET", timeout=120):
    cmd = [binary, "-proto", proto, "-g", str(g), "-repeat", str(repeat), "-X", method] + list(urls)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "go_calls exited %s\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    assert "unexpected return pc" not in r.stderr, r.stderr[-3000:]
    return LINE_RE.findall(r.stdout)


def known(daemon, binary, url):
    """Run a Go program once (a call to url, under another host name than
    the test's) and wait until the daemon has analysed its executable: the
    first run of a never-seen executable races that analysis (~13 ms for a
    6 MB Go program, several times that under ASan; README Limitations),
    which is not what these tests are about."""
    go_calls(binary, [url], proto="h1")
    path = os.path.realpath(binary)
    deadline = time.monotonic() + 20
    while "TLS library found: %s " % path not in daemon.log():
        assert time.monotonic() < deadline, "daemon never analysed %s\n%s" % (
            path, daemon.log()[-3000:])
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["plain", "stripped"])
def test_go_http1_keepalive(daemon, orchestrator, nginx, go_clients, kind):
    s = nginx
    known(daemon, go_clients[kind], s.url("/warmup", host="localhost"))
    urls = [s.url("/hello"), s.url("/api/v1/items"), s.url("/hello")]
    lines = go_calls(go_clients[kind], urls, proto="h1")
    assert [l[0] for l in lines] == ["HTTP/1.1"] * 3, lines
    orchestrator.expect_calls([("GET", "/hello"), ("GET", "/api/v1/items"), ("GET", "/hello")],
                              s.host)


@pytest.mark.parametrize("kind", ["plain", "stripped", "pie"])
def test_go_http2(daemon, orchestrator, nginx_h2, go_clients, kind):
    s = nginx_h2
    known(daemon, go_clients[kind], s.url("/warmup", host="localhost"))
    urls = [s.url("/h2/a"), s.url("/h2/b"), s.url("/hello")]
    lines = go_calls(go_clients[kind], urls, proto="h2", repeat=2)
    assert [l[0] for l in lines] == ["HTTP/2.0"] * 6, lines
    orchestrator.expect_calls([("GET", "/h2/a"), ("GET", "/h2/b"), ("GET", "/hello")] * 2, s.host)


def test_go_keepalive_methods_and_latency(daemon, orchestrator, nginx, go_clients):
    """POST and GET on one keep-alive HTTP/1.1 connection, 5 rounds: each call
    once, latencies within the client's wall time."""
    s = nginx
    known(daemon, go_clients["plain"], s.url("/warmup", host="localhost"))
    t0 = time.monotonic()
    lines = go_calls(go_clients["plain"], [s.url("/created"), s.url("/hello")], proto="h1",
                     repeat=5, method="POST")
    wall_ms = (time.monotonic() - t0) * 1000
    assert len(lines) == 10, lines
    calls = orchestrator.expect_calls([("POST", "/created"), ("POST", "/hello")] * 5, s.host)
    for c in calls:
        assert 0 < c.value <= wall_ms, "latency %.3f ms outside (0, %.1f]" % (c.value, wall_ms)


@pytest.mark.parametrize("proto", ["h1", "h2"])
def test_go_thousand_goroutines(daemon, orchestrator, certs, tmp_path, go_binaries, go_clients,
                                proto):
    """1,000 goroutines making calls concurrently over one shared transport
    (HTTP/2: streams multiplexed on one connection; HTTP/1.1: a pool of
    connections) to a Go server: every call exactly once, the program
    unharmed (no 'unexpected return pc': no return probe on Go)."""
    proc, port = start_go_server(go_binaries["go_server"], certs, tmp_path)
    try:
        url = "https://127.0.0.1:%d/g-%s" % (port, proto)
        known(daemon, go_clients["stripped" if proto == "h2" else "plain"],
              "https://localhost:%d/warmup" % port)
        lines = go_calls(go_clients["stripped" if proto == "h2" else "plain"], [url], proto=proto,
                         g=1000, timeout=300)
        assert len(lines) == 1000, "%d responses" % len(lines)
        orchestrator.expect_calls([("GET", "/g-%s" % proto)] * 1000, "127.0.0.1:%d" % port,
                                  timeout=60)
        assert proc.poll() is None, "go_server exited"
    finally:
        _stop_proc(proc)


def test_go_client_started_before_daemon(orchestrator, daemon_factory, nginx, go_clients):
    """A Go client with an open keep-alive connection when the daemon starts:
    its first call (before) is not reported, its later calls on the same
    connection are, exactly once."""
    s = nginx
    proc = subprocess.Popen([go_clients["stripped"], "-proto", "h1", "-wait-stdin", s.url("/hello"),
                             s.url("/api/v1/items"), s.url("/created")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().startswith("HTTP/1.1 200"), "first call failed"
        assert proc.stdout.readline().strip() == "waiting"
        daemon_factory(orchestrator.endpoint, args=["--verbose"])
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    assert "unexpected return pc" not in err
    orchestrator.expect_calls([("GET", "/api/v1/items"), ("GET", "/created")], s.host)


def start_go_server(go_server, certs, tmp_path):
    cert, key = certs
    proc = subprocess.Popen([go_server, str(cert), str(key)], stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "go_server.stderr", "wb"), text=True)
    line = proc.stdout.readline()
    assert line.startswith("port "), "go_server said %r" % line
    return proc, int(line.split()[1])


def test_go_server_pays_nothing(orchestrator, daemon_factory, certs, tmp_path, go_binaries,
                                go_clients):
    """A Go HTTPS server (HTTP/1.1 and h2) loaded by a Go client the daemon is
    told not to trace (--exclude-comm): after the detection window the
    server's pid holds no data probe link, is not re-armed, and nothing is
    reported about its port."""
    d = daemon_factory(orchestrator.endpoint, args=["--verbose", UNTRACED_GO])
    proc, port = start_go_server(go_binaries["go_server"], certs, tmp_path)
    try:
        url = "https://127.0.0.1:%d/load" % port
        go_run(go_binaries["go_client"], url, 50)
        wait_disarmed(d, [proc.pid])
        wait_links_gone(d, proc.pid, "the Go server")
        go_run(go_binaries["go_client"], url, 500, conns=4)
        again = attached_after(d, proc.pid, r"pid %d only serves TLS" % proc.pid)
        assert not again, "Go server re-armed: %s" % again
        time.sleep(1)
        about = orchestrator.matching(pred=lambda c: c.host.endswith(":%d" % port))
        assert not about, "datagram(s) about the Go server: %s" % about
        assert proc.poll() is None, "go_server exited"
    finally:
        _stop_proc(proc)


def test_go_list_targets(go_clients, nginx):
    """--list-targets names running Go programs, plain and stripped, as traced."""
    procs = [subprocess.Popen([go_clients[k], "-proto", "h1", "-wait-stdin", nginx.url("/hello")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k in ("plain", "stripped")]
    try:
        for p in procs:
            assert p.stdout.readline().startswith("HTTP/1.1 200")
            assert p.stdout.readline().strip() == "waiting"
        r = subprocess.run([daemon_path(), "--list-targets"], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        for p in procs:
            lines = [l for l in r.stdout.splitlines() if l.startswith("pid=%d " % p.pid)]
            assert any("status=traced kind=go" in l for l in lines), (
                "pid %d not listed as a traced Go program:\n%s" % (p.pid, "\n".join(lines) or r.stdout))
    finally:
        for p in procs:
            p.kill()
            p.wait()
