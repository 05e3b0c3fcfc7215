// The ICE agent (agent.hpp says what it does and which choices it makes).
//
// Shape: local candidates, remote candidates and the pairs between them live in vectors and
// are referred to by index (nothing is ever removed until the agent goes). Every STUN request
// in flight is a Transaction keyed by its id; each has its own retransmission deadline. One
// pass, `advance(now)`, runs after every input: it sends due retransmissions, starts waiting
// checks the pacing allows, runs consent, and settles the state. next_deadline() is the
// minimum over all of that, so the transport arms one timer.

#include "core/ice/agent.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <map>
#include <stdexcept>
#include <string_view>

namespace peer::ice {
namespace {

using std::chrono::milliseconds;
using Duration = Clock::duration;

constexpr std::string_view kIceChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::size_t kMaxPairs = 100;             // RFC 8445 section 6.1.2.5 asks for a limit
constexpr std::size_t kMaxRemoteCandidates = 100;  // remote input is bounded too
// A consent check is repeated every consent_rto (not doubling) until it is answered or the
// next one replaces it: at 20% loss each way a round trip fails 36% of the time, and with 4
// tries spaced 0.5, 1, 2 s the field suite's hostile cell still saw 8 s without an answer
// (`disconnected`) once or twice in 3 minutes; with a try every 0.5 s that takes ~16 lost
// round trips in a row.
constexpr int kConsentTransmissions = 12;

enum class PairState : uint8_t { waiting, in_progress, succeeded, failed };

struct Local {
  Candidate candidate;
  Address socket;  // the host address of the socket its packets leave from
  uint16_t local_preference = 65535;
  std::optional<std::size_t> allocation;  // relay candidates: the TURN allocation behind it
  // Its socket's address left the machine (remove_host): never announced or paired again.
  // Kept in place rather than erased, as pairs, transactions and allocations hold indices.
  bool gone = false;
};

// A TURN allocation (RFC 8656) made from one host socket on one server.
struct Channel {
  uint16_t number = 0;
  Address peer;
  bool bound = false;
  bool binding = false;  // a ChannelBind in flight
  Time refresh_at{};
};

struct Allocation {
  std::size_t server = 0;  // index into config.turn_servers
  Address socket;          // the host socket it was made from
  Address server_address;
  enum class State : uint8_t { allocating, ready, failed, released } state = State::allocating;
  std::string realm, nonce;
  std::array<std::byte, 16> key{};
  bool have_key = false;
  int stale_nonce_retries = 0;
  Address relayed, mapped;
  Time refresh_at{};
  std::vector<Channel> channels;  // numbers 0x4000 + index (RFC 8656 section 12)
};

struct Pair {
  std::size_t local = 0;   // index into locals (host candidates only: srflx pairs are pruned
                           // to their base, RFC 8445 section 6.1.2.4)
  std::size_t remote = 0;  // index into remotes
  uint64_t priority = 0;
  PairState state = PairState::waiting;
  bool triggered = false;          // in the triggered-check queue (RFC 8445 section 7.3.1.4)
  bool valid = false;              // a check succeeded: in the valid list
  bool remote_nominated = false;   // the controlling peer sent USE-CANDIDATE on it
  bool nominated = false;
  // The priority of the valid pair's local candidate (RFC 8445 section 7.2.5.3.2): the
  // candidate the check's mapped address names (our srflx or prflx one behind a NAT), whose
  // priority is what the remote computes this pair's priority with. 0: the local candidate's.
  uint32_t local_priority = 0;
};

enum class TransactionKind : uint8_t { check, gather, consent, allocate, refresh, channel_bind };

struct Transaction {
  TransactionKind kind = TransactionKind::check;
  std::size_t index = 0;  // pair (check, consent), local host (gather) or allocation (TURN)
  Address from, to;       // on the wire: our socket and where the datagram goes
  // A check's own path (RFC 8445 section 7.2.5.2.1 compares the response with it): the
  // local candidate's base and the remote address; through TURN, the relayed address and
  // the peer, while `from` and `to` are the socket and the server.
  Address base, peer;
  uint16_t channel = 0;  // channel_bind: the number being bound
  bool stream = false;   // sent on a TURN server's TCP stream
  bool tcp = false;      // a check on an ICE-TCP connection (from, to): sent once
  std::vector<std::byte> bytes;
  Time next_send;
  Duration rto{};
  int left = 0;             // transmissions still allowed
  bool sent = false;        // the first transmission went out
  bool controlling = false;  // the role the request was sent in (for a 487)
  bool use_candidate = false;
};

std::string make_foundation(CandidateType type, const Address& base, const Address& server,
                            bool tcp = false) {
  // RFC 8445 section 5.1.1.3: same type, base IP, server and transport -> same foundation.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint8_t b) { h = (h ^ b) * 1099511628211ull; };
  mix(static_cast<uint8_t>(type));
  if (tcp) mix(6);  // the protocol number: UDP ones keep the foundations they always had
  for (auto b : base.ip_bytes()) mix(b);
  for (auto b : server.ip_bytes()) mix(b);
  mix(static_cast<uint8_t>(server.port >> 8));
  mix(static_cast<uint8_t>(server.port));
  return std::to_string(h % 4294967291ull);
}

}  // namespace

struct Agent::Impl {
  AgentConfig config;
  std::string local_ufrag, local_pwd;
  std::string remote_ufrag, remote_pwd;
  bool controlling;
  uint64_t tie_breaker = 0;
  IceState state = IceState::new_;

  std::vector<Local> locals;
  std::vector<Allocation> allocations;
  bool closed = false;
  std::vector<Candidate> remotes;
  std::vector<Pair> pairs;
  std::deque<std::size_t> triggered;  // pair indices
  std::map<stun::TransactionId, Transaction> transactions;

  std::deque<Transmit> transmits;
  std::deque<Event> events;

  bool hosts_done = false;
  bool gathering_done_sent = false;
  bool remote_done = false;
  std::optional<Time> checks_started_at;

  int burst_tokens = kCheckBurst;
  Time last_refill{};

  std::optional<std::size_t> selected;  // pair index
  // Before any pair is selected: the pair of the latest authenticated check from the remote.
  // route() offers it so that a reply to the remote's first data (a DTLS ClientHello that
  // overtook our own check's answer) is not dropped for want of a pair: the remote proved
  // with MESSAGE-INTEGRITY that it sends from there, and we answer its checks there anyway.
  std::optional<std::size_t> tentative;
  bool ever_connected = false;
  // ICE restart (RFC 8445 section 9): between the reset and the new generation's first
  // selected pair. The data keeps the previous route, and requests signed with the previous
  // local credentials are still answered.
  bool restarting = false;
  // Our own restart() began it: checks wait for the remote's new credentials (the answer),
  // or they would go out with the old ones and end the restart on them.
  bool awaiting_remote_credentials = false;
  std::optional<Route> previous_route;
  std::string previous_ufrag, previous_pwd;
  Time last_consent_response{};
  Time next_consent{};

  stun::Writer writer;  // reused for every message we build

  explicit Impl(AgentConfig c) : config(std::move(c)), controlling(config.controlling) {
    local_ufrag = config.ufrag.empty() ? random_string(8) : config.ufrag;
    local_pwd = config.pwd.empty() ? random_string(24) : config.pwd;
    tie_breaker = config.tie_breaker;
    while (tie_breaker == 0) {
      std::array<std::byte, 8> b{};
      random_bytes(b);
      for (auto x : b) tie_breaker = (tie_breaker << 8) | std::to_integer<uint64_t>(x);
    }
  }

  // --- randomness ---------------------------------------------------------------------
  void random_bytes(std::span<std::byte> out) {
    if (config.random) {
      config.random(out);
      return;
    }
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1) {
      throw std::runtime_error("ice: RAND_bytes failed");
    }
  }
  std::string random_string(std::size_t n) {
    std::vector<std::byte> b(n);
    random_bytes(b);
    std::string s(n, 'A');
    for (std::size_t i = 0; i < n; ++i) s[i] = kIceChars[std::to_integer<unsigned>(b[i]) % 64];
    return s;
  }
  stun::TransactionId new_transaction_id() {
    stun::TransactionId id{};
    do {
      random_bytes(id);
    } while (transactions.count(id) != 0);
    return id;
  }
  // A uniformly drawn fraction in [0, 1) for jitter.
  double random_unit() {
    std::array<std::byte, 4> b{};
    random_bytes(b);
    uint32_t v = 0;
    for (auto x : b) v = (v << 8) | std::to_integer<uint32_t>(x);
    return v / 4294967296.0;
  }

  // --- output ---------------------------------------------------------------------------
  void emit(Event e) { events.push_back(std::move(e)); }
  void set_state(IceState s) {
    if (s == state) return;
    state = s;
    emit(event::StateChanged{s});
  }
  void send(const Address& from, const Address& to, std::span<const std::byte> bytes,
            bool stream = false, bool tcp = false) {
    transmits.push_back(
        Transmit{from, to, std::vector<std::byte>(bytes.begin(), bytes.end()), stream, tcp});
  }

  // --- candidates and pairs -------------------------------------------------------------
  // The UDP host candidate of the socket bound to `socket`.
  std::optional<std::size_t> host_index(const Address& socket) const {
    for (std::size_t i = 0; i < locals.size(); ++i) {
      if (locals[i].candidate.type == CandidateType::host &&
          locals[i].candidate.transport == Transport::udp && !locals[i].gone &&
          locals[i].socket == socket) {
        return i;
      }
    }
    return std::nullopt;
  }
  // Locals that form pairs: hosts (unless relay-only) and relays; srflx and prflx ones send
  // from their host socket (RFC 8445 section 6.1.2.4).
  bool pairable(const Local& l) const {
    if (l.gone) return false;
    return l.candidate.type == CandidateType::relay ||
           (l.candidate.type == CandidateType::host && !config.relay_only);
  }
  // `tcp`: the ICE-TCP candidate of that base (a UDP socket and a TCP listener may share an
  // address and port).
  std::optional<std::size_t> paired_local(const Address& base, bool tcp = false) const {
    for (std::size_t i = 0; i < locals.size(); ++i) {
      if (pairable(locals[i]) && locals[i].candidate.base == base &&
          is_tcp(locals[i].candidate.transport) == tcp) {
        return i;
      }
    }
    return std::nullopt;
  }
  Allocation* allocation_of(const Address& relayed) {
    for (auto& a : allocations) {
      if (a.state == Allocation::State::ready && a.relayed == relayed) return &a;
    }
    return nullptr;
  }
  Channel* channel_to(Allocation& a, const Address& peer) {
    for (auto& c : a.channels) {
      if (c.peer == peer) return &c;
    }
    return nullptr;
  }
  // A pair may be checked once its relay (if any) has a channel bound to the remote.
  bool pair_ready(const Pair& p) {
    const Local& l = locals[p.local];
    if (!l.allocation) return true;
    Channel* c = channel_to(allocations[*l.allocation], remotes[p.remote].address);
    return c != nullptr && c->bound;
  }
  bool checkable(std::size_t i) {
    return pairs[i].state == PairState::waiting && pair_ready(pairs[i]);
  }
  // Sends `bytes` on the path base -> peer: from the host socket as they are, or through the
  // TURN server as ChannelData when `base` is a relayed address. False when the relay has
  // no channel to that peer (yet).
  // `tcp`: on the ICE-TCP connection between `base` and `peer` (RFC 6544 section 7.1: answers
  // go back on the connection the request came on).
  bool send_path(const Address& base, const Address& peer, std::span<const std::byte> bytes,
                 bool tcp = false) {
    Allocation* a = tcp ? nullptr : allocation_of(base);
    if (a == nullptr) {
      send(base, peer, bytes, false, tcp);
      return true;
    }
    Channel* c = channel_to(*a, peer);
    if (c == nullptr || !c->bound) return false;
    std::vector<std::byte> framed;
    stun::write_channel_data(c->number, bytes, server_of(*a).tcp, framed);
    transmits.push_back(Transmit{a->socket, a->server_address, std::move(framed), server_of(*a).tcp});
    return true;
  }
  std::optional<std::size_t> remote_index(const Address& address, bool tcp = false) const {
    for (std::size_t i = 0; i < remotes.size(); ++i) {
      if (remotes[i].address == address && is_tcp(remotes[i].transport) == tcp) return i;
    }
    return std::nullopt;
  }
  // A signalled (not peer-reflexive) active TCP candidate on the IP of `address`.
  std::optional<std::size_t> signalled_active(const Address& address) const {
    for (std::size_t i = 0; i < remotes.size(); ++i) {
      const Candidate& r = remotes[i];
      if (r.transport == Transport::tcp_active && r.type != CandidateType::prflx &&
          r.address.with_port(0) == address.with_port(0)) {
        return i;
      }
    }
    return std::nullopt;
  }
  std::optional<std::size_t> pair_index(std::size_t local, std::size_t remote) const {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i].local == local && pairs[i].remote == remote) return i;
    }
    return std::nullopt;
  }

  uint64_t priority_of(std::size_t local, std::size_t remote, uint32_t local_priority = 0) const {
    const uint32_t l = local_priority != 0 ? local_priority : locals[local].candidate.priority;
    const uint32_t r = remotes[remote].priority;
    return controlling ? pair_priority(l, r) : pair_priority(r, l);
  }
  void reprioritize() {
    for (auto& p : pairs) p.priority = priority_of(p.local, p.remote, p.local_priority);
  }

  // `incoming`: the remote's check arrived on an ICE-TCP connection it opened to our passive
  // candidate, which is the only way such a pair forms.
  std::optional<std::size_t> add_pair(Time now, std::size_t local, std::size_t remote,
                                      bool incoming = false) {
    if (auto existing = pair_index(local, remote)) return existing;
    if (locals[local].candidate.base.family != remotes[remote].address.family) return std::nullopt;
    // RFC 6544 section 6.2: TCP pairs only with TCP, an active candidate with a passive one and
    // never two of the same tcptype. Our active candidate connects to a remote passive one; our
    // passive one pairs with the remote's active candidate only once that connected to us and
    // its first check arrived (the remote's signalled active candidate, port 9, cannot be
    // checked: the pair then has the remote's actual port, much like a peer-reflexive one).
    const Transport lt = locals[local].candidate.transport, rt = remotes[remote].transport;
    if (is_tcp(lt) != is_tcp(rt)) return std::nullopt;
    if (lt == Transport::tcp_active && rt != Transport::tcp_passive) return std::nullopt;
    if (lt == Transport::tcp_passive && (rt != Transport::tcp_active || !incoming))
      return std::nullopt;
    if (pairs.size() >= kMaxPairs) return std::nullopt;
    Pair p;
    p.local = local;
    p.remote = remote;
    p.priority = priority_of(local, remote);
    pairs.push_back(p);
    if (locals[local].allocation) bind_channel(now, *locals[local].allocation, remotes[remote].address);
    return pairs.size() - 1;
  }

  void add_local(Time now, Local l) {
    locals.push_back(l);
    if (!pairable(l)) return;
    for (std::size_t r = 0; r < remotes.size(); ++r) add_pair(now, locals.size() - 1, r);
  }
  // Only signalled candidates of the policy (RTCIceTransportPolicy "relay": relays only).
  void announce(const Candidate& c) {
    if (!config.relay_only || c.type == CandidateType::relay) emit(event::LocalCandidate{c});
  }

  // --- gathering --------------------------------------------------------------------------
  void add_host(Time now, const Address& base, uint16_t preference) {
    if (host_index(base)) return;
    Local l;
    l.socket = base;
    l.local_preference = preference;
    l.candidate.type = CandidateType::host;
    l.candidate.address = base;
    l.candidate.base = base;
    l.candidate.priority = candidate_priority(CandidateType::host, preference);
    l.candidate.foundation = make_foundation(CandidateType::host, base, {});
    add_local(now, l);
    announce(l.candidate);
    const std::size_t index = locals.size() - 1;
    for (std::size_t i = 0; i < config.turn_servers.size(); ++i) {
      if (config.turn_servers[i].address.family != base.family) continue;
      Allocation a;
      a.server = i;
      a.socket = base;
      a.server_address = config.turn_servers[i].address;
      allocations.push_back(std::move(a));
      send_allocate(now, allocations.size() - 1);
    }
    for (const auto& server : config.stun_servers) {
      if (config.relay_only) break;  // a server-reflexive candidate would not be used
      if (server.family != base.family) continue;
      const auto id = new_transaction_id();
      writer.reset(stun::Class::request, stun::Method::binding, id);
      writer.add_fingerprint();
      Transaction t;
      t.kind = TransactionKind::gather;
      t.index = index;
      t.from = base;
      t.to = server;
      t.bytes.assign(writer.bytes().begin(), writer.bytes().end());
      t.rto = config.timing.gather_rto;
      t.left = config.timing.gather_transmissions;
      t.next_send = now;  // sent by advance() right away
      transactions.emplace(id, std::move(t));
    }
  }

  // A listening TCP socket at `listen` (RFC 6544): a passive host candidate there and an active
  // one on its IP (port 9 in SDP, section 4.5; base port 0: it connects from any port). No
  // server-reflexive or relayed TCP candidates are gathered (section 5.2's NAT-assisted and
  // TURN-TCP candidates are left out), nor simultaneous-open ones.
  void add_tcp_host(Time now, const Address& listen, uint16_t preference) {
    for (const Transport transport : {Transport::tcp_passive, Transport::tcp_active}) {
      const Address base = transport == Transport::tcp_active ? listen.with_port(0) : listen;
      const bool known = std::any_of(locals.begin(), locals.end(), [&](const Local& l) {
        return !l.gone && l.candidate.type == CandidateType::host &&
               l.candidate.transport == transport && l.socket == base;
      });
      if (known) continue;
      Local l;
      l.socket = base;
      l.local_preference = preference;
      l.candidate.type = CandidateType::host;
      l.candidate.transport = transport;
      l.candidate.address = transport == Transport::tcp_active ? listen.with_port(9) : listen;
      l.candidate.base = base;
      l.candidate.priority = candidate_priority(CandidateType::host, preference, transport);
      l.candidate.foundation = make_foundation(CandidateType::host, base, {}, true);
      add_local(now, l);
      announce(l.candidate);
    }
  }

  // The ICE-TCP connection between our `base` and `remote` closed or could not be opened:
  // its pairs fail, and what was in flight on it is dropped. When it carried the selected
  // pair the best other valid pair takes over; with none, ICE fails (as it would once consent
  // expired, RFC 7675, but at once: a closed TCP connection does not come back).
  void tcp_closed(Time now, const Address& base, const Address& remote) {
    auto on_it = [&](std::size_t i) {
      const Local& l = locals[pairs[i].local];
      const Candidate& r = remotes[pairs[i].remote];
      return is_tcp(l.candidate.transport) && l.socket == base && is_tcp(r.transport) &&
             r.address == remote;
    };
    bool lost_selected = false;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (!on_it(i)) continue;
      pairs[i].state = PairState::failed;
      pairs[i].valid = pairs[i].nominated = pairs[i].remote_nominated = false;
      if (selected == i) {
        selected.reset();
        lost_selected = true;
      }
      if (tentative == i) tentative.reset();
    }
    triggered.erase(std::remove_if(triggered.begin(), triggered.end(),
                                   [&](std::size_t i) {
                                     if (!on_it(i)) return false;
                                     pairs[i].triggered = false;
                                     return true;
                                   }),
                    triggered.end());
    for (auto it = transactions.begin(); it != transactions.end();) {
      const Transaction& t = it->second;
      it = t.tcp && t.from == base && t.to == remote ? transactions.erase(it) : std::next(it);
    }
    if (previous_route && previous_route->tcp && previous_route->from == base &&
        previous_route->to == remote) {
      previous_route.reset();
    }
    if (lost_selected && state != IceState::failed) {
      emit(event::Problem{"ICE-TCP connection " + base.to_string() + " - " + remote.to_string() +
                          " of the selected pair closed"});
      update_selection(now);
      if (!selected && !restarting) set_state(IceState::failed);
    }
    advance(now);
  }

  void on_gather_response(Time now, const Transaction& t, const stun::Message& m) {
    if (m.message_class() != stun::Class::success) {
      auto err = m.error_code();
      emit(event::Problem{"STUN server " + t.to.to_string() + " answered with error " +
                          std::to_string(err ? err->code : 0)});
      return;
    }
    auto mapped = m.xor_address(stun::attr::xor_mapped_address);
    if (!mapped) mapped = m.address(stun::attr::mapped_address);
    if (!mapped) {
      emit(event::Problem{"STUN server " + t.to.to_string() + " gave no mapped address"});
      return;
    }
    const Local& host = locals[t.index];
    if (*mapped == host.socket) return;  // no NAT between us and the server
    for (const auto& l : locals) {
      if (!l.gone && l.candidate.address == *mapped) return;  // already known (another server, same NAT)
    }
    Local l;
    l.socket = host.socket;
    l.local_preference = host.local_preference;
    l.candidate.type = CandidateType::srflx;
    l.candidate.address = *mapped;
    l.candidate.base = host.socket;
    l.candidate.related = host.socket;
    l.candidate.priority = candidate_priority(CandidateType::srflx, host.local_preference);
    l.candidate.foundation = make_foundation(CandidateType::srflx, host.socket, t.to);
    add_local(now, l);
    announce(l.candidate);
  }

  void maybe_gathering_done() {
    if (gathering_done_sent || !hosts_done) return;
    for (const auto& [id, t] : transactions) {
      if (t.kind == TransactionKind::gather || t.kind == TransactionKind::allocate) return;
    }
    gathering_done_sent = true;
    emit(event::GatheringDone{});
    if (config.relay_only && state != IceState::failed &&
        std::none_of(locals.begin(), locals.end(),
                     [](const Local& l) { return l.candidate.type == CandidateType::relay; })) {
      if (config.turn_servers.empty()) {
        emit(event::Problem{"relay-only ICE needs a usable TURN server, and none is configured"});
      }
      set_state(IceState::failed);
    }
  }

  // --- TURN (RFC 8656) ----------------------------------------------------------------------
  const TurnServer& server_of(const Allocation& a) const { return config.turn_servers[a.server]; }

  // Starts a TURN request; authenticated (USERNAME, REALM, NONCE, MESSAGE-INTEGRITY with the
  // long-term key, RFC 8489 section 9.2.3) once the server gave its realm and nonce.
  void turn_request(Time now, std::size_t index, TransactionKind kind, stun::Method method,
                    const std::function<void(stun::Writer&)>& attributes, uint16_t channel = 0,
                    Address peer = {}) {
    Allocation& a = allocations[index];
    const auto id = new_transaction_id();
    writer.reset(stun::Class::request, method, id);
    attributes(writer);
    if (a.have_key) {
      writer.add_string(stun::attr::username, server_of(a).username);
      writer.add_string(stun::attr::realm, a.realm);
      writer.add_string(stun::attr::nonce, a.nonce);
      writer.add_message_integrity(a.key);
    }
    writer.add_fingerprint();
    Transaction t;
    t.kind = kind;
    t.index = index;
    t.from = a.socket;
    t.to = a.server_address;
    t.peer = peer;
    t.channel = channel;
    t.stream = server_of(a).tcp;
    t.bytes.assign(writer.bytes().begin(), writer.bytes().end());
    t.rto = config.timing.gather_rto;
    t.left = config.timing.gather_transmissions;
    t.next_send = now;
    transmit_now(now, t);
    transactions.emplace(id, std::move(t));
  }

  void send_allocate(Time now, std::size_t index) {
    turn_request(now, index, TransactionKind::allocate, stun::Method::allocate, [](stun::Writer& w) {
      w.add_requested_transport(17);  // UDP (RFC 8656 section 18.7)
    });
  }

  void send_refresh(Time now, std::size_t index, uint32_t lifetime) {
    turn_request(now, index, TransactionKind::refresh, stun::Method::refresh,
                 [lifetime](stun::Writer& w) { w.add_u32(stun::attr::lifetime, lifetime); });
  }

  void bind_channel(Time now, std::size_t index, const Address& peer) {
    Allocation& a = allocations[index];
    if (a.state != Allocation::State::ready) return;
    Channel* c = channel_to(a, peer);
    if (c == nullptr) {
      if (a.channels.size() >= 0x1000) return;
      a.channels.push_back(Channel{static_cast<uint16_t>(0x4000 + a.channels.size()), peer});
      c = &a.channels.back();
    }
    if (c->binding) return;
    c->binding = true;
    const uint16_t number = c->number;
    turn_request(now, index, TransactionKind::channel_bind, stun::Method::channel_bind,
                 [&](stun::Writer& w) {
                   w.add_channel_number(number);
                   w.add_xor_address(stun::attr::xor_peer_address, peer);
                 },
                 number, peer);
  }

  void fail_allocation(std::size_t index, const std::string& why) {
    Allocation& a = allocations[index];
    if (a.state == Allocation::State::allocating) {
      emit(event::Problem{"no relay candidate from TURN " + a.server_address.to_string() + ": " + why});
    } else {
      emit(event::Problem{"TURN " + a.server_address.to_string() + ": " + why});
    }
    a.state = Allocation::State::failed;
  }

  // 401 and 438 (RFC 8489 section 9.2.5): the realm and nonce to use, then the request again.
  // True when it will be retried.
  bool retry_with_nonce(Time now, const Transaction& t, const stun::Message& m, int code) {
    Allocation& a = allocations[t.index];
    auto realm = m.string(stun::attr::realm);
    auto nonce = m.string(stun::attr::nonce);
    if (!nonce) return false;
    if (code == stun::error::unauthorized) {
      if (a.have_key || !realm) return false;  // our credentials were refused
      a.realm = std::string(*realm);
      a.key = stun::long_term_key(server_of(a).username, a.realm, server_of(a).password);
      a.have_key = true;
    } else if (++a.stale_nonce_retries > 3) {
      return false;
    }
    a.nonce = std::string(*nonce);
    auto bytes = stun::Message::parse(t.bytes);
    if (!bytes) return false;
    switch (t.kind) {
      case TransactionKind::allocate: send_allocate(now, t.index); break;
      case TransactionKind::refresh: send_refresh(now, t.index, bytes->u32(stun::attr::lifetime).value_or(600)); break;
      case TransactionKind::channel_bind:
        if (Channel* c = channel_to(a, t.peer)) c->binding = false;
        bind_channel(now, t.index, t.peer);
        break;
      default: return false;
    }
    return true;
  }

  void on_turn_response(Time now, const Transaction& t, const stun::Message& m) {
    Allocation& a = allocations[t.index];
    if (m.message_class() == stun::Class::error) {
      auto err = m.error_code();
      const int code = err ? err->code : 0;
      if ((code == stun::error::unauthorized || code == stun::error::stale_nonce) &&
          retry_with_nonce(now, t, m, code)) {
        return;
      }
      const std::string why = code == stun::error::unauthorized
                                  ? "the server refused the credentials (401)"
                                  : "error " + std::to_string(code) + " " + std::string(err ? err->reason : "");
      if (t.kind == TransactionKind::channel_bind) {
        if (Channel* c = channel_to(a, t.peer)) {
          c->binding = false;
          c->refresh_at = now + std::chrono::seconds(30);  // a bound one retries later, not at once
        }
        emit(event::Problem{"TURN " + a.server_address.to_string() + ": ChannelBind to " +
                            t.peer.to_string() + " failed: " + why});
        return;
      }
      if (t.kind == TransactionKind::refresh && a.state == Allocation::State::released) return;
      fail_allocation(t.index, why);
      return;
    }
    // Success responses are signed with the long-term key (RFC 8656 section 7.2).
    if (a.have_key && !m.check_integrity(a.key)) return;
    a.stale_nonce_retries = 0;
    switch (t.kind) {
      case TransactionKind::allocate: {
        auto relayed = m.xor_address(stun::attr::xor_relayed_address);
        if (!relayed) {
          fail_allocation(t.index, "the Allocate answer has no XOR-RELAYED-ADDRESS");
          return;
        }
        a.relayed = *relayed;
        a.mapped = m.xor_address(stun::attr::xor_mapped_address).value_or(Address{});
        a.state = Allocation::State::ready;
        schedule_refresh(now, a, m.u32(stun::attr::lifetime).value_or(600));
        const Local& host = *std::find_if(locals.begin(), locals.end(), [&](const Local& l) {
          return l.candidate.type == CandidateType::host &&
                 l.candidate.transport == Transport::udp && l.socket == a.socket;
        });
        Local l;
        l.socket = a.socket;
        l.local_preference = host.local_preference;
        l.allocation = t.index;
        l.candidate.type = CandidateType::relay;
        l.candidate.address = *relayed;
        l.candidate.base = *relayed;
        l.candidate.related = a.mapped;
        l.candidate.priority = candidate_priority(CandidateType::relay, host.local_preference);
        l.candidate.foundation = make_foundation(CandidateType::relay, a.socket, a.server_address);
        add_local(now, l);
        announce(l.candidate);
        break;
      }
      case TransactionKind::refresh:
        if (a.state == Allocation::State::ready) {
          schedule_refresh(now, a, m.u32(stun::attr::lifetime).value_or(600));
        }
        break;
      case TransactionKind::channel_bind:
        if (Channel* c = channel_to(a, t.peer)) {
          c->binding = false;
          c->bound = true;
          // Permissions last 300 s and channels 600 s (RFC 8656 sections 9, 12): a
          // ChannelBind every 4 minutes refreshes both.
          c->refresh_at = now + std::chrono::minutes(4);
        }
        break;
      default:
        break;
    }
  }

  void schedule_refresh(Time now, Allocation& a, uint32_t lifetime) {
    // A minute before it ends (RFC 8656 section 8 leaves the margin to the client).
    const auto seconds = lifetime > 120 ? lifetime - 60 : lifetime / 2;
    a.refresh_at = now + std::chrono::seconds(seconds);
  }

  void run_turn(Time now) {
    for (std::size_t i = 0; i < allocations.size(); ++i) {
      Allocation& a = allocations[i];
      if (a.state != Allocation::State::ready) continue;
      if (now >= a.refresh_at) {
        a.refresh_at = now + std::chrono::seconds(30);  // until the answer reschedules it
        send_refresh(now, i, 600);
      }
      for (auto& c : a.channels) {
        if (!c.binding && c.refresh_at != Time{} && now >= c.refresh_at) {
          const Address peer = c.peer;
          bind_channel(now, i, peer);
        }
      }
    }
  }

  // A datagram from a TURN server on one of our sockets: its control answers, or what a peer
  // sent us through the relay (ChannelData, or a Data indication, RFC 8656 sections 11.4 and
  // 12.5), which is then handled as if it had arrived at the relayed address.
  std::span<const std::byte> receive_from_server(Time now, Allocation& a,
                                                 std::span<const std::byte> bytes) {
    const auto first = std::to_integer<unsigned>(bytes[0]);
    if (first >= 0x40 && first <= 0x4f) {
      auto data = stun::parse_channel_data(bytes);
      if (!data) return {};
      const std::size_t index = data->channel - 0x4000u;
      if (index >= a.channels.size() || !a.channels[index].bound) return {};
      const Address peer = a.channels[index].peer;
      return receive(now, a.relayed, peer, data->data);
    }
    auto m = stun::Message::parse(bytes);
    if (!m) return {};
    if (m->message_class() == stun::Class::indication && m->method() == stun::Method::data) {
      auto peer = m->xor_address(stun::attr::xor_peer_address);
      auto data = m->find(stun::attr::data);
      if (!peer || !data || data->empty()) return {};
      return receive(now, a.relayed, *peer, *data);
    }
    if (m->message_class() == stun::Class::success || m->message_class() == stun::Class::error) {
      auto it = transactions.find(m->transaction_id());
      if (it == transactions.end() || it->second.to != a.server_address) return {};
      const auto kind = it->second.kind;
      if (kind != TransactionKind::allocate && kind != TransactionKind::refresh &&
          kind != TransactionKind::channel_bind) {
        // The same address is a STUN server too (coturn is both): a Binding answer.
        return receive_plain(now, a.socket, a.server_address, bytes);
      }
      const Transaction t = std::move(it->second);
      transactions.erase(it);
      on_turn_response(now, t, *m);
      advance(now);
    }
    return {};
  }

  // --- checks -----------------------------------------------------------------------------
  bool can_check() const {
    return !remote_ufrag.empty() && !remote_pwd.empty() && !awaiting_remote_credentials;
  }
  // Controlling now: valid pairs not nominated are checked again, with USE-CANDIDATE.
  void renominate() {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i].valid && !pairs[i].nominated && pairs[i].state != PairState::in_progress) {
        pairs[i].state = PairState::waiting;
        trigger(i);
      }
    }
  }

  void start_check(Time now, std::size_t index, TransactionKind kind) {
    Pair& p = pairs[index];
    const Local& local = locals[p.local];
    const Candidate& remote = remotes[p.remote];
    const auto id = new_transaction_id();
    writer.reset(stun::Class::request, stun::Method::binding, id);
    // RFC 8445 section 7.2.2: USERNAME "remote:local", PRIORITY as a peer-reflexive candidate
    // of ours would have, the role with our tie-breaker, MESSAGE-INTEGRITY with the remote
    // password, FINGERPRINT.
    const std::string username = remote_ufrag + ":" + local_ufrag;
    writer.add_string(stun::attr::username, username);
    writer.add_u32(stun::attr::priority,
                   candidate_priority(CandidateType::prflx, local.local_preference,
                                      local.candidate.transport));
    writer.add_u64(controlling ? stun::attr::ice_controlling : stun::attr::ice_controlled,
                   tie_breaker);
    const bool use_candidate = controlling;  // aggressive nomination: agent.hpp says why
    if (use_candidate) writer.add_flag(stun::attr::use_candidate);
    writer.add_message_integrity(stun::short_term_key(remote_pwd));
    writer.add_fingerprint();
    Transaction t;
    t.kind = kind;
    t.index = index;
    t.base = local.candidate.base;
    t.peer = remote.address;
    t.from = local.socket;
    t.to = remote.address;
    t.tcp = is_tcp(local.candidate.transport);  // on the connection (base, remote address)
    if (local.allocation) {
      // Through the relay: ChannelData to the server (pair_ready() made sure of the channel).
      Allocation& a = allocations[*local.allocation];
      t.to = a.server_address;
      t.stream = server_of(a).tcp;
      stun::write_channel_data(channel_to(a, remote.address)->number, writer.bytes(), server_of(a).tcp,
                               t.bytes);
    } else {
      t.bytes.assign(writer.bytes().begin(), writer.bytes().end());
    }
    t.controlling = controlling;
    t.use_candidate = use_candidate;
    if (kind == TransactionKind::consent) {
      t.rto = config.timing.consent_rto;
      t.left = kConsentTransmissions;
    } else {
      t.rto = config.timing.check_rto;
      t.left = config.timing.check_transmissions;
      p.state = PairState::in_progress;
    }
    t.next_send = now;
    transmit_now(now, t);
    transactions.emplace(id, std::move(t));
    if (!checks_started_at) checks_started_at = now;
    if (state == IceState::new_) set_state(IceState::checking);
  }

  void transmit_now(Time now, Transaction& t) {
    // RFC 8489 section 6.2.2: a request to a server over TCP (TLS) is sent once, not
    // retransmitted; it still times out when its transmissions would have run out. A check
    // through a TCP-reached relay is retransmitted: past the server it travels as UDP.
    // Checks and consent requests on an ICE-TCP connection go once too (RFC 6544 section 7.1
    // points there), and time out like UDP ones (about 10 s for a check; RFC 8489's 39.5 s
    // for TCP would hold a dead pair four times as long).
    const bool to_server = t.kind == TransactionKind::allocate || t.kind == TransactionKind::refresh ||
                           t.kind == TransactionKind::channel_bind;
    const bool reliable = (t.stream && to_server) || t.tcp;
    if (!t.sent || !reliable) send(t.from, t.to, t.bytes, t.stream, t.tcp);
    t.sent = true;
    --t.left;
    t.next_send = now + t.rto;
    if (t.kind != TransactionKind::consent) {
      t.rto = std::min<Duration>(t.rto * 2, config.timing.check_rto_max);
    }
  }

  // Starts checks the pacing allows: triggered ones first (RFC 8445 section 6.1.4.2), then
  // the waiting pair of highest priority.
  void schedule_checks(Time now) {
    if (!can_check()) return;
    const auto pacing = config.timing.check_pacing;
    if (pacing.count() > 0) {
      while (burst_tokens < kCheckBurst && now - last_refill >= pacing) {
        ++burst_tokens;
        last_refill += pacing;
      }
      if (burst_tokens >= kCheckBurst) last_refill = now;
    } else {
      burst_tokens = kCheckBurst;
    }
    while (burst_tokens > 0) {
      std::optional<std::size_t> next;
      while (!triggered.empty()) {
        const std::size_t i = triggered.front();
        triggered.pop_front();
        pairs[i].triggered = false;
        if (pairs[i].state != PairState::in_progress && pairs[i].state != PairState::succeeded) {
          next = i;
          break;
        }
      }
      if (next && !pair_ready(pairs[*next])) next.reset();  // picked up below once ready
      if (!next) {
        for (std::size_t i = 0; i < pairs.size(); ++i) {
          if (!checkable(i)) continue;
          if (!next || pairs[i].priority > pairs[*next].priority) next = i;
        }
      }
      if (!next) break;
      if (burst_tokens == kCheckBurst) last_refill = now;
      --burst_tokens;
      start_check(now, *next, TransactionKind::check);
    }
  }

  void trigger(std::size_t index) {
    Pair& p = pairs[index];
    if (p.triggered || p.state == PairState::in_progress || p.state == PairState::succeeded) return;
    p.state = PairState::waiting;
    p.triggered = true;
    triggered.push_back(index);
  }

  void on_check_response(Time now, const Transaction& t, const Address& base, const Address& from,
                         const stun::Message& m, bool tcp) {
    Pair& p = pairs[t.index];
    // RFC 8445 section 7.2.5.2.1: the response must come from where the request went, to the
    // socket it left from; otherwise the pair fails (a NAT that does not preserve addresses).
    // Over ICE-TCP: on the connection the request went on.
    if (from != t.peer || base != t.base || tcp != t.tcp) {
      if (t.kind == TransactionKind::check) p.state = PairState::failed;
      return;
    }
    if (m.message_class() == stun::Class::error) {
      auto err = m.error_code();
      if (err && err->code == stun::error::role_conflict) {
        // Section 7.2.5.1: switch to the role opposite to the one the request carried and
        // check again.
        if (t.controlling == controlling) {
          controlling = !controlling;
          reprioritize();
        }
        p.state = PairState::waiting;
        trigger(t.index);
        return;
      }
      if (t.kind == TransactionKind::check) p.state = PairState::failed;
      emit(event::Problem{"connectivity check to " + t.to.to_string() + " got error " +
                          std::to_string(err ? err->code : 0)});
      return;
    }
    if (t.kind == TransactionKind::consent) {
      last_consent_response = now;
      if (state == IceState::disconnected) set_state(IceState::connected);
      return;
    }
    p.state = PairState::succeeded;
    p.valid = true;
    if (t.use_candidate) p.nominated = true;           // we are controlling: nominated with it
    // Sent while controlled, answered after a role switch made us controlling: check again,
    // now with USE-CANDIDATE, or the pair would be valid and never nominated.
    if (controlling && !p.nominated) {
      p.state = PairState::waiting;
      trigger(t.index);
    }
    if (!controlling && p.remote_nominated) p.nominated = true;  // section 7.3.1.5
    // Section 7.2.5.3.1: a mapped address we do not know is a peer-reflexive candidate of
    // ours. It is not signalled; the pair keeps sending from its socket, so only note it.
    if (auto mapped = m.xor_address(stun::attr::xor_mapped_address)) {
      bool known = false;
      for (const auto& l : locals) known = known || l.candidate.address == *mapped;
      if (!known) {
        Local l;
        l.socket = locals[p.local].socket;
        l.local_preference = locals[p.local].local_preference;
        l.candidate.type = CandidateType::prflx;
        l.candidate.transport = locals[p.local].candidate.transport;
        l.candidate.address = *mapped;
        l.candidate.base = l.socket;
        l.candidate.related = l.socket;
        l.candidate.priority =
            candidate_priority(CandidateType::prflx, l.local_preference, l.candidate.transport);
        l.candidate.foundation = make_foundation(CandidateType::prflx, l.socket, {}, t.tcp);
        locals.push_back(l);  // not paired: its packets leave from the host socket
      }
      // Section 7.2.5.3.2: the valid pair's local candidate is the one the mapped address
      // names, and its priority is computed with that candidate's. The pair keeps sending from
      // its socket, but it must rank as the remote ranks it (the remote knows us by that
      // address): with the host's priority instead, each side behind a NAT ranks the pairs
      // that send from its own host above those that send from its relay, and a controlled
      // agent selects a different nominated pair than the controlling one did.
      // Not over ICE-TCP: the remote takes the connection of our active candidate for that
      // signalled candidate with its priority (on_request), whatever port it came from.
      for (const auto& l : locals) {
        if (t.tcp) break;
        if (l.gone || l.candidate.address != *mapped || l.candidate.transport != Transport::udp) continue;
        p.local_priority = l.candidate.priority;
        p.priority = priority_of(p.local, p.remote, p.local_priority);
        break;
      }
    }
    update_selection(now);
  }

  // --- incoming requests -----------------------------------------------------------------
  // Signed with `pwd` unless it is empty (a request we could not authenticate).
  void respond_error(const Address& base, const Address& from, const stun::Message& m, int code,
                     std::string_view reason, std::string_view pwd, bool tcp) {
    writer.reset(stun::Class::error, stun::Method::binding, m.transaction_id());
    writer.add_error_code(code, reason);
    if (!pwd.empty()) writer.add_message_integrity(stun::short_term_key(pwd));
    writer.add_fingerprint();
    send_path(base, from, writer.bytes(), tcp);
  }

  // `tcp`: it came on the ICE-TCP connection between our `base` and `from`.
  void on_request(Time now, const Address& base, const Address& from, const stun::Message& m,
                  bool tcp) {
    if (m.method() != stun::Method::binding) return;  // not for an ICE agent: drop
    const auto local_index = paired_local(base, tcp);
    if (!local_index) return;
    auto username = m.string(stun::attr::username);
    if (!username || !m.has_integrity()) {
      respond_error(base, from, m, stun::error::bad_request,
                    "USERNAME and MESSAGE-INTEGRITY required", {}, tcp);
      return;
    }
    // RFC 8445 section 7.3: USERNAME is "<our ufrag>:<theirs>", signed with our password.
    // During a restart the previous credentials are still answered (section 9: the old pair
    // carries the data until a new one is selected), and nothing else is done for them.
    const auto colon = username->find(':');
    const auto ufrag = colon == std::string_view::npos ? std::string_view() : username->substr(0, colon);
    const bool previous = restarting && !previous_ufrag.empty() && ufrag == previous_ufrag;
    const std::string& pwd = previous ? previous_pwd : local_pwd;
    if (ufrag.empty() || (ufrag != local_ufrag && !previous) ||
        !m.check_integrity(stun::short_term_key(pwd))) {
      respond_error(base, from, m, stun::error::unauthorized, "Unauthorized", {}, tcp);
      return;
    }
    static constexpr uint16_t kKnown[] = {stun::attr::username, stun::attr::message_integrity,
                                          stun::attr::priority, stun::attr::use_candidate,
                                          stun::attr::fingerprint};
    if (auto unknown = m.unknown_required(kKnown); !unknown.empty()) {
      writer.reset(stun::Class::error, stun::Method::binding, m.transaction_id());
      writer.add_error_code(stun::error::unknown_attribute, "Unknown Attribute");
      writer.add_unknown_attributes(unknown);
      writer.add_message_integrity(stun::short_term_key(pwd));
      writer.add_fingerprint();
      send_path(base, from, writer.bytes(), tcp);
      return;
    }
    // Section 7.3.1.1: role conflicts, settled by the tie-breaker.
    const auto theirs_controlling = m.u64(stun::attr::ice_controlling);
    const auto theirs_controlled = m.u64(stun::attr::ice_controlled);
    if (controlling && theirs_controlling) {
      if (tie_breaker >= *theirs_controlling) {
        respond_error(base, from, m, stun::error::role_conflict, "Role Conflict", pwd, tcp);
        return;
      }
      controlling = false;
      reprioritize();
    } else if (!controlling && theirs_controlled) {
      if (tie_breaker >= *theirs_controlled) {
        controlling = true;
        reprioritize();
        renominate();
      } else {
        respond_error(base, from, m, stun::error::role_conflict, "Role Conflict", pwd, tcp);
        return;
      }
    }
    // Section 7.3.1.2: the success response, with the source we saw.
    writer.reset(stun::Class::success, stun::Method::binding, m.transaction_id());
    writer.add_xor_address(stun::attr::xor_mapped_address, from);
    writer.add_message_integrity(stun::short_term_key(pwd));
    writer.add_fingerprint();
    send_path(base, from, writer.bytes(), tcp);
    if (previous) return;  // the old generation's consent: answered, nothing more

    // Section 7.3.1.3: a source we do not know is a peer-reflexive remote candidate.
    // Over ICE-TCP its tcptype is the opposite of our candidate's (RFC 6544 section 7.2.2): a
    // check on a connection accepted by our passive candidate comes from the remote's active
    // one, from the port it connected from.
    auto remote = remote_index(from, tcp);
    if (!remote) {
      if (remotes.size() >= kMaxRemoteCandidates) return;
      Candidate c;
      c.type = CandidateType::prflx;
      if (tcp) {
        c.transport = locals[*local_index].candidate.transport == Transport::tcp_passive
                          ? Transport::tcp_active
                          : Transport::tcp_passive;
        // An active candidate's port is never known in advance (9 in SDP): the connection
        // from the IP of a signalled active candidate is that candidate, with the port it
        // came from. Keeping its type and priority (rather than a peer-reflexive one's)
        // makes both sides compute the same pair priorities, so they select the same pair.
        if (auto signalled = signalled_active(from)) c = remotes[*signalled];
      }
      c.address = from;
      c.base = from;
      if (c.type == CandidateType::prflx) {
        c.priority = m.u32(stun::attr::priority)
                         .value_or(candidate_priority(CandidateType::prflx, 0, c.transport));
        c.foundation = make_foundation(CandidateType::prflx, from, base, tcp);
      }
      remotes.push_back(c);
      remote = remotes.size() - 1;
    }
    auto pair = add_pair(now, *local_index, *remote, /*incoming=*/tcp);
    if (!pair) return;
    tentative = pair;
    // Section 7.3.1.5: USE-CANDIDATE from the controlling agent nominates the pair once (or
    // as soon as) our own check on it succeeded.
    if (!controlling && m.has(stun::attr::use_candidate)) {
      pairs[*pair].remote_nominated = true;
      if (pairs[*pair].valid) pairs[*pair].nominated = true;
    }
    // Section 7.3.1.4: a triggered check, unless the pair already succeeded.
    trigger(*pair);
    update_selection(now);
  }

  // --- selection, consent and state ------------------------------------------------------
  void update_selection(Time now) {
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const Pair& p = pairs[i];
      if (!p.valid) continue;
      if (controlling && !p.nominated) continue;
      if (!best) {
        best = i;
        continue;
      }
      const Pair& b = pairs[*best];
      // Controlled: a nominated pair beats any pair that is not (section 8.1.1 leaves the
      // choice among valid pairs to us before nomination).
      if (!controlling && p.nominated != b.nominated) {
        if (p.nominated) best = i;
        continue;
      }
      if (p.priority > b.priority) best = i;
    }
    if (!best || best == selected) {
      settle_completion();
      return;
    }
    if (state == IceState::failed) return;
    selected = best;
    tentative.reset();  // only for before a pair is selected
    if (!ever_connected || restarting) {
      ever_connected = true;
      last_consent_response = now;
    }
    restarting = false;
    previous_route.reset();
    previous_ufrag.clear();
    previous_pwd.clear();
    schedule_consent(now);
    const Pair& p = pairs[*selected];
    emit(event::SelectedPair{locals[p.local].candidate, remotes[p.remote]});
    if (state != IceState::connected && state != IceState::completed) set_state(IceState::connected);
    settle_completion();
  }

  // `completed`: the selected pair is nominated and no better pair is still being checked.
  void settle_completion() {
    if (!selected || (state != IceState::connected)) return;
    const Pair& s = pairs[*selected];
    if (!s.nominated) return;
    for (const auto& p : pairs) {
      if (p.priority > s.priority && (p.state == PairState::waiting || p.state == PairState::in_progress)) return;
    }
    set_state(IceState::completed);
  }

  void schedule_consent(Time now) {
    // RFC 7675 section 5.1: every 5 s, randomized to 0.8..1.2 of that.
    const auto base = config.timing.consent_interval;
    const double factor = 0.8 + 0.4 * random_unit();
    next_consent = now + std::chrono::duration_cast<Duration>(base * factor);
  }

  void run_consent(Time now) {
    if (!selected || state == IceState::failed) return;
    const auto silent = now - last_consent_response;
    if (silent >= config.timing.consent_timeout) {
      // RFC 7675 section 5.1: consent expired; no more data may be sent.
      selected.reset();
      tentative.reset();
      emit(event::Problem{"ICE consent expired: no response from the remote peer for " +
                          std::to_string(std::chrono::duration_cast<milliseconds>(silent).count()) +
                          " ms"});
      set_state(IceState::failed);
      return;
    }
    if (silent >= config.timing.disconnected_after &&
        (state == IceState::connected || state == IceState::completed)) {
      set_state(IceState::disconnected);
    }
    if (now >= next_consent) {
      // A new consent check replaces one still being retransmitted (a new transaction id,
      // RFC 7675 section 5.1).
      for (auto it = transactions.begin(); it != transactions.end();) {
        it = it->second.kind == TransactionKind::consent ? transactions.erase(it) : std::next(it);
      }
      start_check(now, *selected, TransactionKind::consent);
      schedule_consent(now);
    }
  }

  void check_failure(Time now) {
    if (state == IceState::failed || (ever_connected && !restarting)) return;
    if (!checks_started_at) return;
    bool pending = !triggered.empty();
    bool any_valid = false;
    for (const auto& p : pairs) {
      pending = pending || p.state == PairState::waiting || p.state == PairState::in_progress;
      any_valid = any_valid || p.valid;
    }
    if (any_valid) return;
    // Both sides must have said they are done: pairs still form as our hosts come.
    // With no pair at all (a browser whose only candidates are mDNS names we cannot use
    // yet), the remote's checks may still bring peer-reflexive ones: only the timeout ends it.
    const bool exhausted = remote_done && hosts_done && !pending && !pairs.empty();
    const bool timed_out = now - *checks_started_at >= config.timing.connect_timeout;
    if (exhausted || timed_out) {
      emit(event::Problem{exhausted ? "ICE failed: no candidate pair worked (" +
                                          std::to_string(pairs.size()) + " pairs checked)"
                                    : "ICE failed: no candidate pair worked within " +
                                          std::to_string(std::chrono::duration_cast<milliseconds>(
                                                             config.timing.connect_timeout)
                                                             .count()) +
                                          " ms"});
      set_state(IceState::failed);
    }
  }

  // --- ICE restart (RFC 8445 section 9) ---------------------------------------------------
  // Forgets the remote's candidates and every pair (the remote restarts too and signals a
  // new generation), once per restart whichever side starts it; the route in use is kept for
  // the data until the new checks select a pair. DTLS and SCTP above see nothing of it.
  void begin_restart(Time now) {
    if (restarting) return;
    if (!selected && !tentative) {
      previous_route.reset();
    } else {
      const auto index = selected ? selected : tentative;
      previous_route = route_of(pairs[*index]);
    }
    restarting = true;
    remotes.clear();
    pairs.clear();
    triggered.clear();
    selected.reset();
    tentative.reset();
    remote_done = false;
    for (auto it = transactions.begin(); it != transactions.end();) {
      const auto kind = it->second.kind;
      it = kind == TransactionKind::check || kind == TransactionKind::consent ? transactions.erase(it)
                                                                             : std::next(it);
    }
    checks_started_at = now;
    if (state == IceState::failed) set_state(IceState::checking);
  }

  std::optional<Route> route_of(const Pair& p) {
    const Local& local = locals[p.local];
    const Address& remote = remotes[p.remote].address;
    if (!local.allocation)
      return Route{local.socket, remote, 0, false, is_tcp(local.candidate.transport)};
    auto& a = allocations[*local.allocation];
    const Channel* c = channel_to(a, remote);
    if (c == nullptr || !c->bound || a.state != Allocation::State::ready) return std::nullopt;
    return Route{a.socket, a.server_address, c->number, server_of(a).tcp};
  }

  // New local credentials, and every local candidate announced again for them. With
  // `more_hosts`, hosts follow (add_host, then end_of_hosts) and gathering is done after them.
  void restart(Time now, bool more_hosts) {
    if (!restarting) awaiting_remote_credentials = true;
    begin_restart(now);
    if (previous_ufrag.empty()) {
      previous_ufrag = local_ufrag;
      previous_pwd = local_pwd;
    }
    local_ufrag = random_string(8);
    local_pwd = random_string(24);
    for (const auto& l : locals) {
      if (l.candidate.type != CandidateType::prflx && !l.gone) announce(l.candidate);
    }
    // GatheringDone again once the new generation is complete (maybe_gathering_done, from
    // advance): at once, unless hosts follow or server requests are still out.
    if (gathering_done_sent) {
      gathering_done_sent = false;
      if (more_hosts) hosts_done = false;
    }
    advance(now);
  }

  // The address of the socket bound to `base` left the machine: its candidates (host, and
  // the srflx, prflx and relayed ones behind it) are neither announced nor paired again, its
  // pairs fail, and what it still had to send is dropped. Its TURN allocations are left to
  // expire on the server (the socket cannot reach it any more).
  void remove_host(Time now, const Address& base) {
    for (auto& l : locals) {
      if (l.socket == base) l.gone = true;
    }
    for (auto& a : allocations) {
      if (a.socket == base) a.state = Allocation::State::released;
    }
    for (auto it = transactions.begin(); it != transactions.end();) {
      it = it->second.from == base ? transactions.erase(it) : std::next(it);
    }
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      if (!locals[pairs[i].local].gone) continue;
      pairs[i].state = PairState::failed;
      pairs[i].valid = false;
      pairs[i].nominated = false;
      if (selected == i) selected.reset();
      if (tentative == i) tentative.reset();
    }
    triggered.erase(std::remove_if(triggered.begin(), triggered.end(),
                                   [&](std::size_t i) { return locals[pairs[i].local].gone; }),
                    triggered.end());
    if (previous_route && previous_route->from == base) previous_route.reset();
    advance(now);
  }

  // --- the one pass -------------------------------------------------------------------------
  void advance(Time now) {
    if (closed) return;
    // Retransmissions, and transactions that ran out.
    for (auto it = transactions.begin(); it != transactions.end();) {
      Transaction& t = it->second;
      if (t.next_send > now) {
        ++it;
        continue;
      }
      if (t.left > 0) {
        transmit_now(now, t);
        ++it;
        continue;
      }
      // Out of transmissions: the last one had its full timeout.
      const Transaction done = std::move(t);
      it = transactions.erase(it);
      if (done.kind == TransactionKind::check) {
        pairs[done.index].state = PairState::failed;
      } else if (done.kind == TransactionKind::gather) {
        emit(event::Problem{"STUN server " + done.to.to_string() + " did not answer"});
      } else if (done.kind == TransactionKind::allocate) {
        fail_allocation(done.index, "no answer");
      } else if (done.kind == TransactionKind::channel_bind) {
        if (Channel* c = channel_to(allocations[done.index], done.peer)) {
          c->binding = false;
          c->refresh_at = now + std::chrono::seconds(30);
        }
      }
    }
    run_turn(now);
    if (state != IceState::failed) schedule_checks(now);
    run_consent(now);
    maybe_gathering_done();
    check_failure(now);
  }

  std::optional<Time> deadline() {
    std::optional<Time> d;
    auto consider = [&](Time t) {
      if (!d || t < *d) d = t;
    };
    for (const auto& [id, t] : transactions) consider(t.next_send);
    if (state == IceState::failed) return d;
    if (closed) return std::nullopt;
    for (const auto& a : allocations) {
      if (a.state != Allocation::State::ready) continue;
      consider(a.refresh_at);
      for (const auto& c : a.channels) {
        if (!c.binding && c.refresh_at != Time{}) consider(c.refresh_at);
      }
    }
    if (can_check()) {
      bool waiting = false;
      for (std::size_t i = 0; i < pairs.size() && !waiting; ++i) waiting = checkable(i);
      if (waiting) consider(burst_tokens > 0 ? Time{} : last_refill + config.timing.check_pacing);
    }
    if (selected) {
      consider(next_consent);
      if (state == IceState::connected || state == IceState::completed) {
        consider(last_consent_response + config.timing.disconnected_after);
      }
      consider(last_consent_response + config.timing.consent_timeout);
    } else if (checks_started_at && (!ever_connected || restarting) &&
               std::none_of(pairs.begin(), pairs.end(), [](const Pair& p) { return p.valid; })) {
      consider(*checks_started_at + config.timing.connect_timeout);  // check_failure's deadline
    }
    return d;
  }

  std::span<const std::byte> receive(Time now, const Address& base, const Address& from,
                                     std::span<const std::byte> bytes, bool stream = false) {
    if (bytes.empty() || closed) return {};
    for (auto& a : allocations) {
      if (a.socket == base && a.server_address == from && server_of(a).tcp == stream &&
          a.state != Allocation::State::failed) {
        return receive_from_server(now, a, bytes);
      }
    }
    if (stream) return {};  // a stream is only ever a TURN server's
    return receive_plain(now, base, from, bytes);
  }

  // A frame (RFC 4571) read from the ICE-TCP connection between our `base` and `from`.
  std::span<const std::byte> receive_tcp(Time now, const Address& base, const Address& from,
                                         std::span<const std::byte> bytes) {
    if (bytes.empty() || closed) return {};
    return receive_plain(now, base, from, bytes, true);
  }

  // STUN for the agent itself (checks, their answers, Binding answers from STUN servers), or
  // the caller's bytes.
  std::span<const std::byte> receive_plain(Time now, const Address& base, const Address& from,
                                           std::span<const std::byte> bytes, bool tcp = false) {
    if (std::to_integer<unsigned>(bytes[0]) > 3) return bytes;  // not STUN (RFC 7983): the caller's
    auto m = stun::Message::parse(bytes);
    if (!m) return stun::looks_like_stun(bytes) ? std::span<const std::byte>() : bytes;
    switch (m->message_class()) {
      case stun::Class::request:
        on_request(now, base, from, *m, tcp);
        break;
      case stun::Class::success:
      case stun::Class::error: {
        auto it = transactions.find(m->transaction_id());
        if (it == transactions.end()) break;  // late retransmission's answer, or not ours
        if (it->second.kind == TransactionKind::gather) {
          if (tcp || from != it->second.to) break;
          Transaction t = std::move(it->second);
          transactions.erase(it);
          on_gather_response(now, t, *m);
          break;
        }
        // Responses to checks are signed with the remote password (section 7.2.5.1 via
        // RFC 8489 section 9.1.4); an unsigned or wrongly signed one is dropped, and the
        // transaction goes on (it may be an attacker's).
        if (!m->check_integrity(stun::short_term_key(remote_pwd))) break;
        const Transaction t = std::move(it->second);
        transactions.erase(it);
        on_check_response(now, t, base, from, *m, tcp);
        break;
      }
      case stun::Class::indication:
        break;  // Binding indications are keepalives (RFC 8445 section 11): nothing to do
    }
    advance(now);
    return {};
  }
};

Agent::Agent(AgentConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Agent::~Agent() = default;

const std::string& Agent::local_ufrag() const noexcept { return impl_->local_ufrag; }
const std::string& Agent::local_pwd() const noexcept { return impl_->local_pwd; }
bool Agent::controlling() const noexcept { return impl_->controlling; }
IceState Agent::state() const noexcept { return impl_->state; }

void Agent::set_controlling(bool controlling) {
  if (impl_->controlling == controlling) return;
  impl_->controlling = controlling;
  impl_->reprioritize();
}

void Agent::add_stun_server(const Address& server) { impl_->config.stun_servers.push_back(server); }

void Agent::add_turn_server(TurnServer server) { impl_->config.turn_servers.push_back(std::move(server)); }

void Agent::close(Time now) {
  auto& d = *impl_;
  if (d.closed) return;
  for (std::size_t i = 0; i < d.allocations.size(); ++i) {
    if (d.allocations[i].state != Allocation::State::ready) continue;
    d.send_refresh(now, i, 0);  // RFC 8656 section 7: lifetime 0 deletes the allocation
    d.allocations[i].state = Allocation::State::released;
  }
  d.transactions.clear();
  d.closed = true;
}

void Agent::add_host(Time now, const Address& base, uint16_t local_preference) {
  impl_->add_host(now, base, local_preference);
  impl_->advance(now);
}

void Agent::add_tcp_host(Time now, const Address& listen, uint16_t local_preference) {
  impl_->add_tcp_host(now, listen, local_preference);
  impl_->advance(now);
}

void Agent::tcp_closed(Time now, const Address& base, const Address& remote) {
  if (impl_->closed) return;
  impl_->tcp_closed(now, base, remote);
}

std::span<const std::byte> Agent::handle_tcp_receive(Time now, const Address& base,
                                                     const Address& from,
                                                     std::span<const std::byte> bytes) {
  return impl_->receive_tcp(now, base, from, bytes);
}

void Agent::end_of_hosts(Time now) {
  impl_->hosts_done = true;
  impl_->advance(now);
}

void Agent::set_remote_credentials(Time now, std::string ufrag, std::string pwd) {
  // New credentials from the remote are its ICE restart (RFC 8445 section 9.2).
  if (!impl_->remote_ufrag.empty() && (ufrag != impl_->remote_ufrag || pwd != impl_->remote_pwd)) {
    if (impl_->awaiting_remote_credentials) {
      impl_->awaiting_remote_credentials = false;  // the answer to our restart: it joins
    } else {
      impl_->begin_restart(now);
    }
  }
  impl_->remote_ufrag = std::move(ufrag);
  impl_->remote_pwd = std::move(pwd);
  // The connect timeout runs from here: a remote that sends no candidate at all and none of
  // whose checks reach us must still end in `failed`.
  if (!impl_->checks_started_at) impl_->checks_started_at = now;
  impl_->advance(now);
}

void Agent::add_remote_candidate(Time now, const Candidate& candidate) {
  auto& d = *impl_;
  if (d.state == IceState::failed) return;
  std::optional<std::size_t> known = d.remote_index(candidate.address, is_tcp(candidate.transport));
  if (!known && candidate.transport == Transport::tcp_active &&
      candidate.type != CandidateType::prflx) {
    // An active candidate signalled after its connection's check made it peer-reflexive (see
    // on_request): it is that one, whatever the port.
    for (std::size_t i = 0; i < d.remotes.size() && !known; ++i) {
      const Candidate& r = d.remotes[i];
      if (r.transport == Transport::tcp_active && r.type == CandidateType::prflx &&
          r.address.with_port(0) == candidate.address.with_port(0)) {
        known = i;
      }
    }
    if (known) {
      d.remotes.push_back(candidate);  // kept too, for connections still to come from it
    }
  }
  if (known) {
    // A signalled candidate we had learned as peer-reflexive takes its signalled type and
    // priority (RFC 8445 section 7.3.1.3 ends; the pair keeps its state).
    if (d.remotes[*known].type == CandidateType::prflx && candidate.type != CandidateType::prflx) {
      d.remotes[*known].type = candidate.type;
      d.remotes[*known].priority = candidate.priority;
      d.remotes[*known].foundation = candidate.foundation;
      d.reprioritize();
      // The selected pair now has a signalled remote (a browser's host candidate resolved from
      // its mDNS name after its checks arrived): say so, so the pair is not reported as prflx.
      if (d.selected && d.pairs[*d.selected].remote == *known) {
        const auto& p = d.pairs[*d.selected];
        d.emit(event::SelectedPair{d.locals[p.local].candidate, d.remotes[p.remote]});
      }
    }
    return;
  }
  if (d.remotes.size() >= kMaxRemoteCandidates) {
    d.emit(event::Problem{"too many remote candidates: " + candidate.address.to_string() + " ignored"});
    return;
  }
  d.remotes.push_back(candidate);
  const std::size_t r = d.remotes.size() - 1;
  for (std::size_t l = 0; l < d.locals.size(); ++l) {
    if (d.pairable(d.locals[l])) d.add_pair(now, l, r);
  }
  d.advance(now);
}

void Agent::remote_gathering_done(Time now) {
  impl_->remote_done = true;
  impl_->advance(now);
}

std::span<const std::byte> Agent::handle_receive(Time now, const Address& base, const Address& from,
                                                 std::span<const std::byte> bytes, bool stream) {
  return impl_->receive(now, base, from, bytes, stream);
}

void Agent::handle_timeout(Time now) { impl_->advance(now); }

std::optional<Time> Agent::next_deadline() const noexcept { return impl_->deadline(); }

std::optional<Transmit> Agent::poll_transmit() {
  if (impl_->transmits.empty()) return std::nullopt;
  Transmit t = std::move(impl_->transmits.front());
  impl_->transmits.pop_front();
  return t;
}

std::optional<Event> Agent::poll_event() {
  if (impl_->events.empty()) return std::nullopt;
  Event e = std::move(impl_->events.front());
  impl_->events.pop_front();
  return e;
}

void Agent::restart(Time now, bool more_hosts) { impl_->restart(now, more_hosts); }

void Agent::remove_host(Time now, const Address& base) { impl_->remove_host(now, base); }

bool Agent::restarting() const noexcept { return impl_->restarting; }

std::optional<Route> Agent::route() const noexcept {
  if (impl_->state == IceState::failed) return std::nullopt;
  if (impl_->selected) return impl_->route_of(impl_->pairs[*impl_->selected]);
  // During a restart the route in use carries the data until a new pair is selected.
  if (impl_->restarting) return impl_->previous_route;
  if (impl_->tentative) return impl_->route_of(impl_->pairs[*impl_->tentative]);
  return std::nullopt;
}

}  // namespace peer::ice
