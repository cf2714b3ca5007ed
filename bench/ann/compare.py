#!/usr/bin/env python3
"""compare.py - ratios between two ANN benchmark JSON lines (akidb first,
hnswlib second): best single-thread QPS reaching recall@k >= 0.95 and >= 0.99,
build time and memory.  Ratios > 1 mean akidb is faster / for time and memory
< 1 means akidb is smaller."""
import json
import sys


def best_qps(run, target):
    ok = [p for p in run["sweep"] if p["recall"] >= target]
    if not ok:
        return None, None
    p = max(ok, key=lambda p: p["qps"])
    return p["qps"], p["ef"]


def main():
    a = json.load(open(sys.argv[1]))
    b = json.load(open(sys.argv[2]))
    out = {}
    for t in (0.95, 0.99):
        qa, ea = best_qps(a, t)
        qb, eb = best_qps(b, t)
        out[f"qps@{t}"] = {"akidb": qa, "akidb_ef": ea, "hnswlib": qb, "hnswlib_ef": eb,
                           "ratio": round(qa / qb, 3) if qa and qb else None}
    out["build_s"] = {"akidb": a["build_s"], "hnswlib": b["build_s"],
                      "ratio": round(a["build_s"] / b["build_s"], 3)}
    out["memory_bytes"] = {"akidb": a["memory_bytes"], "hnswlib": b["memory_bytes"],
                           "ratio": round(a["memory_bytes"] / b["memory_bytes"], 3)}
    out["akidb_memory_vs_raw"] = round(a["memory_bytes"] / a["raw_bytes"], 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
