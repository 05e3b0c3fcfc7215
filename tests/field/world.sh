# A small internet in network namespaces, for one field test (sourced by cell.sh).
#
#   h1 (10.1.0.2) --veth-- r1 (10.1.0.1 | 203.0.113.1) ---+
#                                                          |  peer-field-link: the impaired
#   h2 (10.2.0.2) --veth-- r2 (10.2.0.1 | 203.0.113.2) ---+  "public" link (a learning switch
#                                                          |  over TAP devices, tests/field/link.cpp)
#                           s (203.0.113.3) --------------+  coturn (STUN/TURN) and `peer signal`
#
# The routers either route (the hosts' addresses are reachable from everywhere) or NAT:
# cone (MASQUERADE keeps the source port, so one mapping serves every destination) or
# symmetric (MASQUERADE --random-fully: a new random port per destination). Namespaces are
# named pf<PID><node> after this shell's PID, so parallel tests never meet; world_down
# removes every namespace and process when the shell exits (cell.sh traps EXIT, INT, TERM),
# and field_sweep removes those of tests that died without cleaning up (SIGKILL: every
# process of ours, the link included, runs inside one of the namespaces).
#
# Needs root (ip netns, iptables) and, for the NAT modes, iptables with the nat table.

FIELD_ID="pf$$"
FIELD_NODES=(h1 r1 h2 r2 s)
FIELD_LINK_PID=""
FIELD_DIR=""
TURN_USER=peer
TURN_PASSWORD=field-secret
PUBLIC_S=203.0.113.3

ns() { echo "${FIELD_ID}$1"; }
in_ns() {
  local node=$1
  shift
  ip netns exec "$(ns "$node")" "$@"
}

# Removes the namespaces (with every process in them, the link included) and scratch
# directories of field tests whose shell is gone.
field_sweep() {
  local name pid dir
  for name in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^pf[0-9]+(h1|h2|r1|r2|s)$'); do
    pid=$(echo "$name" | sed -E 's/^pf([0-9]+).*/\1/')
    if ! kill -0 "$pid" 2>/dev/null; then
      ip netns pids "$name" 2>/dev/null | xargs -r kill -9 2>/dev/null
      ip netns del "$name" 2>/dev/null && echo "field: swept stale namespace $name" >&2
    fi
  done
  for dir in /tmp/peer-field-[0-9]*; do
    [ -d "$dir" ] || continue
    pid=${dir##*-}
    kill -0 "$pid" 2>/dev/null || { rm -rf "$dir" && echo "field: swept stale $dir" >&2; }
  done
}

world_down() {
  local node pids
  if [ -n "$FIELD_LINK_PID" ]; then
    kill -TERM "$FIELD_LINK_PID" 2>/dev/null  # first: it prints its statistics on TERM
    wait "$FIELD_LINK_PID" 2>/dev/null
    FIELD_LINK_PID=""
  fi
  for node in "${FIELD_NODES[@]}"; do
    pids=$(ip netns pids "$(ns "$node")" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  for node in "${FIELD_NODES[@]}"; do ip netns del "$(ns "$node")" 2>/dev/null; done
}

# world_up MODE LINK_ARGS...: MODE is route, cone or symmetric; LINK_ARGS go to
# peer-field-link (--loss, --delay-ms, ...). Needs $FIELD_DIR and $LINK (the program).
world_up() {
  local mode=$1
  shift
  local node
  for node in "${FIELD_NODES[@]}"; do
    ip netns add "$(ns "$node")" || return 1
    in_ns "$node" ip link set lo up
  done
  # Host <-> router: veth pairs made inside the namespaces (never in the machine's own).
  ip -n "$(ns h1)" link add eth0 type veth peer name lan netns "$(ns r1)" || return 1
  ip -n "$(ns h2)" link add eth0 type veth peer name lan netns "$(ns r2)" || return 1
  local i
  for i in 1 2; do
    in_ns "h$i" ip addr add "10.$i.0.2/24" dev eth0
    in_ns "h$i" ip link set eth0 up
    in_ns "h$i" ip route add default via "10.$i.0.1"
    in_ns "r$i" ip addr add "10.$i.0.1/24" dev lan
    in_ns "r$i" ip link set lan up
    in_ns "r$i" sysctl -qw net.ipv4.ip_forward=1
  done
  # The public link: the program opens a TAP device "pub" in each namespace.
  # It runs inside s, so that a sweep after a SIGKILL finds it with the namespace's processes.
  in_ns s "$LINK" --port "$(ns r1):pub" --port "$(ns r2):pub" --port "$(ns s):pub" \
    --ready-file "$FIELD_DIR/link.ready" "$@" >"$FIELD_DIR/link.stats" 2>"$FIELD_DIR/link.log" &
  FIELD_LINK_PID=$!
  for _ in $(seq 100); do [ -e "$FIELD_DIR/link.ready" ] && break; sleep 0.05; done
  [ -e "$FIELD_DIR/link.ready" ] || { echo "field: the link did not start"; cat "$FIELD_DIR/link.log"; return 1; }
  in_ns r1 ip addr add 203.0.113.1/24 dev pub
  in_ns r2 ip addr add 203.0.113.2/24 dev pub
  in_ns s ip addr add "$PUBLIC_S/24" dev pub
  for node in r1 r2 s; do in_ns "$node" ip link set pub up; done
  case "$mode" in
    route)
      in_ns r1 ip route add 10.2.0.0/24 via 203.0.113.2
      in_ns r2 ip route add 10.1.0.0/24 via 203.0.113.1
      in_ns s ip route add 10.1.0.0/24 via 203.0.113.1
      in_ns s ip route add 10.2.0.0/24 via 203.0.113.2
      ;;
    cone | symmetric)
      local random=()
      [ "$mode" = symmetric ] && random=(--random-fully)
      for i in 1 2; do
        in_ns "r$i" iptables -t nat -A POSTROUTING -o pub -j MASQUERADE "${random[@]}" || return 1
        # A home router's firewall: nothing unsolicited from the public side reaches the
        # router itself. Without it, a check that arrives before the router's own host has
        # sent to that peer is delivered locally (to a closed port) and leaves a conntrack
        # entry behind, refreshed by every retransmission; the host's own packets to that
        # peer then clash with it and are mapped to another port, so the hole never opens.
        # A dropped packet's conntrack entry is never confirmed, so none is left. Nor does
        # anything unsolicited get forwarded into the LAN.
        in_ns "r$i" iptables -A INPUT -i pub -m conntrack --ctstate NEW -j DROP || return 1
        in_ns "r$i" iptables -A FORWARD -i pub -m conntrack --ctstate NEW -j DROP || return 1
      done
      # s reaches "the internet" as a real server does: a default route (r1 drops what it
      # gets for the LAN). Without one, coturn's relay sending to a peer's private host
      # address got ENETUNREACH and then relayed nothing more on that allocation, which made
      # TURN next to other candidates fail (the -all cells) with any agent.
      in_ns s ip route add default via 203.0.113.1 || return 1
      ;;
    *)
      echo "field: unknown mode $mode"
      return 1
      ;;
  esac
  # ARP is not impaired, but the first packet of a flow waits for it: resolve now.
  in_ns r1 ping -c 1 -W 2 203.0.113.2 >/dev/null 2>&1
  in_ns r1 ping -c 1 -W 2 "$PUBLIC_S" >/dev/null 2>&1
  in_ns r2 ping -c 1 -W 2 "$PUBLIC_S" >/dev/null 2>&1
  return 0
}

# Toggles the link's outage (SIGUSR1) on the link process itself, found by name in s:
# $FIELD_LINK_PID may be the shell that runs in_ns rather than the link, and a SIGUSR1 to
# that shell ends it and leaves the link running (seen in the restart-outage cell).
link_outage_toggle() {
  local pid found=1
  for pid in $(ip netns pids "$(ns s)" 2>/dev/null); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = peer-field-link ] && kill -USR1 "$pid" && found=0
  done
  return $found
}

# coturn in s: STUN and TURN over UDP and TCP on 3478, TLS on 5349 (a fresh self-signed
# certificate), long-term credentials $TURN_USER/$TURN_PASSWORD. Extra flags follow (for
# example --no-tcp --no-udp: only TLS).
turn_up() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$PUBLIC_S" \
    -addext "subjectAltName=IP:$PUBLIC_S" -keyout "$FIELD_DIR/turn.key" -out "$FIELD_DIR/turn.crt" 2>/dev/null ||
    return 1
  in_ns s turnserver --listening-ip "$PUBLIC_S" --relay-ip "$PUBLIC_S" --listening-port 3478 \
    --tls-listening-port 5349 --cert "$FIELD_DIR/turn.crt" --pkey "$FIELD_DIR/turn.key" --no-dtls \
    --lt-cred-mech --user "$TURN_USER:$TURN_PASSWORD" --realm field.test --no-cli --no-rfc5780 \
    --db "$FIELD_DIR/turn.db" --pidfile "$FIELD_DIR/turn.pid" --log-file "$FIELD_DIR/turn.log" --simple-log \
    --no-stdout-log "$@" >/dev/null 2>&1 &
  for _ in $(seq 100); do
    in_ns s ss -lnt 2>/dev/null | grep -q ":5349 " && in_ns s ss -lnu 2>/dev/null | grep -q ":3478 " && return 0
    in_ns s ss -lnt 2>/dev/null | grep -q ":5349 " && [ "${1:-}" = --no-udp ] && return 0
    sleep 0.1
  done
  echo "field: coturn did not start"
  cat "$FIELD_DIR"/turn*.log 2>/dev/null | tail -20
  return 1
}

# `peer signal` in s on $PUBLIC_S; sets $SIGNAL_URL.
signal_up() {
  in_ns s "$PEER" signal --listen "$PUBLIC_S:0" >"$FIELD_DIR/signal.out" 2>"$FIELD_DIR/signal.log" &
  for _ in $(seq 100); do grep -q "listening on" "$FIELD_DIR/signal.out" && break; sleep 0.1; done
  local port
  port=$(sed -n "s/.*listening on $PUBLIC_S:\([0-9]*\).*/\1/p" "$FIELD_DIR/signal.out")
  [ -n "$port" ] || { echo "field: peer signal did not start"; cat "$FIELD_DIR/signal.log"; return 1; }
  SIGNAL_URL="ws://$PUBLIC_S:$port/"
}
