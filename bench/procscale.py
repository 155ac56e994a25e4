#!/usr/bin/python3
"""What per-process probes cost with many processes mapping libssl (issue 7).

    procscale.py [N ...]      (as root; default N = 1000 2000)

For each N, with the daemon running in its default mode (data probes per
process):
  1. N idle processes mapping libssl are forked (bench/procscale hold N);
     the daemon arms them up to --max-armed (64), the rest wait for a
     client connection. Reported: the daemon's file descriptors (2 links
     per armed process) and RSS, and kernel memory (Slab + Percpu +
     VmallocUsed from /proc/meminfo) with the N processes, with and without
     the daemon running.
  2. A traced process (bench/procscale pingpong) times rounds of 4 probed
     OpenSSL calls, with those N processes armed and with none: every probe
     hit walks the list of links on that function, one per armed process.
  3. The N processes exit; reported: time until the daemon's descriptors
     are back (detach).
The daemon sends its calls to a closed UDP port (nothing to measure there).
"""

import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAEMON = os.environ.get("BENCH_DAEMON", os.path.join(ROOT, "build", "metrist-orchestrator-ebpf-plugin"))
TOOL = os.path.join(ROOT, "build", "procscale")
ROUNDS = 20000


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":")
            out[k] = int(v.split()[0])
    return out["Slab"] + out["Percpu"] + out["VmallocUsed"]


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def wait_fds(pid, cond, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        n = nfds(pid)
        if cond(n):
            return time.monotonic() - t0, n
        time.sleep(0.01)
    return None, nfds(pid)


def pingpong():
    out = subprocess.run([TOOL, "pingpong", "2", str(ROUNDS)], capture_output=True, text=True,
                         check=True).stdout
    return float(out.split()[1])


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 2000]
    subprocess.run(["gcc", "-O2", "-o", TOOL, os.path.join(ROOT, "bench", "procscale.c"), "-lssl",
                    "-lcrypto"], check=True)
    untraced = pingpong()
    bare = {}
    for n in sizes:  # kernel memory of the N processes alone, no daemon
        m0 = meminfo()
        h = subprocess.Popen([TOOL, "hold", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        h.stdout.readline()
        time.sleep(1)
        bare[n] = meminfo() - m0
        h.stdin.close()
        h.wait()
        time.sleep(1)
    env = dict(os.environ, METRIST_ORCHESTRATOR_ENDPOINT="127.0.0.1:9")
    log = open("/tmp/procscale-daemon.log", "w+")  # a pipe nobody reads would block the daemon
    d = subprocess.Popen([DAEMON], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=log, text=True)
    try:
        time.sleep(2)
        base_fds, base_mem, base_rss = nfds(d.pid), meminfo(), rss_kb(d.pid)
        alone = pingpong()
        print("daemon: %d fds, RSS %d kB; pingpong %.0f ns/round untraced, %.0f traced "
              "(%.2f us per probed call)" % (base_fds, base_rss, untraced, alone,
                                            (alone - untraced) / 4000))
        for n in sizes:
            h = subprocess.Popen([TOOL, "hold", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
            t0 = time.monotonic()
            h.stdout.readline()
            took, fds = wait_fds(d.pid, lambda k: k >= base_fds + 2 * min(n, 64) - 2, 60)
            time.sleep(1)
            fds = nfds(d.pid)
            armed_after = time.monotonic() - t0
            mem, rss = meminfo(), rss_kb(d.pid)
            loaded = pingpong()
            # Idle for 10 s, all but --max-idle-procs (64) give their probes back.
            capped, fds_capped = wait_fds(d.pid, lambda k: k <= base_fds + 2 * 70, 60)
            after_cap = pingpong()
            h.stdin.close()
            t1 = time.monotonic()
            gone, fds_after = wait_fds(d.pid, lambda k: k <= base_fds + 2, 120)
            h.wait()
            print("N=%d: armed %d processes %.2f s after the fork loop started; daemon fds +%d, "
                  "RSS %d -> %d kB; kernel memory +%d kB (+%d kB without the daemon); pingpong "
                  "%.0f ns/round (+%.2f us per probed call vs. no other process armed); "
                  "idle cap: daemon fds +%d %.1f s later, pingpong %.0f ns/round (+%.2f us per "
                  "probed call); detached %.2f s after they were killed (%s)"
                  % (n, (fds - base_fds) // 2, armed_after, fds - base_fds,
                     base_rss, rss, mem - base_mem, bare[n], loaded,
                     (loaded - alone) / 4000, fds_capped - base_fds, capped if capped is not None else -1,
                     after_cap, (after_cap - alone) / 4000,
                     time.monotonic() - t1 if gone is not None else -1,
                     "ok" if gone is not None else "TIMEOUT fds=%d" % fds_after))
    finally:
        d.terminate()
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        log.seek(0)
        for line in log.read().splitlines():
            if "(exit)" in line:
                print(line)


if __name__ == "__main__":
    main()
