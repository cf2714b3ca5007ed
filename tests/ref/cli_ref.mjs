// cli_ref.mjs - prints the token ids and decoded texts that tests/test_cli.c
// expects from `akidb tokenize` / `akidb detokenize` on tests/data/minilm's
// tokenizer, computed by the Hugging Face tokenizers library itself (the
// npm package "tokenizers" is the Rust crate's Node binding), with the
// truncation of the test's model folder (128 tokens).
//
// Usage (from the source root):
//   (cd tests/ref && npm install --no-save tokenizers@0.23.2)
//   node tests/ref/cli_ref.mjs
import { createRequire } from "node:module";
import fs from "node:fs";

const require = createRequire(import.meta.url);
const { Tokenizer } = require(process.env.TOKENIZERS_RS_MODULE || "tokenizers");
const json = fs.readFileSync(new URL("../data/minilm/tokenizer.json", import.meta.url), "utf8");
const tok = Tokenizer.fromString(json);
tok.setTruncation(128);

const show = (...xs) => console.log(xs.map((x) => JSON.stringify(x)).join(" "));
const texts = ["Hello, world! How are you?", "naïve café — 東京", "",
  "say \"hi\" \\ it's back\\slash", "unaffable tokenizers"];
for (const t of texts) {
  const ids = (await tok.encode(t, null)).getIds();
  show("encode", t, ids, "decode", await tok.decode(ids, false), "skip", await tok.decode(ids, true));
}
for (const [a, b] of [["what is akidb?", "A small vector database."], ["Hello, world! How are you?", ""],
  ["a", "b"]]) {
  const e = await tok.encode(a, b);
  show("pair", a, b, e.getIds(), e.getTypeIds(), "decode", await tok.decode(e.getIds(), false),
    "skip", await tok.decode(e.getIds(), true));
}
for (const ids of [[101, 999999, 7592, 100, 102], [], [7592]])
  show("decode", ids, await tok.decode(ids, false), "skip", await tok.decode(ids, true));

// test_cli.c's detokenize_nul: a WordPiece vocabulary with a ByteLevel
// decoder, whose U+0100 decodes to byte 0.
const bl = Tokenizer.fromString(JSON.stringify({
  version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
  pre_tokenizer: null, post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
  model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100,
    vocab: { "[UNK]": 0, "a\u0100b": 1, "\u0120x": 2, "\"\u0109": 3, "\u00c3": 4 } },
}));
for (const ids of [[1, 2], [3, 1], [4], [2, 4, 1]]) show("bytelevel decode", ids, await bl.decode(ids, false));
