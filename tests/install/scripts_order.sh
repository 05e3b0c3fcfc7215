#!/usr/bin/env bash
# The README's two commands, scripts/demo.sh and scripts/test.sh, in either order on a new
# build dir, and each run a second time. Running them for real is two full builds per
# order; what can go wrong between them is the configuration one leaves for the other
# (issue 14: demo.sh's cache once made test.sh find no test), so the scripts run as they
# are up to cmake's configure step (PEER_CONFIGURE_ONLY=1) in scratch build dirs
# (PEER_BUILD_DIR), and the checks are:
# - demo.sh then test.sh: the tests are configured (ctest -N lists some) and the gtest
#   binaries are build targets;
# - test.sh then demo.sh: demo.sh leaves the cache as test.sh made it (tests and
#   benchmarks still on: nothing for the next test.sh to reconfigure or rebuild), and
#   peer-cli, demo.sh's target, is there;
# - a second run of either changes no cache entry and installs nothing (apt, npm).
# The build, the suite and `peer demo` itself are what the rest of the suite runs.
set -euo pipefail
src=${1:?source dir}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
fail() { echo "scripts_order: $*" >&2; exit 1; }
run() {  # run SCRIPT DIR [again]: a README command up to its configure step, in DIR
  PEER_BUILD_DIR=$2 PEER_CONFIGURE_ONLY=1 bash "$src/scripts/$1" >"$scratch/$1.log" 2>&1 ||
    { cat "$scratch/$1.log"; fail "$1 failed"; }
  # The first run on a new machine or clone installs (apt, npm); a second never does.
  if [ "${3:-}" = again ] && grep -q 'deps: installing\|npm ci' "$scratch/$1.log"; then
    cat "$scratch/$1.log"
    fail "a second $1 installed packages"
  fi
}
cache() { grep -E '^(PEER_|CMAKE_BUILD_TYPE)' "$1/CMakeCache.txt" | sort; }
count() { ctest --test-dir "$1" -N | sed -n 's/^Total Tests: //p'; }
has_target() {  # has_target DIR TARGET: TARGET is in DIR's build graph
  ninja -C "$1" -t targets all >"$scratch/targets"
  grep -q "^$2:" "$scratch/targets"
}

# demo.sh, then test.sh.
a=$scratch/demo-then-test
run demo.sh "$a"
grep -qx 'PEER_BUILD_TESTS:BOOL=OFF' "$a/CMakeCache.txt" || fail "demo.sh should configure without tests"
run test.sh "$a"
n=$(count "$a")
[ "${n:-0}" -gt 0 ] || fail "test.sh after demo.sh: ctest finds no test"
has_target "$a" tests/unit_store || fail "test.sh after demo.sh: unit_store is not built"
before=$(cache "$a"); run test.sh "$a" again; [ "$(cache "$a")" = "$before" ] || fail "a second test.sh changed the cache"
echo "scripts_order: demo.sh then test.sh: $n tests listed before the build (gtest cases are added as they build)"

# test.sh, then demo.sh.
b=$scratch/test-then-demo
run test.sh "$b"
before=$(cache "$b")
run demo.sh "$b"
[ "$(cache "$b")" = "$before" ] || { diff <(echo "$before") <(cache "$b") || true; fail "demo.sh changed test.sh's cache"; }
has_target "$b" tools/peer || fail "demo.sh after test.sh: no peer-cli"
run demo.sh "$b" again; [ "$(cache "$b")" = "$before" ] || fail "a second demo.sh changed the cache"
echo "scripts_order: test.sh then demo.sh: the cache stays as test.sh made it, peer-cli configured"
