#!/bin/sh
# run.sh - AkiDB vs hnswlib on Fashion-MNIST (60k x 784, 10k queries, L2):
# converts the data set if needed, builds both benchmark drivers, runs them
# with the same M / ef_construction / threads / ef sweep, and prints both JSON
# lines and the ratios (QPS at recall >= 0.95 and >= 0.99, build time,
# memory).
#
# Usage: bench/ann/run.sh [extra args for both drivers, e.g. --nq 2000]
# Env:   BUILD (default build-bench), DATA (default $BUILD/ann-data),
#        M (16), EFC (200), THREADS (2), EF (sweep list)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
DATA=${DATA:-$BUILD/ann-data}
M=${M:-16}; EFC=${EFC:-200}; THREADS=${THREADS:-2}
EF=${EF:-10,16,24,32,48,64,96,128,192,256}

if [ ! -f "$DATA/fmnist-base.fvecs" ]; then
    python3 "$ROOT/bench/ann/fmnist_to_fvecs.py" "$DATA"
fi
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target akidb_bench_ann hnswlib_bench >/dev/null

COMMON="--base $DATA/fmnist-base.fvecs --query $DATA/fmnist-query.fvecs --M $M --efc $EFC --threads $THREADS --ef $EF --k 10"
"$BUILD/bench/akidb_bench_ann" $COMMON --gt "$DATA/fmnist-gt.ivecs" --write-gt "$DATA/fmnist-gt.ivecs" "$@" > "$BUILD/ann-akidb.json"
"$BUILD/bench/hnswlib_bench" $COMMON --gt "$DATA/fmnist-gt.ivecs" "$@" > "$BUILD/ann-hnswlib.json"
cat "$BUILD/ann-akidb.json" "$BUILD/ann-hnswlib.json"
python3 "$ROOT/bench/ann/compare.py" "$BUILD/ann-akidb.json" "$BUILD/ann-hnswlib.json"
