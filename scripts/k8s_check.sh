#!/usr/bin/env bash
# k8s_check.sh - validates the Kubernetes manifests in deploy/k8s/ without
# a cluster:
#   1. `kubectl apply --dry-run=client -f deploy/k8s/` and a `kubectl create
#      --dry-run=client -o yaml` round trip.  kubectl asks a server for its API discovery even
#      in client dry runs, so a stub that serves only the discovery documents
#      of the kinds used here (and 404 for every object) runs on loopback.
#   2. Every object against the Kubernetes OpenAPI schema (types, required
#      fields, enums, formats) with the npm package kubernetes-models,
#      installed with --ignore-scripts into build/k8s-check/.
#   3. The settings AkiDB depends on: probes on /health and /ready, the admin
#      key from a Secret, --host 0.0.0.0, a volume claim on /data, non-root
#      with a read-only root filesystem, requests and limits.
# Installs kubernetes-client (kubectl) with apt-get when it is missing and
# this runs as root.  Exits non-zero naming the failing check.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${AKIDB_K8S_DIR:-deploy/k8s}"
cache="${AKIDB_K8S_CHECK_DIR:-build/k8s-check}"
fail() { echo "k8s_check.sh: FAIL: $*" >&2; exit 1; }

if ! command -v kubectl >/dev/null 2>&1; then
    [[ $(id -u) == 0 ]] || fail "kubectl missing: apt-get install kubernetes-client"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kubernetes-client >/dev/null \
        || fail "apt-get install kubernetes-client"
fi
for t in node npm; do
    command -v "$t" >/dev/null 2>&1 || fail "$t missing (scripts/deps.sh --test installs npm)"
done
py=/usr/bin/python3
[[ -x "$py" ]] || py=python3

tmp=$(mktemp -d)
stub_pid=""
cleanup() {
    if [[ -n "$stub_pid" ]]; then kill "$stub_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# --- the discovery stub ----------------------------------------------------
cat >"$tmp/stub.py" <<'EOF'
# Discovery documents for the kinds in deploy/k8s/; 404 for every object.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

def res(name, kind, ns=True):
    return {"name": name, "singularName": "", "namespaced": ns, "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}

DOCS = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
        {"name": "policy", "versions": [{"groupVersion": "policy/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "policy/v1", "version": "v1"}}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        res("services", "Service"), res("secrets", "Secret"), res("configmaps", "ConfigMap"),
        res("persistentvolumeclaims", "PersistentVolumeClaim"), res("namespaces", "Namespace", False)]},
    "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
        res("statefulsets", "StatefulSet"), res("deployments", "Deployment")]},
    "/apis/policy/v1": {"kind": "APIResourceList", "groupVersion": "policy/v1", "resources": [
        res("poddisruptionbudgets", "PodDisruptionBudget")]},
}

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0]
        doc = DOCS.get(path)
        code = 200 if doc else 404
        if doc is None:
            doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                   "reason": "NotFound", "code": 404, "message": "not found"}
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass

srv = HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
EOF
"$py" "$tmp/stub.py" >"$tmp/port" 2>"$tmp/stub.err" &
stub_pid=$!
for _ in $(seq 50); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
[[ -s "$tmp/port" ]] || fail "discovery stub did not start: $(cat "$tmp/stub.err")"
cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "http://127.0.0.1:$(cat "$tmp/port")"}}]
contexts: [{name: stub, context: {cluster: stub, namespace: default}}]
current-context: stub
users: []
EOF
export KUBECONFIG="$tmp/kubeconfig"
kc() { kubectl --cache-dir "$tmp/cache" --request-timeout=10s "$@"; }

# --- 1. kubectl client-side dry runs ---------------------------------------
echo "-- kubectl apply --dry-run=client -f $dir/"
kc apply --dry-run=client --validate=false -f "$dir/" >"$tmp/apply.out" 2>&1 \
    || { cat "$tmp/apply.out" >&2; fail "kubectl apply --dry-run=client -f $dir/"; }
sed 's/^/   /' "$tmp/apply.out"
for want in "statefulset.apps/akidb" "service/akidb" "service/akidb-headless"; do
    grep -q "^$want created (dry run)" "$tmp/apply.out" || fail "kubectl apply did not create $want"
done
echo "-- kubectl create --dry-run=client -o yaml (round trip)"
kc create --dry-run=client --validate=false -o yaml -f "$dir/" >"$tmp/all.yaml" 2>"$tmp/create.err" \
    || { cat "$tmp/create.err" >&2; fail "kubectl create --dry-run=client -o yaml"; }
kc create --dry-run=client --validate=false -o yaml -f "$tmp/all.yaml" >"$tmp/all2.yaml" 2>"$tmp/create.err" \
    || { cat "$tmp/create.err" >&2; fail "kubectl create of its own output"; }
cmp -s "$tmp/all.yaml" "$tmp/all2.yaml" || fail "the round trip changed the manifests"
echo "   $(grep -c '^kind:' "$tmp/all.yaml") objects, unchanged by a second pass"

# --- 2 and 3. OpenAPI schema and AkiDB's settings ---------------------------
if [[ ! -f "$cache/node_modules/kubernetes-models/package.json" \
      || ! -f "$cache/node_modules/yaml/package.json" ]]; then
    echo "-- npm install kubernetes-models@4.5.1 yaml@2.9.1 into $cache"
    mkdir -p "$cache"
    [[ -f "$cache/package.json" ]] || echo '{"private": true}' >"$cache/package.json"
    (cd "$cache" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error \
        kubernetes-models@4.5.1 yaml@2.9.1 >/dev/null) || fail "npm install kubernetes-models yaml"
fi
echo "-- OpenAPI schema (kubernetes-models) and AkiDB's settings"
cat >"$cache/check.js" <<'EOF'
// Validates every object of the files given against the Kubernetes OpenAPI
// schema, refuses fields the schema does not name (read from the package's
// type declarations, which list every field of every type), then checks the
// settings AkiDB relies on.
const fs = require("fs");
const path = require("path");
const YAML = require("yaml");
const errs = [];

// Type declarations -> {obj: {field: type}} | {map: type} | {arr: type} |
// {ref: file} | {leaf}.
const mods = path.join(__dirname, "node_modules");
const shapes = new Map();
function shapeOf(file) {
  if (shapes.has(file)) return shapes.get(file);
  const src = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const imports = {};
  for (const m of src.matchAll(/import \{ (\w+) \} from "([^"]+)"/g))
    imports[m[1]] = m[2].startsWith(".") ? path.resolve(path.dirname(file), m[2]) + ".d.ts"
                                          : path.join(mods, m[2]) + ".d.ts";
  const at = src.search(/export interface \w+ (extends [\w, ]+ )?\{/);
  let shape = {leaf: true};
  if (at >= 0) {
    const p = {s: src, i: src.indexOf("{", at), imports};
    shape = parseType(p);
  }
  shapes.set(file, shape);
  return shape;
}
function ws(p) { while (/\s/.test(p.s[p.i])) p.i++; }
function parseType(p) {
  ws(p);
  let t;
  if (p.s[p.i] === "{") {
    p.i++;
    const obj = {};
    let map = null;
    for (;;) {
      ws(p);
      if (p.s[p.i] === "}") { p.i++; break; }
      if (p.s[p.i] === "[") {
        p.i = p.s.indexOf("]:", p.i) + 2;
        map = parseType(p);
      } else {
        const m = /^"([^"]+)"\??:/.exec(p.s.slice(p.i));
        if (!m) throw new Error("type declaration parse error near " + p.s.slice(p.i, p.i + 40));
        p.i += m[0].length;
        obj[m[1]] = parseType(p);
      }
      ws(p);
      if (p.s[p.i] === ";") p.i++;
    }
    t = map ? {map} : {obj};
  } else if (p.s.startsWith("Array<", p.i)) {
    p.i += 6;
    t = {arr: parseType(p)};
    ws(p); p.i++;   // ">"
  } else {
    const m = /^("[^"]*"|[\w.$-]+)/.exec(p.s.slice(p.i));
    if (!m) throw new Error("type declaration parse error near " + p.s.slice(p.i, p.i + 40));
    p.i += m[0].length;
    t = p.imports[m[0]] ? {ref: p.imports[m[0]]} : {leaf: true};
  }
  ws(p);
  if (p.s[p.i] === "|") { p.i++; const u = parseType(p); if (t.leaf) t = u; }
  return t;
}
function strict(v, t, where) {
  if (v === null || v === undefined) return;
  if (t.ref) t = shapeOf(t.ref);
  if (t.leaf) return;
  if (t.arr) { if (Array.isArray(v)) v.forEach((x, i) => strict(x, t.arr, `${where}[${i}]`)); return; }
  if (typeof v !== "object" || Array.isArray(v)) return;   // the schema check reports it
  if (t.map) { for (const k of Object.keys(v)) strict(v[k], t.map, `${where}.${k}`); return; }
  for (const k of Object.keys(v)) {
    if (!(k in t.obj)) errs.push(`unknown field ${where}.${k}`);
    else strict(v[k], t.obj[k], `${where}.${k}`);
  }
}
const objs = [];
for (const f of process.argv.slice(2)) {
  for (const d of YAML.parseAllDocuments(fs.readFileSync(f, "utf8"))) {
    if (d.errors.length) { errs.push(`${f}: ${d.errors[0].message}`); continue; }
    const o = d.toJS();
    if (!o || o.kind === "Kustomization") continue;
    const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
    const mod = `kubernetes-models/${group ? group + "/" : ""}${version}/${o.kind}`;
    let M;
    try { M = require(mod)[o.kind]; }
    catch (e) { errs.push(`${f}: unknown kind ${o.apiVersion} ${o.kind}`); continue; }
    try { new M(o).validate(); }
    catch (e) { errs.push(`${f}: ${o.kind}/${o.metadata.name}: ${e.message}`); continue; }
    const n = errs.length;
    strict(o, {ref: path.join(mods, mod) + ".d.ts"}, `${path.basename(f)}: ${o.kind}/${o.metadata.name}`);
    if (errs.length > n) continue;
    objs.push(o);
    console.log(`   schema ok: ${o.apiVersion} ${o.kind}/${o.metadata.name} (${f})`);
  }
}
const need = (ok, what) => { if (!ok) errs.push(what); };
const ss = objs.find(o => o.kind === "StatefulSet" || o.kind === "Deployment");
need(ss, "no StatefulSet or Deployment that passed the schema check");
if (ss) {
  const pod = ss.spec.template.spec;
  const c = pod.containers.find(x => x.name === "akidb");
  need(c, "no container named akidb");
  if (c) {
    const args = c.args || [];
    need(args[0] === "serve", "the akidb container does not run `serve`");
    need(args.includes("--host=0.0.0.0") || args.join(" ").includes("--host 0.0.0.0"), "no --host 0.0.0.0");
    need(c.livenessProbe?.httpGet?.path === "/health", "livenessProbe is not GET /health");
    need(c.readinessProbe?.httpGet?.path === "/ready", "readinessProbe is not GET /ready");
    const key = (c.env || []).find(e => e.name === "AKIDB_ADMIN_KEY");
    need(key?.valueFrom?.secretKeyRef?.name, "AKIDB_ADMIN_KEY does not come from a Secret");
    need(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
         "resources: cpu and memory requests and a memory limit are needed");
    need(c.securityContext?.readOnlyRootFilesystem === true, "readOnlyRootFilesystem is not true");
    need(c.securityContext?.allowPrivilegeEscalation === false, "allowPrivilegeEscalation is not false");
    const data = (c.volumeMounts || []).find(m => m.mountPath === "/data");
    need(data, "nothing is mounted on /data");
    const claims = (ss.spec.volumeClaimTemplates || []).map(t => t.metadata.name);
    const vols = (pod.volumes || []).filter(v => v.persistentVolumeClaim).map(v => v.name);
    need(data && (claims.includes(data.name) || vols.includes(data.name)),
         "/data is not on a PersistentVolumeClaim");
  }
  need(pod.securityContext?.runAsNonRoot === true, "pod securityContext.runAsNonRoot is not true");
  for (const ic of pod.initContainers || [])
    need(ic.securityContext?.readOnlyRootFilesystem === true, `init container ${ic.name}: root filesystem not read-only`);
  const svc = objs.find(o => o.kind === "Service" && o.spec.clusterIP !== "None");
  need(svc, "no client Service");
  if (svc) {
    const sel = svc.spec.selector || {};
    const labels = ss.spec.template.metadata.labels || {};
    need(Object.keys(sel).length && Object.entries(sel).every(([k, v]) => labels[k] === v),
         `Service ${svc.metadata.name} does not select the pods`);
  }
}
if (errs.length) { for (const e of errs) console.error("   " + e); process.exit(1); }
console.log("   settings ok: probes /health + /ready, admin key from a Secret, --host 0.0.0.0,");
console.log("   /data on a PersistentVolumeClaim, non-root, read-only root, requests + limits");
EOF
files=("$dir"/*.yaml)
NODE_PATH="$cache/node_modules" node "$cache/check.js" "${files[@]}" || fail "schema / settings check"
echo "k8s_check.sh: ok"
