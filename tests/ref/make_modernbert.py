#!/usr/bin/python3
"""make_modernbert.py - reference models and embeddings for the ModernBERT
family (gte-modernbert-base, modernbert-embed-base and other embedders of
answerdotai/ModernBERT).

The independent side of the ModernBERT tests (tests/test_families.c's
families_ref on the id path, ctest test_modernbert_ref):

  * random-weight model folders with the real ModernBertConfig fields and
    tensor names at small dims: hidden 64 / 4 heads and 48 / 3 heads (head
    width 16), 4 to 5 layers with a global layer every 2 or 3 and
    local_attention 8, 7 or 100, so that the sliding window cuts the test
    texts (up to 300 tokens: past the attention's 128-row blocks);
    global_rope_theta / local_rope_theta (also local_rope_theta null: the
    global base), the newer layer_types / rope_parameters spelling, norm_bias
    / attention_bias / mlp_bias off and on, exact and tanh GELU, F32 / F16 /
    BF16 tensors, with and without the "model." prefix of
    ModernBertForMaskedLM (whose head and decoder tensors are present and
    unused), mean and CLS pooling as modernbert-embed-base and
    gte-modernbert-base configure them;
  * reference embeddings from a float64 PyTorch forward written here after
    Hugging Face's ModernBertModel (modeling_modernbert.py, eval mode, the
    sdpa / eager path): embedding LayerNorm, pre-norm layers (no attn_norm in
    layer 0), fused Wqkv viewed as [3, heads, head_dim], RoPE with
    rotate_half at each layer kind's base, softmax attention with scale
    head_dim^-0.5 under the padding mask and, on local layers, the window
    |i - j| <= local_attention // 2, GeGLU MLP (Wi chunked into input and
    gate: act(input) * gate), final_norm; on right-padded batches as
    sentence-transformers runs the model, then Pooling and Normalize.  Each
    batch is checked against the texts run alone;
  * token ids: the corpus's WordPiece ids spread over the small vocabulary, a
    text of one token and a 300-token one; texts past max_seq_length are cut
    as the tokenizer cuts them (first max - 1 ids, then the last one).

Output: OUT/manifest.txt (the format of make_families.py) and per model
OUT/<name>/ with the model files, ids.txt and ref/*.f32.

Usage: make_modernbert.py --out DIR [--only NAMES]
A model folder whose .stamp matches is kept as it is.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import refcommon as rc  # noqa: E402

torch, F = mm.torch, mm.F

REFS = [("default", -1), ("default", "flip"), ("mean", -1), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]

# name -> spec.  every: global_attn_every_n_layers; local: local_attention;
# theta_l None: local_rope_theta null (the global base); spelling "new":
# layer_types + rope_parameters instead of the two theta fields.
VARIANTS = {
    "modernbert_f32": dict(
        layers=5, hidden=64, heads=4, inter=96, vocab=3000, every=3, local=8,
        theta_g=160000.0, theta_l=10000.0, eps=1e-5, act="gelu", norm_bias=False,
        attn_bias=False, mlp_bias=False, dtype="F32", prefix="", arch="ModernBertModel",
        pooling="mean", normalize=True, max_seq=48, positions=8192, refs=REFS),
    "modernbert_bf16_mlm": dict(
        layers=4, hidden=48, heads=3, inter=80, vocab=2500, every=2, local=7,
        theta_g=80000.0, theta_l=5000.0, eps=1e-5, act="gelu", norm_bias=True,
        attn_bias=True, mlp_bias=True, dtype="BF16", prefix="model.",
        arch="ModernBertForMaskedLM", pooling="cls", normalize=True, max_seq=40,
        positions=512, refs=REFS[:4]),
    "modernbert_f16_new": dict(
        layers=5, hidden=64, heads=4, inter=64, vocab=2000, every=3, local=8,
        theta_g=40000.0, theta_l=2000.0, eps=1e-6, act="gelu_pytorch_tanh", norm_bias=True,
        attn_bias=False, mlp_bias=True, dtype="F16", prefix="", arch="ModernBertModel",
        pooling="mean", normalize=False, max_seq=300, positions=8192, spelling="new",
        refs=REFS[:3]),
    "modernbert_f32_nulltheta": dict(
        layers=4, hidden=48, heads=3, inter=64, vocab=2000, every=3, local=100,
        theta_g=160000.0, theta_l=None, eps=1e-5, act="gelu", norm_bias=False,
        attn_bias=True, mlp_bias=False, dtype="F32", prefix="model.",
        arch="ModernBertForMaskedLM", pooling="cls", normalize=True, max_seq=260,
        positions=8192, refs=REFS[:2]),
}


# --------------------------------------------------------------------------
# Token ids


def corpus_ids(s):
    """A model's texts, untruncated: the corpus spread over the vocabulary,
    one token, and a long text."""
    v = s["vocab"]
    seqs = [[4 + (i * 7919) % (v - 5) for i in x] for x in mm.read_corpus()]
    seqs.append([v - 1])
    seqs.append([4 + (k * 104729) % (v - 5) for k in range(300)])
    return seqs


def max_tokens(s):
    return min(s["max_seq"], s["positions"])


# --------------------------------------------------------------------------
# Weights


def names(s):
    """(name, shape) of every ModernBertModel tensor (no prefix)."""
    H, I, V = s["hidden"], s["inter"], s["vocab"]
    nb = s["norm_bias"]

    def norm(p):
        return [(p + "weight", (H,))] + ([(p + "bias", (H,))] if nb else [])

    def lin(p, n, k, bias):
        return [(p + "weight", (n, k))] + ([(p + "bias", (n,))] if bias else [])

    out = [("embeddings.tok_embeddings.weight", (V, H))] + norm("embeddings.norm.")
    for i in range(s["layers"]):
        p = "layers.%d." % i
        if i > 0:
            out += norm(p + "attn_norm.")
        out += lin(p + "attn.Wqkv.", 3 * H, H, s["attn_bias"])
        out += lin(p + "attn.Wo.", H, H, s["attn_bias"])
        out += norm(p + "mlp_norm.")
        out += lin(p + "mlp.Wi.", 2 * I, H, s["mlp_bias"])
        out += lin(p + "mlp.Wo.", H, I, s["mlp_bias"])
    out += norm("final_norm.")
    return out


def head_names(s):
    """ModernBertForMaskedLM's head and decoder (unused by an embedder)."""
    H, V = s["hidden"], s["vocab"]
    out = [("head.dense.weight", (H, H)), ("head.norm.weight", (H,)), ("decoder.bias", (V,))]
    if s["norm_bias"]:
        out.append(("head.norm.bias", (H,)))
    return out


def make_weights(name, s):
    """Random weights scaled so that every part moves the output: norm gains
    near 1 and biases near 0 with a spread (a missing one shows), attention
    scores of spread ~1.5 (softmax and the window matter), GELU inputs of
    spread ~1.4 (exact and tanh GELU differ), an embedding of unit RMS."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    H, I = s["hidden"], s["inter"]
    w = {}
    for n, shape in names(s):
        if n == "embeddings.tok_embeddings.weight":
            t = torch.randn(shape, generator=g)
        elif n.endswith("norm.weight"):
            t = torch.randn(shape, generator=g) * 0.15 + 1.0
        elif n.endswith(".bias"):
            t = torch.randn(shape, generator=g) * 0.1
        else:
            std = {"attn.Wqkv": 1.2 / math.sqrt(H), "attn.Wo": 1.0 / math.sqrt(H),
                   "mlp.Wi": 1.4 / math.sqrt(H), "mlp.Wo": 1.0 / math.sqrt(I)}[
                       ".".join(n.split(".")[-3:-1])]
            t = torch.randn(shape, generator=g) * std
        w[n] = t
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


def make_head(name, s):
    g = torch.Generator().manual_seed(mm.seed_of(name + "/head"))
    return {n: mm.round_to(torch.randn(shape, generator=g) * 0.05, s["dtype"])
            for n, shape in head_names(s)}


# --------------------------------------------------------------------------
# Reference forward (Hugging Face ModernBertModel semantics, eval mode)


def act_fn(s):
    if s["act"] == "gelu":
        return lambda x: F.gelu(x)
    if s["act"] in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    raise ValueError(s["act"])


def theta_of(s, local):
    if not local:
        return s["theta_g"]
    return s["theta_g"] if s["theta_l"] is None else s["theta_l"]


def forward(s, w, ids, mask):
    """Last hidden states [B, T, H] of ids [B, T] under the padding mask."""
    H, nh = s["hidden"], s["heads"]
    hd, eps, act = H // nh, s["eps"], act_fn(s)
    B, T = ids.shape

    def norm(x, p):
        return F.layer_norm(x, (H,), w[p + "weight"], w.get(p + "bias"), eps)

    def lin(x, p):
        return F.linear(x, w[p + "weight"], w.get(p + "bias"))

    pad_ok = mask.bool()[:, None, None, :]                       # [B, 1, 1, T]
    pos = torch.arange(T)
    near = (pos[None, :] - pos[:, None]).abs() <= s["local"] // 2   # [T, T]
    x = norm(F.embedding(ids, w["embeddings.tok_embeddings.weight"]), "embeddings.norm.")
    for i in range(s["layers"]):
        p = "layers.%d." % i
        local = i % s["every"] != 0
        h = x if i == 0 else norm(x, p + "attn_norm.")
        qkv = lin(h, p + "attn.Wqkv.").view(B, T, 3, nh, hd)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)              # [B, nh, T, hd]
        cos, sin = rc.rope_cos_sin(hd, theta_of(s, local), T)
        q = q * cos + rc.rotate_half(q) * sin
        k = k * cos + rc.rotate_half(k) * sin
        scores = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5
        allowed = pad_ok & near[None, None] if local else pad_ok
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        ctx = torch.matmul(F.softmax(scores, dim=-1), v)
        x = x + lin(ctx.transpose(1, 2).reshape(B, T, H), p + "attn.Wo.")
        a, gate = lin(norm(x, p + "mlp_norm."), p + "mlp.Wi.").chunk(2, dim=-1)
        x = x + lin(act(a) * gate, p + "mlp.Wo.")
    return norm(x, "final_norm.")


def token_embeddings(s, w, seqs):
    """Each text's own last hidden states [len, H], run in right-padded
    batches as sentence-transformers runs the model."""
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.zeros((len(idx), T), dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, :len(seqs[i])] = 1
            h = forward(s, w, ids, mask)
            for r, i in enumerate(idx):
                out[i] = h[r, :len(seqs[i])]
    return out


def check_alone(s, w, seqs, tok_out, name):
    """Padded batches = the texts alone (no padding token enters attention)."""
    with torch.no_grad():
        for i in sorted(set([0, 1, len(seqs) - 1,
                             min(range(len(seqs)), key=lambda j: len(seqs[j]))])):
            ids = torch.tensor([seqs[i]])
            h = forward(s, w, ids, torch.ones_like(ids))[0]
            d = (h - tok_out[i]).abs().max().item()
            if d > 1e-8:
                sys.exit("%s: reference depends on padding: text %d differs by %g" % (name, i, d))


def check_window(s, w, name):
    """The window matters: a text longer than it gives other states than
    the same weights with every layer global (else the test proves
    nothing about local layers)."""
    ids = torch.tensor([[4 + (k * 31) % (s["vocab"] - 5) for k in range(3 * s["local"])]])
    with torch.no_grad():
        a = forward(s, w, ids, torch.ones_like(ids))
        b = forward(dict(s, every=1), w, ids, torch.ones_like(ids))
    if (a - b).abs().max().item() < 1e-3:
        sys.exit("%s: local attention does not change the output" % name)


# --------------------------------------------------------------------------
# Model folders


def config_json(s):
    """ModernBertConfig.to_dict() as the released checkpoints write it."""
    cfg = {"architectures": [s["arch"]], "attention_bias": s["attn_bias"],
           "attention_dropout": 0.0, "bos_token_id": s["vocab"] - 4,
           "classifier_activation": "gelu", "classifier_bias": False,
           "classifier_dropout": 0.0, "classifier_pooling": "mean",
           "cls_token_id": s["vocab"] - 4, "decoder_bias": True,
           "deterministic_flash_attn": False, "embedding_dropout": 0.0,
           "eos_token_id": s["vocab"] - 3, "global_attn_every_n_layers": s["every"],
           "global_rope_theta": s["theta_g"], "gradient_checkpointing": False,
           "hidden_activation": s["act"], "hidden_size": s["hidden"],
           "initializer_cutoff_factor": 2.0, "initializer_range": 0.02,
           "intermediate_size": s["inter"], "layer_norm_eps": 1e-05,
           "local_attention": s["local"], "local_rope_theta": s["theta_l"],
           "max_position_embeddings": s["positions"], "mlp_bias": s["mlp_bias"],
           "mlp_dropout": 0.0, "model_type": "modernbert", "norm_bias": s["norm_bias"],
           "norm_eps": s["eps"], "num_attention_heads": s["heads"],
           "num_hidden_layers": s["layers"], "pad_token_id": s["vocab"] - 2,
           "position_embedding_type": "absolute", "repad_logits_with_grad": False,
           "sep_token_id": s["vocab"] - 3, "sparse_pred_ignore_index": -100,
           "sparse_prediction": False,
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]],
           "vocab_size": s["vocab"]}
    if s.get("spelling") == "new":   # transformers 5's to_dict()
        del cfg["global_rope_theta"], cfg["local_rope_theta"]
        cfg["layer_types"] = ["sliding_attention" if i % s["every"] else "full_attention"
                              for i in range(s["layers"])]
        cfg["rope_parameters"] = {
            "full_attention": {"rope_type": "default", "rope_theta": s["theta_g"]},
            "sliding_attention": {"rope_type": "default", "rope_theta": s["theta_l"]}}
    return cfg


def write_files(d, name, s, weights):
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), mods)
    rc.write_pooling(d, s["hidden"], s["pooling"], s["max_seq"])
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": s["positions"]})
    items = rc.weight_items(weights, s["dtype"], s["prefix"])
    if s["arch"] == "ModernBertForMaskedLM":
        items += rc.weight_items(make_head(name, s), s["dtype"])
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 26)
    if d is None:
        return
    t0 = time.time()
    weights = make_weights(name, s)
    write_files(d, name, s, weights)
    w = {k: v.double() for k, v in weights.items()}
    check_window(s, w, name)
    raw = corpus_ids(s)
    rc.write_ids(d, raw)
    seqs = [rc.truncate(x, max_tokens(s)) for x in raw]
    tok_out = token_embeddings(s, w, seqs)
    check_alone(s, w, seqs, tok_out, name)
    rc.write_refs(d, s, tok_out, len(seqs), s["pooling"])
    rc.finish_build(d, stamp, name, 26, t0, "%d texts, max_tokens %d"
                    % (len(seqs), max_tokens(s)))


def manifest_lines(name, s):
    return [rc.model_line(name, s, max_tokens(s), s["pooling"])] + rc.ref_lines(name, s)


def main():
    rc.run(__doc__, VARIANTS,
           ["# AkiDB ModernBERT reference models, written by tests/ref/make_modernbert.py;",
            "# read by tests/test_families.c (families_ref).  Do not edit."],
           build, manifest_lines, "ModernBERT reference models")


if __name__ == "__main__":
    main()
