#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns one bench run directory into report.json, report.md and PNG plots.

  report.py RESULTS_DIR

Reads raw.tsv (scenario, topology, metric, unit, repetition, value), na.tsv
(scenario, topology, metric, reason), failures.tsv, config.json and the CNI
latency samples in data/. Every ratio is the median of per-repetition ratios
against the floor measured in the same repetition; [min-max] are the extremes
over the repetitions.
"""
import collections
import csv
import json
import os
import platform
import re
import statistics
import subprocess
import sys

# The names report.json carries (issue 5); anything else stays in report.md.
JSON_METRICS = ["rr", "crr", "throughput-1", "throughput-4", "add-p50", "add-p99", "del-p50", "del-p99",
                "policy-update-p99", "rss", "pkt-ns", "drop-mpps"]
DP_SCENARIOS = ["datapath-same-node", "datapath-cross-node", "datapath-vpc-host"]
TOPO_ORDER = ["floor", "kernel-routing", "bridge", "bridge-conntrack", "sluice", "sluice-policy"]
# Higher is better for these; lower for latencies, memory and ns.
HIGHER_BETTER = {"rr", "crr", "throughput-1", "throughput-4", "drop-mpps"}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    osname = ""
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
            osname = m.group(1) if m else ""
    pkg = lambda p: sh("dpkg-query -W -f='${Version}' %s 2>/dev/null" % p)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "memory_gib": round(mem, 1),
        "os": osname,
        "virtualization": ", ".join(x for x in (
            "vm: " + (sh("dmesg 2>/dev/null | sed -n 's/.*Hypervisor detected: //p' | head -1") or
                      sh("systemd-detect-virt --vm 2>/dev/null") or "none"),
            "container: " + (sh("systemd-detect-virt --container 2>/dev/null") or "none")) if x),
        "clocksource": sh("cat /sys/devices/system/clocksource/clocksource0/current_clocksource"),
        "iperf3": pkg("iperf3"),
        "iptables": pkg("iptables"),
        "containernetworking_plugins": pkg("containernetworking-plugins"),
        "libbpf": pkg("libbpf1"),
    }


def commit(top):
    rev = sh("git -C %s rev-parse HEAD" % top) or "unknown"
    dirty = sh("git -C %s status --porcelain --untracked-files=no" % top)
    return rev + ("+dirty" if dirty else "")


def read_tsv(path, ncols):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(r) >= ncols:
                    rows.append(r[:ncols - 1] + ["\t".join(r[ncols - 1:])])
    return rows


class Results:
    def __init__(self, raw):
        self.v = collections.defaultdict(dict)  # (scen, topo, metric) -> {rep: value}
        self.unit = {}
        for scen, topo, metric, unit, rep, value in raw:
            try:
                self.v[(scen, topo, metric)][int(rep)] = float(value)
            except ValueError:
                continue
            self.unit[(scen, topo, metric)] = unit
        # The floor is measured once per repetition and belongs to every
        # traffic scenario: copy it in, so each scenario's ratios stand alone.
        floor = {k[2]: v for k, v in self.v.items() if k[0] == "floor"}
        for scen in set(k[0] for k in self.v) - {"floor"}:
            if not (scen in DP_SCENARIOS or scen == "policy-scaling"):
                continue
            metrics = set(k[2] for k in self.v if k[0] == scen)
            for m in metrics:
                if m in floor:
                    self.v[(scen, "floor", m)] = dict(floor[m])
                    self.unit[(scen, "floor", m)] = self.unit[("floor", "floor", m)]
        for k in [k for k in self.v if k[0] == "floor"]:
            del self.v[k]

    def has(self, scen, topo, metric):
        return bool(self.v.get((scen, topo, metric)))

    def agg(self, scen, topo, metric):
        vals = list(self.v.get((scen, topo, metric), {}).values())
        if not vals:
            return None
        return statistics.median(vals), min(vals), max(vals), len(vals)

    def paired(self, scen, topo, metric, base_scen, base_topo):
        """Median [min, max] of per-repetition value / base value."""
        a, b = self.v.get((scen, topo, metric), {}), self.v.get((base_scen, base_topo, metric), {})
        r = [a[i] / b[i] for i in a if i in b and b[i]]
        if not r:
            return None
        return statistics.median(r), min(r), max(r)

    def ratio(self, scen, topo, metric):
        return self.paired(scen, topo, metric, scen, "floor")


def fmt(x, metric=""):
    if x is None:
        return "n/a"
    if abs(x) >= 100 and x == int(x):
        return "%d" % x
    if abs(x) >= 1000:
        return "%.0f" % x
    if abs(x) >= 100:
        return "%.1f" % x
    if abs(x) >= 10:
        return "%.2f" % x
    return "%.3g" % x


def cell(a):
    if a is None:
        return "n/a"
    med, lo, hi = a[0], a[1], a[2]
    if lo == hi:
        return fmt(med)
    return "%s [%s–%s]" % (fmt(med), fmt(lo), fmt(hi))


def rcell(r):
    if r is None:
        return "n/a"
    return "%.2f [%.2f–%.2f]" % r


# --- report.json -----------------------------------------------------------------

def build_json(res, cfg, top):
    rows = []
    for (scen, topo, metric), vals in sorted(res.v.items()):
        if metric not in JSON_METRICS or not vals:
            continue
        med, lo, hi, _ = res.agg(scen, topo, metric)
        r = res.ratio(scen, topo, metric) if res.has(scen, "floor", metric) else None
        rows.append({"scenario": scen, "topology": topo, "metric": metric, "unit": res.unit[(scen, topo, metric)],
                     "median": round(med, 4), "min": round(lo, 4), "max": round(hi, 4),
                     "ratio_vs_floor": round(r[0], 4) if r else None})
    return {"commit": cfg.get("commit") or commit(top), "machine": machine(), "repeats": cfg["repeats"], "results": rows}


# --- goals ---------------------------------------------------------------------------

def verdict(r, target, higher=True):
    """met / missed / within noise (G13: fail only if the median misses and the range does not reach)."""
    if r is None:
        return None
    med, lo, hi = r[0], r[1], r[2]
    ok = med >= target if higher else med <= target
    if ok:
        return "met"
    reach = hi >= target if higher else lo <= target
    return "missed (range reaches the target: within noise)" if reach else "missed"


def goals(res, na_reason, cni_pods):
    out = []

    def row(goal, target, meas, v, note=""):
        out.append((goal, target, meas, v or "pending", note))

    sp = "datapath-same-node"
    for metric, target, name in (("rr", 0.95, "Sluice-with-policy RR, same node"),
                                 ("crr", 0.90, "Sluice-with-policy CRR, same node")):
        r = res.ratio(sp, "sluice-policy", metric)
        r0 = res.ratio(sp, "sluice", metric)
        note = "" if r else "pending: %s. Sluice without policy: %s" % (
            na_reason(sp, "sluice-policy", metric), rcell(r0))
        row(name, "≥ %.2f× floor" % target, rcell(r), verdict(r, target), note)
    r = res.paired(sp, "sluice-policy", "rr", sp, "kernel-routing")
    r0 = res.paired(sp, "sluice", "rr", sp, "kernel-routing")
    row("RR vs kernel routing, same node", "≥ 1.12×", rcell(r), verdict(r, 1.12),
        "" if r else "pending (policy). Sluice without policy: %s, %s" % (rcell(r0), verdict(r0, 1.12) or "n/a"))
    for metric in ("rr", "crr"):
        r = res.paired("policy-scaling", "sluice-policy-10000", metric, "policy-scaling", "sluice-policy-0")
        ri = res.paired("policy-scaling", "iptables-10000", metric, "policy-scaling", "iptables-0")
        row("10k rules vs 0 rules, %s" % metric.upper(), "≥ 0.97×", rcell(r), verdict(r, 0.97),
            ("" if r else "pending: %s. " % na_reason("policy-scaling", "sluice-policy-10000", metric)) +
            "iptables-nft: %s" % rcell(ri))
    for metric, target in (("add-p50", 10), ("add-p99", 20)):
        a = res.agg("cni-sequential", "sluice", metric)
        row("CNI ADD %s, %s sequential" % (metric[4:], cni_pods), "≤ %d ms" % target, cell(a) + " ms" if a else "n/a",
            verdict(a, target, higher=False),
            "with a policy selecting the pods: %s ms; bridge+host-local: %s ms; exec floor %s ms" % (
                cell(res.agg("cni-sequential", "sluice-policy", metric)),
                cell(res.agg("cni-sequential", "bridge", metric)), cell(res.agg("cni-sequential", "floor", metric))))
    a = res.agg("policy-update", "sluice-policy-1000", "policy-update-p99")
    row("policy update p99 (1k rules)", "≤ 50 ms", cell(a) + " ms" if a else "n/a", verdict(a, 50, higher=False),
        ("" if a else "pending: %s. " % na_reason("policy-update", "sluice-policy-1000", "policy-update-p99")) +
        "iptables-nft at 1k rules: %s ms" % cell(res.agg("policy-update", "iptables-1000", "policy-update-p99")))
    a = res.agg("footprint-1000-endpoints", "sluice", "rss")
    row("agent RSS at 1k endpoints", "≤ 32 MiB", cell(a) + " MiB" if a else "n/a", verdict(a, 32, higher=False),
        "" if a else na_reason("footprint-1000-endpoints", "sluice", "rss"))
    return out


# --- plots ---------------------------------------------------------------------------

def gnuplot(outdir, name, script):
    path = os.path.join(outdir, "data", name + ".gp")
    with open(path, "w") as f:
        f.write(script)
    r = subprocess.run(["gnuplot", path], capture_output=True, text=True, cwd=outdir)
    if r.returncode:
        print("report: gnuplot %s: %s" % (name, r.stderr.strip()[-500:]), file=sys.stderr)
        return False
    return True


def plot_ratios(res, outdir):
    scens = [s for s in DP_SCENARIOS if any(k[0] == s for k in res.v)]
    if not scens:
        return None
    names = {"rr": "RR", "crr": "CRR", "throughput-1": "throughput 1 stream", "throughput-4": "throughput 4 streams"}
    metrics = [m for m in names if any(k[2] == m and k[0] in scens for k in res.v)]
    panels = []
    for s in scens:
        topos = [t for t in TOPO_ORDER if any(res.has(s, t, m) for m in metrics)]
        dat = os.path.join(outdir, "data", "ratios-%s.dat" % s)
        with open(dat, "w") as f:
            for t in topos:
                cols = []
                for m in metrics:
                    r = res.ratio(s, t, m) if res.has(s, t, m) else None
                    cols += ["%.4f %.4f %.4f" % r if r else "NaN NaN NaN"]
                f.write('"%s" %s\n' % (t, " ".join(cols)))
        panels.append((s, dat))
    script = ['set terminal pngcairo size 1100,%d font "sans,10"' % (330 * len(panels)),
              'set output "ratios.png"', 'set multiplot layout %d,1' % len(panels),
              'set style data histogram', 'set style histogram errorbars gap 2 lw 1',
              'set style fill solid 0.7 border -1', 'set boxwidth 0.9', 'set grid ytics',
              'set yrange [0:*]', 'set ylabel "ratio vs floor (median, min-max)"', 'set key outside right top',
              'set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc rgb "black"']
    for s, dat in panels:
        curves = ['"%s" using %d:%d:%d%s title "%s"' % (dat if i == 0 else "", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i,
                                                       ":xtic(1)" if i == 0 else "", names[m])
                  for i, m in enumerate(metrics)]
        script += ['set title "%s: ratio to the one-veth floor, same repetition (K repeats)"' % s,
                   "plot " + ", ".join(curves)]
    script.append("unset multiplot")
    return "ratios.png" if gnuplot(outdir, "ratios", "\n".join(script) + "\n") else None


def plot_policy(res, counts, outdir):
    counts = [c for c in counts if any(res.has("policy-scaling", "%s-%s" % (e, c), m)
                                       for e in ("iptables", "sluice-policy") for m in ("rr", "pkt-ns"))]
    if not counts:
        return None
    dat = os.path.join(outdir, "data", "policy-scaling.dat")
    with open(dat, "w") as f:
        f.write("# rules iptables-rr lo hi sluice-rr lo hi iptables-crr lo hi sluice-crr lo hi\n")
        for i, c in enumerate(counts):
            cols = []
            for m in ("rr", "crr"):
                for e in ("iptables", "sluice-policy"):
                    r = res.ratio("policy-scaling", "%s-%s" % (e, c), m)
                    cols.append("%.4f %.4f %.4f" % r if r else "NaN NaN NaN")
            f.write('%d "%s" %s\n' % (i, c, " ".join(cols)))
    script = ['set terminal pngcairo size 1100,450 font "sans,10"', 'set output "policy-scaling.png"',
              'set multiplot layout 1,2', 'set grid', 'set yrange [0:*]', 'set xlabel "rules in force for the server"',
              'set ylabel "ratio vs floor (median, min-max)"', 'set key bottom left', 'set offsets 0.3,0.3,0,0']
    for m, c1 in (("RR", 3), ("CRR", 9)):
        script += ['set title "Policy scaling, %s: iptables-nft vs Sluice"' % m,
                   'plot "%s" using 1:%d:%d:%d:xtic(2) with yerrorlines lw 2 title "iptables-nft (ct shortcut)", '
                   '"" using 1:%d:%d:%d with yerrorlines lw 2 title "Sluice policy"' %
                   (dat, c1, c1 + 1, c1 + 2, c1 + 3, c1 + 4, c1 + 5)]
    pk = [c for c in counts if res.has("policy-scaling", "sluice-policy-%s" % c, "pkt-ns")]
    if pk:
        dat2 = os.path.join(outdir, "data", "pktcost.dat")
        figs = ("pkt-ns-from_pod-new", "pkt-ns-from_pod-denied", "pkt-ns-from_pod-established")
        with open(dat2, "w") as f:
            for i, c in enumerate(counts):
                vals = [res.agg("policy-scaling", "sluice-policy-%s" % c, x) for x in figs]
                f.write('%d "%s" %s\n' % (i, c, " ".join("%.1f" % v[0] if v else "NaN" for v in vals)))
        script[2] = 'set multiplot layout 1,3'
        script[0] = 'set terminal pngcairo size 1500,450 font "sans,10"'
        script += ['set title "Sluice policy path: sl-pktcost, BPF_PROG_TEST_RUN" noenhanced', 'set ylabel "ns per packet"',
                   'set key top left',
                   'plot "%s" using 1:3:xtic(2) with linespoints lw 2 title "first packet (new)", '
                   '"" using 1:4 with linespoints lw 2 title "denied", '
                   '"" using 1:5 with linespoints lw 2 title "established"' % dat2]
    script.append("unset multiplot")
    return "policy-scaling.png" if gnuplot(outdir, "policy-scaling", "\n".join(script) + "\n") else None


def plot_cdf(outdir):
    curves = []
    for scen, dash in (("cni-sequential", 1), ("cni-parallel-8", 2)):
        for topo in ("floor", "bridge", "sluice", "sluice-policy"):
            src = os.path.join(outdir, "data", "cni-%s-%s-ADD.txt" % (scen, topo))
            if not os.path.exists(src):
                continue
            with open(src) as f:
                xs = sorted(float(l.split()[1]) for l in f if l.strip())
            if not xs:
                continue
            dat = os.path.join(outdir, "data", "cdf-%s-%s.dat" % (scen, topo))
            with open(dat, "w") as f:
                for i, x in enumerate(xs):
                    f.write("%.4f %.5f\n" % (x, (i + 1) / len(xs)))
            curves.append('"%s" using 1:2 with lines lw 2 dt %d title "%s, %s"' % (
                dat, dash, topo, "sequential" if dash == 1 else "8 in parallel"))
    if not curves:
        return None
    script = ['set terminal pngcairo size 900,500 font "sans,10"', 'set output "cni-add-cdf.png"',
              'set title "CNI ADD latency, CDF over all repetitions (wall time of the plugin exec)"',
              'set logscale x', 'set grid', 'set xlabel "ms"', 'set ylabel "fraction of ADDs"',
              'set yrange [0:1]', 'set key bottom right', 'plot ' + ", ".join(curves)]
    return "cni-add-cdf.png" if gnuplot(outdir, "cni-add-cdf", "\n".join(script) + "\n") else None


# --- report.md -----------------------------------------------------------------------

def write_md(outdir, res, cfg, js, na, failures, plots):
    L = []
    w = L.append
    m = js["machine"]
    w("# Sluice bench report: %s" % os.path.basename(outdir))
    w("")
    w("Commit `%s`. %s, %d cores, kernel %s, %s GiB, %s (%s), clocksource %s." % (
        js["commit"], m["cpu"], m["cores"], m["kernel"], m["memory_gib"], m["os"], m["virtualization"],
        m["clocksource"]))
    w("iperf3 %s, iptables %s (nft backend), containernetworking-plugins %s, libbpf %s." % (
        m["iperf3"], m["iptables"], m["containernetworking_plugins"], m["libbpf"]))
    w("")
    w("Run: scenarios `%s`%s; K = %d interleaved repetitions; RR/CRR %ss per measurement, iperf3 %ss "
      "(+1 s omitted) in the first %s repetitions; client and server pinned to CPU 0 (taskset)%s." % (
          cfg["scenarios"], " (QUICK)" if cfg.get("quick") else "", cfg["repeats"], cfg["rr_seconds"],
          cfg["iperf_seconds"], cfg.get("throughput_repeats", cfg["repeats"]),
          ", RR/CRR and the drop generator as SCHED_FIFO (other work on the machine cannot preempt a "
          "transaction)" if cfg.get("realtime") else ""))
    w("")
    w("**How to read.** Each cell is the median over the K repetitions and [min–max]. A ratio is the median of "
      "per-repetition ratios against the floor (one veth pair) measured in the same repetition, so drift "
      "between repetitions cancels. On this machine class RR ratios reproduce within about ±0.03, CRR about "
      "±0.1; throughput swings ±20% and is reported, not gated. n/a rows are listed under *Not available* "
      "with the reason.")
    w("")

    # Datapath
    for s in DP_SCENARIOS:
        topos = [t for t in TOPO_ORDER if any(res.has(s, t, x) for x in ("rr", "crr"))]
        if not topos:
            continue
        w("## %s" % s)
        w("")
        tputs = [(mm, h) for mm, h in (("throughput-1", "1 stream"), ("throughput-4", "4 streams"))
                 if any(res.has(s, t, mm) for t in topos)]
        w("| topology | RR trans/s | RR ratio | RR p50 / p99 µs | CRR conn/s | CRR ratio | CRR p50 / p99 µs |" +
          "".join(" %s Gbit/s | ratio |" % h for _, h in tputs))
        w("|---|---|---|---|---|---|---|" + "---|---|" * len(tputs))
        for t in topos:
            def lat(metric):
                a, b = res.agg(s, t, metric + "-lat-p50"), res.agg(s, t, metric + "-lat-p99")
                return "%s / %s" % (fmt(a[0]) if a else "n/a", fmt(b[0]) if b else "n/a")
            w("| %s | %s | %s | %s | %s | %s | %s |" % (
                t, cell(res.agg(s, t, "rr")), rcell(res.ratio(s, t, "rr")), lat("rr"),
                cell(res.agg(s, t, "crr")), rcell(res.ratio(s, t, "crr")), lat("crr")) +
              "".join(" %s | %s |" % (cell(res.agg(s, t, mm)), rcell(res.ratio(s, t, mm))) for mm, _ in tputs))
        w("")
        pairs = [(a, b) for a in ("sluice", "sluice-policy") for b in ("kernel-routing", "bridge", "bridge-conntrack")
                 if res.has(s, a, "rr") and res.has(s, b, "rr")]
        if pairs:
            w("Paired per repetition: " + "; ".join(
                "%s / %s RR %s, CRR %s" % (a, b, rcell(res.paired(s, a, "rr", s, b)),
                                           rcell(res.paired(s, a, "crr", s, b))) for a, b in pairs) + ".")
            w("")

    # Policy scaling
    counts = cfg["policy_counts"].split()
    if any(k[0] == "policy-scaling" for k in res.v) or any(r[0] == "policy-scaling" for r in na):
        w("## policy-scaling")
        w("")
        w("iptables-N: kernel-routing pod→node→pod with an iptables-nft FORWARD policy laid out as policy engines "
          "do it: `ESTABLISHED,RELATED` accept first, then N rules that never match (`-s 10.250.x.y/32 --dport "
          "9999`), then the rule allowing the client, default DROP (so only the first packet of a connection "
          "walks the rules). sluice-policy-N: the Sluice server pod selected by a NetworkPolicy of N ipBlock "
          "rules that never match plus one allowing the client. Ratios vs floor, and vs N = 0 of the same "
          "engine (paired per repetition).")
        w("")
        w("| topology | RR trans/s | ratio vs floor | vs N=0 | CRR conn/s | ratio vs floor | vs N=0 | pkt ns |")
        w("|---|---|---|---|---|---|---|---|")
        for e in ("iptables", "sluice-policy"):
            for c in counts:
                t = "%s-%s" % (e, c)
                if not (res.has("policy-scaling", t, "rr") or res.has("policy-scaling", t, "pkt-ns")):
                    continue
                w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    t, cell(res.agg("policy-scaling", t, "rr")), rcell(res.ratio("policy-scaling", t, "rr")),
                    rcell(res.paired("policy-scaling", t, "rr", "policy-scaling", "%s-0" % e)),
                    cell(res.agg("policy-scaling", t, "crr")), rcell(res.ratio("policy-scaling", t, "crr")),
                    rcell(res.paired("policy-scaling", t, "crr", "policy-scaling", "%s-0" % e)),
                    cell(res.agg("policy-scaling", t, "pkt-ns"))))
        w("")
        figs = sorted(set(k[2][len("pkt-ns-"):] for k in res.v if k[0] == "policy-scaling" and k[2].startswith("pkt-ns-")))
        if figs:
            w("Per-packet cost of the Sluice programs from `sl-pktcost` (BPF_PROG_TEST_RUN on the production "
              "objects, ns per run; `new` = first packet of an allowed connection, what `pkt ns` above shows; "
              "`denied` = a packet the policy drops; `established_1run` = a known connection's packet timed "
              "one run per call like `new`):")
            w("")
            w("| rules | trie entries | " + " | ".join(figs) + " |")
            w("|---|---|" + "---|" * len(figs))
            for c in counts:
                t = "sluice-policy-%s" % c
                if res.has("policy-scaling", t, "pkt-ns"):
                    w("| %s | %s | %s |" % (c, cell(res.agg("policy-scaling", t, "trie-entries")),
                                            " | ".join(cell(res.agg("policy-scaling", t, "pkt-ns-" + f)) for f in figs)))
            w("")
        progs = sorted(set(k[1] for k in res.v if k[0] == "program-size"))
        if progs:
            w("Program sizes (instructions after verification rewrite / processed by the verifier): " + "; ".join(
                "`%s` %s / %s" % (p, fmt(res.agg("program-size", p, "xlated-insns")[0]),
                                  fmt(res.agg("program-size", p, "verified-insns")[0])) for p in progs) + ".")
            w("")
        base = res.agg("policy-scaling", "iptables-0", "crr")
        for c in counts:
            a = res.agg("policy-scaling", "iptables-%s" % c, "crr")
            if c != "0" and a and base:
                per_conn_us = (1 / a[0] - 1 / base[0]) * 1e6
                if per_conn_us > 0.5:
                    w("- iptables-%s: +%.1f µs per connection over iptables-0 (the SYN walks %s rules: %.1f ns per "
                      "rule)." % (c, per_conn_us, c, per_conn_us * 1000 / int(c)))
                else:
                    w("- iptables-%s: no cost over iptables-0 measurable in CRR." % c)
        w("")
    if any(k[0] == "policy-update" for k in res.v) or any(r[0] == "policy-update" for r in na):
        w("## policy-update")
        w("")
        w("A prober in the client opens a new connection every 1 ms; at T0 a change that stops allowing it is "
          "handed over (iptables: `iptables-nft -I` of a DROP, process start included; Sluice: `sluicectl lab "
          "apply/delete -f` of one NetworkPolicy); the latency is the start of the first dropped probe − T0. "
          "%s changes per engine and rule count, one pass." % cfg["updates"])
        w("")
        w("| topology | p50 ms | p99 ms | agent: compile p50 ms | map writes p50 ms | its event → enforced p50 ms |")
        w("|---|---|---|---|---|---|")
        for t in sorted(set(k[1] for k in res.v if k[0] == "policy-update"), key=lambda x: (x.split("-")[0], int(x.rsplit("-", 1)[1]))):
            w("| %s | %s | %s | %s | %s | %s |" % (
                t, cell(res.agg("policy-update", t, "policy-update-p50")),
                cell(res.agg("policy-update", t, "policy-update-p99")),
                cell(res.agg("policy-update", t, "policy-update-agent-compile-p50")),
                cell(res.agg("policy-update", t, "policy-update-agent-apply-p50")),
                cell(res.agg("policy-update", t, "policy-update-agent-enforce-p50"))))
        w("")
        w("The agent columns are the agent's own figures for the same changes (`sluicectl status -j`, "
          "`policy.lastCompileMs`, `lastApplyMs`, `lastChangeToEnforcedMs`); the rest of the end-to-end time is "
          "`sluicectl lab` writing the manifest, inotify, and the agent noticing.")
        w("")

    # Drop
    if any(k[0].startswith("drop-") for k in res.v):
        w("## drop")
        w("")
        w("64-byte UDP frames generated by the kernel (BPF_PROG_TEST_RUN, live frames, XDP redirect out of a "
          "veth), generator and receiver on CPU 0; rate = drops counted at the receiver / generation time.")
        w("")
        w("| hook | topology | what drops | Mpps | ratio vs the hook's floor | ratio vs XDP floor |")
        w("|---|---|---|---|---|---|")
        what = {("drop-xdp", "floor"): "minimal XDP_DROP (native XDP on the veth)",
                ("drop-tc", "floor"): "minimal tc ingress TC_ACT_SHOT",
                ("drop-tc", "iptables-1"): "iptables-nft raw PREROUTING DROP (1 rule)",
                ("drop-tc", "sluice"): "sluice_from_pod: source not owned (UNKNOWN_SOURCE)",
                ("drop-tc", "sluice-policy"): "sluice_from_pod: POLICY_DENIED",
                ("drop-xdp", "sluice-policy"): "sluice_xdp_eni prefilter on the ENI: POLICY_DENIED"}
        for s in ("drop-xdp", "drop-tc"):
            for t in ("floor", "iptables-1", "sluice", "sluice-policy"):
                if res.has(s, t, "drop-mpps"):
                    w("| %s | %s | %s | %s | %s | %s |" % (
                        s[5:], t, what.get((s, t), ""), cell(res.agg(s, t, "drop-mpps")),
                        rcell(res.ratio(s, t, "drop-mpps")),
                        rcell(res.paired(s, t, "drop-mpps", "drop-xdp", "floor"))))
        w("")

    # CNI
    if any(k[0].startswith("cni-") for k in res.v):
        w("## cni")
        w("")
        w("Wall time of one plugin exec, as a runtime makes it (fork + exec in the node's namespace, env + config "
          "on stdin), %s pods per pass; p50/p99 per repetition, then median [min–max] over repetitions. Ratio: "
          "vs the exec floor (`/bin/true` through the same harness)." % cfg["cni_pods"])
        w("")
        w("| scenario | topology | ADD p50 ms | ADD p99 ms | DEL p50 ms | DEL p99 ms | ADD p50 vs floor |")
        w("|---|---|---|---|---|---|---|")
        for s in ("cni-sequential", "cni-parallel-8"):
            for t in ("floor", "bridge", "sluice", "sluice-policy"):
                if res.has(s, t, "add-p50"):
                    w("| %s | %s | %s | %s | %s | %s | %s |" % (
                        s, t, cell(res.agg(s, t, "add-p50")), cell(res.agg(s, t, "add-p99")),
                        cell(res.agg(s, t, "del-p50")), cell(res.agg(s, t, "del-p99")),
                        rcell(res.ratio(s, t, "add-p50"))))
        w("")

    # Footprint
    fps = sorted((int(k[0].split("-")[1]), k[0]) for k in res.v if k[0].startswith("footprint-"))
    fps = sorted(set(fps))
    if fps:
        w("## footprint (agent sluiced, one node)")
        w("")
        w("| endpoints | RSS MiB | RSS high-water MiB | idle CPU % of a core | agent CPU ms per ADD | BPF map memlock MiB |")
        w("|---|---|---|---|---|---|")
        for n, s in fps:
            w("| %d | %s | %s | %s | %s | %s |" % (n, cell(res.agg(s, "sluice", "rss")),
                                               cell(res.agg(s, "sluice", "rss-hwm")),
                                               cell(res.agg(s, "sluice", "cpu-idle-pct")),
                                               cell(res.agg(s, "sluice", "agent-cpu-ms-per-add")),
                                               cell(res.agg(s, "sluice", "bpf-memlock"))))
        w("")
    gcs = sorted(set(int(k[0].rsplit("-", 1)[1]) for k in res.v if k[0].startswith("conntrack-gc-")))
    if gcs:
        w("Conntrack GC: one pass of the agent's `ct_gc_pass()` (run every 10 s) over N entries, half of them "
          "idle past their timeout, on a private map of sluice_ct's type and layout (`sl-ctgc`; the agent does "
          "not expose the duration of its own passes; sluice_ct holds 262,144 entries, so 1M is the function's "
          "cost, not a size the product allows today): " + "; ".join(
              "%d entries %s ms" % (n, cell(res.agg("conntrack-gc-%d" % n, "sluice", "gc-ms"))) for n in gcs) + ".")
        w("")

    # Goals
    def na_reason(s, t, mm):
        for r in na:
            if r[0] == s and r[1] == t and r[2] == mm:
                return r[3]
        return "not measured in this run"
    w("## Goals (issue 5)")
    w("")
    w("| goal | target | measured | verdict | notes |")
    w("|---|---|---|---|---|")
    for g in goals(res, na_reason, cfg["cni_pods"]):
        w("| %s | %s | %s | %s | %s |" % g)
    w("")

    if plots:
        w("## Plots")
        w("")
        for p in plots:
            w("![%s](%s)" % (p, p))
        w("")
    if na:
        w("## Not available")
        w("")
        grouped = collections.OrderedDict()
        for s, t, mm, why in na:
            grouped.setdefault((s, t, why), []).append(mm)
        w("| scenario | topology | metrics | reason |")
        w("|---|---|---|---|")
        for (s, t, why), ms in grouped.items():
            w("| %s | %s | %s | %s |" % (s, t, ", ".join(dict.fromkeys(ms)), why.replace("|", "/")))
        w("")
    if failures:
        w("## Measurements that failed")
        w("")
        for f in failures:
            w("- %s" % " ".join(f).replace("|", "/")[:300])
        w("")
    w("Raw samples: `raw.tsv` (scenario, topology, metric, unit, repetition, value); logs in `logs/`, "
      "plot data in `data/`.")
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    outdir = os.path.abspath(sys.argv[1])
    top = os.path.dirname(os.path.dirname(os.path.dirname(outdir)))
    with open(os.path.join(outdir, "config.json")) as f:
        cfg = json.load(f)
    res = Results(read_tsv(os.path.join(outdir, "raw.tsv"), 6))
    na = list(dict.fromkeys(tuple(r) for r in read_tsv(os.path.join(outdir, "na.tsv"), 4)))
    failures = read_tsv(os.path.join(outdir, "failures.tsv"), 5)
    js = build_json(res, cfg, top)
    with open(os.path.join(outdir, "report.json"), "w") as f:
        json.dump(js, f, indent=1)
        f.write("\n")
    plots = [p for p in (plot_ratios(res, outdir), plot_policy(res, cfg["policy_counts"].split(), outdir),
                         plot_cdf(outdir)) if p]
    write_md(outdir, res, cfg, js, na, failures, plots)
    print("report: %s" % os.path.join(outdir, "report.md"))


if __name__ == "__main__":
    main()
