#pragma once
// peer::ice::Agent: a full ICE agent (RFC 8445) for one component, sans-I/O.
//
// It does no I/O, owns no thread and reads no clock (docs/architecture.md section 2): the
// transport opens the sockets and tells the agent their addresses (add_host), hands it every
// datagram that arrives (handle_receive) and the time, and takes out what the agent wants
// sent (poll_transmit), what it has to say (poll_event) and when it next needs the time
// (next_deadline / handle_timeout). So the whole agent runs over an in-memory link with a
// virtual clock in tests.
//
// What it does, and the choices where the RFCs leave one (docs/architecture.md section 6):
// - Gathering: a host candidate per socket, a server-reflexive one per STUN server and socket
//   (RFC 8489 Binding), a relayed one per TURN server and socket (RFC 8656 Allocate with
//   long-term credentials, refreshed before its lifetime ends, released by close()). Local
//   candidates are trickled (RFC 8838) as events.
// - TURN (over UDP to the server): every pair on a relayed candidate first binds a channel to
//   its remote address (ChannelBind installs the permission too, RFC 8656 section 11), and
//   its checks wait for that; checks and data then go as ChannelData (4 bytes of framing,
//   no STUN per packet), refreshed every 4 minutes (permissions last 5).
// - Checks (RFC 8445 section 6.1.4, 7.2): a new pair's first check goes out at once, not on
//   the next pacing tick (the pacing of RFC 8445 section 14.2 only spaces checks that a burst
//   of new pairs would otherwise send together: at most kCheckBurst at once, then one per
//   check_pacing). Retransmission starts at check_rto and doubles.
//   Incoming checks are answered before the remote credentials are known (trickle: the answer
//   may still be on its way) and their triggered check waits for the credentials.
// - Nomination: the controlling agent puts USE-CANDIDATE on every check (aggressive
//   nomination in RFC 5245's terms) and selects the first pair that succeeds, then moves to
//   a better pair when one succeeds later. That connects in one round trip: with regular
//   nomination the controlled side waits a second one. Chromium, Firefox, Pion and aiortc
//   as controlled agents all accept it and switch to the best nominated pair. As controlled,
//   the agent uses the best valid pair before any nomination (so data can flow as soon as a
//   check succeeded, as browsers do) and the best nominated one afterwards.
// - Role conflicts (RFC 8445 section 7.3.1.1 and 7.2.5.1): tie-breaker, 487.
// - Peer-reflexive candidates, both sides (RFC 8445 section 7.2.5.3.1, 7.3.1.3).
// - Consent freshness (RFC 7675): on the selected pair a Binding request every 4-6 s, each
//   repeated every 500 ms until answered; no response for `disconnected_after` -> disconnected (and
//   back to connected on the next response); none for `consent_timeout` (30 s) -> failed.
// - Failure: every pair failed and the remote said end-of-candidates, or nothing succeeded
//   within `connect_timeout` (after a restart too).
// - ICE-TCP (RFC 6544, docs/architecture.md section 6.1): per listening socket a passive host
//   candidate and an active one (port 9); no simultaneous-open, no server-reflexive or relayed
//   TCP candidates. Priorities per section 4.2 (direction preference in the local preference)
//   with lower type preferences than UDP's (candidate.hpp), so UDP pairs win. Pairs: our active
//   with a remote passive (the transport connects on the first check), our passive with the
//   remote's active once its check arrives on a connection it opened (section 6.2; a
//   peer-reflexive-like remote with the port it connected from). A pair's traffic goes on one
//   connection, named by (our candidate's base, the remote address) in Transmit, Route and
//   handle_tcp_receive; the transport says when one closed (tcp_closed) and its pairs fail.
//   Requests on a connection are sent once, not retransmitted (RFC 8489 section 6.2.2), and
//   time out as over UDP; consent (RFC 7675) runs on a TCP pair as on a UDP one.
// - ICE restart (RFC 8445 section 9), either side first: restart() and new remote
//   credentials; the old route carries the data until a new pair is selected. Hosts can be
//   removed (remove_host) and added around a restart, for a network change.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/ice/candidate.hpp"
#include "core/ice/ice_state.hpp"
#include "core/net_address.hpp"
#include "core/stun/message.hpp"

namespace peer::ice {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;

// The timers, RFC values unless said; tests shorten them.
struct Timing {
  std::chrono::milliseconds check_pacing{5};   // between paced checks (Ta, RFC 8445 14.2)
  std::chrono::milliseconds check_rto{100};    // first retransmission of a check
  std::chrono::milliseconds check_rto_max{1600};
  int check_transmissions = 9;                 // per check: ~ 10 s at 100 ms doubling to 1.6 s
  // STUN and TURN server requests: 100 ms doubling to check_rto_max, 6 tries, so a dead
  // server is reported after ~4.7 s (libnice, which ICE ran on before, took ~3 s). RFC
  // 8489 section 6.2.1 recommends 500 ms but lets a client that knows its paths go lower.
  std::chrono::milliseconds gather_rto{100};
  int gather_transmissions = 6;
  std::chrono::milliseconds consent_interval{5000};  // RFC 7675 section 5.1: 4-6 s (x 0.8..1.2)
  std::chrono::milliseconds consent_rto{500};        // a consent check is repeated this often until answered
  std::chrono::milliseconds disconnected_after{8000};
  std::chrono::milliseconds consent_timeout{30000};  // RFC 7675 section 5.1
  std::chrono::milliseconds connect_timeout{30000};  // no pair ever succeeded
};

// A TURN server with long-term credentials (RFC 8489 section 9.2), reached over UDP or TCP
// (RFC 8656 section 3.1; the relayed candidate is UDP either way). Over TCP the agent's
// datagrams to the server (Transmit, Route) are messages the transport writes on one stream
// per host address and server, and it hands back each message it reads from the stream as
// a datagram from the server; ChannelData is then padded to 4 bytes (section 12.5).
struct TurnServer {
  Address address;  // numeric: the transport resolves names first
  std::string username, password;
  bool tcp = false;
};

struct AgentConfig {
  bool controlling = false;
  std::vector<Address> stun_servers;  // numeric: the transport resolves names first
  std::vector<TurnServer> turn_servers;
  // RTCIceTransportPolicy "relay": only relayed candidates are signalled and paired; with
  // none once gathering is done, the agent fails.
  bool relay_only = false;
  std::string ufrag, pwd;             // empty: random (RFC 8445 section 5.3: >= 24 and 128 bits)
  uint64_t tie_breaker = 0;           // 0: random
  Timing timing;
  // Random bytes for transaction ids, credentials and tie-breaker; empty: OpenSSL RAND_bytes.
  // Tests pass a seeded generator to make a run repeatable.
  std::function<void(std::span<std::byte>)> random;
};

// One datagram the agent wants sent from the socket bound to `from` (a host address given to
// add_host) to `to`.
struct Transmit {
  Address from;
  Address to;
  std::vector<std::byte> bytes;
  bool stream = false;  // to a TURN server over TCP: one message on its stream
  // ICE-TCP (RFC 6544): one frame (RFC 4571) on the connection between our TCP candidate's base
  // `from` and the remote `to`. `from` is a listening address (a connection the remote opened
  // to it) or an active candidate's base (its IP, port 0): then the transport connects from
  // that IP to `to` if no such connection is open yet, keeping the frame until it is.
  bool tcp = false;
};

namespace event {
struct LocalCandidate { Candidate candidate; };
struct GatheringDone {};
struct StateChanged { IceState state; };
struct SelectedPair { Candidate local; Candidate remote; };
struct Problem { std::string message; };  // informational: failure comes as StateChanged
}  // namespace event
using Event = std::variant<event::LocalCandidate, event::GatheringDone, event::StateChanged,
                           event::SelectedPair, event::Problem>;

// Where the data of the selected pair goes: from the socket bound to `from`, to `to`.
// A relayed route sends to the TURN server, each datagram behind a ChannelData header
// (RFC 8656 section 12.4) with `channel`; 0 means no framing. `stream`: the server is
// reached over TCP, where ChannelData is padded to a multiple of 4 (section 12.5).
// `tcp`: an ICE-TCP pair; the data goes as RFC 4571 frames on the connection (from, to), as
// Transmit::tcp says.
struct Route {
  Address from;
  Address to;
  uint16_t channel = 0;
  bool stream = false;
  bool tcp = false;
  bool operator==(const Route&) const = default;
};

class Agent {
 public:
  // How many checks go out back to back before pacing starts (see the header comment).
  static constexpr int kCheckBurst = 8;

  explicit Agent(AgentConfig config);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  const std::string& local_ufrag() const noexcept;
  const std::string& local_pwd() const noexcept;
  bool controlling() const noexcept;
  void set_controlling(bool controlling);  // before the checks start
  IceState state() const noexcept;

  // A STUN or TURN server besides those of the config; it applies to hosts added afterwards.
  void add_stun_server(const Address& server);
  void add_turn_server(TurnServer server);
  // Releases the TURN allocations (a Refresh with lifetime 0, sent once, not waited for: a
  // lost one leaves the allocation to expire on the server). Nothing more is sent afterwards.
  void close(Time now);
  // A socket bound to `base` is open: a host candidate for it, and server-reflexive
  // gathering from it. `local_preference` orders the hosts (RFC 8445 section 5.1.2.1).
  void add_host(Time now, const Address& base, uint16_t local_preference = 65535);
  // A TCP socket listens on `listen` (ICE-TCP, RFC 6544): a passive host candidate there and an
  // active one on its IP. `local_preference` as for add_host.
  void add_tcp_host(Time now, const Address& listen, uint16_t local_preference = 65535);
  // No more hosts will be added: gathering is done once the server requests have ended.
  void end_of_hosts(Time now);

  // Credentials other than those already set are the remote's ICE restart (see restart()).
  void set_remote_credentials(Time now, std::string ufrag, std::string pwd);
  // ICE restart (RFC 8445 section 9; W3C restartIce): new local credentials, every local
  // candidate announced again (then GatheringDone), the remote's candidates and all pairs
  // forgotten, checks afresh once the remote's new credentials are set. The route in use
  // carries the data until the new checks select a pair, and requests with the previous
  // credentials are answered until then. The answerer of a restarting offer calls it too,
  // after set_remote_credentials: either call starts the restart, the other joins it.
  // `more_hosts`: the caller adds hosts next (add_host, then end_of_hosts: an address that
  // appeared since), and GatheringDone waits for them.
  void restart(Time now, bool more_hosts = false);
  // The address of the socket bound to `base` is gone from the machine (a network change):
  // its candidates are not announced or paired again and its pairs fail. Call it before
  // restart() so that the new generation leaves them out.
  void remove_host(Time now, const Address& base);
  bool restarting() const noexcept;
  // A remote candidate (from_sdp() makes one). Duplicates are ignored.
  void add_remote_candidate(Time now, const Candidate& candidate);
  void remote_gathering_done(Time now);

  // A datagram that arrived on the socket bound to `base` from `from`. True when it was STUN
  // for this agent (handled here); false when it is the caller's (DTLS, SRTP, anything else).
  // Returns the bytes that are the caller's: the datagram itself, or a relayed datagram's
  // payload inside its TURN framing (a view into `bytes`). Empty when the agent took it
  // (STUN, TURN control).
  // `stream`: a message read from the TCP stream to the TURN server `from` (a server may
  // listen on the same address for UDP and TCP, and be a STUN server there too).
  std::span<const std::byte> handle_receive(Time now, const Address& base, const Address& from,
                                            std::span<const std::byte> bytes, bool stream = false);
  // A frame (RFC 4571) read from the ICE-TCP connection between our `base` (the listening
  // address that accepted it, or the active candidate's base it was opened from: Transmit::tcp)
  // and the remote `from`. Returns the caller's bytes as handle_receive does.
  std::span<const std::byte> handle_tcp_receive(Time now, const Address& base, const Address& from,
                                                std::span<const std::byte> bytes);
  // That connection closed, or could not be opened: its pairs fail (agent.cpp, tcp_closed).
  void tcp_closed(Time now, const Address& base, const Address& remote);
  void handle_timeout(Time now);
  // When handle_timeout must next be called; nullopt while the agent waits for nothing.
  std::optional<Time> next_deadline() const noexcept;

  std::optional<Transmit> poll_transmit();
  std::optional<Event> poll_event();

  // The selected pair's route; before one is selected, the pair the remote's latest
  // authenticated check came in on (so an early reply to the remote is not lost); nullopt
  // when there is neither, and after failure.
  std::optional<Route> route() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peer::ice
