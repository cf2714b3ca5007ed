#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it (.ci/run calls this file):
#   1. installs missing Debian packages (scripts/deps.sh --test)
#   2. release build + every ctest test, including the PyTorch exactness peer
#   3. ASan/UBSan build + the tests again on reduced sizes
#   4. every fuzz target over its committed seed corpus (regression run)
# Ends with ctest's summary lines and a final "N passed, N failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)

bash scripts/deps.sh --test || exit 1

passed=0
failed=0
stage() {   # stage NAME CMD...: runs one stage and counts it
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "=== FAILED: $name"; fi
}

release() {
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null &&
  cmake --build build/release -j"$jobs" &&
  (cd build/release && ctest --output-on-failure -j"$jobs" --timeout 900)
}

sanitize() {
  CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DAKIDB_SANITIZE=ON >/dev/null &&
  cmake --build build/asan -j"$jobs" &&
  (cd build/asan && AKIDB_TEST_QUICK=1 AKIDB_REF_QUICK=1 \
     ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs" --timeout 1500)
}

fuzz_regress() {
  CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DAKIDB_FUZZ=ON >/dev/null &&
  cmake --build build/fuzz -j"$jobs" || return 1
  local ok=0 t
  for t in build/fuzz/fuzz/fuzz_*; do
    [[ -x "$t" ]] || continue
    local name corpus
    name=$(basename "$t")
    corpus="$root/fuzz/corpus/$name"
    [[ -d "$corpus" ]] || { echo "no seed corpus for $name"; ok=1; continue; }
    echo "--- $name over $(ls "$corpus" | wc -l) seeds"
    (cd "$root" && "$t" -runs=0 "$corpus") >/dev/null 2>build/fuzz/$name.log ||
      { cat "build/fuzz/$name.log"; ok=1; }
  done
  return $ok
}

stage "release build and tests" release
stage "sanitizer build and tests" sanitize
stage "fuzz targets over seed corpora" fuzz_regress

echo "suite: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
