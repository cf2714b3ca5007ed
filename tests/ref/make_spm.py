#!/usr/bin/python3
"""make_spm.py - trains the small sentencepiece models of tests/data/spm and
writes the goldens tests/golden/spm_*.jsonl that test_tok_unigram checks.

Truth is sentencepiece itself (Debian spm_train + python3-sentencepiece); the
ids AkiDB must give are those of Hugging Face tokenizers (Rust) running the
tokenizer.json that transformers' converters write for the model.  The two
engines agree on almost every text; where they do not, the Rust behaviour is
the target.  So every golden line holds

  ids      the ids of the Rust pipeline, computed here by a line-by-line
           re-statement of it (Precompiled per grapheme cluster, Strip,
           Replace, Metaspace, Unigram Viterbi in double precision, fused
           unknowns, byte fallback) whose segmentation of every word is
           checked against sentencepiece encoding that word alone;
  spm_ids  what sentencepiece gives for the whole text (with the fairseq
           offset and the template where the converter adds them).

The script stops with an error when ids and spm_ids differ on a text that is
not in one of the documented classes of difference (below), so a mistake in
the re-statement cannot slip into a golden.  The BPE model (Llama's
converter) takes sentencepiece's ids as they are (write_bpe_golden).

Also written: spm_norm.jsonl, the nmt_nfkc charsmap applied the Rust way
(norm) and, where that differs, sentencepiece's way (spm_norm), the latter
checked against spm_normalize on every text.

Documented differences between tokenizers (Rust) and sentencepiece:
  grapheme   Rust's Precompiled looks a whole grapheme cluster up when it is
             shorter than 6 UTF-8 bytes and takes the SHORTEST matching prefix
             for it, else char by char; sentencepiece takes the LONGEST match
             at each position over the whole text.  (E.g. U+FF76 U+FF9E,
             halfwidth KA + voiced mark: one 6-byte cluster, so Rust maps the
             two chars apart, sentencepiece maps the pair to U+30AC.)
  space      Rust's Strip removes every trailing White_Space char and
             Metaspace treats only U+0020 as a space; sentencepiece collapses
             and strips only U+0020 after normalising.
  metaspace  sentencepiece treats a U+2581 in the input as a space (and
             so removes it where it removes extra spaces); tokenizers keeps it.
Not met by the texts here, so not classified: pieces that sentencepiece
never matches (control, byte, unused) are plain vocabulary entries for the
Unigram model of tokenizers, and sentencepiece scores user-defined pieces
specially.
The @huggingface/tokenizers JS port is no reference here: its Precompiled
normaliser ignores the charsmap and runs NFKC instead.

Usage: sh tests/ref/make_spm.sh [--train]   (runs this script)
  --train  retrain the models (otherwise the committed models are used)
Needs: sentencepiece (spm_train), python3-sentencepiece, python3-regex.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import regex
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data", "spm")
GOLD = os.path.join(ROOT, "tests", "golden")

# name, folder/file (the file name selects the converter), spm_train flags
MODELS = [
    ("xlmr", "xlmr/sentencepiece.bpe.model",
     ["--vocab_size=2000", "--normalization_rule_name=nmt_nfkc"]),
    ("t5", "t5/spiece.model",
     ["--vocab_size=2000", "--normalization_rule_name=nmt_nfkc", "--byte_fallback=true",
      "--pad_id=0", "--eos_id=1", "--unk_id=2", "--bos_id=-1"]),
    ("ident", "ident/tokenizer.model",
     ["--vocab_size=1000", "--normalization_rule_name=identity"]),
    ("ident_bytes", "ident_bytes/tokenizer.model",
     ["--vocab_size=1500", "--normalization_rule_name=identity", "--byte_fallback=true"]),
    ("llama", "llama/tokenizer.model",
     ["--model_type=bpe", "--vocab_size=1500", "--normalization_rule_name=identity",
      "--byte_fallback=true", "--remove_extra_whitespaces=false", "--split_digits=true"]),
]

# ---------------------------------------------------------------------------
# protobuf wire format (just what ModelProto needs)


def read_varint(b, i):
    v, s = 0, 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """Yields (number, wire type, value) of a message."""
    i = 0
    while i < len(b):
        key, i = read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def parse_model(b):
    pieces, trainer, norm = [], b"", b""
    for num, _, v in fields(b):
        if num == 1:
            p = {"piece": "", "score": 0.0, "type": 1}
            for n2, _, v2 in fields(v):
                if n2 == 1:
                    p["piece"] = v2.decode("utf-8")
                elif n2 == 2:
                    p["score"] = struct.unpack("<f", v2)[0]
                elif n2 == 3:
                    p["type"] = v2
            pieces.append(p)
        elif num == 2:
            trainer = v
        elif num == 3:
            norm = v
    charsmap = b""
    for num, _, v in fields(norm):
        if num == 2:
            charsmap = v
    spec = {"unk_id": 0, "byte_fallback": False, "model_type": 1}
    for num, _, v in fields(trainer):
        if num == 40:
            spec["unk_id"] = v
        elif num == 35:
            spec["byte_fallback"] = bool(v)
        elif num == 3:
            spec["model_type"] = v
    return pieces, spec, charsmap


def plain_variant(b):
    """The same model with the identity normaliser and no whitespace
    handling: encoding one pre-tokenized word with it runs sentencepiece's
    Viterbi (and unknown / byte handling) on exactly that word."""
    out = bytearray()
    for num, wt, v in fields(b):
        if num == 3:
            spec = field_bytes(1, b"identity") + field_varint(3, 0) + field_varint(4, 0) + \
                field_varint(5, 0)
            out += field_bytes(3, spec)
        elif wt == 2:
            out += field_bytes(num, v)
        else:
            raise ValueError("unexpected top-level field")
    return bytes(out)


# ---------------------------------------------------------------------------
# Rust tokenizers, re-stated


class Precompiled:
    """spm_precompiled::Precompiled: darts-clone double array + string pool."""

    def __init__(self, blob):
        (size,) = struct.unpack_from("<I", blob, 0)
        self.units = struct.unpack_from("<%dI" % (size // 4), blob, 4)
        self.pool = blob[4 + size:]
        self.pool.decode("utf-8")

    def prefix_values(self, key):
        u = self.units
        pos = 0
        unit = u[pos]
        pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
        out = []
        for c in key:
            if c == 0:
                break
            pos ^= c
            unit = u[pos]
            if unit & ((1 << 31) | 0xFF) != c:
                return out
            pos ^= (unit >> 10) << ((unit & (1 << 9)) >> 6)
            if (unit >> 8) & 1:
                out.append(u[pos] & ((1 << 31) - 1))
        return out

    def transform(self, s):
        vals = self.prefix_values(s.encode("utf-8"))
        if not vals:
            return None
        i = vals[0]
        j = self.pool.find(b"\0", i)
        if j < 0:
            j = len(self.pool)
        return self.pool[i:j].decode("utf-8")

    def normalize(self, text):
        out = []
        for g in regex.findall(r"\X", text):
            if len(g.encode("utf-8")) < 6:
                t = self.transform(g)
                if t is not None:
                    out.append(t)
                    continue
            for c in g:
                t = self.transform(c)
                out.append(c if t is None else t)
        return "".join(out)

    def normalize_longest(self, text):
        """sentencepiece's rule: longest match at each position."""
        b = text.encode("utf-8")
        out, i = [], 0
        while i < len(b):
            vals = self.prefix_values(b[i:])
            if vals:
                # lengths: re-walk to find the longest matched key
                best = None
                for n in range(1, len(b) - i + 1):
                    v = self.prefix_values(b[i:i + n])
                    if len(v) and (best is None or len(v) > best[1]):
                        best = (n, len(v), v[-1])
                n, _, val = best
                j = self.pool.find(b"\0", val)
                out.append(self.pool[val:j if j >= 0 else len(self.pool)])
                i += n
            else:
                n = 1
                while i + n < len(b) and (b[i + n] & 0xC0) == 0x80:
                    n += 1
                out.append(b[i:i + n])
                i += n
        return b"".join(out).decode("utf-8")


RUST_WS = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | \
    set(chr(c) for c in range(0x2000, 0x200B))


def hf_normalize(pc, text):
    """Sequence[Precompiled?, Strip(right), Replace(' {2,}', '▁')]."""
    if pc is not None:
        text = pc.normalize(text)
    while text and text[-1] in RUST_WS:
        text = text[:-1]
    return regex.sub(" {2,}", "\u2581", text)


def metaspace(text):
    """Metaspace(replacement ▁, prepend_scheme always, split true)."""
    text = text.replace(" ", "\u2581")
    if not text:
        return []
    if not text.startswith("\u2581"):
        text = "\u2581" + text
    words, cur = [], ""
    for c in text:
        if c == "\u2581" and cur:
            words.append(cur)
            cur = ""
        cur += c
    if cur:
        words.append(cur)
    return words


class Unigram:
    """tokenizers::models::unigram::Unigram::encode_optimized + tokenize."""

    def __init__(self, vocab, unk_id, byte_fallback):
        self.vocab = vocab
        self.ids = {}
        for i, (p, _) in enumerate(vocab):
            self.ids[p] = i
        self.maxlen = max(len(p) for p, _ in vocab)
        self.min_score = min(s for _, s in vocab)
        self.unk_id = unk_id
        self.byte_fallback = byte_fallback

    def encode(self, w):
        unk_score = self.min_score - 10.0
        best = [None] * (len(w) + 1)   # (score, start, id)
        best[0] = (0.0, None, None)
        for i in range(len(w)):
            till = best[i][0] if best[i] else 0.0
            single = False
            for n in range(1, min(self.maxlen, len(w) - i) + 1):
                p = w[i:i + n]
                if p in self.ids:
                    pid = self.ids[p]
                    cand = self.vocab[pid][1] + till
                    t = best[i + n]
                    if t is None or cand > t[0]:
                        best[i + n] = (cand, i, pid)
                    if n == 1:
                        single = True
            if not single:
                cand = unk_score + till
                t = best[i + 1]
                if t is None or cand > t[0]:
                    if self.unk_id is None:
                        raise ValueError("no unk")
                    best[i + 1] = (cand, i, self.unk_id)
        toks, end, run = [], len(w), []
        while end > 0:
            _, start, pid = best[end]
            if pid == self.unk_id:
                run.append(w[start:end])
            else:
                if run:
                    toks.append("".join(reversed(run)))
                    run = []
                toks.append(w[start:end])
            end = start
        if run:
            toks.append("".join(reversed(run)))
        return list(reversed(toks))

    def tokenize(self, w):
        out = []
        for t in self.encode(w):
            if t in self.ids:
                out.append(self.ids[t])
                continue
            if self.byte_fallback:
                bs = ["<0x%02X>" % c for c in t.encode("utf-8")]
                if all(b in self.ids for b in bs):
                    out.extend(self.ids[b] for b in bs)
                    continue
            out.append(self.unk_id)
        return out


# ---------------------------------------------------------------------------
# converters (transformers' convert_slow_tokenizer, the parts that matter)


def converted(kind, pieces, spec):
    """Returns (vocab [(piece, score)], unk_id, byte_fallback, prefix ids,
    suffix ids, added token strings, spm id -> hf id)."""
    if kind == "xlmr":
        vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
        vocab += [(p["piece"], p["score"]) for p in pieces[3:]]
        vocab += [("<mask>", 0.0)]

        def spm2hf(i):
            return 3 if i == spec["unk_id"] else i + 1
        return vocab, 3, spec["byte_fallback"], [0], [2], \
            ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], spm2hf
    vocab = [(p["piece"], p["score"]) for p in pieces]
    specials = [p["piece"] for p in pieces if p["type"] in (2, 3, 4)]
    suffix = []
    if kind == "t5":
        vocab += [("<extra_id_%d>" % i, 0.0) for i in range(99, -1, -1)]
        specials += ["<extra_id_%d>" % i for i in range(99, -1, -1)]
        suffix = [[p["piece"] for p in pieces].index("</s>")]
    return vocab, spec["unk_id"], spec["byte_fallback"], [], suffix, specials, lambda i: i


# ---------------------------------------------------------------------------
# corpus


def training_text():
    rnd = random.Random(20240611)
    lines = []
    with open(os.path.join(ROOT, "tests", "data", "embed_corpus.txt"), encoding="utf-8") as fh:
        lines += [ln.rstrip("\n") for ln in fh if ln.strip()]
    with open("/usr/share/common-licenses/GPL-3", encoding="utf-8") as fh:
        lines += [ln.strip() for ln in fh if ln.strip()]
    scripts = [
        [chr(c) for c in range(0x430, 0x450)],                 # Cyrillic
        [chr(c) for c in range(0x3B1, 0x3CA)],                 # Greek
        [chr(c) for c in range(0x627, 0x64B)],                 # Arabic
        [chr(c) for c in range(0x915, 0x939)] + ["\u093E", "\u093F", "\u0940", "\u094D"],
        [chr(c) for c in range(0xE01, 0xE2F)] + ["\u0E31", "\u0E34", "\u0E48"],
        [chr(c) for c in range(0xAC00, 0xAC00 + 11172, 97)],   # Hangul
        [chr(c) for c in range(0x3041, 0x3097)],               # Hiragana
        [chr(c) for c in range(0x30A1, 0x30FB)],               # Katakana
        [chr(c) for c in range(0x4E00, 0x4E00 + 3000, 7)],     # CJK
        list("abcdefghijklmnopqrstuvwxyzéèàüöäçñß"),
    ]
    emoji = [chr(c) for c in range(0x1F600, 0x1F640)]
    weights = [[1.0 / (k + 1) for k in range(len(s))] for s in scripts]
    for _ in range(6000):
        k = rnd.randrange(len(scripts))
        words = []
        for _ in range(rnd.randint(3, 12)):
            w = "".join(rnd.choices(scripts[k], weights[k], k=rnd.randint(1, 6)))
            words.append(w)
        if rnd.random() < 0.1:
            words.append(rnd.choice(emoji))
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


def test_texts():
    texts = []
    for f in (os.path.join(ROOT, "tests", "data", "tokenizer_corpus.txt"),
              os.path.join(HERE, "spm_texts.txt")):
        with open(f, encoding="utf-8", newline="") as fh:
            texts += fh.read().split("\n")[:-1]
    seen, out = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def train(tmp):
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as fh:
        fh.write(training_text())
    for name, rel, flags in MODELS:
        dst = os.path.join(DATA, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        prefix = os.path.join(tmp, name)
        # relative paths: the model records them, so the bytes stay reproducible
        subprocess.run(["spm_train", "--input=corpus.txt", "--model_prefix=" + name,
                        "--num_threads=1", "--random_seed=7", "--minloglevel=1",
                        "--max_sentence_length=100000", "--character_coverage=0.995"] + flags,
                       check=True, cwd=tmp)
        with open(prefix + ".model", "rb") as fh:
            data = fh.read()
        with open(dst, "wb") as fh:
            fh.write(data)


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", action="store_true")
    args = ap.parse_args()
    texts = test_texts()
    with tempfile.TemporaryDirectory() as tmp:
        if args.train:
            train(tmp)
        bad = 0
        counts = {}
        norm_done = False
        for name, rel, _ in MODELS:
            path = os.path.join(DATA, rel)
            with open(path, "rb") as fh:
                blob = fh.read()
            pieces, spec, charsmap = parse_model(blob)
            if spec["model_type"] == 2:
                write_bpe_golden(name, path, pieces, texts)
                continue
            plain = os.path.join(tmp, name + ".plain.model")
            with open(plain, "wb") as fh:
                fh.write(plain_variant(blob))
            sp = spm.SentencePieceProcessor(model_file=path)
            sp_plain = spm.SentencePieceProcessor(model_file=plain)
            pc = Precompiled(charsmap) if charsmap else None
            vocab, unk_id, bf, pre, suf, specials, spm2hf = converted(name, pieces, spec)
            uni = Unigram(vocab, unk_id, bf)
            lines = []
            for t in texts:
                if any(s in t for s in specials):
                    continue
                norm = hf_normalize(pc, t)
                ids = []
                for w in metaspace(norm):
                    mine = uni.tokenize(w)
                    theirs = [spm2hf(i) for i in sp_plain.encode(w)]
                    if mine != theirs:
                        print("%s: word %r: re-statement %r, sentencepiece %r"
                              % (name, w, mine, theirs), file=sys.stderr)
                        bad += 1
                    ids += mine
                ids = pre + ids + suf
                spm_ids = pre + [spm2hf(i) for i in sp.encode(t)] + suf
                kinds = []
                if ids != spm_ids:
                    if pc is not None and pc.normalize(t) != pc.normalize_longest(t):
                        kinds.append("grapheme")
                    if any(c in RUST_WS and c != " " for c in t):
                        kinds.append("space")
                    if "\u2581" in t:
                        kinds.append("metaspace")
                    if not kinds:
                        print("%s: unexplained difference on %r:\n  %r\n  %r"
                              % (name, t, ids, spm_ids), file=sys.stderr)
                        bad += 1
                for k in kinds:
                    counts[(name, k)] = counts.get((name, k), 0) + 1
                rec = {"text": t, "ids": ids}
                if ids != spm_ids:
                    rec["spm_ids"] = spm_ids
                    rec["why"] = kinds
                lines.append(rec)
            with open(os.path.join(GOLD, "spm_%s.jsonl" % name), "w", encoding="utf-8") as fh:
                for rec in lines:
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            if pc is not None and not norm_done:
                write_norm_golden(pc, texts, path, tmp)
                norm_done = True
            print("%s: %d texts, %d differ from sentencepiece" %
                  (name, len(lines), sum(1 for r in lines if "spm_ids" in r)))
        for k, v in sorted(counts.items()):
            print("  %s %s: %d" % (k[0], k[1], v))
        if bad:
            sys.exit("%d unexplained differences" % bad)


def write_bpe_golden(name, path, pieces, texts):
    """A BPE model converted as transformers' LlamaConverter does (legacy):
    Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, BPE with byte
    fallback and merges ordered by piece score, template <s> A.  The ids are
    sentencepiece's own (it segments BPE by piece score, which is what those
    merges encode), with <s> in front."""
    sp = spm.SentencePieceProcessor(model_file=path)
    specials = [p["piece"] for p in pieces if p["type"] in (2, 3, 4)]
    bos = [p["piece"] for p in pieces].index("<s>")
    n = 0
    with open(os.path.join(GOLD, "spm_%s.jsonl" % name), "w", encoding="utf-8") as fh:
        for t in texts:
            if any(s in t for s in specials):
                continue
            fh.write(json.dumps({"text": t, "ids": [bos] + sp.encode(t)},
                                ensure_ascii=False) + "\n")
            n += 1
    print("%s: %d texts (BPE, sentencepiece ids)" % (name, n))


def collapse(s):
    return " ".join(w for w in s.split(" ") if w)


def write_norm_golden(pc, texts, model, tmp):
    """Normaliser goldens (the nmt_nfkc charsmap): Rust's Precompiled output
    (norm) and, where it differs, sentencepiece's longest-match output
    (spm_norm).  The longest-match re-statement is checked against
    spm_normalize on every text, so the charsmap is read right."""
    inp = os.path.join(tmp, "norm_in.txt")
    with open(inp, "w", encoding="utf-8", newline="") as fh:
        fh.write("".join(t + "\n" for t in texts))
    res = subprocess.run(["spm_normalize", "--model=" + model, "--input=" + inp],
                         check=True, capture_output=True)
    got = res.stdout.decode("utf-8").split("\n")
    if len(got) < len(texts):
        sys.exit("spm_normalize gave %d lines for %d texts" % (len(got), len(texts)))
    for t, g in zip(texts, got):
        if collapse(pc.normalize_longest(t)) != g:
            sys.exit("spm_normalize disagrees on %r: %r vs %r"
                     % (t, g, collapse(pc.normalize_longest(t))))
    with open(os.path.join(GOLD, "spm_norm.jsonl"), "w", encoding="utf-8") as fh:
        for t in texts:
            n = pc.normalize(t)
            rec = {"text": t, "norm": n}
            ln = pc.normalize_longest(t)
            if ln != n:
                rec["spm_norm"] = ln
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
