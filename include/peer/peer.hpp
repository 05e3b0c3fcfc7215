#pragma once
// peer::Peer — a WebRTC peer connection that is an observable key/value store.
//
// The C++ counterpart of the 2014 JavaScript component `peer`: configuration
// (`servers`, `optional`, `mandatory`, ...) and the connection's own state
// (`signaling`, `gathering`, `ice`, `dtls`, `connection`) live in the store, so a
// plugin observes the connection with `on("change connection", ...)` like any key.
// Everything beyond the core verbs comes as a plugin through `use()`.
//
//   peer::Peer a, b;
//   a.set("addresses", {"127.0.0.1"});                 // pin ICE to loopback
//   auto on_offer = a.on("offer", [&](const json& offer) { b.remote(offer); b.answer(); });
//   auto on_answer = b.on("answer", [&](const json& answer) { a.remote(answer); });
//   auto a_ice = a.on("candidate", [&](const json& c) { b.ice(c); });
//   auto b_ice = b.on("candidate", [&](const json& c) { a.ice(c); });
//   a.offer();
//
// Threads (docs/architecture.md): a peer lives on one event-loop thread. Every public
// method may be called from any thread; called from a thread of your own it runs on the
// loop and returns when done (so misuse throws peer::Error right there). Callbacks and
// events run on the loop thread, in order, never nested inside another library call.
// close() may be called anywhere, including inside a callback; no callback runs after
// it returns. Destroying the last handle closes the peer.

#include <functional>
#include <memory>
#include <string>

#include <optional>

#include <peer/error.hpp>
#include <peer/store.hpp>

namespace peer {

namespace detail {
class PeerImpl;
class PeerHandle;
}  // namespace detail

class Channel;
struct channel;
struct signal;
struct video;
struct audio;
class Track;

// clang-format off
// Store keys the peer reads (set them before create()/offer()/answer()):
//   servers             RTCIceServer list, as a browser takes it:
//                       [{"urls": ["stun:host:3478", "turn:host?transport=tcp"],
//                         "username": "u", "credential": "p"}] (or plain url strings);
//                       turns: is TURN over TLS; the server's certificate must chain to
//                       the system's trust store (SSL_CERT_FILE overrides it) and name the
//                       url's host, unless the entry says "tlsCertPolicy": "insecureNoCheck".
//                       A handshake that fails is an "error" event naming why.
//   iceTransportPolicy  "all" (default) or "relay"
//   addresses           ["127.0.0.1", ...]: gather ICE candidates only on these local
//                       addresses (default: every interface except loopback)
//   ice-tcp             false (default) or true: gather ICE-TCP candidates (RFC 6544),
//                       passive and active host ones; UDP pairs are preferred to them
//   ice-udp             true (default) or false: gather UDP candidates; false with
//                       ice-tcp true connects over TCP only (false alone is refused)
//   ice-mdns            false (default) or true: signal IPv4 host candidates as
//                       "<uuid>.local" names and answer mDNS questions for them, as
//                       browsers do (the remote must resolve them; peer and browsers do)
//   sctp-streams        SCTP streams offered each way, 2-65535 (default 256): each side
//                       can open half as many data channels. usrsctp keeps ~100 bytes per
//                       stream and peer from the start, so more costs every idle peer
//                       (2048: ~240 KiB of SCTP state, 256: ~50 KiB)
//   certificate         {"cert": PEM, "key": PEM}: the DTLS identity; "new": a fresh
//                       ECDSA P-256 self-signed certificate for this peer alone; absent:
//                       one generated certificate shared by the process's peers (as a
//                       browser shares one per origin; see Certificate::process_default)
//   optional            constraints (the seed's name); {"max-message-size": N} is the
//                       largest message we accept, announced in a=max-message-size
//                       (a positive integer: anything else makes offer()/answer() throw)
//   mandatory           constraints, kept for plugins (the seed's name)
// Store keys the peer writes (observe them with "change <key>"):
//   signaling    "stable" | "have-local-offer" | "have-remote-offer" | "closed"
//   gathering    "new" | "gathering" | "complete"
//   ice          "new" | "checking" | "connected" | "completed" | "failed" | "disconnected"
//   dtls         "new" | "connecting" | "connected" | "failed" | "closed"
//   connection   "new" | "connecting" | "connected" | "disconnected" | "failed" | "closed"
//   role         "client" | "server": the DTLS role, from a=setup
//   pair         {"local": "...", "remote": "..."}: the selected ICE candidate pair
//   fingerprint  the local certificate's "sha-256 AB:CD:..."
//   ice-error    the last ICE problem our agent reported (a STUN server that did not
//                answer, a TURN server that gave no relay candidate, a turns: handshake
//                that failed, ...); informational until ICE fails, then part of the error
//   local, remote  the descriptions applied, {"type", "sdp"}
// Events (besides the store's change/deleted events):
//   create                       the connection was built
//   before offer, before answer  run synchronously first: a listener may still change the store
//   offer, answer (queued)       {"type": "offer"|"answer", "sdp": "..."}
//   candidate (queued)           {"candidate": "candidate:...", "sdpMid": "0", "sdpMLineIndex": 0}
//   negotiationneeded (queued)   a track was added after the first negotiation: call offer()
//                                again (renegotiation keeps ICE, DTLS and the streams there are)
//   remote stream (queued)       {"id": stream id, "tracks": [{"kind", "id", "mid"}]}: a remote
//                                track was negotiated (Peer::on_track hands over the Track)
//   ready (queued)               gathering is complete; carries our description with every
//                                candidate and a=end-of-candidates (signaling without trickle)
//   error                        {"code": "bad_sdp", "message": "..."}: bad remote input or a
//                                failure of the connection; the peer stays usable after input errors
// clang-format on
class Peer : public Store {
 public:
  using DescriptionCallback = std::function<void(const json& description)>;
  using SdpFilter = std::function<std::string(std::string sdp)>;

  // `servers` is stored under "servers" (same shapes as the key above).
  explicit Peer(json servers = json::array());
  ~Peer();
  // A handle: copies share one peer. There is no move: a "moved-from" Peer is a copy that
  // still works, as with Store.
  Peer(const Peer&) = default;
  Peer& operator=(const Peer&) = default;

  // Builds the connection (ICE agent, certificate) from the store; emits "create".
  // offer() and answer() call it when it has not been called.
  void create();
  // Creates an offer, applies it as the local description, emits "before offer" first and
  // the queued "offer" event after; `fn` (optional) gets the description too.
  // Options: {"iceRestart": true} (W3C createOffer): a renegotiation with new ICE
  // credentials (RFC 8445 section 9), as restart() does.
  void offer(DescriptionCallback fn = {}, json options = json::object());
  // ICE restart (W3C restartIce, RFC 8445 section 9): an offer with new ICE credentials, and
  // the candidates again (events "candidate", then "ready"). The remote answers it like any
  // offer and restarts too. Data keeps flowing on the current pair until the new checks
  // select one; DTLS, SCTP and the channels are not touched. Only after a first exchange
  // of descriptions (before: throws invalid_state).
  void restart();
  // Answers the remote offer (throws invalid_state without one). Options:
  // {"setup": "active" | "passive"}: our DTLS role (default "active" = DTLS client).
  void answer(DescriptionCallback fn = {}, json options = json::object());
  // Applies a local description ({"type","sdp"}); offer()/answer() do this themselves.
  void local(const json& description);
  // Applies the remote description. A malformed one becomes an "error" event naming the
  // problem (nothing already accepted is lost); a call in the wrong state throws.
  void remote(const json& description);
  // Adds a remote candidate ({"candidate","sdpMid","sdpMLineIndex"}, or the bare string).
  // An empty or null candidate means end-of-candidates. Candidates that arrive before the
  // remote description are kept and applied after it, in order.
  void ice(const json& candidate);
  // Adds a filter run over every local SDP before it is applied (the seed's hooks).
  void codec(SdpFilter filter);
  // Closes the connection: state "closed", sockets released, no callback after return.
  void close();

  // The seed's stream(s): sends `track`, a remote video track of another Peer, on this one,
  // forwarded as it arrives (its encoded frames, no decoding or re-encoding: what an SFU
  // does); a keyframe asked of the returned local track is asked of the source's sender.
  // Before offer()/answer(), or followed by a new offer (renegotiation).
  Track stream(const Track& track);
  // Stops sending `track`, a local track of this peer (the browser's removeTrack): its
  // sender sends an RTCP BYE (RFC 3550 section 6.6) and stops, the track's `state` becomes
  // "ended" (event "ended"), and once negotiated, "negotiationneeded" asks for an offer
  // whose section for it no longer sends (recvonly: we still take what the remote sends;
  // JSEP 5.2.2: the m= line stays and its mid is not reused). On the remote side the BYE
  // mutes its track and that description ends it. Throws invalid_argument for a track that
  // is not a local track of this peer (or was removed already), invalid_state during an
  // exchange.
  void remove(const Track& track);
  // Tracks the remote sends (include/peer/media.hpp), as each section carrying one is
  // negotiated; the queued event "remote stream" says the same as JSON.
  [[nodiscard]] Subscription on_track(std::function<void(Track)> fn);
  // Data channels the remote opens that no channel(label) handle of ours matches.
  [[nodiscard]] Subscription on_channel(std::function<void(Channel)> fn);

  // A non-owning reference, for plugins that wire peers together without keeping each
  // other alive (a cycle of handles would keep both peers open forever).
  class Weak {
   public:
    std::optional<Peer> lock() const;

   private:
    friend class Peer;
    std::weak_ptr<detail::StoreState> state_;
    std::weak_ptr<detail::PeerHandle> handle_;
  };
  Weak weak() const;

  // Event-loop threads for peers created from now on (default 1): peers are spread over
  // them round-robin. Each peer stays on its loop; more loops let busy peers use more
  // cores (two peers of one process exchanging data at full speed need two).
  static void set_loops(std::size_t n);
  // Threads that encode the process's video (default: the core count, at most 4), so that
  // a 2.7 ms VP8 frame never holds a loop's packets up. Only before the first video track
  // starts; 0 encodes on the peers' own loops (as before there were workers), at any time.
  static void set_media_workers(std::size_t n);

  // Plugins are callables taking Peer& (and optional arguments): the seed's use().
  template <class Plugin, class... Args>
  decltype(auto) use(Plugin&& plugin, Args&&... args) {
    return std::invoke(std::forward<Plugin>(plugin), *this, std::forward<Args>(args)...);
  }

 private:
  friend class detail::PeerImpl;
  friend struct channel;
  friend struct signal;  // posts to the peer's loop from its client's thread
  friend struct video;
  friend struct audio;
  Peer(std::shared_ptr<detail::StoreState> state, std::shared_ptr<detail::PeerHandle> handle);
  std::shared_ptr<detail::PeerHandle> handle_;
  detail::PeerImpl& impl() const;
};

}  // namespace peer
