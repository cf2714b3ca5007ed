#!/usr/bin/env bash
# run.sh - the shards' write log (src/cluster/jlog.c) on three clustered
# nats-server -js processes on loopback, in one command: builds test_jlog
# (Release) and runs its `bench` case, which prints
#   - the append rate, one synchronous append at a time (each waits for its
#     acknowledgement), with 1 and with 3 replicas, and the latency quantiles
#   - the read rate of the 3-replica shard
#   - for each of $KILLS rounds: the shard's stream leader killed with
#     SIGKILL while a writer appends, the longest append across it (the
#     stall), the killed server restarted and waited for until caught up
#   - that every acknowledged record reads back once and in order
# The servers die with the benchmark however it ends (PR_SET_PDEATHSIG).
#
#   bash bench/cluster/run.sh                  # 20000 appends per shard, 8 kills
#   N=5000 KILLS=3 bash bench/cluster/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
N=${N:-20000}
KILLS=${KILLS:-8}
BUILD_DIR=${BUILD_DIR:-build-cluster}
JOBS=${JOBS:-2}

command -v nats-server >/dev/null ||
    { echo "run.sh: nats-server is needed (apt-get install nats-server libnats-dev)" >&2; exit 1; }
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target test_jlog >/dev/null
echo "run.sh: $(date -u '+%F %H:%M:%S') $N appends per shard, $KILLS leader kills;" \
     "$(nats-server --version); cpu:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)," \
     "$(nproc) cores"
AKIDB_JLOG_BENCH_N=$N AKIDB_JLOG_BENCH_KILLS=$KILLS "$BUILD_DIR/tests/test_jlog" bench
