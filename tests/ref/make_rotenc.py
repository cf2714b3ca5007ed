#!/usr/bin/python3
"""make_rotenc.py - reference models and embeddings for the rotary post-norm
encoders: Alibaba's GTE v1.5 / mGTE (model_type "new") and NomicBERT
(model_type "nomic_bert").

The independent side of the rotary-encoder checks (tests/test_families.c's
families_ref, run over this script's manifest by test_rotenc_ref):

  * random-weight model folders with the real config fields and tensor names
    at small dims: GTE's NewConfig (hidden_size, rope_theta, rope_scaling
    {"type": "ntk", "factor"}, type_vocab_size 0 / 1 / 2, pack_qkv,
    layer_norm_type ...) with its qkv_proj / o_proj / attn_ln /
    up_gate_proj / down_proj / mlp_ln names, with and without the "new."
    prefix of NewForMaskedLM; NomicBertConfig over GPT2Config (n_embd,
    n_head, n_inner rounded up to 256, vocab_size padded to
    pad_vocab_size_multiple, rotary_emb_fraction 1 and 0.5, rotary_emb_base,
    swiglu / geglu, qkv_proj_bias / mlp_fc1_bias / mlp_fc2_bias) with its
    Wqkv / out_proj / norm1 / fc11 / fc12 / fc2 / norm2 names, with and
    without the "bert." prefix of NomicBertForPreTraining; F32 / F16 / BF16;
  * reference embeddings from forwards written here in float64 after the
    model code each model ships (Alibaba-NLP/new-impl modeling.py: NTK
    frequencies 1 / (theta f)^(2i/d) / f^(2/d), rotate_half, post-norm
    layers, act(gate) * up with the first intermediate_size rows of
    up_gate_proj as "up"; nomic-ai/nomic-bert-2048 modeling_hf_nomic_bert.py:
    rotation of the first rotary_emb_fraction of each head, fc11(x) *
    act(fc12(x))), on right-padded batches with an additive attention mask,
    then sentence-transformers pooling of each text's own tokens and
    normalisation.  Each batch is checked against the texts run alone;
  * token ids: the corpus's WordPiece ids (spread over the vocabulary for
    mGTE's 250048 ids), a text of one token and a 900-token one; the longest
    run past max_seq_length and are cut as the tokenizer cuts them (first
    max - 1 ids, then the last).

Output: OUT/manifest.txt (the format of make_families.py) and per model
OUT/<name>/ with the model files, ids.txt and ref/*.f32.

Usage: make_rotenc.py --out DIR [--only NAMES]
A model folder whose .stamp matches is kept as it is.
"""

import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import refcommon as rc  # noqa: E402

torch, nn, F = mm.torch, mm.nn, mm.F

REFS = [("default", -1), ("default", "flip"), ("mean", -1), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]

# name -> spec.  max_seq: sentence_bert_config's max_seq_length (None: the
# tokenizer_config's 512).
VARIANTS = {
    # gte-base-en-v1.5's layout: no token types, theta 5e5, NTK factor 2
    "gte_f32": dict(
        family="gte", layers=2, hidden=64, heads=4, inter=128, vocab=30528, types=0,
        theta=500000.0, ntk=2.0, positions=8192, eps=1e-12, act="gelu", dtype="F32",
        prefix="", arch="NewModel", pooling="cls", normalize=True, max_seq=600, refs=REFS),
    # gte-multilingual-base's: 250048 ids, one token type, theta 160000, NTK 8
    "gte_bf16_prefix": dict(
        family="gte", layers=2, hidden=48, heads=3, inter=96, vocab=250048, types=1,
        theta=160000.0, ntk=8.0, positions=8192, eps=1e-12, act="gelu", dtype="BF16",
        prefix="new.", arch="NewForMaskedLM", pooling="cls", normalize=True, max_seq=300,
        refs=REFS[:3]),
    # NewConfig's defaults otherwise: no rope_scaling, two token types
    "gte_f16_plain": dict(
        family="gte", layers=3, hidden=32, heads=2, inter=64, vocab=30528, types=2,
        theta=10000.0, ntk=None, positions=2048, eps=1e-5, act="gelu_new", dtype="F16",
        prefix="", arch="NewModel", pooling="mean", normalize=False, max_seq=None,
        refs=REFS[:2]),
    # nomic-embed-text-v1.5's layout: no biases, swiglu, whole-head rotation
    "nomic_f32": dict(
        family="nomic", layers=2, hidden=64, heads=4, inner=200, vocab=30528, pad_mult=64,
        types=2, frac=1.0, theta=1000.0, positions=8192, eps=1e-12, act="swiglu",
        qkv_bias=False, fc1_bias=False, fc2_bias=False, dtype="F32", prefix="",
        arch="NomicBertModel", pooling="mean", normalize=True, max_seq=700, refs=REFS),
    # half of each head rotated, every bias, geglu, n_inner from 8 n_embd / 3,
    # vocab 30522 padded to 30528
    "nomic_bf16_prefix_partial": dict(
        family="nomic", layers=2, hidden=64, heads=2, inner=None, vocab=30522, pad_mult=64,
        types=2, frac=0.5, theta=10000.0, positions=2048, eps=1e-5, act="geglu",
        qkv_bias=True, fc1_bias=True, fc2_bias=True, dtype="BF16", prefix="bert.",
        arch="NomicBertForPreTraining", pooling="mean", normalize=True, max_seq=None,
        refs=REFS[:3]),
    "nomic_f16": dict(
        family="nomic", layers=3, hidden=48, heads=3, inner=256, vocab=30528, pad_mult=1,
        types=1, frac=1.0, theta=1000.0, positions=2048, eps=1e-12, act="swiglu",
        qkv_bias=True, fc1_bias=True, fc2_bias=False, dtype="F16", prefix="",
        arch="NomicBertModel", pooling="cls", normalize=False, max_seq=256, refs=REFS[:2]),
}


def inter_of(s):
    """The MLP width the model builds: NewConfig's intermediate_size; for
    NomicBERT n_inner (else int(8 n_embd / 3)) rounded up to 256."""
    if s["family"] == "gte":
        return s["inter"]
    n = s["inner"] if s["inner"] is not None else int(8 * s["hidden"] / 3)
    return (n + 255) // 256 * 256


def vocab_of(s):
    if s["family"] == "gte":
        return s["vocab"]
    v, m = s["vocab"], s["pad_mult"]
    return v + (m - v % m) % m


def max_tokens(s):
    m = s["max_seq"] if s["max_seq"] is not None else 512
    return min(m, s["positions"])


# --------------------------------------------------------------------------
# Token ids


def corpus_ids(s):
    """A model's texts, untruncated: the corpus, one token, 900 tokens."""
    base = mm.read_corpus()
    v = vocab_of(s)
    if v >= mm.VOCAB:
        seqs = [list(x) for x in base]
        seqs.append([mm.CLS_ID])
        seqs.append([mm.CLS_ID] + [1000 + (k * 37) % 28000 for k in range(898)] + [mm.SEP_ID])
    else:
        raise ValueError("vocabulary below BERT's")
    if v > 100000:   # spread over a multilingual vocabulary, CLS / SEP kept
        seqs = [[i if i in (mm.CLS_ID, mm.SEP_ID) else 200 + (i * 7919) % (v - 201)
                 for i in x] for x in seqs]
    return seqs


# --------------------------------------------------------------------------
# Weights


def names(s):
    """(name, shape) of every tensor, without prefix."""
    H, I, V, L = s["hidden"], inter_of(s), vocab_of(s), s["layers"]
    out = [("embeddings.word_embeddings.weight", (V, H))]
    if s["types"] > 0:
        out.append(("embeddings.token_type_embeddings.weight", (s["types"], H)))
    if s["family"] == "gte":
        out += [("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,))]
        for i in range(L):
            p = "encoder.layer.%d." % i
            out += [(p + "attention.qkv_proj.weight", (3 * H, H)),
                    (p + "attention.qkv_proj.bias", (3 * H,)),
                    (p + "attention.o_proj.weight", (H, H)),
                    (p + "attention.o_proj.bias", (H,)),
                    (p + "attn_ln.weight", (H,)), (p + "attn_ln.bias", (H,)),
                    (p + "mlp.up_gate_proj.weight", (2 * I, H)),
                    (p + "mlp.down_proj.weight", (H, I)), (p + "mlp.down_proj.bias", (H,)),
                    (p + "mlp_ln.weight", (H,)), (p + "mlp_ln.bias", (H,))]
        return out
    out += [("emb_ln.weight", (H,)), ("emb_ln.bias", (H,))]
    for i in range(L):
        p = "encoder.layers.%d." % i
        out += [(p + "attn.Wqkv.weight", (3 * H, H)), (p + "attn.out_proj.weight", (H, H)),
                (p + "norm1.weight", (H,)), (p + "norm1.bias", (H,)),
                (p + "mlp.fc11.weight", (I, H)), (p + "mlp.fc12.weight", (I, H)),
                (p + "mlp.fc2.weight", (H, I)),
                (p + "norm2.weight", (H,)), (p + "norm2.bias", (H,))]
        if s["qkv_bias"]:
            out += [(p + "attn.Wqkv.bias", (3 * H,)), (p + "attn.out_proj.bias", (H,))]
        if s["fc1_bias"]:
            out += [(p + "mlp.fc11.bias", (I,)), (p + "mlp.fc12.bias", (I,))]
        if s["fc2_bias"]:
            out += [(p + "mlp.fc2.bias", (H,))]
    return out


def make_weights(name, s):
    """Random weights scaled so that every part moves the output: LayerNorm
    gains near 1 and biases near 0 (so a missing one shows), attention
    scores of spread ~1.4, gate inputs of spread ~1.4."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    H = s["hidden"]
    w = {}
    for n, shape in names(s):
        last = n.split(".")[-2]
        if len(shape) == 1:
            ln = "ln" in last or last.startswith("norm") or last == "LayerNorm"
            t = torch.randn(shape, generator=g) * 0.1 + (1.0 if n.endswith("weight") and ln
                                                           else 0.0)
        elif "embeddings" in n:
            t = torch.randn(shape, generator=g) * 0.5
        else:
            t = torch.randn(shape, generator=g) * (1.0 / math.sqrt(shape[1]))
            if last in ("qkv_proj", "Wqkv"):
                t[:2 * H] *= 1.2
            elif last == "up_gate_proj":
                t[shape[0] // 2:] *= 1.4
            elif last == "fc12":
                t *= 1.4
        w[n] = t
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


# --------------------------------------------------------------------------
# Reference forwards (float64, eval mode)


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def inv_freq(s):
    """The rotary frequencies of a head's rotated dims."""
    hd = s["hidden"] // s["heads"]
    if s["family"] == "nomic":
        d = int(round(hd * s["frac"]))
        return 1.0 / (s["theta"] ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    d, base = hd, s["theta"]
    if s["ntk"] is None:
        return 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    f = s["ntk"]      # NTKScalingRotaryEmbedding, mixed_b None
    inv = 1.0 / ((base * f) ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    return inv / f ** (2.0 / d)


def rotary(x, cos, sin):
    """x [B, T, nh, hd]: the first 2 * cos.shape[-1] dims rotated."""
    rd = cos.shape[-1]
    xr = x[..., :rd] * cos + rc.rotate_half(x[..., :rd]) * sin
    return torch.cat((xr, x[..., rd:]), dim=-1)


def act(name, x):
    if name in ("gelu", "geglu"):
        return F.gelu(x)
    if name == "gelu_new":
        return mm.gelu_tanh(x)
    if name == "swiglu":
        return x * torch.sigmoid(x)
    raise ValueError(name)


def linear(w, x, n, bias=True):
    b = w.get(n + ".bias") if bias else None
    return F.linear(x, w[n + ".weight"], b)


def attention(s, qkv, cos, sin, bias):
    """Fused qkv [B, T, 3H] -> context [B, T, H]: rotary q / k, scores
    scaled by head_dim^-0.5, additive padding mask, softmax."""
    B, T, _ = qkv.shape
    nh, hd = s["heads"], s["hidden"] // s["heads"]
    q, k, v = qkv.view(B, T, 3, nh, hd).unbind(dim=2)
    q, k = rotary(q, cos, sin), rotary(k, cos, sin)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + bias
    ctx = torch.matmul(F.softmax(scores, dim=-1), v)
    return ctx.transpose(1, 2).reshape(B, T, nh * hd)


def gte_forward(s, w, ids, mask):
    """NewModel: embeddings (+ type 0) and LayerNorm; per layer qkv_proj,
    RoPE, attention, o_proj, attn_ln(x + a); up_gate_proj split into up
    (first half) and gate, down_proj(act(gate) * up), mlp_ln(x + m)."""
    T, I = ids.shape[1], inter_of(s)
    x = F.embedding(ids, w["embeddings.word_embeddings.weight"])
    if s["types"] > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"],
                   s["eps"])
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq(s))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    bias = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    for i in range(s["layers"]):
        p = "encoder.layer.%d." % i
        a = attention(s, linear(w, x, p + "attention.qkv_proj"), cos, sin, bias)
        a = linear(w, a, p + "attention.o_proj")
        x = layer_norm(x + a, w[p + "attn_ln.weight"], w[p + "attn_ln.bias"], s["eps"])
        ug = linear(w, x, p + "mlp.up_gate_proj", bias=False)
        up, gate = ug[..., :I], ug[..., I:]
        m = linear(w, act(s["act"], gate) * up, p + "mlp.down_proj")
        x = layer_norm(x + m, w[p + "mlp_ln.weight"], w[p + "mlp_ln.bias"], s["eps"])
    return x


def nomic_forward(s, w, ids, mask):
    """NomicBertModel (prenorm false): embeddings (+ type 0), emb_ln; per
    layer Wqkv, RoPE on the rotated dims, attention, out_proj,
    norm1(a + x); fc2(fc11(x) * act(fc12(x))), norm2(m + x)."""
    T = ids.shape[1]
    x = F.embedding(ids, w["embeddings.word_embeddings.weight"])
    if s["types"] > 0:
        x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["emb_ln.weight"], w["emb_ln.bias"], s["eps"])
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq(s))
    cos = torch.cat((freqs.cos(), freqs.cos()), dim=-1)[None, :, None, :]
    sin = torch.cat((freqs.sin(), freqs.sin()), dim=-1)[None, :, None, :]
    bias = (1.0 - mask[:, None, None, :].double()) * torch.finfo(torch.float64).min
    for i in range(s["layers"]):
        p = "encoder.layers.%d." % i
        a = attention(s, linear(w, x, p + "attn.Wqkv"), cos, sin, bias)
        a = linear(w, a, p + "attn.out_proj")
        x = layer_norm(a + x, w[p + "norm1.weight"], w[p + "norm1.bias"], s["eps"])
        y = linear(w, x, p + "mlp.fc11") * act(s["act"], linear(w, x, p + "mlp.fc12"))
        m = linear(w, y, p + "mlp.fc2")
        x = layer_norm(m + x, w[p + "norm2.weight"], w[p + "norm2.bias"], s["eps"])
    return x


def forward(s, w, ids, mask):
    return (gte_forward if s["family"] == "gte" else nomic_forward)(s, w, ids, mask)


def token_embeddings(s, w, seqs):
    """Each text's own last hidden states [len, H], run in right-padded
    batches with an attention mask."""
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
    """Padded batches = the texts alone (the mask hides the padding)."""
    with torch.no_grad():
        for i in sorted(set([0, 1, len(seqs) - 1,
                             min(range(len(seqs)), key=lambda j: len(seqs[j]))])):
            ids = torch.tensor([seqs[i]])
            h = forward(s, w, ids, torch.ones_like(ids))[0]
            d = (h - tok_out[i]).abs().max().item()
            if d > 1e-8:
                sys.exit("%s: reference depends on padding: text %d differs by %g" % (name, i, d))


# --------------------------------------------------------------------------
# Model folders


def config_json(s):
    dt = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]]
    if s["family"] == "gte":
        cfg = {"architectures": [s["arch"]], "attention_probs_dropout_prob": 0.0,
               "auto_map": {"AutoConfig": "Alibaba-NLP/new-impl--configuration.NewConfig",
                            "AutoModel": "Alibaba-NLP/new-impl--modeling.NewModel"},
               "classifier_dropout": None, "hidden_act": s["act"],
               "hidden_dropout_prob": 0.1, "hidden_size": s["hidden"],
               "initializer_range": 0.02, "intermediate_size": s["inter"],
               "layer_norm_eps": s["eps"], "layer_norm_type": "layer_norm",
               "logn_attention_clip1": False, "logn_attention_scale": False,
               "max_position_embeddings": s["positions"], "model_type": "new",
               "num_attention_heads": s["heads"], "num_hidden_layers": s["layers"],
               "pack_qkv": True, "pad_token_id": 0, "position_embedding_type": "rope",
               "rope_scaling": ({"factor": s["ntk"], "type": "ntk"} if s["ntk"] else None),
               "rope_theta": int(s["theta"]), "torch_dtype": dt,
               "type_vocab_size": s["types"], "unpad_inputs": True,
               "use_memory_efficient_attention": True, "vocab_size": s["vocab"]}
        if s["ntk"] is None:
            del cfg["rope_scaling"]
        return cfg
    return {"activation_function": s["act"], "architectures": [s["arch"]],
            "attn_pdrop": 0.0,
            "auto_map": {"AutoConfig": "nomic-ai/nomic-bert-2048--configuration_hf_nomic_bert."
                                       "NomicBertConfig",
                         "AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert."
                                      "NomicBertModel"},
            "bos_token_id": None, "causal": False, "dense_seq_output": True,
            "embd_pdrop": 0.0, "eos_token_id": None, "fused_bias_fc": True,
            "fused_dropout_add_ln": True, "initializer_range": 0.02,
            "layer_norm_epsilon": s["eps"], "max_trained_positions": 2048,
            "mlp_fc1_bias": s["fc1_bias"], "mlp_fc2_bias": s["fc2_bias"],
            "model_type": "nomic_bert", "n_embd": s["hidden"], "n_head": s["heads"],
            "n_inner": s["inner"], "n_layer": s["layers"], "n_positions": s["positions"],
            "pad_vocab_size_multiple": s["pad_mult"], "parallel_block": False,
            "parallel_block_tied_norm": False, "prenorm": False,
            "qkv_proj_bias": s["qkv_bias"], "reorder_and_upcast_attn": False,
            "resid_pdrop": 0.0, "rotary_emb_base": int(s["theta"]),
            "rotary_emb_fraction": s["frac"], "rotary_emb_interleaved": False,
            "rotary_emb_scale_base": None, "rotary_scaling_factor": None,
            "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
            "summary_activation": None, "summary_first_dropout": 0.0,
            "summary_proj_to_labels": True, "summary_type": "cls_index",
            "summary_use_proj": True, "torch_dtype": dt, "type_vocab_size": s["types"],
            "use_cache": True, "use_flash_attn": True, "use_rms_norm": False,
            "use_xentropy": True, "vocab_size": s["vocab"]}


def write_files(d, s, weights):
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), mods)
    rc.write_pooling(d, s["hidden"], s["pooling"], s["max_seq"])
    mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": 512})
    items = rc.weight_items(weights, s["dtype"], s["prefix"])
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 26)
    if d is None:
        return
    t0 = time.time()
    weights = make_weights(name, s)
    write_files(d, s, weights)
    w = {k: v.double() for k, v in weights.items()}
    raw = corpus_ids(s)
    rc.write_ids(d, raw)
    seqs = [rc.truncate(x, max_tokens(s)) for x in raw]
    tok_out = token_embeddings(s, w, seqs)
    check_alone(s, w, seqs, tok_out, name)
    rc.write_refs(d, s, tok_out, len(seqs), s["pooling"])
    rc.finish_build(d, stamp, name, 26, t0, "%d texts, max_tokens %d"
                    % (len(seqs), max_tokens(s)))


def manifest_lines(name, s):
    return ([rc.model_line(name, s, max_tokens(s), s["pooling"], inter_of(s), vocab_of(s))]
            + rc.ref_lines(name, s))


def main():
    rc.run(__doc__, VARIANTS,
           ["# AkiDB rotary-encoder reference models (GTE, NomicBERT), written by",
            "# tests/ref/make_rotenc.py; read by tests/test_families.c (families_ref).",
            "# Do not edit."],
           build, manifest_lines, "rotary-encoder reference models")


if __name__ == "__main__":
    main()
