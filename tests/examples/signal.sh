#!/usr/bin/env bash
# examples/signal.cpp: two processes meet through a `peer signal` on 127.0.0.1 (a free
# port, started by tests/cli/lib.sh), each gets the other's hello and both exit 0.
set -euo pipefail
example=${1:?signal example}
# shellcheck source=../cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh" "${2:?peer command}"
"$example" example-room "$url" >"$dir/first.out" 2>&1 & first=$!
"$example" example-room "$url" >"$dir/second.out" 2>&1 & second=$!
rc=0
wait "$first" || rc=1
wait "$second" || rc=1
cat "$dir/first.out" "$dir/second.out"
[ "$(cat "$dir/first.out" "$dir/second.out" | grep -c '^received: hello from process')" = 2 ] || rc=1
exit $rc
