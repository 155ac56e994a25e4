"""What the daemon discovered, read while it runs: the summary behind
`calls --json` and `watch` (templates, counts, errors, programs), the
root-only control socket, the daemon's own --json lines, and the summary's
memory bound under 100,000 distinct paths.

Real clients (curl, /usr/bin/python3, node) call the local TLS servers under
several host names (Host header and SNI; curl --resolve), with ids in their
paths; `watch` runs in a real terminal (tmux).
"""

import datetime
import json
import os
import re
import select
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import (CURL, E2E_DIR, NODE, PYTHON, READY_RE, RSS_BUDGET_KB, SANITIZED, curl, daemon_path,
                      exit_stat, run, start_nginx, status_kb)
from e2e_helpers import warm_registration
from test_suggest_config import IDS, concrete, load_patterns, matches

SOCKET = "/run/metrist-orchestrator-ebpf-plugin/control.sock"
TMUX = shutil.which("tmux") or "/usr/bin/tmux"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
FLOOD_CLIENT = str(E2E_DIR / "flood_client.py")
ROW_KEYS = {"method", "host", "template", "count", "errors", "p50_ms", "p95_ms", "p99_ms",
            "max_ms", "first_seen", "last_seen", "programs"}
EVENT_KEYS = {"timestamp", "method", "host", "path", "status", "latency_ms", "pid", "comm"}

# One keep-alive connection, SNI and Host from the host name, to 127.0.0.1.
PY_CLIENT = r"""
import http.client, socket, ssl, sys
port, name, paths = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection(name, port, context=ctx)
c._create_connection = lambda addr, *a, **k: socket.create_connection(("127.0.0.1", port), *a, **k)
for p in paths:
    c.request("GET", p)
    r = c.getresponse()
    r.read()
    print(r.status, flush=True)
"""

NODE_CLIENT = r"""
const https = require('https');
const [port, name, ...paths] = process.argv.slice(1);  // node -e: no script name
const agent = new https.Agent({keepAlive: true, maxSockets: 1});
(async () => {
  for (const path of paths) {
    await new Promise((resolve, reject) => {
      const req = https.request({host: '127.0.0.1', port, path, servername: name, agent,
                                 headers: {Host: `${name}:${port}`}, rejectUnauthorized: false},
                                (res) => { res.resume(); res.on('end', resolve); });
      req.on('error', reject);
      req.end();
    });
  }
  agent.destroy();
})();
"""


def cli(*args, user=None, timeout=20):
    cmd = [daemon_path()] + list(args)
    if user:
        cmd = [SETPRIV, "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
    return run(cmd, timeout=timeout)


def rows_json(host_suffix=None):
    r = cli("calls", "--json")
    assert r.returncode == 0, "calls --json exited %s: %s" % (r.returncode, r.stderr)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    for row in rows:
        assert set(row) == ROW_KEYS, row
    if host_suffix:
        rows = [row for row in rows if row["host"].endswith(host_suffix)]
    return rows


def find(rows, host, method, template):
    got = [r for r in rows if (r["host"], r["method"], r["template"]) == (host, method, template)]
    assert len(got) == 1, "no single row %s %s %s in\n%s" % (
        method, host, template, "\n".join(json.dumps(r) for r in rows))
    return got[0]


def popen(cmd):
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(p, what):
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, "%s exited %s: %s %s" % (what, p.returncode, out, err)
    return out


class Mix:
    """The calls of the mix, by host: what each program did, and its pids."""

    def __init__(self, server):
        port = server.port
        self.port = port
        self.a, self.b, self.c = ("%s:%d" % (n, port) for n in ("api.a.example", "b.example", "c.example"))
        self.pids = {}
        self.calls = []  # (method, host, path) as sent, once made

    def url(self, host, path):
        return "https://%s%s" % (host, path)

    def resolve(self, name):
        return ["--resolve", "%s:%d:127.0.0.1" % (name, self.port)]

    def make(self, orchestrator, daemon):
        a, b, c = self.a, self.b, self.c
        ra, rb = self.resolve("api.a.example"), self.resolve("b.example")
        base = [CURL, "--http1.1", "-k", "-sS", "--max-time", "30"]
        # One curl first, seen before the mix, and node analysed (its 100 MB
        # executable is its own TLS library); then the seven programs one
        # after the other. One-shot capture of a cold burst is not what these
        # tests check (test_discovery's and bench/arming.py's business): when
        # the mix started all seven at once, clean-clone CI runs lost a
        # curl's first call three times (arming 57-65 ms after the mapping
        # while seven programs and node's first analysis shared two vCPUs;
        # not reproduced here). Started in turn, each is armed at its exec
        # within a second of the last (registration kept warm).
        warm = "localhost:%d" % self.port
        finish(popen(base + ["-o", "/dev/null", self.url(warm, "/warmup")]), "warm-up curl")
        orchestrator.expect_calls([("GET", "/warmup")], warm, quiet=0)
        finish(popen([NODE, "-e", "0"]), "warm-up node")
        # node's executable is analysed by a worker (slower under ASan):
        # the node client below must not race that first analysis.
        daemon.wait_log(r"^info: TLS library found: %s \(" % re.escape(os.path.realpath(NODE)), 30,
                        "node analysed")
        cmds = {
            "curl1": (base + ra + ["-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
                                        self.url(a, "/hello/cus_9s6XKzkNRiz8i3"),
                                        self.url(a, "/hello/cus_NffrFeUfNVxHib"),
                                        self.url(a, "/hello/12345")]),
            "curl2": (base + ra + ["-o", "/dev/null", self.url(a, "/hello/999")]),
            "curl3": (base + ra + ["-o", "/dev/null", "-d", "amount=1",
                                        self.url(a, "/v1/customers/cus_9s6XKzkNRiz8i3/invoices")]),
            "curl4": (base + ra + ["-o", "/dev/null", self.url(
                a, "/missing/123e4567-e89b-12d3-a456-426614174000")]),
            "curl5": (base + rb + ["-o", "/dev/null", self.url(b, "/hello/42")]),
            "python": ([PYTHON, "-c", PY_CLIENT, str(self.port), "b.example",
                             "/hello/jane.doe@example.com", "/hello/john%40example.org",
                             "/users", "/users"]),
            "node": ([NODE, "-e", NODE_CLIENT, str(self.port), "c.example",
                           "/hello/5f3a9c1e2b7d", "/hello/a1b2c3d4e5f6"]),
        }
        for name, cmd in cmds.items():
            p = popen(cmd)
            self.pids[name] = p.pid
            finish(p, name)
        calls = {
            a: [("GET", "/hello/cus_9s6XKzkNRiz8i3"), ("GET", "/hello/cus_NffrFeUfNVxHib"),
                ("GET", "/hello/12345"), ("GET", "/hello/999"),
                ("POST", "/v1/customers/cus_9s6XKzkNRiz8i3/invoices"),
                ("GET", "/missing/123e4567-e89b-12d3-a456-426614174000")],
            b: [("GET", "/hello/42"), ("GET", "/hello/jane.doe@example.com"),
                ("GET", "/hello/john%40example.org"), ("GET", "/users"), ("GET", "/users")],
            c: [("GET", "/hello/5f3a9c1e2b7d"), ("GET", "/hello/a1b2c3d4e5f6")],
        }
        for host, expected in calls.items():
            orchestrator.expect_calls(expected, host, **({} if host == a else {"quiet": 0}))
            self.calls += [(method, host, path) for method, path in expected]
        # Forwarded means summarised (the same loop round): no wait needed.

    def suffix(self):
        return ".example:%d" % self.port


@pytest.fixture
def mix(daemon, tls_server, orchestrator):
    m = Mix(tls_server)
    m.make(orchestrator, daemon)
    return m


def programs(row):
    return {p["comm"]: set(p["pids"]) for p in row["programs"]}


def parse_time(text, ms=False):
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if ms else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------
# calls --json and calls
# ---------------------------------------------------------------------------

def test_calls_json_templates_counts_programs(mix):
    rows = rows_json(mix.suffix())
    by_key = {(r["host"], r["method"], r["template"]) for r in rows}
    assert by_key == {(mix.a, "GET", "/hello/{id}"), (mix.a, "POST", "/v1/customers/{id}/invoices"),
                      (mix.a, "GET", "/missing/{id}"), (mix.b, "GET", "/hello/{id}"),
                      (mix.b, "GET", "/users"), (mix.c, "GET", "/hello/{id}")}, rows

    r = find(rows, mix.a, "GET", "/hello/{id}")
    assert (r["count"], r["errors"]) == (4, 0)
    assert programs(r) == {"curl": {mix.pids["curl1"], mix.pids["curl2"]}}
    r = find(rows, mix.a, "POST", "/v1/customers/{id}/invoices")
    assert (r["count"], r["errors"], programs(r)) == (1, 0, {"curl": {mix.pids["curl3"]}})
    r = find(rows, mix.a, "GET", "/missing/{id}")
    assert (r["count"], r["errors"]) == (1, 1)  # 404
    r = find(rows, mix.b, "GET", "/hello/{id}")
    assert (r["count"], r["errors"]) == (3, 0)
    assert programs(r) == {"curl": {mix.pids["curl5"]}, "python3": {mix.pids["python"]}}
    r = find(rows, mix.b, "GET", "/users")
    assert (r["count"], r["errors"], programs(r)) == (2, 2, {"python3": {mix.pids["python"]}})
    r = find(rows, mix.c, "GET", "/hello/{id}")
    assert (r["count"], r["errors"], programs(r)) == (2, 0, {"node": {mix.pids["node"]}})

    now = datetime.datetime.now(datetime.timezone.utc)
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"] < 30000, r
        first, last = parse_time(r["first_seen"]), parse_time(r["last_seen"])
        assert now - datetime.timedelta(seconds=120) < first <= last <= now + datetime.timedelta(seconds=2), r


def test_suggest_config_from_the_daemon(mix):
    """suggest-config with no --from-json asks the running daemon. Every call
    of the mix, as sent, and every discovered row (its {id}s filled in) falls
    under exactly one pattern, as the Orchestrator matches (each field
    searched, the first match taken), and no pattern takes another host's."""
    rows = rows_json(mix.suffix())
    r = cli("suggest-config")
    assert r.returncode == 0, (r.returncode, r.stderr)
    patterns = load_patterns(r.stdout)  # YAML; every key monitor.check
    calls = mix.calls + [(row["method"], row["host"], concrete(row["template"], k))
                         for row in rows for k in range(len(IDS))]
    hosts = {host for _, host, _ in calls}
    assert len(rows) == 6 and len(hosts) == 3, rows
    for method, host, path in calls:
        found = matches(patterns, method, host, path)
        assert len(found) == 1, (method, host, path, found, r.stdout)
        for other in hosts - {host}:
            assert found[0] not in matches(patterns, method, other, path), (found, other, path)
    for key, p in patterns.items():
        assert len([h for h in hosts if re.search(p["host"], h)]) <= 1, (key, p)


def test_calls_table(mix):
    r = cli("calls")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:4] == ["METHOD", "HOST", "TEMPLATE", "CALLS"], lines[0]
    mine = [l.split() for l in lines if mix.suffix() in l]
    assert ["GET", mix.a, "/hello/{id}", "4", "0"] in [l[:5] for l in mine], r.stdout
    assert ["GET", mix.b, "/users", "2", "2"] in [l[:5] for l in mine], r.stdout
    hello_b = [l for l in mine if l[:3] == ["GET", mix.b, "/hello/{id}"]]
    assert hello_b and "python3[%d]" % mix.pids["python"] in hello_b[0], r.stdout


# ---------------------------------------------------------------------------
# watch
# ---------------------------------------------------------------------------

class Tmux:
    """A private tmux server (own socket name) with one 80x24 shell."""

    def __init__(self):
        self.name = "e2e-watch-%d" % os.getpid()
        self.cmd = [TMUX, "-L", self.name, "-f", "/dev/null"]
        subprocess.run(self.cmd + ["new-session", "-d", "-x", "80", "-y", "24", "-s", "w",
                                   "env PS1='$ ' bash --norc --noprofile"], check=True, timeout=10)

    def keys(self, *keys):
        subprocess.run(self.cmd + ["send-keys", "-t", "w"] + list(keys), check=True, timeout=10)

    def text(self, literal):
        subprocess.run(self.cmd + ["send-keys", "-t", "w", "-l", literal], check=True, timeout=10)

    def screen(self):
        return subprocess.run(self.cmd + ["capture-pane", "-p", "-t", "w"], check=True, timeout=10,
                              capture_output=True, text=True).stdout

    def wait(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if time.monotonic() > deadline:
                pytest.fail("tmux screen never showed %s:\n%s" % (what, s), pytrace=False)
            time.sleep(0.1)

    def shell_pid(self):
        out = subprocess.run(self.cmd + ["display-message", "-p", "-t", "w", "#{pane_pid}"],
                             check=True, timeout=10, capture_output=True, text=True).stdout
        return int(out.strip())

    def close(self):
        subprocess.run(self.cmd + ["kill-server"], timeout=10, capture_output=True)


@pytest.fixture
def tmux():
    assert os.access(TMUX, os.X_OK), "tmux not found (Debian package tmux)"
    t = Tmux()
    yield t
    t.close()


def host_lines(screen, suffix):
    """The host lines of a watch screen (a template line starts with a method)."""
    out = []
    for line in screen.splitlines()[3:]:
        m = re.match(r"\s*\S+\s+\S+\s+\S+\s+\S+\s+\d+ (\S+)", line)
        if m and m.group(1).endswith(suffix):
            out.append(m.group(1))
    return out


def restored(screen):
    """The output line (not the command line that echoes it)."""
    return re.search(r"^TTY-RESTORED$", screen, re.M)


def run_watch(tmux, mix):
    # The terminal's settings before and after: restored means equal.
    tmux.text("S=$(stty -g); %s watch; echo EXIT=$?; [ \"$S\" = \"$(stty -g)\" ] && echo TTY-RESTORED"
              % daemon_path())
    tmux.keys("Enter")
    return tmux.wait(lambda s: "hosts  metrist-orchestrator-eb" in s and mix.c in s,
                     "the watch screen with %s" % mix.c)


def test_watch_in_tmux(mix, tmux):
    screen = run_watch(tmux, mix)
    lines = screen.splitlines()
    assert re.match(r"\d\d:\d\d:\d\d  \d+ calls  \S+/s  \d+ errors  \d+ hosts  metrist-orchestrator-eb",
                    lines[0]), screen
    assert lines[1].startswith("sort: calls"), screen
    assert lines[2].split()[:5] == ["CALLS", "/S", "P50ms", "P99ms", "ERR"], screen
    assert all(len(l) <= 80 for l in lines)
    # Hosts by calls: a (6), b (5), c (2); each with its templates under it.
    assert host_lines(screen, mix.suffix()) == [mix.a, mix.b, mix.c], screen
    assert re.search(r"^\s+4\s+\S+\s+[0-9.]+\s+[0-9.]+\s+0\s+GET /hello/\{id\}\s+curl", screen, re.M), screen
    assert re.search(r"^\s+2\s+\S+\s+[0-9.]+\s+[0-9.]+\s+2\s+GET /users\s+python3", screen, re.M), screen
    # After a refresh the rates are known (- before).
    screen = tmux.wait(lambda s: re.search(r"^\s+4\s+0\.0\s", s, re.M), "calls/s after a second")

    # Filter on our hosts, then sort by errors: b (2 errors) first.
    tmux.keys("/")
    tmux.wait(lambda s: "filter hosts:" in s, "the filter prompt")
    tmux.text(mix.suffix())
    tmux.keys("Enter")
    screen = tmux.wait(lambda s: "filter: %s" % mix.suffix() in s, "the filter applied")
    assert host_lines(screen, "") == [mix.a, mix.b, mix.c], screen
    tmux.keys("e")
    screen = tmux.wait(lambda s: "sort: errors" in s, "sort by errors")
    assert host_lines(screen, "") == [mix.b, mix.a, mix.c], screen
    tmux.keys("/", "C-u")
    tmux.text("c.example")
    tmux.keys("Enter")
    screen = tmux.wait(lambda s: "filter: c.example" in s, "the c.example filter")
    assert host_lines(screen, "") == [mix.c], screen

    tmux.keys("q")
    screen = tmux.wait(restored, "watch's exit on q, the terminal restored")
    assert re.search(r"^EXIT=0$", screen, re.M) and "filter" not in screen, screen  # the alternate screen is gone


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_watch_restores_terminal(mix, tmux, how):
    run_watch(tmux, mix)
    if how == "ctrl-c":
        tmux.keys("C-c")
    else:
        shell = tmux.shell_pid()
        with open("/proc/%d/task/%d/children" % (shell, shell)) as f:
            children = [int(x) for x in f.read().split()]
        assert len(children) == 1, children
        with open("/proc/%d/comm" % children[0]) as f:
            assert f.read().strip().startswith("metrist"), "not watch: pid %d" % children[0]
        os.kill(children[0], signal.SIGTERM)
    screen = tmux.wait(restored, "watch's exit on %s, the terminal restored" % how)
    assert re.search(r"^EXIT=0$", screen, re.M), screen


def test_watch_daemon_stopped(mix, daemon, tmux):
    """The daemon stops under watch: the last screen stays, with why above it."""
    run_watch(tmux, mix)
    daemon.check_clean_exit()
    screen = tmux.wait(lambda s: "! cannot reach the daemon at %s" % SOCKET in s, "the error line")
    assert host_lines(screen, mix.suffix()) == [mix.a, mix.b, mix.c], screen
    tmux.keys("q")
    screen = tmux.wait(restored, "watch's exit on q")
    assert re.search(r"^EXIT=0$", screen, re.M), screen


def test_watch_not_a_terminal_prints_one_snapshot(mix):
    t0 = time.monotonic()
    r = cli("watch")  # stdout is a pipe
    wall = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout, "escape sequences in a snapshot: %r" % r.stdout[:500]
    assert 0.9 < wall < 10, "one snapshot took %.1f s" % wall
    lines = r.stdout.splitlines()
    assert lines[0].endswith("metrist-orchestrator-ebpf-plugin watch"), r.stdout
    assert host_lines(r.stdout, mix.suffix()) == [mix.a, mix.b, mix.c], r.stdout
    assert re.search(r"^\s+1\s+0\.0\s+[0-9.]+\s+[0-9.]+\s+0\s+POST /v1/customers/\{id\}/invoices\s+curl$",
                     r.stdout, re.M), r.stdout


# ---------------------------------------------------------------------------
# The control socket: root only
# ---------------------------------------------------------------------------

def test_socket_root_only(mix, daemon):
    st = os.lstat(SOCKET)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
    st = os.lstat(os.path.dirname(SOCKET))
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0
    for args in (["calls", "--json"], ["calls"], ["watch"], ["suggest-config"]):
        r = cli(*args, user=65534)
        assert r.returncode == 4, (args, r.returncode, r.stdout, r.stderr)
        assert r.stdout == ""
        assert r.stderr == ("metrist-orchestrator-ebpf-plugin: cannot reach the daemon at %s: "
                            "Permission denied (run as root)\n" % SOCKET), r.stderr
    daemon.check_clean_exit()
    assert not os.path.exists(SOCKET), "the daemon left its socket behind"
    for args in (["calls", "--json"], ["suggest-config"]):
        r = cli(*args)
        assert r.returncode == 3 and r.stdout == "", (args, r.returncode, r.stdout, r.stderr)
        assert r.stderr.startswith("metrist-orchestrator-ebpf-plugin: cannot reach the daemon at "
                                   "%s: No such file or directory" % SOCKET), r.stderr


# ---------------------------------------------------------------------------
# The daemon's --json
# ---------------------------------------------------------------------------

def test_daemon_json_lines(orchestrator, daemon_factory, tls_server):
    d = daemon_factory(orchestrator.endpoint, args=["--json"])
    host = "api.a.example:%d" % tls_server.port
    resolve = ["--resolve", "api.a.example:%d:127.0.0.1" % tls_server.port]
    started = datetime.datetime.now(datetime.timezone.utc)
    p = popen([CURL, "--http1.1", "-k", "-sS", "-o", "/dev/null", "-o", "/dev/null"] + resolve +
              ["https://%s/hello/json?key=SECRET" % host, "https://%s/nope/\"q\\" % host])
    finish(p, "curl")
    calls = orchestrator.expect_calls([("GET", "/hello/json"), ("GET", '/nope/"q\\')], host)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = d.stdout().splitlines()
        mine = [json.loads(l) for l in lines if host in l]
        if len(mine) == 2:
            break
        time.sleep(0.1)
    assert len(mine) == 2, "--json lines:\n%s" % d.stdout()
    for line in lines:  # every line, whoever it is about, is JSON with the fields
        event = json.loads(line)
        assert set(event) == EVENT_KEYS, event
    wire = {c.path: c.value for c in calls}
    for event, (path, status) in zip(mine, (("/hello/json", 200), ('/nope/"q\\', 404))):
        assert (event["method"], event["host"], event["path"], event["status"]) == ("GET", host, path, status)
        assert (event["pid"], event["comm"]) == (p.pid, "curl")
        assert abs(event["latency_ms"] - wire[path]) < 0.0011, (event, wire)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"]), event
        when = parse_time(event["timestamp"], ms=True)
        assert started - datetime.timedelta(seconds=1) <= when <= datetime.datetime.now(datetime.timezone.utc)
    assert "SECRET" not in d.stdout()
    assert "info:" not in d.stdout() and '{"timestamp"' not in d.log()
    assert re.search(r"^info: call GET %s /hello/json " % re.escape(host), d.log(), re.M)


def test_daemon_json_reader_gone_stops_daemon(orchestrator, tls_server, tmp_path, bpf_mounts):
    """`--json | head -1`: the daemon stops cleanly once its stdout is closed."""
    r, w = os.pipe()
    log = tmp_path / "daemon.stderr"
    env = dict(os.environ, METRIST_ORCHESTRATOR_ENDPOINT=orchestrator.endpoint)
    p = subprocess.Popen([daemon_path(), "--json"], env=env, stdin=subprocess.DEVNULL, stdout=w,
                         stderr=open(log, "wb"), start_new_session=True)
    os.close(w)
    try:
        deadline = time.monotonic() + 30
        while not READY_RE.search(log.read_text()) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert READY_RE.search(log.read_text()), log.read_text()
        warm_registration()  # the first call is counted; this is not about the cold race
        curl("-o", "/dev/null", tls_server.url("/hello/first"))
        with os.fdopen(r, "rb") as out:
            ready, _, _ = select.select([out], [], [], 20)
            assert ready, "no JSON line 20 s after a traced call\n%s" % log.read_text()[-3000:]
            first = json.loads(out.readline())
        assert first["path"] == "/hello/first", first
        curl("-o", "/dev/null", tls_server.url("/hello/second"))  # written into a closed pipe
        assert p.wait(timeout=10) == 0, log.read_text()[-3000:]
        assert re.search(r"^info: stdout: Broken pipe; stopping \(--json\)$", log.read_text(), re.M)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ---------------------------------------------------------------------------
# 100,000 distinct paths: the summary stays bounded
# ---------------------------------------------------------------------------

FLOOD_HTTP = """
    access_log off;
    keepalive_requests 1000000;
"""
FLOOD_LOCATIONS = """
        location / { return 200 "ok\\n"; }
"""


def wait_flood_counted(host, n, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        rows = rows_json()
        mine = [r for r in rows if r["host"] == host]
        total = sum(r["count"] for r in mine)
        if total >= n or time.monotonic() > deadline:
            return rows, mine, total
        time.sleep(0.5)


def test_memory_bounded_100k_paths(orchestrator, daemon_factory, certs, tmp_path):
    srv = start_nginx(tmp_path / "nginx", certs, FLOOD_HTTP, FLOOD_LOCATIONS)
    try:
        d = daemon_factory(orchestrator.endpoint)
        host = "flood.example"
        rss0, anon0 = status_kb(d.pid, "VmRSS"), status_kb(d.pid, "RssAnon")
        samples = []
        t0 = time.monotonic()
        for first in (0, 50000):
            r = run([PYTHON, FLOOD_CLIENT, str(srv.port), host, "50000", str(first)], timeout=120).check()
            rows, mine, total = wait_flood_counted(host, first + 50000)
            samples.append((status_kb(d.pid, "VmRSS"), status_kb(d.pid, "RssAnon")))
            print("\nflood %d: %s; daemon VmRSS %d kB, RssAnon %d kB; %d rows for the host"
                  % (first, r.stdout.strip(), samples[-1][0], samples[-1][1], len(mine)))
        print("100,000 paths in %.1f s; daemon VmRSS %d -> %d kB, RssAnon %d -> %d kB"
              % (time.monotonic() - t0, rss0, samples[-1][0], anon0, samples[-1][1]))
        assert len(rows) <= 1024, "%d rows" % len(rows)
        d.assert_alive()
        if not SANITIZED:  # ASan's quarantine and shadow memory are not the daemon's
            # The summary's bound is ~1.1 MB; the rest of the daemon did not grow either.
            assert samples[-1][1] - anon0 < 2048, "RssAnon grew %d kB" % (samples[-1][1] - anon0)
            assert samples[1][1] - samples[0][1] < 256, "RssAnon still growing: %s" % samples
            assert samples[-1][0] <= RSS_BUDGET_KB, "VmRSS %d kB" % samples[-1][0]
        # Every call counted, or each one missing lost in the ring buffer and
        # counted there (SPEC: never silent). Zero loss at the clients' top
        # rate is the benchmark's budget (a timed figure): in two of many
        # clean-clone CI runs of the whole suite the daemon fell behind this
        # 12,000 calls/s flood once, for ~70 calls (144 records). An ASan
        # daemon does each record 2-3 times slower and shares the two cores
        # with nginx and the client: in one CI run it lost 3,120 records
        # (1,673 calls, 1.7 %). Its bound is the accounting, not the speed.
        missing = 100000 - total
        lost = exit_stat(d, "ringbuf_lost") if missing else 0
        cap = 5000 if SANITIZED else 500
        assert missing == 0 or (0 < missing <= lost and missing <= cap), (
            "the summary counts %d of 100,000 calls; %d records counted as lost" % (total, lost))
        items = find(mine, host, "GET", "/flood/items/{id}")["count"]
        assert 50000 - missing <= items <= 50000, items
        other = find(mine, host, "*", "(other)")
        assert other["count"] > 45000 and programs(other).keys() == {"python3"}, other
    finally:
        srv.proc.terminate()
        srv.proc.wait(10)
