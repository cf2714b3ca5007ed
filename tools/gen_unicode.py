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

Per-code-point data:
  canonical combining class (ranges), full recursive canonical decomposition
  (Hangul syllables are decomposed algorithmically in C, not tabulated), and
  the full lowercase mapping of a lone code point (what Rust's
  char::to_lowercase gives: no context such as final sigma; U+0130 maps to
  two code points).

The "assigned in Unicode <= 8.0" filter needs the Age property, which Python
does not expose; it is read from Perl's Unicode::UCD, whose Unicode version
must equal Python's.

Usage: python3 tools/gen_unicode.py [output_dir]   (default: src/text)
"""

import os
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

F_CONTROL, F_WSPACE, F_PUNCT, F_MN, F_WORD = 1, 2, 4, 8, 16


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


def is_hangul_syllable(cp):
    return 0xAC00 <= cp <= 0xD7A3


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src", "text")
    ages = age_table()

    flag_vals, ccc_vals, decomp, lower = [], [], [], []
    for cp in range(MAX_CP + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        f = flags_of(cp, cat, ages[cp])
        if f:
            flag_vals.append((cp, f))
        ccc = unicodedata.combining(ch)
        if ccc:
            ccc_vals.append((cp, ccc))
        if not is_hangul_syllable(cp):
            d = full_decomp(cp)
            if d != [cp]:
                decomp.append((cp, d))
        lo = [ord(c) for c in ch.lower()]
        if lo != [cp]:
            lower.append((cp, lo))

    flag_ranges = ranges_of(flag_vals)
    ccc_ranges = ranges_of(ccc_vals)

    pool = []
    decomp_rows = []
    for cp, d in decomp:
        assert len(d) <= 4
        decomp_rows.append((cp, len(pool), len(d)))
        pool.extend(d)
    lower_rows = []
    lower_pool = []
    for cp, lo in lower:
        if len(lo) == 1:
            lower_rows.append((cp, lo[0]))
        else:
            assert len(lo) <= 3
            lower_rows.append((cp, 0x80000000 | (len(lo) << 24) | len(lower_pool)))
            lower_pool.extend(lo)

    ver = unicodedata.unidata_version
    h = os.path.join(outdir, "unicode_tables.h")
    c = os.path.join(outdir, "unicode_tables.c")
    with open(h, "w") as f:
        f.write(f"""/*
 * unicode_tables.h - Unicode {ver} data for the BERT normaliser and
 * pre-tokeniser (declarations).  GENERATED by tools/gen_unicode.py; do not
 * edit by hand, re-run the generator.  See that script for why each class is
 * defined the way it is (they mirror Hugging Face tokenizers' definitions).
 */
#ifndef AK_UNICODE_TABLES_H
#define AK_UNICODE_TABLES_H

#include <stdint.h>

#define AKU_UNICODE_VERSION "{ver}"

enum {{
    AKU_CONTROL = {F_CONTROL},  /* Cc|Cf|Co as HF's BertNormalizer sees them */
    AKU_WSPACE = {F_WSPACE},   /* White_Space                                */
    AKU_PUNCT = {F_PUNCT},    /* P* (Unicode 8.0 set)                       */
    AKU_MN = {F_MN},       /* Mn (Unicode 8.0 set)                       */
    AKU_WORD = {F_WORD}     /* regex \\\\w                                   */
}};

/* Sorted, disjoint code point ranges with a value. */
typedef struct aku_range {{
    uint32_t lo, hi;
    uint8_t val;
}} aku_range;

/* Canonical full decomposition of cp: pool[off .. off+len). */
typedef struct aku_decomp {{
    uint32_t cp;
    uint16_t off;
    uint8_t len;
}} aku_decomp;

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
extern const aku_lower_map aku_lowers[];
extern const uint32_t aku_lowers_n;
extern const uint32_t aku_lower_pool[];

#endif /* AK_UNICODE_TABLES_H */
""")
    with open(c, "w") as f:
        f.write(f"""/*
 * unicode_tables.c - Unicode {ver} data for the BERT normaliser and
 * pre-tokeniser.  GENERATED by tools/gen_unicode.py from Python's unicodedata
 * (and Perl's Age property); do not edit by hand, re-run the generator.
 */
#include "unicode_tables.h"

""")

        def emit(name, ctype, rows, fmt, per_line):
            f.write(f"const {ctype} {name}[] = {{\n")
            for i in range(0, len(rows), per_line):
                f.write("    " + " ".join(fmt(r) for r in rows[i:i + per_line]) + "\n")
            f.write("};\n")

        fl = dict(flag_vals)
        emit("aku_ascii_flags", "uint8_t", [fl.get(cp, 0) for cp in range(128)],
             lambda v: "%d," % v, 16)
        emit("aku_flag_ranges", "aku_range", flag_ranges,
             lambda r: "{0x%X, 0x%X, %d}," % tuple(r), 4)
        f.write(f"const uint32_t aku_flag_ranges_n = {len(flag_ranges)};\n\n")
        emit("aku_ccc_ranges", "aku_range", ccc_ranges,
             lambda r: "{0x%X, 0x%X, %d}," % tuple(r), 4)
        f.write(f"const uint32_t aku_ccc_ranges_n = {len(ccc_ranges)};\n\n")
        emit("aku_decomps", "aku_decomp", decomp_rows,
             lambda r: "{0x%X, %d, %d}," % r, 5)
        f.write(f"const uint32_t aku_decomps_n = {len(decomp_rows)};\n")
        emit("aku_decomp_pool", "uint32_t", pool, lambda v: "0x%X," % v, 10)
        f.write("\n")
        emit("aku_lowers", "aku_lower_map", lower_rows,
             lambda r: "{0x%X, 0x%X}," % r, 5)
        f.write(f"const uint32_t aku_lowers_n = {len(lower_rows)};\n")
        emit("aku_lower_pool", "uint32_t", lower_pool, lambda v: "0x%X," % v, 10)
    print(f"flag ranges {len(flag_ranges)}, ccc ranges {len(ccc_ranges)}, "
          f"decompositions {len(decomp_rows)} (pool {len(pool)}), "
          f"lowercase {len(lower_rows)} (pool {len(lower_pool)})")


if __name__ == "__main__":
    main()
