// soak.mjs - the crash soak of `akidb serve` (bench/soak/run.sh runs it):
// for --minutes, a mixed load of point upserts, deletes, vector searches,
// text searches and embeddings runs against the server while it is killed
// with SIGKILL at random moments (every --kill-min..--kill-max seconds) and
// started again.  After every restart the client checks that every write the
// server acknowledged before the kill is there (every upserted point that
// was not deleted afterwards, with its vector) and that every acknowledged
// delete stayed deleted; writes that were in flight at the kill may or may
// not be there (they were never acknowledged), and are checked to be whole.
// It also records the server's resident memory, open files and threads once
// a second, and prints one JSON summary:
//   ops per kind, kills, restart times, violations (must be 0), and per run
//   between kills: RSS at its start and end, and the largest fd and thread
//   counts.
//
//   node bench/soak/soak.mjs --akidb build/akidb --model DIR --data DIR
//        [--minutes 30] [--port 18733] [--kill-min 60] [--kill-max 180]
//        [--seed 1] [--points 20000]
// (l2 metric, so the stored vectors are the sent ones, bit for bit)
import { spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";

const args = {
  "--minutes": "30", "--port": "18733", "--kill-min": "60", "--kill-max": "180", "--seed": "1",
};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i]] = process.argv[i + 1];
for (const k of ["--akidb", "--model", "--data"])
  if (!args[k]) {
    console.error(`soak.mjs: ${k} is required`);
    process.exit(2);
  }
const port = Number(args["--port"]), base = `http://127.0.0.1:${port}`;
const deadline = Date.now() + Number(args["--minutes"]) * 60e3;
const DIM = 32;
const CAP = Number(args["--points"] ?? 20000);   // live points kept around this many

let seed = Number(args["--seed"]);
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);

// ---- the server ------------------------------------------------------------------
let server = null;
function start() {
  server = spawn(args["--akidb"], ["serve", "--data", args["--data"], "--port", String(port),
                                   "--no-model-scan", "--model", `tiny=${args["--model"]}`,
                                   "--threads", "1", "--drain-timeout", "5"],
                 { stdio: ["ignore", "ignore", "pipe"] });
  server.stderr.on("data", () => {});
  return server;
}
async function waitReady(limitMs = 120e3) {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(`${base}/ready`);
      if (r.status === 200) return Date.now() - t0;
    } catch {}
    if (Date.now() - t0 > limitMs) throw new Error("the server did not become ready");
    await new Promise((r) => setTimeout(r, 50));
  }
}
function procStat(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)[1]) / 1024;
    const threads = Number(/Threads:\s+(\d+)/.exec(st)[1]);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    return { rss, threads, fds };
  } catch {
    return null;
  }
}

// ---- the client's record of what was acknowledged ---------------------------------
const live = new Map();      // id -> vector of the last acknowledged upsert
const deleted = new Set();   // ids whose delete was acknowledged (and not re-upserted)
const uncertain = new Map(); // id -> vectors sent but not acknowledged (in flight at a kill)
const pendingDel = new Set(); // ids of a delete sent but not acknowledged
let nextId = 0;
const ops = { upsert: 0, delete: 0, search: 0, text_search: 0, embed: 0, failed: 0,
              failed_at_kill: 0 };
const violations = [];
const failures = [];   // the first few failed operations (outside kills)

const vec = () => Array.from({ length: DIM }, () => Math.round((rnd() * 2 - 1) * 1000) / 1000);
async function post(path, body) {
  const r = await fetch(base + path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function oneOp() {
  const x = rnd();
  if (x < 0.35) {                      // upsert a batch, some ids new, some replaced
    const pts = [];
    for (let i = 0; i < 20; i++) {
      const id = live.size && rnd() < 0.2 ? [...live.keys()][Math.floor(rnd() * live.size)]
                                          : `p${nextId++}`;
      if (pts.some((p) => p.id === id)) continue;
      pts.push({ id, vector: vec(), payload: { n: nextId } });
    }
    for (const p of pts) (uncertain.get(p.id) ?? uncertain.set(p.id, []).get(p.id)).push(p.vector);
    const r = await post("/api/v1/collections/soak/points", { points: pts });
    if (r.status !== 200) throw new Error(`upsert: ${r.status}`);
    for (const p of pts) {
      live.set(p.id, p.vector);
      deleted.delete(p.id);
      uncertain.delete(p.id);
    }
    ops.upsert++;
  } else if ((x < 0.45 && live.size > 50) || live.size > CAP) { // delete some
    const ids = [...live.keys()].filter((id) => !pendingDel.has(id))
                                .slice(0, live.size > CAP ? 40 : 5);
    for (const id of ids) pendingDel.add(id);
    const r = await post("/api/v1/collections/soak/points/delete", { ids });
    if (r.status !== 200) throw new Error(`delete: ${r.status}`);
    for (const id of ids) {
      live.delete(id);
      deleted.add(id);
      pendingDel.delete(id);
    }
    ops.delete++;
  } else if (x < 0.75) {
    const r = await post("/api/v1/collections/soak/search", { vector: vec(), top_k: 10 });
    if (r.status !== 200) throw new Error(`search: ${r.status}`);
    ops.search++;
  } else if (x < 0.85) {
    const r = await post("/api/v1/collections/docs/search", { text: "a soak query " + nextId, top_k: 5 });
    if (r.status !== 200) throw new Error(`text search: ${r.status}`);
    ops.text_search++;
  } else {
    const r = await post("/api/v1/embed", { texts: ["soak text one", "and two " + nextId] });
    if (r.status !== 200) throw new Error(`embed: ${r.status}`);
    ops.embed++;
  }
}

// After a restart: every acknowledged point is there with its vector, every
// acknowledged delete stayed; in-flight writes are whole or absent.
async function verify() {
  const ids = [...live.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const r = await post("/api/v1/collections/soak/points/get",
                         { ids: chunk, include: ["vector"] });
    const got = new Map((r.json?.points ?? []).map((p) => [p.id, p.vector]));
    for (const id of chunk) {
      const v = got.get(id), want = live.get(id);
      if (!v && pendingDel.has(id)) {   /* its delete was in flight and landed */
        live.delete(id);
        deleted.add(id);
      } else if (!v) violations.push(`acknowledged point ${id} is missing`);
      else if (v.some((x, k) => Math.abs(x - want[k]) > 1e-6)) {
        const alt = uncertain.get(id);   // a later, unacknowledged upsert of it may have landed
        if (!alt || !alt.some((a) => a.every((y, k) => Math.abs(y - v[k]) <= 1e-6)))
          violations.push(`point ${id} has a vector that was never sent`);
      }
    }
  }
  const gone = [...deleted].slice(0, 2000);
  if (gone.length) {
    const r = await post("/api/v1/collections/soak/points/get", { ids: gone });
    for (const p of r.json?.points ?? [])
      if (!uncertain.has(p.id)) violations.push(`deleted point ${p.id} came back`);
  }
  for (const [id, vs] of uncertain) {   // settle what was in flight: whatever landed is now known
    const r = await post("/api/v1/collections/soak/points/get", { ids: [id], include: ["vector"] });
    const p = r.json?.points?.[0];
    if (p) {
      if (!vs.some((a) => a.every((y, k) => Math.abs(y - p.vector[k]) <= 1e-6)) && !live.has(id))
        violations.push(`in-flight point ${id} has a vector that was never sent`);
      live.set(id, p.vector);
      deleted.delete(id);
    }
  }
  uncertain.clear();
  pendingDel.clear();
  const c = await fetch(`${base}/api/v1/collections/soak/count`).then((r) => r.json());
  if (c.count !== live.size) violations.push(`count ${c.count}, expected ${live.size}`);
}

// ---- main loop ---------------------------------------------------------------------------
const runs = [];
let kills = 0;
const restartMs = [];
start();
await waitReady();
await post("/api/v1/collections", { name: "soak", dimension: DIM, metric: "l2" });
await post("/api/v1/collections", { name: "docs", model: "tiny" });
await post("/api/v1/collections/docs/insert", { doc_id: "d1", text: "hello soak" });
while (Date.now() < deadline) {
  const killAt = Date.now() + (Number(args["--kill-min"]) +
                 rnd() * (Number(args["--kill-max"]) - Number(args["--kill-min"]))) * 1e3;
  const run = { rss_start: null, rss_end: null, fds_max: 0, threads_max: 0 };
  const sampler = setInterval(() => {
    const s = procStat(server.pid);
    if (!s) return;
    run.rss_start ??= s.rss;
    run.rss_end = s.rss;
    run.fds_max = Math.max(run.fds_max, s.fds);
    run.threads_max = Math.max(run.threads_max, s.threads);
  }, 1000);
  const workers = [0, 1, 2, 3].map(async () => {
    while (Date.now() < Math.min(killAt, deadline)) {
      try {
        await oneOp();
      } catch (e) {
        if (ops.failed++ < 5) failures.push(String(e.message ?? e));
      }
    }
  });
  await Promise.all(workers);
  clearInterval(sampler);
  runs.push(run);
  if (Date.now() >= deadline) break;
  // kill while a last burst of writes is in flight
  const burst = [0, 1].map(() => oneOp().catch(() => ops.failed_at_kill++));
  await new Promise((r) => setTimeout(r, 5));
  server.kill("SIGKILL");
  await new Promise((r) => server.once("exit", r));
  await Promise.all(burst);
  kills++;
  start();
  restartMs.push(await waitReady());
  await verify();
}
server.kill("SIGTERM");
const code = await new Promise((r) => server.once("exit", r));
console.log(JSON.stringify({
  minutes: Number(args["--minutes"]), kills, restart_ms: restartMs, ops, points: live.size,
  violations: violations.length, first_violations: violations.slice(0, 10), failures, runs,
  shutdown_exit: code,
}));
process.exit(violations.length ? 1 : 0);
