#!/bin/bash
# The network flags' bad input (tools/network_options.cpp): each case must exit 2 before
# anything connects, with a message naming the flag (or variable) and the value.
set -u
peer=$1
failures=0
check() {  # check "expected text" ENV... -- ARGS...
  local want=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local out rc
  out=$(env "${envs[@]}" timeout 10 "$peer" "$@" 2>&1 </dev/null)
  rc=$?
  if [ "$rc" != 2 ] || [[ "$out" != *"$want"* ]]; then
    echo "FAIL: peer $* -> exit $rc, output: $out (wanted exit 2 and \"$want\")"
    failures=$((failures + 1))
  else
    echo "ok: peer $* -> $out"
  fi
}
check "--ice-server 'turn:192.0.2.1?transport=sctp': unknown transport 'sctp'" -- \
  echo --ice-server 'turn:192.0.2.1?transport=sctp' --ice-username u --ice-credential p
check "--ice-server 'turn:192.0.2.1': turn needs a username and a credential" -- echo --ice-server turn:192.0.2.1
check "--ice-server 'turns:192.0.2.1': turns needs a username and a credential" -- \
  echo --ice-server turns:192.0.2.1 --ice-username u
check "--address '2001:DB8::77': not an address of an interface" -- echo --address 2001:DB8::77
check "--ice-server 'http://192.0.2.1': unknown scheme 'http'" -- echo --ice-server http://192.0.2.1
check "--ice-server 'stun:192.0.2.1:0': port 0 out of range" -- pipe room --ice-server stun:192.0.2.1:0
check "--ice-server 'stun:[::1': unterminated '['" -- send /etc/hostname room --ice-server 'stun:[::1'
check "--ice-server 'turn:': missing host" -- recv room --ice-server turn: --ice-username u --ice-credential p
check "--ice-server 'stun:192.0.2.1?transport=udp': stun urls take no '?' parameters" -- \
  recv-video room --ice-server 'stun:192.0.2.1?transport=udp'
check "PEER_ICE_SERVERS is not JSON: [nope" PEER_ICE_SERVERS='[nope' -- echo
check "PEER_ICE_SERVERS: ice server url 'turn:192.0.2.1': turn needs a username and a credential" \
  PEER_ICE_SERVERS='[{"urls":"turn:192.0.2.1"}]' -- echo
check "--relay-only needs a turn: server" -- echo --relay-only --ice-server stun:192.0.2.1
check "--ice-username is given without an --ice-server" -- echo --ice-username u
check "--address '192.0.2.77': not an address of an interface of this machine" -- echo --address 192.0.2.77
check "--address 'here': not an IP address, auto or any" -- echo --address here
check "--ice-server 'turn:192.0.2.1': turn needs a username and a credential" -- serve --ice-server turn:192.0.2.1
# The environment is used only without --ice-server: a good flag wins over a bad variable.
out=$(PEER_ICE_SERVERS='[nope' timeout 10 "$peer" echo --ice-server stun:127.0.0.1 --timeout 0.5 2>&1 </dev/null)
rc=$?
if [ "$rc" = 2 ]; then
  echo "FAIL: --ice-server did not win over a bad PEER_ICE_SERVERS: $out"
  failures=$((failures + 1))
fi
[ "$failures" = 0 ]
