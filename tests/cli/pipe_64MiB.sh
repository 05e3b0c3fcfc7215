#!/bin/bash
# Two `peer pipe` processes through a real `peer signal` server (a free loopback port)
# move 64 MiB in each direction at once; the sha-256 of what each side sent must equal
# that of what the other side wrote to its stdout.
set -u
mib=${2:-64}
source "$(dirname "$0")/lib.sh" "$1"
head -c $((mib << 20)) /dev/urandom >"$dir/a.in"
head -c $((mib << 20)) /dev/urandom >"$dir/b.in"
"$peer" pipe room1 --server "$url" --timeout 30 <"$dir/a.in" >"$dir/a.out" 2>"$dir/a.log" &
a=$!
"$peer" pipe room1 --server "$url" --timeout 30 <"$dir/b.in" >"$dir/b.out" 2>"$dir/b.log" &
b=$!
pids+=($a $b)
wait $a; a_rc=$?
wait $b; b_rc=$?
echo "--- a (exit $a_rc)"; cat "$dir/a.log"
echo "--- b (exit $b_rc)"; cat "$dir/b.log"
sums=$(cd "$dir" && sha256sum a.in b.out b.in a.out)
echo "$sums"
read -r a_in _ b_out _ b_in _ a_out _ <<<"$(echo $sums)"
[ "$a_rc" = 0 ] && [ "$b_rc" = 0 ] && [ "$a_in" = "$b_out" ] && [ "$b_in" = "$a_out" ] && echo "(match)"
