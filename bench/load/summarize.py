#!/usr/bin/python3
"""summarize.py - turns the files of one bench/load/run.sh run into
RESULTS/summary.json and RESULTS/summary.md (Markdown tables, also printed).

usage: summarize.py RESULTS
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    r = p / 100 * (len(v) - 1)
    i = int(r)
    return v[-1] if i + 1 >= len(v) else v[i] + (r - i) * (v[i + 1] - v[i])


def batches(path):
    try:
        s0, c0, s1, c1 = (float(x) for x in open(path).read().split())
        return (s1 - s0) / (c1 - c0) if c1 > c0 else None
    except (OSError, ValueError):
        return None


def metrics(path):
    """{(name, labels): value} of the _sum and _count lines of a /metrics dump."""
    out = {}
    try:
        for line in open(path):
            if line.startswith("#") or "_bucket" in line:
                continue
            parts = line.split()
            if len(parts) == 2 and (parts[0].split("{")[0].endswith(("_sum", "_count"))):
                out[parts[0]] = float(parts[1])
    except OSError:
        pass
    return out


def metric_delta(d, name, route):
    """Means over one rate run from the /metrics dumps around it: HTTP time of
    the route, embedding batch time and texts per batch (warm-up included)."""
    a, b = metrics(os.path.join(d, name + ".metrics0")), metrics(os.path.join(d, name + ".metrics1"))
    if not a or not b:
        return None

    def delta(prefix, sel):
        s = c = 0.0
        for k in b:
            if k.startswith(prefix + "_sum{") and sel in k:
                s += b[k] - a.get(k, 0.0)
            if k.startswith(prefix + "_count{") and sel in k:
                c += b[k] - a.get(k, 0.0)
        return s, c

    hs, hc = delta("akidb_http_request_duration_seconds", 'route="%s"' % route)
    es, ec = delta("akidb_embed_batch_duration_seconds", "")
    ts, tc = delta("akidb_embed_batch_texts", "")
    return {"http_mean_ms": round(hs / hc * 1000, 3) if hc else None,
            "embed_batches": int(ec),
            "embed_batch_mean_ms": round(es / ec * 1000, 3) if ec else None,
            "embed_batch_texts_mean": round(ts / tc, 2) if tc else None,
            "embed_busy_share": None}


def main():
    d = sys.argv[1]
    m = load(os.path.join(d, "machine.json")) or {}
    loads = [l.split() for l in open(os.path.join(d, "loadavg.txt"))] if os.path.exists(
        os.path.join(d, "loadavg.txt")) else []
    s = {"machine": m, "loadavg": {l[0]: [float(x) for x in l[1:4]] for l in loads}}

    for kind, per in (("docs", m.get("docs")), ("vectors", m.get("points", 0) - m.get("docs", 0))):
        try:
            t0, t1 = (float(x) for x in open(os.path.join(d, "ingest-%s.span" % kind)).read().split())
            req = [float(x) * 1000 for x in open(os.path.join(d, "ingest-%s.tsv" % kind)) if x.strip()]
        except (OSError, ValueError):
            continue
        s["ingest_" + kind] = {"points": per, "seconds": round(t1 - t0, 3),
                               "points_per_s": round(per / (t1 - t0), 1),
                               "requests": len(req), "request_ms_p50": round(pct(req, 50), 1),
                               "request_ms_max": round(max(req), 1)}
    b = batches(os.path.join(d, "ingest-docs.batches"))
    if b and "ingest_docs" in s:
        s["ingest_docs"]["mean_embed_batch_texts"] = round(b, 1)

    for name in ("search-text", "search-vector", "embed-query", "search-text-solo", "http-floor",
                 "oai-1", "oai-1-solo", "oai-32", "crowd-quiet", "crowd", "crowd-quiet2"):
        r = load(os.path.join(d, name + ".json"))
        if r:
            s[name] = r
    routes = {"search-text": "/api/v1/collections/{id}/search",
              "search-vector": "/api/v1/collections/{id}/search",
              "search-text-solo": "/api/v1/collections/{id}/search",
              "embed-query": "/api/v1/embed",
              "http-floor": "/api/v1/collections/{id}/count"}
    for name, route in routes.items():
        if name in s:
            md_ = metric_delta(d, name, route)
            if md_:
                r = s[name]
                if md_["embed_batch_mean_ms"] is not None:
                    # share of the run's wall time the embedding worker was busy
                    md_["embed_busy_share"] = round(
                        md_["embed_batches"] * md_["embed_batch_mean_ms"] / 1000 / r["duration_s"], 3)
                r["server_metrics"] = md_
            try:
                tl = [[float(x) for x in l.split()] for l in open(os.path.join(d, name + ".timeline"))]
            except OSError:
                tl = []
            if tl:
                # 1-s windows of due time: how bursty the tail is
                r["windows"] = {"n": len(tl), "max_over_10ms": sum(1 for w in tl if w[4] > 10),
                                "p99_over_10ms": sum(1 for w in tl if w[3] > 10),
                                "worst": max(tl, key=lambda w: w[4])}
    for name in ("oai-1", "oai-1-solo", "oai-32"):
        if name in s:
            n = 32 if name == "oai-32" else 1
            s[name]["texts_per_request"] = n
            s[name]["texts_per_s"] = round(s[name]["achieved_rps"] * n, 1)
            b = batches(os.path.join(d, name + ".batches"))
            s[name]["mean_embed_batch_texts"] = round(b, 1) if b else None
            # whole run, warm-up included (the dumps are taken around it)
            md_ = metric_delta(d, name, "/v1/embeddings")
            if md_ and md_["embed_batch_mean_ms"] is not None:
                md_["embed_busy_share"] = round(md_["embed_batches"] * md_["embed_batch_mean_ms"]
                                                / 1000 / s[name]["duration_s"], 3)
                s[name]["server_metrics"] = md_
    w = load(os.path.join(d, "wrk-search-vector.json"))
    if w:
        s["wrk-search-vector"] = w
    be = load(os.path.join(d, "bench-embed-short.json"))
    bq = load(os.path.join(d, "bench-embed-queries.json"))
    if be:
        s["bench_embed_short"] = {"texts_per_s": be["throughput"]["texts_per_s"],
                                  "single_texts_per_s": round(1000 / be["latency_ms"]["mean"], 1),
                                  "batch": be["throughput"]["batch"],
                                  "avg_tokens": be["input"]["avg_tokens"],
                                  "latency_ms": be.get("latency_ms"), "threads": be["threads"],
                                  "kernels": be.get("kernels"), "dtype": be.get("dtype")}
    if bq:
        s["bench_embed_queries"] = {"avg_tokens": bq["input"]["avg_tokens"],
                                    "latency_ms": bq.get("latency_ms"),
                                    "latency_model_ms": bq.get("latency_model_ms")}
    if be:
        ref = be["throughput"]["texts_per_s"]
        s["ratios"] = {k: round(s[k]["texts_per_s"] / ref, 3)
                       for k in ("oai-1", "oai-1-solo", "oai-32") if k in s}
        if "oai-1-solo" in s:
            s["ratios"]["oai-1-solo vs single-text calls"] = round(
                s["oai-1-solo"]["texts_per_s"] / s["bench_embed_short"]["single_texts_per_s"], 3)
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(s, f, indent=1)

    L = []
    la = s["loadavg"]
    L.append("Machine: %s, %s CPUs; akidb %s; %s UTC; load average (1/5/15 min) at start %s, "
             "at the end %s." % (m.get("cpu"), m.get("cpus"), m.get("git"), m.get("date"),
                                 "/".join("%.2f" % x for x in la.get("start", [])),
                                 "/".join("%.2f" % x for x in (list(la.values())[-1] if la else []))))
    L.append("")
    L.append("| test | load | result | latency P50 / P95 / P99 / max (ms) | load avg (1 min) after |")
    L.append("|---|---|---:|---|---:|")

    def lat(x):
        return "%.1f / %.1f / %.1f / %.1f" % (x["p50"], x["p95"], x["p99"], x["max"])

    def la1(k):
        return "%.2f" % la[k][0] if k in la else ""

    for k, label in (("search-text", "text search (embed + HNSW, top_k 10)"),
                     ("search-vector", "vector search (HNSW, top_k 10)"),
                     ("embed-query", "`/api/v1/embed`, 1 query text"),
                     ("search-text-solo", "text search, 1 connection"),
                     ("http-floor", "HTTP floor: `POST .../count`")):
        if k in s:
            r = s[k]
            L.append("| %s | open loop %g req/s, %d conns, %.0f s | %.1f req/s, %d/%d ok | %s | %s |"
                     % (label, r["rate"], r["connections"], r["duration_s"] - r["warmup_s"],
                        r["achieved_rps"], r["ok"], r["requests"], lat(r["latency_ms"]), la1(k)))
    if "wrk-search-vector" in s:
        w = s["wrk-search-vector"]
        L.append("| vector search, max rate (wrk) | %s conns, closed loop, %.0f s | **%.0f req/s** "
                 "(%d errors) | %.2f / %.2f / %.2f / %.1f | %s |"
                 % (m.get("wrk_conns"), w["seconds"], w["rps"], sum(w["errors"].values()),
                    w["latency_ms"]["p50"], w["latency_ms"]["p95"], w["latency_ms"]["p99"],
                    w["latency_ms"]["max"], la1("wrk-search-vector")))
    for k in ("oai-1", "oai-1-solo", "oai-32"):
        if k in s:
            r = s[k]
            L.append("| `/v1/embeddings`, %d text%s/request | %d conns, closed loop, %.0f s | "
                     "**%.1f texts/s** (mean batch %s texts%s) | %s | %s |"
                     % (r["texts_per_request"], "" if r["texts_per_request"] == 1 else "s",
                        r["connections"], r["duration_s"] - r["warmup_s"], r["texts_per_s"],
                        r["mean_embed_batch_texts"],
                        ", worker busy %.0f %%" % (100 * r["server_metrics"]["embed_busy_share"])
                        if "server_metrics" in r else "", lat(r["latency_ms"]), la1(k)))
    for k, label in (("ingest_docs", "document ingest (server embeds), %s texts/request"),
                     ("ingest_vectors", "vector ingest, %s vectors/request")):
        if k in s:
            r = s[k]
            per = m.get("doc_batch" if k == "ingest_docs" else "vec_batch")
            L.append("| %s | 1 connection, %d requests | **%.0f points/s** (%.1f s) | "
                     "request P50 %.0f, max %.0f | %s |"
                     % (label % per, r["requests"], r["points_per_s"], r["seconds"],
                        r["request_ms_p50"], r["request_ms_max"],
                        la1("after-docs" if k == "ingest_docs" else "after-vectors")))
    if be:
        b = s["bench_embed_short"]
        L.append("| `akidb bench embed` short.txt, batch %d, %d threads | engine only | "
                 "**%.1f texts/s** (one text per call: %.1f) | single text: %s | %s |"
                 % (b["batch"], b["threads"], b["texts_per_s"], b["single_texts_per_s"],
                    lat(b["latency_ms"]),
                    la1("bench-embed-short")))
    if bq:
        q = s["bench_embed_queries"]
        L.append("| `akidb bench embed` query texts (%.1f tokens) | engine only, single text | | "
                 "%s | %s |" % (q["avg_tokens"], lat(q["latency_ms"]), la1("bench-embed-queries")))
    rows = [k for k in ("search-text", "search-text-solo", "search-vector", "embed-query", "http-floor")
            if k in s and "server_metrics" in s[k]]
    if rows:
        L.append("")
        L.append("Where the time goes (means in ms; server figures from `/metrics` and the "
                 "answers' `latency_ms`):")
        L.append("")
        L.append("| test | client P50 | client mean | of which client send lag | server HTTP time | reported by the answer "
                 "| embedding batch | texts per batch | embedding worker busy | 1-s windows with a "
                 "request > 10 ms |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for k in rows:
            r, sm = s[k], s[k]["server_metrics"]
            sv = r.get("server_latency_ms", {})

            def f(x, fmt="%.2f"):
                return fmt % x if x is not None else "–"
            w = r.get("windows")
            L.append("| %s | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |"
                     % (k, r["latency_ms"]["p50"], r["latency_ms"]["mean"],
                        f(r.get("send_lag_ms", {}).get("mean")), f(sm["http_mean_ms"]),
                        f(sv.get("mean")), f(sm["embed_batch_mean_ms"]),
                        f(sm["embed_batch_texts_mean"]),
                        f(sm["embed_busy_share"] * 100 if sm["embed_busy_share"] is not None else None,
                          "%.0f %%"),
                        "%d of %d" % (w["max_over_10ms"], w["n"]) if w else "–"))
        L.append("")
        L.append("Reported by the answer: search `latency_ms` (handler: embedding + HNSW + "
                 "building the JSON), `/api/v1/embed` `usage.duration_ms` (queued to embedded). "
                 "Server HTTP time: the `akidb_http_request_duration_seconds` histogram of "
                 "the route (from the routed request to the built answer: no socket I/O, no "
                 "body reading).  Client send lag: how late the client wrote a request after "
                 "its due time (its own wake-up latency, part of every latency above).  "
                 "Embedding worker busy: batches × mean batch time ÷ run time.")
    if "ratios" in s:
        L.append("")
        L.append("Server `/v1/embeddings` texts/s ÷ `akidb bench embed` texts/s (batch 32), same "
                 "run: " + ", ".join("%s %.2f" % (k, v) for k, v in s["ratios"].items()
                                     if " " not in k) + ".")
        if "oai-1-solo vs single-text calls" in s["ratios"]:
            L.append("One client, one text per request ÷ `akidb bench embed` one text per call "
                     "(1000 / mean latency): %.2f." % s["ratios"]["oai-1-solo vs single-text calls"])
    if "search-text" in s:
        r = s["search-text"]["latency_ms"]
        L.append("")
        L.append("Target (text search at 100 req/s): P95 ≤ 5 ms → %.1f ms (%s); P99 ≤ 10 ms → "
                 "%.1f ms (%s)." % (r["p95"], "met" if r["p95"] <= 5 else "missed by %.1f ms" % (r["p95"] - 5),
                                    r["p99"], "met" if r["p99"] <= 10 else "missed by %.1f ms" % (r["p99"] - 10)))
        sv = s["search-text"].get("server_latency_ms")
        if sv and sv.get("n"):
            L.append("Server-side handler time (`latency_ms` of the answers): P50 %.1f, P95 %.1f, "
                     "P99 %.1f ms." % (sv["p50"], sv["p95"], sv["p99"]))
    if "crowd" in s and "crowd-quiet" in s:
        q, c = s["crowd-quiet"], s["crowd"]
        h = load(os.path.join(d, "crowd-hold.json")) or {}
        L.append("")
        q2 = s.get("crowd-quiet2", q)
        L.append("Text search at %g req/s with %s connections held open (%s idle, %s sending one "
                 "header byte per second; %s connected, %s still open at the end), against the "
                 "same run without them just before and just after:" % (
                     c["rate"], h.get("conns", "?"), h.get("conns", 0) - h.get("slow", 0),
                     h.get("slow", "?"), h.get("connected", "?"), h.get("open_at_end", "?")))
        if h.get("closed_by_server"):
            L.append("The server's header deadline closed %s crowd connections (after %s s "
                     "each, median; %s s at most); hold.c opened %s again at once." % (
                         h["closed_by_server"], h.get("closed_median_s", "?"),
                         h.get("closed_max_s", "?"), h.get("reopened", "?")))
        L.append("")
        L.append("| | P50 ms | P95 ms | P99 ms | failed |")
        L.append("|---|---:|---:|---:|---:|")
        for k, r in (("quiet, before", q), ("crowd", c), ("quiet, after", q2)):
            L.append("| %s | %.2f | %.2f | %.2f | %d |" % (
                k, r["latency_ms"]["p50"], r["latency_ms"]["p95"], r["latency_ms"]["p99"],
                r["non2xx"] + r["timeouts"]))
        L.append("")
        quiet99 = (q["latency_ms"]["p99"] + q2["latency_ms"]["p99"]) / 2
        L.append("P99 with the crowd ÷ mean quiet P99: %.2f (target ≤ 1.5)." % (
            c["latency_ms"]["p99"] / quiet99))
    md = "\n".join(L) + "\n"
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
