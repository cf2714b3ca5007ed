// load_peer.mjs - how long the tokenizer benchmark's peers take to load a
// tokenizer.json, for comparison with akidb_bench_tokload (load_bench.c),
// which bench/tok/load.sh runs on the same files in the same run.
//
//   node bench/tok/load_peer.mjs --engine rust|js --tokenizer FILE.json
//        [--runs 5] [--modules DIR]
//
// Each run is a new Node process (so that no run finds the previous one's
// caches), which measures one load and prints one JSON line:
//   rust  tokenizers (the official Rust library's Node binding):
//         Tokenizer.fromFile(file), which reads and parses the file in Rust;
//   js    @huggingface/tokenizers (the JavaScript port): readFileSync +
//         JSON.parse + new Tokenizer(json, {}).
// wall_ms: wall-clock time of that call (process.hrtime); rss_mib: the
// process's resident set after the load minus before it (Node's own baseline
// excluded; V8 may not have collected the parse's garbage yet, so this is
// what the process holds, not a lower bound); peak_mib: VmHWM of the child
// at exit minus its resident set before the load.  The parent prints the
// best and median of the runs.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = { "--runs": "5" };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i]] = process.argv[i + 1];
const engine = args["--engine"], file = args["--tokenizer"];
if (!["rust", "js"].includes(engine) || !file) {
  console.error("usage: node load_peer.mjs --engine rust|js --tokenizer FILE.json " +
                "[--runs N] [--modules DIR]");
  process.exit(2);
}
const modules = resolve(args["--modules"] ||
                        join(here, "..", "data", "tok", "peers", "node_modules"));

function vm(key) {
  const m = readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"));
  return m ? Number(m[1]) / 1024 : NaN;
}

if (args["--child"]) {
  const require = createRequire(join(modules, "_"));
  const rust = engine === "rust" ? require("tokenizers") : null;
  const js = engine === "js" ? require("@huggingface/tokenizers") : null;
  const rss0 = vm("VmRSS");
  const t0 = process.hrtime.bigint();
  let tok;
  if (rust) tok = rust.Tokenizer.fromFile(file);
  else tok = new js.Tokenizer(JSON.parse(readFileSync(file, "utf8")), {});
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const vocab = rust ? tok.getVocabSize(true) : tok.model.vocab.length ?? null;
  console.log(JSON.stringify({ wall_ms: ms, rss_mib: vm("VmRSS") - rss0,
                               peak_mib: vm("VmHWM") - rss0, vocab }));
  process.exit(0);
}

const runs = [];
for (let r = 0; r < Number(args["--runs"]); r++) {
  const out = execFileSync(process.execPath,
                           [fileURLToPath(import.meta.url), "--engine", engine, "--tokenizer", file,
                            "--modules", modules, "--child", "1"],
                           { encoding: "utf8" });
  runs.push(JSON.parse(out.trim().split("\n").pop()));
}
const ms = runs.map((r) => r.wall_ms).sort((a, b) => a - b);
const peak = runs.map((r) => r.peak_mib).sort((a, b) => a - b);
console.log(JSON.stringify({
  engine, file, runs: runs.length, best_ms: ms[0], median_ms: ms[Math.floor(ms.length / 2)],
  peak_mib_median: peak[Math.floor(peak.length / 2)], rss_mib: runs[0].rss_mib,
}));
