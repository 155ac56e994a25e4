"""Strings from traced processes in the daemon's log and report (issue 15):
a library path and a process name chosen by the process cannot forge a log
line, drive a terminal or break the --list-targets line format. Bytes
outside printable ASCII (and the backslash) appear as \\xNN.
"""

import os
import re
import shutil
import subprocess

from conftest import PYTHON, daemon_path, run

SYSLIB = "/lib/x86_64-linux-gnu"
# A directory name with a forged log line and a terminal escape in it.
EVIL_DIR = "lib\nerror: forged line \x1b[2J"
# A process name (15 bytes at most) with an escape sequence, a newline, a space.
EVIL_COMM = b"\x1b[1mx\ny z"
TARGET_RE = re.compile(r'^pid=(\d+|-) comm=(\S+) file=(\S+) status=(traced|not-traced|unknown) '
                       r'kind=(openssl|gnutls|nss|go|static-stripped) reason="([^"]*)"$')

# Renames itself, loads the OpenSSL copies in argv[3] (dlopen by path: ld.so
# would split LD_LIBRARY_PATH at the ':'; _ssl then finds libssl.so.3 loaded),
# makes one HTTPS call, prints DONE, waits for stdin to close.
CLIENT = r"""
import ctypes, http.client, sys
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[2])), 0, 0, 0)  # PR_SET_NAME
for lib in ("libcrypto.so.3", "libssl.so.3"):
    ctypes.CDLL(sys.argv[3] + "/" + lib, mode=ctypes.RTLD_GLOBAL)
import ssl
ctx = ssl._create_unverified_context()
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), timeout=30, context=ctx)
c.request("GET", "/hello/log-injection")
r = c.getresponse()
r.read()
print("DONE", r.status, flush=True)
sys.stdin.read()
"""


def escaped(b):
    """What the daemon writes for these bytes in a key=value field."""
    return "".join(chr(c) if 0x21 <= c <= 0x7e and c != 0x5c else "\\x%02x" % c for c in b)


def line_escaped(b):
    """What the daemon writes for these bytes in the rest of a log line."""
    return "".join(chr(c) if 0x20 <= c <= 0x7e else "\\x%02x" % c for c in b)


def maps_name(path):
    """path as /proc/<pid>/maps shows it (a newline as \\012)."""
    return str(path).replace("\n", "\\012")


def test_hostile_path_and_comm(daemon, orchestrator, tls_server, tmp_path):
    s = tls_server
    libdir = tmp_path / EVIL_DIR
    libdir.mkdir()
    for n in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy2(os.path.realpath(os.path.join(SYSLIB, n)), libdir / n)
    p = subprocess.Popen([PYTHON, "-c", CLIENT, str(s.port), EVIL_COMM.hex(), str(libdir)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode()
        assert line.startswith("DONE 200"), "client: %r %r" % (line, p.stderr.read1(4000))
        with open("/proc/%d/maps" % p.pid) as f:
            assert maps_name(libdir / "libssl.so.3") in f.read(), "the client did not map the copy"
        orchestrator.expect_calls([("GET", "/hello/log-injection")], s.host)
        calls = daemon.wait_logged_calls(1, s.host)
        assert calls[0].comm == escaped(EVIL_COMM), "comm logged as %r" % calls[0].comm
        lt = run([daemon_path(), "--list-targets"], timeout=60)
        assert lt.returncode == 0, lt.stderr
    finally:
        p.stdin.close()
        p.wait(10)
    log = daemon.log()
    found = line_escaped(str(libdir / "libssl.so.3").encode())
    assert re.search(r"^info: TLS library found: %s \(" % re.escape(found), log, re.M), (
        "no escaped 'TLS library found' line for %s\n%s" % (found, log[-4000:]))
    assert not re.search(r"^error: forged line", log, re.M), "a forged line reached the log"
    bad = [l for l in log.splitlines() if re.search(r"[\x00-\x1f\x7f]", l)]
    assert not bad, "control bytes in log lines: %r" % bad[:5]
    # The report: every line in its documented form, ours among them.
    rows = [TARGET_RE.match(l) for l in lt.stdout.splitlines() if l.strip()]
    assert all(rows), "lines not in the documented form:\n%s" % "\n".join(
        repr(l) for l, m in zip(lt.stdout.splitlines(), rows) if not m)
    ours = [m for m in rows if m[1] == str(p.pid)]
    assert ours and all(m[2] == escaped(EVIL_COMM) for m in ours), lt.stdout[-3000:]
    # Its paths come from /proc/<pid>/maps, which shows a newline as \012.
    lib = escaped(maps_name(libdir / "libssl.so.3").encode())
    assert lib in [m[3] for m in ours], "no file=%s line for pid %d\n%s" % (lib, p.pid, lt.stdout[-3000:])
