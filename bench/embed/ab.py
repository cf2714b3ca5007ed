#!/usr/bin/python3
"""ab.py - the table of an interleaved A/B run (ab.sh): for each case and
round, every engine's single-text p50/p95/p99 (ms) and batch throughput
(texts/s), its ratio against ONNX Runtime of the same round (latency:
engine / ORT, lower is better; throughput: engine / ORT, higher is better),
the load average when the run began and the cores the whole machine kept
busy during it; then the median of the per-round ratios.

usage: ab.py DIR     (prints Markdown; DIR/ab.json gets the same as JSON)
"""

import json
import os
import re
import statistics
import sys


def load(d):
    runs = {}
    for name in sorted(os.listdir(d)):
        m = re.match(r"(\d+)-(.+)-(short|long)-t(\d+)-(.+)\.json$", name)
        if not m:
            continue
        rnd, shape, tset, th, eng = m.groups()
        r = json.load(open(os.path.join(d, name)))
        lat = r.get("latency_ms") or {}
        thr = r.get("throughput") or {}
        runs.setdefault((shape, tset, int(th)), {}).setdefault(int(rnd), {})[eng] = {
            "p50": lat.get("p50"), "p95": lat.get("p95"), "p99": lat.get("p99"),
            "tps": thr.get("texts_per_s"), "gflops_lat": r.get("latency_gflops"),
            "gflops_thr": thr.get("gflops"), "load": r["machine"]["load1_start"],
            "busy": r["machine"]["busy_cores"], "own_cores": r.get("latency_cpu_cores_used"),
        }
    return runs


def ratio(a, b):
    return a / b if a and b else None


def fmt(x, nd=2):
    return "-" if x is None else ("%.*f" % (nd, x))


def main():
    d = sys.argv[1]
    runs = load(d)
    out, md = {}, []
    for case in sorted(runs):
        shape, tset, th = case
        rounds = runs[case]
        engines = sorted({e for r in rounds.values() for e in r if e != "ort"})
        md += ["", "### %s %s, %d thread%s" % (shape, tset, th, "" if th == 1 else "s"), "",
               "| round | engine | load | busy cores | p50 ms | p95 ms | p99 ms | texts/s "
               "| p50/ORT | p95/ORT | p99/ORT | tput/ORT |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        ratios = {e: {"p50": [], "p95": [], "p99": [], "tps": []} for e in engines}
        for rnd in sorted(rounds):
            o = rounds[rnd].get("ort")
            for e in engines + ["ort"]:
                x = rounds[rnd].get(e)
                if not x:
                    continue
                rr = {}
                if e != "ort" and o:
                    for k in ("p50", "p95", "p99", "tps"):
                        rr[k] = ratio(x[k], o[k])
                        if rr[k] is not None:
                            ratios[e][k].append(rr[k])
                md.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    rnd, e, fmt(x["load"]), fmt(x["busy"]), fmt(x["p50"]), fmt(x["p95"]),
                    fmt(x["p99"]), fmt(x["tps"], 1), fmt(rr.get("p50")), fmt(rr.get("p95")),
                    fmt(rr.get("p99")), fmt(rr.get("tps"))))
        key = "%s-%s-t%d" % case
        out[key] = {}
        for e in engines:
            med = {k: (statistics.median(v) if v else None) for k, v in ratios[e].items()}
            out[key][e] = {"median_ratio_vs_ort": med, "rounds": len(ratios[e]["p50"])}
            md.append("| median | %s | | | | | | | %s | %s | %s | %s |" % (
                e, fmt(med["p50"]), fmt(med["p95"]), fmt(med["p99"]), fmt(med["tps"])))
    json.dump(out, open(os.path.join(d, "ab.json"), "w"), indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
