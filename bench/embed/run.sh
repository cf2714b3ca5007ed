#!/usr/bin/env bash
# run.sh - the embedding benchmark in one command: AkiDB against ONNX Runtime,
# same machine, same run, back to back.
#
#   bash bench/embed/run.sh
#
# Steps: installs what is missing (Debian: cmake, node/npm, python3-torch,
# fortunes-min; npm: the packages of bench/embed/package-lock.json), builds
# akidb (Release, build-bench/), writes the texts (make_texts.sh), makes two
# random-weight F32 models (MiniLM-L6 shape 6x384 and BGE-base shape 12x768,
# bert_onnx.py make) and their ONNX exports (bert_onnx.py export), then for
# each model x {short, long} runs `akidb bench embed` and `node ort_bench.mjs`
# with the same texts, thread count, batch size and warm-up, checks that both
# give the same embeddings, and prints the summary (JSON + Markdown with the
# AkiDB / ONNX Runtime ratios) from summarize.py.
#
# Settings (environment):
#   THREADS=N        threads for both engines (default: all CPUs, nproc)
#   BATCH=32         texts per call in the throughput pass
#   WARMUP=20        unmeasured single-text calls before the latency pass
#   SHAPES="minilm bge-base"   SETS="short long"
#   TEXTS_minilm_short=482 TEXTS_minilm_long=105 TEXTS_bge_base_short=160
#   TEXTS_bge_base_long=48     texts used per case (the first N of the file)
#   JOBS=2           parallel build jobs
#   SKIP_AKIDB=1     only the ONNX Runtime side (e.g. while the engine is not built)
#   BUILD_DIR=build-bench      OUT=bench/data/results
# Results: $OUT/<shape>-<set>-{akidb,ort}.json and $OUT/summary.{json,md}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

THREADS=${THREADS:-$(nproc)}
BATCH=${BATCH:-32}
WARMUP=${WARMUP:-20}
SHAPES=${SHAPES:-"minilm bge-base"}
SETS=${SETS:-"short long"}
JOBS=${JOBS:-2}
BUILD_DIR=${BUILD_DIR:-build-bench}
OUT=${OUT:-bench/data/results}
MODELS=bench/data/models
: "${TEXTS_minilm_short:=482}" "${TEXTS_minilm_long:=105}"
: "${TEXTS_bge_base_short:=160}" "${TEXTS_bge_base_long:=48}"

log() { echo "run.sh: $*" >&2; }

# ---- dependencies -----------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake build-essential pkg-config libjansson-dev)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || need+=(python3 python3-torch python3-numpy)
[ -f /usr/share/games/fortunes/fortunes ] || need+=(fortunes-min)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -d "$here/node_modules/onnxruntime-node" ] || [ ! -d "$here/node_modules/@huggingface/tokenizers" ]; then
    log "npm ci --ignore-scripts (bench/embed)"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
fi

# ---- build --------------------------------------------------------------------
failed=0
if [ "${SKIP_AKIDB:-0}" != 1 ]; then
    log "building akidb (Release) in $BUILD_DIR"
    if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
           cmake --build "$BUILD_DIR" -j"$JOBS" --target akidb >/dev/null; }; then
        log "the akidb build FAILED: measuring ONNX Runtime only"
        SKIP_AKIDB=1
        failed=1
    fi
fi
AKIDB="$root/$BUILD_DIR/akidb"

# ---- texts and models -------------------------------------------------------------
sh "$here/make_texts.sh" bench/data
mkdir -p "$MODELS" "$OUT"
stamp=$(sha256sum "$here/bert_onnx.py" | cut -c1-16)
for shape in $SHAPES; do
    m="$MODELS/$shape"
    if [ "$(cat "$m/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$m.onnx" ]; then
        log "making model $m and $m.onnx"
        rm -rf "$m" "$m.onnx" "$m.check.json"
        /usr/bin/python3 "$here/bert_onnx.py" make --shape "$shape" --out "$m"
        /usr/bin/python3 "$here/bert_onnx.py" export --model "$m" --out "$m.onnx" --threads "$THREADS"
        echo "$stamp" >"$m/.stamp"
    fi
done

# ---- measure ------------------------------------------------------------------
rm -f "$OUT"/*.json "$OUT"/*.jsonl "$OUT"/*.tmp "$OUT"/summary.md "$OUT"/loadavg-*.txt
# Other work on the machine skews both sides: the load is kept with the results.
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-start.txt"
load1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average $load1: other work is running, the numbers will be noisy"
fi
for shape in $SHAPES; do
    for set in $SETS; do
        var="TEXTS_${shape//-/_}_${set}"
        ntexts=${!var:-0}
        case="$shape-$set"
        input="bench/data/$set.txt"
        common=(--threads "$THREADS" --batch "$BATCH" --warmup "$WARMUP")
        [ "$ntexts" -gt 0 ] && common+=(--max-texts "$ntexts")
        compare=()
        if [ "${SKIP_AKIDB:-0}" != 1 ]; then
            log "$case: akidb bench embed (${ntexts} texts, $THREADS threads)"
            if "$AKIDB" bench embed --model "$MODELS/$shape" --input "$input" "${common[@]}" \
                    >"$OUT/$case-akidb.json.tmp"; then
                mv "$OUT/$case-akidb.json.tmp" "$OUT/$case-akidb.json"
                # the first 16 texts' embeddings, compared by ort_bench.mjs
                head -n 16 "$input" | "$AKIDB" embed --model "$MODELS/$shape" --format jsonl \
                    --threads "$THREADS" >"$OUT/$case-akidb-embed.jsonl" &&
                    compare=(--compare "$OUT/$case-akidb-embed.jsonl")
            else
                log "$case: akidb bench embed FAILED"
                rm -f "$OUT/$case-akidb.json.tmp"
                failed=1
            fi
        fi
        log "$case: onnxruntime (${ntexts} texts, $THREADS threads)"
        if node "$here/ort_bench.mjs" --model "$MODELS/$shape" --onnx "$MODELS/$shape.onnx" \
                --input "$input" "${common[@]}" "${compare[@]}" >"$OUT/$case-ort.json.tmp"; then
            mv "$OUT/$case-ort.json.tmp" "$OUT/$case-ort.json"
        else
            log "$case: ort_bench.mjs FAILED"
            rm -f "$OUT/$case-ort.json.tmp"
            failed=1
        fi
    done
done

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end.txt"
/usr/bin/python3 "$here/summarize.py" "$OUT"
exit $failed
