#!/usr/bin/python3
"""make_families.py - reference models and embeddings for the model families
beyond BERT: DistilBERT and RoBERTa / XLM-RoBERTa.

The independent side of tests/test_families.c, as make_models.py is for BERT:

  * random-weight model folders of the real configs at small dims (real
    vocabularies, position tables of 512 / 514 / 8194 rows, pad_token_id 1,
    type_vocab_size 1, layer_norm_eps 1e-5 for XLM-R; DistilBERT's own config
    field names), F32 / F16 / BF16, with and without the Hub prefix
    ("distilbert." / "roberta.");
  * reference embeddings from PyTorch modules written here after Hugging
    Face's DistilBertModel (q scaled before the product, masked_fill with the
    dtype's minimum, sa_layer_norm / output_layer_norm) and XLMRobertaModel
    (create_position_ids_from_input_ids: positions from padding_idx + 1, a
    padding id keeps position padding_idx), in float64, on padded batches with
    an attention mask, then sentence-transformers pooling / normalisation;
  * token ids, not texts: DistilBERT gets the corpus's WordPiece ids
    (tests/golden/embed_corpus_ids.jsonl); XLM-R gets those ids spread over
    its 250002-token vocabulary, with <s> = 0 and </s> = 2, plus a text of one
    token, one holding the padding id 1 mid-text, and a 900-token one.  The
    longest texts run past each model's max_seq_length and are cut as the
    tokenizers cut them: the first max - 1 ids and the last one.

Output (read by tests/test_families.c): OUT/manifest.txt and per model
OUT/<name>/ with the model files, ids.txt (one untruncated text per line,
space-separated ids) and ref/*.f32 (the AKIDBREF format of make_models.py).

manifest.txt lines:
  model NAME dim=D max_tokens=N layers=L heads=A inter=I vocab=V pooling=P
        normalize=0|1 dtype=F32|F16|BF16
  ref NAME FILE pooling=P normalize=N

Usage: make_families.py --out DIR
A model folder whose .stamp matches (hash of this script, make_models.py, the
ids and the model's spec) is kept as it is.
"""

import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import refcommon as rc  # noqa: E402

torch, nn, F = mm.torch, mm.nn, mm.F

XLMR_VOCAB, ROBERTA_VOCAB, BERT_VOCAB = 250002, 50265, 30522
BOS, PAD, EOS = 0, 1, 2       # XLM-R / RoBERTa special ids

REFS = [("default", -1), ("default", "flip"), ("cls", -1), ("max", -1),
        ("mean_sqrt_len", -1)]

# name -> spec.  family: distilbert | roberta (model_type given by "type").
# positions: rows of the position table.  max_seq: sentence_bert_config's
# max_seq_length (None: the tokenizer_config's model_max_length 512, capped
# by what the positions allow).
VARIANTS = {
    "distilbert_f32_prefix": dict(
        family="distilbert", type="distilbert", layers=2, hidden=64, heads=4,
        inter=128, act="gelu", vocab=BERT_VOCAB, positions=512, dtype="F32",
        prefix="distilbert.", pooling="mean", normalize=True, max_seq=None,
        refs=REFS),
    "distilbert_bf16_relu": dict(
        family="distilbert", type="distilbert", layers=3, hidden=48, heads=3,
        inter=96, act="relu", vocab=BERT_VOCAB, positions=512, dtype="BF16",
        prefix="", pooling="cls", normalize=False, max_seq=128,
        refs=REFS[:2]),
    "xlmr_f32_prefix": dict(
        family="roberta", type="xlm-roberta", layers=2, hidden=32, heads=2,
        inter=96, act="gelu", vocab=XLMR_VOCAB, positions=514, dtype="F32",
        prefix="roberta.", pooling="mean", normalize=True, max_seq=None,
        eps=1e-5, refs=REFS),
    "xlmr_bf16_8k": dict(
        family="roberta", type="xlm-roberta", layers=2, hidden=32, heads=4,
        inter=64, act="gelu", vocab=XLMR_VOCAB, positions=8194, dtype="BF16",
        prefix="", pooling="cls", normalize=True, max_seq=600, eps=1e-5,
        refs=REFS[:2]),
    "roberta_f16": dict(
        family="roberta", type="roberta", layers=2, hidden=48, heads=4,
        inter=96, act="gelu_new", vocab=ROBERTA_VOCAB, positions=514, dtype="F16",
        prefix="", pooling="mean", normalize=False, max_seq=256, eps=1e-5,
        refs=REFS[:2]),
}


# --------------------------------------------------------------------------
# Token ids


def spread(i, v):
    """A WordPiece id of the corpus spread over a RoBERTa vocabulary of v ids,
    [CLS] / [SEP] becoming <s> / </s>, never another special id (0..3)."""
    if i == mm.CLS_ID:
        return BOS
    if i == mm.SEP_ID:
        return EOS
    return 4 + (i * 7919) % (v - 4)


def corpus_ids(s):
    """The texts of a model, untruncated: the corpus, then one of a single
    token, (RoBERTa) one with the padding id mid-text, and a 900-token one."""
    base = mm.read_corpus()
    if s["family"] == "distilbert":
        seqs = [list(x) for x in base] + [[mm.CLS_ID]]
        seqs.append([mm.CLS_ID] + [1000 + (k * 37) % 28000 for k in range(898)] + [mm.SEP_ID])
        return seqs
    v = s["vocab"]
    seqs = [[spread(i, v) for i in x] for x in base]
    seqs.append([BOS])
    seqs.append([BOS, 4711, 93, PAD, 18000 % v, 5, EOS])
    seqs.append([BOS] + [4 + (k * 104729) % (v - 4) for k in range(898)] + [EOS])
    return seqs


def max_tokens(s):
    limit = s["positions"] - (PAD + 1 if s["family"] == "roberta" else 0)
    m = s["max_seq"] if s["max_seq"] is not None else 512
    return min(m, limit)


# --------------------------------------------------------------------------
# Weights


def names(s):
    """Tensor names (without prefix) and shapes of the family's model."""
    H, I, V, P = s["hidden"], s["inter"], s["vocab"], s["positions"]
    out = [("embeddings.word_embeddings.weight", (V, H)),
           ("embeddings.position_embeddings.weight", (P, H))]
    if s["family"] == "roberta":
        out.append(("embeddings.token_type_embeddings.weight", (1, H)))
    out += [("embeddings.LayerNorm.weight", (H,)), ("embeddings.LayerNorm.bias", (H,))]
    for i in range(s["layers"]):
        if s["family"] == "distilbert":
            p = "transformer.layer.%d." % i
            lin = [("attention.q_lin", H, H), ("attention.k_lin", H, H),
                   ("attention.v_lin", H, H), ("attention.out_lin", H, H),
                   ("ffn.lin1", I, H), ("ffn.lin2", H, I)]
            lns = ["sa_layer_norm", "output_layer_norm"]
        else:
            p = "encoder.layer.%d." % i
            lin = [("attention.self.query", H, H), ("attention.self.key", H, H),
                   ("attention.self.value", H, H), ("attention.output.dense", H, H),
                   ("intermediate.dense", I, H), ("output.dense", H, I)]
            lns = ["attention.output.LayerNorm", "output.LayerNorm"]
        for n, o, k in lin:
            out += [(p + n + ".weight", (o, k)), (p + n + ".bias", (o,))]
        for n in lns:
            out += [(p + n + ".weight", (H,)), (p + n + ".bias", (H,))]
    return out


def make_weights(name, s):
    """Random weights, scaled as make_models.py scales BERT's so that every
    part of a layer moves the output, rounded to the stored dtype."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    H = s["hidden"]
    w = {}
    for n, shape in names(s):
        if n.endswith("LayerNorm.weight") or n.endswith("layer_norm.weight"):
            t = torch.randn(shape, generator=g) * 0.1 + 1.0
        elif len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.1
        elif n.startswith("embeddings."):
            t = torch.randn(shape, generator=g) * 0.02
        else:
            std = {"query": 1.2, "q_lin": 1.2, "key": 1.2, "k_lin": 1.2,
                   "lin1": 1.4}.get(n.split(".")[-2], 1.0)
            if "intermediate.dense" in n:
                std = 1.4
            t = torch.randn(shape, generator=g) * (std / math.sqrt(shape[1]))
        w[n] = t
    if s["family"] == "roberta":   # trained checkpoints keep the padding rows 0
        w["embeddings.word_embeddings.weight"][PAD].zero_()
        w["embeddings.position_embeddings.weight"][PAD].zero_()
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


# --------------------------------------------------------------------------
# Reference models (Hugging Face semantics, eval mode)


class DistilEmbeddings(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.word_embeddings = nn.Embedding(s["vocab"], s["hidden"])
        self.position_embeddings = nn.Embedding(s["positions"], s["hidden"])
        self.LayerNorm = nn.LayerNorm(s["hidden"], eps=1e-12)

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos))


class DistilAttention(nn.Module):     # MultiHeadSelfAttention
    def __init__(self, H, heads):
        super().__init__()
        self.heads, self.dh = heads, H // heads
        self.q_lin, self.k_lin = nn.Linear(H, H), nn.Linear(H, H)
        self.v_lin, self.out_lin = nn.Linear(H, H), nn.Linear(H, H)

    def forward(self, x, mask):
        bs, T, H = x.shape

        def shape(t):
            return t.view(bs, -1, self.heads, self.dh).transpose(1, 2)

        q = shape(self.q_lin(x)) / math.sqrt(self.dh)
        k, v = shape(self.k_lin(x)), shape(self.v_lin(x))
        scores = torch.matmul(q, k.transpose(2, 3))
        m = (mask == 0).view(bs, 1, 1, T).expand_as(scores)
        scores = scores.masked_fill(m, torch.finfo(scores.dtype).min)
        ctx = torch.matmul(F.softmax(scores, dim=-1), v)
        return self.out_lin(ctx.transpose(1, 2).contiguous().view(bs, -1, H))


class DistilFFN(nn.Module):
    def __init__(self, H, I, act):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(H, I), nn.Linear(I, H)
        self.act = {"gelu": F.gelu, "relu": F.relu, "gelu_new": mm.gelu_tanh}[act]

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


class DistilBlock(nn.Module):          # TransformerBlock
    def __init__(self, s):
        super().__init__()
        H = s["hidden"]
        self.attention = DistilAttention(H, s["heads"])
        self.sa_layer_norm = nn.LayerNorm(H, eps=1e-12)
        self.ffn = DistilFFN(H, s["inter"], s["act"])
        self.output_layer_norm = nn.LayerNorm(H, eps=1e-12)

    def forward(self, x, mask):
        sa = self.sa_layer_norm(self.attention(x, mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class DistilTransformer(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.layer = nn.ModuleList(DistilBlock(s) for _ in range(s["layers"]))


class DistilBert(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embeddings = DistilEmbeddings(s)
        self.transformer = DistilTransformer(s)

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        for layer in self.transformer.layer:
            x = layer(x, mask)
        return x


def roberta_position_ids(ids, padding_idx):
    """create_position_ids_from_input_ids of modeling_roberta."""
    m = ids.ne(padding_idx).int()
    return (torch.cumsum(m, dim=1).type_as(m) * m).long() + padding_idx


class RobertaEmbeddings(nn.Module):
    def __init__(self, s):
        super().__init__()
        H = s["hidden"]
        self.word_embeddings = nn.Embedding(s["vocab"], H, padding_idx=PAD)
        self.position_embeddings = nn.Embedding(s["positions"], H, padding_idx=PAD)
        self.token_type_embeddings = nn.Embedding(1, H)
        self.LayerNorm = nn.LayerNorm(H, eps=s["eps"])

    def forward(self, ids):
        pos = roberta_position_ids(ids, PAD)
        x = self.word_embeddings(ids) + self.token_type_embeddings(torch.zeros_like(ids))
        return self.LayerNorm(x + self.position_embeddings(pos))


class Roberta(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embeddings = RobertaEmbeddings(s)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            mm.Layer(s["hidden"], s["heads"], s["inter"], s["act"], s["eps"])
            for _ in range(s["layers"]))

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        add_mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, add_mask)
        return x


def load_model(s, weights):
    with mm.no_init():
        m = DistilBert(s) if s["family"] == "distilbert" else Roberta(s)
    m.load_state_dict(weights, strict=True)
    return m.double().eval()


def pad_id(s):
    return 0 if s["family"] == "distilbert" else PAD


def padded(seqs, idx, pad):
    T = max(len(seqs[i]) for i in idx)
    ids = torch.full((len(idx), T), pad, dtype=torch.long)
    mask = torch.zeros((len(idx), T), dtype=torch.long)
    for r, i in enumerate(idx):
        ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
        mask[r, :len(seqs[i])] = 1
    return ids, mask


def token_embeddings(model, s, seqs):
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            ids, mask = padded(seqs, idx, pad_id(s))
            h = model(ids, mask)
            for r, i in enumerate(idx):
                out[i] = (h[r], mask[r])
    return out


def checks(model, s, seqs, tok_out, name):
    """Batched = alone (the reference must not depend on padding), and for
    DistilBERT the encoder again through torch's nn.TransformerEncoderLayer."""
    with torch.no_grad():
        for i in sorted(set([min(range(len(seqs)), key=lambda j: len(seqs[j])), 1,
                             len(seqs) - 2])):
            ids = torch.tensor([seqs[i]])
            h = model(ids, torch.ones_like(ids))[0]
            d = (h - tok_out[i][0][:len(seqs[i])]).abs().max().item()
            if d > 1e-9:
                sys.exit("%s: reference depends on padding: text %d differs by %g" % (name, i, d))
        if s["family"] != "distilbert":
            return
        idx = mm.batches(seqs)[-1]
        ids, mask = padded(seqs, idx, 0)
        x = model.embeddings(ids)
        act = {"gelu": "gelu", "relu": "relu"}[s["act"]]
        for L in model.transformer.layer:
            t = nn.TransformerEncoderLayer(s["hidden"], s["heads"], s["inter"], dropout=0.0,
                                           activation=act, layer_norm_eps=1e-12,
                                           batch_first=True).double().eval()
            a = L.attention
            t.self_attn.in_proj_weight.copy_(torch.cat([a.q_lin.weight, a.k_lin.weight,
                                                        a.v_lin.weight]))
            t.self_attn.in_proj_bias.copy_(torch.cat([a.q_lin.bias, a.k_lin.bias, a.v_lin.bias]))
            t.self_attn.out_proj.load_state_dict(a.out_lin.state_dict())
            t.norm1.load_state_dict(L.sa_layer_norm.state_dict())
            t.linear1.load_state_dict(L.ffn.lin1.state_dict())
            t.linear2.load_state_dict(L.ffn.lin2.state_dict())
            t.norm2.load_state_dict(L.output_layer_norm.state_dict())
            x = t(x, src_key_padding_mask=(mask == 0))
        h = model(ids, mask)
        d = max((x[r, :len(seqs[i])] - h[r, :len(seqs[i])]).abs().max().item()
                for r, i in enumerate(idx))
        if d > 1e-9:
            sys.exit("%s: DistilBERT reference and nn.TransformerEncoderLayer differ by %g"
                     % (name, d))


# --------------------------------------------------------------------------
# Model folders


def write_files(d, s, weights):
    H = s["hidden"]
    if s["family"] == "distilbert":
        cfg = {"architectures": ["DistilBertForMaskedLM" if s["prefix"] else "DistilBertModel"],
               "model_type": "distilbert", "activation": s["act"], "dim": H,
               "hidden_dim": s["inter"], "n_heads": s["heads"], "n_layers": s["layers"],
               "max_position_embeddings": s["positions"], "vocab_size": s["vocab"],
               "sinusoidal_pos_embds": False, "dropout": 0.1, "attention_dropout": 0.1,
               "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
               "tie_weights_": True, "initializer_range": 0.02}
    else:
        arch = {"xlm-roberta": "XLMRoberta", "roberta": "Roberta"}[s["type"]]
        cfg = {"architectures": [arch + ("ForMaskedLM" if s["prefix"] else "Model")],
               "model_type": s["type"], "hidden_size": H, "num_hidden_layers": s["layers"],
               "num_attention_heads": s["heads"], "intermediate_size": s["inter"],
               "hidden_act": s["act"], "layer_norm_eps": s["eps"],
               "max_position_embeddings": s["positions"], "type_vocab_size": 1,
               "vocab_size": s["vocab"], "pad_token_id": PAD, "bos_token_id": BOS,
               "eos_token_id": EOS, "position_embedding_type": "absolute",
               "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}
    cfg["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[s["dtype"]]
    mm.write_json(os.path.join(d, "config.json"), cfg)
    mods = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"}]
    if s["normalize"]:
        mods.append({"idx": 2, "name": "2", "path": "2_Normalize",
                     "type": "sentence_transformers.models.Normalize"})
    mm.write_json(os.path.join(d, "modules.json"), mods)
    rc.write_pooling(d, H, s["pooling"], s["max_seq"])
    mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": 512})
    if s["family"] == "distilbert":   # distilbert-base-uncased's vocabulary is BERT's
        tokdir = mm.tokenizer_dir()
        for fn in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
            shutil.copyfile(os.path.join(tokdir, fn), os.path.join(d, fn))
    items = rc.weight_items(weights, s["dtype"], s["prefix"])
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 24)
    if d is None:
        return
    t0 = time.time()
    weights = make_weights(name, s)
    write_files(d, s, weights)
    model = load_model(s, weights)
    raw = corpus_ids(s)
    rc.write_ids(d, raw)
    seqs = [rc.truncate(x, max_tokens(s)) for x in raw]
    tok_out = token_embeddings(model, s, seqs)
    checks(model, s, seqs, tok_out, name)
    rc.write_refs(d, s, tok_out, len(seqs), s["pooling"], per_index=True)
    rc.finish_build(d, stamp, name, 24, t0, "%d texts, max_tokens %d"
                    % (len(seqs), max_tokens(s)))


def manifest_lines(name, s):
    return [rc.model_line(name, s, max_tokens(s), s["pooling"])] + rc.ref_lines(name, s)


def main():
    rc.run(__doc__, VARIANTS,
           ["# AkiDB family reference models, written by tests/ref/make_families.py;",
            "# read by tests/test_families.c.  Do not edit."],
           build, manifest_lines, "family reference models")


if __name__ == "__main__":
    main()
