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
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    assert pattern == "core", "this test expects core_pattern 'core' (a file in the cwd), not %r" % pattern
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
        os.kill(p.pid, signal.SIGSEGV)
        _, status = os.waitpid(p.pid, 0)
        p.returncode = -signal.SIGSEGV
    finally:
        if p.returncode is None:
            p.kill()
            p.wait()
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV, status
    cores = [f for f in os.listdir(tmp_path) if f.startswith("core")]
    assert not os.WCOREDUMP(status) and not cores, "a core was dumped: %s" % cores
