// tei_openai_client.mjs - the official npm clients against `akidb serve`:
// `openai` (embeddings.create with its default encoding, which asks for
// base64 and decodes it; with "float"; with dimensions; with token ids) and
// `@huggingface/inference` (featureExtraction with the server's /embed as a
// custom endpoint).  Every vector is compared with the values the calling
// test computed with the library on the same model (expected.json).
//
// Usage: node tests/ref/tei_openai_client.mjs http://127.0.0.1:PORT expected.json
// (run by tests/test_tei.c's clients case; exits 1 on a mismatch).
import fs from "node:fs";
import OpenAI from "openai";
import { featureExtraction } from "@huggingface/inference";

const [base, expectedPath] = process.argv.slice(2);
const x = JSON.parse(fs.readFileSync(expectedPath, "utf8"));
let failures = 0;

function same(what, got, want, tol = 1e-5) {
  const a = Array.from(got);
  let worst = 0;
  if (a.length !== want.length) {
    console.error(`FAIL ${what}: ${a.length} values, want ${want.length}`);
    failures++;
    return;
  }
  for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - want[k]));
  if (!(worst <= tol)) {
    console.error(`FAIL ${what}: max |diff| ${worst}`);
    failures++;
  } else {
    console.log(`ok   ${what}: ${a.length} values, max |diff| ${worst.toExponential(2)}`);
  }
}

const client = new OpenAI({ apiKey: "unused", baseURL: `${base}/v1` });

// default encoding_format: the client sends "base64" and decodes it
let r = await client.embeddings.create({ model: x.model, input: x.texts });
// base64 carries the float32 bits: they must match exactly
x.texts.forEach((_, i) => same(`openai default (base64) [${i}]`, r.data[i].embedding, x.openai[i], 0));
if (!(r.usage.total_tokens > 0)) {
  console.error("FAIL openai usage.total_tokens");
  failures++;
}

r = await client.embeddings.create({ model: x.model, input: x.texts, encoding_format: "float" });
x.texts.forEach((_, i) => same(`openai float [${i}]`, r.data[i].embedding, x.openai[i]));

r = await client.embeddings.create({ model: x.model, input: x.texts, dimensions: 8 });
x.texts.forEach((_, i) => same(`openai dimensions 8 [${i}]`, r.data[i].embedding, x.dims8[i]));

r = await client.embeddings.create({ model: x.model, input: [x.ids0, x.texts[1]] });
same("openai token ids", r.data[0].embedding, x.openai[0], 0);
same("openai mixed text", r.data[1].embedding, x.openai[1], 0);

// @huggingface/inference: featureExtraction against TEI's /embed
const one = await featureExtraction({ endpointUrl: `${base}/embed`, inputs: x.texts[0] });
same("hf featureExtraction (one text)", one[0], x.tei[0]);
const many = await featureExtraction({ endpointUrl: `${base}/embed`, inputs: x.texts });
x.texts.forEach((_, i) => same(`hf featureExtraction [${i}]`, many[i], x.tei[i]));

if (failures) {
  console.error(`${failures} client check(s) failed`);
  process.exit(1);
}
console.log("all client checks passed");
