#!/bin/sh
# pack_goldens.sh - compresses the large goldens the reference scripts write
# (tests/golden/NAME -> NAME.gz, gzip -9 without a timestamp, so the bytes
# only change when the content does).  The tests read either form
# (tests/akt_data.h), so run this after any script that regenerates one of:
#   unicode_ref.mjs  -> unicode_norm.txt
#   tok_hf_ref.mjs   -> tok_qwen3.jsonl, tok_gemma3.jsonl
#   make_spm.py      -> spm_*.jsonl
#   pretok_ref.mjs   -> pretok_*.jsonl
#   tok_offsets_ref.mjs -> offsets_*.jsonl
set -eu
g=$(cd "$(dirname "$0")/../golden" && pwd)
for f in "$g"/unicode_norm.txt "$g"/tok_qwen3.jsonl "$g"/tok_gemma3.jsonl \
         "$g"/spm_*.jsonl "$g"/pretok_*.jsonl "$g"/offsets_*.jsonl; do
  [ -f "$f" ] || continue
  gzip -9nf "$f"
done
