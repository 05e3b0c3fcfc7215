#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then builds and runs a consumer that
# finds it with find_package(peer), and the same consumer built with pkg-config's flags.
set -euo pipefail
build=${1:?build dir}; src=${2:?source dir}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
bash "$src/tests/install/consumer.sh" "$scratch/prefix" "$src" "$scratch"
