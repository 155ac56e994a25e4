#!/usr/bin/env python3
"""Arming benchmark (issue 11, "Arming holds under load").

Run as root through `make bench-arming` (or: BENCH_DAEMON=path bench/arming.py).
--quick (or BENCH_QUICK=1) runs a short version for iteration.

Per-process mode arms a new process (pid-scoped uprobes) in a race with its
first TLS write; the daemon keeps uprobe registration warm (src/uprobe_warm.c)
to win it. This measures both sides of that trade:

  1. idle cost: the daemon's CPU over --idle-seconds with no client activity
     and no process starts (the benchmark itself execs nothing then), per
     thread, and the kernel threads' CPU in the same window (rcu_tasks_trace,
     rcu_preempt, kworkers, ...), next to the same kernel threads' CPU in a
     window of equal length before the daemon started (--baseline-seconds);
  2. one-shot capture: N one-shot clients per condition,
        curl --http1.1 -k -s -o /dev/null https://127.0.0.1:PORT/arming/<run>/<cond>/<i>
     (--parallel of them at a time) against a local nginx; a client is
     captured when its path arrives at the UDP endpoint the daemon reports
     to (parsed as the Orchestrator does: trim, drop the leading `0`, split
     on whitespace into 4 fields). Conditions:
        idle   nothing else runs
        busy   2 spinning processes + 2 shell loops exec'ing /bin/true
               (both cores saturated, a process start every few ms)
        quiet  (--quiet-gaps) one client after G seconds without any process
               start, --quiet-n times per gap: the first client on a quiet host
  3. attach latency of each client (the daemon's --verbose "attached to pid"
     lines: attach call, and mapping-to-attached);
  4. (--sporadic-seconds) the daemon's CPU while one process (/bin/true)
     starts every --sporadic-every seconds: what warming after each process
     start costs a host that is not quite idle.

Whether a cold registration is slow depends on the kernel's RCU setting:
/sys/kernel/rcu_expedited = 1 makes it ~0.3 ms, 0 (the usual default) 7-25 ms.
The results record it; --rcu-expedited 0|1 sets it for the run (restored
after) so that runs are comparable.

Other tracers (another instance of the daemon keeps registration warm for
everyone, e.g. an e2e run) distort both sides: the benchmark waits for them
to go (--wait-others seconds) and records any it saw per phase.

Prints a summary table and merges its results into bench/arming-results.json
under --label (default: the daemon's --version).
"""
import argparse
import concurrent.futures
import datetime
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")
# "(N us after the mapping)", or "(N us after the mapping; predicted at exec)"
ATTACH_RE = re.compile(r"attached to pid (\d+) (\S+) in (\d+) us \((\d+) us after the mapping(?:; [^)]*)?\)")
WARM_RE = re.compile(r"warm_rounds=(\d+)")

sys.path.insert(0, HERE)
from bench import (die_with_parent, free_port, other_tracers,  # noqa: E402  (bench/bench.py)
                   wait_port, write_nginx_site)


def log(msg):
    print(f"[arming {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def stat_fields(path):
    """Fields of a /proc stat file after the comm: [state, ppid, ...]."""
    s = read(path)
    if not s:
        return None, None
    head, tail = s.rsplit(")", 1)
    return head.split("(", 1)[1], tail.split()


def task_ns(path):
    """CPU time of a task in ns: schedstat (exact) or utime+stime (ticks)."""
    s = read(f"{path}/schedstat")
    if s:
        return int(s.split()[0])
    _, f = stat_fields(f"{path}/stat")
    return (int(f[11]) + int(f[12])) * 1_000_000_000 // TICK if f else None


def threads_ns(pid):
    """{tid: (comm, ns)} of every thread of a process."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        comm = (read(f"/proc/{pid}/task/{tid}/comm") or "?").strip()
        ns = task_ns(f"/proc/{pid}/task/{tid}")
        if ns is not None:
            out[int(tid)] = (comm, ns)
    return out


def kthreads_ns():
    """{pid: (comm, ns)} of every kernel thread (kthreadd and its children)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        comm, f = stat_fields(f"/proc/{d}/stat")
        if not f or (d != "2" and f[1] != "2"):
            continue
        ns = task_ns(f"/proc/{d}")
        if ns is not None:
            out[int(d)] = (comm, ns)
    return out


def kgroup(comm):
    """Group kernel threads by kind: kworker/1:2-rcu_gp -> kworker, ksoftirqd/0 -> ksoftirqd."""
    if comm.startswith("kworker/"):
        return "kworker"
    return re.sub(r"/\d+$", "", comm)


def delta(before, after, group=lambda c: c):
    """Sum of CPU ns by group between two {id: (comm, ns)} snapshots."""
    out = {}
    for k, (comm, ns) in after.items():
        d = ns - before[k][1] if k in before else ns
        g = group(comm)
        out[g] = out.get(g, 0) + max(d, 0)
    return out


def host_stat():
    """/proc/stat cpu line: {user, nice, system, idle, iowait, irq, softirq, steal} in ticks."""
    v = [int(x) for x in read("/proc/stat").split("\n", 1)[0].split()[1:9]]
    return dict(zip(["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"], v))


def forks_total():
    """Processes created since boot (/proc/stat "processes")."""
    for line in read("/proc/stat").splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    return 0


def pct(ns, seconds):
    return round(ns / 1e9 / seconds * 100, 3)


def quantiles(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
    return {"n": len(xs), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": xs[-1]}


class Listener(threading.Thread):
    """The Orchestrator's side: UDP datagrams, parsed its way."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.paths = {}
        self.malformed = 0
        self.lock = threading.Lock()

    def run(self):
        while True:
            data = self.sock.recv(65536).decode("utf-8", "replace").strip()
            if not data.startswith("0"):
                self.malformed += 1
                continue
            parts = data[1:].split()
            try:
                float(parts[3])
            except (IndexError, ValueError):
                self.malformed += 1
                continue
            if len(parts) != 4:
                self.malformed += 1
                continue
            with self.lock:
                self.paths[parts[2]] = time.monotonic()

    def has(self, path):
        with self.lock:
            return path in self.paths


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="arming-")
        # A name of our own: other_tracers() must not mistake it for a stranger.
        self.daemon = f"{self.tmp}/arming-daemon"
        shutil.copy(os.path.abspath(args.daemon), self.daemon)
        self.port = free_port()
        self.run_id = f"{os.getpid():x}{int(time.time()) % 100000:x}"
        self.procs = []
        self.ours = {os.getpid()}
        self.listener = Listener()
        self.listener.start()
        self.results = {}
        self.others_seen = set()
        self.monitor_stop = threading.Event()

    # ---- processes -----------------------------------------------------------
    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, start_new_session=True, preexec_fn=die_with_parent, **kw)
        self.procs.append(p)
        self.ours.add(p.pid)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except OSError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        if getattr(self, "rcu_was", None):
            with open("/sys/kernel/rcu_expedited", "w") as f:
                f.write(self.rcu_was)
        self.monitor_stop.set()
        for p in list(self.procs):
            self.stop(p, signal.SIGKILL, 5)
        if os.environ.get("ARMING_KEEP_LOG") and os.path.exists(f"{self.tmp}/daemon.log"):
            shutil.copy(f"{self.tmp}/daemon.log", os.environ["ARMING_KEEP_LOG"])
        shutil.rmtree(self.tmp, ignore_errors=True)

    def monitor(self):
        """Notes any other tracer that runs while we measure."""
        while not self.monitor_stop.wait(1.0):
            for o in other_tracers(self.ours):
                self.others_seen.add(o)

    def phase_others(self):
        seen = sorted(self.others_seen)
        self.others_seen.clear()
        return seen

    def wait_others(self):
        deadline = time.time() + self.args.wait_others
        shown = False
        while True:
            o = other_tracers(self.ours)
            if not o:
                return []
            if time.time() > deadline:
                log(f"WARNING: other tracers still run ({', '.join(o)}): results are distorted")
                return o
            if not shown:
                log(f"waiting up to {self.args.wait_others:.0f} s for other tracers to go: {', '.join(o)}")
                shown = True
            time.sleep(1)

    # ---- setup -----------------------------------------------------------------
    def setup(self):
        t = self.tmp
        subprocess.run([f"{ROOT}/scripts/mount-bpf.sh"], check=False, stdout=subprocess.DEVNULL)
        write_nginx_site(t, self.port, 1024)
        ng = self.spawn(["nginx", "-c", f"{t}/nginx.conf", "-p", t], stderr=subprocess.DEVNULL)
        wait_port(self.port, "nginx")
        for c in (read(f"/proc/{ng.pid}/task/{ng.pid}/children") or "").split():
            self.ours.add(int(c))
        threading.Thread(target=self.monitor, daemon=True).start()

    def start_daemon(self):
        env = dict(os.environ, METRIST_ORCHESTRATOR_ENDPOINT=f"127.0.0.1:{self.listener.port}")
        self.errfile = f"{self.tmp}/daemon.log"
        f = open(self.errfile, "w")
        args = ["--verbose"] + self.args.daemon_args.split()
        p = self.spawn([self.daemon] + args, env=env, stdout=subprocess.DEVNULL, stderr=f)
        f.close()
        deadline = time.time() + 60
        while time.time() < deadline:
            if p.poll() is not None:
                raise RuntimeError(f"daemon exited: {read(self.errfile)[-2000:]}")
            if "ready" in read(self.errfile):
                return p
            time.sleep(0.05)
        raise RuntimeError("daemon not ready in 60 s")

    def machine(self):
        ver = subprocess.run([self.daemon, "--version"], capture_output=True, text=True).stdout
        git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        return {
            "kernel": os.uname().release,
            "nproc": os.cpu_count(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "daemon": os.path.abspath(self.args.daemon),
            "daemon_version": ver.strip(),
            "daemon_args": self.args.daemon_args,
            "bench_git": git,
            "rcu_expedited": (read("/sys/kernel/rcu_expedited") or "?").strip(),
            "rcu_normal": (read("/sys/kernel/rcu_normal") or "?").strip(),
            "curl": subprocess.run(["curl", "--version"], capture_output=True,
                                   text=True).stdout.split("\n", 1)[0],
        }

    # ---- measurements ------------------------------------------------------------
    def cpu_window(self, seconds, daemon_pid=None):
        """CPU of the daemon's threads, the kernel threads and the host over a
        window in which the benchmark starts no process."""
        d0 = threads_ns(daemon_pid) if daemon_pid else {}
        k0, h0, f0, t0 = kthreads_ns(), host_stat(), forks_total(), time.monotonic()
        time.sleep(seconds)
        d1 = threads_ns(daemon_pid) if daemon_pid else {}
        k1, h1, f1, t1 = kthreads_ns(), host_stat(), forks_total(), time.monotonic()
        el = t1 - t0
        # Threads by role: the main thread (tid == pid) and the others by
        # tid (they share the process's name).
        dthr = {}
        for tid, (comm, ns) in d1.items():
            dv = ns - d0[tid][1] if tid in d0 else ns
            key = "main" if tid == daemon_pid else f"tid{tid}"
            dthr[key] = max(dv, 0)
        kgrp = delta(k0, k1, kgroup)
        hd = {k: h1[k] - h0[k] for k in h1}
        ticks = sum(hd.values())
        out = {
            "seconds": round(el, 2),
            "daemon_pct": pct(sum(dthr.values()), el),
            "daemon_threads_pct": {k: pct(v, el) for k, v in sorted(dthr.items(), key=lambda x: -x[1]) if v},
            "kthreads_pct": pct(sum(kgrp.values()), el),
            "kthread_groups_pct": {k: pct(v, el) for k, v in sorted(kgrp.items(), key=lambda x: -x[1])
                                   if pct(v, el) >= 0.005},
            # of one core, like the others: all CPUs' busy time / elapsed
            "host_busy_pct": round((ticks - hd["idle"] - hd["iowait"]) / TICK / el * 100, 2),
            "host_softirq_pct": round(hd["softirq"] / TICK / el * 100, 3),
            "host_system_pct": round(hd["system"] / TICK / el * 100, 3),
            # process starts by others (the benchmark starts none here): each
            # one makes the daemon warm at the fast rate for a second
            "forks_per_s": round((f1 - f0) / el, 2),
        }
        return out

    def curl(self, cond, i):
        path = f"/arming/{self.run_id}/{cond}/{i}"
        t0 = time.monotonic()
        p = subprocess.Popen(["curl", "--http1.1", "-k", "-s", "-o", "/dev/null",
                              f"https://127.0.0.1:{self.port}{path}"])
        rc = p.wait()
        return {"i": i, "path": path, "pid": p.pid, "rc": rc,
                "ms": round((time.monotonic() - t0) * 1000, 1)}

    def clients(self, cond, n, parallel):
        with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
            return list(ex.map(lambda i: self.curl(cond, i), range(n)))

    def start_load(self):
        load = []
        for _ in range(2):
            load.append(self.spawn(["sh", "-c", "while :; do :; done"]))
        for _ in range(2):
            load.append(self.spawn(["sh", "-c", "while :; do /bin/true; done"]))
        return load

    def tally(self, cond, res, t_start):
        deadline = time.time() + 3
        while time.time() < deadline and not all(self.listener.has(r["path"]) for r in res
                                                    if r["rc"] == 0):
            time.sleep(0.1)
        ok = [r for r in res if r["rc"] == 0]
        got = [r for r in ok if self.listener.has(r["path"])]
        missed = [r for r in ok if not self.listener.has(r["path"])]
        return {
            "n": len(res),
            "curl_failed": len(res) - len(ok),
            "captured": len(got),
            "capture_pct": round(100.0 * len(got) / len(ok), 3) if ok else None,
            "missed": [{"i": r["i"], "pid": r["pid"], "ms": r["ms"]} for r in missed][:50],
            "curl_ms": quantiles([r["ms"] for r in ok]),
            "wall_s": round(time.monotonic() - t_start, 1),
            "pids": [r["pid"] for r in res],
        }

    def run_condition(self, cond):
        a = self.args
        load = self.start_load() if cond == "busy" else []
        if load:
            time.sleep(1.0)
        self.phase_others()
        t0 = time.monotonic()
        res = self.clients(cond, a.n, a.parallel)
        for p in load:
            self.stop(p, signal.SIGKILL)
        r = self.tally(cond, res, t0)
        r["others"] = self.phase_others()
        log(f"{cond}: {r['captured']}/{r['n'] - r['curl_failed']} captured "
            f"({r['curl_failed']} curl failures) in {r['wall_s']} s")
        return r

    def run_quiet(self, gap):
        """One client after GAP seconds without any process start, quiet_n times."""
        res = []
        self.phase_others()
        t0 = time.monotonic()
        for k in range(self.args.quiet_n):
            time.sleep(gap)
            res.append(self.curl(f"quiet{gap:g}", k))
        r = self.tally(f"quiet{gap:g}", res, t0)
        r["gap_s"] = gap
        r["others"] = self.phase_others()
        log(f"quiet {gap:g} s: {r['captured']}/{r['n'] - r['curl_failed']} captured")
        return r

    def attach_stats(self, conds):
        """Attach latencies of the clients, from the daemon's log."""
        by_pid = {}
        for line in (read(self.errfile) or "").splitlines():
            m = ATTACH_RE.search(line)
            if m and int(m.group(1)) not in by_pid:
                by_pid[int(m.group(1))] = (int(m.group(3)), int(m.group(4)))
        for r in conds.values():
            pids = r.pop("pids")
            found = [by_pid[p] for p in pids if p in by_pid]
            r["attach_us"] = quantiles([f[0] for f in found])
            r["map_to_attach_us"] = quantiles([f[1] for f in found])
            r["attach_logged"] = len(found)

    def run(self):
        a = self.args
        out = {"machine": self.machine(),
               "params": {"n": a.n, "parallel": a.parallel, "idle_seconds": a.idle_seconds,
                          "baseline_seconds": a.baseline_seconds, "quiet_gaps": a.quiet_gaps,
                          "quiet_n": a.quiet_n, "conditions": a.conditions,
                          "sporadic_seconds": a.sporadic_seconds, "sporadic_every": a.sporadic_every}}
        self.setup()
        out["others_at_start"] = self.wait_others()
        if a.rcu_expedited is not None:
            self.rcu_was = (read("/sys/kernel/rcu_expedited") or "").strip()
            with open("/sys/kernel/rcu_expedited", "w") as f:
                f.write(a.rcu_expedited)
        out["machine"]["rcu_expedited"] = (read("/sys/kernel/rcu_expedited") or "?").strip()
        if a.baseline_seconds > 0:
            log(f"baseline: {a.baseline_seconds:g} s without the daemon")
            time.sleep(2)
            self.phase_others()
            out["baseline"] = self.cpu_window(a.baseline_seconds)
            out["baseline"]["others"] = self.phase_others()
        d = self.start_daemon()
        log(f"daemon ready; settling {a.settle:g} s")
        time.sleep(a.settle)
        log(f"idle CPU: {a.idle_seconds:g} s")
        self.phase_others()
        out["idle_cpu"] = self.cpu_window(a.idle_seconds, d.pid)
        out["idle_cpu"]["others"] = self.phase_others()
        if "baseline" in out:
            out["idle_cpu"]["kthreads_minus_baseline_pct"] = round(
                out["idle_cpu"]["kthreads_pct"] - out["baseline"]["kthreads_pct"], 3)
            out["idle_cpu"]["host_minus_baseline_pct"] = round(
                out["idle_cpu"]["host_busy_pct"] - out["baseline"]["host_busy_pct"], 2)
        if a.sporadic_seconds > 0:
            log(f"sporadic CPU: {a.sporadic_seconds:g} s, /bin/true every {a.sporadic_every:g} s")
            stop = threading.Event()

            def starter():
                while not stop.wait(a.sporadic_every):
                    subprocess.run(["/bin/true"])
            th = threading.Thread(target=starter, daemon=True)
            th.start()
            self.phase_others()
            out["sporadic_cpu"] = self.cpu_window(a.sporadic_seconds, d.pid)
            out["sporadic_cpu"]["every_s"] = a.sporadic_every
            out["sporadic_cpu"]["others"] = self.phase_others()
            stop.set()
            th.join()
        conds = {}
        for gap in [float(g) for g in a.quiet_gaps.split(",") if g]:
            conds[f"quiet{gap:g}"] = self.run_quiet(gap)
        for c in [c for c in a.conditions.split(",") if c]:
            conds[c] = self.run_condition(c)
        self.stop(d, signal.SIGTERM, 10)
        out["warm_rounds"] = self.warm_rounds_log()
        self.attach_stats(conds)
        out["conditions"] = conds
        out["listener_malformed"] = self.listener.malformed
        out["daemon_log_tail"] = (read(self.errfile) or "").splitlines()[-4:]
        return out

    def warm_rounds_log(self):
        m = WARM_RE.findall(read(self.errfile) or "")
        return int(m[-1]) if m else None


def summary(label, r):
    ic = r["idle_cpu"]
    kb = ic.get("kthreads_minus_baseline_pct")
    lines = [f"== {label}  ({r['machine']['daemon_version']}, rcu_expedited={r['machine']['rcu_expedited']})",
             f"idle CPU over {ic['seconds']} s (% of one core): daemon {ic['daemon_pct']:.3f}"
             f"  kernel threads {ic['kthreads_pct']:.3f}"
             + (f" (baseline {r['baseline']['kthreads_pct']:.3f}, +{kb:.3f})" if kb is not None else "")
             + f"  host softirq {ic['host_softirq_pct']:.3f}  others' forks/s {ic['forks_per_s']}",
             "  daemon threads: " + ", ".join(f"{k} {v}" for k, v in list(ic["daemon_threads_pct"].items())[:6]),
             "  kernel threads: " + ", ".join(f"{k} {v}" for k, v in list(ic["kthread_groups_pct"].items())[:8])]
    sp = r.get("sporadic_cpu")
    if sp:
        lines.append(f"with a process start every {sp['every_s']:g} s (% of one core): daemon {sp['daemon_pct']:.3f}"
                     f"  kernel threads {sp['kthreads_pct']:.3f}  others' forks/s {sp['forks_per_s']}")
    lines.append(f"{'condition':<10} {'captured':>12} {'%':>8} {'curl fail':>9} {'attach p50/p90/max us':>24}"
                 f" {'map->attached p50/p90/max us':>30}")
    for c, v in r["conditions"].items():
        at, ma = v.get("attach_us"), v.get("map_to_attach_us")
        f3 = lambda q: f"{q['p50']}/{q['p90']}/{q['max']}" if q else "-"
        lines.append(f"{c:<10} {v['captured']:>5}/{v['n'] - v['curl_failed']:<6} "
                     f"{v['capture_pct'] if v['capture_pct'] is not None else '-':>8} "
                     f"{v['curl_failed']:>9} {f3(at):>24} {f3(ma):>30}"
                     + (f"  others: {','.join(v['others'])}" if v["others"] else ""))
    if ic.get("others"):
        lines.append(f"WARNING: other tracers during the idle window: {', '.join(ic['others'])}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", default=os.environ.get("BENCH_DAEMON",
                                                       f"{ROOT}/build/metrist-orchestrator-ebpf-plugin"))
    ap.add_argument("--daemon-args", default=os.environ.get("BENCH_DAEMON_ARGS", ""))
    ap.add_argument("--label", help="key in the results file (default: the daemon's --version)")
    ap.add_argument("--n", type=int, help="one-shot clients per condition (default 1000; quick 200)")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--idle-seconds", type=float, help="idle CPU window (default 30; quick 10)")
    ap.add_argument("--baseline-seconds", type=float,
                    help="kernel threads' CPU without the daemon (default: --idle-seconds; 0: skip)")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds between daemon start and the idle window")
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument("--sporadic-seconds", type=float,
                    help="CPU window with one process start every --sporadic-every s "
                    "(default: --idle-seconds; 0: skip)")
    ap.add_argument("--sporadic-every", type=float, default=5.0)
    ap.add_argument("--quiet-gaps", help="comma-separated seconds of quiet before a client "
                    "(default 1,10; quick 1; '' to skip)")
    ap.add_argument("--quiet-n", type=int, help="clients per quiet gap (default 10; quick 5)")
    ap.add_argument("--wait-others", type=float, default=600,
                    help="seconds to wait for other tracers to go")
    ap.add_argument("--rcu-expedited", choices=["0", "1"],
                    help="set /sys/kernel/rcu_expedited for the run (restored after): "
                    "1 makes every synchronize_rcu() expedited, and a cold uprobe "
                    "registration ~0.3 ms instead of 7-25 ms; most distributions boot with 0")
    ap.add_argument("--out", default=f"{HERE}/arming-results.json")
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    a = ap.parse_args()
    q = a.quick
    a.n = a.n or (200 if q else 1000)
    a.idle_seconds = a.idle_seconds or (10 if q else 30)
    a.baseline_seconds = a.idle_seconds if a.baseline_seconds is None else a.baseline_seconds
    a.quiet_gaps = ("1" if q else "1,10") if a.quiet_gaps is None else a.quiet_gaps
    a.quiet_n = a.quiet_n or (5 if q else 10)
    a.sporadic_seconds = a.idle_seconds if a.sporadic_seconds is None else a.sporadic_seconds
    if os.geteuid() != 0:
        sys.exit("arming.py: run as root")
    for tool in ("curl", "nginx", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"arming.py: {tool} not found")
    b = Bench(a)
    try:
        r = b.run()
    finally:
        b.cleanup()
    label = a.label or r["machine"]["daemon_version"] or "daemon"
    all_r = {}
    if os.path.exists(a.out):
        try:
            with open(a.out) as f:
                all_r = json.load(f)
        except ValueError:
            all_r = {}
    all_r.setdefault("runs", {})[label] = r
    with open(a.out, "w") as f:
        json.dump(all_r, f, indent=1)
        f.write("\n")
    print(summary(label, r))
    log(f"results under {label!r} in {a.out}")


if __name__ == "__main__":
    main()
