#!/usr/bin/env bash
# The main job: install what is needed, build, and run `peer demo` (two local peers connect
# over loopback and print their timeline). Extra arguments go to `peer demo`.
# PEER_BUILD_DIR (default build) and PEER_CONFIGURE_ONLY=1 (stop after cmake's configure
# step) are for tests/install/scripts_order.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${PEER_BUILD_DIR:-build}
bash scripts/deps.sh build
# Tests and benchmarks off only in a new build dir: one that scripts/test.sh configured keeps
# them (flipping the options back and forth would make each script redo the other's work).
options=()
[ -f "$dir/CMakeCache.txt" ] || options=(-DPEER_BUILD_TESTS=OFF -DPEER_BUILD_BENCH=OFF)
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${options[@]}" >/dev/null
[ "${PEER_CONFIGURE_ONLY:-0}" = 1 ] && exit 0
cmake --build "$dir" --target peer-cli -j2
exec "$dir/tools/peer" demo "$@"
