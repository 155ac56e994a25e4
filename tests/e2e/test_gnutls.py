"""GnuTLS (issue 13): wget, git (libcurl-gnutls) and a C client of our own,
all linked to libgnutls.so.30, against real servers on 127.0.0.1; a GnuTLS
server (gnutls-serv) pays nothing.

1. `wget` (Debian's is GnuTLS-linked) against nginx (HTTP/1.1): one URL,
   then three URLs in one wget process over one keep-alive connection.
2. `git ls-remote https://127.0.0.1:PORT/repo.git` (git-remote-https links
   libcurl-gnutls) against nginx serving a bare repository read-only (git's
   "dumb" HTTP: GET /repo.git/info/refs?service=git-upload-pack answered as a
   plain file, then GET /repo.git/HEAD), over HTTP/1.1 (`nginx`) and over
   HTTP/2 (`nginx_h2`: libcurl picks h2 by ALPN).
3. gnutls_retry_client.c, built here against libgnutls28-dev: a
   non-blocking socket with a small send buffer, to a server with a small
   receive window (tls_server.py's routes, SO_RCVBUF 4 KiB on its listening
   socket), so gnutls_record_send returns GNUTLS_E_AGAIN and is called again
   with NULL/0 ("the same data as before") or with the same arguments; the
   request line of the first request goes out through a NULL/0 retry.
   Responses are read under GNUTLS_E_AGAIN too. Several requests keep-alive
   on one connection, 2 MB bodies, a 1 MB response.
4. gnutls-serv (Debian gnutls-bin) under load from the Go client (excluded):
   after the detection window its pid holds no data probe link, the daemon's
   BPF programs run at most a few times per new connection, and nothing is
   reported about it; wget calls to it (controls) are reported exactly once.
5. 100 one-shot wget processes started after the daemon: >= 99 % captured.

Every test first checks what the client and the server themselves did
(statuses, one connection, the server's log, E_AGAIN retries really made,
h2 really used), so that until the daemon traces GnuTLS a test fails on a
missing call, never on a fixture problem. Exact-count assertions
(`expect_calls`) also prove that the servers add nothing.

What these programs call in libgnutls.so.30 (GnuTLS 3.7.9, Debian 12;
bpftrace uprobes, one run each):
- wget 1.21.3: gnutls_init(GNUTLS_CLIENT|GNUTLS_POST_HANDSHAKE_AUTH),
  non-blocking gnutls_handshake (E_AGAIN), gnutls_record_send (one call per
  request head), gnutls_record_recv (E_AGAIN seen); NO gnutls_bye and NO
  gnutls_deinit: a wget process ends its connections by exiting.
- git-remote-https (libcurl-gnutls 7.88.1): gnutls_init(GNUTLS_CLIENT|
  GNUTLS_FORCE_CLIENT_CERT|GNUTLS_NO_TICKETS), its own push/pull functions,
  ALPN h2 with an h2 server, gnutls_record_send/recv (E_AGAIN seen),
  gnutls_bye(GNUTLS_SHUT_WR) and gnutls_deinit once per connection.
- gnutls_retry_client: gnutls_init(GNUTLS_CLIENT|GNUTLS_NONBLOCK); hundreds
  of gnutls_record_send(session, NULL, 0) retries per 2 MB body.
- gnutls-serv: gnutls_init(GNUTLS_SERVER|...), then per connection
  gnutls_handshake, gnutls_record_recv, gnutls_record_send, gnutls_bye,
  gnutls_deinit.
- gnutls_record_send calls the exported gnutls_record_send2 inside: a probe
  on both would see each send twice.

Needs (TEST_DEPS): wget, git, gnutls-bin, libgnutls28-dev, pkg-config, gcc.
"""

import collections
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import E2E_DIR, PYTHON, Server, _stop_proc, free_tcp_port, run, start_port_server
from e2e_helpers import token
from test_discovery import expect_calls_logged
from test_probe_strategy import GO_OUT_RE, UNTRACED_GO, BpfStats, daemon_links, go_client, log_tail, measure_runs  # noqa: F401

WGET = shutil.which("wget") or "/usr/bin/wget"
GIT = shutil.which("git") or "/usr/bin/git"
GNUTLS_SERV = shutil.which("gnutls-serv") or "/usr/bin/gnutls-serv"
RETRY_CLIENT_SRC = E2E_DIR / "gnutls_retry_client.c"
LIBGNUTLS = "libgnutls.so.30"
DISARM_TIMEOUT = 10.0  # server role seen -> data probes gone (the daemon's window is ~1 s)
C_ENV = dict(os.environ, LC_ALL="C", LANG="C")



def no_query(target):
    return target.split("?", 1)[0]


def assert_latencies(calls, wall_ms):
    for c in calls:
        assert 0 < c.value <= wall_ms, "latency %.3f ms of %r outside (0, %.1f] (client wall time)" % (
            c.value, c.raw, wall_ms)


def assert_maps_gnutls(exe, what):
    """The premise of every test here: the client really is a GnuTLS one."""
    r = run(["ldd", exe], timeout=20)
    assert r.returncode == 0 and LIBGNUTLS in r.stdout, "%s (%s) does not link %s:\n%s%s" % (
        what, exe, LIBGNUTLS, r.stdout, r.stderr)
    assert "libssl.so" not in r.stdout, "%s (%s) also links OpenSSL:\n%s" % (what, exe, r.stdout)


class ServerLog:
    """Access-log lines a server wrote since the mark (the nginx fixtures:
    "<method> <uri> <status> <host>[ <proto>]"; tls_server.py: "<method>
    <target> <status> <host>")."""

    def __init__(self, path):
        self.path = path
        self.mark = self._size()

    def _size(self):
        return len(self.path.read_text(errors="replace")) if self.path.exists() else 0

    def lines(self):
        text = self.path.read_text(errors="replace") if self.path.exists() else ""
        return [l.split() for l in text[self.mark:].splitlines() if l.strip()]

    def wait(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.lines()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.lines()


def assert_server_saw(log, expected, host, proto=None):
    """The server logged exactly `expected` ((METHOD, target-with-query)) with
    Host `host` (and protocol `proto`)."""
    lines = log.wait(len(expected))
    got = collections.Counter((x[0], x[1]) for x in lines)
    assert got == collections.Counter(expected), "the server saw %s, expected %s" % (
        sorted(got.elements()), sorted(expected))
    assert all(x[3].lower() == host for x in lines), "the server saw Host %s, expected %s" % (
        sorted({x[3] for x in lines}), host)
    if proto:
        assert all(x[4] == proto for x in lines), "the server did not serve %s: %s" % (proto, lines)
    return lines


def assert_client_pids(daemon, host, n, pid=None, comm=None):
    logged = daemon.wait_logged_calls(n, host)
    for lc in logged:
        assert pid is None or lc.pid == pid, "call attributed to pid %d, the client is %d: %r" % (
            lc.pid, pid, lc)
        assert comm is None or lc.comm == comm, "call attributed to comm %r, expected %r" % (lc.comm, comm)
    return logged


# ---------------------------------------------------------------------------
# wget
# ---------------------------------------------------------------------------

WGET_ARGS = ["--no-config", "--no-hsts", "--no-proxy", "--no-check-certificate", "--tries=1",
             "--timeout=15", "-O", "/dev/null"]


def wget(urls, quiet=False, env=None, timeout=60, prefix=()):
    """One wget process fetching all urls; returns Run (checked: exit 0)."""
    cmd = list(prefix) + [WGET] + WGET_ARGS + (["-q"] if quiet else []) + list(urls)
    r = run(cmd, timeout=timeout, env=env or C_ENV)
    r.check()
    return r


def wget_statuses(r):
    return [int(x) for x in re.findall(r"^HTTP request sent, awaiting response\.\.\. (\d{3})\b",
                                       r.stderr, re.M)]


def check_wget_one_connection(r, port, n):
    """wget's own account (LC_ALL=C): n 2xx responses, one TCP connection,
    reused for every URL after the first."""
    statuses = wget_statuses(r)
    assert len(statuses) == n and all(200 <= s < 300 for s in statuses), (
        "wget statuses %s for %d URLs\n%s" % (statuses, n, r.stderr[-3000:]))
    connects = len(re.findall(r"^Connecting to 127\.0\.0\.1:%d\.\.\. connected\.$" % port, r.stderr, re.M))
    reused = len(re.findall(r"^Reusing existing connection to 127\.0\.0\.1:%d\.$" % port, r.stderr, re.M))
    assert connects == 1 and reused == n - 1, (
        "wget connected %d time(s) and reused the connection %d time(s) for %d URLs (expected 1 and %d: "
        "keep-alive)\n%s" % (connects, reused, n, n - 1, r.stderr[-3000:]))


def test_wget_one_url(daemon, orchestrator, nginx):
    assert_maps_gnutls(WGET, "wget")
    log = ServerLog(nginx.log_path)
    r = wget([nginx.url("/hello")])
    check_wget_one_connection(r, nginx.port, 1)
    assert_server_saw(log, [("GET", "/hello")], nginx.host)
    calls = expect_calls_logged(orchestrator, daemon, [("GET", "/hello")], nginx.host)
    assert_latencies(calls, r.wall_ms)
    assert_client_pids(daemon, nginx.host, 1, comm="wget")


def test_wget_three_urls_one_connection(daemon, orchestrator, nginx):
    """Three URLs in one wget process: one keep-alive connection (wget says
    "Reusing existing connection"), a query string that must not leave the
    host, a 204 KB body (many records)."""
    n = nginx
    targets = ["/hello", "/api/v1/items?page=2&key=SECRET", "/static/file.txt"]
    log = ServerLog(n.log_path)
    r = wget([n.url(t) for t in targets])
    check_wget_one_connection(r, n.port, 3)
    assert_server_saw(log, [("GET", t) for t in targets], n.host)
    calls = expect_calls_logged(orchestrator, daemon, [("GET", no_query(t)) for t in targets], n.host)
    assert_latencies(calls, r.wall_ms)
    for d in orchestrator.raw:
        assert b"SECRET" not in d, "query leaked: %r" % d
    assert "SECRET" not in daemon.log(), "query leaked into the log"
    logged = assert_client_pids(daemon, n.host, 3, comm="wget")
    assert len({lc.pid for lc in logged}) == 1, logged
    assert sorted(lc.status for lc in logged) == [200, 200, 200], logged
    assert not [lc for lc in daemon.logged_calls() if lc.pid == n.pid], "nginx's server side was reported"


# ---------------------------------------------------------------------------
# git ls-remote (libcurl-gnutls), HTTP/1.1 and HTTP/2
# ---------------------------------------------------------------------------

GIT_REMOTE_HTTPS = "/usr/lib/git-core/git-remote-https"


def git_env(home):
    return dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1",
                GIT_SSL_NO_VERIFY="1", GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false",
                LC_ALL="C", LANG="C", http_proxy="", https_proxy="",
                HTTPS_PROXY="", all_proxy="", ALL_PROXY="")


def make_bare_repo(nginx_srv, tmp_path):
    """A bare repository with one commit at <nginx prefix>/html/repo.git:
    the nginx fixtures run with `-p <their dir>`, so nginx's default
    location (`root html`) serves it as plain files. `update-server-info`
    writes info/refs, which answers git's discovery URL
    (/repo.git/info/refs?service=git-upload-pack: the query is ignored by a
    static file, and text/plain tells git the server is "dumb"). Returns
    (commit sha, environment for git)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = git_env(home)
    root = nginx_srv.log_path.parent / "html"
    bare = root / "repo.git"
    work = tmp_path / "work"
    if bare.exists():
        shutil.rmtree(bare)
    root.mkdir(exist_ok=True)
    for cmd in (["init", "-q", "-b", "main", str(work)],
                ["-C", str(work), "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid",
                 "commit", "-q", "--allow-empty", "-m", "e2e"],
                ["clone", "-q", "--bare", str(work), str(bare)],
                ["-C", str(bare), "update-server-info"]):
        r = run([GIT] + cmd, env=env, timeout=30)
        assert r.returncode == 0, "git %s: %s %s" % (" ".join(cmd), r.stdout, r.stderr)
    sha = run([GIT, "-C", str(bare), "rev-parse", "refs/heads/main"], env=env, timeout=30).check().stdout.strip()
    assert (bare / "info" / "refs").read_text().split() == [sha, "refs/heads/main"]
    return sha, env


def git_ls_remote(srv, tmp_path, proto):
    """git ls-remote https://127.0.0.1:PORT/repo.git; checks git's output and
    what nginx saw (over `proto`); returns (Run, expected calls)."""
    assert os.access(GIT, os.X_OK), "git not found"
    assert_maps_gnutls(GIT_REMOTE_HTTPS, "git's HTTPS helper")
    sha, env = make_bare_repo(srv, tmp_path)
    log = ServerLog(srv.log_path)
    r = run([GIT, "ls-remote", srv.url("/repo.git")], env=env, timeout=30)
    assert r.returncode == 0, "git ls-remote exited %s\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr[-3000:])
    refs = [l.split("\t") for l in r.stdout.splitlines() if l.strip()]
    assert [sha, "refs/heads/main"] in refs, "git ls-remote printed %r (expected %s refs/heads/main)" % (
        r.stdout, sha)
    time.sleep(0.2)  # nginx writes its access log line after the response
    lines = log.lines()
    seen = [(x[0], x[1]) for x in lines]
    assert seen and seen[0] == ("GET", "/repo.git/info/refs?service=git-upload-pack"), (
        "git's first request was not the discovery URL: %s" % seen)
    assert all(x[2] == "200" for x in lines), "nginx answered %s" % lines
    assert set(seen) <= {("GET", "/repo.git/info/refs?service=git-upload-pack"), ("GET", "/repo.git/HEAD")}, (
        "git made requests this test does not expect: %s" % seen)
    assert all(x[3].lower() == srv.host for x in lines), "nginx saw Host %s" % [x[3] for x in lines]
    if proto:
        assert all(x[4] == proto for x in lines), "nginx did not serve %s to git: %s" % (proto, lines)
    return r, [(m, no_query(t)) for m, t in seen]


def test_git_ls_remote_http1(daemon, orchestrator, nginx, tmp_path):
    r, expected = git_ls_remote(nginx, tmp_path, None)
    calls = expect_calls_logged(orchestrator, daemon, expected, nginx.host)
    assert_latencies(calls, r.wall_ms)
    logged = assert_client_pids(daemon, nginx.host, len(expected))
    assert {lc.comm for lc in logged} <= {"git-remote-http", "git-remote-https"}, logged


def test_git_ls_remote_http2(daemon, orchestrator, nginx_h2, tmp_path):
    """libcurl-gnutls negotiates h2 with nginx_h2 (checked in nginx's log:
    HTTP/2.0): the same calls, from HPACK-decoded :method/:authority/:path."""
    r, expected = git_ls_remote(nginx_h2, tmp_path, "HTTP/2.0")
    calls = expect_calls_logged(orchestrator, daemon, expected, nginx_h2.host)
    assert_latencies(calls, r.wall_ms)
    logged = assert_client_pids(daemon, nginx_h2.host, len(expected))
    assert {lc.comm for lc in logged} <= {"git-remote-http", "git-remote-https"}, logged


# ---------------------------------------------------------------------------
# the C client: GNUTLS_E_AGAIN retries, NULL/0 and same-arguments forms
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def retry_client(tmp_path_factory):
    """gnutls_retry_client.c built against the system's GnuTLS."""
    d = tmp_path_factory.mktemp("gnutls_retry_client")
    out = d / "gnutls_retry_client"
    pc = run(["pkg-config", "--cflags", "--libs", "gnutls"], timeout=20)
    assert pc.returncode == 0, "pkg-config gnutls failed (Debian libgnutls28-dev, pkg-config): %s" % pc.stderr
    cc = shutil.which("cc") or shutil.which("gcc") or "/usr/bin/gcc"
    r = run([cc, "-O2", "-g", "-Wall", "-Wextra", "-o", str(out), str(RETRY_CLIENT_SRC)] + pc.stdout.split(),
            timeout=120)
    assert r.returncode == 0, "building %s failed:\n%s\n%s" % (RETRY_CLIENT_SRC, r.stdout, r.stderr)
    assert_maps_gnutls(str(out), "gnutls_retry_client")
    return str(out)


# tls_server.py with a 4 KiB receive buffer on its listening socket (the
# accepted sockets inherit it): a small TCP window, so a 16 KiB record from
# a client with a small send buffer does not fit at once.
SMALL_WINDOW_SERVER = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
import tls_server
rcvbuf = int(sys.argv[2])
class SmallWindowServer(tls_server.Server):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        super().server_bind()
tls_server.Server = SmallWindowServer
sys.argv = [tls_server.__file__] + sys.argv[3:]
tls_server.main()
"""


@pytest.fixture(scope="module")
def small_window_server(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("small_window_server")
    log = d / "requests.log"
    cert, key = certs
    srv = start_port_server([PYTHON, "-c", SMALL_WINDOW_SERVER, str(E2E_DIR), "4096", str(cert),
                             str(key), str(log)], d, log, "tls_server.py (small window)")
    yield srv
    _stop_proc(srv.proc)


REQ_RE = re.compile(r"^REQ (\d+) (\S+) (\S+) status=(\d+) body=(\d+) ms=([\d.]+) sends=(\d+) again_null=(\d+) "
                    r"again_same=(\d+) head_again=(\d) recv_calls=(\d+) recv_again=(\d+) response=(\S+)$", re.M)
TOTAL_RE = re.compile(r"^TOTAL requests=(\d+) again_null=(\d+) again_same=(\d+) recv_again=(\d+) "
                      r"head_again=(\d+)$", re.M)


def run_retry_client(binary, port, host, specs, timeout=60, extra=()):
    # A run that makes no call first (a usage error, after libgnutls is
    # mapped): the next one is armed at its exec with registration warm, and
    # its first request, which is counted, does not race a cold arming (lost
    # once in a local run of the suite). One-shot capture is test_discovery's
    # business.
    run([binary], timeout=timeout)
    time.sleep(0.2)
    r = run([binary] + list(extra) + [str(port), host] + specs, timeout=timeout)
    assert r.returncode == 0, "gnutls_retry_client exited %s\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    rows = [dict(i=int(m[1]), method=m[2], target=m[3], status=int(m[4]), body=int(m[5]), ms=float(m[6]),
                 sends=int(m[7]), again_null=int(m[8]), again_same=int(m[9]), head_again=int(m[10]),
                 recv_calls=int(m[11]), recv_again=int(m[12]), response=m[13])
            for m in REQ_RE.finditer(r.stdout)]
    m = TOTAL_RE.search(r.stdout)
    assert m and len(rows) == len(specs), "unexpected output:\n%s" % r.stdout
    r.rows = rows
    r.total = dict(again_null=int(m[2]), again_same=int(m[3]), recv_again=int(m[4]), head_again=int(m[5]))
    return r


def test_c_client_again_retries(daemon, orchestrator, small_window_server, retry_client):
    """Five requests on one non-blocking connection (4 KiB SO_SNDBUF and
    SO_RCVBUF) to a server with a 4 KiB receive window:
      0 POST /echo 2 MB, head and body in one buffer, E_AGAIN retried with
        NULL/0: the first record (request line + body start) does not fit,
        so the request line itself goes out through gnutls_record_send(s,
        NULL, 0);
      1 GET /big 1 MB response, read 4 KiB at a time under E_AGAIN;
      2 PUT /echo 2 MB, head then body, retried with the same arguments;
      3 POST /echo 2 MB, head then body, retried with NULL/0;
      4 GET /hello/... (a query that must not leave the host).
    The client's counters must show both retry forms really happened."""
    s, tok = small_window_server, token()
    mb2 = 2 * 1024 * 1024
    last = "/hello/gnutls-retry-%s/last" % tok
    specs = ["POST,/echo?token=SECRET,%d,null,joined" % mb2,
             "GET,/big?size=1000000,0,null,split",
             "PUT,/echo,%d,same,split" % mb2,
             "POST,/echo,%d,null,split" % mb2,
             "GET,%s?key=SECRET,0,same,joined" % last]
    expected = [("POST", "/echo"), ("GET", "/big"), ("PUT", "/echo"), ("POST", "/echo"), ("GET", last)]
    log = ServerLog(s.log_path)
    r = run_retry_client(retry_client, s.port, s.host, specs)
    rows, total = r.rows, r.total
    print("\ngnutls_retry_client:\n%s" % r.stdout)
    # What the client and the server did.
    assert [x["status"] for x in rows] == [200] * 5, r.stdout
    assert [x["response"] for x in rows if x["target"].startswith("/echo")] == ["%d." % mb2] * 3, (
        "the server did not receive the 2 MB bodies intact:\n%s" % r.stdout)
    assert rows[1]["body"] == 1000000, r.stdout
    assert_server_saw(log, [("POST", "/echo?token=SECRET"), ("GET", "/big?size=1000000"), ("PUT", "/echo"),
                            ("POST", "/echo"), ("GET", last + "?key=SECRET")], s.host)
    assert total["again_null"] >= 1, "no GNUTLS_E_AGAIN send was retried with NULL/0:\n%s" % r.stdout
    assert total["again_same"] >= 1, "no GNUTLS_E_AGAIN send was retried with the same data:\n%s" % r.stdout
    assert rows[0]["head_again"] == 1 and rows[0]["again_null"] >= 1, (
        "the record holding request 0's head never got GNUTLS_E_AGAIN (so it was not retried with "
        "NULL/0):\n%s" % r.stdout)
    assert rows[2]["again_same"] >= 1 and rows[3]["again_null"] >= 1, r.stdout
    assert total["recv_again"] >= 1, "gnutls_record_recv never returned GNUTLS_E_AGAIN:\n%s" % r.stdout
    # What the daemon reported.
    calls = expect_calls_logged(orchestrator, daemon, expected, s.host)
    assert_latencies(calls, sum(x["ms"] for x in rows) + 50.0)
    for c in calls:  # each call's latency is bounded by its own request's wall time
        mine = [x["ms"] for x in rows if (x["method"], no_query(x["target"])) == (c.method, c.path)]
        assert c.value <= max(mine) + 5.0, "latency %.3f ms of %r > the client's %s ms" % (c.value, c.raw, mine)
    for d in orchestrator.raw:
        assert b"SECRET" not in d, "query leaked: %r" % d
    assert "SECRET" not in daemon.log(), "query leaked into the log"
    logged = assert_client_pids(daemon, s.host, len(expected), comm="gnutls_retry_cl")
    assert sorted(lc.status for lc in logged) == [200] * 5, logged
    assert len({lc.pid for lc in logged}) == 1, logged


# ---------------------------------------------------------------------------
# gnutls-serv: a GnuTLS server pays nothing
# ---------------------------------------------------------------------------

def listening(pid, port):
    """pid's network namespace has a TCP socket listening on port."""
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            return False
        for row in rows:
            x = row.split()
            if len(x) > 3 and x[3] == "0A" and int(x[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def comm_of(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


@pytest.fixture
def gnutls_serv(certs, tmp_path):
    """gnutls-serv --http in a network namespace of its own (it listens on
    every address and has no option to bind 127.0.0.1 only; its namespace
    has nothing but lo). Clients join it with nsenter --net. Server with
    .pid (gnutls-serv itself: unshare and sh exec it), .port, .host, .netns
    (a command prefix)."""
    assert os.access(GNUTLS_SERV, os.X_OK), "%s not found (Debian package gnutls-bin)" % GNUTLS_SERV
    assert shutil.which("unshare") and shutil.which("nsenter") and shutil.which("ip"), (
        "unshare/nsenter (util-linux) and ip (iproute2) are needed")
    cert, key = certs
    port = free_tcp_port()
    out = tmp_path / "gnutls-serv.out"
    cmd = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', GNUTLS_SERV, "--http",
           "--x509certfile", str(cert), "--x509keyfile", str(key), "--disable-client-cert", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=open(out, "wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while not (comm_of(proc.pid) == "gnutls-serv" and listening(proc.pid, port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop_proc(proc)
            pytest.fail("gnutls-serv did not listen on port %d (exit %s):\n%s" % (
                port, proc.returncode, out.read_text(errors="replace")[-3000:]), pytrace=False)
        time.sleep(0.05)
    srv = Server(proc, port, out)
    srv.netns = ["nsenter", "--net=/proc/%d/ns/net" % proc.pid]
    yield srv
    _stop_proc(proc)


def go_run_in(prefix, binary, url, n):
    cmd = list(prefix) + [binary, "-n", str(n), "-c", "1", url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    m = GO_OUT_RE.search(r.stdout)
    assert r.returncode == 0 and m, "go_client %s exited %s\nstdout: %s\nstderr: %s" % (
        url, r.returncode, r.stdout[-1000:], r.stderr[-2000:])
    res = dict(ok=int(m[1]), fail=int(m[2]), new_conns=int(m[3]), reused=int(m[4]), statuses=m[5])
    assert res["ok"] == n, res
    return res


def wget_control(srv, orchestrator, daemon, expected, path):
    """One wget (a GnuTLS client) call to gnutls-serv: reported exactly once,
    with everything reported so far about the server (expected, updated).
    Proves that GnuTLS is traced at all, and that the server's side of a
    call adds nothing."""
    r = wget([srv.url(path)], prefix=srv.netns)
    assert wget_statuses(r) == [200], r.stderr[-2000:]
    expected.append(("GET", path))
    calls = expect_calls_logged(orchestrator, daemon, expected, srv.host)
    assert_latencies([c for c in calls if c.path == path], r.wall_ms)


def test_gnutls_serv_pays_nothing(orchestrator, daemon_factory, gnutls_serv, go_client):
    """gnutls-serv (GnuTLS server, one request per connection: HTTP/1.0,
    body until close) started after the daemon, loaded by the Go client
    (not traced: --exclude-comm):
      - a wget call to it is reported once (control: GnuTLS is traced);
      - after the detection window its pid holds no data probe link (the
        daemon's link fds), whether it was armed at mapping and disarmed
        ("only serves TLS") or never armed;
      - during 300 more connections the daemon's programs run at most 4
        times per new connection (a server marker such as gnutls_init's
        flags, entry and return: 2; data probes on recv/send/bye/deinit
        would add >= 5 per connection) (kernel.bpf_stats_enabled run_cnt);
      - not re-armed, nothing reported with its pid or about its port
        beyond the wget controls."""
    d = daemon_factory(orchestrator.endpoint, args=["--verbose", UNTRACED_GO])
    srv, tok = gnutls_serv, token()
    pid = srv.pid
    expected = []
    assert_maps_gnutls(GNUTLS_SERV, "gnutls-serv")

    wget_control(srv, orchestrator, d, expected, "/control-%s/first" % tok)
    go_run_in(srv.netns, go_client, srv.url("/load-%s" % tok), 50)

    deadline = time.monotonic() + DISARM_TIMEOUT
    disarm_re = r"^info: pid %d only serves TLS: its data probes are removed$" % pid
    attach_re = r"^debug: attached to pid %d " % pid
    while True:
        log = d.log()
        links = daemon_links(d.pid, pid)
        disarmed = re.search(disarm_re, log, re.M)
        attached = re.search(attach_re, log, re.M)
        if not links and (disarmed or not attached):
            break
        d.assert_alive()
        assert time.monotonic() < deadline, (
            "gnutls-serv (pid %d) still holds data probes %.0f s after serving: links %s; 'only serves TLS' "
            "%slogged\n--- daemon log ---\n%s" % (pid, DISARM_TIMEOUT, links, "" if disarmed else "not ",
                                                 log_tail(d, 60)))
        time.sleep(0.05)
    time.sleep(0.3)  # detaches are asynchronous
    left = daemon_links(d.pid, pid)
    assert not left, "gnutls-serv (pid %d): data probe links: %s" % (pid, left)
    mark = len(d.log().splitlines())

    def load():
        return go_run_in(srv.netns, go_client, srv.url("/load-%s" % tok), 300)

    with BpfStats():
        m = measure_runs(d, load)
    res, runs = m["result"], m["runs"]
    allowed = 4 * res["new_conns"] + 2
    print("\ngnutls-serv under untraced load: %s in %.1f s; daemon BPF program runs %d (%.2f per connection; "
          "allowed %d); armed before: %s" % (res, m["took"], runs, runs / max(1, res["new_conns"]), allowed,
                                             "yes, then disarmed" if disarmed else "never"))
    assert res["new_conns"] >= 250, "gnutls-serv kept connections open? %s" % res
    assert runs <= allowed, (
        "the daemon's BPF programs ran %d times during %d connections to gnutls-serv, a server that only "
        "serves (allowed %d); data probes still hit?\nbefore %s after %s\n--- daemon log ---\n%s"
        % (runs, res["new_conns"], allowed, m["before"], m["after"], log_tail(d, 60)))

    again = [l for l in d.log().splitlines()[mark:] if re.match(attach_re, l)]
    assert not again, "gnutls-serv (pid %d) re-armed: %s" % (pid, again)
    left = daemon_links(d.pid, pid)
    assert not left, "gnutls-serv (pid %d): data probe links: %s" % (pid, left)

    wget_control(srv, orchestrator, d, expected, "/control-%s/last" % tok)
    about = [c for c in orchestrator.matching(srv.host) if not c.path.startswith("/control-%s/" % tok)]
    assert not about, "datagram(s) about gnutls-serv's own side: %s" % about
    mine = [lc for lc in d.logged_calls() if lc.pid == pid]
    assert not mine, "calls logged for gnutls-serv's pid %d: %s" % (pid, mine)
    assert srv.proc.poll() is None, "gnutls-serv exited with %s" % srv.proc.returncode
    d.check_clean_exit()


# ---------------------------------------------------------------------------
# one-shot wget processes
# ---------------------------------------------------------------------------

def test_one_shot_wget_captured(daemon, orchestrator, nginx):
    """100 one-shot wget processes, one after the other, each making one
    call (started after the daemon is ready: each is armed at exec or when
    it maps libgnutls): >= 99 % of the calls arrive, none twice. nginx
    serves each its own small file (its default location, `root html`)."""
    s, tok = nginx, token()
    assert_maps_gnutls(WGET, "wget")
    n = 100
    www = s.log_path.parent / "html" / ("oneshot-%s" % tok) / "wget"
    www.mkdir(parents=True)
    for i in range(n):
        (www / str(i)).write_text("one-shot %d\n" % i)
    log = ServerLog(s.log_path)
    expected, pids, walls = [], {}, {}
    t0 = time.monotonic()
    for i in range(n):
        path = "/oneshot-%s/wget/%d" % (tok, i)
        t = time.monotonic()
        p = subprocess.Popen([WGET] + WGET_ARGS + ["-q", s.url(path)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=C_ENV)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=5)
        assert p.returncode == 0, "%s: wget exit %s %r" % (path, p.returncode, err[-500:])
        expected.append(path)
        pids[path] = p.pid
        walls[path] = time.monotonic() - t
    took = time.monotonic() - t0
    assert_server_saw(log, [("GET", p) for p in expected], s.host)

    def ours(c):
        return c.path.startswith("/oneshot-%s/" % tok)

    deadline = time.monotonic() + 10
    while len(orchestrator.matching(s.host, ours)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # late duplicates
    orchestrator.assert_no_errors()
    calls = orchestrator.matching(s.host, ours)
    got = collections.Counter(c.path for c in calls)
    dup = {p: k for p, k in got.items() if k > 1}
    unexpected = set(got) - set(expected)
    missing = [p for p in expected if p not in got]
    dlog = daemon.log()
    # (An attach to libssl.so.3 for a wget's pid is the python child before
    # its exec: pytest maps libssl, and the fork inherits the mapping.)
    why = []
    for p in missing[:20]:
        att = re.findall(r"^debug: (?:cannot )?attach(?:ed)? to pid %d .*$" % pids[p], dlog, re.M)
        why.append("  %s: pid %d, ran %.0f ms; daemon: %s" % (p, pids[p], walls[p] * 1000,
                                                               "; ".join(att) or "no attach line"))
    print("\none-shot wget: %d/%d calls captured; clients ran %.1f s" % (n - len(missing), n, took))
    assert all(c.method == "GET" for c in calls), calls
    assert not dup and not unexpected, "duplicate %s / unexpected %s\n%s" % (dup, unexpected,
                                                                             orchestrator.describe())
    assert n - len(missing) >= 99, "only %d of %d one-shot wget calls captured; missing:\n%s\n%s" % (
        n - len(missing), n, "\n".join(why), log_tail(daemon, 40))
    for lc in daemon.logged_calls(s.host):
        if lc.path.startswith("/oneshot-%s/" % tok):
            assert lc.comm == "wget" and lc.pid == pids[lc.path], "call attributed to %r" % (lc,)
