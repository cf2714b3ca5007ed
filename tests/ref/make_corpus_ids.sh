#!/bin/sh
# make_corpus_ids.sh - regenerates tests/golden/embed_corpus_ids.jsonl, the
# token ids of every text of tests/data/embed_corpus.txt as an independent
# tokenizer gives them (Hugging Face Tokenizers.js, npm @huggingface/tokenizers,
# reading the real all-MiniLM-L6-v2 tokenizer.json).  The reference embeddings
# of tests/ref/make_models.py are computed from these ids, never from AkiDB's
# own tokenizer.
#
# Output: one JSON object per line, {"i": n, "text": "...", "ids": [...]},
# ids with [CLS] ... [SEP] and no truncation (truncation to a model's
# max_seq_length is applied by the consumers: keep the first max-1 ids and
# end with [SEP], as the tokenizer's LongestFirst truncation does).
#
# Run from anywhere: sh tests/ref/make_corpus_ids.sh
# Needs node and the npm package in tests/ref/node_modules; installs it there
# (from tests/ref/package.json when present) when missing.  Only a developer
# editing the corpus runs this; the tests read the committed output.
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
node --input-type=module - "$corpus" "$tokdir" "$out" <<'EOF'
import { readFileSync, writeFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const [corpusPath, tokDir, outPath] = process.argv.slice(2);
const tj = JSON.parse(readFileSync(`${tokDir}/tokenizer.json`, "utf8"));
const tc = JSON.parse(readFileSync(`${tokDir}/tokenizer_config.json`, "utf8"));
const tok = new Tokenizer(tj, tc);

let lines = readFileSync(corpusPath, "utf8").split("\n");
if (lines.length && lines[lines.length - 1] === "") lines.pop();
const texts = lines.filter((l) => !l.startsWith("##"));
const out = texts.map((text, i) => {
    const enc = tok.encode(text, { add_special_tokens: true });
    return JSON.stringify({ i, text, ids: Array.from(enc.ids, Number) });
});
writeFileSync(outPath, out.join("\n") + "\n");
console.log(`${texts.length} texts -> ${outPath}`);
EOF
