// summarize.mjs - the table of the tokenizer benchmark (bench/tok/run.sh)
// from its results.jsonl: per model and corpus, the tokens/s of each engine
// (median over the rounds) and AkiDB's ratio to each peer measured in the
// same round (median, and min-max over the rounds), on wall time and on
// process CPU time; whether each peer gave AkiDB's ids (hash of every id);
// the MiniLM tokenization / embedding time per text; the load average.
//
//   node bench/tok/summarize.mjs results.jsonl [cpu.txt] > summary.md
import { readFileSync } from "node:fs";

const [, , resPath, cpuPath] = process.argv;
const rows = readFileSync(resPath, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const cpu = cpuPath ? readFileSync(cpuPath, "utf8").trim() : "";
const KIND = { minilm: "WordPiece", qwen3: "BPE", gemma3: "BPE", xlmr: "Unigram (4k toy)" };
const PEERS = ["js", "rust", "rust-batch"];
const PEER_NAME = { js: "tokenizers.js", rust: "Rust (per text)", "rust-batch": "Rust (batch, 1 thread)" };

const median = (a) => {
  const s = [...a].sort((x, y) => x - y), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmtRatio = (a) => {
  if (!a.length) return "–";
  const lo = Math.min(...a), hi = Math.max(...a);
  return a.length > 1 ? `${median(a).toFixed(2)} (${lo.toFixed(2)}–${hi.toFixed(2)})`
                      : median(a).toFixed(2);
};
const fmtPct = (a) => {
  const p = a.map((x) => x * 100), lo = Math.min(...p), hi = Math.max(...p);
  return `${median(p).toFixed(3)} %` + (p.length > 1 ? ` (${lo.toFixed(3)}–${hi.toFixed(3)} %)` : "");
};
const fmtRate = (a) => (a.length ? (median(a) / 1e6).toFixed(2) : "–");

const labels = [...new Set(rows.filter((r) => r.label).map((r) => r.label))];
const by = (label, engine) => rows.filter((r) => r.label === label && r.engine === engine);
const rounds = [...new Set(rows.map((r) => r.round))];

const out = [];
if (cpu) out.push(`CPU: ${cpu}. One thread per engine.`, "");
out.push("Tokens/s (millions, median of the rounds) and AkiDB's speed ratio to each peer " +
         "in the same round (median (min–max); above 1: AkiDB faster), wall time:", "");
out.push("| model | kind | corpus | texts | tokens | AkiDB | " +
         PEERS.map((p) => PEER_NAME[p]).join(" | ") + " | " +
         PEERS.map((p) => `AkiDB / ${PEER_NAME[p]}`).join(" | ") + " | same ids as AkiDB |");
out.push("|" + " --- |".repeat(6 + 2 * PEERS.length + 1));
const cpuLines = [];
for (const label of labels) {
  const [model, corpus] = label.split("/");
  const ak = by(label, "akidb");
  if (!ak.length) continue;
  const rates = [fmtRate(ak.map((r) => r.tokens_per_s))];
  const ratios = [], cratios = [], same = [];
  for (const p of PEERS) {
    const pr = by(label, p);
    rates.push(fmtRate(pr.map((r) => r.tokens_per_s)));
    const rr = [], cr = [];
    for (const round of rounds) {
      const a = ak.find((r) => r.round === round), b = pr.find((r) => r.round === round);
      if (a && b) {
        rr.push(a.tokens_per_s / b.tokens_per_s);
        cr.push(a.tokens_per_cpu_s / b.tokens_per_cpu_s);
      }
    }
    ratios.push(fmtRatio(rr));
    cratios.push(fmtRatio(cr));
    if (pr.length)
      same.push(`${p}: ${pr[0].hash === ak[0].hash ? "yes" : `no (${pr[0].tokens} vs ${ak[0].tokens} tokens)`}`);
  }
  out.push(`| ${model} | ${KIND[model] || ""} | ${corpus} | ${ak[0].texts} | ${ak[0].tokens} | ` +
           `${rates.join(" | ")} | ${ratios.join(" | ")} | ${same.join(", ")} |`);
  cpuLines.push(`| ${model} | ${corpus} | ${cratios.join(" | ")} |`);
}
out.push("", "The same ratios on process CPU time (every thread of the process counted):", "");
out.push("| model | corpus | " + PEERS.map((p) => `AkiDB / ${PEER_NAME[p]}`).join(" | ") + " |");
out.push("|" + " --- |".repeat(2 + PEERS.length));
out.push(...cpuLines);

const emb = rows.filter((r) => r.engine === "akidb" && r.embed_us_per_text);
if (emb.length) {
  const t = emb.map((r) => r.tokenize_us_per_text), e = emb.map((r) => r.embed_us_per_text);
  out.push("", `MiniLM, first ${emb[0].embed_texts} fortunes (${(emb[0].embed_tokens / emb[0].embed_texts).toFixed(1)} ` +
           `tokens per text), one thread: tokenization ${median(t).toFixed(2)} µs per text, ` +
           `embedding (akidb_embed, one text per call, MiniLM-L6 shape) ${(median(e) / 1e3).toFixed(2)} ms ` +
           `per text; tokenization / embedding ${fmtPct(emb.map((r) => r.tokenize_over_embed))}.`);
}
const loads = rows.filter((r) => r.loadavg_start || r.loadavg_end)
  .map((r) => `round ${r.round} ${r.loadavg_start ? "start" : "end"} ${r.loadavg_start || r.loadavg_end}`);
if (loads.length) out.push("", `Load average (1, 5, 15 min): ${loads.join("; ")}.`);
console.log(out.join("\n"));
