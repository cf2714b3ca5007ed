#!/bin/sh
# make_corpus_ids.sh - regenerates tests/golden/embed_corpus_ids.jsonl, the
# token ids of every text of tests/data/embed_corpus.txt as an independent
# tokenizer gives them: Hugging Face Tokenizers.js (npm @huggingface/tokenizers)
# on the real all-MiniLM-L6-v2 tokenizer.json, through the project's
# tests/ref/tokenize_ref.mjs (which keeps the Rust tokenizers' semantics where
# the JS library differs) when present, else the library directly.  The
# reference embeddings of tests/ref/make_models.py are computed from these
# ids, never from AkiDB's own tokenizer.
#
# Output: one JSON object per line, {"i": n, "text": "...", "ids": [...]},
# ids with [CLS] ... [SEP] and no truncation (truncation to a model's
# max_seq_length is applied by the consumers: keep the first max-1 ids and
# end with [SEP], as the tokenizer's LongestFirst truncation does).
#
# Run from anywhere: sh tests/ref/make_corpus_ids.sh
# (AKIDB_IDS_DIRECT=1 uses the library directly even if tokenize_ref.mjs
# exists.)  Needs node and the npm package in tests/ref/node_modules; installs
# it there (from tests/ref/package.json when present) when missing.  Only a
# developer editing the corpus runs this; the tests read the committed output.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
corpus="$src/tests/data/embed_corpus.txt"
out="$src/tests/golden/embed_corpus_ids.jsonl"
tokdir="$src/tests/data/minilm"
[ -f "$tokdir/tokenizer.json" ] || tokdir="$src/../shared/models/all-MiniLM-L6-v2"
[ -f "$tokdir/tokenizer.json" ] || { echo "no tokenizer.json in tests/data/minilm or ../shared" >&2; exit 1; }

if [ ! -d "$here/node_modules/@huggingface/tokenizers" ]; then
    if [ -f "$here/package.json" ]; then   # shared with the tokenizer goldens
        (cd "$here" && npm install --ignore-scripts --no-audit --no-fund)
    else
        (cd "$here" && npm install --ignore-scripts --no-save --no-audit --no-fund \
            @huggingface/tokenizers@0.2.0)
    fi
fi

cd "$here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^##' "$corpus" > "$tmp/texts.txt" || true

if [ -f "$here/tokenize_ref.mjs" ] && [ "${AKIDB_IDS_DIRECT:-0}" = 0 ]; then
    # A huge MAX_LEN gives the untruncated ids.
    node "$here/tokenize_ref.mjs" "$tokdir/tokenizer.json" "$tmp/texts.txt" 1000000 \
        > "$tmp/ids.jsonl"
else
    node --input-type=module - "$tokdir" "$tmp/texts.txt" > "$tmp/ids.jsonl" <<'JS'
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
const [tokDir, textPath] = process.argv.slice(2);
const tok = new Tokenizer(JSON.parse(readFileSync(`${tokDir}/tokenizer.json`, "utf8")),
                          JSON.parse(readFileSync(`${tokDir}/tokenizer_config.json`, "utf8")));
const lines = readFileSync(textPath, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
for (const text of lines)
    console.log(JSON.stringify({ ids: Array.from(tok.encode(text).ids, Number) }));
JS
fi

# Pair each text with its ids.
node --input-type=module - "$tmp/texts.txt" "$tmp/ids.jsonl" "$out" <<'JS'
import { readFileSync, writeFileSync } from "node:fs";
const [textPath, idsPath, outPath] = process.argv.slice(2);
const texts = readFileSync(textPath, "utf8").split("\n");
if (texts.length && texts[texts.length - 1] === "") texts.pop();
const ids = readFileSync(idsPath, "utf8").split("\n").filter((l) => l)
    .map((l) => JSON.parse(l).ids);
if (ids.length !== texts.length) throw new Error(`${texts.length} texts, ${ids.length} id lists`);
writeFileSync(outPath,
    texts.map((text, i) => JSON.stringify({ i, text, ids: ids[i] })).join("\n") + "\n");
console.log(`${texts.length} texts -> ${outPath}`);
JS
