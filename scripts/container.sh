#!/usr/bin/env bash
# container.sh - builds the akidb container image with podman and proves it
# works: starts it (read-only root filesystem, no capabilities, a data
# volume, a published port), checks /health and /ready, creates a
# collection, upserts two points and searches them through the port with the
# admin key, restarts the container and finds the data again, stops it
# (SIGTERM must exit 0) and removes it, prints the image size, and checks
# the Kubernetes manifests (scripts/k8s_check.sh).  Exits non-zero with a
# message naming the step on any failure.
#
#   bash scripts/container.sh
#
# The build stage's base image is made from Debian packages (mmdebstrap,
# scripts/deps.sh run inside it) and imported as
# localhost/akidb-build-base:bookworm-<hash of deps.sh>, so no image
# registry is needed; set AKIDB_CT_BASE=debian:12 to use a registry's image.
# Environment:
#   AKIDB_IMAGE        image tag                 [localhost/akidb:0.1.0]
#   AKIDB_CT_PORT      host port to publish      [18080]
#   AKIDB_CT_RUNTIME   podman's OCI runtime      [runc]
#   AKIDB_CT_NETWORK   podman network for the run [bridge when iptables
#                      exists, else slirp4netns]
#   AKIDB_CT_MAX_MB    fail when the image is larger [120]
#   AKIDB_JOBS         compile jobs in the build stage [every core]
#   AKIDB_CT_K8S=0     skip the manifest check
# Installs podman, runc, slirp4netns, mmdebstrap, curl and jq with apt-get
# when they are missing and this runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${AKIDB_IMAGE:-localhost/akidb:0.1.0}"
port="${AKIDB_CT_PORT:-18080}"
runtime="${AKIDB_CT_RUNTIME:-runc}"
max_mb="${AKIDB_CT_MAX_MB:-120}"
name="akidb-ct-$$"
vol="akidb-ct-data-$$"
key="ak_ct_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
base_url="http://127.0.0.1:$port"
started=$SECONDS
step_t=$SECONDS
step_name=""
running=0

step() {
    if [[ -n "$step_name" ]]; then
        printf '   ok (%ds)\n' $((SECONDS - step_t))
    fi
    step_name="$*"
    step_t=$SECONDS
    printf '== %s\n' "$*"
}
fail() {
    echo "container.sh: FAIL in '$step_name': $*" >&2
    if ((running)); then
        echo "--- last lines of the container log:" >&2
        pm logs --tail 30 "$name" >&2 2>&1 || true
    fi
    exit 1
}
pm() { podman --runtime "$runtime" "$@"; }
cleanup() {
    pm rm -f -t 5 "$name" >/dev/null 2>&1 || true
    pm volume rm -f "$vol" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# --- tools ---------------------------------------------------------------
step "tools"
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v "$runtime" >/dev/null 2>&1 || need+=("$runtime")
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [[ -z "${AKIDB_CT_BASE:-}" ]] && ! command -v mmdebstrap >/dev/null 2>&1; then
    need+=(mmdebstrap)
fi
if ((${#need[@]})); then
    [[ $(id -u) == 0 ]] || fail "missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root"
    echo "   installing ${need[*]}"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
        || fail "apt-get install ${need[*]}"
fi
podman --version
# Limits within the host's hard limits (podman's defaults exceed them on
# some hosts and runc then refuses to start the container).
nofile=$(ulimit -Hn)
[[ "$nofile" == unlimited ]] && nofile=1048576
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
network="${AKIDB_CT_NETWORK:-}"
if [[ -z "$network" ]]; then
    if command -v iptables >/dev/null 2>&1; then network=bridge; else network=slirp4netns; fi
fi

# --- build-stage base image ------------------------------------------------
build_net=()
if [[ -n "${AKIDB_CT_BASE:-}" ]]; then
    base="$AKIDB_CT_BASE"
else
    base="localhost/akidb-build-base:bookworm-$(sha256sum scripts/deps.sh | cut -c1-12)"
    build_net=(--network none)   # deps.sh finds everything installed
    if ! pm image exists "$base"; then
        step "base image $base (mmdebstrap + scripts/deps.sh)"
        [[ $(id -u) == 0 ]] || fail "mmdebstrap --mode=root needs root"
        tmp=$(mktemp -d)
        mmdebstrap --variant=minbase --mode=root --format=tar \
            --customize-hook='copy-in scripts/deps.sh /tmp' \
            --customize-hook='chroot "$1" bash /tmp/deps.sh' \
            --customize-hook='chroot "$1" sh -c "apt-get clean; rm -rf /var/lib/apt/lists/* /tmp/deps.sh"' \
            bookworm "$tmp/base.tar" \
            "deb http://deb.debian.org/debian bookworm main" \
            "deb http://deb.debian.org/debian bookworm-updates main" \
            "deb http://deb.debian.org/debian-security bookworm-security main" \
            </dev/null >"$tmp/mmdebstrap.log" 2>&1 \
            || { tail -20 "$tmp/mmdebstrap.log" >&2; rm -rf "$tmp"; fail "mmdebstrap"; }
        pm import --change 'CMD ["/bin/bash"]' "$tmp/base.tar" "$base" >/dev/null \
            || { rm -rf "$tmp"; fail "podman import"; }
        rm -rf "$tmp"
    fi
fi

# --- image -------------------------------------------------------------------
step "build $image (FROM $base)"
old_id=$(pm image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
log=$(mktemp)
if ! pm build "${build_net[@]}" "${ulimits[@]}" --build-arg "BUILD_BASE=$base" \
        --build-arg "JOBS=${AKIDB_JOBS:-}" -t "$image" . >"$log" 2>&1; then
    tail -30 "$log" >&2
    rm -f "$log"
    fail "podman build"
fi
rm -f "$log"
# The build stage's image and the image this build replaced are not needed.
pm image prune -f --filter label=akidb.stage=build >/dev/null 2>&1 || true
new_id=$(pm image inspect --format '{{.Id}}' "$image")
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    pm rmi "$old_id" >/dev/null 2>&1 || true
fi
bytes=$(pm image inspect --format '{{.Size}}' "$image")
mb=$(( (bytes + 1048575) / 1048576 ))

# --- run -----------------------------------------------------------------------
curl_json() {   # METHOD PATH [BODY] -> prints the body, fails unless 2xx
    local out code
    out=$(mktemp)
    code=$(curl -sS -m 20 -o "$out" -w '%{http_code}' -X "$1" "$base_url$2" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        ${3:+-d "$3"}) || { rm -f "$out"; fail "$1 $2: no answer"; }
    if [[ "$code" != 2* ]]; then
        local body
        body=$(cat "$out"); rm -f "$out"
        fail "$1 $2 answered $code: $body"
    fi
    cat "$out"; rm -f "$out"
}
wait_ready() {
    local i code
    for ((i = 0; i < 120; i++)); do
        code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$base_url/ready" || true)
        [[ "$code" == 200 ]] && return 0
        [[ "$(pm inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" == true ]] \
            || fail "the container exited (status $(pm inspect --format '{{.State.ExitCode}}' "$name" 2>/dev/null))"
        sleep 0.5
    done
    fail "/ready did not answer 200 within 60 s (last: $code)"
}
check_points() {   # the two points are there and search finds them in order
    local r ids
    r=$(curl_json POST /api/v1/collections/ct/search '{"vector":[0.9,0.1,0],"top_k":2,"include":["payload"]}')
    ids=$(jq -r '[.hits[].id] | join(",")' <<<"$r")
    [[ "$ids" == "p1,p2" ]] || fail "search hits '$ids', expected 'p1,p2': $r"
    jq -e '.hits[0].score > 0.99 and .hits[0].payload.kind == "a" and .hits[1].payload.kind == "b"' \
        <<<"$r" >/dev/null || fail "search scores / payloads: $r"
    r=$(curl_json GET /api/v1/collections/ct/count)
    [[ "$(jq -r .count <<<"$r")" == 2 ]] || fail "count: $r"
}

step "run $image on port $port (network $network, read-only root, no capabilities)"
pm volume create "$vol" >/dev/null || fail "podman volume create"
pm run -d --name "$name" --network "$network" -p "127.0.0.1:$port:8080" \
    -v "$vol:/data" -e "AKIDB_ADMIN_KEY=$key" \
    --read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges \
    "${ulimits[@]}" "$image" >/dev/null || fail "podman run"
running=1
wait_ready
user=$(pm inspect --format '{{.Config.User}}' "$name")
[[ "$user" == 10001:10001 ]] || fail "the container runs as '$user', expected 10001:10001"

step "/health and /ready"
h=$(curl_json GET /health)
jq -e '.status == "ok"' <<<"$h" >/dev/null || fail "/health: $h"
r=$(curl_json GET /ready)
jq -e '.status == "ready"' <<<"$r" >/dev/null || fail "/ready: $r"
echo "   /health $h"
echo "   /ready  $r"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base_url/api/v1/collections")
[[ "$code" == 401 ]] || fail "a request without the key answered $code, expected 401"

step "create a collection, upsert two points, search"
curl_json POST /api/v1/collections '{"name":"ct","dimension":3,"metric":"cosine"}' >/dev/null
r=$(curl_json POST /api/v1/collections/ct/points \
    '{"points":[{"id":"p1","vector":[1,0,0],"payload":{"kind":"a"}},{"id":"p2","vector":[0,1,0],"payload":{"kind":"b"}}]}')
[[ "$(jq -r .upserted <<<"$r")" == 2 ]] || fail "upsert: $r"
check_points

step "restart (SIGTERM, then start on the same volume) and find the data"
pm restart -t 30 "$name" >/dev/null || fail "podman restart"
wait_ready
check_points

step "stop (SIGTERM drains and closes the store) and remove"
pm stop -t 30 "$name" >/dev/null || fail "podman stop"
status=$(pm inspect --format '{{.State.ExitCode}}' "$name")
[[ "$status" == 0 ]] || fail "akidb serve exited with status $status on SIGTERM"
running=0
pm rm "$name" >/dev/null || fail "podman rm"
pm volume rm "$vol" >/dev/null || fail "podman volume rm"

if [[ "${AKIDB_CT_K8S:-1}" != 0 ]]; then
    step "Kubernetes manifests (scripts/k8s_check.sh)"
    bash scripts/k8s_check.sh || fail "scripts/k8s_check.sh"
fi
step "done"
echo "image $image: $mb MB ($bytes bytes; goal <= $max_mb MB)"
echo "total $((SECONDS - started)) s"
((mb <= max_mb)) || { step_name="image size"; fail "$mb MB is over $max_mb MB"; }
