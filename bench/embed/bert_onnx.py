#!/usr/bin/python3
"""bert_onnx.py - model folders for the embedding benchmark and their ONNX
export for the ONNX Runtime peer (bench/embed/ort_bench.mjs).

  bert_onnx.py make --shape minilm|bge-base --out DIR [--max-seq 256]
      writes a random-weight sentence-transformers BERT folder of that shape
      (F32 model.safetensors, config.json, modules.json, 1_Pooling,
      sentence_bert_config.json and the real all-MiniLM-L6-v2 tokenizer files
      from tests/data/minilm or ../shared).  The weights are random (seeded by
      the shape name), so the folder is the same on every run; speed does not
      depend on the values.
        minilm:   6 layers, hidden 384, 12 heads, FFN 1536, mean pooling
        bge-base: 12 layers, hidden 768, 12 heads, FFN 3072, CLS pooling
      Both are L2-normalised; both truncate at --max-seq tokens (the real
      bge-base-en-v1.5 allows 512; the benchmark uses 256 for both shapes).

  bert_onnx.py export --model DIR --out FILE.onnx [--opset 14]
      reads a model folder (config.json, model.safetensors or shards with
      model.safetensors.index.json, F32/F16/BF16, with or without the "bert."
      prefix, and the sentence-transformers pooling/normalize files), builds the
      BERT of this file in PyTorch with those weights and exports
      input_ids, attention_mask, token_type_ids (int64, [batch, seq]) ->
      sentence_embedding (float32, [batch, dim]) with torch.onnx.export, dynamic
      batch and sequence axes.  Pooling and normalisation are part of the graph,
      so the peer does the same work as `akidb embed`.  Next to FILE.onnx it
      writes FILE.check.json: a padded random batch and PyTorch's output for it,
      which ort_bench.mjs compares with ONNX Runtime's output before measuring.

Needs Debian's python3-torch (1.13) and python3-numpy; the `onnx` Python
package is not needed.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "vocab.txt",
                   "special_tokens_map.json"]

SHAPES = {
    "minilm": dict(layers=6, hidden=384, heads=12, inter=1536, pooling="mean"),
    "bge-base": dict(layers=12, hidden=768, heads=12, inter=3072, pooling="cls"),
}


# ---------------------------------------------------------------------------
# safetensors (the format: u64 LE header length, JSON header, raw data)

ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2),
             "I64": (np.int64, 8)}


def write_safetensors(path, tensors):
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    out = {}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        for name, t in header.items():
            if name == "__metadata__":
                continue
            b, e = t["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            dt = t["dtype"]
            if dt == "BF16":
                u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                arr = u.view(np.float32)
            elif dt in ("F32", "F16"):
                arr = np.frombuffer(raw, dtype=np.dtype(ST_DTYPES[dt][0]).newbyteorder("<"))
                arr = arr.astype(np.float32)
            else:
                continue     # position_ids and other integer extras
            out[name] = torch.from_numpy(arr.reshape(t["shape"]).copy())
    return out


def load_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for fn in files:
        w.update(read_safetensors(os.path.join(d, fn)))
    prefixed = any(k.startswith("bert.") for k in w)
    return {(k[5:] if prefixed and k.startswith("bert.") else k): v for k, v in w.items()}


# ---------------------------------------------------------------------------
# BERT as Hugging Face BertModel computes it in eval mode, followed by the
# sentence-transformers Pooling and Normalize modules.


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


ACTS = {"gelu": F.gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "relu": F.relu}


class SelfAttention(nn.Module):
    def __init__(self, H, heads):
        super().__init__()
        self.heads, self.dh = heads, H // heads
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)

    def split(self, x):
        return x.view(x.size(0), x.size(1), self.heads, self.dh).permute(0, 2, 1, 3)

    def forward(self, x, add_mask):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
        probs = torch.softmax(scores + add_mask, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.heads * self.dh)


class DenseNorm(nn.Module):
    def __init__(self, n_in, H, eps):
        super().__init__()
        self.dense, self.LayerNorm = nn.Linear(n_in, H), nn.LayerNorm(H, eps=eps)

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class Attention(nn.Module):
    def __init__(self, H, heads, eps):
        super().__init__()
        self.self, self.output = SelfAttention(H, heads), DenseNorm(H, H, eps)

    def forward(self, x, add_mask):
        return self.output(self.self(x, add_mask), x)


class Intermediate(nn.Module):
    def __init__(self, H, I, act):
        super().__init__()
        self.dense, self.act = nn.Linear(H, I), ACTS[act]

    def forward(self, x):
        return self.act(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)
        self.attention = Attention(H, c["num_attention_heads"], eps)
        self.intermediate = Intermediate(H, c["intermediate_size"], c.get("hidden_act", "gelu"))
        self.output = DenseNorm(c["intermediate_size"], H, eps)

    def forward(self, x, add_mask):
        a = self.attention(x, add_mask)
        return self.output(self.intermediate(a), a)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], H)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], H)
        self.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), H)
        self.LayerNorm = nn.LayerNorm(H, eps=c.get("layer_norm_eps", 1e-12))

    def forward(self, ids, token_type_ids):
        pos = torch.arange(ids.size(1), device=ids.device).unsqueeze(0)
        x = (self.word_embeddings(ids) + self.token_type_embeddings(token_type_ids)
             + self.position_embeddings(pos))
        return self.LayerNorm(x)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))


class SentenceBert(nn.Module):
    def __init__(self, c, pooling, normalize):
        super().__init__()
        self.embeddings, self.encoder = Embeddings(c), Encoder(c)
        self.pooling, self.normalize = pooling, normalize

    def forward(self, input_ids, attention_mask, token_type_ids):
        x = self.embeddings(input_ids, token_type_ids)
        m = attention_mask.to(x.dtype)
        add_mask = (1.0 - m[:, None, None, :]) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, add_mask)
        me = m.unsqueeze(-1)
        if self.pooling == "cls":
            v = x[:, 0]
        elif self.pooling == "max":
            v = torch.max(x + (me - 1.0) * 1e9, 1)[0]
        else:
            s = torch.sum(x * me, 1)
            n = torch.clamp(me.sum(1), min=1e-9)
            v = s / n if self.pooling == "mean" else s / torch.sqrt(n)
        if self.normalize:
            v = F.normalize(v, p=2.0, dim=1)
        return v


def folder_pipeline(d):
    """(pooling, normalize) configured by a sentence-transformers folder."""
    pooling, normalize = "mean", False
    pc = os.path.join(d, "1_Pooling", "config.json")
    if os.path.isfile(pc):
        with open(pc) as f:
            p = json.load(f)
        for key, name in (("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"),
                          ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"),
                          ("pooling_mode_mean_tokens", "mean")):
            if p.get(key):
                pooling = name
                break
    mj = os.path.join(d, "modules.json")
    if os.path.isfile(mj):
        with open(mj) as f:
            normalize = any(m.get("type", "").endswith("Normalize") for m in json.load(f))
    return pooling, normalize


def load_model(d):
    with open(os.path.join(d, "config.json")) as f:
        c = json.load(f)
    pooling, normalize = folder_pipeline(d)
    m = SentenceBert(c, pooling, normalize)
    w = {k: v for k, v in load_weights(d).items()
         if k.startswith("embeddings.") or k.startswith("encoder.")}
    w.pop("embeddings.position_ids", None)
    m.load_state_dict(w, strict=True)
    return m.eval(), c, pooling, normalize


# ---------------------------------------------------------------------------
# make


def tokenizer_dir():
    for d in (os.path.join(SRC, "tests", "data", "minilm"),
              os.path.join(SRC, "..", "shared", "models", "all-MiniLM-L6-v2")):
        if os.path.isfile(os.path.join(d, "tokenizer.json")):
            return d
    sys.exit("bert_onnx.py: no tokenizer files in tests/data/minilm or ../shared/models/all-MiniLM-L6-v2")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def cmd_make(a):
    s = SHAPES[a.shape]
    H, I, L = s["hidden"], s["inter"], s["layers"]
    V, P = 30522, 512
    g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(a.shape.encode()).digest()[:4], "little"))

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    w = {"embeddings.word_embeddings.weight": normal((V, H), 0.02),
         "embeddings.position_embeddings.weight": normal((P, H), 0.02),
         "embeddings.token_type_embeddings.weight": normal((2, H), 0.02),
         "embeddings.LayerNorm.weight": normal((H,), 0.05, 1.0),
         "embeddings.LayerNorm.bias": normal((H,), 0.05)}
    for i in range(L):
        p = "encoder.layer.%d." % i
        for part in ("query", "key", "value"):
            w[p + "attention.self.%s.weight" % part] = normal((H, H), 0.04)
            w[p + "attention.self.%s.bias" % part] = normal((H,), 0.02)
        w[p + "attention.output.dense.weight"] = normal((H, H), 0.02)
        w[p + "attention.output.dense.bias"] = normal((H,), 0.02)
        w[p + "attention.output.LayerNorm.weight"] = normal((H,), 0.05, 1.0)
        w[p + "attention.output.LayerNorm.bias"] = normal((H,), 0.05)
        w[p + "intermediate.dense.weight"] = normal((I, H), 0.02)
        w[p + "intermediate.dense.bias"] = normal((I,), 0.02)
        w[p + "output.dense.weight"] = normal((H, I), 0.02)
        w[p + "output.dense.bias"] = normal((H,), 0.02)
        w[p + "output.LayerNorm.weight"] = normal((H,), 0.05, 1.0)
        w[p + "output.LayerNorm.bias"] = normal((H,), 0.05)
    w["pooler.dense.weight"] = normal((H, H), 0.02)
    w["pooler.dense.bias"] = normal((H,), 0.02)

    d = a.out
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    tok = tokenizer_dir()
    for fn in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(tok, fn)):
            shutil.copyfile(os.path.join(tok, fn), os.path.join(d, fn))
    write_json(os.path.join(d, "config.json"), {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu",
        "hidden_size": H, "intermediate_size": I, "num_attention_heads": s["heads"],
        "num_hidden_layers": L, "layer_norm_eps": 1e-12, "max_position_embeddings": P,
        "type_vocab_size": 2, "vocab_size": V, "pad_token_id": 0,
        "position_embedding_type": "absolute", "torch_dtype": "float32"})
    write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": s["pooling"] == "cls",
        "pooling_mode_mean_tokens": s["pooling"] == "mean",
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False})
    write_json(os.path.join(d, "sentence_bert_config.json"),
               {"max_seq_length": a.max_seq, "do_lower_case": False})
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    print("bert_onnx: %s: %s model (%d x %d, max_seq %d)" % (d, a.shape, L, H, a.max_seq))


# ---------------------------------------------------------------------------
# export


def cmd_export(a):
    # torch 1.13 warns about shape inference of constants; the export is
    # checked numerically instead (FILE.check.json).
    warnings.filterwarnings("ignore", category=UserWarning)
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model, c, pooling, normalize = load_model(a.model)
    # A padded batch of two: the check covers padding and the mask.
    B, T = 2, 19
    ids = torch.randint(1000, c["vocab_size"], (B, T), generator=torch.Generator().manual_seed(1))
    ids[:, 0], ids[0, -1] = 101, 102
    mask = torch.ones((B, T), dtype=torch.long)
    ids[1, 11], ids[1, 12:], mask[1, 12:] = 102, 0, 0
    tt = torch.zeros_like(ids)
    with torch.no_grad():
        want = model(ids, mask, tt)
        torch.onnx.export(
            model, (ids, mask, tt), a.out,
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                          "attention_mask": {0: "batch", 1: "sequence"},
                          "token_type_ids": {0: "batch", 1: "sequence"},
                          "sentence_embedding": {0: "batch"}},
            opset_version=a.opset, do_constant_folding=True)
    write_json(os.path.splitext(a.out)[0] + ".check.json", {
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(),
        "sentence_embedding": want.tolist(), "pooling": pooling, "normalize": normalize})
    print("bert_onnx: %s: exported (opset %d, %s pooling%s, %.1f MB)"
          % (a.out, a.opset, pooling, ", normalized" if normalize else "",
             os.path.getsize(a.out) / 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a random-weight model folder")
    m.add_argument("--shape", choices=sorted(SHAPES), required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--max-seq", type=int, default=256)
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
