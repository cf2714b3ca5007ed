#!/usr/bin/python3
"""make_pipeline.py - reference embeddings for the sentence-transformers
pipeline around the transformer: every Pooling mode (cls, mean, max,
mean_sqrt_len_tokens, weightedmean, lasttoken; include_prompt false),
Dense modules (2_Dense / 3_Dense ...: Tanh, Identity, ReLU, Sigmoid, GELU,
SiLU, with and without bias, F32 / BF16 / F16 weights), Normalize, and encode's truncate_dim with and
without normalize_embeddings.

The independent side of tests/test_pipeline.c.  The BERT forward is the
float64 PyTorch reference of make_models.py on padded batches with an
attention mask; the steps after it are written here after
sentence_transformers.models.Pooling / Dense / Normalize and
SentenceTransformer.encode (prompt_length: the prompt alone tokenised, less
its closing [SEP]; prompt tokens masked out of pooling; truncation after the
whole module list, then F.normalize when normalize_embeddings).

Texts: the corpus of tests/golden/embed_corpus_ids.jsonl, whose ids come
from an independent tokenizer; with the prompt "query: " the ids are
[CLS] query : + the text's ids after [CLS] (BertTokenizer splits the prompt
off at the space and the colon), cut to max_seq_length as the tokenizer
cuts: the first max - 1 ids and [SEP].

Output (read by tests/test_pipeline.c): OUT/texts.json (the corpus texts),
OUT/manifest.txt and per model OUT/<name>/ with the model files and
ref/*.f32 (the AKIDBREF format of make_models.py).

manifest.txt lines:
  model NAME dim=D max_tokens=N pooling=P normalize=0|1
  ref NAME FILE pooling=P normalize=-1|0|1 truncate=T prompt=NAME|-
  ids NAME PROMPT i id,id,...   (the reference's ids of text i with PROMPT)

Usage: make_pipeline.py --out DIR
"""

import hashlib
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import refcommon as rc  # noqa: E402

torch, F = mm.torch, mm.F

PROMPT, PROMPT_IDS = "query: ", [23032, 1024]   # vocab.txt lines of "query", ":"
POOLINGS = ["mean", "cls", "max", "mean_sqrt_len", "weightedmean", "lasttoken"]

BASE = dict(layers=2, hidden=32, heads=4, inter=64, act="gelu", eps=1e-12,
            dtype="F32", prefix="", shards=1, max_seq=128)

# dense: (folder, in, out, bias, activation class, stored dtype)
VARIANTS = {
    # mean pooling, 32 -> 48 tanh -> 24 identity, Normalize: embeddinggemma's
    # shape of pipeline
    "pipe_dense": dict(
        BASE, pooling="mean", include_prompt=True, normalize=True,
        dense=[("2_Dense", 32, 48, True, "torch.nn.modules.activation.Tanh", "F32"),
               ("3_Dense", 48, 24, False, "torch.nn.modules.linear.Identity", "BF16")],
        truncate_dim=None,
        refs=[(p, -1, 0, None) for p in ["default"] + POOLINGS]
        + [("default", 0, 0, None), ("default", 1, 0, None),
           ("default", -1, 16, None), ("default", 1, 16, None),
           ("default", -1, 0, "query"), ("weightedmean", 1, 8, "query")]),
    # weighted mean without the prompt's tokens, one Dense, no Normalize, a
    # default truncate_dim in config_sentence_transformers.json
    "pipe_weighted": dict(
        BASE, pooling="weightedmean", include_prompt=False, normalize=False,
        dense=[("2_Dense", 32, 32, True, "torch.nn.modules.activation.Tanh", "F16")],
        truncate_dim=20,
        refs=[("default", -1, 0, None), ("default", -1, 0, "query"),
              ("default", -1, 32, "query"), ("default", 1, 0, "query")]
        + [(p, -1, 0, "query") for p in POOLINGS]),
    # the other activations sentence-transformers folders name, chained
    "pipe_acts": dict(
        BASE, pooling="cls", include_prompt=True, normalize=True,
        dense=[("2_Dense", 32, 24, True, "torch.nn.modules.activation.ReLU", "F32"),
               ("3_Dense", 24, 20, True, "torch.nn.modules.activation.Sigmoid", "F32"),
               ("4_Dense", 20, 16, False, "torch.nn.modules.activation.GELU", "BF16"),
               ("5_Dense", 16, 12, True, "torch.nn.modules.activation.SiLU", "F16")],
        truncate_dim=None,
        refs=[("default", -1, 0, None), ("mean", 0, 0, None), ("max", 1, 6, None)]),
}


def dense_weights(name, folder, fin, fout, bias, dtype):
    g = torch.Generator().manual_seed(mm.seed_of(name + "/" + folder))
    w = torch.randn((fout, fin), generator=g) * (1.5 / fin ** 0.5)
    b = torch.randn((fout,), generator=g) * 0.2 if bias else None
    return mm.round_to(w, dtype), (mm.round_to(b, dtype) if bias else None)


def write_model(d, name, s, weights, tokdir):
    spec = dict(s, normalize=False, pooling="mean")   # files written below
    mm.write_model_files(d, name, spec, weights, tokdir)
    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    dw = {}
    for folder, fin, fout, bias, act, dt in s["dense"]:
        modules.append({"idx": len(modules), "name": str(len(modules)), "path": folder,
                        "type": "sentence_transformers.models.Dense"})
        os.makedirs(os.path.join(d, folder), exist_ok=True)
        mm.write_json(os.path.join(d, folder, "config.json"),
                      {"in_features": fin, "out_features": fout, "bias": bias,
                       "activation_function": act})
        w, b = dense_weights(name, folder, fin, fout, bias, dt)
        items = [("linear.weight", dt, (fout, fin), mm.tensor_bytes(w, dt))]
        if bias:
            items.append(("linear.bias", dt, (fout,), mm.tensor_bytes(b, dt)))
        mm.write_safetensors(os.path.join(d, folder, "model.safetensors"), items)
        dw[folder] = (w.double(), b.double() if bias else None, act)
    if s["normalize"]:
        modules.append({"idx": len(modules), "name": str(len(modules)),
                        "path": "%d_Normalize" % len(modules),
                        "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), modules)
    modes = ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
             "weightedmean_tokens", "lasttoken"]
    key = {"cls": "cls_token", "mean": "mean_tokens", "max": "max_tokens",
           "mean_sqrt_len": "mean_sqrt_len_tokens", "weightedmean": "weightedmean_tokens",
           "lasttoken": "lasttoken"}[s["pooling"]]
    pc = {"word_embedding_dimension": s["hidden"]}
    pc.update({"pooling_mode_" + m: m == key for m in modes})
    pc["include_prompt"] = s["include_prompt"]
    mm.write_json(os.path.join(d, "1_Pooling", "config.json"), pc)
    cst = {"prompts": {"query": PROMPT, "document": ""}, "default_prompt_name": None,
           "similarity_fn_name": "cosine"}
    if s["truncate_dim"]:
        cst["truncate_dim"] = s["truncate_dim"]
    mm.write_json(os.path.join(d, "config_sentence_transformers.json"), cst)
    return dw


# sentence_transformers.models.Pooling.forward, one mode, one sequence:
# h [T, H], mask [T] (0 for masked tokens).
def pool(h, mask, mode):
    m = mask.unsqueeze(-1).expand(h.size()).to(h.dtype)
    if mode == "cls":
        return h[0]
    if mode == "max":
        t = h.clone()
        t[m == 0] = -1e9
        return torch.max(t, 0)[0]
    if mode in ("mean", "mean_sqrt_len"):
        s = torch.sum(h * m, 0)
        n = torch.clamp(m.sum(0), min=1e-9)
        return s / n if mode == "mean" else s / torch.sqrt(n)
    if mode == "weightedmean":
        w = torch.arange(1, h.shape[0] + 1, dtype=h.dtype).unsqueeze(-1).expand(h.size())
        mw = m * w
        return torch.sum(h * mw, 0) / torch.clamp(mw.sum(0), min=1e-9)
    if mode == "lasttoken":
        values, idx = mask.flip(0).max(0)
        last = h.shape[0] - 1 if values.item() == 0 else h.shape[0] - idx.item() - 1
        return (h * m)[last]
    raise ValueError(mode)


def dense(x, w, b, act):
    y = x @ w.T
    if b is not None:
        y = y + b
    cls = act.rsplit(".", 1)[1]
    return {"Tanh": torch.tanh, "Identity": lambda v: v, "ReLU": torch.relu,
            "Sigmoid": torch.sigmoid, "GELU": F.gelu, "SiLU": F.silu}[cls](y)


def prompt_seq(ids, max_len):
    return mm.truncate([mm.CLS_ID] + PROMPT_IDS + list(ids[1:]), max_len)


def embed_one(h, n_tok, s, dw, pooling, normalize, truncate, skip):
    mask = torch.ones(n_tok, dtype=torch.long)
    mask[:skip] = 0
    v = pool(h[:n_tok], mask, pooling)
    for folder, *_ in s["dense"]:
        w, b, act = dw[folder]
        v = dense(v, w, b, act)
    if s["normalize"] and normalize != 0:
        v = F.normalize(v.unsqueeze(0), p=2, dim=1)[0]
    if truncate:
        v = v[:truncate]
    if normalize == 1:
        v = F.normalize(v.unsqueeze(0), p=2, dim=1)[0]
    return v


def ref_name(pooling, normalize, truncate, prompt):
    return "ref/%s_%s_t%d_%s.f32" % (pooling, {-1: "model", 0: "raw", 1: "norm"}[normalize],
                                     truncate, prompt or "none")


def stamp_of(name, s, tokdir):
    h = hashlib.sha256()
    mm.file_hash(h, os.path.abspath(__file__))
    h.update(mm.stamp_of(name, s, tokdir).encode())
    return h.hexdigest()


def build(out, name, s, corpus, tokdir):
    d = os.path.join(out, name)
    stamp, sp = stamp_of(name, s, tokdir), os.path.join(out, name, ".stamp")
    max_len = s["max_seq"]
    lines = ["model %s dim=%d max_tokens=%d pooling=%s normalize=%d"
             % (name, s["truncate_dim"] or s["dense"][-1][2], max_len, s["pooling"],
                1 if s["normalize"] else 0)]
    plain = [mm.truncate(ids, max_len) for ids in corpus]
    withp = [prompt_seq(ids, max_len) for ids in corpus]
    for pooling, normalize, truncate, prompt in s["refs"]:
        lines.append("ref %s %s pooling=%s normalize=%d truncate=%d prompt=%s"
                     % (name, ref_name(pooling, normalize, truncate, prompt), pooling,
                        normalize, truncate, prompt or "-"))
    for i, ids in enumerate(withp):
        lines.append("ids %s query %d %s" % (name, i, ",".join(str(x) for x in ids)))
    if mm.up_to_date(out, name, stamp):
        print("%-16s up to date" % name)
        return lines
    t0 = time.time()
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "ref"))
    weights = mm.make_weights(name, s)
    dw = write_model(d, name, s, weights, tokdir)
    model = mm.load_bert(s, weights)
    tok = {None: mm.token_embeddings(model, plain), "query": mm.token_embeddings(model, withp)}
    # the prompt alone: [CLS] query : [SEP], less the closing special token
    skip_of = {None: 0, "query": 0 if s["include_prompt"] else 1 + len(PROMPT_IDS)}
    for pooling, normalize, truncate, prompt in s["refs"]:
        p = s["pooling"] if pooling == "default" else pooling
        seqs = withp if prompt else plain
        rows = []
        for i in range(len(corpus)):
            h, _ = tok[prompt][i]
            t = truncate or s["truncate_dim"] or 0
            rows.append(embed_one(h, len(seqs[i]), s, dw, p, normalize, t, skip_of[prompt]))
        mm.write_ref(os.path.join(d, ref_name(pooling, normalize, truncate, prompt)),
                     list(range(len(corpus))), torch.stack(rows))
    with open(sp, "w") as f:
        f.write(stamp + "\n")
    mm.cache_put(d)
    print("%-16s built in %.1f s" % (name, time.time() - t0))
    return lines


def main():
    a = rc.parse_args(__doc__, select=False)
    os.makedirs(a.out, exist_ok=True)
    tokdir = mm.tokenizer_dir()
    texts = []
    with open(mm.IDS_PATH, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                texts.append(json.loads(line)["text"])
    corpus = mm.read_corpus()
    with open(os.path.join(a.out, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    lines = []
    for name, s in VARIANTS.items():
        lines += build(a.out, name, s, corpus, tokdir)
    rc.write_manifest(a.out, ["# written by tests/ref/make_pipeline.py"] + lines)


if __name__ == "__main__":
    main()
