#!/bin/sh
# gen_models.sh - ctest fixture embed_ref_models: makes the reference models
# and embeddings of tests/ref/make_models.py in OUT (the build's ref_models),
# once: a stamp with the hash of the script, the golden ids, the tokenizer
# files and the mode skips the run when nothing changed.  With
# AKIDB_REF_QUICK=1 only the models of the quick subset are made.
# Fails (does not skip) when /usr/bin/python3 lacks PyTorch.
#
# Usage: sh tests/ref/gen_models.sh OUT
set -eu
out=${1:?usage: gen_models.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
py=${AKIDB_PYTHON:-/usr/bin/python3}
mode=full
args=
case ${AKIDB_REF_QUICK:-0} in 0|"") ;; *) mode=quick; args=--quick ;; esac

stamp=$(cat "$here/make_models.py" "$src/tests/golden/embed_corpus_ids.jsonl" \
            "$src"/tests/data/minilm/* 2>/dev/null | sha256sum | cut -d' ' -f1)
stamp="$stamp $mode"
complete=no
if [ -f "$out/manifest.txt" ] && [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
    complete=yes
    for name in $(sed -n 's/^model \([^ ]*\) .*/\1/p' "$out/manifest.txt"); do
        [ -f "$out/$name/.stamp" ] || complete=no
    done
fi
if [ $complete = yes ]; then
    echo "reference models in $out are up to date"
    exit 0
fi
if ! "$py" -c 'import torch, numpy' 2>/dev/null; then
    echo "FAIL: $py cannot import torch and numpy, so the reference embeddings" >&2
    echo "      cannot be made: apt-get install python3-torch python3-numpy" >&2
    exit 1
fi
rm -f "$out/.stamp"
"$py" "$here/make_models.py" --out "$out" $args
echo "$stamp" > "$out/.stamp"
