#!/usr/bin/python3
"""Soak test (issue 15): the daemon under mixed load for a long time, with
its memory, descriptors and CPU per call sampled over time and required to
stay flat.

Run as root through `make soak` (30 min), or for a short run:
    SOAK_SECONDS=180 SOAK_DAEMON=build/metrist-orchestrator-ebpf-plugin bench/soak.py
Only one traced workload at a time makes sense on a host (every daemon
traces every process): the e2e suite and benchmarks must not run meanwhile
(`flock /tmp/e2e.lock make soak`).

Load, for SOAK_SECONDS, against one local nginx offering h2 and HTTP/1.1:
  - keep-alive: SOAK_KEEPALIVE (2) HTTP/1.1 clients (tests/e2e/load_client.py
    h1), each one connection, a call every SOAK_PAUSE_MS (5) ms;
  - HTTP/2: one httpx client (load_client.py h2), same pace;
  - one-shot storm: SOAK_STORM (2) loops starting `curl --http1.1` back to
    back, a new process per call (each armed at exec, its probes removed
    at exit).

Every SOAK_SAMPLE (10) seconds: the daemon's RSS and anonymous RSS, open
descriptors, threads, CPU time, and the calls made (clients' own counts)
and received (datagrams at a UDP listener, parsed as the Orchestrator
does). After a warm-up (a fifth of the run, at least 30 s) the run must be
flat: RSS and RssAnon of the last third at most 1 MiB + 2 % over the first
third's (medians), descriptors and threads of the last third at most 8 over
the first third's maxima, CPU per call of the last third at most 25 % over
the first third's (medians); and >= 99 % of the calls made received, no
malformed datagram, SIGTERM -> exit 0 within 1 s.

Prints the samples and a verdict; writes them to SOAK_OUT
(bench/soak-results.json). Exit status 0 when flat, 1 when not.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import conftest  # noqa: E402  (nginx and the Orchestrator's parse, shared with the e2e suite)

SECONDS = float(os.environ.get("SOAK_SECONDS", "1800"))
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "10"))
KEEPALIVE = int(os.environ.get("SOAK_KEEPALIVE", "2"))
STORM = int(os.environ.get("SOAK_STORM", "2"))
PAUSE_MS = os.environ.get("SOAK_PAUSE_MS", "5")
DAEMON = os.path.abspath(os.environ.get("SOAK_DAEMON", str(REPO / "build" / "metrist-orchestrator-ebpf-plugin")))
OUT = os.environ.get("SOAK_OUT", str(REPO / "bench" / "soak-results.json"))
LOAD_CLIENT = str(REPO / "tests" / "e2e" / "load_client.py")
PYTHON = "/usr/bin/python3"
CURL = shutil.which("curl") or "/usr/bin/curl"
TICK = os.sysconf("SC_CLK_TCK")

RSS_SLACK_KB = 1024
RSS_SLACK_FRAC = 0.02
FD_SLACK = 8
CPU_SLACK_FRAC = 0.25
DELIVERED_MIN = 0.99


class Listener:
    """Counts the daemon's datagrams by path prefix; keeps nothing else
    (a 30-minute run sends millions)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.endpoint = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.ours = 0
        self.other = 0
        self.malformed = []
        self.host = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            try:
                method, host, path, value = conftest.orchestrator_parse(data)
                problems = conftest.wire_problems(data)
            except ValueError as e:
                problems = [str(e)]
                host = None
            with self.lock:
                if problems:
                    if len(self.malformed) < 20:
                        self.malformed.append((data[:200], problems))
                elif host == self.host:
                    self.ours += 1
                else:
                    self.other += 1

    def counts(self):
        with self.lock:
            return self.ours, self.other, len(self.malformed)

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


class LineCounter:
    """Calls a load client recorded so far (its file read incrementally):
    n completed, err failed on the client's side (answered or not)."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.n = 0
        self.err = 0

    def count(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n") + 1
        lines = data[:end].count(b"\n")
        err = data[:end].count(b" ERR\n")
        self.n += lines - err
        self.err += err
        self.pos += end
        return self.n


def proc_sample(pid):
    status = Path("/proc/%d/status" % pid).read_text()
    field = lambda name: int(re.search(r"^%s:\s+(\d+)" % name, status, re.M).group(1))  # noqa: E731
    stat = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return {
        "rss_kb": field("VmRSS"),
        "rss_anon_kb": field("RssAnon"),
        "threads": field("Threads"),
        "fds": len(os.listdir("/proc/%d/fd" % pid)),
        "cpu_s": (int(stat[11]) + int(stat[12])) / TICK,
    }


def storm_loop(url_base, k, stop, made, failed):
    i = 0
    while not stop.is_set():
        r = subprocess.run([CURL, "--http1.1", "-k", "-sS", "--max-time", "10", "-o", "/dev/null",
                            "-w", "%{http_code}", "%s/h2/storm%d-%d" % (url_base, k, i)],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0 and r.stdout == "200":
            made[k] += 1
        else:
            failed[k] += 1
        i += 1


def thirds(samples, key):
    n = len(samples)
    return [s[key] for s in samples[: max(1, n // 3)]], [s[key] for s in samples[n - max(1, n // 3):]]


def verdict(samples, made, uncertain, received, malformed, stop_s, stop_rc):
    """[(check, ok, detail)]"""
    checks = []
    warm = max(30.0, SECONDS / 5)
    steady = [s for s in samples if s["t"] >= warm]
    if len(steady) < 6:
        return [("enough samples after the warm-up", False, "%d samples" % len(steady))]
    for key in ("rss_kb", "rss_anon_kb"):
        first, last = thirds(steady, key)
        a, b = statistics.median(first), statistics.median(last)
        limit = a * (1 + RSS_SLACK_FRAC) + RSS_SLACK_KB
        checks.append(("%s flat" % key, b <= limit, "median %d kB -> %d kB (limit %d)" % (a, b, limit)))
    for key in ("fds", "threads"):
        first, last = thirds(steady, key)
        checks.append(("%s flat" % key, max(last) <= max(first) + FD_SLACK,
                       "max %d -> %d (slack %d)" % (max(first), max(last), FD_SLACK)))
    per_call = [s for s in steady if s.get("cpu_us_per_call") is not None]
    if len(per_call) >= 6:
        first, last = thirds(per_call, "cpu_us_per_call")
        a, b = statistics.median(first), statistics.median(last)
        checks.append(("CPU per call flat", b <= a * (1 + CPU_SLACK_FRAC) + 1.0,
                       "median %.1f us -> %.1f us" % (a, b)))
    else:
        checks.append(("CPU per call flat", False, "too few intervals with calls"))
    checks.append(("calls delivered", made > 0 and received >= DELIVERED_MIN * made,
                   "%d of %d (%.2f %%)" % (received, made, 100.0 * received / max(1, made))))
    checks.append(("no calls over-reported", received <= made + uncertain,
                   "%d received, %d made, %d failed on the client's side" % (received, made, uncertain)))
    checks.append(("no malformed datagram", malformed == 0, "%d" % malformed))
    checks.append(("SIGTERM -> exit 0 within 1 s", stop_rc == 0 and stop_s is not None and stop_s < 1.0,
                   "status %s after %s s" % (stop_rc, "%.2f" % stop_s if stop_s is not None else "-")))
    return checks


def main():
    if os.geteuid() != 0:
        sys.exit("soak: run as root (the daemon loads eBPF)")
    if not os.access(DAEMON, os.X_OK):
        sys.exit("soak: no daemon at %s (make all, or SOAK_DAEMON=...)" % DAEMON)
    work = Path(tempfile.mkdtemp(prefix="metrist-soak-"))
    procs, stop = [], threading.Event()
    listener = Listener()
    samples, started = [], time.monotonic()
    result = {"seconds": SECONDS, "sample_s": SAMPLE, "keepalive": KEEPALIVE, "storm": STORM,
              "pause_ms": float(PAUSE_MS), "kernel": os.uname().release}
    daemon = server = None
    storm_made, storm_failed = [0] * STORM, [0] * STORM
    try:
        cert, key = work / "cert.pem", work / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True,
                       capture_output=True, timeout=30)
        (work / "nginx").mkdir()
        server = conftest.start_nginx(work / "nginx", (cert, key), conftest.NGINX_H2_HTTP,
                                      conftest.NGINX_H2_LOCATIONS, h2=True)
        listener.host = server.host
        env = dict(os.environ, METRIST_ORCHESTRATOR_ENDPOINT=listener.endpoint)
        log = open(work / "daemon.log", "wb")
        daemon = subprocess.Popen([DAEMON], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while b"ready" not in (work / "daemon.log").read_bytes():
            if daemon.poll() is not None or time.monotonic() > deadline:
                sys.exit("soak: the daemon did not start\n" + (work / "daemon.log").read_text()[-3000:])
            time.sleep(0.1)
        result["daemon_version"] = subprocess.run([DAEMON, "--version"], capture_output=True,
                                                  text=True).stdout.strip()
        counters = []
        modes = ["h1"] * KEEPALIVE + ["h2"]
        for n, mode in enumerate(modes):
            out = work / ("load%d.txt" % n)
            out.touch()
            procs.append(subprocess.Popen([PYTHON, LOAD_CLIENT, mode, str(server.port), "/h2/load%d-" % n,
                                           str(out), str(SECONDS + 60), PAUSE_MS],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=open(work / ("load%d.err" % n), "wb")))
            counters.append(LineCounter(out))
        base = "https://127.0.0.1:%d" % server.port
        storms = [threading.Thread(target=storm_loop, args=(base, k, stop, storm_made, storm_failed), daemon=True)
                  for k in range(STORM)]
        for t in storms:
            t.start()
        started = time.monotonic()
        end = started + SECONDS
        prev = None
        print("%7s %8s %8s %4s %4s %9s %9s %9s %8s" % ("t(s)", "rss_kB", "anon_kB", "fds", "thr", "made",
                                                       "received", "calls/s", "us/call"), flush=True)
        while True:
            now = time.monotonic()
            for p in procs:
                if p.poll() is not None:
                    raise SystemExit("soak: a load client exited (status %s)" % p.returncode)
            if daemon.poll() is not None:
                raise SystemExit("soak: the daemon exited (status %s)\n%s" % (
                    daemon.returncode, (work / "daemon.log").read_text()[-3000:]))
            s = proc_sample(daemon.pid)
            s["t"] = round(now - started, 1)
            s["made"] = sum(c.count() for c in counters) + sum(storm_made)
            s["received"], s["other_hosts"], s["malformed"] = listener.counts()
            s["cpu_us_per_call"] = None
            s["calls_per_s"] = None
            if prev and s["received"] > prev["received"]:
                dt = s["t"] - prev["t"]
                dcalls = s["received"] - prev["received"]
                s["cpu_us_per_call"] = round(1e6 * (s["cpu_s"] - prev["cpu_s"]) / dcalls, 2)
                s["calls_per_s"] = round(dcalls / dt, 1)
            samples.append(s)
            print("%7.0f %8d %8d %4d %4d %9d %9d %9s %8s" % (
                s["t"], s["rss_kb"], s["rss_anon_kb"], s["fds"], s["threads"], s["made"], s["received"],
                s["calls_per_s"] if s["calls_per_s"] is not None else "-",
                s["cpu_us_per_call"] if s["cpu_us_per_call"] is not None else "-"), flush=True)
            prev = s
            if now >= end:
                break
            time.sleep(max(0.0, min(SAMPLE, end - time.monotonic())))
        # Stop the load, let the last datagrams arrive, count, then SIGTERM.
        stop.set()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
        for t in storms:
            t.join(30)
        time.sleep(2)
        made = sum(c.count() for c in counters) + sum(storm_made)
        received, other, malformed = listener.counts()
        t0 = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        try:
            stop_rc = daemon.wait(5)
            stop_s = time.monotonic() - t0
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            stop_rc, stop_s = "killed", None
        uncertain = sum(c.err for c in counters) + sum(storm_failed)
        checks = verdict(samples, made, uncertain, received, malformed, stop_s, stop_rc)
        text = (work / "daemon.log").read_text(errors="replace")
        result.update({
            "made": made, "received": received, "other_hosts": other, "malformed": malformed,
            "malformed_examples": [repr(x) for x in listener.malformed],
            "keepalive_made": [c.n for c in counters], "client_errors": [c.err for c in counters],
            "storm_made": storm_made, "storm_failed": storm_failed,
            "stop_s": stop_s, "stop_status": stop_rc, "samples": samples,
            "exit_stats": [l for l in text.splitlines() if "(exit):" in l],
            "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks],
            "ok": all(ok for _, ok, _ in checks),
        })
        print("\nsoak: %.0f s, %d calls made (%s keep-alive/h2, %d one-shot curls), %d received" % (
            SECONDS, made, [c.n for c in counters], sum(storm_made), received))
        for c, ok, d in checks:
            print("  %-4s %-32s %s" % ("ok" if ok else "FAIL", c, d))
        for line in result["exit_stats"]:
            print("  " + line)
        with open(OUT, "w") as f:
            json.dump(result, f, indent=1)
        print("soak: results in %s; verdict: %s" % (OUT, "flat" if result["ok"] else "NOT FLAT"))
        return 0 if result["ok"] else 1
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        if server is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGQUIT)
            try:
                server.proc.wait(10)
            except subprocess.TimeoutExpired:
                server.proc.kill()
        listener.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
