#!/usr/bin/python3
"""families_onnx.py - model folders of the decoder / ModernBERT / Gemma 3
shapes for the family benchmark (bench/families/run.sh) and their ONNX export
for the ONNX Runtime peer (bench/embed/ort_bench.mjs).

  families_onnx.py make --shape NAME --out DIR [--dtype F32|BF16] [--max-seq 256]
      a random-weight model folder of that shape, written by the test
      generators (tests/ref/make_qwen3.py, make_modernbert.py, make_gemma3.py:
      their weight names, config.json, modules.json and pooling files) at the
      real dimensions, with the WordPiece tokenizer files of bench/embed's
      models (bert_onnx.tokenizer_dir): every shape then sees the same ids
      on both engines, and speed does not depend on which tokenizer made
      them.  Shapes:
        qwen3-0.6b       Qwen3-Embedding-0.6B: 28 x 1024, FFN 3072, 16 query /
                         8 key-value heads of 128, vocab 151669, rope_theta 1e6,
                         last-token pooling, Normalize
        modernbert-base  gte-modernbert-base: 22 x 768, FFN 1152, 12 heads,
                         global attention every 3rd layer, local window 128,
                         vocab 50368, CLS pooling, Normalize
        gemma-300m       embeddinggemma-300m: 24 x 768, FFN 1152, 3 query / 1
                         key-value head of 256, sliding window 512 (5 local :
                         1 global), vocab 262144, mean pooling, Dense
                         768 -> 3072 -> 768, Normalize
        msmarco-minilm-l6  the cross-encoder ms-marco-MiniLM-L-6-v2
                         (BertForSequenceClassification 6 x 384, one label;
                         tests/ref/make_rerankers.py's folder and module),
                         exported as (input_ids, attention_mask,
                         token_type_ids) -> scores (sigmoid of the logit)

  families_onnx.py export --model DIR --out FILE.onnx [--opset 14]
      the same forward in float32 PyTorch: the generators' reference modules
      (their float64 RoPE table replaced by a float32 one), followed by the
      folder's pooling, Dense modules and Normalize, exported as
      input_ids, attention_mask (int64, [batch, seq]) -> sentence_embedding
      with dynamic batch and sequence axes; files over 2 GB get their tensors
      as external data next to FILE.onnx (so give each export its own
      folder).  FILE.check.json holds a right-padded batch and PyTorch's
      output for it, as bench/embed/bert_onnx.py writes it.

Needs Debian's python3-torch (1.13); run with /usr/bin/python3.
"""

import argparse
import json
import os
import shutil
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
sys.path.insert(0, os.path.join(ROOT, "bench", "embed"))
import bert_onnx as bo  # noqa: E402
import make_models as mm  # noqa: E402
import refcommon as rc  # noqa: E402
import make_qwen3 as mq  # noqa: E402
import make_modernbert as mb  # noqa: E402
import make_gemma3 as mg  # noqa: E402
import make_rerankers as mr  # noqa: E402

torch, nn, F = mm.torch, mm.nn, mm.F

GEMMA_KINDS = ([mg.SLIDING] * 5 + [mg.FULL]) * 4

SHAPES = {
    "qwen3-0.6b": (mq, dict(
        layers=28, hidden=1024, heads=16, kv_heads=8, head_dim=128, inter=3072, vocab=151669,
        theta=1e6, eps=1e-6, dtype="F32", prefix="", arch="Qwen3Model", max_seq=256,
        normalize=True, refs=[]), "lasttoken"),
    "modernbert-base": (mb, dict(
        layers=22, hidden=768, heads=12, inter=1152, vocab=50368, every=3, local=128,
        theta_g=160000.0, theta_l=10000.0, eps=1e-5, act="gelu", norm_bias=False,
        attn_bias=False, mlp_bias=False, dtype="F32", prefix="", arch="ModernBertModel",
        pooling="cls", normalize=True, max_seq=256, positions=8192, refs=[]), "cls"),
    "gemma-300m": (mg, dict(
        layers=24, hidden=768, heads=3, kv_heads=1, head_dim=256, inter=1152, vocab=262144,
        qpas=256, window=512, kinds=GEMMA_KINDS, pattern=None, bidir=True, theta=1e6,
        local_theta=1e4, eps=1e-6, dtype="F32", prefix="", arch="Gemma3TextModel",
        max_seq=256, normalize=True, refs=[], dense=[3072, 768]), "mean"),
}


# Rerankers (cross-encoders): tests/ref/make_rerankers.py's module and files.
RERANKERS = {
    "msmarco-minilm-l6": dict(
        family="bert", arch="BertForSequenceClassification", layers=6, hidden=384, heads=12,
        inter=1536, act="gelu", eps=1e-12, vocab=30522, positions=512, type_vocab=2,
        dtype="F32", prefix="bert.", labels=["LABEL_0"], st_act=None, text=True),
}


def rope_cos_sin_f32(hd, theta, T):
    """rc.rope_cos_sin in float32, so that the exported graph is float32."""
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


# ---------------------------------------------------------------------------
# make


def write_dense(d, dims, hidden, g):
    """EmbeddingGemma's Dense modules (no bias, Identity) in d/2_Dense, 3_Dense."""
    mods, n_in = [], hidden
    for k, n_out in enumerate(dims):
        sub = "%d_Dense" % (k + 2)
        os.makedirs(os.path.join(d, sub))
        mm.write_json(os.path.join(d, sub, "config.json"), {
            "in_features": n_in, "out_features": n_out, "bias": False,
            "activation_function": "torch.nn.modules.linear.Identity"})
        w = torch.randn((n_out, n_in), generator=g) / n_in ** 0.5
        mm.write_safetensors(os.path.join(d, sub, "model.safetensors"),
                             [("linear.weight", "F32", tuple(w.shape), mm.tensor_bytes(w, "F32"))])
        mods.append({"idx": k + 2, "name": str(k + 2), "path": sub,
                     "type": "sentence_transformers.models.Dense"})
        n_in = n_out
    return mods


def make_reranker(a):
    s = RERANKERS[a.shape]
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    with mm.no_init():
        model = mr.BertForSequenceClassification(s)
    mr.write_files(a.out, s, mr.make_weights(a.shape, model, s))
    mm.write_json(os.path.join(a.out, "bench_shape.json"), {"shape": a.shape, "dtype": "F32"})
    print("families_onnx: %s: %s reranker (%d x %d)" % (a.out, a.shape, s["layers"], s["hidden"]))


class Reranker(nn.Module):
    """Scores of the pairs: the classifier's logit through CrossEncoder's
    default activation for one label (sigmoid)."""

    def __init__(self, s, w):
        super().__init__()
        with mm.no_init():
            self.m = mr.BertForSequenceClassification(s)
        self.m.load_state_dict(w, strict=True)

    def forward(self, input_ids, attention_mask, token_type_ids):
        return torch.sigmoid(self.m(input_ids, token_type_ids, attention_mask))[:, 0]


def export_reranker(a, s):
    model = Reranker(s, {k: v for k, v in bo.read_safetensors(
        os.path.join(a.model, "model.safetensors")).items() if "position_ids" not in k}).eval()
    ids = torch.randint(1000, 30000, (2, 19), generator=torch.Generator().manual_seed(1))
    mask, types = torch.ones_like(ids), torch.zeros_like(ids)
    types[:, 9:], ids[1, 12:], mask[1, 12:] = 1, 0, 0
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, mask, types), a.out,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["scores"],
            dynamic_axes={n: {0: "batch", 1: "sequence"}
                          for n in ("input_ids", "attention_mask", "token_type_ids")},
            opset_version=a.opset, do_constant_folding=True)
    print("families_onnx: %s: exported reranker (opset %d)" % (a.out, a.opset))


def cmd_make(a):
    if a.shape in RERANKERS:
        return make_reranker(a)
    mod, s, _ = SHAPES[a.shape]
    s = dict(s, dtype=a.dtype, max_seq=a.max_seq)
    d = a.out
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    torch.set_num_threads(a.threads)
    weights = mod.make_weights(a.shape, s)
    if mod is mb:
        mod.write_files(d, a.shape, s, weights)
    else:
        mod.write_files(d, s, weights, None)
    del weights
    if s.get("dense"):
        mods = [m for m in json.load(open(os.path.join(d, "modules.json")))
                if not m["type"].endswith("Normalize")]
        mods += write_dense(d, s["dense"], s["hidden"],
                            torch.Generator().manual_seed(mm.seed_of(a.shape + "/dense")))
        mods.append({"idx": len(mods), "name": str(len(mods)), "path": "%d_Normalize" % len(mods),
                     "type": "sentence_transformers.models.Normalize"})
        mm.write_json(os.path.join(d, "modules.json"), mods)
    tok = bo.tokenizer_dir()
    for fn in bo.TOKENIZER_FILES:
        if os.path.isfile(os.path.join(tok, fn)):
            shutil.copyfile(os.path.join(tok, fn), os.path.join(d, fn))
    mm.write_json(os.path.join(d, "bench_shape.json"), {"shape": a.shape, "dtype": a.dtype})
    print("families_onnx: %s: %s model (%d x %d, %s, max_seq %d)"
          % (d, a.shape, s["layers"], s["hidden"], a.dtype, a.max_seq))


# ---------------------------------------------------------------------------
# export


class Functional(nn.Module):
    """ModernBERT's functional reference forward with its weights as buffers."""

    def __init__(self, s, w):
        super().__init__()
        self.s, self.names = s, sorted(w)
        for i, n in enumerate(self.names):
            self.register_buffer("w%d" % i, w[n])

    def forward(self, ids, mask):
        w = {n: getattr(self, "w%d" % i) for i, n in enumerate(self.names)}
        return mb.forward(self.s, w, ids, mask)


class Embedder(nn.Module):
    """The token model, then Pooling, Dense modules and Normalize."""

    def __init__(self, core, pooling, dense, normalize):
        super().__init__()
        self.core, self.pooling, self.normalize = core, pooling, normalize
        self.dense = nn.ModuleList()
        for wt in dense:
            lin = nn.Linear(wt.shape[1], wt.shape[0], bias=False)
            lin.weight.data.copy_(wt)
            self.dense.append(lin)

    def forward(self, input_ids, attention_mask):
        h = self.core(input_ids, attention_mask)
        m = attention_mask.to(h.dtype)
        if self.pooling == "cls":
            v = h[:, 0]
        elif self.pooling == "lasttoken":      # right padding: the last real token
            last = attention_mask.sum(1) - 1
            v = h[torch.arange(h.shape[0]), last]
        else:
            v = (h * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
        for lin in self.dense:
            v = lin(v)
        return F.normalize(v, p=2.0, dim=1) if self.normalize else v


def load_embedder(d):
    shape = json.load(open(os.path.join(d, "bench_shape.json")))["shape"]
    mod, s, pooling = SHAPES[shape]
    w = bo.load_weights(d)
    w = {k[6:] if k.startswith("model.") else k: v for k, v in w.items()}
    with mm.no_init():
        if mod is mb:
            core = Functional(s, {k: v for k, v in w.items() if not k.startswith(("head.", "decoder."))})
        else:
            core = (mq.Qwen3 if mod is mq else mg.Gemma3)(s)
            core.load_state_dict(w, strict=True)
    dense = []
    for k in range(len(s.get("dense", []))):
        dense.append(bo.read_safetensors(os.path.join(d, "%d_Dense" % (k + 2),
                                                      "model.safetensors"))["linear.weight"])
    return Embedder(core.float(), pooling, dense, s["normalize"]).eval(), s


def cmd_export(a):
    warnings.filterwarnings("ignore", category=UserWarning)
    rc.rope_cos_sin = rope_cos_sin_f32
    torch.set_num_threads(a.threads)
    shape = json.load(open(os.path.join(a.model, "bench_shape.json")))["shape"]
    if shape in RERANKERS:
        return export_reranker(a, RERANKERS[shape])
    model, s = load_embedder(a.model)
    B, T = 2, 19
    ids = torch.randint(1000, min(s["vocab"], 30000), (B, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones((B, T), dtype=torch.long)
    ids[1, 12:], mask[1, 12:] = 0, 0
    with torch.no_grad():
        want = model(ids, mask)
        torch.onnx.export(
            model, (ids, mask), a.out, input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "sentence_embedding": {0: "batch"}},
            opset_version=a.opset, do_constant_folding=True)
    bo.write_json(os.path.splitext(a.out)[0] + ".check.json", {
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(),
        "sentence_embedding": want.tolist(), "pooling": model.pooling,
        "normalize": model.normalize})
    print("families_onnx: %s: exported (opset %d)" % (a.out, a.opset))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a random-weight model folder")
    m.add_argument("--shape", choices=sorted(SHAPES) + sorted(RERANKERS), required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--dtype", choices=["F32", "BF16"], default="F32")
    m.add_argument("--max-seq", type=int, default=256)
    m.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("export", help="export a model folder to ONNX")
    e.add_argument("--model", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--opset", type=int, default=14)
    e.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.cmd == "make":
        cmd_make(a)
    else:
        if a.opset < 14:
            ap.error("--opset must be at least 14")
        cmd_export(a)


if __name__ == "__main__":
    main()
