#!/usr/bin/env bash
# run.sh - the crash soak of `akidb serve` in one command (bench/soak/soak.mjs
# says what it does and checks): builds akidb (Release), stages the tiny
# test model (tests/golden/tiny/tiny_f16 with the real MiniLM tokenizer),
# runs the soak on a fresh data folder on loopback and prints its summary
# (also in $OUT/summary.json).  Bounded: it ends after $MINUTES, and removes
# its data folder.  Exit status 1 if any acknowledged write was lost.
#
#   bash bench/soak/run.sh                     # 30 minutes, a kill every 60-180 s
#   MINUTES=3 KILL_MIN=15 KILL_MAX=40 bash bench/soak/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
MINUTES=${MINUTES:-30}
KILL_MIN=${KILL_MIN:-60}
KILL_MAX=${KILL_MAX:-180}
POINTS=${POINTS:-20000}
PORT=${PORT:-18733}
BUILD_DIR=${BUILD_DIR:-build-soak}
OUT=${OUT:-bench/data/soak}

command -v node >/dev/null || { echo "run.sh: node is needed (apt-get install nodejs)" >&2; exit 1; }
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target akidb >/dev/null
mkdir -p "$OUT"
model=$(mktemp -d /tmp/akidb-soak-model.XXXXXX)
data=$(mktemp -d /tmp/akidb-soak-data.XXXXXX)
trap 'rm -rf "$model" "$data"' EXIT
for f in config.json model.safetensors modules.json sentence_bert_config.json 1_Pooling/config.json; do
    mkdir -p "$(dirname "$model/$f")"
    cp "tests/golden/tiny/tiny_f16/$f" "$model/$f"
done
cp tests/data/minilm/{tokenizer.json,tokenizer_config.json,vocab.txt,special_tokens_map.json} "$model/"
echo "run.sh: $(date -u +%H:%M:%S) soak for $MINUTES min, a SIGKILL every $KILL_MIN-$KILL_MAX s," \
     "~$POINTS live points; cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" >&2
rc=0
node bench/soak/soak.mjs --akidb "$BUILD_DIR/akidb" --model "$model" --data "$data/d" \
    --minutes "$MINUTES" --kill-min "$KILL_MIN" --kill-max "$KILL_MAX" --points "$POINTS" \
    --port "$PORT" > "$OUT/summary.json" || rc=$?
cat "$OUT/summary.json"
exit "$rc"
