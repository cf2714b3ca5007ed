// peer.mjs - the peers of the tokenizer benchmark (bench/tok/run.sh): the
// same measurement as akidb_bench_tok (bench/tok/tok_bench.c), on the same
// tokenizer.json and corpus, printing the same JSON line.
//
//   node bench/tok/peer.mjs --engine js|rust|rust-batch --tokenizer FILE.json
//        --input CORPUS [--label NAME] [--min-seconds 2] [--modules DIR]
//
// Engines (npm packages of tests/ref/package-lock.json, the optional Rust
// binding included; run.sh installs them into bench/data/tok/peers and
// passes --modules; the default is bench/data/tok/peers/node_modules):
//   js          @huggingface/tokenizers, the JavaScript port:
//               new Tokenizer(json, {}).encode(text, {add_special_tokens:
//               true}), synchronous, one text per call;
//   rust        tokenizers, the official Rust library's Node binding:
//               await Tokenizer.fromFile(file).encode(text, null,
//               {addSpecialTokens: true}), one text per call, truncation and
//               padding of the tokenizer.json turned off (each call is
//               an asynchronous task run on libuv's thread pool and awaited
//               before the next: the cost a Node caller pays);
//   rust-batch  the same library, encodeBatch(every text) per pass: the Rust
//               core without the per-call round trip.  run.sh sets
//               TOKENIZERS_PARALLELISM=false and RAYON_NUM_THREADS=1, so it
//               runs on one thread.
// Measured as in tok_bench.c: one unmeasured pass, then whole passes until
// --min-seconds have gone by; wall time (process.hrtime) and process CPU
// time (process.cpuUsage: every thread of the process, V8's compiler and
// garbage collector threads and libuv's pool included); the FNV-1a hash of
// every id of one pass, as tok_bench.c computes it.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = { "--label": "", "--min-seconds": "2" };
for (let i = 2; i < process.argv.length; i += 2) {
  if (process.argv[i + 1] === undefined) {
    console.error(`peer.mjs: ${process.argv[i]} needs a value`);
    process.exit(2);
  }
  args[process.argv[i]] = process.argv[i + 1];
}
const engine = args["--engine"], tokPath = args["--tokenizer"], input = args["--input"];
if (!["js", "rust", "rust-batch"].includes(engine) || !tokPath || !input) {
  console.error("usage: node peer.mjs --engine js|rust|rust-batch --tokenizer FILE.json " +
                "--input CORPUS [--label NAME] [--min-seconds S] [--modules DIR]");
  process.exit(2);
}
const modules = resolve(args["--modules"] ||
                        join(here, "..", "data", "tok", "peers", "node_modules"));
const require = createRequire(join(modules, "_"));
const minS = Number(args["--min-seconds"]);

const texts = [];
let bytes = 0;
for (const line of readFileSync(input, "utf8").split("\n")) {
  if (line === "" || line.startsWith("#")) continue;
  const t = JSON.parse(line);
  texts.push(t);
  bytes += Buffer.byteLength(t, "utf8");
}

function fnv(h, ids) {
  for (const id of ids) {
    const v = id >>> 0;
    for (let b = 0; b < 4; b++) {
      h = (h ^ ((v >>> (8 * b)) & 0xff)) >>> 0;
      h = Math.imul(h, 16777619) >>> 0;
    }
  }
  return h;
}

// One pass: resolves to [tokens, hash].
let onePass;
const t0 = process.hrtime.bigint();
if (engine === "js") {
  const { Tokenizer } = require("@huggingface/tokenizers");
  const tok = new Tokenizer(JSON.parse(readFileSync(tokPath, "utf8")), {});
  onePass = async () => {
    let n = 0, h = 2166136261;
    for (const t of texts) {
      const ids = tok.encode(t, { add_special_tokens: true }).ids;
      n += ids.length;
      h = fnv(h, ids);
    }
    return [n, h];
  };
} else {
  const { Tokenizer } = require("tokenizers");
  const tok = Tokenizer.fromFile(tokPath);
  // tokenizer.json may set truncation / padding (MiniLM's: 128 ids, padded
  // batches); the other engines apply neither.
  tok.disableTruncation();
  tok.disablePadding();
  const opts = { addSpecialTokens: true };
  onePass = engine === "rust"
    ? async () => {
      let n = 0, h = 2166136261;
      for (const t of texts) {
        const ids = (await tok.encode(t, null, opts)).getIds();
        n += ids.length;
        h = fnv(h, ids);
      }
      return [n, h];
    }
    : async () => {
      let n = 0, h = 2166136261;
      for (const e of await tok.encodeBatch(texts, opts)) {
        const ids = e.getIds();
        n += ids.length;
        h = fnv(h, ids);
      }
      return [n, h];
    };
}
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

const [perPass, hash] = await onePass();   // warm-up
const w0 = process.hrtime.bigint(), c0 = process.cpuUsage();
let passes = 0, wall;
do {
  await onePass();
  passes++;
  wall = Number(process.hrtime.bigint() - w0) / 1e9;
} while (wall < minS);
const cu = process.cpuUsage(c0), cpu = (cu.user + cu.system) / 1e6;
const toks = perPass * passes;
console.log(JSON.stringify({
  engine, label: args["--label"], texts: texts.length, bytes, tokens: perPass,
  hash: hash.toString(16).padStart(8, "0"), passes, wall_s: +wall.toFixed(4),
  cpu_s: +cpu.toFixed(4), tokens_per_s: +(toks / wall).toFixed(1),
  tokens_per_cpu_s: +(toks / cpu).toFixed(1),
  us_per_text: +(wall / (passes * texts.length) * 1e6).toFixed(3), load_ms: +loadMs.toFixed(1),
}));
