"""The daemon's memory is a budget, and one process cannot take the tables.

One process (hold_client.py) opens 10,000 TLS client connections to nginx
and starts a request head on each, never finishing it: each looks like an
HTTP client connection to the kernel, and none ends. Meanwhile other
processes (curl) make calls. Every curl call must be reported, exactly; the
holding process's newest connections still report the calls completed on
them; the daemon's resident set (VmRSS, sampled throughout) stays within
the 8 MB budget; and the holding process is counted over its share.
"""

import re
import select
import subprocess
import threading
import time

from conftest import (E2E_DIR, PYTHON, RSS_BUDGET_KB, SANITIZED, curl_get, nginx_conf, free_tcp_port,
                      status_kb, wait_tcp, NGINX, _stop_proc)

HOLD_CLIENT = str(E2E_DIR / "hold_client.py")
CONNECTIONS = 10000
TRICKLE = 10
HOLD_HOST = "hold.test"

LOCATIONS = """
        location /mem/ { return 200 "ok\\n"; }
        location /hold/ { return 200 "held\\n"; }
"""
HTTP = """
    log_format e2e '$request_method $request_uri $status $http_host';
    access_log {d}/access.log e2e;
    client_header_timeout 300s;
    keepalive_requests 1000;
"""


def start_big_nginx(d, certs):
    """nginx (one process) that takes CONNECTIONS connections at once."""
    d.mkdir(parents=True)
    cert, key = certs
    port = free_tcp_port()
    text = nginx_conf(d, port, cert, key, top="master_process off;\nworker_rlimit_nofile %d;"
                      % (CONNECTIONS + 2000), http=HTTP, server=LOCATIONS)
    assert "worker_connections 128;" in text
    text = text.replace("worker_connections 128;", "worker_connections %d;" % (CONNECTIONS + 1000))
    (d / "nginx.conf").write_text(text)
    proc = subprocess.Popen([NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e",
                             str(d / "error.log")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(d / "stderr", "wb"))
    wait_tcp(port, proc=proc)
    return proc, port


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            sample = (status_kb(self.pid, "VmRSS"), status_kb(self.pid, "RssAnon"))
            if None in sample:  # the daemon is gone
                return
            self.samples.append(sample)
            self.stop.wait(0.1)


def test_one_process_holding_10k_connections(orchestrator, daemon_factory, certs, tmp_path):
    ngx, port = start_big_nginx(tmp_path / "nginx", certs)
    hold = None
    try:
        d = daemon_factory(orchestrator.endpoint)
        rss0 = status_kb(d.pid, "VmRSS")
        sampler = RssSampler(d.pid)
        sampler.start()
        t0 = time.monotonic()
        hold = subprocess.Popen([PYTHON, HOLD_CLIENT, str(port), str(CONNECTIONS), HOLD_HOST,
                                 str(TRICKLE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        hold_pid = hold.pid
        expected = []

        def curl_round(tag):
            paths = ["/mem/%s/%d" % (tag, j) for j in range(3)]
            curl_get(["https://127.0.0.1:%d%s" % (port, p) for p in paths])
            expected.extend(("GET", p) for p in paths)

        # Calls of other processes while the connections are being opened...
        rounds, line = 0, None
        while not line and hold.poll() is None and time.monotonic() - t0 < 45:
            curl_round("opening%d" % rounds)
            rounds += 1
            if select.select([hold.stdout], [], [], 0.5)[0]:
                line = hold.stdout.readline()
        assert line and line.startswith("HELD %d " % CONNECTIONS), (
            "hold_client: %r %s" % (line, hold.stderr.read() if hold.poll() is not None else ""))
        print("\n" + line.strip(), "after %d curl rounds" % rounds)
        # ...while they are held, and calls completed on the newest ones.
        curl_round("held")
        hold.stdin.write("CALLS\n")
        hold.stdin.flush()
        called = hold.stdout.readline().split()
        assert called[:1] == ["CALLED"] and len(called) == TRICKLE + 1, called
        curl_round("after")
        time.sleep(1.0)
        orchestrator.expect_calls(expected, host="127.0.0.1:%d" % port)
        orchestrator.expect_calls([("GET", p) for p in called[1:]], host=HOLD_HOST)
        sampler.stop.set()
        sampler.join(2)
        peak = max(s[0] for s in sampler.samples)
        peak_anon = max(s[1] for s in sampler.samples)
        print("daemon VmRSS %d kB at start, peak %d kB (RssAnon peak %d kB), %d samples"
              % (rss0, peak, peak_anon, len(sampler.samples)))
        d.assert_alive()
        assert SANITIZED or peak <= RSS_BUDGET_KB, "daemon VmRSS peaked at %d kB > %d kB" % (peak, RSS_BUDGET_KB)
        hold.stdin.close()
        hold.wait(30)
        hold = None
        assert d.stop() == 0, d.log()[-3000:]
        m = re.search(r"stats \(exit\):.* over_share=(\d+)", d.log())
        assert m and int(m.group(1)) > 0, "no connection counted over its process's share\n%s" % (
            d.log()[-3000:])
        print("%d curl calls reported; over_share=%s" % (len(expected), m.group(1)))
        assert re.search(r"pid %d \(python3\): .*over its share" % hold_pid, d.log()), d.log()[-3000:]
    finally:
        if hold is not None:
            hold.kill()
            hold.wait(10)
        _stop_proc(ngx)
