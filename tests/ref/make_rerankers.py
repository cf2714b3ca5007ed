#!/usr/bin/python3
"""make_rerankers.py - reference rerankers (cross-encoders) and their scores.

The independent side of tests/test_rerank.c, as make_families.py is for the
embedding families:

  * random-weight model folders of real reranker configs at small dims, with
    the real config fields and tensor names: cross-encoder/ms-marco-MiniLM-
    L-6-v2 (BertForSequenceClassification, num_labels 1 through id2label,
    "bert." prefix, 512 positions, the MiniLM WordPiece tokenizer),
    BAAI/bge-reranker-base (XLMRobertaForSequenceClassification, 514
    positions, type_vocab_size 1, layer_norm_eps 1e-5, a sentence-
    transformers v4 "activation_fn"), and an NLI-style
    DistilBertForSequenceClassification with three labels, BF16, whose config
    names torch.nn.Identity;
  * reference logits from PyTorch modules written here after Hugging Face's
    BertForSequenceClassification (embeddings with the pair's token types,
    pooler dense + tanh on [CLS], classifier), XLMRobertaForSequence-
    Classification (RobertaClassificationHead: dense + tanh on <s>,
    out_proj; position ids from padding_idx + 1) and DistilBertForSequence-
    Classification (pre_classifier + ReLU, classifier), in float64, on
    padded batches with an attention mask (checked equal to one pair at a
    time), and CrossEncoder's default activation on top (sigmoid for one
    label unless the config names another, else the raw logits);
  * token ids, not AkiDB's: the BERT and DistilBERT pairs are the golden ids
    of tests/golden/rerank_pairs_minilm.jsonl (the Rust tokenizers library,
    tests/ref/rerank_pairs_ref.mjs; DistilBERT's tokenizer returns no
    token_type_ids, so its model sees type 0); the XLM-R pairs are those
    ids spread over XLM-R's vocabulary in its pair template
    <s> A </s></s> B </s>, plus a pair holding the padding id and one of
    exactly 512 ids.

Output (read by tests/test_rerank.c): OUT/manifest.txt and per model
OUT/<name>/ with the model files and pairs.jsonl, one pair per line:
  {"g": golden line or -1, "q": Q, "d": D, "max": M, "strategy": S,
   "ids": [...], "type_ids": [...] (as fed to the model),
   "logits": [...], "scores": [...] (default activation)}

manifest.txt lines:
  model NAME arch=A labels=L hidden=H max_tokens=N dtype=D text=0|1
        types=0|1 activation=sigmoid|raw

Usage: make_rerankers.py --out DIR
A model folder whose .stamp matches (hash of this script, make_models.py,
make_families.py, the golden ids and the model's spec) is kept as it is.
"""

import json
import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import make_families as mf  # noqa: E402
import refcommon as rc  # noqa: E402

torch, nn, F = mm.torch, mm.nn, mm.F

GOLDEN = os.path.join(mm.SRC, "tests", "golden", "rerank_pairs_minilm.jsonl")

VARIANTS = {
    "msmarco_minilm_bert": dict(
        family="bert", arch="BertForSequenceClassification", layers=2, hidden=32,
        heads=4, inter=64, act="gelu", eps=1e-12, vocab=mf.BERT_VOCAB, positions=512,
        type_vocab=2, dtype="F32", prefix="bert.", labels=["LABEL_0"], st_act=None,
        text=True),
    "bge_reranker_xlmr": dict(
        family="roberta", type="xlm-roberta", arch="XLMRobertaForSequenceClassification",
        layers=2, hidden=32, heads=4, inter=64, act="gelu", eps=1e-5, vocab=mf.XLMR_VOCAB,
        positions=514, type_vocab=1, dtype="F32", prefix="roberta.", labels=["LABEL_0"],
        st_act="torch.nn.modules.activation.Sigmoid", text=False),
    "nli_distilbert_bf16": dict(
        family="distilbert", arch="DistilBertForSequenceClassification", layers=2,
        hidden=48, heads=3, inter=96, act="gelu", eps=1e-12, vocab=mf.BERT_VOCAB,
        positions=512, type_vocab=0, dtype="BF16", prefix="distilbert.",
        labels=["contradiction", "entailment", "neutral"],
        st_act="torch.nn.modules.linear.Identity", text=True),
}


# --------------------------------------------------------------------------
# Reference models (Hugging Face semantics, eval mode)


class BertEmbeddingsTyped(nn.Module):
    """BertEmbeddings: (word + token type) + position, then LayerNorm."""

    def __init__(self, s):
        super().__init__()
        H = s["hidden"]
        self.word_embeddings = nn.Embedding(s["vocab"], H)
        self.position_embeddings = nn.Embedding(s["positions"], H)
        self.token_type_embeddings = nn.Embedding(s["type_vocab"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=s["eps"])

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1]).unsqueeze(0).expand_as(ids)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types)
        return self.LayerNorm(x + self.position_embeddings(pos))


class Pooler(nn.Module):            # BertPooler
    def __init__(self, H):
        super().__init__()
        self.dense = nn.Linear(H, H)

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertTyped(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.embeddings = BertEmbeddingsTyped(s)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(
            mm.Layer(s["hidden"], s["heads"], s["inter"], s["act"], s["eps"])
            for _ in range(s["layers"]))
        self.pooler = Pooler(s["hidden"])

    def forward(self, ids, types, mask):
        x = self.embeddings(ids, types)
        add_mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, add_mask)
        return x


class BertForSequenceClassification(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.bert = BertTyped(s)
        self.classifier = nn.Linear(s["hidden"], len(s["labels"]))

    def forward(self, ids, types, mask):
        return self.classifier(self.bert.pooler(self.bert(ids, types, mask)))


class RobertaClassificationHead(nn.Module):
    def __init__(self, H, L):
        super().__init__()
        self.dense = nn.Linear(H, H)
        self.out_proj = nn.Linear(H, L)

    def forward(self, h):
        return self.out_proj(torch.tanh(self.dense(h[:, 0, :])))


class XLMRobertaForSequenceClassification(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.roberta = mf.Roberta(s)      # token types: the buffered zeros
        self.classifier = RobertaClassificationHead(s["hidden"], len(s["labels"]))

    def forward(self, ids, types, mask):
        return self.classifier(self.roberta(ids, mask))


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.distilbert = mf.DistilBert(s)
        self.pre_classifier = nn.Linear(s["hidden"], s["hidden"])
        self.classifier = nn.Linear(s["hidden"], len(s["labels"]))

    def forward(self, ids, types, mask):
        h = self.distilbert(ids, mask)[:, 0]
        return self.classifier(F.relu(self.pre_classifier(h)))


CLASSES = {"bert": BertForSequenceClassification,
           "roberta": XLMRobertaForSequenceClassification,
           "distilbert": DistilBertForSequenceClassification}


# --------------------------------------------------------------------------
# Weights


def make_weights(name, model, s):
    """Random weights for every parameter of the reference module, scaled as
    make_families.py scales them, the head's so that tanh / ReLU work in
    their bends and the logits spread over a few units."""
    g = torch.Generator().manual_seed(mm.seed_of(name))
    w = {}
    for n, p in model.state_dict().items():
        shape = tuple(p.shape)
        last = n.split(".")
        if n.endswith("LayerNorm.weight") or n.endswith("layer_norm.weight"):
            t = torch.randn(shape, generator=g) * 0.1 + 1.0
        elif len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.1
        elif "embeddings." in n:
            t = torch.randn(shape, generator=g) * 0.02
        else:
            std = {"query": 1.2, "q_lin": 1.2, "key": 1.2, "k_lin": 1.2,
                   "lin1": 1.4}.get(last[-2], 1.0)
            if "intermediate.dense" in n:
                std = 1.4
            if n.startswith("classifier") or n.startswith("pre_classifier"):
                std = 2.0
            t = torch.randn(shape, generator=g) * (std / math.sqrt(shape[1]))
        w[n] = t
    if s["family"] == "roberta":   # trained checkpoints keep the padding rows 0
        w["roberta.embeddings.word_embeddings.weight"][mf.PAD].zero_()
        w["roberta.embeddings.position_embeddings.weight"][mf.PAD].zero_()
    return {k: mm.round_to(v, s["dtype"]) for k, v in w.items()}


# --------------------------------------------------------------------------
# Pairs


def golden_pairs():
    rows = []
    with open(GOLDEN, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))
    return rows


def spread_pair(ids, types, v):
    """A BERT pair [CLS] A [SEP] B [SEP] as XLM-R's <s> A </s></s> B </s>,
    the pieces spread over its vocabulary (make_families.spread)."""
    k = types.index(1) if 1 in types else len(ids)
    a, b = ids[1:k - 1], ids[k:-1]
    out = [mf.BOS] + [mf.spread(i, v) for i in a] + [mf.EOS, mf.EOS]
    return out + [mf.spread(i, v) for i in b] + [mf.EOS]


def pairs_of(s):
    """(golden line, q, d, max, strategy, ids, type_ids) of every pair."""
    out = []
    for gi, r in enumerate(golden_pairs()):
        if r.get("error"):
            continue
        if s["family"] == "roberta":
            if r["max"] != 512:
                continue
            ids = spread_pair(r["ids"], r["type_ids"], s["vocab"])
            if len(ids) > 512:       # one more special token than BERT's
                ids = ids[:511] + [mf.EOS]
            out.append((-1, r["q"], r["d"], 512, r["strategy"], ids, [0] * len(ids)))
            continue
        types = r["type_ids"] if s["type_vocab"] else [0] * len(r["ids"])
        out.append((gi, r["q"], r["d"], r["max"], r["strategy"], r["ids"], types))
    if s["family"] == "roberta":
        v = s["vocab"]
        out.append((-1, -1, -1, 512, "ids", [mf.BOS, 4711, mf.PAD, 93, mf.EOS, mf.EOS, 18000,
                                             mf.PAD, 5, mf.EOS], [0] * 10))
        ids = [mf.BOS] + [4 + (k * 104729) % (v - 4) for k in range(300)] + [mf.EOS, mf.EOS]
        ids += [4 + (k * 7919) % (v - 4) for k in range(208)] + [mf.EOS]
        out.append((-1, -1, -1, 512, "ids", ids, [0] * len(ids)))
    return out


def logits_of(model, s, pairs):
    """Logits of every pair on padded batches, checked against alone."""
    pad = mf.PAD if s["family"] == "roberta" else 0
    seqs = [p[5] for p in pairs]
    out = [None] * len(pairs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            types = torch.zeros((len(idx), T), dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                n = len(seqs[i])
                ids[r, :n] = torch.tensor(seqs[i])
                types[r, :n] = torch.tensor(pairs[i][6])
                mask[r, :n] = 1
            y = model(ids, types, mask)
            for r, i in enumerate(idx):
                out[i] = y[r]
        for i in sorted(set([0, len(pairs) // 2, len(pairs) - 1])):
            ids = torch.tensor([seqs[i]])
            y = model(ids, torch.tensor([pairs[i][6]]), torch.ones_like(ids))[0]
            d = (y - out[i]).abs().max().item()
            if d > 1e-9:
                sys.exit("reference depends on padding: pair %d differs by %g" % (i, d))
    return out


def activation(s):
    act = s["st_act"]
    if act is None:
        return "sigmoid" if len(s["labels"]) == 1 else "raw"
    return {"torch.nn.modules.activation.Sigmoid": "sigmoid",
            "torch.nn.modules.linear.Identity": "raw"}[act]


# --------------------------------------------------------------------------
# Model folders


def write_files(d, s, weights):
    H, L = s["hidden"], len(s["labels"])
    id2label = {str(i): n for i, n in enumerate(s["labels"])}
    label2id = {n: i for i, n in enumerate(s["labels"])}
    if s["family"] == "distilbert":
        cfg = {"architectures": [s["arch"]], "model_type": "distilbert", "activation": s["act"],
               "dim": H, "hidden_dim": s["inter"], "n_heads": s["heads"],
               "n_layers": s["layers"], "max_position_embeddings": s["positions"],
               "vocab_size": s["vocab"], "sinusoidal_pos_embds": False, "dropout": 0.1,
               "attention_dropout": 0.1, "pad_token_id": 0, "qa_dropout": 0.1,
               "seq_classif_dropout": 0.2, "tie_weights_": True, "initializer_range": 0.02}
    else:
        cfg = {"architectures": [s["arch"]], "model_type": s.get("type", "bert"),
               "hidden_size": H, "num_hidden_layers": s["layers"],
               "num_attention_heads": s["heads"], "intermediate_size": s["inter"],
               "hidden_act": s["act"], "layer_norm_eps": s["eps"],
               "max_position_embeddings": s["positions"], "type_vocab_size": s["type_vocab"],
               "vocab_size": s["vocab"], "position_embedding_type": "absolute",
               "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
               "classifier_dropout": None, "gradient_checkpointing": False,
               "initializer_range": 0.02, "use_cache": True}
        if s["family"] == "roberta":
            cfg.update({"pad_token_id": mf.PAD, "bos_token_id": mf.BOS,
                        "eos_token_id": mf.EOS, "output_past": True})
        else:
            cfg["pad_token_id"] = 0
    cfg.update({"id2label": id2label, "label2id": label2id,
                "torch_dtype": {"F32": "float32", "F16": "float16",
                                "BF16": "bfloat16"}[s["dtype"]],
                "transformers_version": "4.51.3"})
    if s["st_act"]:
        cfg["sentence_transformers"] = {"activation_fn": s["st_act"], "version": "4.1.0"}
    mm.write_json(os.path.join(d, "config.json"), cfg)
    if s["text"]:
        tokdir = mm.tokenizer_dir()
        for fn in ("tokenizer.json", "vocab.txt", "special_tokens_map.json"):
            shutil.copyfile(os.path.join(tokdir, fn), os.path.join(d, fn))
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": 512, "do_lower_case": True})
    items = [(k, s["dtype"], tuple(v.shape), mm.tensor_bytes(v, s["dtype"]))
             for k, v in weights.items()]
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)
    assert L >= 1


def build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 24,
                              extra=(os.path.abspath(mf.__file__), GOLDEN), refs=False)
    if d is None:
        return
    t0 = time.time()
    with mm.no_init():
        model = CLASSES[s["family"]](s)
    weights = make_weights(name, model, s)
    model.load_state_dict(weights, strict=True)
    model = model.double().eval()
    write_files(d, s, weights)
    pairs = pairs_of(s)
    logits = logits_of(model, s, pairs)
    act = activation(s)
    with open(os.path.join(d, "pairs.jsonl"), "w") as f:
        for p, y in zip(pairs, logits):
            sc = torch.sigmoid(y) if act == "sigmoid" else y
            f.write(json.dumps({"g": p[0], "q": p[1], "d": p[2], "max": p[3],
                                "strategy": p[4], "ids": p[5], "type_ids": p[6],
                                "logits": [float(v) for v in y],
                                "scores": [float(v) for v in sc]}) + "\n")
    lo = min(float(y.min()) for y in logits)
    hi = max(float(y.max()) for y in logits)
    rc.finish_build(d, stamp, name, 24, t0, "%d pairs, logits %.3f .. %.3f"
                    % (len(pairs), lo, hi))


def manifest_line(name, s):
    max_tokens = min(512, s["positions"] - (mf.PAD + 1 if s["family"] == "roberta" else 0))
    return ("model %s arch=%s labels=%d hidden=%d max_tokens=%d dtype=%s text=%d types=%d "
            "activation=%s" % (name, s["arch"], len(s["labels"]), s["hidden"], max_tokens,
                               s["dtype"], 1 if s["text"] else 0,
                               1 if s["type_vocab"] > 1 else 0, activation(s)))


def main():
    a = rc.parse_args(__doc__)
    names_ = rc.selected(VARIANTS, a.only)
    os.makedirs(a.out, exist_ok=True)
    lines = ["# AkiDB reference rerankers, written by tests/ref/make_rerankers.py;",
             "# read by tests/test_rerank.c.  Do not edit."]
    for n in names_:
        build(a.out, n, VARIANTS[n])
        lines.append(manifest_line(n, VARIANTS[n]))
    rc.write_manifest(a.out, lines)
    print("reference rerankers in %s" % a.out)


if __name__ == "__main__":
    main()
