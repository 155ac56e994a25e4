"""Fixtures and helpers for the end-to-end tests of metrist-orchestrator-ebpf-plugin.

The daemon under test is $DAEMON (absolute path; default: build/ in the
repository). It runs as root and traces every process on the host, so tests
only ever look at calls to the host:port of their own servers (other processes
on the machine may make HTTPS calls at the same time); but every datagram the
daemon sends, whoever it is about, must parse.

Nothing here is skipped: a missing daemon binary, a missing tool or a daemon
that never becomes ready is a test failure.
"""

import collections
import os
import re
import shlex
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
REPO = E2E_DIR.parent.parent
PYTHON = "/usr/bin/python3"
TLS_SERVER = str(E2E_DIR / "tls_server.py")
TLS_CLIENT = str(E2E_DIR / "tls_client.py")
CURL = shutil.which("curl") or "/usr/bin/curl"
NGINX = "/usr/sbin/nginx"
ENDPOINT_VAR = "METRIST_ORCHESTRATOR_ENDPOINT"

READY_TIMEOUT = 30.0  # daemon start-up until its "ready" line
STOP_TIMEOUT = 2.0  # SIGTERM until exit (the contract says 1 s)
# The daemon's memory budget (issue 15): its peak resident set (VmHWM) under
# every test's load. ASan's shadow memory and quarantine are not the
# daemon's: no budget then.
RSS_BUDGET_KB = 8 * 1024
SANITIZED = bool(os.environ.get("E2E_SANITIZED"))
DATAGRAM_TIMEOUT = 10.0  # a completed call until its datagram arrives
QUIET = 1.0  # no further datagram for this long after the expected ones
MAX_DATAGRAM = 1472

# Lines in the daemon's log that mean a bug, whatever the test.
BAD_LOG = re.compile(r"ERROR|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|"
                     r"runtime error:|Segmentation fault|stack smashing|double free")
READY_RE = re.compile(r"\bready\b", re.I)
# info: call METHOD host path LATENCYms status=N pid=N comm=NAME
CALL_LOG_RE = re.compile(r"info: call (\S+) (\S+) (\S+) ([0-9]+(?:\.[0-9]+)?)ms "
                         r"status=(\d+) pid=(\d+) comm=(.*)$", re.M)


def daemon_path():
    p = os.environ.get("DAEMON") or str(REPO / "build" / "metrist-orchestrator-ebpf-plugin")
    if not os.path.isabs(p):
        pytest.fail("DAEMON must be an absolute path, got %r" % p, pytrace=False)
    if not (os.path.isfile(p) and os.access(p, os.X_OK)):
        pytest.fail("daemon binary %s is missing or not executable (set DAEMON=/abs/path)" % p,
                    pytrace=False)
    return p


# ---------------------------------------------------------------------------
# The Orchestrator side
# ---------------------------------------------------------------------------

Call = collections.namedtuple("Call", "method host path value raw")
WIRE_RE = re.compile(rb"0\t([\x21-\x7e\x80-\xff]+)\t([\x21-\x7e\x80-\xff]+)\t"
                     rb"([\x21-\x7e\x80-\xff]+)\t([0-9]+(?:\.[0-9]+)?)\n\Z")


def orchestrator_parse(data):
    """Exactly what the Orchestrator's in-process listener does with a
    datagram. Returns (method, host, path, value) or raises ValueError."""
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    text = text.strip()
    if not text.startswith("0"):
        raise ValueError("does not start with '0'")
    parts = text[1:].strip().split()
    if len(parts) != 4:
        raise ValueError("%d fields instead of 4" % len(parts))
    method, host, path, value = parts
    return method, host, path, float(value)


def wire_problems(data):
    """What the SPEC's exact wire format adds to the Orchestrator's parse."""
    problems = []
    if len(data) > MAX_DATAGRAM:
        problems.append("%d bytes > %d" % (len(data), MAX_DATAGRAM))
    m = WIRE_RE.match(data)
    if not m:
        problems.append("not 0\\t<METHOD>\\t<host>\\t<path>\\t<ms>\\n")
        return problems
    method, host, path, value = m.groups()
    if not re.fullmatch(rb"[A-Z][A-Z0-9_-]*", method):
        problems.append("method not upper-case")
    if host != host.lower():
        problems.append("host not lower-cased")
    if not (path.startswith(b"/") or path == b"*"):
        problems.append("path does not start with /")
    if b"?" in path or b"#" in path:
        problems.append("path keeps a query or fragment")
    return problems


class Orchestrator:
    """UDP listener on 127.0.0.1 that collects and parses the daemon's datagrams."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.endpoint = "127.0.0.1:%d" % self.port
        self.raw = []  # every datagram, as received
        self.calls = []  # the ones that parsed
        self.errors = []  # (datagram, reason)
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="orchestrator", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            self._add(data)

    def _add(self, data):
        with self.cond:
            self.raw.append(data)
            try:
                method, host, path, value = orchestrator_parse(data)
            except ValueError as e:
                self.errors.append((data, "Orchestrator cannot parse it: %s" % e))
            else:
                probs = wire_problems(data)
                if probs:
                    self.errors.append((data, "; ".join(probs)))
                else:
                    self.calls.append(Call(method, host, path, value, data))
            self.cond.notify_all()

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    # ---- queries ----------------------------------------------------------
    def matching(self, host=None, pred=None):
        with self.cond:
            calls = list(self.calls)
        return [c for c in calls if (host is None or c.host == host) and (pred is None or pred(c))]

    def describe(self, limit=60):
        with self.cond:
            raw = list(self.raw)
            errors = list(self.errors)
        lines = ["%d datagram(s) received:" % len(raw)]
        lines += ["  %r" % d[:300] for d in raw[-limit:]]
        if errors:
            lines.append("%d malformed:" % len(errors))
            lines += ["  %r: %s" % (d[:300], why) for d, why in errors[:limit]]
        return "\n".join(lines)

    def assert_no_errors(self):
        with self.cond:
            errors = list(self.errors)
        assert not errors, "malformed datagram(s) received\n" + self.describe()

    def wait_for(self, n, timeout=DATAGRAM_TIMEOUT, host=None, pred=None):
        """Wait until at least n parsed calls match; fail (showing everything
        received) if they do not arrive in time. Returns the matching calls."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = self.matching(host, pred)
                if len(got) >= n or self.errors:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
        self.assert_no_errors()
        assert len(got) >= n, "expected >= %d call(s)%s within %.0f s, got %d\n%s" % (
            n, " for host %s" % host if host else "", timeout, len(got), self.describe())
        return got

    def assert_quiet(self, seconds=QUIET, host=None, pred=None):
        """No further (matching) datagram arrives for `seconds`."""
        before = len(self.matching(host, pred))
        time.sleep(seconds)
        self.assert_no_errors()
        after = self.matching(host, pred)
        assert len(after) == before, "unexpected datagram(s) during a %.1f s quiet period: %r\n%s" % (
            seconds, after[before:], self.describe())

    def expect_calls(self, expected, host, timeout=DATAGRAM_TIMEOUT, quiet=QUIET):
        """The calls for `host` are exactly `expected`, a list of (METHOD, path)
        in any order: no duplicate, none missing, no more in a quiet period.
        Returns them."""
        want = collections.Counter(expected)
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.matching(host)) < len(expected) and not self.errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
        if quiet:
            time.sleep(quiet)
        self.assert_no_errors()
        calls = self.matching(host)
        got = collections.Counter((c.method, c.path) for c in calls)
        missing = want - got
        extra = got - want
        assert not missing and not extra, (
            "calls for host %s differ from what the clients did\n  missing: %s\n  extra/duplicate: %s\n%s"
            % (host, dict(missing), dict(extra), self.describe()))
        return calls


@pytest.fixture
def orchestrator():
    o = Orchestrator()
    yield o
    o.close()
    o.assert_no_errors()


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------

LogCall = collections.namedtuple("LogCall", "method host path ms status pid comm")


class Daemon:
    def __init__(self, path, endpoint, workdir, env=None, args=()):
        self.path = path
        self.endpoint = endpoint
        self.log_path = Path(workdir) / "daemon.stderr"
        self.out_path = Path(workdir) / "daemon.stdout"
        e = dict(os.environ)
        e.pop(ENDPOINT_VAR, None)
        if endpoint is not None:
            e[ENDPOINT_VAR] = endpoint
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if env:
            e.update(env)
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.started = time.monotonic()
        # Tests read each call's log line (pid, comm); by default the daemon
        # logs only the first 20.
        # DAEMON_ARGS (e.g. "--verbose") adds flags to every daemon, for diagnosis.
        self.args = (["--log-calls"] + shlex.split(os.environ.get("DAEMON_ARGS", ""))
                     + [str(a) for a in args])
        self.proc = subprocess.Popen([path] + self.args, env=e, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, start_new_session=True)
        self.pid = self.proc.pid
        self.ready_at = None
        self.returncode = None
        self.stop_seconds = None
        self.peak_rss_kb = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), "daemon exited with status %s\n--- daemon log ---\n%s" % (
            self.proc.returncode, self.log()[-8000:])

    def wait_log(self, regex, timeout, what=None):
        rx = re.compile(regex, re.M) if isinstance(regex, str) else regex
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            m = rx.search(text)
            if m:
                return m
            if not self.alive():
                text = self.log()
                m = rx.search(text)
                if m:
                    return m
                pytest.fail("daemon exited (status %s) before logging %s\n--- daemon log ---\n%s"
                            % (self.proc.returncode, what or regex, text[-8000:]), pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail("daemon did not log %s within %.0f s\n--- daemon log ---\n%s"
                            % (what or regex, timeout, text[-8000:]), pytrace=False)
            time.sleep(0.05)

    def wait_ready(self, timeout=READY_TIMEOUT):
        self.wait_log(READY_RE, timeout, "'ready'")
        self.ready_at = time.monotonic()
        return self

    def logged_calls(self, host=None):
        out = []
        for m in CALL_LOG_RE.finditer(self.log()):
            c = LogCall(m[1], m[2], m[3], float(m[4]), int(m[5]), int(m[6]), m[7].strip())
            if host is None or c.host == host:
                out.append(c)
        return out

    def wait_logged_calls(self, n, host, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            calls = self.logged_calls(host)
            if len(calls) >= n or time.monotonic() > deadline:
                assert len(calls) >= n, "expected %d 'info: call' line(s) for %s, got %d\n--- log ---\n%s" % (
                    n, host, len(calls), self.log()[-6000:])
                return calls
            time.sleep(0.05)

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig, wait up to timeout; kill if needed. Returns the exit status."""
        if self.returncode is not None:
            return self.returncode
        if not self.alive():
            self.returncode = "already exited with status %s before %s" % (self.proc.returncode, sig.name)
            self._err.close()
            self._out.close()
            return self.returncode
        self.peak_rss_kb = status_kb(self.pid, "VmHWM")
        t0 = time.monotonic()
        self.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
            self.stop_seconds = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self.returncode = "killed: still running %.1f s after %s" % (timeout, sig.name)
        finally:
            self._err.close()
            self._out.close()
        return self.returncode

    def check_clean_exit(self):
        """SIGTERM -> exit 0 in time, and a log free of errors and sanitizer reports."""
        rc = self.stop()
        text = self.log()
        assert rc == 0, "daemon did not exit 0 within %.0f s of SIGTERM: %s\n--- daemon log ---\n%s" % (
            STOP_TIMEOUT, rc, text[-8000:])
        bad = [l for l in text.splitlines() if BAD_LOG.search(l)]
        assert not bad, "daemon log reports errors:\n%s\n--- daemon log ---\n%s" % (
            "\n".join(bad[:20]), text[-8000:])
        report = os.environ.get("E2E_RSS_REPORT")
        if report:
            with open(report, "a") as f:
                f.write("%s %s\n" % (self.peak_rss_kb, os.environ.get("PYTEST_CURRENT_TEST", "?")))
        assert SANITIZED or self.peak_rss_kb is None or self.peak_rss_kb <= RSS_BUDGET_KB, (
            "daemon's resident set peaked at %d kB, over the %d kB budget" % (self.peak_rss_kb, RSS_BUDGET_KB))


@pytest.fixture(scope="session")
def bpf_mounts():
    """bpffs/tracefs, as `make e2e` mounts them (harmless when mounted)."""
    script = REPO / "scripts" / "mount-bpf.sh"
    if script.exists():
        subprocess.run(["sh", str(script)], timeout=20, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows what its daemons logged (libbpf's lines left
    out): a call missed in a CI run on a fresh machine can then be told
    apart from a late attach, a lost record or a parser's verdict."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for i, d in enumerate(getattr(item, "_daemons", [])):
        lines = [l for l in d.log().splitlines() if "libbpf" not in l]
        report.sections.append(("daemon %d log (%s, last 80 of %d lines)" % (i, report.when, len(lines)),
                                "\n".join(lines[-80:])))


def exit_stat(daemon, name, stop=True):
    """A counter of the daemon's 'stats (exit)' or 'targets (exit)' line
    (stopping the daemon first unless it has stopped)."""
    if stop:
        assert daemon.stop() == 0, daemon.log()[-3000:]
    m = re.search(r"(?:stats|targets) \(exit\):.* %s=(\d+)" % name, daemon.log())
    assert m, "no %s in the exit stats\n%s" % (name, daemon.log()[-3000:])
    return int(m.group(1))


def status_kb(pid, field):
    """A "<field>: N kB" line of /proc/<pid>/status (None once it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            m = re.search(r"^%s:\s+(\d+) kB" % field, f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def check_clean_exits(daemons):
    """Stop each daemon: each must exit 0 with a clean log (all are
    stopped and checked, every failure is told)."""
    failures = []
    for d in daemons:
        try:
            d.check_clean_exit()
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures)


@pytest.fixture
def daemon_factory(request, tmp_path, bpf_mounts):
    """start(endpoint, ready=True, env=None, args=()) -> Daemon (args: extra
    command-line arguments). Every daemon started
    is stopped at teardown and must exit 0 with a clean log."""
    path = daemon_path()
    started = []
    request.node._daemons = started

    def start(endpoint, ready=True, env=None, args=()):
        workdir = tmp_path / ("daemon%d" % len(started))
        workdir.mkdir()
        d = Daemon(path, endpoint, workdir, env, args)
        started.append(d)
        if ready:
            d.wait_ready()
        return d

    yield start
    check_clean_exits(started)


@pytest.fixture
def daemon(orchestrator, daemon_factory):
    """The daemon, sending to the test's orchestrator, ready."""
    return daemon_factory(orchestrator.endpoint)


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    cert, key = d / "cert.pem", d / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "openssl req failed: %s" % r.stderr
    return cert, key


def wait_tcp(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                pytest.fail("server exited with status %s before listening" % proc.returncode,
                            pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout),
                            pytrace=False)
            time.sleep(0.05)


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, proc, port, log_path):
        self.proc = proc
        self.pid = proc.pid
        self.port = port
        self.host = "127.0.0.1:%d" % port  # what curl/python send as Host
        self.log_path = log_path

    def url(self, path, host="127.0.0.1"):
        return "https://%s:%d%s" % (host, self.port, path)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_alive(self):
        assert self.proc.poll() is None, "server exited with status %s" % self.proc.returncode


def _stop_proc(proc, sig=signal.SIGTERM, timeout=5):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_port_server(cmd, d, log, name):
    """Start a server process that prints "PORT <n>" once it listens; a
    Server for it, or the test fails with the server's stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(d / "stderr", "wb"),
                            stdin=subprocess.DEVNULL, text=True)
    port = None
    deadline = time.monotonic() + 15
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while port is None and time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("PORT "):
                port = int(line.split()[1])
    sel.close()
    if port is None:
        _stop_proc(proc)
        pytest.fail("%s did not start: %s" % (name, (d / "stderr").read_text()), pytrace=False)
    wait_tcp(port, proc=proc)
    return Server(proc, port, log)


@pytest.fixture(scope="session")
def tls_server(certs, tmp_path_factory):
    """tls_server.py, a separate python3 process serving HTTPS on 127.0.0.1."""
    d = tmp_path_factory.mktemp("tls_server")
    log = d / "requests.log"
    cert, key = certs
    srv = start_port_server([PYTHON, TLS_SERVER, str(cert), str(key), str(log)], d, log,
                            "tls_server.py")
    yield srv
    _stop_proc(srv.proc)


def nginx_conf(d, port, cert, key, top="", http="", server=""):
    """An nginx.conf serving TLS on 127.0.0.1:port, one worker, every file
    under d; top, http and server: a test's own lines in those blocks, where
    {d} stands for d (they keep nginx's own braces unescaped)."""
    top, http, server = (x.replace("{d}", str(d)) for x in (top, http, server))
    return """
daemon off;
worker_processes 1;
{top}
pid {d}/nginx.pid;
error_log {d}/error.log error;
events {{ worker_connections 128; }}
http {{
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type text/plain;
    keepalive_timeout 30s;
{http}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
{server}
    }}
}}
""".format(d=d, port=port, cert=cert, key=key, top=top, http=http, server=server)


NGINX_HTTP = """
    log_format e2e '$request_method $request_uri $status $http_host';
    access_log {d}/access.log e2e;
    keepalive_requests 1000;
"""
NGINX_LOCATIONS = """
        location = /hello { return 200 "hello from nginx\\n"; }
        location = /api/v1/items { return 200 '[{"id":1}]\\n'; }
        location = /created { return 201 "created\\n"; }
        location /static/ { root {d}/www; }
"""


def start_nginx(d, certs, http, locations, h2=False):
    """One nginx process serving TLS on 127.0.0.1 from d (a /static/ file of
    204 KB under d/www), HTTP/1.1 only or offering h2 by ALPN (`listen ...
    ssl http2`, the nginx 1.22 syntax). A Server whose log is access.log."""
    assert os.access(NGINX, os.X_OK), "%s not found (Debian package nginx-full)" % NGINX
    (d / "www" / "static").mkdir(parents=True)
    (d / "www" / "static" / "file.txt").write_bytes(b"0123456789abcdef\n" * 12000)  # 204 KB
    cert, key = certs
    port = free_tcp_port()
    listen = "listen 127.0.0.1:%d ssl;" % port
    text = nginx_conf(d, port, cert, key, top="master_process off;", http=http, server=locations)
    if h2:
        assert listen in text
        text = text.replace(listen, "listen 127.0.0.1:%d ssl http2;" % port)
    conf = d / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(conf), "-e", str(d / "error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(d / "stderr", "wb"))
    try:
        wait_tcp(port, proc=proc)
    except BaseException:
        _stop_proc(proc)
        raise
    return Server(proc, port, d / "access.log")


@pytest.fixture(scope="session")
def nginx(certs, tmp_path_factory):
    """nginx (one process, HTTP/1.1 only, keep-alive) on 127.0.0.1."""
    srv = start_nginx(tmp_path_factory.mktemp("nginx"), certs, NGINX_HTTP, NGINX_LOCATIONS)
    yield srv
    _stop_proc(srv.proc, signal.SIGQUIT)


NGINX_H2_HTTP = """
    log_format e2e_h2 '$request_method $request_uri $status $http_host $server_protocol';
    access_log {d}/access.log e2e_h2;
    keepalive_requests 1000;
    http2_max_concurrent_streams 128;
"""
NGINX_H2_LOCATIONS = NGINX_LOCATIONS + """
        location /h2/ { return 200 "h2 from nginx\\n"; }
"""


@pytest.fixture(scope="session")
def nginx_h2(certs, tmp_path_factory):
    """nginx (one process) offering HTTP/2 by ALPN on 127.0.0.1; its access
    log lines end with the protocol (HTTP/2.0). Locations: those of `nginx`,
    plus /h2/... -> 200."""
    srv = start_nginx(tmp_path_factory.mktemp("nginx_h2"), certs, NGINX_H2_HTTP,
                      NGINX_H2_LOCATIONS, h2=True)
    yield srv
    _stop_proc(srv.proc, signal.SIGQUIT)


H2_SERVER = str(E2E_DIR / "h2_server.js")
NODE = shutil.which("node") or "/usr/bin/node"


@pytest.fixture(scope="session")
def h2_server(certs, tmp_path_factory):
    """h2_server.js: node's http2 secure server (HTTP/2 only) on 127.0.0.1.
    Its log() lines are "<:method> <:authority> <:path>"."""
    d = tmp_path_factory.mktemp("h2_server")
    log = d / "requests.log"
    log.touch()
    cert, key = certs
    srv = start_port_server([NODE, H2_SERVER, str(cert), str(key), str(log)], d, log,
                            "h2_server.js")
    yield srv
    _stop_proc(srv.proc)

# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

class Run:
    def __init__(self, cmd, proc, wall):
        self.cmd = cmd
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.wall = wall  # seconds, measured around the whole process
        self.wall_ms = wall * 1000.0

    def check(self):
        assert self.returncode == 0, "%s exited %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.cmd)[:500], self.returncode, self.stdout[-2000:], self.stderr[-2000:])
        return self


def run(cmd, timeout=60, **kw):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    return Run(cmd, p, time.monotonic() - t0)


def curl(*args, timeout=60):
    """curl --http1.1 -k -sS ARGS; returns Run (checked: exit 0)."""
    return run([CURL, "--http1.1", "-k", "-sS", "--max-time", str(timeout - 5)] + list(args),
               timeout=timeout).check()


def curl_get(urls, extra=(), timeout=60):
    """One curl process fetching all urls (one keep-alive connection). Asserts
    2xx statuses and that a single connection was used. Returns Run with
    .statuses."""
    args = list(extra) + ["-w", "%{http_code} %{num_connects}\\n"]
    for u in urls:
        args += ["-o", "/dev/null", u]
    r = curl(*args, timeout=timeout)
    rows = [l.split() for l in r.stdout.splitlines() if l.strip()]
    r.statuses = [int(x[0]) for x in rows]
    connects = sum(int(x[1]) for x in rows)
    assert len(rows) == len(urls) and all(200 <= s < 300 for s in r.statuses), (
        "curl statuses %s for %s" % (r.statuses, urls))
    assert connects == 1, "curl used %d connections for %d URLs (expected keep-alive)" % (
        connects, len(urls))
    return r


def py_client(*args, timeout=60):
    """tls_client.py ARGS with /usr/bin/python3; returns Run (not checked)."""
    return run([PYTHON, TLS_CLIENT] + [str(a) for a in args], timeout=timeout)


# ---------------------------------------------------------------------------
# The daemon with command-line flags (--system-wide-probes, --verbose, ...)
# ---------------------------------------------------------------------------

