#!/usr/bin/python3
"""summarize.py - turns the JSON results of bench/embed/run.sh into one
summary: a JSON object and a Markdown table with AkiDB / ONNX Runtime ratios
and the GFLOP/s each side achieved against the CPU's fp32 peak.

  summarize.py RESULTS_DIR      reads RESULTS_DIR/<shape>-<set>-{akidb,ort}.json,
                                writes RESULTS_DIR/summary.{json,md}, prints both

Peak fp32 FLOP/s = cores used x GHz x FLOPs per cycle per core, where
  GHz            is "cpu MHz" of /proc/cpuinfo (the current clock the kernel
                 reports; under a hypervisor usually the nominal one; turbo is
                 not counted),
  FLOPs/cycle    = 2 (FMA) x fp32 lanes x FMA pipes: AVX-512 with two 512-bit
                 FMA pipes = 64; AMD Zen 2-4 (family 23/25, 256-bit data path:
                 AVX-512 runs as two halves) = 2 x 8 x 2 = 32; AVX2+FMA = 32;
                 NEON = 2 x 4 x 2 = 16 (4 pipes on some cores: not assumed);
                 otherwise SSE = 8.
These are textbook figures, not measured ones; the utilisation column is only
meant to show the headroom.
"""

import json
import os
import sys

ENGINES = (("akidb", "AkiDB"), ("ort", "ONNX Runtime"))


def cpu_info():
    info = {"model_name": "unknown", "mhz": 0.0, "flags": set(), "vendor": "", "family": -1}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name" and info["model_name"] == "unknown":
                    info["model_name"] = v
                elif k == "cpu MHz" and not info["mhz"]:
                    info["mhz"] = float(v)
                elif k in ("flags", "Features") and not info["flags"]:
                    info["flags"] = set(v.split())
                elif k == "vendor_id" and not info["vendor"]:
                    info["vendor"] = v
                elif k == "cpu family" and info["family"] < 0:
                    info["family"] = int(v)
    except OSError:
        pass
    info["cores"] = os.cpu_count() or 1
    fl = info["flags"]
    amd_256 = info["vendor"] == "AuthenticAMD" and info["family"] in (23, 25)
    if "avx512f" in fl and not amd_256:
        fpc, why = 64, "AVX-512, 2 FMA pipes: 2 x 16 x 2"
    elif "avx512f" in fl or ("avx2" in fl and "fma" in fl):
        fpc, why = 32, ("AMD family %d: 256-bit FMA data path, 2 pipes: 2 x 8 x 2" % info["family"]
                        if amd_256 else "AVX2+FMA, 2 pipes: 2 x 8 x 2")
    elif "asimd" in fl:
        fpc, why = 16, "NEON, 2 pipes: 2 x 4 x 2"
    else:
        fpc, why = 8, "SSE: 2 x 4 (mul + add)"
    info["flops_per_cycle"], info["flops_per_cycle_why"] = fpc, why
    info["flags"] = None
    return info


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ratio(a, b):
    return round(a / b, 3) if a and b else None


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py RESULTS_DIR")
    d = sys.argv[1]
    cpu = cpu_info()
    cases = []
    for fn in sorted(os.listdir(d)):
        if fn.endswith("-ort.json"):
            cases.append(fn[: -len("-ort.json")])
    for fn in sorted(os.listdir(d)):
        if fn.endswith("-akidb.json") and fn[: -len("-akidb.json")] not in cases:
            cases.append(fn[: -len("-akidb.json")])
    order = {"minilm": 0, "bge-base": 1, "short": 0, "long": 1}
    cases.sort(key=lambda c: tuple(order.get(p, 9) for p in c.rsplit("-", 1)))

    summary = {"machine": {"cpu": cpu["model_name"], "cores": cpu["cores"],
                           "ghz": round(cpu["mhz"] / 1000, 3),
                           "fp32_flops_per_cycle_per_core": cpu["flops_per_cycle"],
                           "flops_per_cycle_basis": cpu["flops_per_cycle_why"],
                           "ghz_source": "/proc/cpuinfo 'cpu MHz'"},
               "cases": []}
    for when in ("start", "end"):
        try:
            with open(os.path.join(d, "loadavg-%s.txt" % when)) as f:
                summary["machine"]["loadavg_" + when] = f.read().strip()
        except OSError:
            pass
    for case in cases:
        shape, tset = case.rsplit("-", 1)
        row = {"shape": shape, "texts": tset}
        for key, _ in ENGINES:
            r = load(os.path.join(d, "%s-%s.json" % (case, key)))
            if r is None:
                row[key] = None
                continue
            threads = r.get("threads", 1)
            peak = min(threads, cpu["cores"]) * cpu["mhz"] / 1000 * cpu["flops_per_cycle"]
            lat, lm, thr = r.get("latency_ms", {}), r.get("latency_model_ms", {}), r.get("throughput", {})
            row[key] = {
                "n_texts": r["input"]["texts"], "avg_tokens": r["input"]["avg_tokens"],
                "truncated": r["input"]["truncated"], "threads": threads,
                "kernels": r.get("kernels"), "batch": r.get("batch"),
                "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
                "model_p50_ms": lm.get("p50"), "model_p95_ms": lm.get("p95"),
                "texts_per_s": thr.get("texts_per_s"), "tokens_per_s": thr.get("tokens_per_s"),
                "model_texts_per_s": thr.get("model_texts_per_s"),
                "tokenize_us_per_text": r["tokenize"]["us_per_text"],
                "latency_gflops": r.get("latency_gflops"), "throughput_gflops": thr.get("gflops"),
                "peak_gflops": round(peak, 1),
                "throughput_peak_pct": round(100 * thr["gflops"] / peak, 1) if thr.get("gflops") and peak else None,
                "latency_peak_pct": round(100 * r["latency_gflops"] / peak, 1) if r.get("latency_gflops") and peak else None,
                "latency_cpu_cores_used": r.get("latency_cpu_cores_used"),
                "throughput_cpu_cores_used": thr.get("cpu_cores_used"),
                "rss_peak_mb": round(r["memory"]["rss_peak_bytes"] / 2**20, 1),
                "compare_akidb": r.get("compare_akidb"), "export_check": r.get("export_check"),
            }
        a, o = row.get("akidb"), row.get("ort")
        if a and o:
            row["ratio_akidb_over_ort"] = {
                "p50": ratio(a["p50_ms"], o["p50_ms"]), "p95": ratio(a["p95_ms"], o["p95_ms"]),
                "throughput": ratio(a["texts_per_s"], o["texts_per_s"]),
                "model_p50": ratio(a["model_p50_ms"], o["model_p50_ms"]),
                "model_throughput": ratio(a["model_texts_per_s"], o["model_texts_per_s"]),
            }
            if a["avg_tokens"] != o["avg_tokens"]:
                row["warning"] = "token counts differ: AkiDB %s vs ONNX Runtime %s per text" % (
                    a["avg_tokens"], o["avg_tokens"])
        summary["cases"].append(row)

    m = summary["machine"]
    md = ["Machine: %s, %d cores, %.2f GHz (%s); fp32 peak %d FLOPs/cycle/core (%s)." % (
        m["cpu"], m["cores"], m["ghz"], m["ghz_source"], m["fp32_flops_per_cycle_per_core"],
        m["flops_per_cycle_basis"]),
        "Load average (1/5/15 min) at start: %s, at end: %s." % (
            m.get("loadavg_start", "?"), m.get("loadavg_end", "?")), "",
        "| model | texts | engine | threads | tok/text | p50 ms | p95 ms | p99 ms | model p50 ms "
        "| texts/s (batch) | tokens/s | model texts/s | tokenize µs/text | GFLOP/s (batch) | % of peak "
        "| cores busy (lat/batch) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda v, f="%.2f": "—" if v is None else f % v
    for row in summary["cases"]:
        for key, name in ENGINES:
            e = row.get(key)
            if e is None:
                md.append("| %s | %s | %s | — | — | — | — | — | — | — | — | — | — | — | — | — |" % (
                    row["shape"], row["texts"], name + " (no result)"))
                continue
            md.append("| %s | %s (%d) | %s | %d | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s/%s |" % (
                row["shape"], row["texts"], e["n_texts"], name, e["threads"], e["avg_tokens"],
                fmt(e["p50_ms"]), fmt(e["p95_ms"]), fmt(e["p99_ms"]), fmt(e["model_p50_ms"]),
                fmt(e["texts_per_s"], "%.1f"), fmt(e["tokens_per_s"], "%.0f"),
                fmt(e["model_texts_per_s"], "%.1f"), fmt(e["tokenize_us_per_text"], "%.1f"),
                fmt(e["throughput_gflops"], "%.1f"), fmt(e["throughput_peak_pct"], "%.1f%%"),
                fmt(e["latency_cpu_cores_used"]), fmt(e["throughput_cpu_cores_used"])))
    md += ["", "Ratios AkiDB / ONNX Runtime (latency: below 1 is faster; throughput: above 1 is faster):", "",
           "| model | texts | p50 | p95 | throughput | model-only p50 | model-only throughput |",
           "|---|---|---|---|---|---|---|"]
    for row in summary["cases"]:
        r = row.get("ratio_akidb_over_ort")
        if r is None:
            md.append("| %s | %s | — | — | — | — | — |" % (row["shape"], row["texts"]))
        else:
            md.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                row["shape"], row["texts"], fmt(r["p50"], "%.3f"), fmt(r["p95"], "%.3f"),
                fmt(r["throughput"], "%.3f"), fmt(r["model_p50"], "%.3f"),
                fmt(r["model_throughput"], "%.3f")))
    for row in summary["cases"]:
        o = row.get("ort") or {}
        c = o.get("compare_akidb")
        if c:
            md.append("")
            md.append("%s/%s: AkiDB vs ONNX Runtime on the first %d texts: max |diff| %.2e, min cosine %.7f" % (
                row["shape"], row["texts"], c["texts"], c["max_abs_diff"], c["min_cosine"]))
        if row.get("warning"):
            md.append("")
            md.append("WARNING %s/%s: %s" % (row["shape"], row["texts"], row["warning"]))

    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print(json.dumps(summary, indent=2))
    print()
    print("\n".join(md))


if __name__ == "__main__":
    main()
