#!/usr/bin/env bash
# k8s_cluster_check.sh - validates the cluster manifests in deploy/k8s/cluster/
# without a Kubernetes cluster (ctest -R k8s_cluster):
#   1. `kubectl kustomize deploy/k8s/cluster` renders them (offline), and
#      every *.yaml of the folder is a resource of the kustomization.
#   2. scripts/k8s_check.sh on the rendered objects: kubectl client dry runs,
#      the Kubernetes OpenAPI schema and AkiDB's container settings.  Its
#      schema step needs the npm package kubernetes-models (installed once
#      into build/k8s-check/); without network and without that copy the
#      step is skipped with a note, the others still run.
#   3. scripts/k8s_cluster_refs.py: the names and ports in `akidb serve`'s
#      arguments and in nats-server.conf are those of the objects defined;
#      then its --self-test plants mistakes that the check must report.
#   4. nats-server -t on the ConfigMap's nats-server.conf (when nats-server
#      is installed).
# Exits 77 (skipped) without kubectl or python3's yaml module; non-zero
# naming the failing check otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${AKIDB_K8S_CLUSTER_DIR:-deploy/k8s/cluster}"
cache="${AKIDB_K8S_CHECK_DIR:-build/k8s-check}"
fail() { echo "k8s_cluster_check.sh: FAIL: $*" >&2; exit 1; }
skip() { echo "k8s_cluster_check.sh: skipped: $*"; exit 77; }

command -v kubectl >/dev/null 2>&1 || skip "kubectl missing (apt-get install kubernetes-client)"
py=/usr/bin/python3
[[ -x "$py" ]] || py=python3
"$py" -c 'import yaml' 2>/dev/null || skip "python3 yaml module missing (apt-get install python3-yaml)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 1. render -------------------------------------------------------------
echo "-- kubectl kustomize $dir"
mkdir "$tmp/rendered"
kubectl kustomize "$dir" >"$tmp/rendered/cluster.yaml" 2>"$tmp/kustomize.err" \
    || { cat "$tmp/kustomize.err" >&2; fail "kubectl kustomize $dir"; }
for f in "$dir"/*.yaml; do
    b=$(basename "$f")
    [[ $b == kustomization.yaml ]] && continue
    grep -Eq "^[[:space:]]*-[[:space:]]*${b}[[:space:]]*$" "$dir/kustomization.yaml" \
        || fail "$f is not a resource of $dir/kustomization.yaml"
done
echo "   $(grep -c '^kind:' "$tmp/rendered/cluster.yaml") objects:" \
     "$(grep '^kind:' "$tmp/rendered/cluster.yaml" | sort | uniq -c | awk '{s = s (NR > 1 ? ", " : "") $1 " " $3} END {print s}')"

# --- 2. dry runs, schema, AkiDB's settings ----------------------------------
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if AKIDB_K8S_DIR="$tmp/rendered" AKIDB_K8S_CHECK_DIR="$cache" \
        bash scripts/k8s_check.sh >"$tmp/check.out" 2>&1; then
        sed 's/^/   /' "$tmp/check.out"
    elif [[ ! -f "$cache/node_modules/kubernetes-models/package.json" ]] \
        && grep -q "npm install" "$tmp/check.out"; then
        grep -E "^(-- kubectl| +[0-9]+ objects)" "$tmp/check.out" | sed 's/^/   /'
        echo "   note: kubectl dry runs passed; schema check skipped: npm could not install kubernetes-models (offline?)"
    else
        sed 's/^/   /' "$tmp/check.out" >&2
        fail "scripts/k8s_check.sh on the rendered cluster manifests"
    fi
else
    echo "   note: node/npm missing: dry runs and schema check skipped"
fi

# --- 3. cross references -----------------------------------------------------
echo "-- names and ports between the objects (scripts/k8s_cluster_refs.py)"
"$py" scripts/k8s_cluster_refs.py "$tmp/rendered/cluster.yaml" || fail "cross references"
echo "-- the same check on planted mistakes"
"$py" scripts/k8s_cluster_refs.py --self-test "$tmp/rendered/cluster.yaml" || fail "self-test"

# --- 4. nats-server.conf -----------------------------------------------------
if command -v nats-server >/dev/null 2>&1; then
    echo "-- nats-server -t on nats-server.conf"
    "$py" scripts/k8s_cluster_refs.py --nats-conf "$tmp/nats.conf" "$tmp/rendered/cluster.yaml" \
        || fail "no nats-server.conf in the ConfigMap"
    POD_NAME=nats-0 nats-server -t -c "$tmp/nats.conf" >"$tmp/nats.out" 2>&1 \
        || { cat "$tmp/nats.out" >&2; fail "nats-server -t rejects nats-server.conf"; }
    sed 's/^/   /' "$tmp/nats.out"
else
    echo "   note: nats-server missing: nats-server.conf not parsed"
fi
echo "k8s_cluster_check.sh: ok"
