// spm_to_json.mjs - writes the tokenizer.json that transformers'
// XLMRobertaConverter (convert_slow_tokenizer.py) makes of an XLM-R style
// sentencepiece Unigram model, so that the peers of the tokenizer benchmark
// (bench/tok/peer.mjs), which read only tokenizer.json, run the same
// pipeline as AkiDB (which reads either file; run.sh checks that both give
// the same ids).
//
//   node bench/tok/spm_to_json.mjs sentencepiece.bpe.model > tokenizer.json
//
// The converter's tree: vocab <s> <pad> </s> <unk>, the model's pieces from
// the fourth on (fairseq's offset of one), <mask>; unk_id 3; normalizer
// Sequence [Precompiled (the model's charsmap), Strip (right), Replace
// (" {2,}" -> "▁")]; Metaspace "▁" with prepend_scheme "always" as
// pre-tokenizer and decoder; template <s> $A </s> / <s> $A </s> </s> $B </s>;
// the five specials as added tokens (<mask> with lstrip, as
// XLMRobertaTokenizer declares it).
import { readFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node spm_to_json.mjs MODEL > tokenizer.json");
  process.exit(2);
}
const buf = readFileSync(file);

// Minimal protobuf reader: calls fn(field, wireType, value) for each field of
// buf[start, end); value is a number (varint, fixed32 as float) or a Buffer.
function fields(b, start, end, fn) {
  let p = start;
  const varint = () => {
    let v = 0, mul = 1, c;
    do {
      if (p >= end) throw new Error(`${file}: truncated varint`);
      c = b[p++];
      v += (c & 0x7f) * mul;
      mul *= 128;
    } while (c & 0x80);
    return v;
  };
  while (p < end) {
    const key = varint(), f = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) fn(f, wt, varint());
    else if (wt === 1) { fn(f, wt, b.subarray(p, p + 8)); p += 8; }
    else if (wt === 5) { fn(f, wt, b.readFloatLE(p)); p += 4; }
    else if (wt === 2) {
      const n = varint();
      if (p + n > end) throw new Error(`${file}: truncated field ${f}`);
      fn(f, wt, b.subarray(p, p + n));
      p += n;
    } else throw new Error(`${file}: wire type ${wt}`);
  }
}

const pieces = [];
let charsmap = null, modelType = 1;
fields(buf, 0, buf.length, (f, wt, v) => {
  if (f === 1 && wt === 2) {          // ModelProto.pieces
    const pc = { piece: "", score: 0, type: 1 };
    fields(v, 0, v.length, (g, _w, x) => {
      if (g === 1) pc.piece = x.toString("utf8");
      else if (g === 2) pc.score = x;
      else if (g === 3) pc.type = x;
    });
    pieces.push(pc);
  } else if (f === 2 && wt === 2) {   // trainer_spec: model_type (3)
    fields(v, 0, v.length, (g, w, x) => { if (g === 3 && w === 0) modelType = x; });
  } else if (f === 3 && wt === 2) {   // normalizer_spec: precompiled_charsmap (2)
    fields(v, 0, v.length, (g, w, x) => { if (g === 2 && w === 2) charsmap = x; });
  }
});
if (modelType !== 1) throw new Error(`${file}: not a Unigram model (model_type ${modelType})`);

const vocab = [["<s>", 0], ["<pad>", 0], ["</s>", 0], ["<unk>", 0]];
for (const p of pieces.slice(3)) vocab.push([p.piece, p.score]);
vocab.push(["<mask>", 0]);
const special = (id, content, lstrip = false) => ({
  id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true,
});
const norms = [
  { type: "Strip", strip_left: false, strip_right: true },
  { type: "Replace", pattern: { Regex: " {2,}" }, content: "\u2581" },
];
if (charsmap && charsmap.length)
  norms.unshift({ type: "Precompiled", precompiled_charsmap: charsmap.toString("base64") });
const meta = { type: "Metaspace", replacement: "\u2581", prepend_scheme: "always", split: true };
const spec = (id) => ({ SpecialToken: { id, type_id: 0 } });
const seq = (id) => ({ Sequence: { id, type_id: 0 } });
const tj = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [special(0, "<s>"), special(1, "<pad>"), special(2, "</s>"), special(3, "<unk>"),
                 special(vocab.length - 1, "<mask>", true)],
  normalizer: { type: "Sequence", normalizers: norms },
  pre_tokenizer: meta,
  post_processor: {
    type: "TemplateProcessing",
    single: [spec("<s>"), seq("A"), spec("</s>")],
    pair: [spec("<s>"), seq("A"), spec("</s>"), spec("</s>"), seq("B"), spec("</s>")],
    special_tokens: {
      "<s>": { id: "<s>", ids: [0], tokens: ["<s>"] },
      "</s>": { id: "</s>", ids: [2], tokens: ["</s>"] },
    },
  },
  decoder: meta,
  model: { type: "Unigram", unk_id: 3, vocab, byte_fallback: false },
};
process.stdout.write(JSON.stringify(tj) + "\n");
