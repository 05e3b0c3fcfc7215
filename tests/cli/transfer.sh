#!/bin/bash
# `peer send` / `peer recv` through a real `peer signal`.
#   transfer.sh PEER big      200 MiB arrive intact (sha-256 compared), both exit 0
#   transfer.sh PEER refuse   an existing file is refused without --force: it stays
#                             untouched and both processes exit non-zero, saying why
set -u
mode=$2
source "$(dirname "$0")/lib.sh" "$1"
mkdir "$dir/in" "$dir/out"
run() {  # run ROOM: recv into out/, send in/data.bin; sets recv_rc, send_rc
  "$peer" recv "$1" -o "$dir/out" --server "$url" --timeout 30 2>"$dir/recv.log" &
  local r=$!
  pids+=($r)
  "$peer" send "$dir/in/data.bin" "$1" --server "$url" --timeout 30 2>"$dir/send.log"
  send_rc=$?
  wait $r; recv_rc=$?
  echo "--- send (exit $send_rc)"; cat "$dir/send.log"
  echo "--- recv (exit $recv_rc)"; cat "$dir/recv.log"
}
if [ "$mode" = big ]; then
  head -c $((200 << 20)) /dev/urandom >"$dir/in/data.bin"
  run big
  a=$(sha256sum <"$dir/in/data.bin"); b=$(sha256sum <"$dir/out/data.bin")
  echo "sent $a"; echo "got  $b"
  [ "$send_rc" = 0 ] && [ "$recv_rc" = 0 ] && [ "$a" = "$b" ] && [ -z "$(ls -A "$dir/out" | grep -v '^data.bin$')" ]
else
  head -c 100000 /dev/urandom >"$dir/in/data.bin"
  echo "the original contents" >"$dir/out/data.bin"
  run refuse
  [ "$send_rc" != 0 ] && [ "$recv_rc" != 0 ] &&
    [ "$(cat "$dir/out/data.bin")" = "the original contents" ] &&
    grep -q "refused.*exists" "$dir/send.log" && grep -q "exists" "$dir/recv.log" &&
    [ "$(ls -A "$dir/out")" = data.bin ]
fi
