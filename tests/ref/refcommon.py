"""refcommon.py - what the model-family reference generators share.

tests/ref/make_qwen3.py, make_gemma3.py, make_modernbert.py, make_mpnet.py,
make_rotenc.py, make_families.py, make_pipeline.py and make_rerankers.py
import it (with make_models.py, the BERT generator, whose safetensors
writer, seeds and reference files they use):

  * the float64 pieces of the reference forwards that are the same in every
    family: rotate_half / RoPE cos-sin tables, repeat_kv, the
    sentence-transformers Pooling of one text's own tokens and Normalize;
  * the ids: the corpus's size, cutting a text as its tokenizer cuts it;
  * the model folders: the .stamp that keeps an unchanged folder (and the
    copy in AKIDB_REF_CACHE, make_models.up_to_date), ids.txt,
    the ref/*.f32 of each (pooling, normalize) of a spec, the build line;
  * manifest.txt's lines (the format of make_families.py) and the command
    line every generator takes (--out, --only, --threads).
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

torch, nn, F = mm.torch, mm.nn, mm.F


# --------------------------------------------------------------------------
# Ids


def corpus_count():
    """Texts of tests/data/tok_multilingual.txt (JSON lines; # comments)."""
    p = os.path.join(mm.SRC, "tests", "data", "tok_multilingual.txt")
    with open(p, encoding="utf-8") as f:
        return sum(1 for ln in f if ln.strip() and not ln.startswith("#"))


def truncate(ids, max_len):
    """The first max_len - 1 ids, then the closing one, as tokenizers cut."""
    if len(ids) <= max_len:
        return list(ids)
    return list(ids[:max_len - 1]) + [ids[-1]]


# --------------------------------------------------------------------------
# Reference forward pieces (float64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(hd, theta, T):
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def repeat_kv(x, n_rep):           # [B, kv, T, hd] -> [B, kv * n_rep, T, hd]
    B, kv, T, hd = x.shape
    return x[:, :, None].expand(B, kv, n_rep, T, hd).reshape(B, kv * n_rep, T, hd)


def pool(h, mode):
    """sentence-transformers Pooling over one text's own tokens [n, H]."""
    if mode == "lasttoken":
        return h[-1]
    if mode == "cls":
        return h[0]
    if mode == "max":
        return h.max(0)[0]
    if mode == "mean":
        return h.sum(0) / h.shape[0]
    if mode == "mean_sqrt_len":
        return h.sum(0) / math.sqrt(h.shape[0])
    raise ValueError(mode)


def embed(tok_out, pooling, normalize):
    """Pooling (and Normalize) of each text's token states."""
    rows = []
    for h in tok_out:
        v = pool(h, pooling).unsqueeze(0)
        if normalize:
            v = F.normalize(v, p=2, dim=1)
        rows.append(v[0])
    return torch.stack(rows)


# --------------------------------------------------------------------------
# Model folders


def start_build(script, out, name, s, width, extra=(), refs=True):
    """OUT/name's folder and stamp, made afresh (with ref/ when refs), or
    (None, None) when its .stamp (the hash of script, make_models.py, this
    module, the corpus ids, the files of extra and [name, s]) says it is up
    to date."""
    d = os.path.join(out, name)
    h = hashlib.sha256()
    for p in (os.path.abspath(script), os.path.abspath(mm.__file__),
              os.path.abspath(__file__), mm.IDS_PATH) + tuple(extra):
        mm.file_hash(h, p)
    h.update(json.dumps([name, s], sort_keys=True).encode())
    stamp = h.hexdigest()
    if mm.up_to_date(out, name, stamp):
        print("%-*s up to date" % (width, name))
        return None, None
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "ref") if refs else d)
    return d, stamp


def finish_build(d, stamp, name, width, t0, what):
    """Writes the .stamp and says what was built."""
    with open(os.path.join(d, ".stamp"), "w") as f:
        f.write(stamp + "\n")
    mm.cache_put(d)
    print("%-*s built in %.1f s (%s)" % (width, name, time.time() - t0, what))
    sys.stdout.flush()


POOLING_KEYS = {"cls": "cls_token", "mean": "mean_tokens", "max": "max_tokens",
                "mean_sqrt_len": "mean_sqrt_len_tokens", "weightedmean": "weightedmean_tokens",
                "lasttoken": "lasttoken"}


def pooling_config(hidden, mode):
    """1_Pooling/config.json as sentence-transformers writes it, mode on."""
    cfg = {"word_embedding_dimension": hidden}
    for m, key in POOLING_KEYS.items():
        cfg["pooling_mode_" + key] = m == mode
    cfg["include_prompt"] = True
    return cfg


def write_pooling(d, hidden, mode, max_seq):
    """d/1_Pooling/config.json (pooling_config) and, unless max_seq is
    None, d/sentence_bert_config.json."""
    os.makedirs(os.path.join(d, "1_Pooling"))
    mm.write_json(os.path.join(d, "1_Pooling", "config.json"), pooling_config(hidden, mode))
    if max_seq is not None:
        mm.write_json(os.path.join(d, "sentence_bert_config.json"),
                      {"max_seq_length": max_seq, "do_lower_case": False})


def weight_items(weights, dtype, prefix=""):
    """mm.write_safetensors' items of the tensors, named prefix + key."""
    return [(prefix + k, dtype, tuple(v.shape), mm.tensor_bytes(v, dtype))
            for k, v in weights.items()]


def write_ids(d, raw):
    """ids.txt: the untruncated ids of each text, one a line."""
    with open(os.path.join(d, "ids.txt"), "w") as f:
        for x in raw:
            f.write(" ".join(str(i) for i in x) + "\n")


def refs_of(s):
    """s["refs"] with "flip" resolved: (pooling, normalize) pairs."""
    for pooling, normalize in s["refs"]:
        if normalize == "flip":
            normalize = 0 if s["normalize"] else 1
        yield pooling, normalize


def write_refs(d, s, tok_out, n, default_pooling, per_index=False):
    """ref/<file> of each of s["refs"] over the n texts: "default" is
    default_pooling, normalize -1 the model's.  per_index: tok_out in
    make_models.embed's form."""
    idx = list(range(n))
    for pooling, normalize in refs_of(s):
        p = default_pooling if pooling == "default" else pooling
        nz = s["normalize"] if normalize == -1 else bool(normalize)
        e = mm.embed(tok_out, idx, p, nz) if per_index else embed(tok_out, p, nz)
        mm.write_ref(os.path.join(d, mm.ref_file(pooling, normalize)), idx, e)


# --------------------------------------------------------------------------
# Manifest and command line


def model_line(name, s, max_tokens, pooling, inter=None, vocab=None):
    return ("model %s dim=%d max_tokens=%d layers=%d heads=%d inter=%d vocab=%d pooling=%s "
            "normalize=%d dtype=%s"
            % (name, s["hidden"], max_tokens, s["layers"], s["heads"],
               s["inter"] if inter is None else inter, s["vocab"] if vocab is None else vocab,
               pooling, 1 if s["normalize"] else 0, s["dtype"]))


def ref_lines(name, s):
    return ["ref %s %s pooling=%s normalize=%d"
            % (name, mm.ref_file(pooling, normalize), pooling, normalize)
            for pooling, normalize in refs_of(s)]


def parse_args(doc, select=True):
    """--out DIR and, when select, --only NAMES and --threads N (torch's,
    set here; 2 without select)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--out", required=True)
    if select:
        ap.add_argument("--only", help="comma-separated model names")
        ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads if select else 2)
    return a


def selected(variants, only, keep=lambda n: True):
    """The names of variants that --only names (all without it) and keep takes."""
    return [n for n in variants if (not only or n in only.split(",")) and keep(n)]


def write_manifest(out, lines):
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def run(doc, variants, header, build, manifest_lines, what, keep=lambda n: True):
    """A generator's main: parses the command line, builds each selected
    variant (build(out, name, spec)), writes the manifest (header lines, then
    each variant's manifest_lines(name, spec))."""
    a = parse_args(doc)
    names_ = selected(variants, a.only, keep)
    os.makedirs(a.out, exist_ok=True)
    lines = list(header)
    for n in names_:
        build(a.out, n, variants[n])
        lines += manifest_lines(n, variants[n])
    write_manifest(a.out, lines)
    print("%s in %s" % (what, a.out))
