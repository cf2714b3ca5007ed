// unicode_ref.mjs - writes the goldens of test_unicode (tests/golden/unicode_*)
// from independent sources, never from AkiDB's own tables:
//
//   unicode_norm.txt       Unicode's NormalizationTest.txt (Debian package
//                          unicode-data, /usr/share/unicode), keeping the lines
//                          whose code points are all assigned in Unicode 9.0
//                          (DerivedAge.txt): Hugging Face tokenizers normalises
//                          with unicode-normalization-alignments 0.1.12, whose
//                          tables are Unicode 9.0.0, and Unicode's stability
//                          policy makes those lines' results the same in 9.0.
//                          test_unicode also checks that every code point the
//                          kept Part 1 lines do not list is left unchanged.
//   unicode_graphemes.txt  extended grapheme clusters as ICU segments them
//                          (node's Intl.Segmenter; this script requires its
//                          Unicode version to be 17.0, the version of the
//                          unicode-segmentation 1.13 crate Hugging Face
//                          tokenizers builds with), over the inputs of
//                          GraphemeBreakTest.txt, emoji ZWJ sequences and
//                          random sequences drawn from every break class.
//   unicode_scripts.txt    the Script table of Hugging Face tokenizers'
//                          UnicodeScripts pre-tokenizer (its scripts.rs, given
//                          as SCRIPTS_RS; skipped when absent), as ranges.
//   unicode_simple.jsonl   the Lowercase, Strip, StripAccents, Prepend and NF*
//                          normalizers of @huggingface/tokenizers (the JS port)
//                          on sample texts.  Where the JS port differs from
//                          the Rust library, the case's output is computed here
//                          by the Rust rule and marked "rule": "rust" (see
//                          rustRule below for each difference).
//
// Usage (from the source root):
//   (cd tests/ref && npm ci --ignore-scripts)
//   python3 tools/gen_unicode.py    # installs build/ucd-npm (random inputs)
//   git -C <tokenizers checkout> show HEAD:tokenizers/src/pre_tokenizers/unicode_scripts/scripts.rs > /tmp/scripts.rs
//   node tests/ref/unicode_ref.mjs /tmp/scripts.rs
//
// (After regenerating, run tests/ref/pack_goldens.sh: the large goldens are
// committed gzip-compressed and the tests read either form.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LowercaseNormalizer, StripNormalizer, StripAccentsNormalizer, PrependNormalizer,
  NFCNormalizer, NFDNormalizer, NFKCNormalizer, NFKDNormalizer,
} from '@huggingface/tokenizers';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const UCD = '/usr/share/unicode';
const GOLDEN = path.join(ROOT, 'tests', 'golden');
const U17 = path.join(ROOT, 'build', 'ucd-npm', 'node_modules', '@unicode', 'unicode-17.0.0');
const hex = (cps) => cps.map((c) => c.toString(16).toUpperCase().padStart(4, '0')).join(' ');
const cpsOf = (s) => [...s].map((c) => c.codePointAt(0));

// ---- NormalizationTest, Unicode 9.0 subset --------------------------------

function assigned90() {
  const set = new Uint8Array(0x110000);
  for (const line of fs.readFileSync(path.join(UCD, 'DerivedAge.txt'), 'utf8').split('\n')) {
    const m = /^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*(\d+)\.(\d+)/.exec(line);
    if (!m) continue;
    const ver = Number(m[3]) * 100 + Number(m[4]);
    if (ver > 900) continue;
    const lo = parseInt(m[1], 16), hi = parseInt(m[2] ?? m[1], 16);
    for (let c = lo; c <= hi; c++) set[c] = 1;
  }
  return set;
}

function normGolden() {
  const text = execFileSync('bzcat', [path.join(UCD, 'NormalizationTest.txt.bz2')],
    { encoding: 'utf8', maxBuffer: 1 << 26 });
  const lines = text.split('\n');
  const version = /^# (NormalizationTest-[\d.]+\.txt)/.exec(lines[0])[1];
  const old = assigned90();
  const out = [`# ${version}: the lines whose code points are all assigned in Unicode 9.0`,
    '# (written by tests/ref/unicode_ref.mjs).  Fields: source;NFC;NFD;NFKC;NFKD;',
    '# an empty field is the same as the field before it.'];
  let kept = 0, dropped = 0;
  for (const line of lines) {
    if (line.startsWith('@Part')) { out.push(line.split(' ')[0]); continue; }
    if (!line || line.startsWith('#')) continue;
    const cols = line.split(';').slice(0, 5).map((f) => f.trim().split(' ').map((h) => parseInt(h, 16)));
    if (!cols.every((col) => col.every((c) => old[c]))) { dropped++; continue; }
    const fields = cols.map((col, i) => (i > 0 && hex(col) === hex(cols[i - 1]) ? '' : hex(col)));
    out.push(fields.join(';'));
    kept++;
  }
  fs.writeFileSync(path.join(GOLDEN, 'unicode_norm.txt'), out.join('\n') + '\n');
  console.error(`unicode_norm.txt: ${kept} lines (${dropped} with later code points left out)`);
}

// ---- graphemes -------------------------------------------------------------

async function classPools() {
  const props = ['CR', 'LF', 'Control', 'Extend', 'ZWJ', 'Regional_Indicator', 'Prepend',
    'SpacingMark', 'L', 'V', 'T', 'LV', 'LVT', 'Other'].map((p) => `Grapheme_Cluster_Break/${p}`)
    .concat(['Binary_Property/Extended_Pictographic', 'Indic_Conjunct_Break/Consonant',
      'Indic_Conjunct_Break/Linker', 'Indic_Conjunct_Break/Extend']);
  const pools = [];
  for (const p of props) {
    const ranges = (await import(path.join(U17, p, 'ranges.mjs'))).default;
    const cps = [];
    for (const r of ranges)
      for (let c = r.begin; c < r.end && cps.length < 5000; c++)
        if (c < 0xD800 || c > 0xDFFF) cps.push(c);
    pools.push(cps);
  }
  return pools;
}

async function graphemeGolden() {
  if (process.versions.unicode !== '17.0')
    throw new Error(`node's ICU has Unicode ${process.versions.unicode}, 17.0 needed`);
  const inputs = [];
  for (const line of fs.readFileSync(path.join(UCD, 'auxiliary', 'GraphemeBreakTest.txt'), 'utf8').split('\n')) {
    if (!line.startsWith('÷')) continue;
    inputs.push(line.split('#')[0].match(/[0-9A-F]{4,6}/g).map((h) => parseInt(h, 16)));
  }
  const zwj = fs.readFileSync(path.join(UCD, 'emoji', 'emoji-zwj-sequences.txt'), 'utf8')
    .split('\n').filter((l) => /^[0-9A-F]/.test(l));
  for (let i = 0; i < zwj.length; i += 8) {   // pairs of sequences, some with a mark between
    const a = zwj[i].split(';')[0].trim().split(' ').map((h) => parseInt(h, 16));
    const b = zwj[(i + 1) % zwj.length].split(';')[0].trim().split(' ').map((h) => parseInt(h, 16));
    inputs.push(a.concat(i % 16 ? [] : [0x308], b));
  }
  const pools = await classPools();
  let seed = 20240601;
  const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let t = 0; t < 3000; t++) {
    const a = [];
    for (let k = 1 + rnd(8); k > 0; k--) { const p = pools[rnd(pools.length)]; a.push(p[rnd(p.length)]); }
    inputs.push(a);
  }
  const seg = new Intl.Segmenter('en', { granularity: 'grapheme' });
  const out = ['# Extended grapheme clusters by ICU ' + process.versions.icu + ' (Unicode ' +
    process.versions.unicode + '), written by tests/ref/unicode_ref.mjs.',
    '# Fields: code points;cluster lengths in code points.'];
  for (const a of inputs) {
    const lens = [...seg.segment(String.fromCodePoint(...a))].map((s) => [...s.segment].length);
    out.push(`${hex(a)};${lens.join(' ')}`);
  }
  fs.writeFileSync(path.join(GOLDEN, 'unicode_graphemes.txt'), out.join('\n') + '\n');
  console.error(`unicode_graphemes.txt: ${inputs.length} lines`);
}

// ---- scripts ---------------------------------------------------------------

function scriptGolden(rsPath) {
  const src = fs.readFileSync(rsPath, 'utf8');
  const cps = new Map();
  for (const m of src.matchAll(/0x([0-9A-F]+)(?:\.\.=0x([0-9A-F]+))? => Script::(\w+)/g)) {
    const lo = parseInt(m[1], 16), hi = parseInt(m[2] ?? m[1], 16);
    for (let c = lo; c <= hi; c++) cps.set(c, m[3]);
  }
  const out = ['# The Script table of Hugging Face tokenizers\' UnicodeScripts pre-tokenizer',
    '# (scripts.rs), written by tests/ref/unicode_ref.mjs.  Fields: first last name;',
    '# code points in no range are "Any".'];
  let run = null;
  const flush = () => { if (run) out.push(`${run[0].toString(16).toUpperCase()} ${run[1].toString(16).toUpperCase()} ${run[2]}`); };
  for (let c = 0; c < 0x110000; c++) {
    const s = cps.get(c);
    if (run && s === run[2] && run[1] === c - 1) { run[1] = c; continue; }
    flush();
    run = s ? [c, c, s] : null;
  }
  flush();
  fs.writeFileSync(path.join(GOLDEN, 'unicode_scripts.txt'), out.join('\n') + '\n');
  console.error(`unicode_scripts.txt: ${out.length - 3} ranges`);
}

// ---- simple normalizers ----------------------------------------------------

// White_Space, what Rust's char::is_whitespace tests (Strip trims these).
const RUST_WS = new Set([0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
  0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029,
  0x202F, 0x205F, 0x3000]);

// The Rust library's result where the JS port is known to differ, else null:
//  - Lowercase: Rust lowercases each code point alone (char::to_lowercase), JS's
//    String.toLowerCase maps a word-final capital sigma to final sigma;
//  - Strip: Rust trims White_Space; JS's trim also trims U+FEFF and not U+0085;
//  - Prepend: Rust prepends only to a non-empty text;
//  - StripAccents and NF*: Rust uses Unicode 9.0 data, JS the engine's newer
//    data; the samples below keep to Unicode 9.0 code points except the
//    marked cases, whose Rust result is written out by hand.
function rustRule(cfg, input) {
  const cps = cpsOf(input);
  switch (cfg.type) {
    case 'Lowercase':
      return [...input].map((c) => c.toLowerCase()).join('');
    case 'Strip': {
      let a = 0, b = cps.length;
      if (cfg.strip_left) while (a < b && RUST_WS.has(cps[a])) a++;
      if (cfg.strip_right) while (b > a && RUST_WS.has(cps[b - 1])) b--;
      return String.fromCodePoint(...cps.slice(a, b));
    }
    case 'Prepend':
      return input.length ? cfg.prepend + input : '';
    default:
      return null;
  }
}

const SAMPLES = ['', 'Hello World', '  \t padded\u3000 ', '\u0085 nel \u0085', '\uFEFFbom\uFEFF',
  'ÀÉÎÕÜ àéîõü Ññ Çç', 'e\u0301 a\u0308\u0323 o\u0328\u0304', 'ΣΑΣ ΌΔΟΣ σίσυφος', 'İstanbul ǅ ẞ',
  'ﬁ ﬀ ① ㎏ ｆｕｌｌ ½ ²', '한국어 \u1100\u1161\u11A8 \u1100\u1161\u11A7', 'Å Ω K \u212B',
  'ḍ̇ q̣̇ \u0958 \u1E9B\u0323', 'श्री क्ष', '𝐀𝐛𝐜 ℌ ℍ', 'Zürich\u200D\u0301',
  '\uA7CB\uA7DC \u{10D50}\u{16EA0}'];
const CONFIGS = [{ type: 'Lowercase' }, { type: 'Strip', strip_left: true, strip_right: true },
  { type: 'Strip', strip_left: true, strip_right: false },
  { type: 'Strip', strip_left: false, strip_right: true }, { type: 'StripAccents' },
  { type: 'Prepend', prepend: '▁' }, { type: 'NFC' }, { type: 'NFD' }, { type: 'NFKC' },
  { type: 'NFKD' }];
const CLASSES = {
  Lowercase: LowercaseNormalizer, Strip: StripNormalizer, StripAccents: StripAccentsNormalizer,
  Prepend: PrependNormalizer, NFC: NFCNormalizer, NFD: NFDNormalizer, NFKC: NFKCNormalizer,
  NFKD: NFKDNormalizer,
};
// Cases with code points assigned after Unicode 9.0: the Rust result by hand.
const LATER = [
  // U+1DF6 COMBINING KAVYKA ABOVE RIGHT (Mn, Unicode 10.0): no mark for Rust.
  [{ type: 'StripAccents' }, 'a\u0301\u1DF6b', 'a\u1DF6b'],
  // U+1DFA COMBINING DOT BELOW LEFT (ccc 218, Unicode 14.0) is a starter for
  // Rust, so it is not reordered and blocks the composition of e + U+0301.
  [{ type: 'NFC' }, 'e\u1DFA\u0301', 'e\u1DFA\u0301'],
  [{ type: 'NFD' }, 'é\u1DFA\u0323', 'e\u0301\u1DFA\u0323'],
  // U+A7F2 MODIFIER LETTER CAPITAL C (Unicode 14.0, <super> 0043): unchanged.
  [{ type: 'NFKC' }, '\uA7F2\u00B2', '\uA7F2' + '2'],
];

function simpleGolden() {
  const out = [];
  for (const cfg of CONFIGS) {
    const nz = new CLASSES[cfg.type](cfg);
    for (const input of SAMPLES) {
      const js = nz.normalize(input);
      const rust = rustRule(cfg, input);
      const rec = { normalizer: cfg, input, output: rust ?? js };
      if (rust !== null && rust !== js) { rec.rule = 'rust'; rec.js = js; }
      out.push(JSON.stringify(rec));
    }
  }
  for (const [cfg, input, output] of LATER) {
    const js = new CLASSES[cfg.type](cfg).normalize(input);
    out.push(JSON.stringify({ normalizer: cfg, input, output, rule: 'rust', js }));
  }
  fs.writeFileSync(path.join(GOLDEN, 'unicode_simple.jsonl'), out.join('\n') + '\n');
  console.error(`unicode_simple.jsonl: ${out.length} cases`);
}

normGolden();
await graphemeGolden();
if (process.argv[2]) scriptGolden(process.argv[2]);
simpleGolden();
