#!/bin/sh
# run.sh - AkiDB vs hnswlib on Fashion-MNIST (60k x 784, 10k queries, L2):
# converts the data set if needed, builds both benchmark drivers, runs them
# with the same M / ef_construction / threads / ef sweep, and prints the
# ratios (QPS at recall >= 0.95 and >= 0.99, build time, memory).
#
# Why this shape: the machines we share are noisy (other jobs come and go
# for tens of seconds), so one sweep per engine can flip a ratio.  The script
# first builds each graph once (that run gives build time and memory, and
# saves the graph), then runs PASSES search-only passes that alternate
# akidb, hnswlib, akidb, hnswlib, ... on the saved graphs, each pass doing
# ROUNDS round-robin sweeps over the ef list.  compare.py takes, per engine
# and ef, the median QPS over all samples, so both engines see the same mix
# of quiet and busy periods.  Both sides: single thread, same queries in the
# same order, same ef values, one 1,000-query warm-up, wall clock.
#
# Usage: bench/ann/run.sh [extra args for both drivers, e.g. --nq 2000]
# Env:   BUILD (default build-bench), DATA (default $BUILD/ann-data),
#        M (16), EFC (200), THREADS (2), EF (sweep list), PASSES (3),
#        ROUNDS (2), REBUILD (1: rebuild the saved graphs, 0: reuse them),
#        HNSWLIB_THP=1 to run hnswlib with glibc's malloc huge-page tunable
#        (akidb asks for transparent huge pages for its vector array
#        itself; this gives hnswlib the same help, for a stricter
#        comparison)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
DATA=${DATA:-$BUILD/ann-data}
M=${M:-16}; EFC=${EFC:-200}; THREADS=${THREADS:-2}
EF=${EF:-10,12,14,16,20,24,32,48,64}
PASSES=${PASSES:-3}; ROUNDS=${ROUNDS:-2}
OUT=$BUILD/ann-out

if [ ! -f "$DATA/fmnist-base.fvecs" ]; then
    python3 "$ROOT/bench/ann/fmnist_to_fvecs.py" "$DATA"
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target akidb_bench_ann hnswlib_bench >/dev/null
mkdir -p "$OUT"
if [ "${HNSWLIB_THP:-0}" = 1 ]; then
    HNSWLIB="env GLIBC_TUNABLES=glibc.malloc.hugetlb=1 $BUILD/bench/hnswlib_bench"
else
    HNSWLIB="$BUILD/bench/hnswlib_bench"
fi
rm -f "$OUT"/*.json

COMMON="--base $DATA/fmnist-base.fvecs --query $DATA/fmnist-query.fvecs --gt $DATA/fmnist-gt.ivecs
        --M $M --efc $EFC --threads $THREADS --ef $EF --k 10"
AIDX=$OUT/akidb-M$M-efc$EFC.hnsw
HIDX=$OUT/hnswlib-M$M-efc$EFC.bin
if [ "${REBUILD:-1}" = 1 ]; then rm -f "$AIDX" "$HIDX"; fi

echo "uptime before: $(uptime)" >&2
# build runs (timed build, memory, one sweep); the graphs are saved
"$BUILD/bench/akidb_bench_ann" $COMMON --write-gt "$DATA/fmnist-gt.ivecs" \
    --save-index "$AIDX" --load-index "$AIDX" --rounds 1 "$@" > "$OUT/akidb-build.json"
$HNSWLIB $COMMON --save-index "$HIDX" --load-index "$HIDX" \
    --rounds 1 "$@" > "$OUT/hnswlib-build.json"
# alternating search-only passes on the saved graphs
p=1
while [ "$p" -le "$PASSES" ]; do
    "$BUILD/bench/akidb_bench_ann" $COMMON --load-index "$AIDX" --rounds "$ROUNDS" "$@" \
        > "$OUT/akidb-pass$p.json"
    $HNSWLIB $COMMON --load-index "$HIDX" --rounds "$ROUNDS" "$@" \
        > "$OUT/hnswlib-pass$p.json"
    p=$((p + 1))
done
echo "uptime after: $(uptime)" >&2
cat "$OUT"/akidb-*.json "$OUT"/hnswlib-*.json
python3 "$ROOT/bench/ann/compare.py" --akidb "$OUT"/akidb-*.json --hnswlib "$OUT"/hnswlib-*.json
