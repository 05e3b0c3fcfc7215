#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then configures, builds and runs a
# consumer project that finds it with find_package(peer).
set -euo pipefail
build=${1:?build dir}; src=${2:?source dir}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$src/tests/install" -B "$scratch/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
"$scratch/consumer/consumer"
