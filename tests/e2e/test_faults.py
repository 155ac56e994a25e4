"""Faults around the daemon (issue 15): the Orchestrator going away and
coming back, a side-band stream the kernel refuses, SIGTERM under load.

The Orchestrator cases need an address that is unreachable, then reachable,
and a name that does not resolve, then does, without touching the host's
network or /etc/hosts: the daemon runs in a network namespace of its own
(`ip netns exec`, which also bind-mounts /etc/netns/<ns>/hosts over
/etc/hosts for it) and the test's UDP listener is opened in that namespace.
The TLS clients and servers stay in the host's namespace: uprobes see every
process, whatever its network namespace.
"""

import ctypes
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import Daemon, Orchestrator, check_clean_exits, curl_get, daemon_path, exit_stat
from e2e_helpers import warm_registration

LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
IP = shutil.which("ip") or "/usr/sbin/ip"


class RestartableOrchestrator(Orchestrator):
    """The test's Orchestrator, which can stop listening (the kernel then
    answers the daemon's datagrams with ICMP port unreachable) and listen
    again on the same address."""

    def __init__(self, sock=None):
        super().__init__()
        if sock is not None:
            self.down()
            self.up(sock)

    def down(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def up(self, sock):
        sock.settimeout(0.1)
        self.sock = sock
        self.port = sock.getsockname()[1]
        self.endpoint = "127.0.0.1:%d" % self.port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="orchestrator", daemon=True)
        self._thread.start()


def udp_socket(addr, netns=None):
    """A UDP socket bound to addr, in the network namespace netns (a name
    under /run/netns) or ours. A thread enters the namespace (setns affects
    only the calling thread), opens the socket and ends: the socket stays in
    that namespace."""
    out = {}

    def make():
        try:
            if netns:
                fd = os.open("/run/netns/%s" % netns, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    if LIBC.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns(%s)" % netns)
                finally:
                    os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.bind(addr)
            out["sock"] = s
        except OSError as e:
            out["err"] = e

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["sock"]


def ip(*args):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, "ip %s: %s" % (" ".join(args), r.stderr)


class NetNs:
    """A network namespace with its loopback up, and the /etc/hosts and
    /etc/resolv.conf that `ip netns exec` shows its commands."""

    def __init__(self, hosts, resolv):
        self.name = "e2e-faults-%d" % os.getpid()
        self.etc = Path("/etc/netns") / self.name
        self.made_etc_netns = not self.etc.parent.exists()
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "set", "lo", "up")
        self.etc.mkdir(parents=True)
        (self.etc / "hosts").write_text(hosts)
        (self.etc / "resolv.conf").write_text(resolv)

    def add_host(self, line):
        # Written in place: the file is bind-mounted, a new inode would not show.
        with open(self.etc / "hosts", "a") as f:
            f.write(line + "\n")

    def close(self):
        ip("netns", "del", self.name)
        shutil.rmtree(self.etc, ignore_errors=True)
        if self.made_etc_netns:
            try:
                self.etc.parent.rmdir()
            except OSError:
                pass


@pytest.fixture
def netns():
    made = []

    def make(hosts="127.0.0.1 localhost\n", resolv="nameserver 127.0.0.1\n"):
        # resolv.conf: nothing listens on port 53 in the namespace, so a DNS
        # query is refused at once, not after a time-out.
        n = NetNs(hosts, resolv)
        made.append(n)
        return n

    yield make
    for n in made:
        n.close()


@pytest.fixture
def ns_daemons(tmp_path, bpf_mounts):
    """start(netns, endpoint) -> Daemon running in that network namespace
    (same pid: `ip netns exec` execs it). Stopped at teardown; each must
    exit 0 with a clean log."""
    started = []

    def start(ns, endpoint):
        workdir = tmp_path / ("nsdaemon%d" % len(started))
        workdir.mkdir()
        wrapper = workdir / "in-netns.sh"
        wrapper.write_text('#!/bin/sh\nexec %s netns exec %s %s "$@"\n' % (IP, ns.name, daemon_path()))
        wrapper.chmod(0o755)
        d = Daemon(str(wrapper), endpoint, workdir)
        started.append(d)
        return d.wait_ready()

    yield start
    check_clean_exits(started)


def tagged(tag):
    return lambda c: c.path.startswith("/hello/%s-" % tag)


def calls(server, tag, n):
    """n keep-alive calls by one curl; their paths. These tests are about
    forwarding, and a curl often follows a quiet spell: registration is
    warmed first (CI lost a 'resolved-0' to the cold first-call race)."""
    paths = ["/hello/%s-%d" % (tag, i) for i in range(n)]
    warm_registration()
    curl_get([server.url(p) for p in paths])
    return paths


def assert_paths(got, want, orchestrator):
    assert sorted(c.path for c in got) == sorted(want), orchestrator.describe()


def log_lines(daemon, regex):
    return [l for l in daemon.log().splitlines() if re.search(regex, l)]


# ---------------------------------------------------------------------------
# The Orchestrator down, unreachable, unresolvable, then back
# ---------------------------------------------------------------------------

def test_orchestrator_stops_listening_then_back(daemon_factory, tls_server):
    """Nobody listens for a while (each datagram comes back as ICMP port
    unreachable, which the kernel reports on the daemon's next send): the
    refusals are counted and logged once, and every call made after the
    listener is back arrives, the first one included, with no back-off."""
    o = RestartableOrchestrator()
    try:
        d = daemon_factory(o.endpoint)
        s = tls_server
        want = calls(s, "before", 3)
        assert_paths(o.wait_for(3, host=s.host, pred=tagged("before")), want, o)
        o.down()
        for i in range(4):
            calls(s, "down%d" % i, 3)
        d.wait_logged_calls(15, s.host)
        o.up(udp_socket(("127.0.0.1", o.port)))
        # At once, then in rounds over the next second.
        want = []
        for i in range(4):
            want += calls(s, "back%d" % i, 2)
            time.sleep(0.25)
        got = o.wait_for(len(want), host=s.host, pred=lambda c: "/hello/back" in c.path)
        assert_paths(got, want, o)
        assert not o.matching(s.host, pred=lambda c: "/hello/down" in c.path), o.describe()
        assert d.stop() == 0
        assert exit_stat(d, "send_dropped", stop=False) >= 1, "refusals not counted"
        warned = log_lines(d, r"not delivered: Connection refused")
        assert len(warned) == 1, "refusals must be logged once a minute, got:\n%s" % "\n".join(warned)
    finally:
        o.close()


def test_orchestrator_unreachable_then_back(netns, ns_daemons, tls_server):
    """The Orchestrator's address has no route, from the start (the daemon
    must still start) until an address is added: the calls made meanwhile
    are held (the newest 64) and sent once there is a route, with every call
    made after it."""
    ns = netns()
    o = RestartableOrchestrator(udp_socket(("0.0.0.0", 0), ns.name))
    try:
        d = ns_daemons(ns, "10.211.0.1:%d" % o.port)
        s = tls_server
        held = calls(s, "unreach", 3)
        d.wait_logged_calls(3, s.host)
        time.sleep(0.5)  # several rounds of trying
        assert not o.matching(s.host), o.describe()
        ip("-n", ns.name, "addr", "add", "10.211.0.1/32", "dev", "lo")
        want = calls(s, "routed", 3)
        got = o.wait_for(6, host=s.host)
        assert_paths(got, held + want, o)
        warned = log_lines(d, r"Orchestrator.*(Network is unreachable|No route)")
        assert len(warned) == 1, "expected one rate-limited warning, got:\n%s" % "\n".join(warned)
    finally:
        o.close()


def test_orchestrator_name_resolves_later(netns, ns_daemons, tls_server):
    """The Orchestrator's name is in neither /etc/hosts nor DNS, then appears
    in /etc/hosts: the daemon keeps trying (once a second while calls wait),
    holds the calls meanwhile, and sends them and every later one."""
    ns = netns()
    o = RestartableOrchestrator(udp_socket(("127.0.0.1", 0), ns.name))
    name = "orchestrator.e2e-faults.invalid"
    try:
        d = ns_daemons(ns, "%s:%d" % (name, o.port))
        d.wait_log(r"cannot resolve Orchestrator host %s" % re.escape(name), 10)
        s = tls_server
        held = calls(s, "unresolved", 3)
        d.wait_logged_calls(3, s.host)
        time.sleep(1.5)  # at least one more failed resolution
        assert not o.matching(s.host), o.describe()
        ns.add_host("127.0.0.1 %s" % name)
        want = calls(s, "resolved", 3)
        got = o.wait_for(6, host=s.host)
        assert_paths(got, held + want, o)
        warned = log_lines(d, r"cannot resolve Orchestrator host")
        assert len(warned) == 1, "expected one rate-limited warning, got:\n%s" % "\n".join(warned)
    finally:
        o.close()


def test_sigterm_while_name_lookup_hangs(netns, ns_daemons, tls_server):
    """The DNS server never answers (a lookup waits out c-ares' time-outs,
    seconds): SIGTERM still ends the daemon within 1 s, exit 0."""
    ns = netns()
    dns = udp_socket(("127.0.0.1", 53), ns.name)  # takes queries, answers none
    try:
        d = ns_daemons(ns, "orchestrator.e2e-faults.invalid:9")
        calls(tls_server, "dns-hangs", 2)  # held, and a reason to retry the lookup
        d.wait_logged_calls(2, tls_server.host)
        rc = d.stop()
        assert rc == 0 and d.stop_seconds < 1.0, "SIGTERM -> %s after %s s\n%s" % (
            rc, d.stop_seconds, d.log()[-3000:])
    finally:
        dns.close()


# ---------------------------------------------------------------------------
# The perf side-band stream refused by the kernel
# ---------------------------------------------------------------------------

# Runs argv[2:] with perf_event_open (x86-64 nr 298) failing with errno
# argv[1]: what an odd kernel (EINVAL) or a missing capability does. The
# daemon needs no perf event of its own on this kernel (uprobe_multi links
# are bpf() calls), so only the side-band stream is refused.
REFUSE_PERF = r"""
import ctypes, os, sys
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(F))]
libc = ctypes.CDLL(None, use_errno=True)
insns = [(0x20, 0, 0, 4), (0x15, 0, 3, 0xC000003E), (0x20, 0, 0, 0), (0x15, 0, 1, 298),
         (0x06, 0, 0, 0x00050000 | int(sys.argv[1])), (0x06, 0, 0, 0x7FFF0000)]
arr = (F * len(insns))(*[F(*i) for i in insns])
prog = P(len(insns), arr)
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.syscall(ctypes.c_long(317), ctypes.c_long(1), ctypes.c_long(0), ctypes.byref(prog)) == 0
os.execv(sys.argv[2], sys.argv[2:])
"""


def run_refused(args, errno_value, timeout=20):
    from conftest import ENDPOINT_VAR, PYTHON
    env = dict(os.environ)
    env[ENDPOINT_VAR] = "127.0.0.1:9"
    return subprocess.run([PYTHON, "-c", REFUSE_PERF, str(errno_value), daemon_path()] + args,
                          capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("err,text", [(22, "Invalid argument"), (13, "Permission denied")],
                         ids=["EINVAL", "EACCES"])
def test_side_band_stream_refused(err, text, bpf_mounts):
    """perf_event_open refused: the daemon says so, naming the stream and
    the error, and exits non-zero at once; it does not run blind to every
    process started after it."""
    try:
        p = run_refused(["--verbose"], err)
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon kept running without its side-band stream", pytrace=False)
    errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
    assert p.returncode == 1, "exit status %s\n%s" % (p.returncode, p.stderr[-3000:])
    assert len(errors) == 1 and "perf side-band stream" in errors[0] and text in errors[0], (
        p.stderr[-3000:])
    assert "ready" not in p.stderr, p.stderr[-3000:]


def test_list_targets_names_refused_stream():
    """--list-targets prints its report, then the same error on stderr, and
    exits 1."""
    p = run_refused(["--list-targets"], 22)
    assert p.returncode == 1, "exit status %s\n%s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr)
    assert re.search(r"^error: cannot open the perf side-band stream .*Invalid argument", p.stderr, re.M), (
        p.stderr)
    assert re.search(r"^pid=\d+ comm=\S+ file=/\S+libssl\S* status=traced", p.stdout, re.M), p.stdout[-2000:]


# ---------------------------------------------------------------------------
# SIGTERM under full load
# ---------------------------------------------------------------------------

LOAD_CLIENT = str(Path(__file__).resolve().parent / "load_client.py")
UPROBE_EVENTS = "/sys/kernel/tracing/uprobe_events"


def bpf_ids(kind):
    """Ids of the BPF links or programs on the host (bpftool)."""
    import json
    r = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "bpftool %s show: %s" % (kind, r.stderr)
    return {x["id"]: x for x in json.loads(r.stdout or "[]")}


def uprobe_events():
    try:
        with open(UPROBE_EVENTS) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def uprobe_mappings(pid):
    """The [uprobes] areas the kernel maps into a process once a probe in it
    was hit (out-of-line execution, return trampolines)."""
    with open("/proc/%d/maps" % pid) as f:
        return [l for l in f.read().splitlines() if "[uprobes" in l]


def completed(path):
    """(i, t0, t1) of each call a load client completed."""
    out = []
    for line in Path(path).read_text().splitlines():
        i, t0, t1, status = line.split()
        if status == "200":
            out.append((int(i), float(t0), float(t1)))
    return out


def test_sigterm_under_load(orchestrator, daemon_factory, nginx_h2, tmp_path):
    """Keep-alive HTTP/1.1 and HTTP/2 clients calling back to back and a
    one-shot curl storm, then SIGTERM: the daemon exits 0 within 1 s; no
    link, program or tracefs uprobe of its own is left, and a process making
    a TLS call afterwards hits no probe; every call the keep-alive clients
    had completed before the signal was forwarded."""
    from conftest import CURL, PYTHON, STOP_TIMEOUT
    links0, progs0, events0 = bpf_ids("link"), bpf_ids("prog"), uprobe_events()
    d = daemon_factory(orchestrator.endpoint)
    s = nginx_h2
    clients = []
    for n, mode in enumerate(["h1", "h1", "h2"]):
        out = tmp_path / ("load%d.txt" % n)
        out.touch()
        p = subprocess.Popen([PYTHON, LOAD_CLIENT, mode, str(s.port), "/h2/load%d-" % n, str(out), "60"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(tmp_path / ("load%d.err" % n), "wb"))
        clients.append((p, out))
    storm_stop = threading.Event()
    storm_made = []

    def storm(k):
        i = 0
        while not storm_stop.is_set():
            r = subprocess.run([CURL, "--http1.1", "-k", "-sS", "--max-time", "10", "-o", "/dev/null",
                                "-w", "%{http_code}", s.url("/h2/storm%d-%d" % (k, i))],
                               capture_output=True, text=True, timeout=20)
            if r.returncode == 0 and r.stdout == "200":
                storm_made.append(1)
            i += 1

    storm_threads = [threading.Thread(target=storm, args=(k,)) for k in range(2)]
    for t in storm_threads:
        t.start()
    try:
        time.sleep(4)
        for p, out in clients:
            assert p.poll() is None, "load client exited: %s" % (out.with_suffix(".err").read_text())
            assert completed(out), "load client %s made no call" % out
        # The probes are live: the clients' processes have hit them.
        assert uprobe_mappings(clients[0][0].pid), "no [uprobes] area in a traced client"
        t_sig = time.monotonic()
        rc = d.stop(timeout=STOP_TIMEOUT)
        assert rc == 0, "daemon exit: %s\n%s" % (rc, d.log()[-4000:])
        phases = re.findall(r"exit: .*", d.log())
        print("SIGTERM -> exit in %.2f s (%s)" % (d.stop_seconds, phases))
        assert d.stop_seconds < 1.0, "SIGTERM -> exit took %.2f s under load (contract: 1 s): %s" % (
            d.stop_seconds, phases)
    finally:
        storm_stop.set()
        for t in storm_threads:
            t.join(30)
        for p, _ in clients:
            p.terminate()
            p.wait(10)
    # Every call a keep-alive client had completed before the signal.
    time.sleep(0.5)
    got = {c.path for c in orchestrator.matching(s.host)}
    for n, (p, out) in enumerate(clients):
        done = ["/h2/load%d-%d" % (n, i) for i, t0, t1 in completed(out) if t1 < t_sig]
        missing = [x for x in done if x not in got]
        assert len(done) > 50, "client %d completed only %d calls" % (n, len(done))
        assert not missing, "%d of %d completed calls of client %d not forwarded, e.g. %s\n%s" % (
            len(missing), len(done), n, missing[:5], "\n".join(
                l for l in d.log().splitlines() if "(exit)" in l))
    assert len(storm_made) >= 10, "the curl storm made only %d calls" % len(storm_made)
    print("\nSIGTERM after 4 s of load: exit in %.3f s; keep-alive calls completed before it: %s; "
          "one-shot curls: %d\n%s" % (d.stop_seconds, [len(completed(out)) for _, out in clients],
                                      len(storm_made), "\n".join(
                                          l for l in d.log().splitlines() if "(exit)" in l)))
    # Nothing of the daemon's is left in the kernel.
    assert set(bpf_ids("link")) <= set(links0), "BPF links left: %s" % (
        [v for k, v in bpf_ids("link").items() if k not in links0])
    assert set(bpf_ids("prog")) <= set(progs0), "BPF programs left: %s" % (
        [v.get("name") for k, v in bpf_ids("prog").items() if k not in progs0])
    new_events = [l for l in uprobe_events() if l not in events0]
    assert not new_events, "uprobe_events gained: %s" % new_events
    r = subprocess.Popen([PYTHON, LOAD_CLIENT, "h1", str(s.port), "/h2/after-", str(tmp_path / "after.txt"), "30"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not (tmp_path / "after.txt").exists() or len(completed(tmp_path / "after.txt")) < 20:
            assert time.monotonic() < deadline, "the client after exit made no calls"
            time.sleep(0.05)
        assert not uprobe_mappings(r.pid), "a TLS client started after exit hit probes: %s" % (
            uprobe_mappings(r.pid))
    finally:
        r.terminate()
        r.wait(10)
