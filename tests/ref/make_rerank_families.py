#!/usr/bin/python3
"""make_rerank_families.py - reference rerankers of the newer encoder
families and their scores: the *ForSequenceClassification heads of
ModernBERT, MPNet, GTE ("new") and NomicBERT.

The independent side of test_rerank_families_ref (tests/rerank_families.cmake),
which runs tests/test_rerank_ref.c's checker over this script's manifest:

  * random-weight reranker folders with the real config fields and tensor
    names at small dims, the base model's weights made by the family's own
    generator (make_modernbert.py, make_mpnet.py, make_rotenc.py) under the
    class's prefix, then the head:
      ModernBertForSequenceClassification (model.*, head.dense (+ bias with
        classifier_bias), head.norm (+ bias with norm_bias), classifier):
        classifier_pooling "cls" with classifier_activation gelu, and "mean"
        with silu, classifier_bias and norm_bias on;
      MPNetForSequenceClassification (mpnet.*, classifier.dense /
        classifier.out_proj on <s>);
      NewForSequenceClassification (new.*, new.pooler.dense + tanh on [CLS],
        classifier): gte-multilingual-reranker-base's layout (one token type,
        NTK 8) and a two-type one fed the pair's token types;
      NomicBertForSequenceClassification (bert.*, bert.pooler.dense + tanh,
        classifier; the nomic-ai/nomic-bert-2048 model code), two types fed;
    F32, F16 and BF16 tensors; one and several labels (id2label); the
    default activation sigmoid (one label, no or a Sigmoid activation_fn)
    or raw (torch.nn.Identity);
  * causal-LM rerankers as sentence-transformers 5.4+ saves a CrossEncoder
    of a Qwen3ForCausalLM: modules.json listing the Transformer
    (base.modules.transformer.Transformer) and a LogitScore module
    (1_LogitScore/config.json: true_token_id, false_token_id,
    module_input_name), config_sentence_transformers.json with its
    activation_fn; the base model's weights from make_qwen3.py, a small
    whitespace WordPiece tokenizer; "yes" / "no" with torch.nn.Identity,
    and "1" alone (false_token_id null) untied in BF16; the reference score
    LogitScore's: logit[true] - logit[false] (logit[true] alone) of the LM
    head at the last token of each id sequence, run alone;
  * Qwen3ForSequenceClassification (the Qwen3-Reranker "seq-cls"
    conversions): model.* from make_qwen3.py and score.weight [L, H] without
    bias, config.json's pad_token_id; the reference logits transformers':
    score(x) at the last token that is not pad_token_id (argmax of position
    times the non-pad mask), on right-padded batches, some sequences ending
    in pad ids; and a folder without pad_token_id (the last token);
  * reference logits from the family generators' float64 forwards on right-
    padded batches with an attention mask, then the head written here after
    transformers' ModernBertForSequenceClassification (pooling of the last
    hidden state after final_norm: [:, 0] or the mean over the mask, then
    norm(act(dense(x))), classifier), MPNetClassificationHead, NewPooler and
    NomicBertPooler + classifier; each batch checked against pairs run
    alone;
  * token ids: pairs [CLS] A [SEP] B [SEP] (<s> A </s></s> B </s> for MPNet)
    of 4 to 512 ids spread over each vocabulary, with the token types a BERT
    tokenizer gives (0 for A, 1 for B) where the model is fed them.

Output: OUT/manifest.txt and per model OUT/<name>/ with the model files and
pairs.jsonl, in make_rerankers.py's format (text=0: ids only).

Usage: make_rerank_families.py --out DIR [--only NAMES]
A model folder whose .stamp matches is kept as it is.
"""

import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import make_modernbert as mmb  # noqa: E402
import make_mpnet as mmp  # noqa: E402
import make_qwen3 as mq  # noqa: E402
import make_rotenc as mre  # noqa: E402
import refcommon as rc  # noqa: E402

torch, F = mm.torch, mm.F

SIGMOID = "torch.nn.modules.activation.Sigmoid"
IDENTITY = "torch.nn.modules.linear.Identity"
MAX = 512   # tokenizer_config.json's model_max_length; every model's limit

# name -> spec: the family generator's fields, then the head's (arch,
# labels, st_act: config.json's sentence_transformers activation_fn or None;
# ModernBERT: pool, cls_act, cls_bias).
VARIANTS = {
    "modernbert_cls_f32": dict(
        family="modernbert", layers=3, hidden=48, heads=3, inter=64, vocab=2000, every=3,
        local=8, theta_g=160000.0, theta_l=10000.0, eps=1e-5, act="gelu", norm_bias=False,
        attn_bias=False, mlp_bias=False, dtype="F32", prefix="model.", positions=8192,
        arch="ModernBertForSequenceClassification", pool="cls", cls_act="gelu",
        cls_bias=False, labels=["LABEL_0"], st_act=None),
    "modernbert_mean_bf16": dict(
        family="modernbert", layers=3, hidden=64, heads=4, inter=80, vocab=2500, every=2,
        local=7, theta_g=80000.0, theta_l=5000.0, eps=1e-5, act="gelu_pytorch_tanh",
        norm_bias=True, attn_bias=True, mlp_bias=True, dtype="BF16", prefix="model.",
        positions=8192, arch="ModernBertForSequenceClassification", pool="mean",
        cls_act="silu", cls_bias=True, labels=["negative", "neutral", "positive"],
        st_act=IDENTITY),
    "mpnet_f16": dict(
        family="mpnet", layers=2, hidden=32, heads=2, inter=128, vocab=mmp.MPNET_VOCAB,
        positions=514, buckets=32, eps=1e-5, dtype="F16", prefix="mpnet.",
        arch="MPNetForSequenceClassification", labels=["LABEL_0"], st_act=SIGMOID),
    "gte_reranker_f32": dict(
        family="gte", layers=2, hidden=48, heads=3, inter=96, vocab=30528, types=1,
        theta=160000.0, ntk=8.0, positions=8192, eps=1e-12, act="gelu", dtype="F32",
        prefix="new.", arch="NewForSequenceClassification", labels=["LABEL_0"],
        st_act=None),
    "gte_types_bf16": dict(
        family="gte", layers=2, hidden=32, heads=2, inter=64, vocab=30528, types=2,
        theta=10000.0, ntk=None, positions=2048, eps=1e-5, act="gelu_new", dtype="BF16",
        prefix="new.", arch="NewForSequenceClassification", labels=["no", "yes"],
        st_act=None),
    "nomic_f16": dict(
        family="nomic", layers=2, hidden=64, heads=4, inner=200, vocab=30528, pad_mult=64,
        types=2, frac=1.0, theta=1000.0, positions=2048, eps=1e-12, act="swiglu",
        qkv_bias=False, fc1_bias=False, fc2_bias=False, dtype="F16", prefix="bert.",
        arch="NomicBertForSequenceClassification", labels=["LABEL_0"], st_act=IDENTITY),
}

# name -> the Qwen3 generator's fields, then the LogitScore's: its true and
# false token (None: null), tied embeddings, the activation_fn.
LM_VARIANTS = {
    "qwen3_logitscore_f32": dict(
        family="lm", layers=2, hidden=32, heads=4, kv_heads=2, head_dim=16, inter=64,
        vocab=400, theta=1e6, eps=1e-6, dtype="F32", tied=True, true="yes", false="no",
        st_act=IDENTITY),
    "qwen3_logitscore_true_bf16": dict(
        family="lm", layers=2, hidden=48, heads=4, kv_heads=1, head_dim=16, inter=96,
        vocab=400, theta=1e6, eps=1e-6, dtype="BF16", tied=False, true="1", false=None,
        st_act=None),
}
# name -> the Qwen3 generator's fields, then the head's labels and pad id
# (None: no pad_token_id in config.json).
SEQCLS_VARIANTS = {
    "qwen3_seqcls_f32": dict(
        family="seqcls", layers=2, hidden=32, heads=4, kv_heads=2, head_dim=16, inter=64,
        vocab=400, theta=1e6, eps=1e-6, dtype="F32", tied=True, labels=["LABEL_0"],
        pad=7, st_act=None),
    "qwen3_seqcls3_bf16": dict(
        family="seqcls", layers=2, hidden=48, heads=4, kv_heads=1, head_dim=16, inter=96,
        vocab=400, theta=1e6, eps=1e-6, dtype="BF16", tied=True,
        labels=["bad", "fair", "good"], pad=None, st_act=IDENTITY),
}
LM_MAX = 8192     # the card's max_length, the default pair length
# the small tokenizer's words (ids in this order); the rest of the model's
# vocabulary is never produced by it
LM_WORDS = ["[UNK]", "yes", "no", "1", "0", "<", ">", ":", "Query", "Document", "Instruct",
            "the", "moon", "tides", "Why", "are", "there", "?"]

LENGTHS = [4, 5, 9, 12, 20, 33, 47, 64, 90, 131, 200, 287, MAX]


# --------------------------------------------------------------------------
# Pairs


def specials(s):
    """(first, separator(s), last, pad, lowest plain id, vocabulary) of the
    family's pair template."""
    if s["family"] == "modernbert":
        v = s["vocab"]
        return v - 4, [v - 3], v - 3, v - 2, 4, v - 5
    if s["family"] == "mpnet":
        return mmp.BOS, [mmp.EOS, mmp.EOS], mmp.EOS, mmp.PAD, 4, s["vocab"]
    return mm.CLS_ID, [mm.SEP_ID], mm.SEP_ID, 0, 1000, s["vocab"]


def pairs_of(s):
    """(ids, type_ids) of every pair: A is about a third of the pair."""
    first, sep, last, _, lo, hi = specials(s)
    fed = fed_types(s)
    out = []
    for k, n in enumerate(LENGTHS):
        body = n - 2 - len(sep)
        a = max(1, body // 3) if body > 1 else body
        b = body - a
        ids = [first] + [lo + ((k + 3) * 7919 + j * 104729) % (hi - lo) for j in range(a)]
        ids += sep + [lo + ((k + 5) * 15485863 + j * 7907) % (hi - lo) for j in range(b)]
        ids.append(last)
        assert len(ids) == n, (n, len(ids))
        types = [0] * (1 + a + 1) + [1] * (n - a - 2) if fed else [0] * n
        out.append((ids[:n], types[:n]))
    return out


def fed_types(s):
    """The model sees the pair's types: GTE / NomicBERT with two types."""
    return s["family"] in ("gte", "nomic") and s["types"] > 1


# --------------------------------------------------------------------------
# Weights


def base_weights(name, s):
    if s["family"] == "modernbert":
        return mmb.make_weights(name, s)
    if s["family"] == "mpnet":
        return mmp.make_weights(name, s)
    return mre.make_weights(name, s)


def head_names(s):
    """(name, shape) of the head's tensors, as stored."""
    H, L, p = s["hidden"], len(s["labels"]), s["prefix"]
    if s["family"] == "modernbert":
        out = [("head.dense.weight", (H, H)), ("head.norm.weight", (H,))]
        if s["cls_bias"]:
            out.append(("head.dense.bias", (H,)))
        if s["norm_bias"]:
            out.append(("head.norm.bias", (H,)))
        return out + [("classifier.weight", (L, H)), ("classifier.bias", (L,))]
    if s["family"] == "mpnet":
        return [("classifier.dense.weight", (H, H)), ("classifier.dense.bias", (H,)),
                ("classifier.out_proj.weight", (L, H)), ("classifier.out_proj.bias", (L,))]
    return [(p + "pooler.dense.weight", (H, H)), (p + "pooler.dense.bias", (H,)),
            ("classifier.weight", (L, H)), ("classifier.bias", (L,))]


def head_weights(name, s):
    """Scaled so that the activation works in its bends, the norm's gains
    and biases show, and the logits spread over a few units."""
    g = torch.Generator().manual_seed(mm.seed_of(name + "/head"))
    w = {}
    for n, shape in head_names(s):
        if n.endswith("norm.weight"):
            t = torch.randn(shape, generator=g) * 0.2 + 1.0
        elif len(shape) == 1:
            t = torch.randn(shape, generator=g) * 0.3
        else:
            t = torch.randn(shape, generator=g) * (2.0 / math.sqrt(shape[1]))
        w[n] = mm.round_to(t, s["dtype"])
    return w


# --------------------------------------------------------------------------
# Reference (float64)


def hidden_states(s, w, model, ids, mask, types):
    """Last hidden states [B, T, H] of the padded batch."""
    if s["family"] == "modernbert":
        return mmb.forward(s, w, ids, mask)
    if s["family"] == "mpnet":
        return model(ids, mask)
    if fed_types(s):
        # type t of token id i as row i + t * V of a widened word table:
        # word[i] + (type[t] - type[0]), to which the forward adds type[0]
        word, typ = w["embeddings.word_embeddings.weight"], w[
            "embeddings.token_type_embeddings.weight"]
        V = word.shape[0]
        w = dict(w)
        w["embeddings.word_embeddings.weight"] = torch.cat(
            [word + (typ[t] - typ[0]) for t in range(typ.shape[0])])
        ids = ids + V * types
    return mre.forward(s, w, ids, mask)


def act_of(name, x):
    return {"gelu": lambda: F.gelu(x), "silu": lambda: F.silu(x),
            "relu": lambda: F.relu(x), "tanh": lambda: torch.tanh(x),
            "gelu_new": lambda: F.gelu(x, approximate="tanh")}[name]()


def head(s, hw, h, mask):
    """Logits [B, L] of the last hidden states h [B, T, H]."""
    if s["family"] == "modernbert":
        if s["pool"] == "cls":
            x = h[:, 0]
        else:
            m = mask.to(h.dtype).unsqueeze(-1)
            x = (h * m).sum(dim=1) / m.sum(dim=1)
        x = act_of(s["cls_act"], F.linear(x, hw["head.dense.weight"],
                                          hw.get("head.dense.bias")))
        x = F.layer_norm(x, (s["hidden"],), hw["head.norm.weight"], hw.get("head.norm.bias"),
                         s["eps"])
        return F.linear(x, hw["classifier.weight"], hw["classifier.bias"])
    if s["family"] == "mpnet":
        x = torch.tanh(F.linear(h[:, 0], hw["classifier.dense.weight"],
                                hw["classifier.dense.bias"]))
        return F.linear(x, hw["classifier.out_proj.weight"], hw["classifier.out_proj.bias"])
    p = s["prefix"]
    x = torch.tanh(F.linear(h[:, 0], hw[p + "pooler.dense.weight"],
                            hw[p + "pooler.dense.bias"]))
    return F.linear(x, hw["classifier.weight"], hw["classifier.bias"])


def logits_of(s, w, hw, model, pairs, name):
    """Logits of every pair on right-padded batches, checked against the
    pairs alone (no padding token may change a result)."""
    pad = specials(s)[3]
    seqs = [p[0] for p in pairs]

    def run(idx, alone=False):
        T = max(len(seqs[i]) for i in idx)
        ids = torch.full((len(idx), T), pad, dtype=torch.long)
        types = torch.zeros((len(idx), T), dtype=torch.long)
        mask = torch.zeros((len(idx), T), dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(seqs[i])
            ids[r, :n] = torch.tensor(seqs[i])
            types[r, :n] = torch.tensor(pairs[i][1])
            mask[r, :n] = 1
        return head(s, hw, hidden_states(s, w, model, ids, mask, types), mask)

    out = [None] * len(pairs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            y = run(idx)
            for r, i in enumerate(idx):
                out[i] = y[r]
        for i in sorted(set([0, 4, len(pairs) - 2])):
            d = (run([i])[0] - out[i]).abs().max().item()
            if d > 1e-9:
                sys.exit("%s: reference depends on padding: pair %d differs by %g"
                         % (name, i, d))
    return out


def activation(s):
    if s["st_act"] is None:
        return "sigmoid" if len(s["labels"]) == 1 else "raw"
    return {SIGMOID: "sigmoid", IDENTITY: "raw"}[s["st_act"]]


# --------------------------------------------------------------------------
# Model folders


def config_json(s):
    """The family generator's config.json as the classification class writes
    it: architectures, id2label / label2id, the head's fields."""
    fam = s["family"]
    cfg = (mmb if fam == "modernbert" else mmp if fam == "mpnet" else mre).config_json(s)
    cfg["architectures"] = [s["arch"]]
    cfg["id2label"] = {str(i): n for i, n in enumerate(s["labels"])}
    cfg["label2id"] = {n: i for i, n in enumerate(s["labels"])}
    if fam == "modernbert":
        cfg.update({"classifier_pooling": s["pool"], "classifier_activation": s["cls_act"],
                    "classifier_bias": s["cls_bias"]})
    if fam in ("gte", "nomic"):
        cfg["auto_map"]["AutoModelForSequenceClassification"] = (
            cfg["auto_map"]["AutoModel"].rsplit(".", 1)[0] + "." + s["arch"])
    if s["st_act"]:
        cfg["sentence_transformers"] = {"activation_fn": s["st_act"], "version": "4.1.0"}
    return cfg


def write_files(d, s, weights, hw):
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": MAX})
    items = [(s["prefix"] + k, s["dtype"], tuple(v.shape), mm.tensor_bytes(v, s["dtype"]))
             for k, v in weights.items()]
    items += [(k, s["dtype"], tuple(v.shape), mm.tensor_bytes(v, s["dtype"]))
              for k, v in hw.items()]
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def build(out, name, s):
    extra = tuple(os.path.abspath(m.__file__) for m in (mmb, mmp, mre))
    d, stamp = rc.start_build(__file__, out, name, s, 24, extra=extra, refs=False)
    if d is None:
        return
    t0 = time.time()
    weights = base_weights(name, s)
    hw = head_weights(name, s)
    write_files(d, s, weights, hw)
    w = {k: v.double() for k, v in weights.items()}
    model = mmp.load_model(s, weights) if s["family"] == "mpnet" else None
    hwd = {k: v.double() for k, v in hw.items()}
    pairs = pairs_of(s)
    logits = logits_of(s, w, hwd, model, pairs, name)
    act = activation(s)
    with open(os.path.join(d, "pairs.jsonl"), "w") as f:
        for p, y in zip(pairs, logits):
            sc = torch.sigmoid(y) if act == "sigmoid" else y
            f.write(json.dumps({"g": -1, "q": -1, "d": -1, "max": MAX, "strategy": "ids",
                                "ids": p[0], "type_ids": p[1],
                                "logits": [float(v) for v in y],
                                "scores": [float(v) for v in sc]}) + "\n")
    lo = min(float(y.min()) for y in logits)
    hi = max(float(y.max()) for y in logits)
    rc.finish_build(d, stamp, name, 24, t0, "%d pairs, logits %.3f .. %.3f"
                    % (len(pairs), lo, hi))


# --------------------------------------------------------------------------
# LogitScore (causal-LM) rerankers


def lm_weights(name, s):
    w = mq.make_weights(name, s)
    if not s["tied"]:
        g = torch.Generator().manual_seed(mm.seed_of(name + ".lm_head"))
        t = torch.randn((s["vocab"], s["hidden"]), generator=g) * (2.0 / math.sqrt(s["hidden"]))
        w["lm_head.weight"] = mm.round_to(t, s["dtype"])
    return w


def lm_pairs(s):
    """Id sequences of every length of LENGTHS below 300: any ids of the
    model's vocabulary (the id path takes whole prompts)."""
    v = s["vocab"]
    return [[(k * 7919 + j * 104729 + 11) % v for j in range(n)]
            for k, n in enumerate(x for x in LENGTHS if x < 300)]


def lm_scores(s, weights, seqs, yes, no):
    """LogitScore on the LM head's logits at each sequence's last token."""
    body = {k: v for k, v in weights.items() if k != "lm_head.weight"}
    model = mq.load_model(s, body)
    head = weights["embed_tokens.weight" if s["tied"] else "lm_head.weight"].double()
    out = []
    with torch.no_grad():
        for q in seqs:
            ids = torch.tensor([q])
            logits = model(ids, torch.ones_like(ids))[0, -1] @ head.t()   # every row
            out.append(logits[yes] - (logits[no] if no is not None else 0.0))
    return out


def lm_write(d, s, weights, yes, no):
    cfg = mq.config_json(dict(s, arch="Qwen3ForCausalLM", positions=40960))
    cfg["tie_word_embeddings"] = s["tied"]
    mm.write_json(os.path.join(d, "config.json"), cfg)
    vocab = {t: i for i, t in enumerate(LM_WORDS)}
    mm.write_json(os.path.join(d, "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": None,
        "decoder": None, "model": {"type": "WordPiece", "unk_token": "[UNK]",
                                   "continuing_subword_prefix": "##",
                                   "max_input_chars_per_word": 100, "vocab": vocab}})
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": 131072, "padding_side": "left"})
    mm.write_json(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "",
         "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_LogitScore",
         "type": "sentence_transformers.cross_encoder.modules.logit_score.LogitScore"}])
    os.makedirs(os.path.join(d, "1_LogitScore"))
    mm.write_json(os.path.join(d, "1_LogitScore", "config.json"),
                  {"true_token_id": yes, "false_token_id": no,
                   "module_input_name": "causal_logits"})
    mm.write_json(os.path.join(d, "sentence_bert_config.json"), {
        "transformer_task": "text-generation",
        "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
        "module_output_name": "causal_logits"})
    st = {"__version__": {"sentence_transformers": "5.4.0", "transformers": "5.5.0",
                          "pytorch": "2.10.0"},
          "default_prompt_name": None, "model_type": "CrossEncoder", "prompts": {}}
    if s["st_act"]:
        st["activation_fn"] = s["st_act"]
    mm.write_json(os.path.join(d, "config_sentence_transformers.json"), st)
    items = [(k if k == "lm_head.weight" else "model." + k, s["dtype"], tuple(v.shape),
              mm.tensor_bytes(v, s["dtype"])) for k, v in weights.items()]
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)


def lm_build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 24,
                              extra=(os.path.abspath(mq.__file__),), refs=False)
    if d is None:
        return
    t0 = time.time()
    yes = LM_WORDS.index(s["true"])
    no = LM_WORDS.index(s["false"]) if s["false"] is not None else None
    weights = lm_weights(name, s)
    lm_write(d, s, weights, yes, no)
    seqs = lm_pairs(s)
    raw = lm_scores(s, weights, seqs, yes, no)
    act = activation(dict(s, labels=[s["true"]]))
    with open(os.path.join(d, "pairs.jsonl"), "w") as f:
        for q, y in zip(seqs, raw):
            sc = torch.sigmoid(y) if act == "sigmoid" else y
            f.write(json.dumps({"g": -1, "q": -1, "d": -1, "max": LM_MAX, "strategy": "ids",
                                "ids": q, "type_ids": [0] * len(q), "logits": [float(y)],
                                "scores": [float(sc)]}) + "\n")
    rc.finish_build(d, stamp, name, 24, t0, "%d sequences, scores %.3f .. %.3f"
                    % (len(seqs), min(float(y) for y in raw), max(float(y) for y in raw)))


# --------------------------------------------------------------------------
# Qwen3ForSequenceClassification


def seqcls_seqs(s):
    """lm_pairs' sequences, every third ending in one to three pad ids."""
    seqs = lm_pairs(s)
    if s["pad"] is not None:
        seqs = [q + [s["pad"]] * (k % 3 + 1) if k % 3 == 0 else q
                for k, q in enumerate(seqs)]
    return seqs


def seqcls_logits(s, model, score, seqs):
    """transformers' Qwen3ForSequenceClassification: the last non-pad
    token's final state times score.weight, on right-padded batches."""
    pad = s["pad"] if s["pad"] is not None else 0
    out = [None] * len(seqs)
    with torch.no_grad():
        for idx in mm.batches(seqs):
            T = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), T), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
                mask[r, :len(seqs[i])] = 1
            h = model(ids, mask)
            if s["pad"] is None:
                last = mask.sum(dim=1) - 1
            else:
                last = (torch.arange(T) * (ids != pad).long()).argmax(dim=-1)
            y = h[torch.arange(len(idx)), last] @ score.t()
            for r, i in enumerate(idx):
                out[i] = y[r]
    return out


def seqcls_build(out, name, s):
    d, stamp = rc.start_build(__file__, out, name, s, 24,
                              extra=(os.path.abspath(mq.__file__),), refs=False)
    if d is None:
        return
    t0 = time.time()
    weights = mq.make_weights(name, s)
    L, H = len(s["labels"]), s["hidden"]
    g = torch.Generator().manual_seed(mm.seed_of(name + "/score"))
    score = mm.round_to(torch.randn((L, H), generator=g) * (2.0 / math.sqrt(H)), s["dtype"])
    cfg = mq.config_json(dict(s, arch="Qwen3ForSequenceClassification", positions=40960))
    cfg["id2label"] = {str(i): n for i, n in enumerate(s["labels"])}
    cfg["label2id"] = {n: i for i, n in enumerate(s["labels"])}
    if s["pad"] is not None:
        cfg["pad_token_id"] = s["pad"]
    if s["st_act"]:
        cfg["sentence_transformers"] = {"activation_fn": s["st_act"], "version": "4.1.0"}
    mm.write_json(os.path.join(d, "config.json"), cfg)
    mm.write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": MAX})
    items = [("model." + k, s["dtype"], tuple(v.shape), mm.tensor_bytes(v, s["dtype"]))
             for k, v in weights.items()]
    items.append(("score.weight", s["dtype"], (L, H), mm.tensor_bytes(score, s["dtype"])))
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)
    model = mq.load_model(s, weights)
    seqs = seqcls_seqs(s)
    logits = seqcls_logits(s, model, score.double(), seqs)
    act = activation(s)
    with open(os.path.join(d, "pairs.jsonl"), "w") as f:
        for q, y in zip(seqs, logits):
            sc = torch.sigmoid(y) if act == "sigmoid" else y
            f.write(json.dumps({"g": -1, "q": -1, "d": -1, "max": MAX, "strategy": "ids",
                                "ids": q, "type_ids": [0] * len(q),
                                "logits": [float(v) for v in y],
                                "scores": [float(v) for v in sc]}) + "\n")
    rc.finish_build(d, stamp, name, 24, t0, "%d sequences, logits %.3f .. %.3f"
                    % (len(seqs), min(float(y.min()) for y in logits),
                       max(float(y.max()) for y in logits)))


def manifest_line(name, s):
    if s["family"] == "lm":
        return ("model %s arch=Qwen3ForCausalLM labels=1 hidden=%d max_tokens=%d dtype=%s "
                "text=0 types=0 activation=%s" % (name, s["hidden"], LM_MAX, s["dtype"],
                                                  activation(dict(s, labels=[s["true"]]))))
    if s["family"] == "seqcls":
        return ("model %s arch=Qwen3ForSequenceClassification labels=%d hidden=%d "
                "max_tokens=%d dtype=%s text=0 types=0 activation=%s"
                % (name, len(s["labels"]), s["hidden"], MAX, s["dtype"], activation(s)))
    return ("model %s arch=%s labels=%d hidden=%d max_tokens=%d dtype=%s text=0 types=%d "
            "activation=%s" % (name, s["arch"], len(s["labels"]), s["hidden"], MAX, s["dtype"],
                               1 if fed_types(s) else 0, activation(s)))


def main():
    a = rc.parse_args(__doc__)
    every = dict(VARIANTS, **LM_VARIANTS, **SEQCLS_VARIANTS)
    names_ = rc.selected(every, a.only)
    os.makedirs(a.out, exist_ok=True)
    lines = ["# AkiDB reference rerankers of the newer encoder families, written by",
             "# tests/ref/make_rerank_families.py; read by tests/test_rerank_ref.c.  Do not edit."]
    for n in names_:
        builder = (lm_build if n in LM_VARIANTS else
                   seqcls_build if n in SEQCLS_VARIANTS else build)
        builder(a.out, n, every[n])
        lines.append(manifest_line(n, every[n]))
    rc.write_manifest(a.out, lines)
    print("reference rerankers (newer families) in %s" % a.out)


if __name__ == "__main__":
    main()
