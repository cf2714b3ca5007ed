#!/usr/bin/env bash
# ab.sh - interleaved A/B runs of the embedding benchmark on a shared machine.
#
#   bash bench/embed/ab.sh [ENGINE...]
#
# Where other work shares the CPUs, two benchmarks run one after the other
# see different loads, so a single pair of runs compares the load, not the
# engines.  This script runs every engine on every case in rounds, the
# engines one after the other within a round (their order rotated from round
# to round), and keeps with each run the load average and how many cores
# the whole machine kept busy meanwhile (/proc/stat), so that only runs of
# like load are compared.  ab.py prints the per-round ratios against ONNX
# Runtime and their medians.
#
# ENGINE: `ort` (bench/embed/ort_bench.mjs) or NAME=PATH of an akidb binary
# (e.g. base=/tmp/akidb.base new=build/x/akidb); default: akidb=build-bench/akidb ort.
# Models and texts are those of run.sh (run it once first).
#
# Settings (environment):
#   ROUNDS=3   CASES="minilm:short:2 minilm:short:1 minilm:long:2 bge-base:long:2"
#              (shape:set:threads)   TEXTS_short=482 TEXTS_long=48
#   WARMUP=20  BATCH=32  NO_THROUGHPUT_short=0 (1: latency pass only)
#   OUT=bench/data/ab
# Results: $OUT/<round>-<shape>-<set>-t<threads>-<engine>.json (each with a
# "machine" object added: load, busy cores, wall seconds), then ab.py's table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

ROUNDS=${ROUNDS:-3}
CASES=${CASES:-"minilm:short:2 minilm:short:1 minilm:long:2 bge-base:long:2"}
TEXTS_short=${TEXTS_short:-482}
TEXTS_long=${TEXTS_long:-48}
WARMUP=${WARMUP:-20}
BATCH=${BATCH:-32}
OUT=${OUT:-bench/data/ab}
MODELS=bench/data/models
engines=("$@")
((${#engines[@]})) || engines=(akidb=build-bench/akidb ort)
mkdir -p "$OUT"
rm -f "$OUT"/*.json

# busy and total jiffies of all CPUs
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }

run_one() {   # engine shape set threads outfile
    local eng=$1 shape=$2 set=$3 th=$4 out=$5 var="TEXTS_$3" nt
    nt=${!var}
    local args=(--threads "$th" --batch "$BATCH" --warmup "$WARMUP" --max-texts "$nt")
    local nothr="NO_THROUGHPUT_$set"
    [ "${!nothr:-0}" = 1 ] && args+=(--no-throughput)
    local load b0 t0 b1 t1 w0 w1
    load=$(cut -d' ' -f1 /proc/loadavg)
    read -r b0 t0 < <(cpu_ticks)
    w0=$(date +%s.%N)
    if [ "$eng" = ort ]; then
        node "$here/ort_bench.mjs" --model "$MODELS/$shape" --onnx "$MODELS/$shape.onnx" \
            --input "bench/data/$set.txt" "${args[@]}" >"$out.tmp"
    else
        "${eng#*=}" bench embed --model "$MODELS/$shape" --input "bench/data/$set.txt" \
            "${args[@]}" >"$out.tmp"
    fi
    w1=$(date +%s.%N)
    read -r b1 t1 < <(cpu_ticks)
    /usr/bin/python3 - "$out.tmp" "$out" "$load" "$b0" "$t0" "$b1" "$t1" "$w0" "$w1" <<'PY'
import json, os, sys
src, dst, load, b0, t0, b1, t1, w0, w1 = sys.argv[1:]
r = json.load(open(src))
ncpu = os.cpu_count() or 1
tot = max(1, int(t1) - int(t0))
r["machine"] = {"load1_start": float(load), "wall_s": round(float(w1) - float(w0), 2),
                "busy_cores": round(ncpu * (int(b1) - int(b0)) / tot, 2), "cpus": ncpu}
json.dump(r, open(dst, "w"))
os.remove(src)
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
    for c in $CASES; do
        IFS=: read -r shape set th <<<"$c"
        n=${#engines[@]}
        for ((i = 0; i < n; i++)); do
            eng=${engines[$(((i + r - 1) % n))]}
            name=${eng%%=*}
            echo "ab.sh: round $r $shape-$set t$th $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            run_one "$eng" "$shape" "$set" "$th" "$OUT/$r-$shape-$set-t$th-$name.json"
        done
    done
done
/usr/bin/python3 "$here/ab.py" "$OUT"
