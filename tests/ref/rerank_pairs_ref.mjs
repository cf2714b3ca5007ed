// rerank_pairs_ref.mjs - the token ids of the reranker tests' (query,
// document) pairs as sentence-transformers' CrossEncoder gets them from its
// tokenizer, computed by an independent engine: the official Rust
// tokenizers library through its Node binding (npm "tokenizers"), which is
// what transformers' fast tokenizers run.  CrossEncoder.predict calls
// tokenizer(pairs, truncation=True): the pair template ([CLS] q [SEP] d
// [SEP], token types 0 / 1), cut to model_max_length by LongestFirst; the
// other strategies are the ones akidb_rerank_opts offers.
//
// Usage (from the source root; tests/ref/node_modules from scripts/tokref.sh):
//   node tests/ref/rerank_pairs_ref.mjs tests/data/minilm/tokenizer.json \
//     tests/data/rerank_pairs.json > tests/golden/rerank_pairs_minilm.jsonl
//
// Versions: tokenizers 0.23 (Rust PR #1990, "early exit for truncation")
// tokenizes each text of a truncated pair only up to max_length pieces
// (whole words) before cutting, so LongestFirst judges which text is the
// longer on those capped lengths; 0.22 and before (and AkiDB) on the full
// lengths.  The two differ only when both texts pass max_length and the
// budget (max_length - the special tokens) is odd: who gets the odd token.
// The longest_first cases here keep that budget even (25, 65 with BERT's
// 3 specials) or the shorter text under max_length (512), so the ids are
// those of every version.
//
// PAIRS (tests/data/rerank_pairs.json) holds queries, docs (strings, or
// {"repeat": S, "n": K}) and cases {max, strategy, queries, docs} ("all" or
// index lists).  Output, one JSON object per pair, cases in order, queries
// then docs:
//   {"q":I,"d":J,"max":M,"strategy":S,"ids":[...],"type_ids":[...]}
//   {"q":I,"d":J,"max":M,"strategy":S,"error":true}   where Rust refuses
//                                     the cut (only_first / only_second
//                                     with too short a side)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("tokenizers");

const [tokPath, pairsPath] = process.argv.slice(2);
if (!tokPath || !pairsPath) {
  console.error("usage: node rerank_pairs_ref.mjs TOKENIZER_JSON PAIRS_JSON > OUT.jsonl");
  process.exit(2);
}
const spec = JSON.parse(readFileSync(pairsPath, "utf8"));
const text = (t) => (typeof t === "string" ? t : t.repeat.repeat(t.n));
const queries = spec.queries.map(text), docs = spec.docs.map(text);
const pick = (sel, n) => (sel === "all" ? [...Array(n).keys()] : sel);
const STRATEGY = { longest_first: "LongestFirst", only_first: "OnlyFirst",
                   only_second: "OnlySecond" };

const tok = Tokenizer.fromFile(tokPath);
tok.disablePadding();   // tokenizer.json pads batches; one pair at a time
const out = [];
for (const c of spec.cases) {
  tok.setTruncation(c.max, { strategy: STRATEGY[c.strategy] });
  for (const q of pick(c.queries, queries.length)) {
    for (const d of pick(c.docs, docs.length)) {
      const row = { q, d, max: c.max, strategy: c.strategy };
      try {
        const e = await tok.encode(queries[q], docs[d]);
        row.ids = e.getIds();
        row.type_ids = e.getTypeIds();
        if (row.ids.length > c.max) throw new Error("not truncated");
      } catch (err) {
        if (String(err).includes("not truncated")) throw err;
        row.error = true;
      }
      out.push(JSON.stringify(row));
    }
  }
}
process.stdout.write(out.join("\n") + "\n");
