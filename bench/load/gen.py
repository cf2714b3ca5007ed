#!/usr/bin/python3
"""gen.py - writes the request bodies of the server load benchmark (bench/load/run.sh).

Deterministic (fixed seeds); run.sh keeps the output and only rewrites it
when the settings or this file change.

  OUT/vec/NNNN.json     vector upserts: POINTS - DOCS points, BATCH per body,
                        DIM-d vectors drawn around 256 random centres
                        (Gaussian, then L2-normalised), payload {"c","n"}
  OUT/docs/NNNN.json    document upserts: DOCS texts of TEXTS (one per line,
                        cycled; ids unique), DOC_BATCH per body, payload {"n"}
  OUT/q_vec.jsonl       1000 vector searches (top_k 10), drawn like the data
  OUT/q_text.jsonl      text searches (top_k 10): the first 8 words of each
                        text of TEXTS, a short real query
  OUT/queries.txt       the same query texts, one per line (akidb bench embed)
  OUT/embed_q.jsonl     POST /api/v1/embed bodies, one query text each
  OUT/oai1.jsonl        POST /v1/embeddings bodies, 1 text of TEXTS each
  OUT/oai32.jsonl       POST /v1/embeddings bodies, 32 consecutive texts each

usage: gen.py OUT TEXTS POINTS DOCS DIM BATCH DOC_BATCH
"""
import json
import os
import sys

import numpy as np


def vec_text(rows):
    # 5 decimals: the values of a normalised 384-d vector are ~0.05
    return ["[" + ",".join("%.5f" % x for x in r) + "]" for r in rows.tolist()]


def main():
    out, texts_path = sys.argv[1], sys.argv[2]
    points, docs, dim, batch, doc_batch = (int(a) for a in sys.argv[3:8])
    texts = [t.rstrip("\n") for t in open(texts_path, encoding="utf-8") if t.strip()]
    os.makedirs(os.path.join(out, "vec"), exist_ok=True)
    os.makedirs(os.path.join(out, "docs"), exist_ok=True)

    rng = np.random.default_rng(20240611)
    centres = rng.standard_normal((256, dim)).astype(np.float32)

    def draw(n):
        c = rng.integers(0, len(centres), n)
        v = centres[c] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return c, v

    n_vec = max(0, points - docs)
    for b, start in enumerate(range(0, n_vec, batch)):
        n = min(batch, n_vec - start)
        c, v = draw(n)
        vs = vec_text(v)
        pts = ['{"id":"v%d","vector":%s,"payload":{"c":%d,"n":%d}}'
               % (start + i, vs[i], int(c[i]), (start + i) % 100) for i in range(n)]
        with open(os.path.join(out, "vec", "%04d.json" % b), "w") as f:
            f.write('{"points":[' + ",".join(pts) + "]}")

    for b, start in enumerate(range(0, docs, doc_batch)):
        n = min(doc_batch, docs - start)
        pts = [json.dumps({"id": "d%d" % (start + i), "text": texts[(start + i) % len(texts)],
                           "payload": {"n": (start + i) % 100}}, ensure_ascii=False)
               for i in range(n)]
        with open(os.path.join(out, "docs", "%04d.json" % b), "w", encoding="utf-8") as f:
            f.write('{"points":[' + ",".join(pts) + "]}")

    _, q = draw(1000)
    with open(os.path.join(out, "q_vec.jsonl"), "w") as f:
        for s in vec_text(q):
            f.write('{"vector":%s,"top_k":10}\n' % s)

    queries = [" ".join(t.split()[:8]) for t in texts]
    with open(os.path.join(out, "q_text.jsonl"), "w", encoding="utf-8") as f:
        for t in queries:
            f.write(json.dumps({"text": t, "top_k": 10}, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "queries.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in queries))
    with open(os.path.join(out, "embed_q.jsonl"), "w", encoding="utf-8") as f:
        for t in queries:
            f.write(json.dumps({"texts": [t]}, ensure_ascii=False) + "\n")

    with open(os.path.join(out, "oai1.jsonl"), "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"input": [t]}, ensure_ascii=False) + "\n")
    with open(os.path.join(out, "oai32.jsonl"), "w", encoding="utf-8") as f:
        # 32 consecutive texts per body, wrapping, so that len(texts) bodies
        # cover every text 32 times in file order
        for i in range(0, len(texts) * 32, 32):
            chunk = [texts[(i + k) % len(texts)] for k in range(32)]
            f.write(json.dumps({"input": chunk}, ensure_ascii=False) + "\n")
    print("gen.py: %d vector points in %d bodies, %d documents, %d texts -> %s"
          % (n_vec, (n_vec + batch - 1) // batch, docs, len(texts), out), file=sys.stderr)


if __name__ == "__main__":
    main()
