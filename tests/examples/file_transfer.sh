#!/usr/bin/env bash
# examples/file_transfer.cpp: 8 MiB of random bytes arrive intact.
set -euo pipefail
example=${1:?file_transfer example}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
head -c $((8 << 20)) /dev/urandom >"$scratch/in"
"$example" "$scratch/in" "$scratch/out"
cmp "$scratch/in" "$scratch/out"
echo "file_transfer: 8 MiB intact"
