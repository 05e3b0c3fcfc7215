#!/usr/bin/env bash
# The main job: install what is needed, build, and run `peer demo` (two local peers connect
# over loopback and print their timeline). Extra arguments go to `peer demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPEER_BUILD_TESTS=OFF -DPEER_BUILD_BENCH=OFF >/dev/null
cmake --build build --target peer-cli -j2
exec ./build/tools/peer demo "$@"
