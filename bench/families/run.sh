#!/usr/bin/env bash
# run.sh - the model-family benchmark: AkiDB against ONNX Runtime on the
# Qwen3-Embedding-0.6B, gte-modernbert-base and embeddinggemma-300m shapes
# (random weights, F32), plus AkiDB's memory on the Qwen3 shape in BF16.
#
#   bash bench/families/run.sh
#
# It uses bench/embed's pieces: the texts (make_texts.sh), the ONNX Runtime
# peer (ort_bench.mjs), the summary (summarize.py, through report.py here).
# Per shape: families_onnx.py make + export (kept while families_onnx.py and
# the generators in tests/ref are unchanged), then for each text set:
#   1. agreement, before any timing: the first $CHECK_TEXTS texts embedded by
#      `akidb embed` and by ONNX Runtime (ort_bench.mjs --compare, which also
#      checks the export against PyTorch); below cosine $MIN_COS the case is
#      not timed;
#   2. `akidb bench embed` and `node ort_bench.mjs`, same texts, threads,
#      batch and warm-up: short texts give single-text p50/p95 latency and
#      texts/s at --batch; long texts (cut at 256 tokens) give tokens/s at
#      --batch (no latency pass).
# Then the BF16 Qwen3 folder: `akidb bench embed` latency pass only, its
# peak RSS against the target 1.1 x the BF16 weight file + 64 MB, by default
# (bf16 weights in memory, f32 arithmetic) and with --dtype f32 and bf16.
# SHAPES= RERANK=0 runs that part alone (no ONNX Runtime needed).
# Last, the reranker (ms-marco-MiniLM-L-6 shape): `akidb bench rerank` and
# ort_rerank.mjs score the same $PASSAGES passages of short.txt against its
# first line; ort_rerank.mjs first checks that the scores agree.
#
# The default sizes are small (a 2-core machine shared with builds: about
# 15 minutes in all); raise them for steadier figures.  Settings:
#   THREADS=N (default nproc)  BATCH=32  WARMUP=2  CHECK_TEXTS=4  MIN_COS=0.9999
#   SHAPES="qwen3-0.6b modernbert-base gemma-300m" (empty: none)   SETS="short long"
#   TEXTS_SHORT_qwen3_0_6b=32 TEXTS_LONG_qwen3_0_6b=8 (texts per case; the
#   other shapes: TEXTS_SHORT_*=64, TEXTS_LONG_*=32)   BF16=1 (0: skip)
#   RERANK=1 (0: skip) PASSAGES=100 REPEAT=3 (reranker calls)
#   BUILD_DIR=build-bench  OUT=bench/data/results-families  MODELS=bench/data/models
# Results: $OUT/<shape>-<set>-{akidb,ort,check}.json, $OUT/qwen3-0.6b-bf16.akidb.json,
# $OUT/summary.{json,md} and $OUT/families.md (the tables of docs/PERFORMANCE.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
embed="$root/bench/embed"
cd "$root"

THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-32}
WARMUP=${WARMUP:-2}
CHECK_TEXTS=${CHECK_TEXTS:-4}
MIN_COS=${MIN_COS:-0.9999}
SHAPES=${SHAPES-"qwen3-0.6b modernbert-base gemma-300m"}
SETS=${SETS:-"short long"}
BF16=${BF16:-1}
RERANK=${RERANK:-1}
PASSAGES=${PASSAGES:-100}
REPEAT=${REPEAT:-3}
BUILD_DIR=${BUILD_DIR:-build-bench}
OUT=${OUT:-bench/data/results-families}
MODELS=${MODELS:-bench/data/models}
PY=/usr/bin/python3

log() { echo "families/run.sh: $*" >&2; }
ntexts() {   # ntexts SET SHAPE
    local var="TEXTS_${1^^}_${2//[-.]/_}"
    local def=64; [ "$1" = long ] && def=32
    case "$2" in qwen3*) def=32; [ "$1" = long ] && def=8 ;; esac
    echo "${!var:-$def}"
}

# ---- dependencies and build (as bench/embed/run.sh) --------------------------
if { [ -n "${SHAPES// /}" ] || [ "$RERANK" = 1 ]; } &&
   [ ! -d "$embed/node_modules/onnxruntime-node" ]; then
    log "npm ci --ignore-scripts (bench/embed)"
    (cd "$embed" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
fi
$PY -c "import torch" || { log "needs Debian's python3-torch (/usr/bin/python3)"; exit 1; }
log "building akidb (Release) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target akidb >/dev/null
AKIDB="$root/$BUILD_DIR/akidb"
sh "$embed/make_texts.sh" bench/data

# ---- models -------------------------------------------------------------------------
mkdir -p "$MODELS" "$OUT"
stamp=$(cat "$here/families_onnx.py" "$embed/bert_onnx.py" tests/ref/make_models.py \
        tests/ref/refcommon.py tests/ref/make_qwen3.py tests/ref/make_modernbert.py \
        tests/ref/make_gemma3.py tests/ref/make_rerankers.py | sha256sum | cut -c1-16)
make_model() {   # make_model NAME SHAPE DTYPE EXPORT
    local m="$MODELS/$1"
    if [ "$(cat "$m/.stamp" 2>/dev/null)" != "$stamp" ]; then
        log "making $m ($3)"
        rm -rf "$m" "$m-onnx"
        $PY "$here/families_onnx.py" make --shape "$2" --dtype "$3" --out "$m" --threads "$THREADS"
        if [ "$4" = 1 ]; then
            log "exporting $m-onnx/model.onnx"
            mkdir -p "$m-onnx"
            $PY "$here/families_onnx.py" export --model "$m" --out "$m-onnx/model.onnx" --threads "$THREADS"
        fi
        echo "$stamp" >"$m/.stamp"
    fi
}
for shape in $SHAPES; do make_model "$shape" "$shape" F32 1; done
[ "$BF16" = 1 ] && make_model qwen3-0.6b-bf16 qwen3-0.6b BF16 0
[ "$RERANK" = 1 ] && make_model msmarco-minilm-l6 msmarco-minilm-l6 F32 1

# ---- measure -------------------------------------------------------------------------
rm -f "$OUT"/*.json "$OUT"/*.jsonl "$OUT"/*.tmp "$OUT"/*.md "$OUT"/loadavg-*.txt
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-start.txt"
failed=0
for shape in $SHAPES; do
    m="$MODELS/$shape"
    for set in $SETS; do
        case="$shape-$set" n=$(ntexts "$set" "$shape") input="bench/data/$set.txt"
        common=(--threads "$THREADS" --batch "$BATCH" --warmup "$WARMUP" --max-texts "$n")
        [ "$set" = long ] && common+=(--no-latency)
        log "$case: agreement on the first $CHECK_TEXTS texts"
        head -n "$CHECK_TEXTS" "$input" | "$AKIDB" embed --model "$m" --format jsonl \
            --threads "$THREADS" >"$OUT/$case-akidb-embed.jsonl"
        if ! node "$embed/ort_bench.mjs" --model "$m" --onnx "$m-onnx/model.onnx" --input "$input" \
                --threads "$THREADS" --warmup 0 --max-texts "$CHECK_TEXTS" --no-latency \
                --no-throughput --compare "$OUT/$case-akidb-embed.jsonl" >"$OUT/$case-check.json" ||
           ! $PY -c 'import json, sys; c = json.load(open(sys.argv[1]))["compare_akidb"]
sys.exit(c["min_cosine"] < float(sys.argv[2]))' "$OUT/$case-check.json" "$MIN_COS"; then
            log "$case: AkiDB and ONNX Runtime DISAGREE (see $OUT/$case-check.json): not timed"
            failed=1
            continue
        fi
        log "$case: akidb bench embed ($n texts, $THREADS threads)"
        "$AKIDB" bench embed --model "$m" --input "$input" "${common[@]}" >"$OUT/$case-akidb.json" ||
            { log "$case: akidb FAILED"; rm -f "$OUT/$case-akidb.json"; failed=1; }
        log "$case: onnxruntime ($n texts, $THREADS threads)"
        node "$embed/ort_bench.mjs" --model "$m" --onnx "$m-onnx/model.onnx" --input "$input" \
            "${common[@]}" >"$OUT/$case-ort.json" ||
            { log "$case: ort_bench FAILED"; rm -f "$OUT/$case-ort.json"; failed=1; }
    done
done
if [ "$BF16" = 1 ]; then
    # the default (bf16 weights, f32 arithmetic), then --dtype f32 (weights
    # widened to f32) and --dtype bf16 (bf16 activations too)
    for dt in "" f32 bf16; do
        log "qwen3-0.6b-bf16: akidb bench embed (memory)${dt:+, --dtype $dt}"
        "$AKIDB" bench embed --model "$MODELS/qwen3-0.6b-bf16" --input bench/data/short.txt \
            --threads "$THREADS" --warmup "$WARMUP" --max-texts 8 --no-throughput \
            ${dt:+--dtype "$dt"} >"$OUT/qwen3-0.6b-bf16${dt:+-$dt}.akidb.json" ||
            { log "bf16${dt:+ --dtype $dt} FAILED"; failed=1; }
    done
fi
if [ "$RERANK" = 1 ]; then
    m="$MODELS/msmarco-minilm-l6"
    log "msmarco-minilm-l6: akidb bench rerank ($PASSAGES passages, then ONNX Runtime)"
    rr=(--input bench/data/short.txt --passages "$PASSAGES" --threads "$THREADS" --warmup 1 --repeat "$REPEAT")
    if "$AKIDB" bench rerank --model "$m" "${rr[@]}" >"$OUT/rerank.akidb.json"; then
        node "$here/ort_rerank.mjs" --model "$m" --onnx "$m-onnx/model.onnx" "${rr[@]}" \
            --min-cos "$MIN_COS" --compare "$OUT/rerank.akidb.json" >"$OUT/rerank.ort.json" ||
            { log "rerank: ort_rerank FAILED (or disagrees)"; rm -f "$OUT/rerank.ort.json"; failed=1; }
    else
        log "rerank: akidb FAILED"; rm -f "$OUT/rerank.akidb.json"; failed=1
    fi
fi
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end.txt"
$PY "$here/report.py" "$OUT"
exit $failed
