#!/bin/sh
# make_spm.sh - remakes the sentencepiece fixtures of test_tok_unigram:
# the models in tests/data/spm (with --train: trained again with spm_train)
# and the goldens tests/golden/spm_*.jsonl, with sentencepiece as the
# reference (see make_spm.py for what is compared and the documented
# differences between sentencepiece and Hugging Face tokenizers).
#
# Usage: sh tests/ref/make_spm.sh [--train]
# Needs Debian's sentencepiece, python3-sentencepiece and python3-regex:
#   apt-get install sentencepiece python3-sentencepiece python3-regex
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${AKIDB_PYTHON:-/usr/bin/python3}
for need in spm_train spm_normalize; do
    command -v "$need" >/dev/null || { echo "FAIL: $need not found (apt-get install sentencepiece)" >&2; exit 1; }
done
if ! "$py" -c 'import sentencepiece, regex' 2>/dev/null; then
    echo "FAIL: $py needs python3-sentencepiece and python3-regex" >&2
    exit 1
fi
"$py" "$here/make_spm.py" "$@"
sh "$here/pack_goldens.sh"
