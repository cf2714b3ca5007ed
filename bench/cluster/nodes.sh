#!/usr/bin/env bash
# nodes.sh - AkiDB in cluster mode on loopback: three clustered nats-server
# -js processes and 1, then 2, then 3 `akidb serve --cluster` nodes
# (--shards 3 --replicas 3, every node holding every shard), each with its
# own data folder and port.  Not a test: a measurement, bounded in count and
# time, that cleans up every process it started however it ends.
#
#   bash bench/cluster/nodes.sh
#   N=5000 SEARCH_SECONDS=5 bash bench/cluster/nodes.sh
#
# Steps:
#   1. three nats-server -js processes (n0..n2) clustered by routes, each
#      with its store under $WORK; waits for the JetStream meta leader;
#   2. for k = 1, 2, 3 nodes: start node k (nodes 2 and 3 join a cluster
#      that already holds the earlier rounds' points and must apply that
#      backlog: the time to /ready is reported), create collection "nk"
#      (dimension $DIM, cosine), upsert $N clustered vectors through the k
#      nodes round-robin ($BATCH per request, $INGEST_CONC in flight):
#      points/s acknowledged, then the time until every node counts $N;
#      vector search (top_k 10) for $SEARCH_SECONDS s with $SEARCH_CONC
#      requests in flight over the k nodes: requests/s and latency;
#   3. failures: an ingest into collection "fail" (batches of 100 through
#      all three nodes, a failed batch sent again to the next node) during
#      which (after a fifth of it) node 3 and one nats-server (the
#      JetStream meta leader) are killed with SIGKILL and restarted $DOWN_S s
#      later, the time until node 3 is ready again is noted; then every
#      acknowledged id must be returned by every node (POST .../points/get
#      for all, GET .../points/{id} for a sample) and each node's count
#      must cover them;
#   4. a table on stdout, $OUT/nodes.json and $OUT/nodes.md.
# The client is bench/cluster/client.mjs (Node 18+, fetch, no packages).
#
# Settings (environment): AKIDB=build/release/akidb (built there when
#   missing) N=20000 DIM=128 BATCH=500 INGEST_CONC=4 SEARCH_SECONDS=10
#   SEARCH_CONC=8 FAIL_SECONDS=20 (how long the failure ingest should last
#   at the 3-node rate) DOWN_S=5 BASE=19400 (ports BASE..BASE+33)
#   OUT=bench/data/cluster KEEP=0 (1: keep $WORK: logs, stores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

AKIDB=${AKIDB:-build/release/akidb}
N=${N:-20000}
DIM=${DIM:-128}
BATCH=${BATCH:-500}
INGEST_CONC=${INGEST_CONC:-4}
SEARCH_SECONDS=${SEARCH_SECONDS:-10}
SEARCH_CONC=${SEARCH_CONC:-8}
FAIL_SECONDS=${FAIL_SECONDS:-20}
DOWN_S=${DOWN_S:-5}
BASE=${BASE:-19400}
OUT=${OUT:-bench/data/cluster}
KEEP=${KEEP:-0}
SHARDS=3
REPLICAS=3

log() { echo "nodes.sh: $(date +%H:%M:%S) $*" >&2; }
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
secs_since() { local d=$(($(now_ms) - $1)); printf '%d.%d' $((d / 1000)) $((d % 1000 / 100)); }
die() { log "FAIL: $*"; exit 1; }

for t in nats-server node curl; do
    command -v "$t" >/dev/null || die "$t is needed (apt-get install nats-server nodejs curl)"
done
if [[ ! -x "$AKIDB" && "$AKIDB" == build/release/akidb ]]; then
    log "building $AKIDB"
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j"${JOBS:-2}" --target akidb >/dev/null
fi
[[ -x "$AKIDB" ]] || die "no akidb binary at $AKIDB"
help=$("$AKIDB" serve --help 2>&1 || true)
[[ $help == *--cluster* ]] || die "$AKIDB serve has no --cluster flag"

WORK=$(mktemp -d /tmp/akidb-nodes-XXXXXX)
RES=$WORK/results.jsonl
declare -A PID=()   # name -> pid of every process started here
status=1

cleanup() {
    local name
    for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for name in "${!PID[@]}"; do kill -0 "${PID[$name]}" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for name in "${!PID[@]}"; do kill -KILL "${PID[$name]}" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ $status == 0 && $KEEP == 0 ]]; then rm -rf "$WORK"; else log "logs and stores kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

client() { node "$here/client.mjs" "$@"; }

# --- NATS --------------------------------------------------------------------
nats_port() { echo $((BASE + $1)); }
nats_cport() { echo $((BASE + 10 + $1)); }
nats_mport() { echo $((BASE + 20 + $1)); }
NATS_URLS=nats://127.0.0.1:$(nats_port 0),nats://127.0.0.1:$(nats_port 1),nats://127.0.0.1:$(nats_port 2)

nats_conf() {
    local i=$1 j routes=""
    for j in 0 1 2; do
        ((j == i)) || routes+="    nats://127.0.0.1:$(nats_cport "$j")"$'\n'
    done
    cat >"$WORK/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$(nats_port "$i")
http: 127.0.0.1:$(nats_mport "$i")
jetstream {
  store_dir: "$WORK/n$i"
}
cluster {
  name: akidb-bench
  listen: 127.0.0.1:$(nats_cport "$i")
  routes: [
$routes  ]
}
EOF
}

nats_start() {
    nats-server -c "$WORK/n$1.conf" >>"$WORK/n$1.log" 2>&1 &
    PID[n$1]=$!
}

# The JetStream meta leader's name, as server $1 sees it ("" while none).
meta_leader() {
    curl -fsS --max-time 2 "http://127.0.0.1:$(nats_mport "$1")/jsz" 2>/dev/null |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).meta_cluster?.leader||"")}catch{console.log("")}})'
}

nats_wait() {   # every server up with JetStream and agreeing on a meta leader
    local until=$((SECONDS + 60)) i l
    while ((SECONDS < until)); do
        local ok=1 first=""
        for i in 0 1 2; do
            curl -fsS --max-time 2 "http://127.0.0.1:$(nats_mport "$i")/healthz?js-enabled-only=true" \
                >/dev/null 2>&1 || ok=0
            l=$(meta_leader "$i")
            [[ -n $l ]] || ok=0
            [[ -z $first ]] && first=$l
            [[ $l == "$first" ]] || ok=0
        done
        ((ok)) && return 0
        sleep 0.3
    done
    die "the nats-server trio did not elect a JetStream meta leader in 60 s (logs: $WORK/n*.log)"
}

# --- AkiDB nodes -------------------------------------------------------------
node_port() { echo $((BASE + 30 + $1)); }
node_url() { echo "http://127.0.0.1:$(node_port "$1")"; }

node_start() {
    local i=$1
    "$AKIDB" serve --data "$WORK/akidb$i" --host 127.0.0.1 --port "$(node_port "$i")" \
        --auth off --no-model-scan \
        --cluster "$NATS_URLS" --cluster-name bench --shards $SHARDS --replicas $REPLICAS \
        --node-id "node$i" --advertise "$(node_url "$i")" --hold-shards all \
        >>"$WORK/akidb$i.log" 2>&1 &
    PID[akidb$i]=$!
}

node_ready() {
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(node_url "$1")/ready") == 200 ]]
}

# Seconds until node $1 answers /ready with 200 (dies after $2 s).
node_wait_ready() {
    local i=$1 limit=${2:-300} t0
    t0=$(now_ms)
    while (($(now_ms) - t0 < limit * 1000)); do
        kill -0 "${PID[akidb$i]}" 2>/dev/null || die "node $i exited (log: $WORK/akidb$i.log)"
        node_ready "$i" && { secs_since "$t0"; return 0; }
        sleep 0.1
    done
    die "node $i not ready after $limit s (log: $WORK/akidb$i.log)"
}

urls_upto() {
    local k=$1 i s=""
    for ((i = 1; i <= k; i++)); do s+="${s:+,}$(node_url "$i")"; done
    echo "$s"
}

create_coll() {   # collection $1 through node 1, then visible on nodes 1..$2
    local c=$1 k=$2 code i
    code=$(curl -s -o "$WORK/create.out" -w '%{http_code}' -H 'Content-Type: application/json' \
        "$(node_url 1)/api/v1/collections" -d "{\"name\":\"$c\",\"dimension\":$DIM,\"metric\":\"cosine\"}")
    [[ $code == 201 ]] || die "creating collection $c: HTTP $code $(cat "$WORK/create.out")"
    for ((i = 1; i <= k; i++)); do
        local until=$((SECONDS + 30))
        until [[ $(curl -s -o /dev/null -w '%{http_code}' "$(node_url "$i")/api/v1/collections/$c") == 200 ]]; do
            ((SECONDS < until)) || die "collection $c did not appear on node $i in 30 s"
            sleep 0.1
        done
    done
}

record() {   # record PHASE NODES EXTRA_JSON RESULT_JSON
    node -e 'const [p,k,e,r]=process.argv.slice(1);console.log(JSON.stringify({phase:p,nodes:+k,...JSON.parse(e),...JSON.parse(r)}))' \
        "$1" "$2" "$3" "$4" >>"$RES"
}

log "$(nats-server --version); $("$AKIDB" --version 2>/dev/null | head -1); cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores; work folder $WORK"
for i in 0 1 2; do nats_conf "$i"; nats_start "$i"; done
nats_wait
log "nats trio up, meta leader $(meta_leader 0)"

# --- 1, 2, 3 nodes -------------------------------------------------------------
for k in 1 2 3; do
    node_start "$k"
    ready=$(node_wait_ready "$k")
    log "node $k ready after ${ready} s"
    for ((i = 1; i < k; i++)); do node_wait_ready "$i" 60 >/dev/null; done
    urls=$(urls_upto "$k")
    create_coll "n$k" "$k"
    log "$k node(s): ingest $N x $DIM into n$k"
    ing=$(client ingest --urls "$urls" --coll "n$k" --n "$N" --dim "$DIM" --batch "$BATCH" \
          --conc "$INGEST_CONC" --prefix "n$k")
    log "  $ing"
    wc=$(client wait-count --urls "$urls" --coll "n$k" --n "$N" --timeout 300) ||
        die "n$k: not every node counts $N points: $wc"
    log "  every node counts $N after $(echo "$wc" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).seconds))') s more"
    record ingest "$k" "{\"join_ready_s\":$ready,\"replicated\":$wc}" "$ing"
    log "$k node(s): search for $SEARCH_SECONDS s, $SEARCH_CONC in flight"
    sr=$(client search --urls "$urls" --coll "n$k" --dim "$DIM" --seconds "$SEARCH_SECONDS" --conc "$SEARCH_CONC")
    log "  $sr"
    record search "$k" "{}" "$sr"
done

# --- failures -----------------------------------------------------------------
rate3=$(tail -n 2 "$RES" | head -n 1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).rate||1000))')
FAIL_N=$((rate3 * FAIL_SECONDS))
((FAIL_N < 5000)) && FAIL_N=5000
((FAIL_N > 200000)) && FAIL_N=200000
urls=$(urls_upto 3)
create_coll fail 3
acked=$WORK/acked.txt
: >"$acked"
log "failures: ingest $FAIL_N points into fail (batches of 100) through 3 nodes"
client ingest --urls "$urls" --coll fail --n "$FAIL_N" --dim "$DIM" --batch 100 --conc "$INGEST_CONC" \
    --prefix f --acked "$acked" --retry-s 120 >"$WORK/fail_ingest.json" &
PID[ingest]=$!
until (($(wc -l <"$acked") >= FAIL_N / 5)); do
    kill -0 "${PID[ingest]}" 2>/dev/null || break
    sleep 0.05
done
during=false
kill -0 "${PID[ingest]}" 2>/dev/null && during=true
victim=$(meta_leader 0)
victim=${victim#n}
[[ $victim =~ ^[012]$ ]] || victim=1
log "SIGKILL node 3 and nats-server n$victim (the meta leader) at $(wc -l <"$acked") acknowledged points"
kill -KILL "${PID[akidb3]}" "${PID[n$victim]}"
wait "${PID[akidb3]}" "${PID[n$victim]}" 2>/dev/null || true
t_kill=$(now_ms)
sleep "$DOWN_S"
log "restarting them"
nats_start "$victim"
node_start 3
t_restart=$(now_ms)
restarted_during=false
kill -0 "${PID[ingest]}" 2>/dev/null && restarted_during=true
ready3=""   # node 3's /ready is watched while the ingest goes on
while kill -0 "${PID[ingest]}" 2>/dev/null; do
    [[ -z $ready3 ]] && node_ready 3 && ready3=$(secs_since "$t_restart")
    sleep 0.1
done
wait "${PID[ingest]}" || die "the failure ingest failed: $(cat "$WORK/fail_ingest.json")"
unset 'PID[ingest]'
fi_json=$(cat "$WORK/fail_ingest.json")
log "  $fi_json"
if [[ -z $ready3 ]]; then
    node_wait_ready 3 300 >/dev/null
    ready3=$(secs_since "$t_restart")
fi
log "node 3 ready $ready3 s after its restart ($(secs_since "$t_kill") s after the kill)"
nats_wait
vf=$(client verify --urls "$urls" --coll fail --acked "$acked" --timeout 120) && ok=true || ok=false
log "  verify: $vf"
record failure 3 "{\"killed\":[\"node3\",\"n$victim\"],\"during_ingest\":$during,\"restarted_during_ingest\":$restarted_during,\"down_s\":$DOWN_S,\"node3_ready_after_restart_s\":$ready3,\"ingest\":$fi_json}" "$vf"

# --- report --------------------------------------------------------------------
mkdir -p "$OUT"
client report --in "$RES" --json "$OUT/nodes.json" --md "$OUT/nodes.md" \
    --env "$(nats-server --version); $(nproc) cores; N=$N DIM=$DIM BATCH=$BATCH"
$ok || die "an acknowledged point is missing on some node (see above)"
status=0
