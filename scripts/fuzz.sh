#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR for SECONDS on a scratch copy of its seed
# corpus (tests/fuzz/corpus/<name>), so new inputs never land in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?build dir}; seconds=${2:-20}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
found=0
for target in "$dir"/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target"); name=${name#fuzz_}
  mkdir -p "$scratch/$name"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$scratch/$name/"
  echo "fuzz: $name for ${seconds}s"
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$scratch/$name" 2>"$scratch/$name.log" || { tail -50 "$scratch/$name.log"; exit 1; }
  grep -E '^stat::number_of_executed_units' "$scratch/$name.log" || true
  found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "fuzz: no targets in $dir/tests/fuzz" >&2; exit 1; }
echo "fuzz: $found targets ran clean"
