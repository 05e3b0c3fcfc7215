#!/usr/bin/env bash
# The whole test suite: install what the tests need, build, run ctest.
#   scripts/test.sh             gcc, RelWithDebInfo, in build/
#   scripts/test.sh --sanitize  clang with -fsanitize=address,undefined in build-asan/, then
#                               every libFuzzer target for a short run on its seed corpus
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2

if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/deps.sh sanitize
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DPEER_SANITIZE=ON -DPEER_FUZZ=ON -DPEER_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j$jobs
  ctest --test-dir build-asan --output-on-failure --no-tests=error -j$jobs
  bash scripts/fuzz.sh build-asan "${PEER_FUZZ_SECONDS:-20}"
  exit 0
fi

bash scripts/deps.sh test
# Tests on whatever build/ holds (scripts/demo.sh configures it without them); a run that
# finds no test fails (--no-tests=error) instead of passing empty.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEER_BUILD_TESTS=ON -DPEER_BUILD_BENCH=ON >/dev/null
cmake --build build -j$jobs
ctest --test-dir build --output-on-failure --no-tests=error -j$jobs -LE field
# The field suite (tests/field): cells mostly wait on impaired links and 3-minute holds, so
# they run side by side.
ctest --test-dir build --output-on-failure --no-tests=error -j8 -L field
