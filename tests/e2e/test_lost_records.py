"""Records lost in an HTTP/1 connection: the ring buffer full even for a
record without its bytes, made so by stopping the daemon (SIGSTOP) while a
client downloads on a keep-alive connection.

Before, the connection then resynchronised with every byte copied until its
next request (the rest of a 64 MB body). Now:
- a loss inside a body whose length is known is passed over like bytes not
  copied (http_gaps_bridged): the kernel goes on counting instead of
  copying, and the call is still reported once, with its latency;
- a loss that takes a body's end (its time is lost) drops that call and the
  ones whose heads were lost, and the kernel copies nothing of the
  connection until the next request is written (skips_to_request); that
  next call is reported.
"""

import re
import signal
import subprocess
import time

from conftest import PYTHON

# Reads commands on stdin: "req PATH" sends a GET and reads the head (prints
# "HEAD"), "read N" reads N more bytes of the body, or all of it for -1
# (prints "OK").
CLIENT = r'''
import re, socket, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
buf, left = b"", 0
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "req":
        s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (arg.encode(), port))
        while b"\r\n\r\n" not in buf:
            buf += s.recv(16384)
        head, buf = buf.split(b"\r\n\r\n", 1)
        left = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        print("HEAD", flush=True)
    else:
        n = left if int(arg) < 0 else int(arg)
        while n > 0:
            if not buf:
                buf = s.recv(min(16384, n))
                if not buf:
                    raise SystemExit("closed early")
            k = min(n, len(buf))
            buf, n, left = buf[k:], n - k, left - k
        print("OK", flush=True)
s.close()
'''

MB = 1 << 20


class Client:
    def __init__(self, port):
        self.p = subprocess.Popen([PYTHON, "-c", CLIENT, str(port)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def do(self, cmd, want):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        got = self.p.stdout.readline().strip()
        assert got == want, "client: %r after %r" % (got, cmd)

    def get(self, path):
        self.do("req " + path, "HEAD")
        self.do("read -1", "OK")

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(30) == 0
        if self.p.poll() is None:
            self.p.kill()


def exit_stats(daemon):
    assert daemon.stop() == 0, daemon.log()[-3000:]
    m = re.search(r"stats \(exit\):(.*)", daemon.log())
    assert m, daemon.log()[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def run_stopped(daemon, orchestrator, tls_server, while_stopped, after):
    """A traced connection (a first call reported), then while_stopped(c)
    with the daemon stopped, then after(c) once it has read the ring.
    Returns the calls for the server and the exit stats."""
    c = Client(tls_server.port)
    try:
        c.get("/hello")
        orchestrator.wait_for(1, host=tls_server.host, pred=lambda x: x.path == "/hello")
        daemon.send_signal(signal.SIGSTOP)
        try:
            while_stopped(c)
        finally:
            daemon.send_signal(signal.SIGCONT)
        time.sleep(1.0)  # the daemon reads what the ring holds
        after(c)
        c.close()
    finally:
        if c.p.poll() is None:
            c.p.kill()
    time.sleep(1.5)  # late datagrams
    calls = orchestrator.matching(tls_server.host)
    orchestrator.assert_no_errors()
    stats = exit_stats(daemon)
    summary = " ".join("%s=%s" % (k, stats.get(k)) for k in (
        "calls", "ringbuf_lost", "copied_bytes", "http_malformed", "http_gaps_bridged",
        "skips_to_request"))
    assert stats["ringbuf_lost"] > 0, "no record was lost: the test proves nothing\n" + summary
    return [(x.method, x.path) for x in calls], stats, summary + "\n" + orchestrator.describe()


def test_loss_inside_body_is_passed_over(daemon, orchestrator, tls_server):
    def stopped(c):
        c.do("req /big?size=%d" % (72 * MB), "HEAD")
        c.do("read %d" % (8 * MB), "OK")  # 8 times the ring buffer

    calls, stats, why = run_stopped(daemon, orchestrator, tls_server, stopped,
                                    lambda c: c.do("read -1", "OK"))
    assert calls == [("GET", "/hello"), ("GET", "/big")], why
    assert stats.get("http_gaps_bridged", 0) >= 1, why
    # The 64 MB read after the loss were counted, not copied: what was
    # copied is about what the ring held while the daemon was stopped.
    assert stats["copied_bytes"] < 4 * MB, why


def test_loss_over_body_end_skips_to_next_request(daemon, orchestrator, tls_server):
    def stopped(c):
        c.get("/big?size=%d" % (8 * MB))  # its end is lost
        c.do("req /big?size=%d" % (64 * MB), "HEAD")  # its head too
        c.do("read %d" % (8 * MB), "OK")

    def after(c):
        c.do("read -1", "OK")  # 56 MB while the daemon waits for a request
        c.get("/hello/next")

    calls, stats, why = run_stopped(daemon, orchestrator, tls_server, stopped, after)
    assert calls == [("GET", "/hello"), ("GET", "/hello/next")], why
    assert stats.get("skips_to_request", 0) >= 1, why
    assert stats["copied_bytes"] < 8 * MB, why
