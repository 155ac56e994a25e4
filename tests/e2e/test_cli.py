"""Command line, environment and kernel checks: what happens before tracing."""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ENDPOINT_VAR, daemon_path

# LeakSanitizer cannot run under ptrace: a sanitizer build (make check-asan
# sets E2E_SANITIZED) is checked without strace.
STRACE = None if os.environ.get("E2E_SANITIZED") else shutil.which("strace")

INVALID_ENDPOINTS = [
    "nohost",  # no port
    "1.2.3.4",  # no port
    "1.2.3.4:",  # empty port
    "1.2.3.4:0",  # port 0
    "1.2.3.4:65536",  # port > 65535
    "1.2.3.4:99999999999999999999",  # overflows any integer type
    "1.2.3.4:-1",
    "1.2.3.4:abc",
    "1.2.3.4:80x",
    "[::1]",  # bracketed IPv6 without port
    "[::1]:",
    "::1:80",  # IPv6 must be bracketed
    ":80",  # no host
    "a b:1",  # junk host
]

VALID_ENDPOINTS = ["127.0.0.1:9", "[::1]:9", "localhost:9"]


def run_once(env_endpoint, args=(), timeout=10, uname26=False, trace_bpf=True):
    """Run the daemon to completion (it is expected to exit by itself).
    Returns (CompletedProcess, seconds, bpf_syscalls) where bpf_syscalls lists
    the bpf()/perf_event_open() calls strace saw (None without strace)."""
    env = dict(os.environ)
    env.pop(ENDPOINT_VAR, None)
    if env_endpoint is not None:
        env[ENDPOINT_VAR] = env_endpoint
    cmd = [daemon_path()] + list(args)
    if uname26:
        cmd = ["setarch", "x86_64", "--uname-2.6"] + cmd
    trace_file = None
    if trace_bpf and STRACE:
        trace_file = "/tmp/e2e-strace.%d.%d" % (os.getpid(), time.monotonic_ns())
        cmd = [STRACE, "-f", "-qq", "-e", "trace=bpf,perf_event_open", "-o", trace_file] + cmd
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not exit within %d s (%s=%r)" % (cmd, timeout, ENDPOINT_VAR, env_endpoint),
                    pytrace=False)
    secs = time.monotonic() - t0
    calls = None
    if trace_file:
        try:
            with open(trace_file) as f:
                calls = [l.strip() for l in f if re.search(r"\b(bpf|perf_event_open)\(", l)]
        finally:
            os.unlink(trace_file)
    return p, secs, calls


def bpffs_listing():
    try:
        return sorted(os.listdir("/sys/fs/bpf"))
    except OSError:
        return None


@pytest.mark.parametrize("value", INVALID_ENDPOINTS)
def test_invalid_endpoint_refused(value):
    before = bpffs_listing()
    p, secs, bpf_calls = run_once(value)
    err = p.stderr.strip()
    assert p.returncode == 2, "%s=%r: exit status %s, expected 2\nstderr: %s" % (
        ENDPOINT_VAR, value, p.returncode, err)
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, "expected a one-line error, got:\n%s" % err
    assert ENDPOINT_VAR in lines[0] and value in lines[0], (
        "error must name %s and the value %r: %r" % (ENDPOINT_VAR, value, lines[0]))
    assert secs < 2.0, "refusing took %.1f s" % secs
    if bpf_calls is not None:
        assert not bpf_calls, "eBPF used before refusing the endpoint:\n%s" % "\n".join(bpf_calls[:10])
    assert bpffs_listing() == before, "/sys/fs/bpf changed"


@pytest.mark.parametrize("value", VALID_ENDPOINTS)
def test_valid_endpoint_starts_and_stops(value, daemon_factory):
    d = daemon_factory(value)
    d.assert_alive()
    rc = d.stop(signal.SIGTERM)
    assert rc == 0, "SIGTERM: exit status %s\n%s" % (rc, d.log()[-4000:])
    assert d.stop_seconds < 1.5, "SIGTERM -> exit took %.2f s (contract: 1 s)" % d.stop_seconds


def test_sigint_exits_zero(daemon_factory):
    d = daemon_factory("127.0.0.1:9")
    rc = d.stop(signal.SIGINT)
    assert rc == 0, "SIGINT: exit status %s\n%s" % (rc, d.log()[-4000:])
    assert d.stop_seconds < 1.5, "SIGINT -> exit took %.2f s (contract: 1 s)" % d.stop_seconds


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_default_endpoint(value, daemon_factory):
    d = daemon_factory(value)
    assert "127.0.0.1:51713" in d.log(), "start-up log does not name the default endpoint:\n" + d.log()


def test_startup_log_names_endpoint_kernel_and_library(daemon_factory):
    d = daemon_factory("127.0.0.1:9")
    text = d.log()
    assert "127.0.0.1:9" in text, "endpoint not logged:\n" + text
    assert os.uname().release in text, "kernel %s not logged:\n%s" % (os.uname().release, text)
    assert "libssl.so" in text, "no libssl attachment logged:\n" + text
    for line in text.splitlines():
        assert len(line) < 4096, "over-long log line: %r" % line[:200]


def test_old_kernel_refused():
    fake = subprocess.run(["setarch", "x86_64", "--uname-2.6", "uname", "-r"], capture_output=True,
                          text=True, timeout=10).stdout.strip()
    assert fake.startswith("2.6."), "setarch --uname-2.6 gave %r" % fake
    p, secs, bpf_calls = run_once("127.0.0.1:9", uname26=True)
    out = (p.stderr + p.stdout).strip()
    assert p.returncode != 0, "daemon accepted kernel %s\n%s" % (fake, out)
    assert secs < 2.0, "refusing took %.1f s" % secs
    lines = [l for l in out.splitlines() if "5.8" in l]
    assert lines, "no line names the minimum 5.8:\n" + out
    numeric = re.match(r"\d+\.\d+\.\d+", fake).group(0)
    assert any(numeric in l for l in lines), "the line does not name the running kernel %s:\n%s" % (
        fake, out)
    if bpf_calls is not None:
        assert not bpf_calls, "eBPF used on a refused kernel:\n%s" % "\n".join(bpf_calls[:10])


def test_version():
    p, secs, _ = run_once("127.0.0.1:9", ["--version"], trace_bpf=False)
    assert p.returncode == 0, "--version: status %s\n%s%s" % (p.returncode, p.stdout, p.stderr)
    assert p.stdout.strip(), "--version printed nothing on stdout (stderr: %r)" % p.stderr
    assert re.search(r"[0-9a-f]", p.stdout), "no version in %r" % p.stdout


def test_help():
    p, secs, _ = run_once("127.0.0.1:9", ["--help"], trace_bpf=False)
    out = p.stdout + p.stderr
    assert p.returncode == 0, "--help: status %s\n%s" % (p.returncode, out)
    assert ENDPOINT_VAR in out, "--help does not document %s:\n%s" % (ENDPOINT_VAR, out)
