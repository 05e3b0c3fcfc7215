#!/usr/bin/env bash
# The main job: install what is needed, build, and run `peer demo` (two local peers connect
# over loopback and print their timeline). Extra arguments go to `peer demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
# Tests and benchmarks off only in a new build/: one that scripts/test.sh configured keeps
# them (flipping the options back and forth would make each script redo the other's work).
options=()
[ -f build/CMakeCache.txt ] || options=(-DPEER_BUILD_TESTS=OFF -DPEER_BUILD_BENCH=OFF)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${options[@]}" >/dev/null
cmake --build build --target peer-cli -j2
exec ./build/tools/peer demo "$@"
