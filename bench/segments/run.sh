#!/bin/sh
# bench/segments/run.sh - write amplification of snapshots with sealed
# segments off (every snapshot rewrites the whole collection) and on.
#   BUILD=build/release N=200000 sh bench/segments/run.sh
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/release}
N=${N:-100000}
DIM=${DIM:-64}
WAL=${WAL:-8}
SEAL=${SEAL:-16384}
cmake --build "$BUILD" --target akidb_bench_segwa >/dev/null
for seal in 0 "$SEAL"; do
    "$BUILD/bench/akidb_bench_segwa" --n "$N" --dim "$DIM" --wal-mib "$WAL" --seal "$seal"
done
