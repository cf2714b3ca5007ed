// make_fortunes.mjs - the English corpus of the tokenizer benchmark: the
// fortune cookies of Debian's `fortunes` package, one per line as a JSON
// string (the format of tests/data/tok_multilingual.txt), their line breaks
// kept inside the text.
//
//   node bench/tok/make_fortunes.mjs [DIR] [N] > fortunes.jsonl
//
// DIR (default /usr/share/games/fortunes): every file without an extension,
// in name order, split at lines holding only "%".  N (default 4000): that
// many cookies, evenly spaced over all of them (deterministic).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2] || "/usr/share/games/fortunes";
const want = Number(process.argv[3] || 4000);
const all = [];
for (const name of readdirSync(dir).sort()) {
  const path = join(dir, name);
  if (name.includes(".") || !statSync(path).isFile()) continue;
  for (const c of readFileSync(path, "utf8").split(/\n%\n/)) {
    const t = c.replace(/\n+$/, "").replace(/^%\n/, "");
    if (t.trim()) all.push(t);
  }
}
if (!all.length) {
  console.error(`make_fortunes: no fortunes under ${dir}`);
  process.exit(1);
}
const n = Math.min(want, all.length);
const out = [];
for (let i = 0; i < n; i++) out.push(JSON.stringify(all[Math.floor((i * all.length) / n)]));
process.stdout.write(out.join("\n") + "\n");
console.error(`make_fortunes: ${n} of ${all.length} cookies`);
