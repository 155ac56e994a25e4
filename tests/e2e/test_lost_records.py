"""Records lost in the middle of an HTTP/1 body (the ring buffer full even
for a record without its bytes: the daemon stopped with SIGSTOP while a
client downloads). Before, the connection then resynchronised with every
byte copied until its next request (the rest of a 64 MB body); now a loss
inside a body whose length is known is passed over like bytes not copied
(http_gaps_bridged), so the kernel goes on counting instead of copying, and
the call is still reported once, with its latency.
"""

import re
import signal
import subprocess
import time

from conftest import PYTHON

CLIENT = r'''
import re, socket, ssl, sys
port, first, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
def get(path):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port))
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(16384)
    return buf.split(b"\r\n\r\n", 1)
head, body = get(b"/hello")
n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
while len(body) < n:
    body += s.recv(16384)
print("TRACED?", flush=True)
sys.stdin.readline()
head, body = get(b"/big?size=%d" % total)
got = len(body)
def read_until(n):
    global got
    while got < n:
        b = s.recv(min(16384, n - got))
        if not b:
            raise SystemExit("closed early")
        got += len(b)
read_until(first)
print("PAUSED", flush=True)
sys.stdin.readline()
read_until(total)
print("DONE", flush=True)
s.close()
'''

FIRST = 8 << 20    # read while the daemon is stopped: 8 times the ring buffer
TOTAL = 72 << 20   # 64 MB more once it runs again


def exit_stats(daemon):
    assert daemon.stop() == 0, daemon.log()[-3000:]
    m = re.search(r"stats \(exit\):(.*)", daemon.log())
    assert m, daemon.log()[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def test_loss_inside_body_is_passed_over(daemon, orchestrator, tls_server):
    p = subprocess.Popen([PYTHON, "-c", CLIENT, str(tls_server.port), str(FIRST), str(TOTAL)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # A first call on the connection: the client is traced.
        assert p.stdout.readline().strip() == "TRACED?"
        orchestrator.wait_for(1, host=tls_server.host, pred=lambda c: c.path == "/hello")
        # The daemon stopped, the download fills the ring buffer with its
        # bytes (nothing told the kernel to skip them) and records are lost.
        daemon.send_signal(signal.SIGSTOP)
        try:
            p.stdin.write("go\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "PAUSED"
        finally:
            daemon.send_signal(signal.SIGCONT)
        time.sleep(1.0)  # the daemon reads the ring: the head, then the gap
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "DONE"
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
    time.sleep(1.5)  # late datagrams
    calls = orchestrator.matching(tls_server.host)
    orchestrator.assert_no_errors()
    stats = exit_stats(daemon)
    log = daemon.log()[-3000:]
    summary = " ".join("%s=%s" % (k, stats.get(k)) for k in (
        "calls", "ringbuf_lost", "copied_bytes", "http_malformed", "http_gaps_bridged",
        "skips_to_request"))
    assert stats["ringbuf_lost"] > 0, "no record was lost: the test proves nothing\n" + log
    assert [(c.method, c.path) for c in calls] == [("GET", "/hello"), ("GET", "/big")], (
        "%s\n%s" % (summary, orchestrator.describe()))
    assert stats.get("http_gaps_bridged", 0) >= 1, summary
    # The 64 MB read after the loss were counted, not copied: what was
    # copied is about what the ring held while the daemon was stopped.
    assert stats["copied_bytes"] < 4 << 20, summary
