#!/bin/bash
# One cell of the field suite (tests/field/README.md): a world of network namespaces
# (world.sh), two real `peer` processes on hosts h1 and h2 behind their routers, and a pass
# rule. Usage: cell.sh PEER LINK CELL ROLE
#   CELL  clean lossy hostile duplicate slow outage cone symmetric-udp symmetric-tcp
#         symmetric-tls negative; symmetric-udp-all symmetric-tcp-all (no --relay-only); soak;
#         restart-address restart-outage (the signal plugin restarting ICE by itself)
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
  restart-address | restart-outage)
    # 40 s of messages, one every 100 ms, through the break; the echo pair meets through
    # `peer signal` in s, whose plugin restarts ICE (run_restart_cell below).
    probe_args=(--probe 400 --interval 100 --hold 60)
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

# The signal plugin restarting ICE by itself (docs/architecture.md section 9). The echo pair
# meets through `peer signal` in s: the prober on h1 gathers on every interface (no
# --address), so a restart finds h1's new address. ROLE offer: the prober joins first and
# makes the offers, so the restarts are its own; answer: the partner's. Then, 3 s after the
# connection is up:
#   restart-address  h1's address changes from 10.1.0.2 to 10.1.0.3 (its old pair is dead
#                    for good: only a restart that gathers again brings the connection
#                    back; h1's signaling connection dies too and reconnects with a new id)
#   restart-outage   the public link drops everything for 20 s (signaling included), more
#                    than "disconnected" (8 s) and the grace period (2 s): the restart offer
#                    waits for the link
# Pass: every message came back intact and in order, the DTLS state never changed after
# connecting (no new handshake), the restarting side restarted, and (restart-address) the
# selected pair is on the new address.
run_restart_cell() {
  signal_up || fail "peer signal"
  # Library logs at info: the restart's steps, with times, in the logs printed below.
  local prober_cmd=(in_ns h1 env SPDLOG_LEVEL=info "$PEER" echo --signal "$SIGNAL_URL" --room restart --timeout 40 "${probe_args[@]}")
  local partner_cmd=(in_ns h2 env SPDLOG_LEVEL=info "$PEER" echo --signal "$SIGNAL_URL" --room restart --address 10.2.0.2 --timeout 40)
  if [ "$ROLE" = offer ]; then
    "${prober_cmd[@]}" 2>"$FIELD_DIR/prober.log" &
    prober=$!
  else
    "${partner_cmd[@]}" 2>"$FIELD_DIR/partner.log" </dev/null >/dev/null &
  fi
  sleep 2  # the first member is in the room (it offers to the second)
  if [ "$ROLE" = offer ]; then
    "${partner_cmd[@]}" 2>"$FIELD_DIR/partner.log" </dev/null >/dev/null &
  else
    "${prober_cmd[@]}" 2>"$FIELD_DIR/prober.log" &
    prober=$!
  fi
  for _ in $(seq 400); do grep -q "connected:" "$FIELD_DIR/prober.log" && break; sleep 0.1; done
  grep -q "connected:" "$FIELD_DIR/prober.log" || fail "not connected"
  sleep 3
  local broke
  broke=$(date +%s.%N)
  if [ "$CELL" = restart-address ]; then
    in_ns h1 ip addr del 10.1.0.2/24 dev eth0 || fail "ip addr del"
    in_ns h1 ip addr add 10.1.0.3/24 dev eth0 || fail "ip addr add"
    in_ns h1 ip route add default via 10.1.0.1 || fail "ip route add"
    echo "field: h1 moved from 10.1.0.2 to 10.1.0.3 at $(date +%T.%3N)"
  else
    link_outage_toggle || fail "no link to cut"
    sleep 20
    link_outage_toggle || fail "no link to mend"
    echo "field: the link was down for 20 s, back at $(date +%T.%3N)"
  fi
  wait $prober
  local rc=$?
  local f
  for f in prober.log partner.log; do echo "--- $f"; grep -v 'probe message' "$FIELD_DIR/$f" | tail -40; done
  local elapsed result restarter
  elapsed=$(echo "$(date +%s.%N) - $started" | bc)
  result=$(sed -n 's/^peer echo: result //p' "$FIELD_DIR/prober.log" | tail -1)
  [ "$rc" = 0 ] || fail "the prober exited $rc"
  [ -n "$result" ] || fail "no result line"
  [ "$(echo "$result" | jq -r '.dtls_changes')" = 0 ] || fail "the DTLS state changed after connecting: $result"
  restarter=prober
  [ "$ROLE" = answer ] && restarter=partner
  grep -q "ICE restart: restarting" "$FIELD_DIR/$restarter.log" || fail "the $restarter did not restart ICE"
  if [ "$CELL" = restart-address ]; then
    case "$(echo "$result" | jq -r '.pair.local')" in *10.1.0.3*) ;; *) fail "the selected pair is not on h1's new address: $result" ;; esac
  fi
  local line="field: result cell=$CELL role=$ROLE partner=peer ok=true seconds=$elapsed broken_at_s=$(echo "$broke - $started" | bc) $result"
  echo "$line"
  [ -n "${PEER_FIELD_RESULTS:-}" ] && echo "$line" >>"$PEER_FIELD_RESULTS"
  exit 0
}
case "$CELL" in restart-*) run_restart_cell ;; esac
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
  link_outage_toggle || fail "no link to cut"
  sleep 10
  link_outage_toggle || fail "no link to mend"
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
  outage)
    # The outage must show (no echo for about its 10 s: a cell whose link never went down
    # passed before, see README.md), and the ICE agent must have seen the path go and come back.
    gap=$(echo "$result" | jq -r '.longest_gap_ms')
    downs=$(echo "$result" | jq -r '.disconnects')
    [ "$(echo "$gap >= 9000" | bc)" = 1 ] || fail "no outage seen: the longest gap between echoes was $gap ms"
    [ "$downs" -ge 1 ] || fail "ICE never went disconnected during a 10 s outage"
    # And the data must come back with the path, not with usrsctp's next own heartbeat: before
    # the probe on reconnection (PeerImpl::on_ice_state) the gap was 65 s; with it ~10.6 s.
    # The bound is generous (15 s after the path returns): a functional check, not a timing.
    [ "$(echo "$gap < 25000" | bc)" = 1 ] || fail "echoes came back $gap ms after the outage began (10 s)"
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
