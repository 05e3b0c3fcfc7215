#!/bin/bash
# One cell of the field suite (tests/field/README.md): a world of network namespaces
# (world.sh), two real `peer` processes on hosts h1 and h2 behind their routers, and a pass
# rule. Usage: cell.sh PEER LINK CELL ROLE
#   CELL  clean lossy hostile duplicate slow outage cone symmetric-udp symmetric-tcp
#         symmetric-tls negative; symmetric-udp-all symmetric-tcp-all (no --relay-only); soak
#   ROLE  offer: the prober on h1 makes the offer; answer: it answers
# The prober is `peer echo --probe` on h1; h2 runs the partner. Signaling of the echo pair is
# their stdio, joined by FIFOs (out of band: the cell measures the media path, not the
# signaling); `peer send`/`recv` go through `peer signal` in s. PEER_FIELD_SEED=N repeats a run's link decisions.
set -u
PEER=$1
LINK=$2
CELL=$3
ROLE=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/world.sh"

# Without root there are no namespaces to make: skipped (77, SKIP_RETURN_CODE in CMake).
[ "$(id -u)" = 0 ] || { echo "field: skipped: needs root (network namespaces, iptables)"; exit 77; }
FIELD_DIR=/tmp/peer-field-$$  # the PID lets field_sweep tell a dead test's directory
rm -rf "$FIELD_DIR" && mkdir -p "$FIELD_DIR"
cleanup() {
  world_down
  rm -rf "$FIELD_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
field_sweep

# CELL-chromium: the same cell with Chromium as h2's partner (chromium_partner.js).
partner=peer
case "$CELL" in *-chromium) partner=chromium CELL=${CELL%-chromium} ;; esac

SEED=${PEER_FIELD_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "field: cell $CELL, role $ROLE, partner $partner, seed $SEED"
started=$(date +%s.%N)

fail() {
  echo "field: FAILED $CELL/$ROLE (partner $partner): $*"
  echo "field: repeat with PEER_FIELD_SEED=$SEED"
  for f in prober.log partner.log send.log recv.log link.log link.stats; do
    [ -s "$FIELD_DIR/$f" ] && { echo "--- $f"; tail -40 "$FIELD_DIR/$f"; }
  done
  exit 1
}

mode=route
link_args=()
ice_args=()
probe_args=(--probe 200)
expect=pass
case "$CELL" in
  clean) ;;
  lossy)
    link_args=(--loss 0.05 --delay-ms 30 --jitter-ms 10)
    probe_args+=(--hold 180)
    ;;
  hostile)
    link_args=(--loss 0.2 --reorder 0.1 --delay-ms 10)
    probe_args+=(--max-size 1200 --hold 180)
    ;;
  duplicate) link_args=(--duplicate 0.05) ;;
  slow) link_args=(--rate-bps 20000000 --delay-ms 50) ;;
  outage) probe_args+=(--interval 100 --hold 45) ;;
  cone)
    mode=cone
    ice_args=(--ice-server "stun:$PUBLIC_S:3478")
    ;;
  symmetric-udp | symmetric-tcp)
    # --relay-only: relayed candidates only (the -all cells below keep the others too).
    mode=symmetric
    ice_args=(--ice-server "turn:$PUBLIC_S:3478?transport=${CELL#symmetric-}" --ice-username "$TURN_USER"
      --ice-credential "$TURN_PASSWORD" --relay-only)
    ;;
  symmetric-udp-all | symmetric-tcp-all)
    mode=symmetric
    transport=${CELL#symmetric-}
    ice_args=(--ice-server "turn:$PUBLIC_S:3478?transport=${transport%-all}" --ice-username "$TURN_USER"
      --ice-credential "$TURN_PASSWORD")
    ;;
  symmetric-tls)
    mode=symmetric
    ice_args=(--ice-server "turns:$PUBLIC_S:5349" --ice-username "$TURN_USER" --ice-credential "$TURN_PASSWORD")
    ;;
  soak)
    # Not in CI (tests/field/soak.sh): 30 minutes at 20% loss + reordering, a message every
    # 100 ms each way (the partner echoes each).
    link_args=(--loss 0.2 --reorder 0.1 --delay-ms 10)
    probe_args=(--probe 18000 --interval 100 --max-size 1200 --hold 1800)
    ;;
  negative)
    mode=symmetric
    ice_args=(--ice-server "stun:$PUBLIC_S:3478")
    expect=fail
    ;;
  *) fail "unknown cell" ;;
esac
# PEER_FIELD_HOLD=S replaces a cell's hold (to repeat a cell quickly while debugging).
if [ -n "${PEER_FIELD_HOLD:-}" ]; then
  for i in "${!probe_args[@]}"; do
    [ "${probe_args[$i]}" = --hold ] && probe_args[$((i + 1))]=$PEER_FIELD_HOLD
  done
fi
case "$ROLE" in
  offer) prober_role=offer partner_role=answer ;;
  answer) prober_role=answer partner_role=offer ;;
  *) fail "unknown role" ;;
esac

world_up "$mode" --seed "$SEED" "${link_args[@]}" || fail "could not build the world"
if [ "$CELL" = symmetric-tls ]; then
  turn_up --no-udp --no-tcp || fail "coturn"  # only TLS: a plain TCP client is refused
  # The certificate is checked, as a user's would be: the server's own self-signed one is
  # the trust store of both peers, and it names the server's IP (turn_up in world.sh).
  export SSL_CERT_FILE="$FIELD_DIR/turn.crt"
else
  turn_up || fail "coturn"
fi

# The echo pair, signaled through two FIFOs.
mkfifo "$FIELD_DIR/to_prober" "$FIELD_DIR/to_partner"
if [ "$partner" = chromium ]; then
  # Chromium takes the same TURN server (all policies: it finds the relay by itself).
  servers='[]'
  case "$CELL" in symmetric-udp)
    servers="[{\"urls\":\"turn:$PUBLIC_S:3478?transport=udp\",\"username\":\"$TURN_USER\",\"credential\":\"$TURN_PASSWORD\"}]" ;;
  esac
  in_ns h2 node "$here/chromium_partner.js" --role "$partner_role" --ice-servers "$servers" \
    --profile "$FIELD_DIR/chromium-profile" \
    <"$FIELD_DIR/to_partner" >"$FIELD_DIR/to_prober" 2>"$FIELD_DIR/partner.log" &
else
  in_ns h2 "$PEER" echo --role "$partner_role" --signal stdio --address 10.2.0.2 --timeout 40 "${ice_args[@]}" \
    <"$FIELD_DIR/to_partner" >"$FIELD_DIR/to_prober" 2>"$FIELD_DIR/partner.log" &
fi
in_ns h1 "$PEER" echo --role "$prober_role" --signal stdio --address 10.1.0.2 --timeout 40 "${ice_args[@]}" \
  "${probe_args[@]}" >"$FIELD_DIR/to_partner" <"$FIELD_DIR/to_prober" 2>"$FIELD_DIR/prober.log" &
prober=$!

if [ "$CELL" = outage ]; then
  # 3 s after the connection is up, the link drops everything for 10 s; the probe (one message
  # every 100 ms) goes on meanwhile, so messages are sent during the outage.
  for _ in $(seq 400); do grep -q "connected:" "$FIELD_DIR/prober.log" && break; sleep 0.1; done
  sleep 3
  kill -USR1 "$FIELD_LINK_PID"
  sleep 10
  kill -USR1 "$FIELD_LINK_PID"
fi

wait $prober
prober_rc=$?
elapsed=$(echo "$(date +%s.%N) - $started" | bc)
result=$(sed -n 's/^peer echo: result //p' "$FIELD_DIR/prober.log" | tail -1)

if [ "$expect" = fail ]; then
  [ "$prober_rc" = 1 ] || fail "expected the connection to fail (exit 1), got exit $prober_rc"
  grep -q "no candidate pair works" "$FIELD_DIR/prober.log" || fail "the error does not say that no candidate pair worked"
  line="field: result cell=$CELL role=$ROLE partner=$partner ok=true failed_as_expected_after_s=$elapsed"
  echo "$line"
  [ -n "${PEER_FIELD_RESULTS:-}" ] && echo "$line" >>"$PEER_FIELD_RESULTS"
  exit 0
fi
[ "$prober_rc" = 0 ] || fail "the prober exited $prober_rc"
[ -n "$result" ] || fail "no result line"
pair_local=$(echo "$result" | jq -r '.pair.local')
pair_remote=$(echo "$result" | jq -r '.pair.remote')
case "$CELL" in
  cone)
    case "$pair_remote" in srflx* | prflx*) ;; *) fail "selected pair not srflx/prflx: $pair_remote" ;; esac
    ;;
  symmetric-*)
    case "$pair_local $pair_remote" in *relay*) ;; *) fail "selected pair not relayed: $pair_local / $pair_remote" ;; esac
    ;;
  slow)
    open_ms=$(echo "$result" | jq -r '.open_after_connected_ms')
    [ "$(echo "$open_ms <= 500" | bc)" = 1 ] || fail "the channel opened $open_ms ms after the connection was up"
    ;;
esac

if [ "$CELL" = slow ]; then
  # 16 MiB through `peer signal` in s, sender on h1; the one that joins first offers.
  signal_up || fail "peer signal"
  head -c $((16 << 20)) /dev/urandom >"$FIELD_DIR/data.bin"
  mkdir "$FIELD_DIR/out"
  send=(in_ns h1 "$PEER" send "$FIELD_DIR/data.bin" field --server "$SIGNAL_URL" --address 10.1.0.2 --timeout 40 --quiet)
  recv=(in_ns h2 "$PEER" recv field -o "$FIELD_DIR/out" --server "$SIGNAL_URL" --address 10.2.0.2 --timeout 40 --quiet)
  if [ "$ROLE" = offer ]; then
    "${send[@]}" 2>"$FIELD_DIR/send.log" &
    sender=$!
    sleep 1
    "${recv[@]}" 2>"$FIELD_DIR/recv.log" || fail "recv exited $?"
    wait $sender || fail "send exited $?"
  else
    "${recv[@]}" 2>"$FIELD_DIR/recv.log" &
    receiver=$!
    sleep 1
    "${send[@]}" 2>"$FIELD_DIR/send.log" || fail "send exited $?"
    wait $receiver || fail "recv exited $?"
  fi
  [ "$(sha256sum <"$FIELD_DIR/data.bin")" = "$(sha256sum <"$FIELD_DIR/out/data.bin")" ] || fail "16 MiB: sha-256 differs"
fi
line="field: result cell=$CELL role=$ROLE partner=$partner ok=true seconds=$elapsed $result"
echo "$line"
# PEER_FIELD_RESULTS=FILE collects every cell's line (the table of a closing note).
[ -n "${PEER_FIELD_RESULTS:-}" ] && echo "$line" >>"$PEER_FIELD_RESULTS"
exit 0
