"""The release image, run by podman with exactly the DaemonSet's settings
(deploy/kubernetes/, translated by manifest_to_podman.py):

- it starts with only the manifest's capabilities, no new privileges,
  seccomp as set, a read-only root, and its liveness command says healthy;
- a curl on the host and a curl in a second container (Debian bullseye's
  curl and OpenSSL 1.1, another root) are both reported to a UDP listener on
  the host, from the daemon's own network namespace;
- a TLS server in a third container pays nothing: after the detection
  window no data probe of the daemon is left on its pid and no datagram
  comes from its side;
- one instance per host across containers: the host's daemon and a second
  pod refuse while it runs, naming it;
- each capability the manifest adds is needed (without it the daemon fails
  or misses calls, as the manifest's comments say), and so is seccomp
  Unconfined under the runtime's default profile;
- its memory cgroup (BPF maps included) stays within the manifest's request.
"""

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import manifest_to_podman as m2p
from conftest import NAME, REPO, e2e, podman

ENDPOINT = "METRIST_ORCHESTRATOR_ENDPOINT"
E2E_DIR = REPO / "tests" / "e2e"
CURL = shutil.which("curl") or "/usr/bin/curl"
MANIFEST_CAPS = ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"]
CAP_BITS = {"DAC_READ_SEARCH": 2, "SYS_PTRACE": 19, "PERFMON": 38, "BPF": 39}


def start_daemon(containers, image, listener, drop_cap=None, default_seccomp=False, ready=True):
    flags, args, _ = m2p.translate(overrides={ENDPOINT: listener.endpoint})
    if drop_cap:
        flags.remove("--cap-add=CAP_%s" % drop_cap)
    if default_seccomp:
        flags.remove("--security-opt=seccomp=unconfined")
    # DAEMON_ARGS (e.g. --verbose) adds flags for diagnosis, as in the e2e suite.
    d = containers("daemon", *flags, image, *args, *os.environ.get("DAEMON_ARGS", "").split())
    if ready:
        d.wait_log(r"\bready\b")
    return d


def host_curl(url, user=None, env=None):
    cmd = [CURL, "--http1.1", "-k", "-sS", "-o", "/dev/null", "--max-time", "10", url]
    if user:
        cmd = ["setpriv", "--reuid=%s" % user, "--regid=nogroup", "--clear-groups"] + cmd
    e = dict(os.environ, **(env or {}))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=e)
    assert r.returncode == 0, "%s: %s" % (cmd, r.stderr)


def daemon_links(daemon_pid):
    """The daemon's uprobe_multi links (fdinfo): dicts with pid and path."""
    links = []
    for fd in os.listdir("/proc/%d/fd" % daemon_pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (daemon_pid, fd)) != "anon_inode:bpf_link":
                continue
            text = Path("/proc/%d/fdinfo/%s" % (daemon_pid, fd)).read_text()
        except OSError:
            continue
        links.append({k.strip(): v.strip() for k, _, v in (l.partition(":") for l in text.splitlines())})
    return links


def expect_calls(listener, host, paths, may_miss, timeout=10.0):
    """The GETs of paths for host: none twice, none foreign, at most may_miss
    missing. One-shot clients race their arming (README "Limitations": in a
    container the daemon arms every process at its library's mapping, not at
    exec): the e2e suite's one-shot tests allow 1 %; here a call or two."""
    deadline = time.monotonic() + timeout
    while len(listener.matching(host)) < len(paths) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    listener.assert_no_errors()
    got = [c.path for c in listener.matching(host)]
    dup = sorted(p for p in set(got) if got.count(p) > 1)
    foreign = sorted(set(got) - set(paths))
    missing = sorted(set(paths) - set(got))
    assert not dup and not foreign, "calls for %s: twice %s, not made %s\n%s" % (
        host, dup, foreign, listener.describe())
    assert len(missing) <= may_miss, "calls for %s missing: %s (of %d)\n%s" % (
        host, missing, len(paths), listener.describe())
    if missing:
        print("\nNOTE: %d of %d one-shot calls to %s missed (arming race): %s"
              % (len(missing), len(paths), host, missing))


@pytest.fixture
def server(containers, host_usr_root, certs, tmp_path):
    """tls_server.py (the e2e suite's) in a container of its own: the host's
    /usr read-only, its own root, network and pid namespaces."""
    work = tmp_path / "server"
    work.mkdir()
    cert, key = certs
    shutil.copy(cert, work / "cert.pem")
    shutil.copy(key, work / "key.pem")
    c = containers("server", "-v", "/usr:/usr:ro", "-v", "%s:/work" % work, "-v", "%s:/e2e:ro" % E2E_DIR,
                   "--rootfs", str(host_usr_root), "/usr/bin/python3", "/e2e/tls_server.py",
                   "/work/cert.pem", "/work/key.pem", "/work/requests.log")
    c.port = int(re.search(r"^PORT (\d+)", c.wait_log(r"^PORT \d+", 20), re.M)[1])
    c.host = "127.0.0.1:%d" % c.port
    return c


@pytest.fixture
def client(containers, server, bullseye_root, host_usr_root):
    """curl in a second container sharing the server's network namespace
    (as containers of one pod do): bullseye's root when cached (OpenSSL
    1.1), else the host's /usr under a root of its own."""
    net = "--network=container:%s" % server.name
    if bullseye_root:
        c = containers("client", net, "--rootfs", bullseye_root + ":O", "/bin/sleep", "infinity")
    else:
        c = containers("client", net, "-v", "/usr:/usr:ro", "--rootfs", str(host_usr_root),
                       "/usr/bin/sleep", "infinity")
    c.assert_alive()

    def get(path):
        r = c.exec("curl", "--http1.1", "-k", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                   "https://%s%s" % (server.host, path))
        assert r.returncode == 0 and r.stdout == "200", "curl in the client container: %s %r %r" % (
            r.returncode, r.stdout, r.stderr)
    c.get = get
    return c


def test_runs_with_the_manifests_settings(containers, image, listener):
    d = start_daemon(containers, image, listener)
    pid = d.pid
    status = Path("/proc/%d/status" % pid).read_text()
    fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    eff = int(fields["CapEff"].strip(), 16)
    want = sum(1 << CAP_BITS[c] for c in MANIFEST_CAPS)
    assert eff == want, "CapEff %#x, the manifest gives %#x" % (eff, want)
    assert int(fields["CapBnd"].strip(), 16) == want, "bounding set %s" % fields["CapBnd"]
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "0", "seccomp mode %s, the manifest says Unconfined" % fields["Seccomp"]
    # Host pid namespace: the daemon's pid is the same inside and outside.
    assert fields["NSpid"].split() == [str(pid)], "not in the host's pid namespace: %s" % fields["NSpid"]
    mounts = Path("/proc/%d/mountinfo" % pid).read_text().splitlines()
    root = [l for l in mounts if l.split()[4] == "/"]
    assert root and " ro," in " " + root[-1].split()[5] + ",", "root not read-only: %s" % root
    ctl = [l for l in mounts if l.split()[4] == "/run/%s" % NAME]
    assert ctl and "rw" in ctl[-1].split()[5], "no writable control socket directory: %s" % ctl
    _, _, liveness = m2p.translate()
    r = d.exec(*liveness)
    assert r.returncode == 0 and r.stdout.startswith("healthy: pid %d (podman container %s)" % (pid, d.id12)), (
        r.returncode, r.stdout, r.stderr)
    print("\nliveness: %s" % r.stdout.strip())
    # Stopping the pod: SIGTERM, exit 0.
    podman("stop", "-t", "10", d.name)
    assert d.wait_exit() == 0, d.log()[-3000:]


def test_host_and_container_calls_reported_server_pays_nothing(containers, image, listener, tls_server,
                                                               server, client):
    d = start_daemon(containers, image, listener)

    # A curl on the host.
    host_paths = ["/hello/host/%d" % i for i in range(3)]
    for p in host_paths:
        host_curl(tls_server.url(p))
    expect_calls(listener, tls_server.host, host_paths, may_miss=1)
    # A curl in another container, to a server in a third one.
    paths = ["/hello/container/%d" % i for i in range(3)]
    for p in paths:
        client.get(p)
    expect_calls(listener, server.host, paths, may_miss=1)

    # The server showed its role on its first connections: it gives its data
    # probes back, and none is left on its pid.
    spid = server.pid
    d.wait_log(r"^info: pid %d only serves TLS: its data probes are removed$" % spid, 10)
    time.sleep(0.3)  # detaches are asynchronous
    left = [l for l in daemon_links(d.pid) if l.get("pid") == str(spid)]
    assert not left, "data probe links left on the server container's pid %d: %s" % (spid, left)
    more = ["/hello/container/more/%d" % i for i in range(20)]
    for p in more:
        client.get(p)
    # Only the client's calls: none from the server's side, none twice.
    expect_calls(listener, server.host, paths + more, may_miss=2)
    left = [l for l in daemon_links(d.pid) if l.get("pid") == str(spid)]
    assert not left, "the server was re-armed: %s" % left
    assert not re.search(r"call .* pid=%d " % spid, d.log()), "a call logged for the server's pid"

    # Memory: the container's cgroup counts the BPF maps (kernel memory).
    cg = d.inspect("{{.State.CgroupPath}}")
    peak = None
    for f in ("/sys/fs/cgroup/memory%s/memory.max_usage_in_bytes" % cg, "/sys/fs/cgroup%s/memory.peak" % cg):
        if os.path.exists(f):
            peak = int(Path(f).read_text())
    rss = int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/%d/status" % d.pid).read_text())[1])
    c = m2p.one(m2p.load(), "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    request = m2p.quantity_bytes(c["resources"]["requests"]["memory"])
    print("\nmemory: cgroup peak %s bytes (request %d), RSS %d kB" % (peak, request, rss))
    if peak is not None:
        assert peak <= request, "the pod's memory peaked at %d bytes, over its request %d" % (peak, request)
    d.assert_alive()
    if os.environ.get("KEEP_LOG"):
        Path(os.environ["KEEP_LOG"]).write_text(d.log())
    assert not re.search(r"^error:", d.log(), re.M), d.log()[-3000:]


def test_one_instance_across_containers(containers, image, listener):
    d = start_daemon(containers, image, listener)
    exe = os.environ.get("HOST_DAEMON")
    if exe:
        r = subprocess.run([exe], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **{ENDPOINT: "127.0.0.1:9"}))
        assert r.returncode == 3, "host daemon beside the pod: exit %s\n%s" % (r.returncode, r.stderr)
        assert "pid %d, podman container %s" % (d.pid, d.id12) in r.stderr, r.stderr
        print("\nhost daemon: %s" % [l for l in r.stderr.splitlines() if l.startswith("error:")][0])
    # A second pod on the node.
    second = start_daemon(containers, image, listener, ready=False)
    assert second.wait_exit() == 3, second.log()
    errors = [l for l in second.log().splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and "pid %d, podman container %s" % (d.pid, d.id12) in errors[0], second.log()
    d.assert_alive()
    assert d.exec("/usr/bin/%s" % NAME, "health").returncode == 0


@pytest.fixture
def private_lib_dir():
    """Copies of libssl/libcrypto in a 0700 directory owned by nobody: only
    CAP_DAC_READ_SEARCH (or root's DAC_OVERRIDE) lets the daemon open them."""
    top = Path("/var/tmp/metrist-dac-%s" % uuid.uuid4().hex[:8])
    priv = top / "private"
    priv.mkdir(parents=True)
    os.chmod(top, 0o755)
    for lib in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy(os.path.realpath("/usr/lib/x86_64-linux-gnu/" + lib), priv / lib)
    subprocess.run(["chown", "-R", "nobody:nogroup", str(priv)], check=True)
    os.chmod(priv, 0o700)
    yield priv
    shutil.rmtree(top)


def reported(listener, tls_server, tag, user=None, env=None, n=3):
    paths = ["/hello/%s/%d" % (tag, i) for i in range(n)]
    for p in paths:
        host_curl(tls_server.url(p), user=user, env=env)
    time.sleep(2.0)
    return [c for c in listener.matching(tls_server.host) if c.path in paths]


@pytest.mark.parametrize("cap", MANIFEST_CAPS)
def test_each_capability_is_needed(cap, containers, image, listener, tls_server, private_lib_dir):
    """The manifest's set minus one capability: what its comment says fails."""
    d = start_daemon(containers, image, listener, drop_cap=cap, ready=False)
    if cap in ("BPF", "PERFMON"):
        rc = d.wait_exit()
        assert rc == 1, "without CAP_%s: exit %s, expected 1\n%s" % (cap, rc, d.log()[-3000:])
        if cap == "BPF":
            assert "cannot use bpf()" in d.log(), d.log()[-3000:]
        return
    d.wait_log(r"\bready\b")
    nobody_env = {"LD_LIBRARY_PATH": str(private_lib_dir)}
    if cap == "SYS_PTRACE":
        # Root processes have every capability: reading their maps needs it.
        got = reported(listener, tls_server, "noptrace")
        assert not got, "reported without CAP_SYS_PTRACE: %s (not needed after all?)" % got
    else:
        got = reported(listener, tls_server, "nodac-root")
        assert got, "root curl not reported without CAP_DAC_READ_SEARCH:\n%s" % d.log()[-3000:]
        got = reported(listener, tls_server, "nodac-private", user="nobody", env=nobody_env)
        assert not got, "private library read without CAP_DAC_READ_SEARCH: %s" % got
    d.assert_alive()
    podman("rm", "-f", "-t", "5", d.name)
    # The control: with the manifest's whole set, both are reported.
    full = start_daemon(containers, image, listener)
    got = reported(listener, tls_server, "full-%s" % cap.lower(), user="nobody" if cap != "SYS_PTRACE" else None,
                   env=nobody_env if cap != "SYS_PTRACE" else None)
    assert got, "with every capability the same curl is not reported either:\n%s" % full.log()[-3000:]


def test_default_seccomp_refuses_bpf(containers, image, listener):
    """podman's default seccomp profile (like containerd's and CRI-O's older
    ones) allows bpf() only with CAP_SYS_ADMIN: hence Unconfined."""
    d = start_daemon(containers, image, listener, default_seccomp=True, ready=False)
    assert d.wait_exit() == 1, d.log()
    assert "cannot use bpf()" in d.log() and "seccomp" in d.log(), d.log()
