#!/usr/bin/env bash
# One interop suite (run.js says which cases): installs what it needs when missing, then runs
# run.js in a network namespace of its own with only `lo`, so every ICE candidate is on
# 127.0.0.1/::1 and every process left over is killed when it ends.
#   run.sh SUITE PEER_BIN AGENT_BIN OUT_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=$1 peer=$2 agent=$3 out=$4
bash "$here/../../scripts/deps.sh" test >&2
mkdir -p "$out"
cmd=(node "$here/run.js" --suite "$suite" --peer "$peer" --agent "$agent" --out "$out")
if unshare --net --pid --fork --kill-child --mount-proc true 2>/dev/null; then
  exec unshare --net --pid --fork --kill-child --mount-proc bash -c 'ip link set lo up && exec "$@"' run.sh "${cmd[@]}"
fi
# Without the right to make namespaces (not root) the cases still pin every address to loopback.
echo "run.sh: no network namespace (unshare refused); running on this host's loopback" >&2
exec "${cmd[@]}"
