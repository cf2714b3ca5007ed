#!/usr/bin/env python3
"""k8s_cluster_refs.py - checks that the objects of deploy/k8s/cluster/
(rendered by `kubectl kustomize`) refer to each other correctly: the names
and ports written into `akidb serve`'s arguments and into nats-server.conf
are those of the StatefulSets, Services and container ports defined, every
Service and PodDisruptionBudget selects the pods it is meant for, and the
settings a cluster depends on are there.  A Kubernetes schema check cannot
see any of this: a misspelt host name in an argument is a valid string.

    k8s_cluster_refs.py RENDERED.yaml              # exit 1 naming each problem
    k8s_cluster_refs.py --self-test RENDERED.yaml  # each planted mistake must be found
    k8s_cluster_refs.py --nats-conf OUT RENDERED.yaml  # writes nats-server.conf to OUT
"""
import copy
import re
import sys

import yaml


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def index(objs):
    by = {}
    for o in objs:
        by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    return by


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(ss):
    return ss["spec"]["template"]["metadata"].get("labels", {})


def container(ss, name):
    for c in ss["spec"]["template"]["spec"]["containers"]:
        if c["name"] == name:
            return c
    return None


def cport(c, ref):
    """The container port a Service targetPort or probe port names (name or number)."""
    for p in c.get("ports", []):
        if ref in (p.get("name"), p["containerPort"]):
            return p["containerPort"]
    return None


def parse_args(args):
    """--flag=value and --flag value into {flag: value}; a bare flag maps to True."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                k, v = a[2:], args[i + 1]
                i += 1
            else:
                k, v = a[2:], True
            out[k] = v
        i += 1
    return out


class Checker:
    def __init__(self, objs):
        self.by = index(objs)
        self.errs = []

    def need(self, ok, msg):
        if not ok:
            self.errs.append(msg)
        return ok

    def get(self, kind, name, why):
        o = self.by.get(kind, {}).get(name)
        self.need(o is not None, f"{why}: no {kind} named {name!r}")
        return o

    def env_ok(self, c, text, where):
        """Every $(VAR) in text is a variable of the container's env."""
        names = {e["name"] for e in c.get("env", [])}
        for v in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text):
            self.need(v in names, f"{where}: $({v}) is not in the container's env")

    def fieldref(self, c, var, path, where):
        e = next((e for e in c.get("env", []) if e["name"] == var), None)
        got = (((e or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        self.need(got == path, f"{where}: env {var} must come from fieldRef {path}, not {got!r}")

    def pod_host(self, host, where, port, port_name_hint):
        """host is POD-N.SVC[.$(NAMESPACE).svc[.cluster.local]] (N a number or
        $(POD_NAME)); checks SVC is the headless Service of the StatefulSet POD
        with more than N replicas and port one of its ports.  Returns
        (statefulset, ordinal or None)."""
        m = re.fullmatch(r"(?:(?P<pod>\$\(POD_NAME\))|(?P<set>[a-z0-9-]+)-(?P<n>\d+))"
                         r"\.(?P<svc>[a-z0-9-]+)(?:\.\$\(NAMESPACE\)\.svc(?:\.cluster\.local)?)?",
                         host)
        if not self.need(m, f"{where}: {host!r} is not POD.SERVICE[.$(NAMESPACE).svc]"):
            return None, None
        svc = self.get("Service", m["svc"], f"{where} ({host})")
        if m["set"]:
            ss = self.get("StatefulSet", m["set"], f"{where} ({host})")
            n = int(m["n"])
        else:
            ss = next((s for s in self.by.get("StatefulSet", {}).values()
                       if s["spec"]["serviceName"] == m["svc"]), None)
            self.need(ss, f"{where}: no StatefulSet has serviceName {m['svc']!r}")
            n = None
        if not (svc and ss):
            return ss, n
        name = ss["metadata"]["name"]
        self.need(ss["spec"]["serviceName"] == m["svc"],
                  f"{where}: {host!r}: StatefulSet {name} is governed by "
                  f"{ss['spec']['serviceName']!r}, not {m['svc']!r}")
        self.need(svc["spec"].get("clusterIP") == "None",
                  f"{where}: Service {m['svc']} is not headless (pod names resolve only there)")
        if n is not None:
            self.need(n < ss["spec"].get("replicas", 1),
                      f"{where}: {host!r}: StatefulSet {name} has {ss['spec'].get('replicas', 1)} replicas")
        self.need(any(p["port"] == port for p in svc["spec"]["ports"]),
                  f"{where}: {host}:{port}: Service {m['svc']} has no port {port}")
        c = ss["spec"]["template"]["spec"]["containers"][0]
        self.need(cport(c, port_name_hint) == port,
                  f"{where}: {host}:{port} is not {name}'s {port_name_hint!r} container port "
                  f"({cport(c, port_name_hint)})")
        return ss, n

    def all_pods(self, ss, ordinals, where):
        if ss is None:
            return
        want = set(range(ss["spec"].get("replicas", 1)))
        self.need(set(ordinals) == want,
                  f"{where}: lists pods {sorted(set(ordinals))} of {ss['metadata']['name']}, "
                  f"which has {sorted(want)}")

    # -- generic wiring --------------------------------------------------
    def wiring(self):
        sets = self.by.get("StatefulSet", {})
        for name, ss in sets.items():
            sel = ss["spec"]["selector"].get("matchLabels", {})
            self.need(selects(sel, pod_labels(ss)),
                      f"StatefulSet {name}: selector {sel} does not match its pod labels")
            gov = self.get("Service", ss["spec"]["serviceName"], f"StatefulSet {name} serviceName")
            if gov:
                self.need(gov["spec"].get("clusterIP") == "None",
                          f"StatefulSet {name}: Service {gov['metadata']['name']} is not headless")
        for name, svc in self.by.get("Service", {}).items():
            owners = [s for s in sets.values() if selects(svc["spec"].get("selector"), pod_labels(s))]
            if not self.need(len(owners) == 1,
                             f"Service {name}: selects the pods of {len(owners)} StatefulSets, not 1"):
                continue
            c = owners[0]["spec"]["template"]["spec"]["containers"][0]
            for p in svc["spec"]["ports"]:
                t = p.get("targetPort", p["port"])
                self.need(cport(c, t) is not None,
                          f"Service {name}: targetPort {t!r} is no port of {owners[0]['metadata']['name']}")
        for name, pdb in self.by.get("PodDisruptionBudget", {}).items():
            sel = pdb["spec"]["selector"].get("matchLabels", {})
            owners = [s for s in sets.values() if selects(sel, pod_labels(s))]
            self.need(len(owners) == 1, f"PodDisruptionBudget {name}: selects {len(owners)} StatefulSets, not 1")
            self.need(pdb["spec"].get("maxUnavailable") == 1, f"PodDisruptionBudget {name}: maxUnavailable is not 1")
        for s in sets.values():
            self.need(any(selects(p["spec"]["selector"].get("matchLabels", {}), pod_labels(s))
                          for p in self.by.get("PodDisruptionBudget", {}).values()),
                      f"StatefulSet {s['metadata']['name']}: no PodDisruptionBudget")
        for s in sets.values():
            spec = s["spec"]["template"]["spec"]
            vols = {v["name"]: v for v in spec.get("volumes", [])}
            claims = {t["metadata"]["name"] for t in s["spec"].get("volumeClaimTemplates", [])}
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                for m in c.get("volumeMounts", []):
                    self.need(m["name"] in vols or m["name"] in claims,
                              f"StatefulSet {s['metadata']['name']}: {c['name']} mounts undefined volume {m['name']!r}")
            for v in vols.values():
                if "configMap" in v:
                    self.get("ConfigMap", v["configMap"]["name"], f"StatefulSet {s['metadata']['name']} volume {v['name']}")

    # -- akidb serve's arguments -----------------------------------------
    def akidb(self):
        ss = self.get("StatefulSet", "akidb", "the AkiDB nodes")
        c = ss and container(ss, "akidb")
        if not self.need(c, "StatefulSet akidb: no container named akidb"):
            return
        args = c.get("args", [])
        self.need(args[:1] == ["serve"], "akidb: the container does not run `serve`")
        a = parse_args(args)
        for arg in args:
            self.env_ok(c, arg, f"akidb argument {arg.split('=')[0]}")
        self.fieldref(c, "POD_NAME", "metadata.name", "akidb")
        self.fieldref(c, "NAMESPACE", "metadata.namespace", "akidb")
        port = int(a.get("port", 8080))
        self.need(cport(c, "http") == port, f"akidb: --port {port} is not the http container port")
        self.need(a.get("node-id") == "$(POD_NAME)", "akidb: --node-id is not $(POD_NAME)")

        nats_set, ordinals = None, []
        urls = str(a.get("cluster", ""))
        self.need(urls, "akidb: no --cluster")
        for u in filter(None, urls.split(",")):
            m = re.fullmatch(r"nats://([^:/]+):(\d+)", u)
            if not self.need(m, f"akidb --cluster: {u!r} is not nats://HOST:PORT"):
                continue
            s, n = self.pod_host(m[1], "akidb --cluster", int(m[2]), "client")
            nats_set = nats_set or s
            self.need(s is None or nats_set is s, f"akidb --cluster: {u} is not a pod of {nats_set['metadata']['name']}")
            ordinals.append(n)
        self.all_pods(nats_set, ordinals, "akidb --cluster")

        adv = str(a.get("advertise", ""))
        m = re.fullmatch(r"http://([^:/]+):(\d+)", adv)
        if self.need(m, f"akidb --advertise: {adv!r} is not http://HOST:PORT"):
            s, _ = self.pod_host(m[1], "akidb --advertise", int(m[2]), "http")
            self.need(s is ss, "akidb --advertise: the host is not one of the akidb pods")
            self.need(m[1].startswith("$(POD_NAME)."), "akidb --advertise: the host is not the pod's own name")
            self.need(int(m[2]) == port, f"akidb --advertise: port {m[2]} is not --port {port}")

        shards = str(a.get("shards", ""))
        reps = str(a.get("replicas", ""))
        if self.need(shards.isdigit() and int(shards) >= 1, f"akidb: --shards {shards!r} is not a count"):
            hold = str(a.get("hold-shards", "all"))
            self.need(hold == "all" or all(x.isdigit() and int(x) < int(shards) for x in hold.split(",")),
                      f"akidb: --hold-shards {hold!r} is not 'all' or shards below {shards}")
        if self.need(reps.isdigit() and int(reps) >= 1, f"akidb: --replicas {reps!r} is not a count") and nats_set:
            self.need(int(reps) <= nats_set["spec"].get("replicas", 1),
                      f"akidb: --replicas {reps} exceeds the {nats_set['spec'].get('replicas', 1)} NATS servers")
        self.need((c.get("livenessProbe") or {}).get("httpGet", {}).get("path") == "/health",
                  "akidb: livenessProbe is not GET /health")
        self.need((c.get("readinessProbe") or {}).get("httpGet", {}).get("path") == "/ready",
                  "akidb: readinessProbe is not GET /ready")
        key = next((e for e in c.get("env", []) if e["name"] == "AKIDB_ADMIN_KEY"), {})
        self.need(((key.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name"),
                  "akidb: AKIDB_ADMIN_KEY does not come from a Secret")
        self.need(ss["spec"].get("replicas", 1) >= 3, "akidb: fewer than 3 nodes")

    # -- nats-server and its configuration -------------------------------
    def nats_conf(self):
        """(container, configuration text) of the nats StatefulSet, or (None, None)."""
        ss = self.by.get("StatefulSet", {}).get("nats")
        c = ss and container(ss, "nats")
        if not c:
            return ss, c, None
        cmd = c.get("command", []) + c.get("args", [])
        path = next((cmd[i + 1] for i, x in enumerate(cmd[:-1]) if x in ("--config", "-c")), None)
        if not self.need(path, "nats: no --config in the command"):
            return ss, c, None
        mount = next((m for m in c.get("volumeMounts", []) if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
        if not self.need(mount, f"nats: nothing is mounted where {path} is"):
            return ss, c, None
        vol = next((v for v in ss["spec"]["template"]["spec"].get("volumes", []) if v["name"] == mount["name"]), {})
        cm = self.get("ConfigMap", (vol.get("configMap") or {}).get("name", "?"), f"nats: volume {mount['name']}")
        key = path[len(mount["mountPath"].rstrip("/")) + 1:]
        text = (cm or {}).get("data", {}).get(key)
        self.need(cm is None or text, f"nats: ConfigMap has no key {key!r}")
        return ss, c, text

    def nats(self):
        ss, c, text = self.nats_conf()
        if not self.need(ss and c, "no StatefulSet nats with a container named nats"):
            return
        self.need(ss["spec"].get("replicas", 1) == 3, "nats: not 3 servers")
        if not text:
            return

        def setting(name):
            m = re.search(rf"^\s*{name}\s*[:=]\s*(\S+)", text, re.M)
            return m and m[1].strip("\"'")

        listen = setting("listen")
        self.need(listen and listen.endswith(f":{cport(c, 'client')}"),
                  f"nats.conf: listen {listen!r} is not the client container port")
        http = setting("http")
        self.need(http and http.endswith(f":{cport(c, 'monitor')}"),
                  f"nats.conf: http {http!r} is not the monitor container port")
        self.need(setting("server_name") == "$POD_NAME", "nats.conf: server_name is not $POD_NAME")
        self.fieldref(c, "POD_NAME", "metadata.name", "nats")
        js = re.search(r"^jetstream\s*\{([^}]*)\}", text, re.M)
        if self.need(js, "nats.conf: no jetstream block"):
            sd = re.search(r"store_dir\s*[:=]\s*(\S+)", js[1])
            claims = {t["metadata"]["name"] for t in ss["spec"].get("volumeClaimTemplates", [])}
            on_claim = sd and any(sd[1].startswith(m["mountPath"].rstrip("/") + "/") and m["name"] in claims
                                  for m in c.get("volumeMounts", []))
            self.need(on_claim, "nats.conf: jetstream store_dir is not on the volume claim")
        cl = re.search(r"^cluster\s*\{(.*?)^\}", text, re.M | re.S)
        if not self.need(cl, "nats.conf: no cluster block"):
            return
        cl_listen = re.search(r"listen\s*[:=]\s*(\S+)", cl[1])
        self.need(cl_listen and cl_listen[1].endswith(f":{cport(c, 'cluster')}"),
                  "nats.conf: cluster listen is not the cluster container port")
        routes = re.findall(r"nats-route://[^\s,\]]+|nats://[^\s,\]]+", cl[1])
        ordinals = []
        for r in routes:
            m = re.fullmatch(r"nats(?:-route)?://([^:/]+):(\d+)", r)
            if self.need(m, f"nats.conf route {r!r} is not nats://HOST:PORT"):
                s, n = self.pod_host(m[1], "nats.conf route", int(m[2]), "cluster")
                self.need(s is None or s is ss, f"nats.conf route {r} is not a nats pod")
                ordinals.append(n)
        self.all_pods(ss, ordinals, "nats.conf routes")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            g = (c.get(probe) or {}).get("httpGet", {})
            self.need(str(g.get("path", "")).startswith("/healthz") and cport(c, g.get("port")) == cport(c, "monitor"),
                      f"nats: {probe} is not /healthz on the monitor port")

    def run(self):
        self.wiring()
        self.akidb()
        self.nats()
        return self.errs


# Planted mistakes for --self-test: each must be reported (the message must
# contain the given text), so the check above is known to be able to fail.
def _args(objs):
    return container(index(objs)["StatefulSet"]["akidb"], "akidb")["args"]


def _sub_arg(flag, old, new):
    def f(objs):
        a = _args(objs)
        i = next(i for i, x in enumerate(a) if x.startswith(f"--{flag}="))
        a[i] = a[i].replace(old, new)
    return f


def _sub_conf(old, new):
    def f(objs):
        cm = index(objs)["ConfigMap"]["nats-config"]
        cm["data"]["nats-server.conf"] = cm["data"]["nats-server.conf"].replace(old, new)
    return f


def _set(kind, name, path, value):
    def f(objs):
        o = index(objs)[kind][name]
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
    return f


MISTAKES = [
    ("misspelt NATS Service in --cluster", _sub_arg("cluster", "nats-1.nats-headless", "nats-1.nats-hdless"),
     "no Service named 'nats-hdless'"),
    ("a NATS pod that does not exist", _sub_arg("cluster", "nats-2.", "nats-3."), "has 3 replicas"),
    ("a NATS pod left out", _sub_arg("cluster", ",nats://nats-2.nats-headless.$(NAMESPACE).svc:4222", ""),
     "lists pods [0, 1]"),
    ("the cluster port as client port", _sub_arg("cluster", ":4222", ":6222"), "is not nats's 'client' container port"),
    ("client Service in --advertise", _sub_arg("advertise", "akidb-headless", "akidb"),
     "no StatefulSet has serviceName 'akidb'"),
    ("wrong port in --advertise", _sub_arg("advertise", ":8080", ":8081"), "has no port 8081"),
    ("undefined variable", _sub_arg("advertise", "$(NAMESPACE)", "$(POD_NAMESPACE)"), "$(POD_NAMESPACE) is not in"),
    ("more JetStream replicas than servers", _sub_arg("replicas", "3", "5"), "exceeds the 3 NATS servers"),
    ("fewer NATS servers", _set("StatefulSet", "nats", ["spec", "replicas"], 2), "has 2 replicas"),
    ("renamed headless Service", _set("Service", "akidb-headless", ["metadata", "name"], "akidb-peers"),
     "no Service named 'akidb-headless'"),
    ("misspelt route", _sub_conf("nats-1.nats-headless", "nats-1.nats-headles"), "no Service named 'nats-headles'"),
    ("route on the client port", _sub_conf("nats-0.nats-headless:6222", "nats-0.nats-headless:4222"),
     "is not nats's 'cluster' container port"),
    ("PDB selecting nothing", _set("PodDisruptionBudget", "nats", ["spec", "selector", "matchLabels"],
                                   {"app.kubernetes.io/name": "natz"}), "selects 0 StatefulSets"),
    ("Service port to no container port", _set("Service", "nats", ["spec", "ports", 0, "targetPort"], "clients"),
     "targetPort 'clients'"),
    ("store off the volume", _sub_conf("store_dir: /data/", "store_dir: /tmp/"), "store_dir is not on the volume"),
]


def self_test(objs):
    clean = Checker(copy.deepcopy(objs)).run()
    if clean:
        print("self-test needs manifests that pass:", *clean, sep="\n   ", file=sys.stderr)
        return 1
    bad = 0
    for what, plant, expect in MISTAKES:
        o = copy.deepcopy(objs)
        plant(o)
        errs = Checker(o).run()
        hit = any(expect in e for e in errs)
        print(f"   {'found' if hit else 'MISSED'}: {what}" + ("" if hit else f" (got {errs})"))
        bad += not hit
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(load(argv[2]))
    if len(argv) == 4 and argv[1] == "--nats-conf":
        _, _, text = Checker(load(argv[3])).nats_conf()
        if not text:
            print("no nats-server.conf found", file=sys.stderr)
            return 1
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(text)
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    errs = Checker(load(argv[1])).run()
    for e in errs:
        print("   " + e, file=sys.stderr)
    if not errs:
        print("   references ok: --cluster, --advertise, nats routes, Services, PDBs, volumes")
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
