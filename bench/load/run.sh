#!/usr/bin/env bash
# run.sh - the server load benchmark in one command: builds akidb, starts
# `akidb serve` on loopback with a MiniLM-shaped random-weight model, fills a
# collection and measures the REST server, then runs `akidb bench embed` on
# the same texts for comparison.  Loopback only; bounded in count and time;
# the server is stopped and its data folder removed on exit.
#
#   bash bench/load/run.sh
#
# Steps:
#   1. build akidb (Release, build-load/) and the client bench/load/rate.c;
#   2. texts: bench/data/short.txt (bench/embed/make_texts.sh: Debian
#      fortunes, 482 short texts); model: tests/ref/make_models.py
#      minilm_f32_prefix (6 x 384, real tokenizer, random weights), cached in
#      bench/data/load/models; request bodies: gen.py, cached in
#      bench/data/load/bodies;
#   3. `akidb serve` on 127.0.0.1:$PORT, fresh data folder, collection "load"
#      bound to the model;
#   4. ingest: $DOCS documents (text embedded by the server, $DOC_BATCH per
#      request), then $POINTS - $DOCS precomputed clustered 384-d vectors
#      ($VEC_BATCH per request), one request at a time; points/s of each;
#   5. text search (embed + HNSW over the $POINTS points), open loop at
#      $SEARCH_RATE requests/s for $SEARCH_SECONDS s (rate.c); then, to see
#      what the time goes to, the same rate for $PART_SECONDS s on vector
#      search alone, on POST /api/v1/embed with the same query texts, on
#      text search over one connection at 20/s, and on POST .../count (the
#      HTTP floor); each after $WARMUP s of unmeasured warm-up at that rate;
#   6. maximum vector-search requests/s: wrk, $WRK_CONNS connections, top_k 10;
#   7. POST /v1/embeddings throughput, closed loop: $OAI_CONNS connections
#      with 1 and with 32 texts per request, and 1 connection with 1 text;
#      embedding batch sizes from /metrics;
#   8. a crowd of $CROWD connections (hold.c: half idle, half sending a
#      header one byte per second and never finishing it) held open while
#      text search runs at $SEARCH_RATE/s again: its latency against the
#      same run without the crowd, just before and just after.  The server
#      cuts each crowd connection at its header deadline (--header-timeout,
#      10 s); hold.c opens it again at once (--reconnect 1), so the crowd
#      stays at $CROWD and the server also pays for the churn;
#   9. server stopped; `akidb bench embed` on short.txt (batch 32) and on the
#      query texts (single-text latency);
#  10. summary: $OUT/summary.json and $OUT/summary.md (summarize.py).
#
# Settings (environment): PORT=18431 POINTS=100000 DOCS=5000 DOC_BATCH=64
#   VEC_BATCH=1000 SEARCH_RATE=100 SEARCH_SECONDS=33 PART_SECONDS=13 WARMUP=3
#   WRK_SECONDS=20 WRK_CONNS=4 OAI_SECONDS=20 OAI_CONNS=8 THREADS=$(nproc)
#   CROWD=10000 CROWD_SECONDS=23 JOBS=2 BUILD_DIR=build-load
#   OUT=bench/data/load/results
#   PHASES="search wrk oai crowd engine": the steps after the ingest to run;
#   e.g. PHASES=crowd POINTS=20000 DOCS=1000 for the crowd test alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

PORT=${PORT:-18431}
POINTS=${POINTS:-100000}
DOCS=${DOCS:-5000}
DOC_BATCH=${DOC_BATCH:-64}
VEC_BATCH=${VEC_BATCH:-1000}
DIM=384
SEARCH_RATE=${SEARCH_RATE:-100}
SEARCH_SECONDS=${SEARCH_SECONDS:-33}
PART_SECONDS=${PART_SECONDS:-13}
WARMUP=${WARMUP:-3}
WRK_SECONDS=${WRK_SECONDS:-20}
WRK_CONNS=${WRK_CONNS:-4}
OAI_SECONDS=${OAI_SECONDS:-20}
OAI_CONNS=${OAI_CONNS:-8}
THREADS=${THREADS:-$(nproc)}
CROWD=${CROWD:-10000}
CROWD_SECONDS=${CROWD_SECONDS:-23}
PHASES=${PHASES:-"search wrk oai crowd engine"}
has() { [[ " $PHASES " == *" $1 "* ]]; }
JOBS=${JOBS:-2}
BUILD_DIR=${BUILD_DIR:-build-load}
OUT=${OUT:-bench/data/load/results}
CACHE=bench/data/load
MODEL_DIR=$CACHE/models/minilm_f32_prefix
BODIES=$CACHE/bodies
URL=http://127.0.0.1:$PORT
COLL=load

log() { echo "run.sh: $(date +%H:%M:%S) $*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- dependencies -------------------------------------------------------------
need=()
command -v cmake >/dev/null || need+=(cmake build-essential pkg-config)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
/usr/bin/python3 -c "import torch, numpy" 2>/dev/null || need+=(python3-torch python3-numpy)
if ((${#need[@]})); then
    log "installing ${need[*]}"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- build ----------------------------------------------------------------------
log "building akidb (Release) in $BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target akidb >/dev/null
AKIDB=$root/$BUILD_DIR/akidb
[ -x "$AKIDB" ] || die "no akidb binary in $BUILD_DIR"
RATE=$root/$BUILD_DIR/rate
cc -O2 -std=c11 -Wall -o "$RATE" bench/load/rate.c -lm
HOLD=$root/$BUILD_DIR/hold
cc -O2 -std=c11 -Wall -o "$HOLD" bench/load/hold.c

# ---- texts, model, bodies ---------------------------------------------------------
sh bench/embed/make_texts.sh bench/data 2>/dev/null
TEXTS=bench/data/short.txt
if [ ! -f "$MODEL_DIR/model.safetensors" ]; then
    log "making the MiniLM-shaped random-weight model in $MODEL_DIR"
    /usr/bin/python3 tests/ref/make_models.py --only minilm_f32_prefix --out "$CACHE/models" \
        --threads "$THREADS" >/dev/null
fi
stamp="$POINTS $DOCS $DIM $VEC_BATCH $DOC_BATCH $(cat bench/load/gen.py "$TEXTS" | cksum)"
if [ "$(cat "$BODIES/.stamp" 2>/dev/null)" != "$stamp" ]; then
    log "writing request bodies to $BODIES (once)"
    rm -rf "$BODIES"
    /usr/bin/python3 bench/load/gen.py "$BODIES" "$TEXTS" "$POINTS" "$DOCS" "$DIM" "$VEC_BATCH" "$DOC_BATCH"
    echo "$stamp" > "$BODIES/.stamp"
fi

rm -rf "$OUT"
mkdir -p "$OUT"
{
    echo "{\"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p' | head -n1)\", \"cpus\": $(nproc),"
    echo " \"kernel\": \"$(uname -r)\", \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet HEAD -- src include 2>/dev/null || echo +dirty)\","
    echo " \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"threads\": $THREADS, \"points\": $POINTS, \"docs\": $DOCS,"
    echo " \"doc_batch\": $DOC_BATCH, \"vec_batch\": $VEC_BATCH, \"search_rate\": $SEARCH_RATE,"
    echo " \"wrk_conns\": $WRK_CONNS, \"oai_conns\": $OAI_CONNS}"
} > "$OUT/machine.json"
uptime_mark() { echo "$1 $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/loadavg.txt"; }
uptime_mark start

# ---- server ---------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT is in use (set PORT)"; fi
DATA=$(mktemp -d /tmp/akidb-load.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
    rm -rf "$DATA"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting akidb serve on $URL (data $DATA)"
"$AKIDB" serve --data "$DATA" --host 127.0.0.1 --port "$PORT" --no-model-scan \
    --model "minilm=$root/$MODEL_DIR" --threads "$THREADS" \
    --max-connections $((CROWD + 256)) --idle-timeout 600 2> "$OUT/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    curl -fsS "$URL/ready" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -n 5 "$OUT/server.log")"
    sleep 0.1
done
curl -fsS "$URL/ready" >/dev/null || die "the server is not ready after 30 s"

post() { curl -fsS -m 120 -H 'Content-Type: application/json' "$URL$1" --data-binary "$2"; }
post /api/v1/collections "{\"name\":\"$COLL\",\"model\":\"minilm\"}" > /dev/null

metric_sum() {   # metric_sum NAME -> "sum count" of a histogram, model minilm
    curl -fsS "$URL/metrics" | awk -v n="$1" '
        index($0, n "_sum{") == 1 { s = $NF } index($0, n "_count{") == 1 { c = $NF }
        END { print (s == "" ? 0 : s), (c == "" ? 0 : c) }'
}

# ---- ingest ----------------------------------------------------------------------------
ingest() {   # ingest KIND DIR: posts every body of DIR in order, one at a time
    local kind=$1 dir=$2 f t0 t1
    : > "$OUT/ingest-$kind.tsv"
    t0=$(date +%s.%N)
    for f in "$dir"/*.json; do
        curl -fsS -m 300 -o /dev/null -w '%{time_total}\n' -H 'Content-Type: application/json' \
            "$URL/api/v1/collections/$COLL/points" --data-binary "@$f" >> "$OUT/ingest-$kind.tsv" \
            || die "ingest $kind: $f failed"
    done
    t1=$(date +%s.%N)
    echo "$t0 $t1" > "$OUT/ingest-$kind.span"
}
log "document ingest: $DOCS texts embedded by the server, $DOC_BATCH per request"
read -r bs0 bc0 < <(metric_sum akidb_embed_batch_texts)
ingest docs "$BODIES/docs"
read -r bs1 bc1 < <(metric_sum akidb_embed_batch_texts)
echo "$bs0 $bc0 $bs1 $bc1" > "$OUT/ingest-docs.batches"
uptime_mark after-docs
log "vector ingest: $((POINTS - DOCS)) vectors, $VEC_BATCH per request"
ingest vectors "$BODIES/vec"
uptime_mark after-vectors
count=$(curl -fsS "$URL/api/v1/collections/$COLL/count" | sed -n 's/.*"count":\([0-9]*\).*/\1/p')
echo "$count" > "$OUT/count.txt"
[ "$count" = "$POINTS" ] || die "collection has $count points, expected $POINTS"
log "collection $COLL: $count points"

# ---- search and embed at a fixed rate ---------------------------------------------------------
rate_run() {  # rate_run NAME ROUTE BODIES RATE SECONDS [CONNS [SERVER_FIELD]]
    log "$1: $4 requests/s for $5 s on $2 ($WARMUP s of them warm-up)"
    # warm-up as a run of its own, so that the /metrics deltas leave it out
    "$RATE" --port "$PORT" --path "$2" --bodies "$3" --rate "$4" --duration "$WARMUP" \
        --connections "${6:-8}" > /dev/null 2>&1 || true
    curl -fsS "$URL/metrics" > "$OUT/$1.metrics0" || true
    "$RATE" --port "$PORT" --path "$2" --bodies "$3" --rate "$4" --duration "$(($5 - WARMUP))" \
        --connections "${6:-8}" --server-field "${7:-latency_ms}" \
        --timeline "$OUT/$1.timeline" > "$OUT/$1.json" 2> "$OUT/$1.err" \
        || log "$1: some requests failed or timed out (see $OUT/$1.err)"
    curl -fsS "$URL/metrics" > "$OUT/$1.metrics1" || true
    uptime_mark "$1"
}
SEARCH=/api/v1/collections/$COLL/search
if has search; then
rate_run search-text "$SEARCH" "$BODIES/q_text.jsonl" "$SEARCH_RATE" "$SEARCH_SECONDS"
rate_run search-vector "$SEARCH" "$BODIES/q_vec.jsonl" "$SEARCH_RATE" "$PART_SECONDS"
rate_run embed-query /api/v1/embed "$BODIES/embed_q.jsonl" "$SEARCH_RATE" "$PART_SECONDS" 8 duration_ms
# one request at a time (no overlap at all): the floor of text search
rate_run search-text-solo "$SEARCH" "$BODIES/q_text.jsonl" 20 "$PART_SECONDS" 1
# the HTTP floor: a route that does almost nothing (count, no filter)
echo '{}' > "$OUT/empty.jsonl"
rate_run http-floor "/api/v1/collections/$COLL/count" "$OUT/empty.jsonl" "$SEARCH_RATE" "$PART_SECONDS"
fi

# ---- maximum vector-search rate (wrk) ----------------------------------------------------------
if has wrk; then
log "wrk: vector search, $WRK_CONNS connections, $WRK_SECONDS s"
BODIES="$BODIES/q_vec.jsonl" ROUTE="$SEARCH" wrk -t1 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" \
    -s bench/load/bodies.lua "$URL" > "$OUT/wrk-search-vector.txt" 2>&1 || die "wrk failed"
sed -n 's/^wrk-json: //p' "$OUT/wrk-search-vector.txt" > "$OUT/wrk-search-vector.json"
uptime_mark wrk-search-vector
fi

# ---- /v1/embeddings throughput ----------------------------------------------------------------------
oai_run() {   # oai_run NAME BODIES [CONNS]
    log "$1: /v1/embeddings, ${3:-$OAI_CONNS} connections, closed loop, $OAI_SECONDS s"
    read -r s0 c0 < <(metric_sum akidb_embed_batch_texts)
    curl -fsS "$URL/metrics" > "$OUT/$1.metrics0" || true
    "$RATE" --port "$PORT" --path /v1/embeddings --bodies "$2" --rate 0 --duration "$OAI_SECONDS" \
        --warmup "$WARMUP" --connections "${3:-$OAI_CONNS}" --timeout 60 > "$OUT/$1.json" 2> "$OUT/$1.err" \
        || log "$1: some requests failed (see $OUT/$1.err)"
    curl -fsS "$URL/metrics" > "$OUT/$1.metrics1" || true
    read -r s1 c1 < <(metric_sum akidb_embed_batch_texts)
    echo "$s0 $c0 $s1 $c1" > "$OUT/$1.batches"
    uptime_mark "$1"
}
if has oai; then
oai_run oai-1 "$BODIES/oai1.jsonl"
oai_run oai-1-solo "$BODIES/oai1.jsonl" 1      # one client: no batching possible
oai_run oai-32 "$BODIES/oai32.jsonl"
fi

# ---- text search with a crowd of idle and slow connections ------------------------------------
if has crowd; then
rate_run crowd-quiet "$SEARCH" "$BODIES/q_text.jsonl" "$SEARCH_RATE" "$CROWD_SECONDS"
log "crowd: $CROWD connections (half idle, half 1 byte/s), then text search again"
"$HOLD" --port "$PORT" --conns "$CROWD" --slow 0.5 --seconds $((CROWD_SECONDS + 25)) \
    --reconnect 1 > "$OUT/crowd-hold.json" &
HOLD_PID=$!
sleep 12   # connect them all (and a few slow bytes) before measuring
curl -fsS "$URL/metrics" | grep -E '^akidb_http_(open_)?connections' > "$OUT/crowd-conns.txt" || true
rate_run crowd "$SEARCH" "$BODIES/q_text.jsonl" "$SEARCH_RATE" "$CROWD_SECONDS"
wait "$HOLD_PID" || log "crowd: hold.c failed"
sleep 2
rate_run crowd-quiet2 "$SEARCH" "$BODIES/q_text.jsonl" "$SEARCH_RATE" "$CROWD_SECONDS"
fi

curl -fsS "$URL/metrics" > "$OUT/metrics.txt" || true
log "stopping the server"
cleanup

# ---- the engine alone, same texts ----------------------------------------------------------------------
if has engine; then
log "akidb bench embed: short.txt, batch 32, $THREADS threads"
"$AKIDB" bench embed --model "$MODEL_DIR" --input "$TEXTS" --threads "$THREADS" --batch 32 \
    > "$OUT/bench-embed-short.json"
uptime_mark bench-embed-short
log "akidb bench embed: query texts, single-text latency"
"$AKIDB" bench embed --model "$MODEL_DIR" --input "$BODIES/queries.txt" --threads "$THREADS" \
    --no-throughput > "$OUT/bench-embed-queries.json"
uptime_mark bench-embed-queries
fi

/usr/bin/python3 bench/load/summarize.py "$OUT"
