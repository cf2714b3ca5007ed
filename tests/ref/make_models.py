#!/usr/bin/python3
"""make_models.py - builds AkiDB's reference models and reference embeddings.

AkiDB claims to give the exact embeddings of a Hugging Face sentence-
transformers BERT model.  This script is the independent side of that check:

  * it makes random-weight model folders of real shapes (MiniLM-L6, BGE-base,
    a few small ones) in the files a real model ships: config.json,
    model.safetensors (or shards + model.safetensors.index.json, written here
    byte by byte, F32 / F16 / BF16, with or without the "bert." prefix),
    modules.json, 1_Pooling/config.json, sentence_bert_config.json and the
    real all-MiniLM-L6-v2 tokenizer files;
  * it embeds the corpus with a reference BERT written in PyTorch, module by
    module after the semantics of Hugging Face BertModel in eval mode, and the
    sentence-transformers Pooling and Normalize modules, on padded batches with
    an attention mask, in float64 from the weights exactly as stored (F16 and
    BF16 rounded);
  * the token ids come from tests/golden/embed_corpus_ids.jsonl (an
    independent tokenizer, see make_corpus_ids.sh), never from AkiDB.

Output (read by tests/test_embed_ref.c): OUT/manifest.txt, and per model
OUT/<name>/ with the model files and ref/*.f32 reference embeddings:

  "AKIDBREF" | u32 version=1 | u32 n | u32 dim | u32 0 | n x u32 text index |
  n x dim float32 (little-endian)

manifest.txt lines ("#" starts a comment):
  model NAME key=value ...   expected model info, flags, text subsets
  ref NAME FILE pooling=P normalize=N   (P: default|mean|cls|max|mean_sqrt_len,
                                         N: -1 model's, 0 off, 1 on)

Usage:
  make_models.py --out DIR [--quick]    torch-generated models (build dir)
  make_models.py --tiny [--out DIR]     the committed tiny golden
                                        (default tests/golden/tiny)
A model folder whose .stamp matches (hash of this script, the ids, the
tokenizer files and the model's spec) is kept as it is.  With AKIDB_REF_CACHE
set (scripts/test.sh sets it, so that its release, sanitizer and aarch64
stages make each model once), a folder missing or stale in OUT is copied
from AKIDB_REF_CACHE/<basename of OUT>/<name> when that copy has the same
.stamp, and every folder built is copied there (see up_to_date, cache_put;
every generator of tests/ref goes through them).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the ctest fixture must fail loudly, not skip
    sys.stderr.write(
        "make_models.py: cannot import PyTorch/numpy (%s).\n"
        "The reference-embedding tests need them: apt-get install python3-torch "
        "python3-numpy\n" % e)
    sys.exit(2)

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDS_PATH = os.path.join(SRC, "tests", "golden", "embed_corpus_ids.jsonl")
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt",
                   "special_tokens_map.json"]

CLS_ID, SEP_ID, PAD_ID = 101, 102, 0
VOCAB = 30522
BATCH = 8          # sentence-transformers' default batch size

# Texts of the corpus by index (see tests/golden/embed_corpus_ids.jsonl):
# 25 has 297 tokens, 35 has 573; the rest are short.
ALL = "all"
SHORT = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 22, 24, 26]
QUICK = [0, 1, 2, 3, 4, 5, 7, 10, 22, 24]
QUICK_SMALL = QUICK + [12, 25, 35]     # the small models: truncation too

REFS_FULL = [("default", -1), ("default", "flip"), ("mean", -1), ("cls", -1),
             ("max", -1), ("mean_sqrt_len", -1)]

# name -> spec.  layers/hidden/heads/inter: shape.  prefix: tensor name prefix.
# shards: number of safetensors files.  max_seq: sentence_bert_config's
# max_seq_length (None: no such file; the model's limit is then
# max_position_embeddings).  refs: (pooling, normalize) pairs, "flip" meaning
# the opposite of the model's own Normalize.  texts: corpus indices per ref.
# flags: kernels (checked on every kernel path), threads (1 and 2 threads),
# quick (part of the AKIDB_REF_QUICK=1 subset).  single: texts also embedded
# one per call.
VARIANTS = {
    "minilm_f32_prefix": dict(
        layers=6, hidden=384, heads=12, inter=1536, act="gelu", eps=1e-12,
        pooling="mean", normalize=True, dtype="F32", prefix="bert.", shards=1,
        max_seq=256, extras=True,
        refs=[("default", -1), ("default", 0), ("cls", -1), ("max", -1),
              ("mean_sqrt_len", -1)],
        texts=ALL, single=ALL, quick_texts=QUICK,
        flags=["kernels", "threads", "quick"]),
    "minilm_f16": dict(
        layers=6, hidden=384, heads=12, inter=1536, act="gelu", eps=1e-12,
        pooling="mean", normalize=True, dtype="F16", prefix="", shards=1,
        max_seq=256, refs=[("default", -1), ("default", 0)],
        texts=ALL, single=SHORT, flags=[]),
    "bge_f32": dict(
        layers=12, hidden=768, heads=12, inter=3072, act="gelu", eps=1e-12,
        pooling="cls", normalize=True, dtype="F32", prefix="", shards=2,
        max_seq=512, refs=[("default", -1), ("mean", 0)],
        texts=SHORT + [25], ref_texts={1: SHORT},
        single=[0, 2, 6], flags=["threads"]),
    "bge_f16_prefix": dict(
        layers=12, hidden=768, heads=12, inter=3072, act="gelu", eps=1e-12,
        pooling="cls", normalize=True, dtype="F16", prefix="bert.", shards=1,
        max_seq=512, refs=[("default", -1)],
        texts=SHORT, single=[1, 7], flags=[]),
    "small_max_gelu_new": dict(
        layers=2, hidden=72, heads=6, inter=200, act="gelu_new", eps=1e-12,
        pooling="max", normalize=False, dtype="F32", prefix="", shards=1,
        max_seq=200, refs=REFS_FULL, texts=ALL, single=ALL,
        quick_texts=QUICK_SMALL, flags=["kernels", "threads", "quick"]),
    "small_sqrt_eps": dict(
        layers=3, hidden=64, heads=4, inter=256, act="gelu", eps=1e-5,
        pooling="mean_sqrt_len", normalize=False, dtype="F16", prefix="bert.",
        shards=1, max_seq=None, refs=REFS_FULL, texts=ALL, single=ALL,
        quick_texts=QUICK_SMALL, flags=["kernels", "threads", "quick"]),
    "small_bf16": dict(
        layers=2, hidden=64, heads=4, inter=128, act="gelu", eps=1e-12,
        pooling="mean", normalize=True, dtype="BF16", prefix="", shards=1,
        max_seq=256, refs=[("default", -1), ("default", 0)], texts=ALL,
        single=SHORT, quick_texts=QUICK_SMALL, flags=["kernels", "quick"]),
}

# The committed golden (tests/golden/tiny): small enough to ship (F16 word
# embeddings of the real vocabulary: 30522 x 32 x 2 bytes), checked by the
# suite on every machine, with or without Python.  No tokenizer files: the
# test adds tests/data/minilm's.
TINY = {
    "tiny_f16": dict(
        layers=2, hidden=32, heads=4, inter=64, act="gelu", eps=1e-12,
        pooling="mean", normalize=True, dtype="F16", prefix="", shards=1,
        max_seq=128, refs=REFS_FULL, texts=ALL, single=ALL,
        flags=["kernels", "threads", "quick"], no_tokenizer=True),
}


# --------------------------------------------------------------------------
# Weights


def seed_of(name):
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def make_weights(name, s):
    """Random weights in Hugging Face BertModel's names (without prefix), as
    float32 tensors already rounded to the stored dtype."""
    g = torch.Generator().manual_seed(seed_of(name))
    H, I, L = s["hidden"], s["inter"], s["layers"]

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std + mean

    w = {}
    w["embeddings.word_embeddings.weight"] = normal((VOCAB, H), 0.02)
    w["embeddings.position_embeddings.weight"] = normal((512, H), 0.02)
    w["embeddings.token_type_embeddings.weight"] = normal((2, H), 0.02)
    # LayerNorm gains and biases away from 1 / 0 so that a wrong LayerNorm
    # shows; the embedding LayerNorm sees a small variance, so its eps counts.
    w["embeddings.LayerNorm.weight"] = normal((H,), 0.1, 1.0)
    w["embeddings.LayerNorm.bias"] = normal((H,), 0.1)
    # The encoder's weights are scaled with the shape rather than BERT's flat
    # 0.02 init, so that every part of a layer moves the output as in a
    # trained model: attention scores with a spread of ~1.4 (softmax and
    # scaling matter, attention is not uniform), an attention output of the
    # residual's size, and GELU inputs of spread ~1.4, where exact (erf) and
    # tanh GELU differ visibly.
    sq, sd = 1.2 / math.sqrt(H), 1.0 / math.sqrt(H)
    for i in range(L):
        p = "encoder.layer.%d." % i
        for part, std in (("query", sq), ("key", sq), ("value", sd)):
            w[p + "attention.self.%s.weight" % part] = normal((H, H), std)
            w[p + "attention.self.%s.bias" % part] = normal((H,), 0.1)
        w[p + "attention.output.dense.weight"] = normal((H, H), sd)
        w[p + "attention.output.dense.bias"] = normal((H,), 0.1)
        w[p + "attention.output.LayerNorm.weight"] = normal((H,), 0.1, 1.0)
        w[p + "attention.output.LayerNorm.bias"] = normal((H,), 0.1)
        w[p + "intermediate.dense.weight"] = normal((I, H), 1.4 / math.sqrt(H))
        w[p + "intermediate.dense.bias"] = normal((I,), 0.1)
        w[p + "output.dense.weight"] = normal((H, I), 1.0 / math.sqrt(I))
        w[p + "output.dense.bias"] = normal((H,), 0.1)
        w[p + "output.LayerNorm.weight"] = normal((H,), 0.1, 1.0)
        w[p + "output.LayerNorm.bias"] = normal((H,), 0.1)
    # Unused by sentence-transformers, present in real checkpoints.
    w["pooler.dense.weight"] = normal((H, H), 0.02)
    w["pooler.dense.bias"] = normal((H,), 0.02)
    return {k: round_to(v, s["dtype"]) for k, v in w.items()}


def round_to(t, dtype):
    if dtype == "F16":
        return t.half().float()
    if dtype == "BF16":
        return t.bfloat16().float()
    return t


def tensor_bytes(t, dtype):
    """Little-endian raw bytes of t stored as dtype."""
    if dtype == "F32":
        return t.contiguous().numpy().astype("<f4").tobytes()
    if dtype == "F16":
        return t.contiguous().numpy().astype("<f2").tobytes()
    if dtype == "BF16":
        return t.bfloat16().contiguous().view(torch.int16).numpy().astype("<i2").tobytes()
    if dtype == "I64":
        return t.contiguous().numpy().astype("<i8").tobytes()
    raise ValueError(dtype)


DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8}


def write_safetensors(path, items):
    """items: list of (name, dtype, shape, bytes).  The format: u64 LE header
    length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}}
    with offsets relative to the data that follows, padded with spaces to a
    multiple of 8; tensors laid out by decreasing element size, then name, so
    that each is aligned to its element size."""
    items = sorted(items, key=lambda it: (-DTYPE_SIZE[it[1]], it[0]))
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, data in items:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [off, off + len(data)]}
        off += len(data)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for _, _, _, data in items:
            f.write(data)
    return off


# --------------------------------------------------------------------------
# Reference BERT (Hugging Face BertModel semantics, eval mode: no dropout)


class Embeddings(nn.Module):
    def __init__(self, H, eps):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, H)
        self.position_embeddings = nn.Embedding(512, H)
        self.token_type_embeddings = nn.Embedding(2, H)
        self.LayerNorm = nn.LayerNorm(H, eps=eps)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        tt = torch.zeros_like(ids)
        x = (self.word_embeddings(ids) + self.token_type_embeddings(tt)
             + self.position_embeddings(pos))
        return self.LayerNorm(x)


class SelfAttention(nn.Module):
    def __init__(self, H, heads):
        super().__init__()
        self.heads, self.dh = heads, H // heads
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, add_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        probs = torch.softmax(scores + add_mask, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape[0], x.shape[1], -1)


class DenseResidualNorm(nn.Module):      # BertSelfOutput / BertOutput
    def __init__(self, n_in, H, eps):
        super().__init__()
        self.dense = nn.Linear(n_in, H)
        self.LayerNorm = nn.LayerNorm(H, eps=eps)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):
    def __init__(self, H, heads, eps):
        super().__init__()
        self.self = SelfAttention(H, heads)
        self.output = DenseResidualNorm(H, H, eps)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


def gelu_tanh(x):   # Hugging Face "gelu_new"
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class Intermediate(nn.Module):
    def __init__(self, H, I, act):
        super().__init__()
        self.dense = nn.Linear(H, I)
        self.act = {"gelu": F.gelu, "gelu_new": gelu_tanh}[act]  # gelu: exact erf

    def forward(self, x):
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, H, heads, I, act, eps):
        super().__init__()
        self.attention = Attention(H, heads, eps)
        self.intermediate = Intermediate(H, I, act)
        self.output = DenseResidualNorm(I, H, eps)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList(
            Layer(s["hidden"], s["heads"], s["inter"], s["act"], s["eps"])
            for _ in range(s["layers"]))


class Bert(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embeddings = Embeddings(s["hidden"], s["eps"])
        self.encoder = Encoder(s)

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        # Additive mask: 0 for tokens, the dtype's lowest value for padding.
        add_mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, add_mask)
        return x     # last_hidden_state: sentence-transformers' token embeddings


class no_init:
    """Builds modules without their random init (load_bert overwrites every
    parameter; the init of 110M parameters would take seconds)."""
    mods = (nn.Linear, nn.Embedding, nn.LayerNorm)

    def __enter__(self):
        self.saved = [m.reset_parameters for m in self.mods]
        for m in self.mods:
            m.reset_parameters = lambda self: None

    def __exit__(self, *a):
        for m, f in zip(self.mods, self.saved):
            m.reset_parameters = f


def load_bert(s, weights):
    with no_init():
        m = Bert(s)
    sd = {k: v for k, v in weights.items() if not k.startswith("pooler.")}
    m.load_state_dict(sd, strict=True)
    return m.double().eval()


# sentence-transformers Pooling (one mode at a time) and Normalize.
def pool(tok, mask, mode):
    m = mask.unsqueeze(-1).expand(tok.size()).to(tok.dtype)
    if mode == "cls":
        return tok[:, 0]
    if mode == "max":
        t = tok.clone()
        t[m == 0] = -1e9
        return torch.max(t, 1)[0]
    s = torch.sum(tok * m, 1)
    n = torch.clamp(m.sum(1), min=1e-9)
    if mode == "mean":
        return s / n
    if mode == "mean_sqrt_len":
        return s / torch.sqrt(n)
    raise ValueError(mode)


def truncate(ids, max_len):
    """The tokenizer's LongestFirst truncation of one sequence, special tokens
    included in max_len: [CLS] + first max_len-2 pieces + [SEP]."""
    if len(ids) <= max_len:
        return list(ids)
    return list(ids[:max_len - 1]) + [SEP_ID]


def batches(seqs):
    """Sentence-transformers' batching: sorted by decreasing length, up to
    BATCH sequences padded to their longest.  A batch is closed early when
    its padding would exceed its real tokens (keeps a 512-token text from
    padding seven short ones to 512: same results, a fraction of the time)."""
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    out, cur, real = [], [], 0
    for i in order:
        n = len(seqs[i])
        if cur and (len(cur) == BATCH or (len(cur) + 1) * len(seqs[cur[0]]) > 2 * (real + n)):
            out.append(cur)
            cur, real = [], 0
        cur.append(i)
        real += n
    if cur:
        out.append(cur)
    return out


def token_embeddings(model, seqs):
    """Last hidden states of each sequence, run on padded batches with an
    attention mask.  Returns a list of ([T, H] float64, [T] mask) pairs."""
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), T), PAD_ID, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, :len(seqs[i])] = 1
            h = model(ids, mask)
            for r, i in enumerate(idx):
                out[i] = (h[r], mask[r])
    return out


def embed(tok_out, idx, pooling, normalize):
    """Pooled (and normalised) embeddings of texts idx from padded outputs."""
    rows = []
    for i in idx:
        h, mask = tok_out[i]
        v = pool(h.unsqueeze(0), mask.unsqueeze(0), pooling)
        if normalize:
            v = F.normalize(v, p=2, dim=1)
        rows.append(v[0])
    return torch.stack(rows)


def cross_check(model, s, seqs, name):
    """The encoder again with torch's own nn.TransformerEncoderLayer (post-norm,
    same math, an implementation not written here) on one padded batch."""
    H = s["hidden"]
    act = {"gelu": "gelu", "gelu_new": gelu_tanh}[s["act"]]
    idx = batches(seqs)[0]
    T = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), T), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(idx), T), dtype=torch.long)
    for r, i in enumerate(idx):
        ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
        mask[r, :len(seqs[i])] = 1
    with torch.no_grad():
        x = model.embeddings(ids)
        for L in model.encoder.layer:
            t = nn.TransformerEncoderLayer(H, s["heads"], s["inter"], dropout=0.0,
                                           activation=act, layer_norm_eps=s["eps"],
                                           batch_first=True).double().eval()
            sa = L.attention.self
            t.self_attn.in_proj_weight.copy_(torch.cat([sa.query.weight, sa.key.weight, sa.value.weight]))
            t.self_attn.in_proj_bias.copy_(torch.cat([sa.query.bias, sa.key.bias, sa.value.bias]))
            t.self_attn.out_proj.load_state_dict(L.attention.output.dense.state_dict())
            t.norm1.load_state_dict(L.attention.output.LayerNorm.state_dict())
            t.linear1.load_state_dict(L.intermediate.dense.state_dict())
            t.linear2.load_state_dict(L.output.dense.state_dict())
            t.norm2.load_state_dict(L.output.LayerNorm.state_dict())
            x = t(x, src_key_padding_mask=(mask == 0))
        h = model(ids, mask)
    d = max((x[r, :len(seqs[i])] - h[r, :len(seqs[i])]).abs().max().item()
            for r, i in enumerate(idx))
    if d > 1e-9:
        sys.exit("%s: reference BERT and nn.TransformerEncoderLayer differ by %g" % (name, d))


def self_check(model, seqs, tok_out, name):
    """The padded-batch outputs must equal unpadded single runs: the reference
    itself must not depend on batching."""
    picks = sorted(set([min(range(len(seqs)), key=lambda i: len(seqs[i])), 1]))
    with torch.no_grad():
        for i in picks:
            ids = torch.tensor([seqs[i]])
            h = model(ids, torch.ones_like(ids))[0]
            hb, mask = tok_out[i]
            d = (h - hb[:len(seqs[i])]).abs().max().item()
            if d > 1e-9:
                sys.exit("%s: reference depends on padding: text %d differs by %g"
                         % (name, i, d))


# --------------------------------------------------------------------------
# Model folders


def read_corpus():
    rows = []
    with open(IDS_PATH, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                assert d["i"] == len(rows)
                rows.append(d["ids"])
    return rows


def tokenizer_dir():
    d = os.path.join(SRC, "tests", "data", "minilm")
    if os.path.isfile(os.path.join(d, "tokenizer.json")):
        return d
    d2 = os.path.join(SRC, "..", "shared", "models", "all-MiniLM-L6-v2")
    if os.path.isfile(os.path.join(d2, "tokenizer.json")):
        return d2
    sys.exit("make_models.py: no tokenizer files in tests/data/minilm")


def file_hash(h, path):
    with open(path, "rb") as f:
        h.update(f.read())


def _cache_dir(out, name):
    root = os.environ.get("AKIDB_REF_CACHE")
    if not root:
        return None
    return os.path.join(root, os.path.basename(os.path.normpath(out)), name)


def _stamp_at(d):
    sp = os.path.join(d, ".stamp")
    if not os.path.isfile(sp):
        return None
    with open(sp) as f:
        return f.read().strip()


def up_to_date(out, name, stamp):
    """True when OUT/name's .stamp is stamp, or when the cache (module
    docstring) holds a folder with that stamp, which is then copied into
    OUT/name (a real copy: tests may write next to a model's files)."""
    d = os.path.join(out, name)
    if _stamp_at(d) == stamp:
        return True
    c = _cache_dir(out, name)
    if c is None or _stamp_at(c) != stamp:
        return False
    if os.path.isdir(d):
        shutil.rmtree(d)
    tmp = "%s.tmp%d" % (d, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(c, tmp)
    os.rename(tmp, d)
    return True


def cache_put(d):
    """Copies the folder d (OUT/name, its .stamp written) into the cache,
    replacing an older copy; a no-op without AKIDB_REF_CACHE."""
    c = _cache_dir(os.path.dirname(os.path.normpath(d)), os.path.basename(os.path.normpath(d)))
    if c is None:
        return
    os.makedirs(os.path.dirname(c), exist_ok=True)
    tmp = "%s.tmp%d" % (c, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(d, tmp)
    shutil.rmtree(c, ignore_errors=True)
    os.rename(tmp, c)


def stamp_of(name, s, tokdir):
    h = hashlib.sha256()
    file_hash(h, os.path.abspath(__file__))
    file_hash(h, IDS_PATH)
    for fn in TOKENIZER_FILES + ["config.json"]:
        p = os.path.join(tokdir, fn)
        if os.path.isfile(p):
            file_hash(h, p)
    h.update(json.dumps([name, s], sort_keys=True, default=str).encode())
    return h.hexdigest()


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def write_model_files(d, name, s, weights, tokdir):
    H = s["hidden"]
    with open(os.path.join(tokdir, "config.json")) as f:
        cfg = json.load(f)
    cfg.update({"hidden_size": H, "num_hidden_layers": s["layers"],
                "num_attention_heads": s["heads"], "intermediate_size": s["inter"],
                "hidden_act": s["act"], "layer_norm_eps": s["eps"],
                "max_position_embeddings": 512, "vocab_size": VOCAB,
                "torch_dtype": {"F32": "float32", "F16": "float16",
                                "BF16": "bfloat16"}[s["dtype"]]})
    cfg.pop("_name_or_path", None)
    write_json(os.path.join(d, "config.json"), cfg)

    modules = [{"idx": 0, "name": "0", "path": "",
                "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write_json(os.path.join(d, "modules.json"), modules)
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    pc = {"word_embedding_dimension": H,
          "pooling_mode_cls_token": s["pooling"] == "cls",
          "pooling_mode_mean_tokens": s["pooling"] == "mean",
          "pooling_mode_max_tokens": s["pooling"] == "max",
          "pooling_mode_mean_sqrt_len_tokens": s["pooling"] == "mean_sqrt_len"}
    if s["pooling"] == "cls":   # newer sentence-transformers write these too
        pc.update({"pooling_mode_weightedmean_tokens": False,
                   "pooling_mode_lasttoken": False, "include_prompt": True})
    write_json(os.path.join(d, "1_Pooling", "config.json"), pc)
    if s["max_seq"] is not None:
        write_json(os.path.join(d, "sentence_bert_config.json"),
                   {"max_seq_length": s["max_seq"], "do_lower_case": False})
    if not s.get("no_tokenizer"):
        for fn in TOKENIZER_FILES:
            p = os.path.join(tokdir, fn)
            if os.path.isfile(p):
                shutil.copyfile(p, os.path.join(d, fn))

    # Tensors.
    items = [(s["prefix"] + k, s["dtype"], tuple(v.shape), tensor_bytes(v, s["dtype"]))
             for k, v in weights.items()]
    if s.get("extras"):  # what older / masked-LM checkpoints also carry
        items.append((s["prefix"] + "embeddings.position_ids", "I64", (1, 512),
                      tensor_bytes(torch.arange(512).unsqueeze(0), "I64")))
        items.append(("cls.predictions.bias", "F32", (VOCAB,),
                      tensor_bytes(torch.zeros(VOCAB), "F32")))
    if s["shards"] == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), items)
    else:
        n, shards, total = s["shards"], [[] for _ in range(s["shards"])], 0
        for it in items:   # layers split by index; embeddings first, pooler last
            k = it[0][len(s["prefix"]):]
            if k.startswith("encoder.layer."):
                li = int(k.split(".")[2])
                shards[min(n - 1, li * n // s["layers"])].append(it)
            elif k.startswith("embeddings."):
                shards[0].append(it)
            else:
                shards[-1].append(it)
        wmap = {}
        for j, sh in enumerate(shards):
            fn = "model-%05d-of-%05d.safetensors" % (j + 1, n)
            total += write_safetensors(os.path.join(d, fn), sh)
            for it in sh:
                wmap[it[0]] = fn
        write_json(os.path.join(d, "model.safetensors.index.json"),
                   {"metadata": {"total_size": total},
                    "weight_map": dict(sorted(wmap.items()))})


def write_ref(path, idx, emb):
    emb = emb.to(torch.float32).contiguous().numpy().astype("<f4")
    with open(path, "wb") as f:
        f.write(b"AKIDBREF")
        f.write(struct.pack("<IIII", 1, len(idx), emb.shape[1], 0))
        f.write(np.asarray(idx, dtype="<u4").tobytes())
        f.write(emb.tobytes())


def resolve(texts, n):
    return list(range(n)) if texts == ALL else list(texts)


def ref_file(pooling, normalize):
    return "ref/%s_%s.f32" % (pooling, {-1: "model", 0: "raw", 1: "norm"}[normalize])


def build_model(out, name, s, corpus, tokdir):
    d = os.path.join(out, name)
    stamp = stamp_of(name, s, tokdir)
    sp = os.path.join(d, ".stamp")
    if s.get("no_tokenizer"):      # the committed golden: always rebuilt, no stamp
        sp = None
    elif up_to_date(out, name, stamp):
        print("%-20s up to date" % name)
        return
    t0 = time.time()
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "ref"))
    weights = make_weights(name, s)
    write_model_files(d, name, s, weights, tokdir)
    model = load_bert(s, weights)
    del weights

    max_len = s["max_seq"] if s["max_seq"] is not None else 512
    need = set(resolve(s["texts"], len(corpus)))
    seqs = [truncate(ids, max_len) for ids in corpus]
    sub = sorted(need)
    tok_out_sub = token_embeddings(model, [seqs[i] for i in sub])
    self_check(model, [seqs[i] for i in sub], tok_out_sub, name)
    if s["hidden"] <= 384:
        cross_check(model, s, [seqs[i] for i in sub], name)
    tok_out = {i: tok_out_sub[j] for j, i in enumerate(sub)}

    worst = 0.0
    for ri, (pooling, normalize) in enumerate(s["refs"]):
        if normalize == "flip":
            normalize = 0 if s["normalize"] else 1
        texts = resolve(s.get("ref_texts", {}).get(ri, s["texts"]), len(corpus))
        p = s["pooling"] if pooling == "default" else pooling
        nz = s["normalize"] if normalize == -1 else bool(normalize)
        e = embed(tok_out, texts, p, nz)
        write_ref(os.path.join(d, ref_file(pooling, normalize)), texts, e)
        if ri == 0:   # how far apart the texts are: the check must discriminate
            u = F.normalize(e, dim=1)
            c = u @ u.T
            for a in range(len(texts)):
                for b in range(a):
                    if seqs[texts[a]] != seqs[texts[b]]:
                        worst = max(worst, c[a, b].item())
    if sp:
        with open(sp, "w") as f:
            f.write(stamp + "\n")
        cache_put(d)
    print("%-20s built in %.1f s (max cosine between different texts %.4f)"
          % (name, time.time() - t0, worst))
    sys.stdout.flush()


def manifest_lines(name, s, corpus):
    max_len = s["max_seq"] if s["max_seq"] is not None else 512
    fl = lambda l: ",".join(str(i) for i in resolve(l, len(corpus)))
    out = ["model %s dim=%d max_tokens=%d layers=%d hidden=%d heads=%d inter=%d "
           "vocab=%d pooling=%s normalize=%d dtype=%s flags=%s single=%s quick_texts=%s"
           % (name, s["hidden"], max_len, s["layers"], s["hidden"], s["heads"],
              s["inter"], VOCAB, s["pooling"], 1 if s["normalize"] else 0,
              s["dtype"], ",".join(s["flags"]) or "-", fl(s["single"]) or "-",
              fl(s.get("quick_texts", ALL)))]
    for pooling, normalize in s["refs"]:
        if normalize == "flip":
            normalize = 0 if s["normalize"] else 1
        out.append("ref %s %s pooling=%s normalize=%d"
                   % (name, ref_file(pooling, normalize), pooling, normalize))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--tiny", action="store_true", help="build the committed tiny golden")
    ap.add_argument("--quick", action="store_true", help="only the AKIDB_REF_QUICK models")
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.tiny:
        variants, out = TINY, a.out or os.path.join(SRC, "tests", "golden", "tiny")
    else:
        if not a.out:
            ap.error("--out is required")
        variants, out = VARIANTS, a.out
    names = list(variants)
    if a.quick:
        names = [n for n in names if "quick" in variants[n]["flags"]]
    if a.only:
        names = [n for n in names if n in a.only.split(",")]
    os.makedirs(out, exist_ok=True)
    corpus = read_corpus()
    tokdir = tokenizer_dir()
    t0 = time.time()
    lines = ["# AkiDB reference models, written by tests/ref/make_models.py;",
             "# read by tests/test_embed_ref.c.  Do not edit."]
    for n in names:
        build_model(out, n, variants[n], corpus, tokdir)
        lines += manifest_lines(n, variants[n], corpus)
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("reference models in %s (%.1f s)" % (out, time.time() - t0))


if __name__ == "__main__":
    main()
