"""What the daemon gives up (issue 15): core dumps (its memory holds other
processes' plaintext), and, run as root from the tarball, every capability
but those the systemd unit grants, with no-new-privs set.
"""

import os
import re
import signal
import subprocess
import time

from conftest import ENDPOINT_VAR, READY_RE, daemon_path


def start_raw(tmp_path, endpoint="127.0.0.1:9", args=()):
    """The daemon as a plain child in tmp_path (its cwd: where a core file
    named "core" would go), ready; (Popen, log path)."""
    log = tmp_path / "daemon.stderr"
    env = dict(os.environ)
    env[ENDPOINT_VAR] = endpoint
    p = subprocess.Popen([daemon_path()] + list(args), cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=open(log, "wb"), start_new_session=True)
    deadline = time.monotonic() + 30
    while not READY_RE.search(log.read_text(errors="replace")):
        assert p.poll() is None, "daemon exited %s\n%s" % (p.returncode, log.read_text()[-3000:])
        assert time.monotonic() < deadline, "daemon not ready\n%s" % log.read_text()[-3000:]
        time.sleep(0.05)
    return p, log


def limits(pid, name):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith(name):
                return line[len(name):].split()[:2]
    raise AssertionError("no %s in /proc/%d/limits" % (name, pid))


def test_no_core_dump(tmp_path):
    """RLIMIT_CORE's soft limit is 0, and even with it raised again from
    outside (prlimit, as an administrator might) a crash leaves no core
    file: the daemon is not dumpable."""
    # The kernel marks the exit status "core dumped" when a dump was
    # written, to a file or to a core_pattern pipe (systemd-coredump); with
    # this host's 'core', the file would be in the daemon's cwd as well.
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    p, log = start_raw(tmp_path)
    try:
        hard = limits(os.getpid(), "Max core file size")[1]
        assert limits(p.pid, "Max core file size") == ["0", hard], open("/proc/%d/limits" % p.pid).read()
        # Up to the hard limit (raising that would need CAP_SYS_RESOURCE).
        r = subprocess.run(["prlimit", "--pid", str(p.pid), "--core=%s" % hard], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert limits(p.pid, "Max core file size") == [hard, hard]
        assert hard == "unlimited" or int(hard) > (64 << 20), "hard core limit %s: too low to tell" % hard
        os.kill(p.pid, signal.SIGABRT)
        _, status = os.waitpid(p.pid, 0)
        p.returncode = -signal.SIGABRT
    finally:
        if p.returncode is None:
            p.kill()
            p.wait()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT, status
    cores = [f for f in os.listdir(tmp_path) if f.startswith("core")] if pattern.startswith("core") else []
    assert not os.WCOREDUMP(status) and not cores, "a core was dumped: %s" % cores


# CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_RESOURCE, CAP_PERFMON, CAP_BPF,
# CAP_CHECKPOINT_RESTORE: the unit's six.
KEPT = (1 << 2) | (1 << 19) | (1 << 24) | (1 << 38) | (1 << 39) | (1 << 40)
NOBODY = 65534
SYSLIB = "/lib/x86_64-linux-gnu"


def status_fields(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(l.rstrip("\n").split(":\t", 1) for l in f if ":\t" in l)


def as_nobody(cmd, **kw):
    return subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + cmd,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, **kw)


def test_capabilities_dropped(daemon, orchestrator, tls_server):
    """Run as root (as from the tarball), the daemon keeps only the unit's
    capabilities, in every set, with no-new-privs; and still discovers and
    traces what starts afterwards: a process of another user (its maps and
    files need CAP_SYS_PTRACE) through a private libssl copy only that user
    can read (CAP_DAC_READ_SEARCH, no CAP_DAC_OVERRIDE)."""
    ours = status_fields(os.getpid())
    expected = int(ours["CapBnd"], 16) & KEPT
    st = status_fields(daemon.pid)
    for name in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[name], 16) == expected, "%s %s, expected %x (test's bounding set %s)\n%s" % (
            name, st[name], expected, ours["CapBnd"], "\n".join("%s: %s" % kv for kv in st.items()))
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0, st
    assert st["NoNewPrivs"].strip() == "1", st
    assert re.search(r"^info: capabilities: kept ", daemon.log(), re.M), daemon.log()[-3000:]

    # A private OpenSSL copy in a directory only nobody can enter.
    import shutil
    import tempfile
    libdir = tempfile.mkdtemp(prefix="e2e-nobody-", dir="/tmp")
    try:
        for n in ("libssl.so.3", "libcrypto.so.3"):
            shutil.copy2(os.path.realpath(os.path.join(SYSLIB, n)), os.path.join(libdir, n))
            os.chown(os.path.join(libdir, n), NOBODY, NOBODY)
            os.chmod(os.path.join(libdir, n), 0o500)
        os.chown(libdir, NOBODY, NOBODY)
        os.chmod(libdir, 0o700)
        s = tls_server
        env = dict(os.environ, LD_LIBRARY_PATH=libdir, HOME="/")
        # The copy made known first: the first call through a never-seen
        # library races its analysis (README, Limitations; test_discovery's
        # business). A CI run with the ASan daemon lost that race (attached
        # 40 ms after the mapping). Its call, if seen, is for another host.
        warm = as_nobody(["curl", "--http1.1", "-k", "-sS", "-o", "/dev/null",
                          "https://localhost:%d/hello/nobody/warm" % s.port], env=env)
        assert warm.returncode == 0, (warm.returncode, warm.stderr)
        daemon.wait_log(r"^info: TLS library found: %s/libssl\.so\.3 " % re.escape(libdir), 10,
                        "the private copy analysed")
        for i in range(3):
            r = as_nobody(["curl", "--http1.1", "-k", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           s.url("/hello/nobody/%d" % i)], env=env)
            assert r.returncode == 0 and r.stdout == "200", (r.returncode, r.stdout, r.stderr)
        calls = orchestrator.expect_calls([("GET", "/hello/nobody/%d" % i) for i in range(3)], s.host)
        assert len(calls) == 3
        found = re.findall(r"^info: TLS library found: %s/libssl\.so\.3 " % re.escape(libdir), daemon.log(), re.M)
        assert len(found) == 1, "the private copy was not analysed once\n%s" % daemon.log()[-4000:]
    finally:
        shutil.rmtree(libdir, ignore_errors=True)
