#!/usr/bin/python3
"""make_mpnet.py - reference models and embeddings for the MPNet family
(all-mpnet-base-v2 and the other sentence-transformers MPNet embedders).

The independent side of the MPNet tests (tests/test_families.c's
families_ref on the id path):

  * random-weight model folders with the real MPNetConfig fields and
    MPNetModel's tensor names at small dims (head widths of 16 and 8, the
    intermediate 4x hidden as in mpnet-base): the 514-row position table and
    30527-token vocabulary of all-mpnet-base-v2, layer_norm_eps 1e-5,
    relative_attention_num_buckets 32 (and 40: rows past the 32 that the
    model code buckets into are never read), F32 / F16 / BF16, with and
    without the "mpnet." prefix of MPNetForMaskedLM (plus its lm_head and the
    pooler, which an embedder ignores), mean pooling + Normalize as
    all-mpnet-base-v2's sentence-transformers files say, max_seq_length 384
    and others;
  * reference embeddings from a PyTorch model written here after Hugging
    Face's MPNetModel (modeling_mpnet.py) in eval mode, in float64:
    embeddings word + position (RoBERTa's position ids with padding_idx 1,
    no token types) and LayerNorm; per layer q / k / v / o, scores / sqrt(d)
    + the relative position bias shared by every layer (T5's bidirectional
    buckets of key - query over positions 0..T-1, 32 buckets, max distance
    128, computed in float32 as the model code does) + the padding mask,
    softmax, attention.LayerNorm(o + x), GELU MLP, output.LayerNorm; on
    right-padded batches, then sentence-transformers pooling of each text's
    own tokens and normalisation.  Each batch is checked against the texts
    run alone, and the bucket table against T5's layout (16 per direction,
    exact below 8, 15 / 31 from distance 128 on);
  * token ids: the corpus's WordPiece ids spread over the 30527-token
    vocabulary with <s> = 0, </s> = 2 (the padding id 1 never drawn), plus a
    text of one token, one holding the padding id mid-text and a 900-token
    one; texts up to 512 tokens, so distances reach the logarithmic buckets
    and past max_distance.  The longest run past max_seq_length and are cut
    as the tokenizer cuts them (first max - 1 ids, then </s>).

Output: OUT/manifest.txt (the format of make_families.py) and per model
OUT/<name>/ with the model files, ids.txt and ref/*.f32.

Usage: make_mpnet.py --out DIR [--only NAMES]
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

MPNET_VOCAB = 30527            # all-mpnet-base-v2's vocab_size
BOS, PAD, EOS = 0, 1, 2        # <s>, <pad> (MPNetEmbeddings' padding_idx), </s>
BUCKETS, MAX_DISTANCE = 32, 128   # what compute_position_bias passes

REFS = [("default", -1), ("default", "flip"), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]

# name -> spec.  max_seq: sentence_bert_config's max_seq_length (None: the
# tokenizer_config's 512, capped by the positions).  extras: MPNetForMaskedLM's
# lm_head and the pooler, which the embedder must ignore.
VARIANTS = {
    "mpnet_f32": dict(
        layers=2, hidden=64, heads=4, inter=256, vocab=MPNET_VOCAB, positions=514,
        buckets=32, eps=1e-5, dtype="F32", prefix="", arch="MPNetForMaskedLM",
        pooling="mean", normalize=True, max_seq=384, extras=True, refs=REFS),
    "mpnet_bf16_prefix": dict(
        layers=3, hidden=48, heads=6, inter=192, vocab=MPNET_VOCAB, positions=514,
        buckets=32, eps=1e-5, dtype="BF16", prefix="mpnet.", arch="MPNetForMaskedLM",
        pooling="mean", normalize=True, max_seq=None, extras=True, refs=REFS[:3]),
    "mpnet_f16_40b": dict(
        layers=2, hidden=32, heads=2, inter=128, vocab=MPNET_VOCAB, positions=514,
        buckets=40, eps=1e-12, dtype="F16", prefix="", arch="MPNetModel",
        pooling="cls", normalize=False, max_seq=200, extras=False, refs=REFS[:2]),
}


# --------------------------------------------------------------------------
# Token ids


def spread(i, v):
    """A WordPiece id of the corpus spread over the vocabulary, [CLS] / [SEP]
    becoming <s> / </s>, never another special id (0..3)."""
    if i == mm.CLS_ID:
        return BOS
    if i == mm.SEP_ID:
        return EOS
    return 4 + (i * 7919) % (v - 4)


def corpus_ids(s):
    v = s["vocab"]
    seqs = [[spread(i, v) for i in x] for x in mm.read_corpus()]
    seqs.append([BOS])
    seqs.append([BOS, 4711, 93, PAD, 18000, 5, EOS])
    seqs.append([BOS] + [4 + (k * 104729) % (v - 4) for k in range(898)] + [EOS])
    return seqs


def max_tokens(s):
    limit = s["positions"] - PAD - 1
    m = s["max_seq"] if s["max_seq"] is not None else 512
    return min(m, limit)


# --------------------------------------------------------------------------
# Weights


def names(s):
    """MPNetModel's tensor names (without prefix) and shapes."""
    H, I, V, P = s["hidden"], s["inter"], s["vocab"], s["positions"]
    out = [("embeddings.word_embeddings.weight", (V, H)),
           ("embeddings.position_embeddings.weight", (P, H)),
           ("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,)),
           ("encoder.relative_attention_bias.weight", (s["buckets"], s["heads"]))]
    for i in range(s["layers"]):
        p = "encoder.layer.%d." % i
        for n, o, k in (("attention.attn.q", H, H), ("attention.attn.k", H, H),
                        ("attention.attn.v", H, H), ("attention.attn.o", H, H),
                        ("intermediate.dense", I, H), ("output.dense", H, I)):
            out += [(p + n + ".weight", (o, k)), (p + n + ".bias", (o,))]
        for n in ("attention.LayerNorm", "output.LayerNorm"):
            out += [(p + n + ".weight", (H,)), (p + n + ".bias", (H,))]
    return out


def extra_names(s):
    """Tensors of an MPNetForMaskedLM checkpoint outside MPNetModel's
    encoder: the pooler (under the prefix) and the LM head (never)."""
    H = s["hidden"]
    return [("pooler.dense.weight", (H, H), True), ("pooler.dense.bias", (H,), True),
            ("lm_head.dense.weight", (H, H), False), ("lm_head.dense.bias", (H,), False),
            ("lm_head.layer_norm.weight", (H,), False), ("lm_head.layer_norm.bias", (H,), False),
            ("lm_head.bias", (s["vocab"],), False)]


def make_weights(name, s):
    """Random weights scaled so that every part moves the output: scores of
    spread ~1.4, a relative position bias of the same size (so each bucket
    shows), GELU inputs of spread ~1.4, LayerNorm gains and biases away from
    1 / 0; rounded to the stored dtype."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    w = {}
    for n, shape in names(s):
        if n.endswith("LayerNorm.weight"):
            t = torch.randn(shape, generator=g) * 0.1 + 1.0
        elif n.startswith("encoder.relative_attention_bias"):
            t = torch.randn(shape, generator=g) * 1.0
        elif len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.1
        elif n.startswith("embeddings."):
            t = torch.randn(shape, generator=g) * 0.02
        else:
            part = n.split(".")[-2]
            std = 1.2 if part in ("q", "k") else 1.4 if "intermediate" in n else 1.0
            t = torch.randn(shape, generator=g) * (std / math.sqrt(shape[1]))
        w[n] = t
    w["embeddings.word_embeddings.weight"][PAD].zero_()   # nn.Embedding padding rows
    w["embeddings.position_embeddings.weight"][PAD].zero_()
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


# --------------------------------------------------------------------------
# Reference model (Hugging Face MPNetModel semantics, eval mode)


def position_ids(ids):
    """RoBERTa's rule with padding_idx 1: padding_idx + the running count of
    non-padding tokens; a padding token keeps padding_idx."""
    m = ids.ne(PAD).int()
    return (torch.cumsum(m, dim=1).type_as(m) * m).long() + PAD


def bucket(rel):
    """T5's bidirectional bucket of relative positions rel = key - query
    (long tensor): 16 buckets per direction (keys after the query: 16..31),
    exact below 8, then logarithmic to max distance 128.  float32 logs as in
    the model code, where the float rounding decides the buckets of 16, 32,
    64."""
    half = BUCKETS // 2
    exact = half // 2
    n = -rel
    ret = (n < 0).long() * half
    n = n.abs()
    large = exact + (torch.log(n.float() / exact) / math.log(MAX_DISTANCE / exact)
                     * (half - exact)).long()
    large = torch.clamp(large, max=half - 1)
    return ret + torch.where(n < exact, n, large)


def check_buckets():
    """The table against T5's layout, independently of the formula's floats
    for the boundaries that are exact in reals (16, 32, 64, 128)."""
    d = torch.arange(0, 600)
    back, fwd = bucket(-d), bucket(d)
    want = {0: 0, 7: 7, 8: 8, 15: 9, 16: 10, 31: 11, 32: 12, 63: 13, 64: 14, 90: 14,
            91: 15, 128: 15, 599: 15}
    for k, v in want.items():
        if back[k].item() != v or (k and fwd[k].item() != v + 16):
            sys.exit("make_mpnet.py: bucket of distance %d is %d / %d, want %d / %d"
                     % (k, back[k].item(), fwd[k].item(), v, v + 16))
    if fwd[0].item() != 0 or not bool((back[1:] <= 15).all() and (fwd[1:] >= 17).all()):
        sys.exit("make_mpnet.py: bucket directions wrong")


class SelfAttention(nn.Module):    # MPNetSelfAttention
    def __init__(self, H, heads):
        super().__init__()
        self.heads, self.dh = heads, H // heads
        self.q, self.k = nn.Linear(H, H), nn.Linear(H, H)
        self.v, self.o = nn.Linear(H, H), nn.Linear(H, H)

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.dh).transpose(1, 2)

    def forward(self, x, bias, add_mask):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        scores = scores + bias + add_mask
        ctx = torch.matmul(F.softmax(scores, dim=-1), v).transpose(1, 2).contiguous()
        return self.o(ctx.view(x.shape[0], x.shape[1], -1))


class Attention(nn.Module):        # MPNetAttention
    def __init__(self, s):
        super().__init__()
        self.attn = SelfAttention(s["hidden"], s["heads"])
        self.LayerNorm = nn.LayerNorm(s["hidden"], eps=s["eps"])

    def forward(self, x, bias, add_mask):
        return self.LayerNorm(self.attn(x, bias, add_mask) + x)


class Layer(nn.Module):            # MPNetLayer
    def __init__(self, s):
        super().__init__()
        self.attention = Attention(s)
        self.intermediate = mm.Intermediate(s["hidden"], s["inter"], "gelu")
        self.output = mm.DenseResidualNorm(s["inter"], s["hidden"], s["eps"])

    def forward(self, x, bias, add_mask):
        a = self.attention(x, bias, add_mask)
        return self.output(self.intermediate(a), a)


class Embeddings(nn.Module):       # MPNetEmbeddings
    def __init__(self, s):
        super().__init__()
        H = s["hidden"]
        self.word_embeddings = nn.Embedding(s["vocab"], H, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(s["positions"], H, padding_idx=PAD)
        self.LayerNorm = nn.LayerNorm(H, eps=s["eps"])

    def forward(self, ids):
        pos = self.position_embeddings(position_ids(ids))
        return self.LayerNorm(self.word_embeddings(ids) + pos)


class Encoder(nn.Module):          # MPNetEncoder
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList(Layer(s) for _ in range(s["layers"]))
        self.relative_attention_bias = nn.Embedding(s["buckets"], s["heads"])

    def position_bias(self, T):
        """[1, heads, T, T]: the bias of key j for query i, positions 0..T-1
        whatever the padding."""
        pos = torch.arange(T)
        b = bucket(pos[None, :] - pos[:, None])
        return self.relative_attention_bias(b).permute(2, 0, 1).unsqueeze(0)

    def forward(self, x, add_mask):
        bias = self.position_bias(x.shape[1])
        for layer in self.layer:
            x = layer(x, bias, add_mask)
        return x


class MPNet(nn.Module):            # MPNetModel without the pooler
    def __init__(self, s):
        super().__init__()
        self.embeddings = Embeddings(s)
        self.encoder = Encoder(s)

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        add_mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        return self.encoder(x, add_mask)


def load_model(s, weights):
    with mm.no_init():
        m = MPNet(s)
    m.load_state_dict(weights, strict=True)
    return m.double().eval()


def padded(seqs, idx):
    T = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), T), PAD, dtype=torch.long)
    mask = torch.zeros((len(idx), T), dtype=torch.long)
    for r, i in enumerate(idx):
        ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
        mask[r, :len(seqs[i])] = 1
    return ids, mask


def token_embeddings(model, seqs):
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            ids, mask = padded(seqs, idx)
            h = model(ids, mask)
            for r, i in enumerate(idx):
                out[i] = (h[r], mask[r])
    return out


def check_alone(model, seqs, tok_out, name):
    """Padded batches = the texts alone (the reference must not depend on
    padding)."""
    with torch.no_grad():
        for i in sorted(set([min(range(len(seqs)), key=lambda j: len(seqs[j])), 1,
                             len(seqs) - 2, len(seqs) - 1])):
            ids = torch.tensor([seqs[i]])
            h = model(ids, torch.ones_like(ids))[0]
            d = (h - tok_out[i][0][:len(seqs[i])]).abs().max().item()
            if d > 1e-9:
                sys.exit("%s: reference depends on padding: text %d differs by %g" % (name, i, d))


# --------------------------------------------------------------------------
# Model folders


def config_json(s):
    return {"architectures": [s["arch"]], "model_type": "mpnet",
            "hidden_size": s["hidden"], "num_hidden_layers": s["layers"],
            "num_attention_heads": s["heads"], "intermediate_size": s["inter"],
            "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
            "layer_norm_eps": s["eps"], "max_position_embeddings": s["positions"],
            "relative_attention_num_buckets": s["buckets"], "vocab_size": s["vocab"],
            "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD,
            "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]]}


def write_files(d, s, weights, extras):
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
    items += [((s["prefix"] if pre else "") + k, s["dtype"], tuple(v.shape),
               mm.tensor_bytes(v, s["dtype"])) for k, v, pre in extras]
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 20)
    if d is None:
        return
    t0 = time.time()
    weights = make_weights(name, s)
    extras = []
    if s["extras"]:
        g = torch.Generator().manual_seed(mm.seed_of(name + "/extras"))
        extras = [(n, mm.round_to(torch.randn(shape, generator=g) * 0.02, s["dtype"]), pre)
                  for n, shape, pre in extra_names(s)]
    write_files(d, s, weights, extras)
    model = load_model(s, weights)
    raw = corpus_ids(s)
    rc.write_ids(d, raw)
    seqs = [rc.truncate(x, max_tokens(s)) for x in raw]
    tok_out = token_embeddings(model, seqs)
    check_alone(model, seqs, tok_out, name)
    rc.write_refs(d, s, tok_out, len(seqs), s["pooling"], per_index=True)
    rc.finish_build(d, stamp, name, 20, t0, "%d texts, max_tokens %d, longest %d"
                    % (len(seqs), max_tokens(s), max(len(x) for x in seqs)))


def manifest_lines(name, s):
    return [rc.model_line(name, s, max_tokens(s), s["pooling"])] + rc.ref_lines(name, s)


def main():
    check_buckets()
    rc.run(__doc__, VARIANTS,
           ["# AkiDB MPNet reference models, written by tests/ref/make_mpnet.py;",
            "# read by tests/test_families.c (families_ref).  Do not edit."],
           build, manifest_lines, "MPNet reference models")


if __name__ == "__main__":
    main()
