// ort_bench.mjs - the same-run peer of `akidb bench embed`: ONNX Runtime
// (npm onnxruntime-node, CPU) on a model exported by bert_onnx.py, with the
// Hugging Face tokenizer in JavaScript (npm @huggingface/tokenizers) reading
// the model folder's tokenizer.json.  Prints ONE JSON object with the same
// fields as `akidb bench embed`, measured the same way:
//   1. create the session (timed; resident memory before/after);
//   2. two tokenisation passes over all texts: the first gives the token
//      counts (truncated to the model's max length, keeping the first max-1
//      ids and ending with [SEP], as the tokenizer's LongestFirst truncation
//      does), the second is timed;
//   3. --warmup single-text runs, texts in file order (wrapping), not timed;
//   4. latency: every text once, one text per session.run() call: the
//      tokenisation + tensor building and the run() are timed separately with
//      the monotonic clock; end-to-end is their sum.  Percentiles by linear
//      interpolation at rank p/100 * (n - 1), as in the C side;
//   5. throughput: one unmeasured batch (the first), then the file in order,
//      --batch texts per run(), each batch padded to its longest member with
//      the attention mask set (what an ONNX Runtime user does); model-only
//      time is the sum of the run() calls, end-to-end adds tokenisation and
//      padding.
// After measuring, it checks the export (FILE.check.json: PyTorch's output on
// a padded batch) and, with --compare, AkiDB's embeddings of the first texts
// (`akidb embed --format jsonl`), so that both sides are known to compute the
// same function.
//
// usage: node ort_bench.mjs --model DIR --onnx FILE --input FILE [--threads N]
//        [--batch 32] [--warmup 20] [--max-texts N] [--compare FILE.jsonl]
//        [--no-latency] [--no-throughput]

import { existsSync, readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import process from "node:process";

function usage(code) {
    const text = `usage: node ort_bench.mjs --model DIR --onnx FILE --input FILE [options]

  --model DIR        model folder (tokenizer.json, config.json, sentence_bert_config.json)
  --onnx FILE        the model exported by bert_onnx.py export
  --input FILE       texts, one per line
  --threads N        ONNX Runtime intra-op threads (default 1; inter-op is 1)
  --batch N          texts per run() in the throughput pass (default 32)
  --warmup N         unmeasured single-text runs first (default 20)
  --max-texts N      use only the first N texts (default all)
  --compare FILE     AkiDB embeddings (jsonl) of the first texts to compare with
  --no-latency       skip the single-text latency pass
  --no-throughput    skip the batch throughput pass
`;
    (code ? process.stderr : process.stdout).write(text);
    process.exit(code);
}

function fail(msg) {
    process.stderr.write(`ort_bench: ${msg}\n`);
    process.exit(1);
}

function parseArgs(argv) {
    const a = { threads: 1, batch: 32, warmup: 20, maxTexts: 0, latency: true, throughput: true };
    const ints = { "--threads": ["threads", 1, 1024], "--batch": ["batch", 1, 65536],
                   "--warmup": ["warmup", 0, 1000000], "--max-texts": ["maxTexts", 1, 1e8] };
    const strs = { "--model": "model", "--onnx": "onnx", "--input": "input", "--compare": "compare" };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        if (k === "-h" || k === "--help") usage(0);
        else if (k === "--no-latency") a.latency = false;
        else if (k === "--no-throughput") a.throughput = false;
        else if (k in ints || k in strs) {
            if (i + 1 >= argv.length) { process.stderr.write(`ort_bench: ${k} needs a value\n`); usage(2); }
            const v = argv[++i];
            if (k in strs) { a[strs[k]] = v; continue; }
            const [key, lo, hi] = ints[k];
            if (!/^[0-9]+$/.test(v) || Number(v) < lo || Number(v) > hi) {
                process.stderr.write(`ort_bench: ${k}: expected an integer in ${lo}..${hi}, got '${v}'\n`);
                process.exit(2);
            }
            a[key] = Number(v);
        } else {
            process.stderr.write(`ort_bench: unknown argument '${k}'\n`);
            usage(2);
        }
    }
    if (!a.model || !a.onnx || !a.input) {
        process.stderr.write("ort_bench: --model, --onnx and --input are required\n");
        usage(2);
    }
    return a;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;   // CLOCK_MONOTONIC, seconds
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };  // all threads

// Same definition as the C side: linear interpolation at rank p/100*(n-1).
function percentile(sorted, p) {
    const n = sorted.length;
    if (n === 0) return 0;
    const rank = (p / 100) * (n - 1);
    const lo = Math.floor(rank), hi = Math.min(lo + 1, n - 1);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

function stats(v, scale) {
    const s = Float64Array.from(v).sort();
    const sum = s.reduce((x, y) => x + y, 0);
    const r = (x) => Number((x * scale).toFixed(4));
    return { p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)),
             mean: r(s.length ? sum / s.length : 0), min: r(s.length ? s[0] : 0),
             max: r(s.length ? s[s.length - 1] : 0) };
}

function readJson(path) {
    try {
        return JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
        fail(`${path}: ${e.message}`);
    }
}

// Lines as the akidb CLI reads them: split on '\n', one '\r' before it is
// dropped, no text after a final '\n'.
function readTexts(path, max) {
    let data;
    try {
        data = readFileSync(path, "utf8");
    } catch (e) {
        fail(`${path}: ${e.message}`);
    }
    const lines = data.split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    const texts = lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
    if (texts.length === 0) fail(`${path}: no texts (the file is empty)`);
    return max ? texts.slice(0, max) : texts;
}

const a = parseArgs(process.argv.slice(2));
for (const p of [a.onnx, `${a.model}/tokenizer.json`, `${a.model}/config.json`, a.input])
    if (!existsSync(p)) fail(`${p}: no such file`);

let ort, Tokenizer;
try {
    ort = await import("onnxruntime-node");
    ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch (e) {
    fail(`cannot load the npm packages (run 'npm install --ignore-scripts' in bench/embed): ${e.message}`);
}

const config = readJson(`${a.model}/config.json`);
const sbc = existsSync(`${a.model}/sentence_bert_config.json`)
    ? readJson(`${a.model}/sentence_bert_config.json`) : {};
const maxTokens = sbc.max_seq_length || config.max_position_embeddings;
const tcPath = `${a.model}/tokenizer_config.json`;
const tokenizer = new Tokenizer(readJson(`${a.model}/tokenizer.json`),
                                existsSync(tcPath) ? readJson(tcPath) : {});
const texts = readTexts(a.input, a.maxTexts);
const n = texts.length;

function encode(text) {
    const ids = tokenizer.encode(text, { add_special_tokens: true }).ids;
    if (ids.length <= maxTokens) return ids;
    const t = ids.slice(0, maxTokens - 1);
    t.push(ids[ids.length - 1]);   // [SEP]
    return t;
}

// Feeds for a batch of encoded texts, padded to the longest.
function feeds(batchIds) {
    const B = batchIds.length;
    let T = 0;
    for (const ids of batchIds) T = Math.max(T, ids.length);
    const ids = new BigInt64Array(B * T), mask = new BigInt64Array(B * T);
    for (let b = 0; b < B; b++) {
        const row = batchIds[b];
        for (let j = 0; j < row.length; j++) {
            ids[b * T + j] = BigInt(row[j]);
            mask[b * T + j] = 1n;
        }
    }
    return onlyInputs({
        input_ids: new ort.Tensor("int64", ids, [B, T]),
        attention_mask: new ort.Tensor("int64", mask, [B, T]),
        token_type_ids: new ort.Tensor("int64", new BigInt64Array(B * T), [B, T]),
    });
}

// The feeds the graph takes: exports without token_type_ids (the decoder,
// ModernBERT and Gemma 3 shapes of bench/families) get only the other two.
function onlyInputs(f) {
    const names = session.inputNames;
    return Object.fromEntries(Object.entries(f).filter(([k]) => names.includes(k)));
}

const H = config.hidden_size, I = config.intermediate_size, L = config.num_hidden_layers;
const textFlops = (t) => L * (2 * t * (4 * H * H + 2 * H * I) + 4 * t * t * H);

// 1. session
const sessionOptions = {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, graphOptimizationLevel: "all",
    executionMode: "sequential", executionProviders: ["cpu"],
};
const rssBefore = process.memoryUsage.rss();
let t0 = now();
let session;
try {
    session = await ort.InferenceSession.create(a.onnx, sessionOptions);
} catch (e) {
    fail(`${a.onnx}: ${e.message}`);
}
const loadS = now() - t0;
const rssLoaded = process.memoryUsage.rss();
const outName = session.outputNames[0];

// 2. tokenisation
let tokensTotal = 0, truncated = 0, flopsTotal = 0;
for (const text of texts) {
    const full = tokenizer.encode(text, { add_special_tokens: true }).ids.length;
    const t = Math.min(full, maxTokens);
    truncated += full > maxTokens ? 1 : 0;
    tokensTotal += t;
    flopsTotal += textFlops(t);
}
t0 = now();
for (const text of texts) encode(text);
const tokenizeS = now() - t0;

// 3. warm-up
for (let w = 0; w < a.warmup; w++) await session.run(feeds([encode(texts[w % n])]));
const rssWarm = process.memoryUsage.rss();

const result = {
    bench: "embed", engine: "onnxruntime", version: ort.env.versions?.node ?? "unknown",
    model: { dir: a.model, name: basename(a.model), onnx: a.onnx, dim: H, layers: L, hidden: H,
             heads: config.num_attention_heads, intermediate: I, vocab: config.vocab_size,
             max_tokens: maxTokens },
    input: { file: a.input, texts: n, tokens: tokensTotal,
             avg_tokens: Number((tokensTotal / n).toFixed(2)), truncated },
    threads: a.threads, kernels: "onnxruntime-cpu", batch: a.batch, warmup: a.warmup,
    session_options: sessionOptions,
    load_s: Number(loadS.toFixed(4)),
    tokenize: { total_s: Number(tokenizeS.toFixed(6)), us_per_text: Number((tokenizeS / n * 1e6).toFixed(3)) },
    flops: { total: flopsTotal, per_text_avg: flopsTotal / n },
};

// 4. latency
if (a.latency) {
    const lat = new Float64Array(n), latModel = new Float64Array(n), latTok = new Float64Array(n);
    let sum = 0;
    const wall0 = now(), cpu0 = cpuNow();
    for (let i = 0; i < n; i++) {
        const s = now();
        const f = feeds([encode(texts[i])]);
        const b = now();
        await session.run(f);
        const e = now();
        lat[i] = e - s;
        latModel[i] = e - b;
        latTok[i] = b - s;
        sum += lat[i];
    }
    result.latency_ms = stats(lat, 1e3);
    result.latency_model_ms = stats(latModel, 1e3);
    result.latency_tokenize_us = stats(latTok, 1e6);
    result.latency_gflops = Number((flopsTotal / sum / 1e9).toFixed(3));
    result.latency_cpu_cores_used = Number(((cpuNow() - cpu0) / (now() - wall0)).toFixed(2));
}

// 5. throughput
if (a.throughput) {
    await session.run(feeds(texts.slice(0, a.batch).map(encode)));
    let total = 0, model = 0, padded = 0, cpu = 0;
    for (let i = 0; i < n; i += a.batch) {
        const s = now(), c = cpuNow();
        const batchIds = texts.slice(i, i + a.batch).map(encode);
        const f = feeds(batchIds);
        const b = now();
        await session.run(f);
        const e = now();
        cpu += cpuNow() - c;
        total += e - s;
        model += e - b;
        padded += f.input_ids.dims[0] * f.input_ids.dims[1];
    }
    result.throughput = {
        batch: a.batch, seconds: Number(total.toFixed(4)),
        texts_per_s: Number((n / total).toFixed(3)),
        tokens_per_s: Number((tokensTotal / total).toFixed(1)),
        gflops: Number((flopsTotal / total / 1e9).toFixed(3)),
        model_seconds: Number(model.toFixed(4)),
        model_texts_per_s: Number((n / model).toFixed(3)),
        model_tokens_per_s: Number((tokensTotal / model).toFixed(1)),
        padded_tokens: padded,
        cpu_cores_used: Number((cpu / total).toFixed(2)),
    };
}

const onnxBytes = statSync(a.onnx).size;
result.memory = {
    weights_file_bytes: onnxBytes, rss_before_load_bytes: rssBefore,
    rss_after_load_bytes: rssLoaded, rss_after_load_minus_weights_bytes: rssLoaded - onnxBytes,
    rss_after_warmup_bytes: rssWarm, rss_after_warmup_minus_weights_bytes: rssWarm - onnxBytes,
    rss_peak_bytes: process.resourceUsage().maxRSS * 1024,
};

// Checks, after measuring so that they do not warm anything up.
function maxAbsDiff(x, y) {
    let d = 0;
    for (let j = 0; j < x.length; j++) d = Math.max(d, Math.abs(x[j] - y[j]));
    return d;
}
function cosine(x, y) {
    let xy = 0, xx = 0, yy = 0;
    for (let j = 0; j < x.length; j++) { xy += x[j] * y[j]; xx += x[j] * x[j]; yy += y[j] * y[j]; }
    return xy / Math.sqrt(xx * yy || 1);
}

const checkPath = a.onnx.replace(/\.onnx$/, "") + ".check.json";
if (existsSync(checkPath)) {
    const c = readJson(checkPath);
    const B = c.input_ids.length, T = c.input_ids[0].length;
    const f = onlyInputs({
        input_ids: new ort.Tensor("int64", BigInt64Array.from(c.input_ids.flat(), BigInt), [B, T]),
        attention_mask: new ort.Tensor("int64", BigInt64Array.from(c.attention_mask.flat(), BigInt), [B, T]),
        token_type_ids: new ort.Tensor("int64", new BigInt64Array(B * T), [B, T]),
    });
    const got = (await session.run(f))[outName].data;
    const d = maxAbsDiff(got, c.sentence_embedding.flat());
    result.export_check = { max_abs_diff: d, ok: d < 1e-4 };
    if (!(d < 1e-3)) fail(`${checkPath}: ONNX Runtime differs from PyTorch by ${d}; the export is wrong`);
}

if (a.compare) {
    let lines;
    try {
        lines = readFileSync(a.compare, "utf8").split("\n").filter((l) => l.trim() !== "");
    } catch (e) {
        fail(`${a.compare}: ${e.message}`);
    }
    const k = Math.min(lines.length, n);
    let worstDiff = 0, worstCos = 1;
    for (let i = 0; i < k; i++) {
        const want = JSON.parse(lines[i]);
        const got = (await session.run(feeds([encode(texts[i])])))[outName].data;
        if (got.length !== want.length) fail(`${a.compare}:${i + 1}: dimension ${want.length}, ONNX gives ${got.length}`);
        worstDiff = Math.max(worstDiff, maxAbsDiff(got, want));
        worstCos = Math.min(worstCos, cosine(got, want));
    }
    result.compare_akidb = { texts: k, max_abs_diff: worstDiff, min_cosine: Number(worstCos.toFixed(7)) };
}

process.stdout.write(JSON.stringify(result, null, 2) + "\n");
