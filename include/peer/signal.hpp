#pragma once
// The `signal` plugin: a remote peer-to-peer connection through a signaling server
// (docs/signaling.md; `peer signal` runs one), as the seed's `signal(room, address)`.
//
//   peer::Peer p;
//   auto chat = p.use(peer::channel("chat"));
//   p.use(peer::signal("room", "ws://127.0.0.1:8787/"));   // joins, pairs, negotiates
//
// Roles follow the protocol: the member that was in the room first offers to the newcomer.
// When this peer joins a room that has members it waits for an offer; when a member joins
// after it, it offers to that member. Descriptions and candidates travel in the browser's
// JSON shapes; candidates trickle both ways (our end-of-candidates is sent as
// {"candidate": ""} when gathering completes), and remote candidates that arrive before the
// remote description are kept and applied right after it, in order.
//
// One Peer pairs with ONE remote member: the first it exchanges a description with (the
// first offer it receives, or the first newcomer it offers to). Other members are ignored
// with a logged note. A mesh needs one Peer (and one use(signal)) per remote member.
//
// Store keys the plugin writes into the peer:
//   signal         "connecting" (connecting to the server, or reconnecting after it was
//                  lost), "joined" (in the room), "closed" (the signaling connection is
//                  closed for good; only seen by a listener that outlives close())
//   signal-id      our member id, from the last "joined" (a new one after each reconnect)
//   signal-remote  the id of the member we paired with (it changes when that member
//                  reconnects to the server and says so with a "rejoined" message)
//   signal-restart restarting by itself (below): "waiting" (ICE went disconnected or
//                  failed), "restarting" (a restart offer is out), "gave-up" (no try
//                  brought it back; an error event says so), "idle" (back again)
// Store key the plugin reads (at use() and again at each disconnection):
//   auto-restart   true (the default when absent), false, or an object with any of
//                  {"grace": 2000, "backoff": 1000, "backoff-max": 16000, "tries": 6,
//                   "check": 2000} (milliseconds, and a count): see RestartPolicy. A bad
//                  value makes use() throw Error(invalid_argument)
// Events the plugin emits on the peer:
//   signal message   every message from the server, as received ({"type", ..., "from"})
//   error            {"code": "signal_<code>", "message"}: the server refused something
//                    (signal_unauthorized, signal_room-full, ...); "signal_peer_left": the
//                    paired member left before the connection was up (see below);
//                    "signal_restart_failed": restarting by itself gave up
//
// Restarting by itself (ICE restart, RFC 8445 section 9; docs/architecture.md section 9):
// once connected, when the ICE state becomes "disconnected" and stays so for `grace`, or
// becomes "failed", the side that made the first offer calls restart() and sends the new
// offer; the other side answers it as any offer. Only the first offerer restarts, so two
// restart offers never cross. Tries are spaced `backoff`, doubling up to `backoff-max`;
// after `tries` of them without the connection back, "signal-restart" becomes "gave-up"
// and the error "signal_restart_failed" is emitted. The connection may still come back
// afterwards (a restart of the remote's, consent answered again): "signal-restart" is then
// "idle" and a later disconnection starts over. Data channels, DTLS and SCTP are untouched
// by a restart. Both sides also check their signaling connection (a ping, `check` to
// answer): after a network change it may be dead without knowing it, and the client then
// reconnects, gets a new id and tells the paired member ("rejoined").
//
// The server connection is not needed once the peers are connected. If it drops, the data
// channels go on; the client reconnects with backoff and joins again with a new id, and the
// remote sees "peer-left"/"peer-joined" for our old and new ids; we tell the members
// {"type": "rejoined", "was": [our former ids]}, and the paired one follows our new id. The
// plugin never tears down an established connection because of that: once paired it does
// not pair with another member. Renegotiation itself goes through: our later offer() (after
// adding a track) is sent to the paired member, and its later offers are answered.
// If the paired member leaves before the connection is up, the plugin does not pair again
// (the Peer has applied descriptions that cannot be rolled back): it emits the error
// "signal_peer_left" and the application makes a new Peer. Likewise, if our own signaling
// connection drops during setup, messages for the old ids are lost and setup may not finish.
//
// Threads: the client runs on its own thread; everything it reports is posted to the peer's
// loop, where the plugin calls the peer. Lifetime: the plugin holds the peer weakly;
// Peer::close() (or destroying the last handle) closes the signaling connection.

#include <chrono>
#include <cstddef>
#include <string>

#include <peer/peer.hpp>

namespace peer {

struct SignalOptions {
  std::string token;  // a room token when the server has a secret (`peer token`)
  std::chrono::milliseconds backoff_initial{100};  // reconnect delays, doubling to the max
  std::chrono::milliseconds backoff_max{5000};
  std::size_t max_queue = 256;  // messages kept while not joined
};

// The `auto-restart` store key's fields (defaults shown).
struct RestartPolicy {
  std::chrono::milliseconds grace{2000};  // "disconnected" this long before a restart (failed: at once)
  std::chrono::milliseconds backoff{1000};  // between tries, doubling ...
  std::chrono::milliseconds backoff_max{16000};  // ... up to this
  int tries = 6;  // restarts before giving up (~31 s of tries, then 16 s more to come back)
  std::chrono::milliseconds check{2000};  // the signaling connection must answer a ping within this
};

struct signal {
  // Throws Error(invalid_argument) for a url that is not ws://host[:port][/path] or a room
  // that is not 1-64 of A-Z a-z 0-9 _ . -
  signal(std::string room, std::string url, SignalOptions options = {});
  void operator()(Peer& self) const;

  std::string room;
  std::string url;
  SignalOptions options;
};

}  // namespace peer
