#!/usr/bin/python3
"""report.py - the summary of bench/families/run.sh: bench/embed/summarize.py's
tables (summary.json / summary.md, every figure of each engine), then
families.md: the figures the issue asks for per shape, with the ratios
AkiDB / ONNX Runtime, the agreement check that preceded the timing, peak RSS
of both engines, AkiDB's BF16 memory against its target, and the machine
(CPU model, family / model / stepping, AkiDB's kernel path, load average).

  report.py RESULTS_DIR

Peak RSS is each process's high-water mark (getrusage ru_maxrss, which Linux
keeps as /proc/<pid>/status VmHWM).
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "embed"))
import summarize  # noqa: E402

MB = 2 ** 20
SHAPE_NAMES = {"qwen3-0.6b": "Qwen3-Embedding-0.6B", "modernbert-base": "gte-modernbert-base",
               "gemma-300m": "embeddinggemma-300m"}


def fmt(v, f="%.2f"):
    return "—" if v is None else f % v


def ratio(a, b):
    return a / b if a and b else None


def main():
    d = sys.argv[1]
    sys.argv = [sys.argv[0], d]
    summarize.main()
    s = summarize.load(os.path.join(d, "summary.json"))
    load = lambda fn: summarize.load(os.path.join(d, fn))
    akidb_any = next((load(fn) for fn in sorted(os.listdir(d)) if fn.endswith("-akidb.json")), None)
    cpu = (akidb_any or {}).get("cpu", {})
    m = s["machine"]
    md = ["Machine: %s (family %s, model %s, stepping %s), %d cores, AkiDB kernels: %s, "
          "%s threads per engine. Load average at start %s, at end %s." % (
              m["cpu"], cpu.get("family", "?"), cpu.get("model", "?"), cpu.get("stepping", "?"),
              m["cores"], (akidb_any or {}).get("kernels", "?"), (akidb_any or {}).get("threads", "?"),
              m.get("loadavg_start", "?"), m.get("loadavg_end", "?")),
          "These figures come from a shared, busy machine (other builds ran at the same time): "
          "read the ratios, not the absolute numbers, and expect ±20 % between runs.", "",
          "| shape | figure | AkiDB | ONNX Runtime | AkiDB / ORT | texts (tok/text) | "
          "agreement (min cos) | peak RSS MB AkiDB / ORT |", "|---|---|---|---|---|---|---|---|"]
    for row in s["cases"]:
        a, o = row.get("akidb") or {}, row.get("ort") or {}
        chk = (load("%s-%s-check.json" % (row["shape"], row["texts"])) or {}).get("compare_akidb", {})
        name = SHAPE_NAMES.get(row["shape"], row["shape"])
        if row["texts"] == "short":
            figs = [("p50 ms, 1 text", "p50_ms", "%.1f"), ("p95 ms, 1 text", "p95_ms", "%.1f"),
                    ("texts/s, batch %s" % (a.get("batch") or o.get("batch")), "texts_per_s", "%.2f")]
        else:
            figs = [("tokens/s, batch %s, ≤256-token docs" % (a.get("batch") or o.get("batch")),
                     "tokens_per_s", "%.0f")]
        for label, key, f in figs:
            md.append("| %s | %s | %s | %s | %s | %s (%s) | %s | %s / %s |" % (
                name, label, fmt(a.get(key), f), fmt(o.get(key), f),
                fmt(ratio(a.get(key), o.get(key)), "%.2f"), a.get("n_texts", "—"),
                fmt(a.get("avg_tokens"), "%.1f"), fmt(chk.get("min_cosine"), "%.7f"),
                fmt(a.get("rss_peak_mb"), "%.0f"), fmt(o.get("rss_peak_mb"), "%.0f")))
    md += ["", "Latency: AkiDB / ORT below 1 means AkiDB is faster; texts/s and tokens/s: "
           "above 1 means AkiDB is faster."]
    for sfx, how in (("", "default"), ("-f32", "--dtype f32"), ("-bf16", "--dtype bf16")):
        b = load("qwen3-0.6b-bf16%s.akidb.json" % sfx)
        if not b:
            continue
        mem = b["memory"]
        w, peak = mem["weights_file_bytes"], mem["rss_peak_bytes"]
        target = 1.1 * w + 64 * MB
        md += ["", "Qwen3-Embedding-0.6B shape, BF16 safetensors (%.0f MB), %s: AkiDB peak RSS "
               "%.0f MB (after load %.0f MB, after warm-up %.0f MB) against the target 1.1 x file "
               "+ 64 MB = %.0f MB: %s; single-text p50 %.1f ms (compute dtype %s)." % (
                   w / MB, how, peak / MB, mem["rss_after_load_bytes"] / MB,
                   mem["rss_after_warmup_bytes"] / MB, target / MB,
                   "met" if peak <= target else "MISSED by %.0f MB" % ((peak - target) / MB),
                   b["latency_ms"]["p50"], b.get("dtype", "?"))]
    ra, ro = load("rerank.akidb.json"), load("rerank.ort.json")
    if ra or ro:
        ra, ro = ra or {}, ro or {}
        chk = ro.get("compare_akidb", {})
        md += ["", "| reranker | figure | AkiDB | ONNX Runtime | AkiDB / ORT | passages | "
               "agreement (cos of the scores) | peak RSS MB AkiDB / ORT |",
               "|---|---|---|---|---|---|---|---|",
               "| ms-marco-MiniLM-L-6 (6 x 384) | pairs/s, 1 query x %s passages | %s | %s | %s | %s | "
               "%s (max diff %s) | %s / %s |" % (
                   (ra.get("input") or ro.get("input") or {}).get("passages", "?"),
                   fmt(ra.get("pairs_per_s"), "%.1f"), fmt(ro.get("pairs_per_s"), "%.1f"),
                   fmt(ratio(ra.get("pairs_per_s"), ro.get("pairs_per_s")), "%.2f"),
                   (ra.get("input") or {}).get("passages", "—"), fmt(chk.get("cosine"), "%.7f"),
                   fmt(chk.get("max_abs_diff"), "%.1e"),
                   fmt((ra.get("memory") or {}).get("rss_peak_bytes", 0) / MB or None, "%.0f"),
                   fmt((ro.get("memory") or {}).get("rss_peak_bytes", 0) / MB or None, "%.0f"))]
    with open(os.path.join(d, "families.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print()
    print("\n".join(md))


if __name__ == "__main__":
    main()
