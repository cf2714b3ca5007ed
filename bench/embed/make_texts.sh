#!/bin/sh
# make_texts.sh - writes the benchmark texts, one per line, deterministically:
#   bench/data/short.txt  short texts: the fortune cookies of Debian's
#                         fortunes-min package (/usr/share/games/fortunes/*),
#                         each joined to one line; 60..400 characters kept
#                         (about 30 tokens on average, 482 texts), shuffled
#                         with a fixed seed, first $SHORT_MAX (512)
#   bench/data/long.txt   long texts: paragraphs of the licence texts in
#                         /usr/share/common-licenses (Debian's base-files),
#                         consecutive paragraphs of one file joined until a text
#                         has at least 1800 characters (over 256 tokens, so the
#                         engine truncates them; 105 texts), shuffled with a
#                         fixed seed, first $LONG_MAX (128)
# Installs fortunes-min with apt-get when it is missing (needs root).
# Usage: sh bench/embed/make_texts.sh [OUTDIR]   (default bench/data)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/bench/data}
SHORT_MAX=${SHORT_MAX:-512}
LONG_MAX=${LONG_MAX:-128}

if [ ! -f /usr/share/games/fortunes/fortunes ]; then
    echo "make_texts: installing fortunes-min" >&2
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fortunes-min >/dev/null
fi
[ -d /usr/share/common-licenses ] || { echo "make_texts: /usr/share/common-licenses is missing" >&2; exit 1; }
mkdir -p "$out"

LC_ALL=C.UTF-8 /usr/bin/python3 - "$out" "$SHORT_MAX" "$LONG_MAX" <<'PY'
import os, random, re, sys

out, short_max, long_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def one_line(s):
    return re.sub(r"\s+", " ", s).strip()

def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")

# short: fortune cookies, '%' lines separate them
fdir = "/usr/share/games/fortunes"
short = []
for name in sorted(os.listdir(fdir)):
    p = os.path.join(fdir, name)
    if os.path.islink(p) or name.endswith(".dat") or not os.path.isfile(p):
        continue
    for cookie in re.split(r"^%\s*$", read(p), flags=re.M):
        t = one_line(cookie)
        if 60 <= len(t) <= 400:
            short.append(t)
# A fixed-seed shuffle, so that any first N texts (--max-texts) are a fair
# sample of the whole set.
random.Random(20240601).shuffle(short)
short = short[:short_max]

# long: licence paragraphs, joined per file to >= 1800 characters
ldir = "/usr/share/common-licenses"
long_ = []
for name in sorted(os.listdir(ldir)):
    p = os.path.join(ldir, name)
    if os.path.islink(p) or not os.path.isfile(p):
        continue
    cur = ""
    for para in re.split(r"\n\s*\n", read(p)):
        para = one_line(para)
        if not para:
            continue
        cur = (cur + " " + para).strip()
        if len(cur) >= 1800:
            long_.append(cur)
            cur = ""
random.Random(20240602).shuffle(long_)
long_ = long_[:long_max]

for fname, texts in (("short.txt", short), ("long.txt", long_)):
    path = os.path.join(out, fname)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in texts))
    avg = sum(len(t) for t in texts) / max(1, len(texts))
    print(f"make_texts: {path}: {len(texts)} texts, {avg:.0f} characters on average", file=sys.stderr)
PY
