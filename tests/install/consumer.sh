#!/usr/bin/env bash
# Builds and runs the consumer (tests/install/main.cpp) against an installed peer under
# PREFIX: once with find_package(peer), once with pkg-config's flags (peer.pc) as a
# Makefile would. Used by run.sh (cmake --install) and deb.sh (the .deb unpacked).
set -euo pipefail
prefix=${1:?installed prefix}; src=${2:?source dir}; scratch=${3:?scratch dir}
cmake -S "$src/tests/install" -B "$scratch/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
"$scratch/consumer/consumer"
pcdir=$(dirname "$(find "$prefix" -name peer.pc | head -1)")
[ "$pcdir" != . ] || { echo "install: no peer.pc under $prefix" >&2; exit 1; }
# peer.pc finds its prefix from where it lies, so no PKG_CONFIG_SYSROOT_DIR is needed.
# shellcheck disable=SC2046
c++ "$src/tests/install/main.cpp" -o "$scratch/consumer-pc" \
  $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs peer)
"$scratch/consumer-pc"
