#!/bin/sh
# sq8.sh - int8 scalar quantisation (SQ8) against float search on
# Fashion-MNIST, same graph, same run: `akidb bench ann --quant sq8` builds
# one SQ8 index (its graph is built on the floats, so its float walk is the
# float index's search) and sweeps each ef in three modes round-robin:
# "float", "sq8" (int8 walk + float rescoring, the default) and
# "sq8_norescore".  Runs L2 (quantile 0.99), cosine (0.99) and cosine
# with quantile 1 (the default), then prints one table per run: recall@10,
# median QPS (wall) and median queries per CPU-second for each ef and mode,
# and the index memory with and without the codes.
#
# Usage: bench/ann/sq8.sh
# Env:   BUILD (default build-ann), DATA (default $BUILD/ann-data),
#        NQ (2000 queries), EF (10,16,32,64), ROUNDS (3), THREADS (2)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-ann}
DATA=${DATA:-$BUILD/ann-data}
NQ=${NQ:-2000}; EF=${EF:-10,16,32,64}; ROUNDS=${ROUNDS:-3}; THREADS=${THREADS:-2}
OUT=$BUILD/ann-out
if [ ! -f "$DATA/fmnist-base.fvecs" ]; then
    python3 "$ROOT/bench/ann/fmnist_to_fvecs.py" "$DATA"
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target akidb_bench_ann >/dev/null
mkdir -p "$OUT"
B="$BUILD/bench/akidb_bench_ann"
COMMON="--base $DATA/fmnist-base.fvecs --query $DATA/fmnist-query.fvecs --nq $NQ --M 16
        --efc 200 --threads $THREADS --quant sq8 --ef $EF --rounds $ROUNDS"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), family $(sed -n 's/^cpu family\t*: //p' /proc/cpuinfo | head -1) model $(sed -n 's/^model\t*: //p' /proc/cpuinfo | head -1)"
echo "uptime before: $(uptime)"
$B $COMMON --gt "$DATA/fmnist-gt$NQ.ivecs" --write-gt "$DATA/fmnist-gt$NQ.ivecs" \
    > "$OUT/sq8-l2.json"
echo "uptime: $(uptime)"
$B $COMMON --metric cosine --gt "$DATA/fmnist-gt$NQ-cos.ivecs" \
    --write-gt "$DATA/fmnist-gt$NQ-cos.ivecs" > "$OUT/sq8-cos.json"
echo "uptime: $(uptime)"
$B $COMMON --metric cosine --quantile 1 --gt "$DATA/fmnist-gt$NQ-cos.ivecs" \
    > "$OUT/sq8-cos-q1.json"
echo "uptime after: $(uptime)"
python3 - "$OUT/sq8-l2.json" "$OUT/sq8-cos.json" "$OUT/sq8-cos-q1.json" <<'EOF'
import json, statistics, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    mem, q = d["memory_bytes"], d["quant_bytes"]
    print(f"\n{d['metric']}, quantile {d['quantile']}, kernel {d['sq8_kernel']}, build "
          f"{d['build_s']:.1f} s, memory {(mem - q) / 1e6:.1f} MB float, {mem / 1e6:.1f} MB with SQ8")
    print("| ef | mode | recall@10 | QPS | CPU QPS |")
    print("|---:|---|---:|---:|---:|")
    for e in d["sweep"]:
        print(f"| {e['ef']} | {e['mode']} | {e['recall']:.4f} | {e['qps']:,.0f} | "
              f"{statistics.median(e['cpu_qps_all']):,.0f} |")
EOF
