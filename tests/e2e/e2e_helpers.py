"""Helpers several e2e test files share (not fixtures: those are in conftest.py)."""

import os
import random
import string
import shutil
import subprocess
import threading
import time

import pytest

SYSLIB = "/lib/x86_64-linux-gnu"


def read_line(proc, timeout, what):
    """One stdout line of a text-mode Popen within timeout (fails otherwise)."""
    box = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not box or not box[0]:
        proc.kill()
        _, err = proc.communicate(timeout=5)
        pytest.fail("%s: no line within %.0f s (exit %s)\nstderr: %s"
                    % (what, timeout, proc.returncode, (err or "")[-2000:]), pytrace=False)
    return box[0].strip()


def kill_all(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            pass


def copy_libs(d, names=("libssl.so.3", "libcrypto.so.3")):
    """Fresh copies (new inodes) of the system's OpenSSL libraries in d."""
    d.mkdir(parents=True)
    for n in names:
        shutil.copy2(os.path.realpath(os.path.join(SYSLIB, n)), d / n)
    return d


def token(n=10):
    """A random name for one test's paths: lower-case letters only, so
    that a segment built from it (gnutls-retry-<token>) never has the shape
    the daemon redacts as a secret (path_redact.h: mixed kinds of
    characters, 20 or more of them). Hex once made such a segment
    ':token' in CI."""
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def warm_registration():
    """Start a process and give the daemon 50 ms: after a second or more
    of quiet, a first uprobe registration waits for an RCU grace period
    (7-25 ms on hosts without expedited ones), and a one-shot client can
    write first (the race README's Limitations tells). Any exec keeps
    registration warm for a while; tests not about that race call this
    before a counted one-shot client."""
    subprocess.run(["/bin/true"], check=True)
    time.sleep(0.05)
