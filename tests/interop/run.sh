#!/usr/bin/env bash
# One interop suite (run.js says which cases): installs what it needs when missing, then runs
# run.js in a network namespace of its own with `lo` and a veth pair, so
# every ICE candidate is inside it and every process left over is killed when it ends.
#   run.sh SUITE PEER_BIN AGENT_BIN OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=$1 peer=$2 agent=$3 out=$4
bash "$here/../../scripts/deps.sh" test >&2
mkdir -p "$out"
cmd=(node "$here/run.js" --suite "$suite" --peer "$peer" --agent "$agent" --out "$out")
# Browsers gather no loopback candidates by default: every suite gets a veth pair in the
# namespace too, 10.9.0.1 (where interop_agent gathers) and 10.9.0.2, a non-loopback link on
# which Chromium and Firefox gather (behind mDNS names, their default) and multicast works.
setup='ip link set lo up && ip link add va type veth peer name vb && ip addr add 10.9.0.1/24 dev va &&
  ip addr add 10.9.0.2/24 dev vb && ip link set va up && ip link set vb up &&
  ip route add default via 10.9.0.2 dev va'
export PEER_INTEROP_ADDRESS=10.9.0.1
if unshare --net --pid --fork --kill-child --mount-proc true 2>/dev/null; then
  # Addresses on a new veth are usable at once for IPv4 (no duplicate address detection).
  exec unshare --net --pid --fork --kill-child --mount-proc bash -c "$setup"' && exec "$@"' run.sh "${cmd[@]}"
fi
unset PEER_INTEROP_ADDRESS
# Without the right to make namespaces (not root) the cases still pin every address to loopback.
echo "run.sh: no network namespace (unshare refused); running on this host's loopback" >&2
exec "${cmd[@]}"
