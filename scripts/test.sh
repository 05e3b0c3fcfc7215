#!/usr/bin/env bash
# The whole test suite: install what the tests need, build, run ctest.
#   scripts/test.sh             gcc, RelWithDebInfo, in build/
#   scripts/test.sh --sanitize  clang with -fsanitize=address,undefined in build-asan/, then
#                               every libFuzzer target for a short run on its seed corpus
# PEER_BUILD_DIR (default build) and PEER_CONFIGURE_ONLY=1 (stop after cmake's configure
# step) are for tests/install/scripts_order.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
dir=${PEER_BUILD_DIR:-build}

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
# Tests on whatever the build dir holds (scripts/demo.sh configures it without them); a run
# that finds no test fails (--no-tests=error) instead of passing empty.
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEER_BUILD_TESTS=ON -DPEER_BUILD_BENCH=ON >/dev/null
[ "${PEER_CONFIGURE_ONLY:-0}" = 1 ] && exit 0
cmake --build "$dir" -j$jobs
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j$jobs -LE field
# The field suite (tests/field): cells mostly wait on impaired links and 3-minute holds, so
# they run side by side.
ctest --test-dir "$dir" --output-on-failure --no-tests=error -j8 -L field
