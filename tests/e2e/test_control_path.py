"""The control path's quieter promises (issue 11, "Also found in the read"),
each driven from outside with a real condition, not a fault switch:

1. A process in another root (a container: own mount namespace, chroot into
   a tree holding its own libraries and its own etc/ld.so.cache) is
   predicted at exec from its own root's ld.so cache, never from the
   host's: its own libssl is armed before it maps it, and it never gets
   probes on the host's libssl (which it never maps, and which would take
   an armed slot for nothing). And a daemon whose own root has no usable
   ld.so cache (as in its image, FROM scratch) still predicts the host's
   processes, through their root.
2. The client/server markers of a file whose marker attach failed are
   attached again by the next process mapping the file. The failure is a
   real kernel refusal: another tracer's uprobe at SSL_set_connect_state of
   that file, registered with a reference-counter offset (as tools tracing
   USDT probes with semaphores register theirs), makes the kernel refuse
   any uprobe there with another one ("ref_ctr_offset mismatch", EINVAL),
   until it is removed.
3. A role record that does not fit the ring buffer is not lost for good:
   the kernel takes the role bit back and the process's next marker hit
   sends it again. The ring is filled for real: the daemon is stopped
   (SIGSTOP, as a descheduled daemon on a saturated host) while a traced
   client downloads 20 MB, and nothing reads the ring.

Each test names in its docstring the commit whose parent it fails on.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import CURL, PYTHON, run
from e2e_helpers import copy_libs, kill_all, read_line, token

TRACEFS = "/sys/kernel/tracing"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def tell(proc, line="go"):
    proc.stdin.write(line + "\n")
    proc.stdin.flush()


def log_tail(d, n=60):
    lines = [l for l in d.log().splitlines() if not l.startswith("debug: libbpf:")]
    return "--- daemon log (last %d lines) ---\n%s" % (n, "\n".join(lines[-n:]))


def wait_log(d, regex, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(regex, d.log(), re.M)
        if m:
            return m
        assert time.monotonic() < deadline, "daemon did not log %s within %.0f s\n%s" % (
            what, timeout, log_tail(d))
        time.sleep(0.05)


def symbol_file_offset(lib, symbol):
    """The file offset of a function (what a uprobe is placed at): its
    address in the dynamic symbol table, mapped through the PT_LOAD
    segment holding it."""
    syms = run(["readelf", "-W", "--dyn-syms", str(lib)], timeout=30).check().stdout
    m = re.search(r"^\s*\d+: ([0-9a-f]+)\s+\d+\s+FUNC\s+\S+\s+\S+\s+\d+\s+%s(?:@\S*)?$"
                  % re.escape(symbol), syms, re.M)
    assert m, "%s not in the dynamic symbols of %s" % (symbol, lib)
    vaddr = int(m.group(1), 16)
    segs = run(["readelf", "-W", "-l", str(lib)], timeout=30).check().stdout
    for s in re.finditer(r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)",
                         segs, re.M):
        off, start, size = (int(x, 16) for x in s.groups())
        if start <= vaddr < start + size:
            return vaddr - start + off
    pytest.fail("no PT_LOAD of %s holds %s at 0x%x" % (lib, symbol, vaddr), pytrace=False)


# ---------------------------------------------------------------------------
# 1. a process in another root: predicted from its own root's ld.so cache
# ---------------------------------------------------------------------------

# Names inside the container root that no host file has, so that the log
# tells the container's files from the host's by path alone.
ROOT_BIN = "/e2e-bin/curl"
ROOT_WARM_BIN = "/e2e-bin/curl-warm"  # another copy: the daemon learns nothing of ROOT_BIN from it
ROOT_LIBDIR = "/e2e-lib"


def build_container_root(root):
    """A directory a chroot can run curl from: copies of curl at ROOT_BIN
    and ROOT_WARM_BIN, copies of every library it needs (its libssl and
    libgnutls included) in ROOT_LIBDIR, found through the root's own
    etc/ld.so.cache (ldconfig -r), the dynamic loader at its usual path,
    and /out for the bodies."""
    out = run(["ldd", CURL], timeout=30).check().stdout
    libs = re.findall(r"^\s*(\S+) => (/\S+) \(", out, re.M)
    interp = re.search(r"^\s*(/\S*ld-linux\S*) \(", out, re.M)
    assert libs and interp, "cannot read curl's libraries from ldd:\n%s" % out
    assert "libssl.so.3" in dict(libs), "curl does not link libssl.so.3:\n%s" % out
    for d in (ROOT_BIN, ROOT_LIBDIR + "/x", "/etc/x", "/out/x", interp.group(1)):
        (root / d.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    for name, path in libs:
        shutil.copy2(os.path.realpath(path), root / ROOT_LIBDIR.lstrip("/") / name)
    shutil.copy2(os.path.realpath(interp.group(1)), root / interp.group(1).lstrip("/"))
    for b in (ROOT_BIN, ROOT_WARM_BIN):
        shutil.copy2(os.path.realpath(CURL), root / b.lstrip("/"))
    (root / "etc" / "ld.so.conf").write_text(ROOT_LIBDIR + "\n")
    run(["ldconfig", "-r", str(root)], timeout=30).check()
    return root


def container_launcher(root, url, body, env=None, exe=ROOT_BIN):
    """A shell that, once told, becomes curl run as a container runs it:
    its own mount namespace, chrooted into root (unshare, sh, chroot and curl
    exec one another: one pid throughout). Started before the daemon: a
    child forked from this test process (which maps the host's libssl)
    shares its parent's files until it execs, and gets probes on them for
    that moment; a child of this shell maps no TLS file ever."""
    args = [exe, "--http1.1", "-k", "-sS", "--max-time", "20", "-o", body,
            "-w", "%{http_code} %{num_connects}\\n", url]
    inner = "echo PID $$ >&2; exec chroot %s %s" % (shlex.quote(str(root)),
                                                    " ".join(shlex.quote(a) for a in args))
    return subprocess.Popen(["sh", "-c", 'read go; exec unshare -m --propagation private sh -c "$0"',
                             inner], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_launcher(proc):
    """Let a container_launcher go; returns (pid, stdout, stderr)."""
    try:
        out, err = proc.communicate("go\n", timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
    m = re.search(r"^PID (\d+)$", err, re.M)
    assert m and int(m.group(1)) == proc.pid, "the container shell did not start: %s" % err[-2000:]
    rows = [l.split() for l in out.splitlines() if l.strip()]
    assert proc.returncode == 0 and len(rows) == 1 and rows[0][0] == "200" and rows[0][1] == "1", (
        "container curl failed (exit %s): %r\n%s" % (proc.returncode, out, err[-3000:]))
    return proc.pid, out, err


def predicted_attaches(log, pid, lib_re):
    """The 'attached to pid N FILE' lines of pid whose FILE matches lib_re
    and whose job was queued at exec, from a prediction."""
    return re.findall(r"^debug: attached to pid %d (%s) in \d+ us \(\d+ us after the mapping; "
                      r"predicted at exec\)$" % (pid, lib_re), log, re.M)


def test_container_process_predicted_from_its_own_cache(orchestrator, daemon_factory, tls_server,
                                                        tmp_path):
    """A curl in its own mount namespace and chroot, with its own libraries
    (libssl included) and its own ld.so.cache: both of its calls (two runs,
    one call each) are reported exactly once; the first run of this
    executable, never seen before, is predicted at exec from the root's own
    cache ("predicted for /e2e-bin/curl ...: loads TLS") and both runs get
    the root's libssl attached from the prediction at exec, before they map
    it ("...; predicted at exec"); the daemon attaches to their pids only
    files of their root (ROOT_LIBDIR), never the host's libssl. A first run
    of another copy of curl (ROOT_WARM_BIN) makes the root's libraries
    known first, so that the runs checked do not race the analysis of
    thirty new files (a first call through a new file is another test's
    business), while their executable is still one the daemon never saw.

    Fails on the code before 3c96b35 ("Prediction at exec per root"): there
    a process of another root was never predicted from its DT_NEEDED chain
    (file_same_root), only armed when it mapped its libssl, so the first run
    has no prediction line and no attach "predicted at exec" (a race with
    its first write: one call of 23 was missed in one of ~5 runs): no
    "predicted for /e2e-bin/curl" line. On 3c96b35 alone it fails too: the
    first run was predicted to map the libgnutls librtmp needs, not libcurl's
    libssl (the walk was depth first; 0e83143). Before 237b320 it was
    predicted from the daemon's own cache, and got the host's libssl armed:
    the "files of another root" assertion catches that."""
    assert shutil.which("unshare") and shutil.which("chroot") and shutil.which("ldconfig")
    s, tok = tls_server, token()
    root = build_container_root(tmp_path / "container-root")
    warm_path = "/hello/container-%s/warm" % tok
    paths = ["/hello/container-%s/%d" % (tok, i) for i in range(2)]
    # The warm-up run also shows, through ld.so's trace, what curl loads.
    launchers = [container_launcher(root, s.url(warm_path), "/out/warm", exe=ROOT_WARM_BIN,
                                    env=dict(os.environ, LD_DEBUG="libs"))]
    launchers += [container_launcher(root, s.url(p), "/out/%d" % i) for i, p in enumerate(paths)]
    try:
        d = daemon_factory(orchestrator.endpoint, args=["--verbose"])
        _, _, err = run_launcher(launchers[0])
        assert "calling init: %s/libssl.so.3\n" % ROOT_LIBDIR in err, (
            "the container's curl did not load its own libssl:\n%s" % err[-3000:])
        host_ssl = re.findall(r"calling init: (/(?:usr/)?lib/\S*libssl\S*)\n", err)
        assert not host_ssl, "the container's curl loaded %s" % host_ssl
        wait_log(d, r"^info: TLS library found: \S*%s/libssl\.so\.3 " % re.escape(ROOT_LIBDIR), 10,
                 "the container's libssl found")
        pids = [run_launcher(proc)[0] for proc in launchers[1:]]
    finally:
        kill_all(launchers)
    ours = lambda c: c.path.startswith("/hello/container-%s/" % tok)  # noqa: E731
    orchestrator.wait_for(len(paths), host=s.host, pred=lambda c: ours(c) and c.path != warm_path)
    orchestrator.assert_quiet(host=s.host, pred=ours)
    got = sorted(c.path for c in orchestrator.matching(s.host, ours) if c.path != warm_path)
    assert got == paths, "calls %s, expected each of %s once\n%s" % (got, paths, orchestrator.describe())
    assert len(orchestrator.matching(s.host, lambda c: c.path == warm_path)) <= 1

    log = d.log()
    predicted = re.findall(r"^debug: predicted for %s in \d+ us: (.*)$" % re.escape(ROOT_BIN), log,
                           re.M)
    assert predicted == ["loads TLS"], (
        "the container's curl was not predicted (once) from its root's ld.so cache: %s\n%s"
        % (predicted, log_tail(d)))
    for pid in pids:
        attached = re.findall(r"^debug: attached to pid %d (\S+) in " % pid, log, re.M)
        assert attached, "no probes attached to the container's curl (pid %d)\n%s" % (pid, log_tail(d))
        foreign = [f for f in attached if ROOT_LIBDIR + "/" not in f]
        assert not foreign, ("pid %d (in the container) got probes on files of another root: %s\n%s"
                             % (pid, foreign, log_tail(d)))
        ssl = predicted_attaches(log, pid, r"\S*%s/libssl\.so\.3" % re.escape(ROOT_LIBDIR))
        assert ssl, ("the container's curl (pid %d) did not get its libssl attached from a "
                     "prediction at exec\n%s" % (pid, log_tail(d)))


def test_daemon_without_own_ldcache_predicts_host(orchestrator, daemon_factory, tls_server,
                                                  tmp_path, request):
    """The daemon runs in a mount namespace of its own where
    /etc/ld.so.cache is unusable (/dev/null mounted over it: its root has no
    cache, as in its image FROM scratch; the daemon itself was loaded before
    that). A one-shot curl of the host, a fresh copy the daemon never saw,
    must still be predicted at exec through its own root (the host's
    cache, read through /proc/<pid>/root): "predicted for ...: loads TLS",
    libssl attached "predicted at exec", and its call reported once.

    Fails on the code before 3c96b35 ("Prediction at exec per root"): there
    the daemon read only its own /etc/ld.so.cache ("cannot read
    /etc/ld.so.cache: no prediction at exec") and predicted nothing for
    anyone ("predicted for ...: no TLS")."""
    from conftest import Daemon, daemon_path
    assert shutil.which("unshare") and shutil.which("mount")
    s, tok = tls_server, token()
    wrapper = tmp_path / "daemon-no-ldcache"
    # unshare and sh exec one another and the daemon: one pid throughout.
    wrapper.write_text(
        "#!/bin/sh\n"
        "exec unshare -m --propagation private sh -c 'mount --bind /dev/null /etc/ld.so.cache && "
        "echo \"own ld.so.cache: $(stat -c %%F /etc/ld.so.cache)\" >&2 && exec \"$0\" \"$@\"' "
        "%s \"$@\"\n" % shlex.quote(daemon_path()))
    wrapper.chmod(0o755)
    workdir = tmp_path / "daemon-no-ldcache.d"
    workdir.mkdir()
    d = Daemon(str(wrapper), orchestrator.endpoint, workdir, None, ["--verbose"])
    request.node._daemons.append(d)  # stopped and checked by daemon_factory
    d.wait_ready()
    assert "own ld.so.cache: character special file" in d.log(), log_tail(d)

    curl = tmp_path / ("curl-%s" % tok)
    shutil.copy2(os.path.realpath(CURL), curl)
    path = "/hello/no-ldcache-%s" % tok
    p = subprocess.run([str(curl), "--http1.1", "-k", "-sS", "--max-time", "20", "-o", "/dev/null",
                        "-w", "%{http_code}", s.url(path)], capture_output=True, text=True,
                       timeout=40)
    assert p.returncode == 0 and p.stdout == "200", (p.stdout, p.stderr[-2000:])
    try:
        orchestrator.expect_calls([("GET", path)], s.host)
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, log_tail(d))) from None
    log = d.log()
    predicted = re.findall(r"^debug: predicted for %s in \d+ us: (.*)$" % re.escape(str(curl)), log,
                           re.M)
    assert predicted == ["loads TLS"], ("the host's curl was not predicted: %s\n%s"
                                        % (predicted, log_tail(d)))
    pids = set(int(m) for m in re.findall(
        r"^debug: attached to pid (\d+) \S*libssl\S* in \d+ us \(\d+ us after the mapping; "
        r"predicted at exec\)$", log, re.M))
    callers = [c.pid for c in d.logged_calls(s.host) if c.path == path]
    assert callers and set(callers) <= pids, (
        "the call of pid(s) %s, no libssl attached to them from a prediction at exec (only to %s)"
        "\n%s" % (callers, sorted(pids), log_tail(d)))


# ---------------------------------------------------------------------------
# 2. markers whose attach failed are attached again
# ---------------------------------------------------------------------------

class MarkerBlocker:
    """A tracefs uprobe at OFFSET of LIB registered with a reference-counter
    offset. While it is enabled the kernel refuses every other uprobe at the
    same place whose counter offset differs (kernel/events/uprobes.c:
    "ref_ctr_offset mismatch", EINVAL), the daemon's marker probes included.
    The counter offset points into the file's ELF header, a read-only
    mapping: the kernel never finds a counter to write in a process."""

    REF_CTR_OFFSET = 0x10

    def __init__(self, lib, offset):
        self.group = "e2e_block_%s" % token()
        self.lib, self.offset = lib, offset
        self.active = False

    @staticmethod
    def _write(name, text):
        # One write(2), no seek: tracefs refuses Python's buffered append.
        fd = os.open(os.path.join(TRACEFS, name), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, text.encode() + b"\n")
        finally:
            os.close(fd)

    def __enter__(self):
        self._write("uprobe_events", "p:%s/marker %s:0x%x(0x%x)" % (
            self.group, self.lib, self.offset, self.REF_CTR_OFFSET))
        self.active = True
        try:
            self._write("events/%s/marker/enable" % self.group, "1")
        except OSError:
            self.remove()
            raise
        return self

    def remove(self):
        if not self.active:
            return
        self.active = False
        try:
            self._write("events/%s/marker/enable" % self.group, "0")
        except OSError:
            pass  # never enabled
        self._write("uprobe_events", "-:%s/marker" % self.group)

    def __exit__(self, *exc):
        self.remove()


# Maps libssl (through LD_LIBRARY_PATH) and keeps it mapped; never connects.
SSL_HOLDER = r"""
import ssl, sys
libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libssl" in l})
print("LIBSSL " + " ".join(libs), flush=True)
sys.stdin.readline()
"""

# One connection, one GET; the request goes out 50 ms after the handshake
# (a remote server's round trip: arming at the connect marker races only
# that, as in test_probe_strategy's idle re-arm test).
ONE_CALL_CLIENT = r"""
import http.client, ssl, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context())
c.connect()
time.sleep(0.05)
c.request("GET", path)
r = c.getresponse()
r.read()
print(r.status, flush=True)
c.close()
"""


def test_failed_marker_attach_retried(orchestrator, daemon_factory, tls_server, tmp_path):
    """With --max-armed 0 no process is armed when it maps libssl: each is
    armed by its connect marker alone. A private libssl copy is first mapped
    (by a process that keeps it mapped) while the kernel refuses uprobes at
    its SSL_set_connect_state (MarkerBlocker): its markers fail. The refusal
    is lifted; more than a retry period (1 s) later two one-shot clients map
    the copy: the first one's mapping attaches the markers again, and both
    clients' calls are reported, each exactly once.

    Fails on the code before 237b320 ("Control path split by concern"; the
    fix is the marker retry in file_attach_shared, MARKER_RETRY_NS): there
    markers were attached only when a file got its first user, so while the
    holder kept the copy mapped they were never tried again and neither
    client was ever armed (no call reported). It fails the same way on
    today's code with the retry disabled (markers_retry_ns never reached)."""
    d = daemon_factory(orchestrator.endpoint, args=["--verbose", "--max-armed", "0"])
    s, tok = tls_server, token()
    libdir = copy_libs(tmp_path / "marker-retry")
    lib = libdir / "libssl.so.3"
    env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
    failed_re = r"^warning: cannot attach client/server markers to \S*%s: " % re.escape(str(lib))
    procs = []
    try:
        with MarkerBlocker(lib, symbol_file_offset(lib, "SSL_set_connect_state")) as blocker:
            holder = subprocess.Popen([PYTHON, "-c", SSL_HOLDER], env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            procs.append(holder)
            assert read_line(holder, 20, "libssl holder") == "LIBSSL %s" % lib
            wait_log(d, failed_re, 10, "the failed marker attach of %s" % lib)
            blocker.remove()
        time.sleep(1.5)  # past the retry period
        paths = ["/hello/marker-retry-%s/%d" % (tok, i) for i in range(2)]
        for path in paths:
            r = run([PYTHON, "-c", ONE_CALL_CLIENT, str(s.port), path], env=env, timeout=30)
            assert r.returncode == 0 and r.stdout.strip() == "200", (r.stdout, r.stderr[-2000:])
        try:
            orchestrator.expect_calls([("GET", p) for p in paths], s.host)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, log_tail(d))) from None
        assert holder.poll() is None, "the holder exited: the copy had no user left"
    finally:
        kill_all(procs)
    log = d.log()
    fail_at = re.search(failed_re, log, re.M).start()
    attached = re.search(r"^info: attached to \S*%s \(markers" % re.escape(str(lib)), log[fail_at:], re.M)
    assert attached, "no later 'attached to %s (markers ...)' line\n%s" % (lib, log_tail(d))


# ---------------------------------------------------------------------------
# 3. a role record that did not fit the ring buffer is sent again
# ---------------------------------------------------------------------------

FILL_BYTES = 20_000_000  # read through SSL_read probes: the 1 MiB ring, many times over

# Armed by its first call; on "go", downloads FILL_BYTES on the same
# (traced) connection.
RING_FILLER = r"""
import http.client, ssl, sys, time
port, path, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context())
c.connect()
time.sleep(0.05)
c.request("GET", path)
c.getresponse().read()
print("called", flush=True)
sys.stdin.readline()
c.request("GET", "/big?size=%d" % size)
print("read %d" % len(c.getresponse().read()), flush=True)
sys.stdin.readline()
"""

# Maps libssl (imports ssl) at once; then, on each "go", one connection
# with one GET.
TWO_CONNECTIONS = r"""
import http.client, ssl, sys, time
port, prefix = int(sys.argv[1]), sys.argv[2]
print("ready", flush=True)
for i in range(2):
    sys.stdin.readline()
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl._create_unverified_context())
    c.connect()
    time.sleep(0.05)
    c.request("GET", "%s/%d" % (prefix, i))
    c.getresponse().read()
    c.close()
    print("called %d" % i, flush=True)
"""


def test_role_record_resent_after_full_ring(orchestrator, daemon_factory, tls_server):
    """With --max-armed 0 a process is armed only by its role record (the
    connect marker). A client maps libssl and waits (the daemon knows it by
    then); the daemon is stopped, and a traced client fills the ring
    buffer; the waiting client then sets up its first connection: its role
    record does not fit. The daemon resumes and drains the ring; the
    client's second connection must arm it (the role sent again) and its
    call must be reported exactly once. Its first call cannot be (it was
    never armed for it), and the daemon counts the re-sent role
    (roles_resent in its exit stats), which shows the ring was full.

    Fails on the code before c709971 ("role records never lost"; the fix
    is mark_role in tls_trace.bpf.c taking the bit back): there the role
    bit stayed set in the kernel although its record was lost, the second
    connection's marker sent nothing, and its call was not reported. It
    fails the same way on today's code with only the take-back removed.
    (The client must be known to the daemon before the ring fills: the
    daemon clears a process's kernel role bits when it handles its exec,
    which would hide the lost bit.)"""
    d = daemon_factory(orchestrator.endpoint, args=["--verbose", "--max-armed", "0"])
    s, tok = tls_server, token()
    prefix = "/hello/resend-%s" % tok
    filler = subprocess.Popen([PYTHON, "-c", RING_FILLER, str(s.port), "/hello/filler-%s" % tok,
                               str(FILL_BYTES)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    client = subprocess.Popen([PYTHON, "-c", TWO_CONNECTIONS, str(s.port), prefix],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    procs, stopped = [filler, client], False
    try:
        assert read_line(filler, 20, "ring filler") == "called"
        # Its data probes are in: its call is reported.
        orchestrator.wait_for(1, host=s.host, pred=lambda c: c.path == "/hello/filler-%s" % tok)
        assert read_line(client, 20, "two-connection client") == "ready"
        time.sleep(1.0)  # the daemon reads the client's exec and mappings
        os.kill(d.pid, signal.SIGSTOP)
        stopped = True
        tell(filler)
        assert read_line(filler, 60, "ring filler") == "read %d" % FILL_BYTES
        tell(client)
        assert read_line(client, 30, "two-connection client") == "called 0"
        os.kill(d.pid, signal.SIGCONT)
        stopped = False
        time.sleep(2.0)  # the daemon drains the ring
        tell(client)
        assert read_line(client, 30, "two-connection client") == "called 1"
        client.wait(10)
        try:
            orchestrator.wait_for(1, host=s.host, pred=lambda c: c.path == prefix + "/1")
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, log_tail(d))) from None
        orchestrator.assert_quiet(host=s.host, pred=lambda c: c.path.startswith(prefix + "/"))
    finally:
        if stopped:
            os.kill(d.pid, signal.SIGCONT)
        kill_all(procs)
    got = sorted(c.path for c in orchestrator.matching(s.host, lambda c: c.path.startswith(prefix + "/")))
    assert got == [prefix + "/1"], "calls %s; only the second connection's can be reported\n%s" % (
        got, orchestrator.describe())
    armed = re.findall(r"^debug: pid %d connects: tracing it$" % client.pid, d.log(), re.M)
    assert len(armed) == 1, "pid %d armed %d times by its marker\n%s" % (client.pid, len(armed),
                                                                         log_tail(d))
    d.check_clean_exit()
    m = re.search(r"^info: \w+ \(exit\): .*\broles_resent=(\d+)", d.log(), re.M)
    assert m and int(m.group(1)) >= 1, "no role record re-sent: the ring was not full\n%s" % log_tail(d)
