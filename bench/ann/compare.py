#!/usr/bin/env python3
"""compare.py - ratios between ANN benchmark runs of akidb and hnswlib.

Usage: compare.py --akidb A1.json [A2.json ...] --hnswlib H1.json [H2.json ...]
       compare.py A.json H.json              (one run each, older form)

Each file holds one JSON line from `akidb bench ann` / hnswlib_bench.  Per
engine and ef, QPS is the median over every sample in every file ("qps_all",
or "qps" for files without it); recall comes from the files (it is the same
for every pass over one saved graph).  Build time and memory come from the
run that built the graph ("loaded": false).  "cpu_ratio" is the same
comparison on queries per CPU-second of the searching thread (less
sensitive to other jobs on a shared machine).  Reported: a per-ef table, the
best median QPS reaching recall@k >= 0.95 and >= 0.99 for each engine and
their ratio (> 1: akidb faster), build time and memory ratios (< 1: akidb
faster / smaller), and akidb's memory over its raw vectors + links.
"""
import json
import statistics
import sys


def load(paths):
    runs = [json.load(open(p)) for p in paths]
    built = [r for r in runs if not r.get("loaded", False)]
    info = built[0] if built else runs[0]
    samples, csamples, recall = {}, {}, {}
    for r in runs:
        for p in r["sweep"]:
            samples.setdefault(p["ef"], []).extend(p.get("qps_all", [p["qps"]]))
            csamples.setdefault(p["ef"], []).extend(p.get("cpu_qps_all", []))
            recall[p["ef"]] = p["recall"]
    sweep = [{"ef": ef, "recall": recall[ef], "qps": statistics.median(v),
              "cpu_qps": statistics.median(csamples[ef]) if csamples[ef] else None,
              "n": len(v)}
             for ef, v in sorted(samples.items())]
    return info, sweep


def best_qps(sweep, target, key="qps"):
    ok = [p for p in sweep if p["recall"] >= target and p[key]]
    if not ok:
        return None, None
    p = max(ok, key=lambda p: p[key])
    return p[key], p["ef"]


def main():
    args = sys.argv[1:]
    if "--akidb" in args:
        ia, ih = args.index("--akidb"), args.index("--hnswlib")
        apaths = args[ia + 1:ih] if ia < ih else args[ia + 1:]
        hpaths = args[ih + 1:] if ia < ih else args[ih + 1:ia]
    else:
        apaths, hpaths = [args[0]], [args[1]]
    a, asw = load(apaths)
    b, bsw = load(hpaths)
    bmap = {p["ef"]: p for p in bsw}
    print("ef   akidb_recall  akidb_qps  hnswlib_recall  hnswlib_qps  ratio"
          "  cpu_ratio  samples")
    for p in asw:
        q = bmap.get(p["ef"])
        if q:
            cr = (f"{p['cpu_qps'] / q['cpu_qps']:9.3f}" if p["cpu_qps"] and q["cpu_qps"]
                  else "        -")
            print(f"{p['ef']:<4} {p['recall']:12.4f} {p['qps']:10.1f} {q['recall']:15.4f}"
                  f" {q['qps']:12.1f} {p['qps'] / q['qps']:6.3f}  {cr}  {p['n']}/{q['n']}")
    out = {}
    for t in (0.95, 0.99):
        qa, ea = best_qps(asw, t)
        qb, eb = best_qps(bsw, t)
        out[f"qps@{t}"] = {"akidb": qa, "akidb_ef": ea, "hnswlib": qb, "hnswlib_ef": eb,
                           "ratio": round(qa / qb, 3) if qa and qb else None}
        ca, _ = best_qps(asw, t, "cpu_qps")
        cb, _ = best_qps(bsw, t, "cpu_qps")
        if ca and cb:
            out[f"qps@{t}"]["cpu_ratio"] = round(ca / cb, 3)
    if a["build_s"] and b["build_s"]:
        out["build_s"] = {"akidb": a["build_s"], "hnswlib": b["build_s"],
                          "ratio": round(a["build_s"] / b["build_s"], 3)}
    out["memory_bytes"] = {"akidb": a["memory_bytes"], "hnswlib": b["memory_bytes"],
                           "ratio": round(a["memory_bytes"] / b["memory_bytes"], 3)}
    out["akidb_memory_vs_raw"] = round(a["memory_bytes"] / a["raw_bytes"], 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
