// pretok_ref.mjs - writes the goldens of AkiDB's pre-tokenizer and Replace
// normalizer tests (tests/test_tok_pretok.c): for every configuration in
// tests/data/pretok_configs.json and every text of the corpora, the splits
// (pre-tokenizers) or the normalised text (normalizers) computed by the Rust
// Hugging Face tokenizers library itself, through its official Node binding
// (npm package "tokenizers", a prebuilt native module of the Rust crate, so
// the regexes run on Oniguruma exactly as in Python's transformers).
//
// Usage (from the source root):
//   (cd tests/ref && npm install --no-save tokenizers@0.23.2)
//   node tests/ref/pretok_ref.mjs tests/data/pretok_configs.json tests/golden
// writes tests/golden/pretok_<name>.jsonl for each configuration <name>.
// The configurations file names the corpora ("corpora", in order; each
// corpus holds one JSON string per line, blank lines and lines starting with
// # skipped).  Configurations under "pre_tokenizers" and "normalizers" run on
// the texts of every corpus, those under "pre_tokenizers_small" on the texts
// of "small_corpus" only (the behavior variants, to keep the goldens small).
// Line k of a golden belongs to text k: a JSON array of the split strings,
// or the normalised string.
//
// Each configuration is loaded as the pre_tokenizer (or normalizer) of a
// tokenizer.json with an empty WordLevel model and run on the raw text
// (PreTokenizer.preTokenizeString / Normalizer.normalizeString), so Sequence
// and the at-offset-0 rule of Metaspace's prepend_scheme "first" are the
// library's own.
//
// Why not the JavaScript port (@huggingface/tokenizers, used by the other
// reference scripts): its pre-tokenizers simplify the Rust ones.  Split knows
// only Removed and (for every other behavior) Isolated; Metaspace never
// splits; Whitespace and Digits use JavaScript's ASCII \w and \d; Punctuation
// ignores behavior; UnicodeScripts and CharDelimiterSplit are missing; and
// its regexes run on the JavaScript engine, whose \s, \w and Unicode tables
// differ from Oniguruma's.
//
// Known differences left in the goldens' corpus on purpose: none.  The
// corpora avoid characters assigned after Unicode 14.0 because AkiDB's
// regex engine (PCRE2 10.42) has Unicode 14 property tables while this
// library's Oniguruma has Unicode 16 ones.
//
// (After regenerating, run tests/ref/pack_goldens.sh: the large goldens are
// committed gzip-compressed and the tests read either form.)
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");

const [, , cfgPath, outDir] = process.argv;
if (!cfgPath || !outDir) {
  console.error("usage: node pretok_ref.mjs CONFIGS_JSON OUT_DIR");
  process.exit(2);
}

function readCorpus(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => JSON.parse(l));
}

function load(part, which) {
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: which === "normalizer" ? part : null,
    pre_tokenizer: which === "pre_tokenizer" ? part : null,
    post_processor: null,
    decoder: null,
    model: { type: "WordLevel", vocab: { "[UNK]": 0 }, unk_token: "[UNK]" },
  };
  return Tokenizer.fromString(JSON.stringify(json));
}

const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
const texts = cfg.corpora.flatMap(readCorpus);
const small = readCorpus(cfg.small_corpus);

function writePretok(section, list) {
  for (const [name, part] of Object.entries(section)) {
    const pt = load(part, "pre_tokenizer").getPreTokenizer();
    const lines = list.map((t) => JSON.stringify(pt.preTokenizeString(t).map((x) => x[0])));
    writeFileSync(`${outDir}/pretok_${name}.jsonl`, lines.join("\n") + "\n");
  }
}
writePretok(cfg.pre_tokenizers, texts);
writePretok(cfg.pre_tokenizers_small, small);
for (const [name, part] of Object.entries(cfg.normalizers)) {
  const nz = load(part, "normalizer").getNormalizer();
  const lines = texts.map((t) => JSON.stringify(nz.normalizeString(t)));
  writeFileSync(`${outDir}/pretok_${name}.jsonl`, lines.join("\n") + "\n");
}
console.error(`${texts.length} texts (${small.length} small), ` +
              `${Object.keys(cfg.pre_tokenizers).length + Object.keys(cfg.pre_tokenizers_small).length} ` +
              `pre-tokenizers, ${Object.keys(cfg.normalizers).length} normalizers`);
