#!/usr/bin/env bash
# `peer recv-video` against `peer serve`: joining a room brings a bot that sends the test
# pattern; 30 frames of 640x480 must be written as Y4M: the header line, then per frame
# "FRAME\n" and 640*480*3/2 bytes of I420.
set -euo pipefail
peer=$1
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
"$peer" serve --listen 127.0.0.1:0 >"$dir/serve.out" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/serve.out")
[ -n "$port" ] || { echo "peer serve did not start"; cat "$dir/serve.out"; exit 1; }
"$peer" recv-video cli-video --server "ws://127.0.0.1:$port/" -o "$dir/out.y4m" --frames 30 --timeout 30
header=$(head -c 200 "$dir/out.y4m" | head -n 1)
echo "header: $header"
case "$header" in YUV4MPEG2\ W640\ H480\ *) ;; *) echo "unexpected Y4M header"; exit 1 ;; esac
size=$(stat -c %s "$dir/out.y4m")
want=$(( ${#header} + 1 + 30 * (6 + 640 * 480 * 3 / 2) ))
echo "size $size, want $want"
[ "$size" -eq "$want" ]
