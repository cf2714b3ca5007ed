// client.mjs - the HTTP client of bench/cluster/nodes.sh (Node 18+, fetch,
// no packages): ingest, search and verification against one or several
// `akidb serve` nodes, requests spread over the nodes round-robin.  Every
// command prints one JSON object on stdout.
//
//   node client.mjs ingest --urls U1,U2 --coll C --n 20000 [--start 0]
//        [--dim 128] [--batch 500] [--conc 4] [--prefix p] [--acked FILE]
//        [--retry-s 90] [--key K]
//     upserts points PREFIX-START .. PREFIX-(START+N-1); a batch that fails
//     (connection refused, 5xx, time-out) is sent again to the next node
//     until --retry-s has passed.  Acknowledged ids (a 2xx answer) are
//     appended to FILE as they come.  {points, acked, seconds, rate, ...}
//   node client.mjs search --urls ... --coll C [--seconds 10] [--conc 8]
//        [--topk 10] [--dim 128]
//     closed loop: conc requests in flight for the given time.
//     {qps, requests, errors, p50_ms, p99_ms, hits_per_query}
//   node client.mjs wait-count --urls ... --coll C --n N [--timeout 120]
//     until GET .../count is at least N on every node: {seconds, counts}
//   node client.mjs verify --urls ... --coll C --acked FILE [--timeout 120]
//     every id of FILE returned by every node (POST .../points/get, and
//     GET .../points/{id} on a sample); exit 1 when one is missing after
//     the time-out.  {per node: present, missing, count, sampled_get}
//   node client.mjs report --in RESULTS.jsonl --json OUT.json --md OUT.md
//        [--env TEXT]
//     nodes.sh's summary: the JSON lines it recorded as one JSON document
//     and a markdown table (also printed).
//
// Vectors: clustered, 64 centres in --dim dimensions, point i derived
// from i alone (the same vector whichever run or retry sends it).
import fs from "node:fs";

const argv = process.argv.slice(2);
const cmd = argv.shift();
const opt = {};
for (let i = 0; i < argv.length; i += 2) opt[argv[i].replace(/^--/, "")] = argv[i + 1];
const num = (k, d) => (opt[k] === undefined ? d : Number(opt[k]));
const urls = (opt.urls || "").split(",").filter(Boolean);
const coll = opt.coll || "bench";
const dim = num("dim", 128);
const headers = { "Content-Type": "application/json" };
if (opt.key) headers.Authorization = `Bearer ${opt.key}`;
if (!urls.length && cmd !== "report") die("--urls is needed");

function die(msg) {
  console.error(`client.mjs: ${msg}`);
  process.exit(2);
}

// mulberry32: a small seeded generator, so vectors depend on their index only.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function gauss(r) {
  const u = Math.max(r(), 1e-12), v = r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
const CENTRES = 64;
const centres = [];
for (let c = 0; c < CENTRES; c++) {
  const r = rng(0x9e3779b9 ^ c);
  centres.push(Array.from({ length: dim }, () => gauss(r)));
}
function vectorOf(i, spread = 0.35) {
  const r = rng(i * 2654435761 + 17);
  const c = centres[i % CENTRES];
  return c.map((x) => Number((x + spread * gauss(r)).toFixed(5)));
}

async function post(url, path, body, timeoutMs = 30000) {
  const res = await fetch(url + path, {
    method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, text };
}
async function get(url, path, timeoutMs = 10000) {
  const res = await fetch(url + path, { headers, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quantile = (xs, q) => (xs.length ? xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] : null);
const round = (x, d = 2) => (x === null ? null : Number(x.toFixed(d)));

async function ingest() {
  const n = num("n", 20000), start = num("start", 0), batch = num("batch", 500);
  const conc = num("conc", 4), prefix = opt.prefix || "p", retryMs = num("retry-s", 90) * 1000;
  const acked = opt.acked;
  let next = 0, rr = 0, requests = 0, failures = 0, ackedPoints = 0, gaveUp = 0;
  const failLog = {};
  const t0 = performance.now();
  async function worker() {
    for (;;) {
      const first = next;
      if (first >= n) return;
      next = Math.min(n, first + batch);
      const ids = [];
      const points = [];
      for (let i = start + first; i < start + next; i++) {
        ids.push(`${prefix}-${i}`);
        points.push({ id: `${prefix}-${i}`, vector: vectorOf(i), payload: { c: i % CENTRES } });
      }
      const body = { points };
      const until = performance.now() + retryMs;
      for (;;) {
        const url = urls[rr++ % urls.length];
        requests++;
        let why;
        try {
          const r = await post(url, `/api/v1/collections/${coll}/points`, body);
          if (r.status >= 200 && r.status < 300) {
            ackedPoints += ids.length;
            if (acked) fs.appendFileSync(acked, ids.join("\n") + "\n");
            break;
          }
          why = `HTTP ${r.status}: ${r.text.slice(0, 120)}`;
        } catch (e) {
          why = e.cause?.code || e.name || String(e);
        }
        failures++;
        failLog[why] = (failLog[why] || 0) + 1;
        if (performance.now() > until) {
          gaveUp += ids.length;
          break;
        }
        await sleep(100);
      }
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  const s = (performance.now() - t0) / 1000;
  return { points: n, acked: ackedPoints, gave_up: gaveUp, seconds: round(s), rate: Math.round(ackedPoints / s),
           requests, failures, failure_kinds: failLog, batch, conc, nodes: urls.length };
}

async function search() {
  const seconds = num("seconds", 10), conc = num("conc", 8), topk = num("topk", 10);
  const lat = [];
  let errors = 0, hits = 0, rr = 0, q = 0;
  const errKinds = {};
  const end = performance.now() + seconds * 1000;
  async function worker() {
    while (performance.now() < end) {
      const url = urls[rr++ % urls.length];
      const body = { vector: vectorOf(1e9 + q++, 0.5), top_k: topk, include: [] };
      const t = performance.now();
      try {
        const r = await post(url, `/api/v1/collections/${coll}/search`, body);
        if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.text.slice(0, 120)}`);
        hits += JSON.parse(r.text).hits.length;
        lat.push(performance.now() - t);
      } catch (e) {
        errors++;
        const k = e.cause?.code || e.message;
        errKinds[k] = (errKinds[k] || 0) + 1;
      }
    }
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, worker));
  const s = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { qps: Math.round(lat.length / s), requests: lat.length, errors, error_kinds: errKinds,
           p50_ms: round(quantile(lat, 0.5)), p99_ms: round(quantile(lat, 0.99)),
           hits_per_query: lat.length ? round(hits / lat.length) : 0, conc, seconds: round(s), nodes: urls.length };
}

async function countOf(url) {
  try {
    const r = await get(url, `/api/v1/collections/${coll}/count`);
    return r.status === 200 ? JSON.parse(r.text).count : null;
  } catch {
    return null;
  }
}

async function waitCount() {
  const n = num("n", 0), until = performance.now() + num("timeout", 120) * 1000;
  const t0 = performance.now();
  let counts;
  for (;;) {
    counts = await Promise.all(urls.map(countOf));
    if (counts.every((c) => c !== null && c >= n)) break;
    if (performance.now() > until) {
      console.log(JSON.stringify({ ok: false, seconds: round((performance.now() - t0) / 1000), counts }));
      process.exit(1);
    }
    await sleep(100);
  }
  return { ok: true, seconds: round((performance.now() - t0) / 1000), counts };
}

// The ids of want that url does not return.
async function missingOn(url, want) {
  const missing = [];
  for (let i = 0; i < want.length; i += 1000) {
    const ids = want.slice(i, i + 1000);
    const r = await post(url, `/api/v1/collections/${coll}/points/get`, { ids, include: [] });
    if (r.status !== 200) throw new Error(`${url} points/get: HTTP ${r.status}: ${r.text.slice(0, 120)}`);
    const got = new Set(JSON.parse(r.text).points.map((p) => String(p.id)));
    for (const id of ids) if (!got.has(id)) missing.push(id);
  }
  return missing;
}

async function verify() {
  if (!opt.acked) die("verify needs --acked FILE");
  const want = [...new Set(fs.readFileSync(opt.acked, "utf8").split("\n").filter(Boolean))];
  const until = performance.now() + num("timeout", 120) * 1000;
  const t0 = performance.now();
  const out = { acked: want.length, nodes: {} };
  let ok = true;
  for (const url of urls) {
    let missing = want;
    let err = null;
    for (;;) {
      try {
        missing = await missingOn(url, missing);
        err = null;
      } catch (e) {
        err = e.message;
      }
      if ((!missing.length && !err) || performance.now() > until) break;
      await sleep(250);
    }
    // single GETs on a sample (every 97th acknowledged id)
    let sampled = 0, sampledOk = 0;
    for (let i = 0; i < want.length; i += 97) {
      sampled++;
      try {
        const r = await get(url, `/api/v1/collections/${coll}/points/${encodeURIComponent(want[i])}`);
        if (r.status === 200 && JSON.parse(r.text).id === want[i]) sampledOk++;
      } catch {}
    }
    const count = await countOf(url);
    out.nodes[url] = { present: want.length - missing.length, missing: missing.length,
                       first_missing: missing.slice(0, 5), error: err, count,
                       sampled_get: `${sampledOk}/${sampled}` };
    ok = ok && !missing.length && !err && sampledOk === sampled && count !== null && count >= want.length;
  }
  out.seconds = round((performance.now() - t0) / 1000);
  out.ok = ok;
  return out;
}

function report() {
  const rows = fs.readFileSync(opt.in, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const doc = { date: new Date().toISOString(), env: opt.env || "", rounds: [], failure: null };
  for (const r of rows) {
    if (r.phase === "failure") doc.failure = r;
    else {
      let round = doc.rounds.find((x) => x.nodes === r.nodes);
      if (!round) doc.rounds.push((round = { nodes: r.nodes }));
      round[r.phase] = r;
    }
  }
  const md = [`${doc.env}`, "",
    "| nodes | ingest points/s | on every node after (s) | join: ready after (s) | search req/s | p50 ms | p99 ms | search errors |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|"];
  for (const r of doc.rounds) {
    const i = r.ingest || {}, s = r.search || {};
    md.push(`| ${r.nodes} | ${i.rate ?? ""} | ${i.replicated?.seconds ?? ""} | ${i.join_ready_s ?? ""} | ` +
            `${s.qps ?? ""} | ${s.p50_ms ?? ""} | ${s.p99_ms ?? ""} | ${s.errors ?? ""} |`);
  }
  const f = doc.failure;
  if (f) {
    md.push("", `Failures: SIGKILL of ${f.killed.join(" and ")} ${f.during_ingest ? "during" : "AFTER (too fast)"} ` +
            `an ingest of ${f.ingest.points} points, restarted after ${f.down_s} s: ${f.ingest.acked} acknowledged ` +
            `(${f.ingest.gave_up} given up), ${f.ingest.failures} failed requests sent again, ` +
            `${f.ingest.rate} points/s; node 3 ready ${f.node3_ready_after_restart_s} s after its restart` +
            `${f.restarted_during_ingest ? " (restarted while the ingest went on)" : ""}.`, "",
            "| node | acknowledged ids returned | missing | count | sampled GET |", "|---|---:|---:|---:|---:|");
    for (const [u, n] of Object.entries(f.nodes)) md.push(`| ${u} | ${n.present} | ${n.missing} | ${n.count} | ${n.sampled_get} |`);
    md.push("", f.ok ? "Every acknowledged point is on every node." : "**An acknowledged point is missing.**");
  }
  fs.writeFileSync(opt.json, JSON.stringify(doc, null, 1) + "\n");
  fs.writeFileSync(opt.md, md.join("\n") + "\n");
  console.log(md.join("\n"));
  return null;
}

const cmds = { ingest, search, "wait-count": waitCount, verify, report };
if (!cmds[cmd]) die(`unknown command ${cmd}: ingest, search, wait-count, verify`);
const result = await cmds[cmd]();
if (result) console.log(JSON.stringify(result));
if (result?.ok === false) process.exit(1);
