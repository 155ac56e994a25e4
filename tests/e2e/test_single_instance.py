"""One daemon per host (src/single_instance.c): a second one refuses with one
line naming the first and exit status 3, the first is unharmed; the claim is
a kernel object, so another mount namespace (its own /run and /tmp, where a
lock file would not be seen) is refused too; two started at once leave one;
a daemon being stopped does not block its successor; `health` reports
whether the daemon's event loop goes round. The same across real containers:
tests/container/."""

import os
import re
import signal
import time

from conftest import ENDPOINT_VAR, READY_RE, curl_get, daemon_path, run

REFUSED = 3
ERROR_LINE = re.compile(r"^error: another metrist-orchestrator-ebpf-plugin already runs on this "
                        r"host: pid (\d+), (.+)$", re.M)


def run_daemon(endpoint, wrap=(), args=(), timeout=20):
    env = dict(os.environ)
    env[ENDPOINT_VAR] = endpoint
    return run(list(wrap) + [daemon_path()] + list(args), timeout=timeout, env=env)


def health(*args):
    return run([daemon_path(), "health"] + list(args), timeout=20)


def assert_refused(r, first_pid, how=None):
    text = r.stdout + r.stderr
    assert r.returncode == REFUSED, "second daemon: exit status %s, expected %d\n%s" % (
        r.returncode, REFUSED, text[-4000:])
    errors = [l for l in text.splitlines() if l.startswith("error:")]
    assert len(errors) == 1, "expected one error line, got:\n%s" % text
    m = ERROR_LINE.match(errors[0])
    assert m, "the refusal does not name the first daemon: %r" % errors[0]
    assert int(m[1]) == first_pid, "named pid %s, the first daemon is %d: %r" % (m[1], first_pid, errors[0])
    if how:
        assert how in m[2], "%r does not say how the first runs (%r)" % (errors[0], how)
    assert "exit status 3" in errors[0]
    assert not READY_RE.search(text), "the refused daemon got ready:\n" + text
    return errors[0]


def assert_reports(orchestrator, server, tag):
    paths = ["/hello/%s/%d" % (tag, i) for i in range(3)]
    curl_get([server.url(p) for p in paths])
    orchestrator.expect_calls([("GET", p) for p in paths], server.host)


def test_second_instance_refused_first_unharmed(daemon, orchestrator, tls_server):
    before = daemon.log()
    r = run_daemon(orchestrator.endpoint)
    line = assert_refused(r, daemon.pid, how="started by hand")
    print("\nrefusal (%.2f s): %s" % (r.wall, line))
    assert r.wall < 5.0, "refusing took %.1f s" % r.wall
    daemon.assert_alive()
    assert_reports(orchestrator, tls_server, "first")
    after = daemon.log()[len(before):]
    assert not re.search(r"warn|error", after), "the first daemon complained:\n" + after


def test_other_mount_namespace_refused(daemon, orchestrator):
    """Its own /run and /tmp (what a container has): still refused. The
    executable is copied into the new /run first: the one under test may live
    under /tmp (a clean clone there), which the new /tmp hides."""
    r = run_daemon(orchestrator.endpoint,
                   wrap=["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         'mount -t tmpfs none /run && cp "$0" /run/daemon && '
                         'mount -t tmpfs none /tmp && exec /run/daemon "$@"'])
    assert_refused(r, daemon.pid)
    daemon.assert_alive()


def test_client_commands_not_refused(daemon):
    for args in (["--version"], ["--help"], ["--list-targets"], ["health"]):
        r = run([daemon_path()] + args, timeout=60)
        assert r.returncode == 0, "%s beside a running daemon: status %s\n%s%s" % (
            args, r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    daemon.assert_alive()


def test_started_together_one_survives(orchestrator, daemon_factory, tls_server):
    a = daemon_factory(orchestrator.endpoint, ready=False)
    b = daemon_factory(orchestrator.endpoint, ready=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and a.alive() and b.alive() and not (
            READY_RE.search(a.log()) and READY_RE.search(b.log())):
        time.sleep(0.05)
    time.sleep(0.5)
    alive = [d for d in (a, b) if d.alive()]
    assert len(alive) == 1, "daemons alive: %s\n--- a ---\n%s\n--- b ---\n%s" % (
        [d.pid for d in alive], a.log()[-3000:], b.log()[-3000:])
    first, second = alive[0], (b if alive[0] is a else a)
    second.returncode = second.proc.wait(5)
    assert second.returncode == REFUSED, second.log()
    m = ERROR_LINE.search(second.log())
    assert m and int(m[1]) == first.pid, "the refused one does not name %d:\n%s" % (first.pid, second.log())
    second.returncode = 0  # checked here; the factory's teardown expects 0
    first.wait_ready()
    assert_reports(orchestrator, tls_server, "together")


def test_successor_not_blocked_by_a_stopping_daemon(orchestrator, daemon_factory, tls_server):
    """SIGTERM to the first and the second started at once (a restart): the
    second starts, it does not refuse."""
    a = daemon_factory(orchestrator.endpoint)
    a.send_signal(signal.SIGTERM)
    b = daemon_factory(orchestrator.endpoint, ready=False)
    rc = a.stop()
    assert rc == 0, "the first did not exit 0 after SIGTERM: %s" % rc
    b.wait_ready(timeout=15)
    assert_reports(orchestrator, tls_server, "successor")


def test_killed_daemon_does_not_block(orchestrator, daemon_factory):
    a = daemon_factory(orchestrator.endpoint)
    a.send_signal(signal.SIGKILL)
    a.proc.wait(5)
    a.returncode = 0  # killed on purpose
    t0 = time.monotonic()
    b = daemon_factory(orchestrator.endpoint)
    assert time.monotonic() - t0 < 20
    b.assert_alive()


def test_health(daemon, orchestrator):
    r = health()
    assert r.returncode == 0 and ("pid %d" % daemon.pid) in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.startswith("healthy:"), r.stdout
    # A stalled event loop is unhealthy, whatever the process table says.
    daemon.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.5)
        r = health("--max-stall", "1")
        assert r.returncode == 1, "health of a stopped daemon: %s %r" % (r.returncode, r.stdout)
        assert "event loop last went round" in r.stdout, r.stdout
    finally:
        daemon.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    r = health("--max-stall", "1")
    assert r.returncode == 0, "health after SIGCONT: %s %r" % (r.returncode, r.stdout)
    assert health("--max-stall", "x").returncode == 2
    daemon.check_clean_exit()
    r = health()
    assert r.returncode == 1 and "no metrist-orchestrator-ebpf-plugin runs" in r.stdout, (
        r.returncode, r.stdout)
