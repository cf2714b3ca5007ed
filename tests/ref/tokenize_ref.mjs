// tokenize_ref.mjs - writes the reference token ids AkiDB's tokenizer tests
// compare against (tests/golden/tokens*.jsonl), computed by an independent
// engine: the @huggingface/tokenizers JavaScript library.
//
// Usage: node tests/ref/tokenize_ref.mjs TOKENIZER_JSON TEXTS_TXT [MAX_LEN [NORMALIZER_JSON]] > OUT.jsonl
//   TEXTS_TXT holds one text per line (split on "\n" only; a final newline
//   ends the last line).  Each output line is {"ids": [...], "n_full": N}:
//   the ids of the text truncated as sentence-transformers does
//   (tokenizer(text, truncation=True, max_length=MAX_LEN), MAX_LEN = 256 by
//   default, all-MiniLM-L6-v2's max_seq_length), and n_full, the number of
//   ids without truncation.  NORMALIZER_JSON, e.g. '{"lowercase": false}',
//   overrides fields of the tokenizer's normalizer: the goldens of the
//   normaliser variants are made that way from the one MiniLM tokenizer.json
//   (tests/data/tokenizer_variants.json lists them).
//
// Regenerating all goldens (from the source root):
//   (cd tests/ref && npm ci --ignore-scripts)
//   for v in $(node -e 'console.log(Object.keys(require("./tests/data/tokenizer_variants.json")).join(" "))'); do
//     node tests/ref/tokenize_ref.mjs tests/data/minilm/tokenizer.json tests/data/tokenizer_corpus.txt 256 \
//       "$(node -e "console.log(JSON.stringify(require('./tests/data/tokenizer_variants.json')['$v']))")" \
//       > tests/golden/tokens_$v.jsonl
//   done
//
// Truncation: the JS library has no truncation, so this script applies the
// rule of Hugging Face tokenizers for one sequence: keep the first
// MAX_LEN - (number of template special tokens) tokens of the sequence, then
// add the template's special tokens around them.
//
// Rust semantics: Python's transformers runs the Rust tokenizers library.
// Where the JS BertNormalizer is known to differ from it, the normaliser
// below reimplements the Rust one (bert.rs), still on the JS engine's own
// Unicode data (String.prototype.normalize, RegExp \p{...}, toLowerCase):
//   - order: Rust strips accents BEFORE lowercasing (JS: after);
//   - lowercase: Rust maps each code point alone (char::to_lowercase), so a
//     word-final capital sigma gives σ; JS String.toLowerCase gives ς;
//   - CJK padding: Rust tests whole code points with its ranges (U+2B920
//     start of Extension E); JS tests UTF-16 units, so it never pads
//     ideographs outside the BMP;
//   - control: Rust's unicode_categories crate counts Cc, Cf and of Co only
//     the code points UnicodeData.txt lists (U+E000, U+F8FF, U+F0000,
//     U+FFFFD, U+100000, U+10FFFD); JS removes every private-use character.
// Not reproduced here: the crate's Unicode 8.0 tables (P*, Mn, Cf of later
// versions are ordinary characters in Rust).  The corpus avoids such
// characters; AkiDB's own tests cover them.
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [, , tokPath, textPath, maxArg, normArg] = process.argv;
if (!tokPath || !textPath) {
  console.error("usage: node tokenize_ref.mjs TOKENIZER_JSON TEXTS_TXT [MAX_LEN]");
  process.exit(2);
}
const maxLen = maxArg ? parseInt(maxArg, 10) : 256;
const tokJson = JSON.parse(readFileSync(tokPath, "utf8"));
if (normArg) Object.assign(tokJson.normalizer, JSON.parse(normArg));
const tok = new Tokenizer(tokJson, {});

const LISTED_PRIVATE_USE = new Set([0xe000, 0xf8ff, 0xf0000, 0xffffd, 0x100000, 0x10fffd]);
const isChinese = (cp) =>
  (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
  (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
const isControl = (c) =>
  c !== "\t" && c !== "\n" && c !== "\r" &&
  (/^[\p{Cc}\p{Cf}]$/u.test(c) || LISTED_PRIVATE_USE.has(c.codePointAt(0)));
const isWhitespace = (c) => /^\p{White_Space}$/u.test(c);

function rustBertNormalize(cfg, text) {
  let cps = [...text];
  if (cfg.clean_text ?? true) {
    cps = cps
      .filter((c) => !(c === "\0" || c === "\uFFFD" || isControl(c)))
      .map((c) => (isWhitespace(c) ? " " : c));
  }
  if (cfg.handle_chinese_chars ?? true) {
    cps = cps.flatMap((c) => (isChinese(c.codePointAt(0)) ? [" ", c, " "] : [c]));
  }
  let out = cps.join("");
  const lower = cfg.lowercase ?? true;
  const strip = cfg.strip_accents ?? lower;
  if (strip) out = out.normalize("NFD").replace(/\p{Mn}/gu, "");
  if (lower) out = [...out].map((c) => c.toLowerCase()).join("");
  return out;
}

if (tokJson.normalizer?.type === "BertNormalizer") {
  tok.normalizer.normalize = (text) => rustBertNormalize(tokJson.normalizer, text);
} else if (tokJson.normalizer) {
  console.error(`unexpected normalizer ${tokJson.normalizer.type}`);
  process.exit(1);
}

const unkId = tok.token_to_id(tokJson.model.unk_token);
const toIds = (tokens) =>
  tokens.map((t) => tok.added_tokens_map.get(t)?.id ?? tok.token_to_id(t) ?? unkId);

let data = readFileSync(textPath, "utf8");
if (data.endsWith("\n")) data = data.slice(0, -1);
const lines = data.length ? data.split("\n") : [];
const out = [];
for (const text of lines) {
  const plain = tok.tokenize(text, { add_special_tokens: false });
  const full = tok.post_processor(plain, null, true).tokens;
  const nSpecial = full.length - plain.length;
  let ids = toIds(full);
  if (full.length > maxLen) {
    const kept = plain.slice(0, Math.max(0, maxLen - nSpecial));
    ids = toIds(tok.post_processor(kept, null, true).tokens);
  }
  out.push(JSON.stringify({ ids, n_full: full.length }));
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
