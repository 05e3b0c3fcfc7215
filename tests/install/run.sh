#!/usr/bin/env bash
# Installs the built library into a scratch prefix, then builds and runs a consumer that
# finds it with find_package(peer), and the same consumer built with pkg-config's flags.
set -euo pipefail
build=${1:?build dir}; src=${2:?source dir}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
cmake -S "$src/tests/install" -B "$scratch/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
"$scratch/consumer/consumer"
# The same consumer through pkg-config (peer.pc), compiled by hand as a Makefile would.
pcdir=$(dirname "$(find "$scratch/prefix" -name peer.pc | head -1)")
[ -n "$pcdir" ] || { echo "install: no peer.pc installed" >&2; exit 1; }
# shellcheck disable=SC2046
c++ "$src/tests/install/main.cpp" -o "$scratch/consumer-pc" \
  $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs peer)
"$scratch/consumer-pc"
