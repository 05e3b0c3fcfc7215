# Sourced by the CLI tests: a scratch directory and a real `peer signal` on a free
# loopback port. Sets $dir, $url; everything started is killed on exit.
peer=$1
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
"$peer" signal --listen 127.0.0.1:0 >"$dir/server.out" 2>"$dir/server.log" &
pids+=($!)
for _ in $(seq 300); do grep -q "listening on" "$dir/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir/server.out")
[ -n "$port" ] || { echo "peer signal did not start"; cat "$dir/server.log"; exit 1; }
url="ws://127.0.0.1:$port/"
