#!/usr/bin/env python3
"""Regression check against an earlier daemon, side by side in one run.

Run as root through `make bench-baseline BASELINE=<git rev>` (or:
BENCH_DAEMON=new BENCH_BASELINE_DAEMON=old bench/baseline.py).

Why this exists: the paced workload's added latency is a difference of two
means of ~50-150 us whose level moves between runs on this VM (the untraced
client's own mean has read 44-146 us in one day: how fast an idle vCPU wakes
is the host's business). A figure compared with a table written hours
earlier therefore says little about the daemon. Here the earlier daemon and
this one run on the same machine at the same time, interleaved (a o b,
a b o, a o b, ...: the order of o and b alternates, so that a drift within a
repetition favours neither), with the same load generators and nginx as
`make bench` (bench/bench.py's Bench does the runs), and each repetition is
compared with its own neighbours.

Configs:  a  no tracing
          o  the baseline daemon as installed (its default arguments)
          b  this daemon as installed
Workloads: the ones both daemons handle in the same way (HTTP/1 over the
system's OpenSSL): ka, close, srv (server side only; nothing should trap),
paced (added latency of one request).

Figures per workload and config: medians over the repetitions of requests/s,
client latency (paced: mean per request; closed loops: Little's law), CPU
of all processes per request, the daemon's own CPU per request, its BPF
programs' runs and run time per request (kernel.bpf_stats_enabled on for
every run, a included: two clock reads per program run), its peak RSS and
BPF map memory, calls captured.

Verdicts compare b with o, paired by repetition (the median of b - o over
the repetitions, and in how many b was above o):
  - what the daemon itself does per request: probe hits (program runs), BPF
    run time, daemon CPU; limit: 0.05 hits, or 10 % of o's figure or
    0.5 us, whichever is larger;
  - the end-to-end figure the targets use (paced: added latency; closed
    loops: added CPU per request), which the VM's noise moves by tens of us
    between runs; limit: 10 % of o's added figure or 2 us.
"no regression" when the paired median is within the limit; "regression"
when b was above o by more than the limit in every repetition (a sign
test: 5 of 5 by chance once in 32) and a second pass of that workload
(another 5 repetitions) says so again; else "within noise", with the paired
differences shown. (With 16 verdicts a run, the same test once would find a
fluke in about 2 runs of 5; in two passes in a row, about 1 run in 80.)

Writes bench/baseline-results.json and the section between the
baseline:begin/baseline:end markers in BENCHMARKS.md.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys

import bench

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKLOADS = ["ka", "close", "srv", "paced"]
CONFIGS = ["a", "o", "b"]
STATS = "/proc/sys/kernel/bpf_stats_enabled"
FIGURES = ("rps", "little_latency_us", "p99_us", "cpu_us_per_req", "tracer_cpu_us_per_req",
           "prog_runs_per_req", "bpf_us_per_req", "tracer_rss_hwm_kb", "tracer_map_bytes",
           "captured_pct")
TOLERANCE, TOLERANCE_US = 0.10, 2.0
# What the daemon itself does per request: (key, label, absolute tolerance,
# relative tolerance); the larger of the two applies.
OWN_FIGURES = (("prog_runs_per_req", "probe hits/req", 0.05, 0),
               ("bpf_us_per_req", "BPF µs/req", 0.5, TOLERANCE),
               ("tracer_cpu_us_per_req", "daemon CPU µs/req", 0.5, TOLERANCE))


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def judge(diffs, limit, **figure):
    """b - o per repetition against limit: no regression when the median is
    within it; a regression when every repetition is above it (a sign test:
    5 of 5 by chance once in 32); else within noise."""
    above = sum(d > limit for d in diffs)
    if not diffs:
        verdict = "n/a"
    elif median(diffs) <= limit:
        verdict = "no regression"
    elif above == len(diffs):
        verdict = "regression"
    else:
        verdict = "within noise"
    return dict(figure, paired_diff=median(diffs), paired_diffs=diffs, limit=limit,
                above=above, reps=len(diffs), verdict=verdict)


class Baseline(bench.Bench):
    def __init__(self, args):
        super().__init__(args)
        self.new = {"path": self.daemon, "help": self.help_text, "args": self.b_args}
        old = f"{self.tmp}/daemon-baseline-under-test"
        shutil.copy(os.path.abspath(args.baseline), old)
        help_text = subprocess.run([old, "--help"], capture_output=True, text=True).stdout
        # As installed: the daemon's defaults, but an old one that had
        # per-process probes only behind a flag gets the flag (as bench.py's b).
        old_args = (["--per-process-probes"] if "--per-process-probes" in help_text
                    and "--system-wide-probes" not in help_text else [])
        self.old = {"path": old, "help": help_text, "args": old_args}
        self.baseline_rev = args.baseline_rev
        self.tracer = None

    def use(self, daemon):
        self.daemon, self.help_text, self.b_args = daemon["path"], daemon["help"], daemon["args"]

    def start_daemon(self, errfile, args=()):
        self.tracer = super().start_daemon(errfile, args)
        return self.tracer

    def run_load(self, workload, dur):
        """The load, with the daemon's BPF program statistics around it."""
        tracer, self.tracer = self.tracer, None
        s0 = self.daemon_prog_stats(tracer.pid) if tracer else None
        r = super().run_load(workload, dur)
        s1 = self.daemon_prog_stats(tracer.pid) if tracer else None
        if s0 and s1:
            r["prog_runs_per_req"] = (s1[0] - s0[0]) / r["requests"]
            r["bpf_us_per_req"] = (s1[1] - s0[1]) / r["requests"] / 1000
        return r

    def run_config(self, w, c, rep):
        self.use(self.old if c == "o" else self.new)
        self.tracer = None
        r = self.measured_run(w, "a" if c == "a" else "b", rep)
        r["config"] = c
        return r

    def run(self):
        self.setup()
        self.results["machine"] = self.machine()
        self.results["machine"]["baseline_version"] = subprocess.run(
            [self.old["path"], "--version"], capture_output=True, text=True).stdout.strip()
        self.results["machine"]["baseline_rev"] = self.baseline_rev
        self.results["params"] = {"duration_s": self.dur, "reps": self.reps, "connections": self.conns,
                                  "baseline_args": self.old["args"], "daemon_args": self.new["args"]}
        was = open(STATS).read().strip()
        try:
            open(STATS, "w").write("1")
            self.repetitions(WORKLOADS, range(1, self.reps + 1))
            # A workload with a figure judged a regression runs a second,
            # confirmation pass: with 16 verdicts a run, one 1-in-32 fluke
            # is likely; two in a row are not.
            first = self.summary()
            flagged = [w for w in WORKLOADS
                       if any(v["verdict"] == "regression" for v in first[w]["verdicts"].values())]
            if flagged:
                bench.log(f"confirmation pass for {', '.join(flagged)}")
                self.repetitions(flagged, range(self.reps + 1, 2 * self.reps + 1))
        finally:
            open(STATS, "w").write(was)
        self.results["summary"] = self.summary()
        md = self.table()
        print("\n" + md)
        with open(f"{HERE}/baseline-results.json", "w") as f:
            json.dump(self.results, f, indent=1)
        self.update_section(md)

    def repetitions(self, workloads, reps):
        for rep in reps:
            for w in workloads:
                for c in (CONFIGS if rep % 2 else ["a", "b", "o"]):
                    self.run_config(w, c, rep)

    def runs(self, w, c, reps=None):
        return sorted((r for r in self.results["runs"] if r["workload"] == w and r["config"] == c
                       and (reps is None or r["rep"] in reps)), key=lambda r: r["rep"])

    def paired(self, w, key, reps, base=None):
        """{config: {rep: value}} for o and b in repetitions reps, minus a's
        value of the same repetition when base (the added figure)."""
        a = {r["rep"]: r.get(key) for r in self.runs(w, "a", reps)}
        out = {}
        for c in ("o", "b"):
            out[c] = {r["rep"]: r.get(key) - (a[r["rep"]] if base else 0) for r in self.runs(w, c, reps)
                      if r.get(key) is not None and (not base or a.get(r["rep"]) is not None)}
        reps = sorted(set(out["o"]) & set(out["b"]))
        return out, [out["b"][i] - out["o"][i] for i in reps]

    def summary(self):
        """Medians over every repetition; verdicts from the first pass, and
        from the confirmation pass where one ran."""
        summ = {}
        for w in WORKLOADS:
            summ[w] = {c: {k: median([r.get(k) for r in self.runs(w, c)]) for k in FIGURES}
                       for c in CONFIGS}
            for c in ("o", "b"):
                summ[w][c]["lost"] = sum(r.get("lost") or 0 for r in self.runs(w, c))
                summ[w][c]["requests"] = sum(r["requests"] for r in self.runs(w, c))
            first = self.verdicts(w, set(range(1, self.reps + 1)))
            second = self.verdicts(w, set(range(self.reps + 1, 2 * self.reps + 1)))
            for key, v in first.items():
                v2 = second.get(key)
                v["confirmation"] = v2 if v2 and v2["reps"] else None
                v["final"] = v["verdict"]
                if v["verdict"] == "regression" and v["confirmation"]:
                    v["final"] = ("regression" if v2["verdict"] == "regression"
                                  else "within noise (not confirmed)")
            summ[w]["verdicts"] = first
        return summ

    def verdicts(self, w, reps):
        """{figure: verdict} for workload w over repetitions reps: what the
        daemon itself does per request, and the end-to-end figure."""
        out = {}
        for key, label, tol, rel in OWN_FIGURES:
            vals, diffs = self.paired(w, key, reps)
            o = median(vals["o"].values())
            out[key] = judge(diffs, max(rel * abs(o or 0), tol), label=label, o=o,
                             b=median(vals["b"].values()))
        # The end-to-end figure the targets use: added latency (paced) or
        # added CPU per request (closed loops), each against its own a.
        key = "little_latency_us" if w in bench.PACED else "cpu_us_per_req"
        vals, diffs = self.paired(w, key, reps, base=True)
        o = median(vals["o"].values())
        out["end_to_end"] = judge(diffs, max(TOLERANCE * abs(o or 0), TOLERANCE_US),
                                  label="added latency µs/req" if w in bench.PACED else "added CPU µs/req",
                                  o=o, b=median(vals["b"].values()))
        return out

    def table(self):
        m, p, summ = self.results["machine"], self.results["params"], self.results["summary"]

        def f(v, fmt="{:.1f}"):
            return "–" if v is None else fmt.format(v)
        L = [f"Machine: {m['cpu_model']}, {m['nproc']} vCPU, kernel {m['kernel']}, "
             f"rcu_expedited {m.get('rcu_expedited') or '?'}; date {m['date']}; "
             f"this daemon {m['daemon_version']} (git {m['git']}); baseline {m['baseline_version']} "
             f"(git {m['baseline_rev']}, arguments: {' '.join(p['baseline_args']) or '(none)'}).",
             f"Run: {p['reps']} repetitions x {p['duration_s']} s, configs interleaved a o b / a b o "
             "per workload (`make bench-baseline`, bench/baseline.py).", "",
             "| workload | config | req/s | latency µs | p99 µs | CPU µs/req | daemon CPU µs/req | "
             "probe hits/req | BPF µs/req | daemon RSS peak kB | BPF maps KiB | captured % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        names = {"a": "a no tracing", "o": "o baseline", "b": "b this daemon"}
        for w in WORKLOADS:
            for c in CONFIGS:
                s = summ[w][c]
                maps = s["tracer_map_bytes"] / 1024 if s["tracer_map_bytes"] else None
                L.append(f"| {w} | {names[c]} | {f(s['rps'], '{:.0f}')} | {f(s['little_latency_us'])} | "
                         f"{f(s['p99_us'], '{:.0f}')} | {f(s['cpu_us_per_req'])} | "
                         f"{f(s['tracer_cpu_us_per_req'])} | {f(s['prog_runs_per_req'], '{:.2f}')} | "
                         f"{f(s['bpf_us_per_req'], '{:.2f}')} | {f(s['tracer_rss_hwm_kb'], '{:.0f}')} | "
                         f"{f(maps, '{:.0f}')} | {f(s['captured_pct'], '{:.2f}')} |")
        def verdict(v):
            text = v["final"] if v["final"] != "regression" else "**regression**"
            text += f" (limit +{v['limit']:.2f})"
            c = v["confirmation"]
            if c:
                text += (f"; second pass: {c['paired_diff']:+.2f}, {c['above']}/{c['reps']} above, "
                         f"{c['verdict']}")
            return text
        L += ["", "What the daemon itself does per request (b - o paired by repetition: median, "
              "repetitions with b above o by more than the limit):", "",
              "| workload | figure | o | b | b - o | above | verdict |", "|---|---|---|---|---|---|---|"]
        for w in WORKLOADS:
            for key, *_ in OWN_FIGURES:
                v = summ[w]["verdicts"][key]
                L.append(f"| {w} | {v['label']} | {f(v['o'], '{:.2f}')} | {f(v['b'], '{:.2f}')} | "
                         f"{f(v['paired_diff'], '{:+.2f}')} | {v['above']}/{v['reps']} | {verdict(v)} |")
        L += ["", "End to end (the figure the targets use, each repetition against its own a):", "",
              "| workload | figure | o - a | b - a | b - o, paired median (per repetition) | above | "
              "verdict | calls lost o / b (of requests) |", "|---|---|---|---|---|---|---|---|"]
        for w in WORKLOADS:
            v, so, sb = summ[w]["verdicts"]["end_to_end"], summ[w]["o"], summ[w]["b"]
            per = ", ".join(f"{d:+.1f}" for d in v["paired_diffs"])
            lost = (f"{so['lost']} / {sb['lost']} (of {so['requests']} / {sb['requests']})"
                    if w != "srv" else "– (no client traced)")
            L.append(f"| {w} | {v['label']} | {f(v['o'])} | {f(v['b'])} | "
                     f"{f(v['paired_diff'], '{:+.1f}')} ({per}) | {v['above']}/{v['reps']} | "
                     f"{verdict(v)} | {lost} |")
        return "\n".join(L) + "\n"

    def update_section(self, md):
        path = f"{ROOT}/BENCHMARKS.md"
        text = open(path).read()
        a, b = "<!-- baseline:begin -->", "<!-- baseline:end -->"
        if a in text and b in text:
            pre, rest = text.split(a, 1)
            open(path, "w").write(pre + a + "\n" + md + b + rest.split(b, 1)[1])
            bench.log("updated the baseline section in BENCHMARKS.md")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", default=os.environ.get(
        "BENCH_DAEMON", f"{ROOT}/build/metrist-orchestrator-ebpf-plugin"))
    ap.add_argument("--baseline", default=os.environ.get("BENCH_BASELINE_DAEMON"))
    ap.add_argument("--baseline-rev", default=os.environ.get("BASELINE", "?"))
    ap.add_argument("--quick", action="store_true", default=os.environ.get("BENCH_QUICK") == "1")
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_DURATION", 0)) or 10)
    ap.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 0)) or 5)
    args = ap.parse_args()
    if not args.baseline:
        sys.exit("bench-baseline: set BENCH_BASELINE_DAEMON (make bench-baseline BASELINE=<rev> does)")
    if os.geteuid() != 0:
        sys.exit("bench-baseline: run as root (eBPF)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.duration, args.reps = 3, 2
    bench.run_and_clean_up(Baseline(args))


if __name__ == "__main__":
    main()
