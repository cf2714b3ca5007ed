// ort_rerank.mjs - the ONNX Runtime peer of `akidb bench rerank`: a
// cross-encoder exported by families_onnx.py (input_ids, attention_mask,
// token_type_ids -> scores) scoring --passages passages against one query,
// the pairs tokenised by the Hugging Face tokenizer in JavaScript (the
// model folder's tokenizer.json, pair template, cut to the model's 512
// tokens) and run as one padded batch per call, as CrossEncoder.predict does
// with batch_size = passages.  Same steps as the C side: load, --warmup
// unmeasured calls, --repeat measured calls (tokenisation included).  With
// --compare FILE (the JSON of `akidb bench rerank`) it checks, before
// measuring, that both engines give the same scores (--min-cos, and the
// largest difference).  Prints one JSON object.
//
// usage: node ort_rerank.mjs --model DIR --onnx FILE --input FILE [--passages 100]
//        [--threads 1] [--warmup 1] [--repeat 3] [--compare FILE] [--min-cos 0.9999]
import { readFileSync } from "node:fs";
import process from "node:process";

const here = new URL("../embed/", import.meta.url);
const ort = await import(new URL("node_modules/onnxruntime-node/dist/index.js", here));
const { Tokenizer } = await import(new URL("node_modules/@huggingface/tokenizers/dist/tokenizers.mjs", here));

const a = { passages: 100, threads: 1, warmup: 1, repeat: 3, minCos: 0.9999 };
const keys = { "--model": "model", "--onnx": "onnx", "--input": "input", "--compare": "compare",
               "--passages": "passages", "--threads": "threads", "--warmup": "warmup",
               "--repeat": "repeat", "--min-cos": "minCos" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
    const k = keys[argv[i]];
    if (!k || i + 1 >= argv.length) { console.error(`ort_rerank: bad argument '${argv[i]}'`); process.exit(2); }
    a[k] = typeof a[k] === "number" ? Number(argv[i + 1]) : argv[i + 1];
}
if (!a.model || !a.onnx || !a.input) { console.error("ort_rerank: --model, --onnx and --input are required"); process.exit(2); }
const fail = (m) => { console.error(`ort_rerank: ${m}`); process.exit(1); };
const json = (p) => JSON.parse(readFileSync(p, "utf8"));

const lines = readFileSync(a.input, "utf8").split("\n").map((l) => l.replace(/\r$/, ""));
if (lines.length && lines[lines.length - 1] === "") lines.pop();   // as the akidb CLI reads lines
const query = lines[0], docs = lines.slice(1, 1 + a.passages);
const tcfg = json(`${a.model}/tokenizer_config.json`);
const tok = new Tokenizer(json(`${a.model}/tokenizer.json`), tcfg);
const maxLen = Math.min(tcfg.model_max_length || 512, 512);

function pair(doc) {
    const e = tok.encode(query, { text_pair: doc, return_token_type_ids: true });
    if (e.ids.length > maxLen) fail(`a pair of ${e.ids.length} tokens: longer than ${maxLen}`);
    return e;
}
function feeds() {
    const enc = docs.map(pair), B = enc.length, T = Math.max(...enc.map((e) => e.ids.length));
    const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T), types = new BigInt64Array(B * T);
    enc.forEach((e, b) => e.ids.forEach((id, j) => {
        ids[b * T + j] = BigInt(id); mask[b * T + j] = 1n; types[b * T + j] = BigInt(e.token_type_ids[j]);
    }));
    const t = (x) => new ort.Tensor("int64", x, [B, T]);
    return { input_ids: t(ids), attention_mask: t(mask), token_type_ids: t(types) };
}
const now = () => Number(process.hrtime.bigint()) / 1e9;

let t0 = now();
const session = await ort.InferenceSession.create(a.onnx, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, graphOptimizationLevel: "all",
    executionMode: "sequential", executionProviders: ["cpu"] });
const loadS = now() - t0;
const run = async () => (await session.run(feeds()))[session.outputNames[0]].data;

const result = { bench: "rerank", engine: "onnxruntime", model: { dir: a.model, onnx: a.onnx },
                 input: { file: a.input, passages: docs.length }, threads: a.threads,
                 kernels: "onnxruntime-cpu", warmup: a.warmup, repeat: a.repeat,
                 load_s: Number(loadS.toFixed(4)) };
if (a.compare) {   // before measuring
    const want = json(a.compare).scores, got = await run();
    if (want.length !== got.length) fail(`${a.compare}: ${want.length} scores, ONNX Runtime gives ${got.length}`);
    let xy = 0, xx = 0, yy = 0, d = 0;
    for (let i = 0; i < got.length; i++) {
        xy += got[i] * want[i]; xx += got[i] ** 2; yy += want[i] ** 2;
        d = Math.max(d, Math.abs(got[i] - want[i]));
    }
    const cos = xy / Math.sqrt(xx * yy || 1);
    result.compare_akidb = { passages: got.length, max_abs_diff: d, cosine: Number(cos.toFixed(7)) };
    if (!(cos >= a.minCos)) fail(`AkiDB and ONNX Runtime disagree: cosine ${cos}, max |diff| ${d}`);
}
for (let w = 0; w < a.warmup; w++) await run();
const t = [];
for (let r = 0; r < a.repeat; r++) { const s = now(); await run(); t.push(now() - s); }
t.sort((x, y) => x - y);
const sum = t.reduce((x, y) => x + y, 0);
result.call_ms = { p50: Number((t[Math.floor((t.length - 1) / 2)] * 1e3).toFixed(4)),
                   min: Number((t[0] * 1e3).toFixed(4)), max: Number((t[t.length - 1] * 1e3).toFixed(4)) };
result.pairs_per_s = Number((docs.length * a.repeat / sum).toFixed(3));
result.memory = { rss_peak_bytes: process.resourceUsage().maxRSS * 1024 };
process.stdout.write(JSON.stringify(result, null, 2) + "\n");
