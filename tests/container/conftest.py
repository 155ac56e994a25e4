"""Fixtures for the container tests: the release image run by podman with the
DaemonSet's settings (manifest_to_podman.py), a UDP listener on the host
reachable from containers, client and server containers.

    IMAGE_ARCHIVE=/abs/path/<name>-<version>-x86_64.oci.tar   the image under test
    HOST_DAEMON=/abs/path/executable   the same daemon on the host (single instance)

Helpers shared with the e2e tests (TLS server, curl, the datagram parser)
come from tests/e2e/conftest.py. Everything that starts a daemon must run
under `flock /tmp/e2e.lock` (make test-container does).
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
_spec = importlib.util.spec_from_file_location("e2e_conftest", REPO / "tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

# The e2e fixtures this suite uses.
certs = e2e.certs
tls_server = e2e.tls_server

NAME = "metrist-orchestrator-ebpf-plugin"
PODMAN = shutil.which("podman") or "/usr/bin/podman"
# How a container runtime runs on this machine (../shared/FACTS.md "Containers
# on this machine"): runc (crun refuses this VM's hybrid cgroups) and rlimits
# set explicitly (root here cannot raise them). Not the manifest's settings.
MACHINE_FLAGS = ["--ulimit=nofile=1024:1024", "--ulimit=nproc=1024:1024"]
PODMAN_GLOBAL = ["--runtime", "runc"]
READY_TIMEOUT = 30.0


def podman(*args, timeout=120, check=True):
    r = subprocess.run([PODMAN] + PODMAN_GLOBAL + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        pytest.fail("podman %s: exit %d\n%s%s" % (" ".join(map(str, args))[:300], r.returncode,
                                                  r.stdout[-2000:], r.stderr[-3000:]), pytrace=False)
    return r


def loud_skip(reason):
    print("\n" + "#" * 72 + "\nSKIPPING the container tests: %s\n" % reason + "#" * 72)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def runtime_ok():
    """podman and runc usable here, as root; else a loud skip."""
    if os.geteuid() != 0:
        loud_skip("not root (podman with hostPID and capabilities needs root)")
    for tool in ("podman", "runc", "buildah"):
        if not shutil.which(tool):
            loud_skip("%s is not installed (make test-container installs it)" % tool)
    r = subprocess.run([PODMAN] + PODMAN_GLOBAL + ["info"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        loud_skip("podman cannot run here: %s" % r.stderr.strip()[-500:])
    return True


@pytest.fixture(scope="session")
def image(runtime_ok):
    """The image under test, loaded into podman's storage; removed after."""
    archive = os.environ.get("IMAGE_ARCHIVE")
    if not archive or not os.path.isfile(archive):
        pytest.fail("IMAGE_ARCHIVE=%r is not an image archive (make test-container builds one)" % archive,
                    pytrace=False)
    out = podman("load", "-q", "-i", archive).stdout
    ref = out.strip().split("Loaded image:")[-1].strip().splitlines()[0].strip()
    assert ref, "podman load printed no image name: %r" % out
    yield ref
    podman("rmi", "-f", ref, check=False)


class Listener(e2e.Orchestrator):
    """The e2e suite's UDP listener, bound to every address: the daemon's
    container has its own network namespace (no hostNetwork) and reaches the
    host as host.containers.internal."""

    def __init__(self):  # noqa: super().__init__ binds 127.0.0.1 only
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.endpoint = "host.containers.internal:%d" % self.port
        self.raw, self.calls, self.errors = [], [], []
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._thread.start()


@pytest.fixture
def listener():
    o = Listener()
    yield o
    o.close()
    o.assert_no_errors()


class Container:
    def __init__(self, name):
        self.name = name
        self.returncode = None

    def inspect(self, fmt):
        return podman("inspect", "-f", fmt, self.name, check=False).stdout.strip()

    @property
    def pid(self):
        """Its first process, as the host sees it."""
        return int(self.inspect("{{.State.Pid}}") or 0)

    @property
    def id12(self):
        return self.inspect("{{.Id}}")[:12]

    def log(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def alive(self):
        return self.inspect("{{.State.Running}}") == "true"

    def assert_alive(self):
        assert self.alive(), "container %s is not running (exit %s)\n--- log ---\n%s" % (
            self.name, self.inspect("{{.State.ExitCode}}"), self.log()[-6000:])

    def wait_exit(self, timeout=30):
        r = podman("wait", self.name, timeout=timeout + 10, check=False)
        self.returncode = int(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else None
        return self.returncode

    def exec(self, *cmd, timeout=60):
        return podman("exec", self.name, *cmd, timeout=timeout, check=False)

    def wait_log(self, regex, timeout=READY_TIMEOUT):
        import re
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if re.search(regex, text, re.M):
                return text
            if not self.alive():
                text = self.log()
                if re.search(regex, text, re.M):
                    return text
                pytest.fail("container %s exited (%s) before logging %r\n--- log ---\n%s" % (
                    self.name, self.inspect("{{.State.ExitCode}}"), regex, text[-6000:]), pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail("container %s did not log %r in %.0f s\n--- log ---\n%s" % (
                    self.name, regex, timeout, text[-6000:]), pytrace=False)
            time.sleep(0.1)


@pytest.fixture
def containers():
    """start(role, podman run arguments...) -> Container; all removed after."""
    started = []

    def start(role, *args):
        c = Container("metrist-test-%s-%s" % (role, uuid.uuid4().hex[:8]))
        podman("run", "-d", "--name", c.name, *MACHINE_FLAGS, *args)
        started.append(c)
        return c

    yield start
    # Newest first: a container sharing another's network goes before it.
    for c in reversed(started):
        r = podman("rm", "-f", "-t", "5", c.name, check=False)
        assert r.returncode == 0, "podman rm %s: %s" % (c.name, r.stderr)


@pytest.fixture(scope="session")
def host_usr_root(tmp_path_factory):
    """A root directory whose /usr is the host's (mounted read-only by the
    container): a container with python3 and curl without any image."""
    r = tmp_path_factory.mktemp("host-usr-root")
    for d in ("usr", "etc", "tmp", "proc", "sys", "dev", "work", "run"):
        (r / d).mkdir()
    for link in ("bin", "lib", "lib64", "sbin"):
        os.symlink("usr/" + link, r / link)
    os.chmod(r / "tmp", 0o1777)
    return r


@pytest.fixture(scope="session")
def bullseye_root():
    """Debian bullseye's root (curl 7.74, OpenSSL 1.1: another libssl in
    another root), cached by scripts/dist-rootfs.sh; None when it cannot be
    had (the client container then uses the host's /usr, loudly)."""
    r = subprocess.run([str(REPO / "scripts" / "dist-rootfs.sh"), "bullseye"], capture_output=True,
                       text=True, timeout=900)
    if r.returncode != 0:
        print("\n" + "#" * 72 + "\nNOTE: no bullseye root (%s): the client container runs the host's "
              "curl from a root of its own instead\n" % r.stderr.strip()[-300:] + "#" * 72)
        return None
    return r.stdout.strip()
