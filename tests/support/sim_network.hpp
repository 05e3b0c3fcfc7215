#pragma once
// peer::test::sim: a simulated network for the sans-I/O ICE agent (core/ice/agent.hpp), in
// virtual time. LANs sit behind NAT boxes (RFC 4787: mapping, filtering, hairpinning, mapping
// timeout) on a public "internet" that also holds a STUN server (RFC 8489 Binding) and a TURN
// server over UDP (RFC 8656). Every datagram, and every signalling message, is an entry in
// one time-ordered queue; `now` jumps to the next entry or agent deadline. No sockets, no
// threads, no clock: a run that spans minutes of virtual time takes milliseconds.
//
//   sim::Network net;
//   sim::Nat& nat = net.add_nat(ip("203.0.113.10"), sim::NatConfig::of(sim::Dependence::address_and_port,
//                                                              sim::Dependence::address_and_port));
//   const auto lan = net.add_lan(&nat);
//   sim::TurnServer turn(net, ip("198.51.100.2", 3478));
//   sim::IceSim ice(net);
//   auto& a = ice.add_peer("a", config, {{ip("10.1.0.2", 5000), lan}}, /*seed=*/1);
//   ...; ice.introduce(a, b); ice.run_until([&] { return a.connected(); }, 5s);
//
// Delays are per hop and fixed (so runs are deterministic): a host to its NAT (or to another
// host of its LAN) takes the LAN's delay, a NAT or public host to another public address the
// internet's.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/ice/agent.hpp"
#include "core/net_address.hpp"
#include "core/stun/message.hpp"

namespace peer::test::sim {

using Time = ice::Time;
using Duration = ice::Clock::duration;
using Bytes = std::vector<std::byte>;
using namespace std::chrono_literals;

// --- NAT (RFC 4787) ----------------------------------------------------------------------

// How much of the remote endpoint a NAT looks at: for mapping (section 4.1: which outgoing
// datagrams share an external port) and for filtering (section 5: which incoming ones pass).
// "Symmetric" is address_and_port for both.
enum class Dependence : uint8_t { endpoint_independent, address, address_and_port };

// Whether remote endpoints `a` and `b` count as the same under `d`.
inline bool same_endpoint(Dependence d, const Address& a, const Address& b) {
  switch (d) {
    case Dependence::endpoint_independent: return true;
    case Dependence::address: return a.with_port(0) == b.with_port(0);
    case Dependence::address_and_port: return a == b;
  }
  return false;
}

struct NatConfig {
  Dependence mapping = Dependence::endpoint_independent;    // RFC 4787 section 4.1
  Dependence filtering = Dependence::endpoint_independent;  // section 5
  bool hairpinning = false;                                 // section 6
  // Section 4.3: a mapping unused this long goes. Only outbound datagrams refresh it
  // (REQ-6 asks that they do; inbound refresh is optional). nullopt: mappings never expire.
  std::optional<Duration> mapping_timeout;
  // External ports are handed out in order from here, never reused (no port preservation:
  // section 4.2.1 does not ask for it), so a run always gets the same ports.
  uint16_t first_port = 40000;

  static NatConfig of(Dependence mapping, Dependence filtering, bool hairpinning = false) {
    NatConfig c;
    c.mapping = mapping;
    c.filtering = filtering;
    c.hairpinning = hairpinning;
    return c;
  }
};

// One NAT box: the address translation and filtering, without the forwarding (Network does
// that). Usable alone, which is how the model itself is unit-checked.
class Nat {
 public:
  Nat(Address public_ip, NatConfig config)
      : ip_(public_ip.with_port(0)), config_(config), next_port_(config.first_port) {}

  const NatConfig& config() const noexcept { return config_; }
  const Address& public_ip() const noexcept { return ip_; }
  bool owns(const Address& a) const noexcept { return a.with_port(0) == ip_; }
  std::size_t mappings() const noexcept { return mappings_.size(); }

  // A datagram from `inside` leaves towards `to`: the external address it goes out from. It
  // opens (or refreshes) the mapping and lets answers from `to` in, as filtering allows.
  Address outbound(Time now, const Address& inside, const Address& to) {
    expire(now);
    auto it = std::find_if(mappings_.begin(), mappings_.end(), [&](const Mapping& m) {
      return m.inside == inside && same_endpoint(config_.mapping, m.first_remote, to);
    });
    if (it == mappings_.end()) {
      if (next_port_ == 0) throw std::runtime_error("sim::Nat: out of external ports");
      mappings_.push_back(Mapping{inside, to, ip_.with_port(next_port_++), {}, now});
      it = std::prev(mappings_.end());
    }
    it->last_out = now;
    if (std::find(it->contacted.begin(), it->contacted.end(), to) == it->contacted.end()) {
      it->contacted.push_back(to);
    }
    return it->external;
  }

  // A datagram from `from` arrives at external address `to`: the inside address it goes on
  // to, or nullopt when there is no mapping there or filtering drops it (section 5: it
  // passes when the mapping has sent to an endpoint that counts as the same as `from`).
  std::optional<Address> inbound(Time now, const Address& to, const Address& from) {
    expire(now);
    for (const auto& m : mappings_) {
      if (m.external != to) continue;
      for (const auto& c : m.contacted) {
        if (same_endpoint(config_.filtering, c, from)) return m.inside;
      }
      return std::nullopt;
    }
    return std::nullopt;
  }

 private:
  struct Mapping {
    Address inside;
    Address first_remote;  // the destination that opened it (the mapping key, per Dependence)
    Address external;
    std::vector<Address> contacted;  // every destination it sent to (for filtering)
    Time last_out;
  };
  void expire(Time now) {
    if (!config_.mapping_timeout) return;
    std::erase_if(mappings_, [&](const Mapping& m) { return now - m.last_out >= *config_.mapping_timeout; });
  }

  Address ip_;
  NatConfig config_;
  uint16_t next_port_;
  std::vector<Mapping> mappings_;
};

// --- the network ---------------------------------------------------------------------------

// What is bound at an address: it is handed each datagram that arrives there.
using Receiver = std::function<void(const Address& to, const Address& from, std::span<const std::byte>)>;

class Network {
 public:
  using Lan = std::size_t;
  static constexpr Lan kInternet = 0;

  Time now = Time{} + 1000h;  // far from Time{}: the agent uses Time{} for "at once"
  Duration internet_delay = 10ms;
  bool cut = false;  // an outage: every datagram sent meanwhile is lost (signalling is not)

  Network() { lans_.push_back(LanInfo{nullptr, internet_delay}); }

  Nat& add_nat(Address public_ip, NatConfig config) {
    nats_.push_back(std::make_unique<Nat>(public_ip, config));
    return *nats_.back();
  }
  // A LAN behind `nat`: its hosts reach each other directly and everything else through the
  // NAT. Several LANs may share one NAT without reaching each other (separate subnets).
  Lan add_lan(Nat* nat, Duration delay = 2ms) {
    if (nat == nullptr) throw std::invalid_argument("sim::Network: a LAN sits behind a NAT");
    lans_.push_back(LanInfo{nat, delay});
    return lans_.size() - 1;
  }
  void bind(const Address& address, Lan lan, Receiver receiver) {
    bound_[address] = Binding{lan, std::move(receiver)};
  }
  void unbind(const Address& address) { bound_.erase(address); }

  // A datagram sent from the socket bound at `from`; dropped when nothing is bound there.
  void send(const Address& from, const Address& to, Bytes bytes) {
    ++sent;
    auto it = bound_.find(from);
    if (cut || it == bound_.end()) return;
    const Lan lan = it->second.lan;
    at(now + delay(lan), [this, lan, from, to, b = std::move(bytes)] { arrive(lan, from, to, b); });
  }

  // Runs `fn` at `t` (after what is queued for the same time already).
  void at(Time t, std::function<void()> fn) { queue_.emplace(std::make_pair(t, seq_++), std::move(fn)); }
  std::optional<Time> next_event() const {
    if (queue_.empty()) return std::nullopt;
    return queue_.begin()->first.first;
  }
  // Runs everything queued up to `now`, including what that queues for `now`.
  void run_due() {
    while (!queue_.empty() && queue_.begin()->first.first <= now) {
      auto fn = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      fn();
    }
  }

  std::size_t sent = 0, delivered = 0, filtered = 0, unroutable = 0;

 private:
  struct LanInfo {
    Nat* nat;
    Duration delay;
  };
  struct Binding {
    Lan lan;
    Receiver receiver;
  };

  Duration delay(Lan lan) const { return lan == kInternet ? internet_delay : lans_[lan].delay; }

  void deliver(const Address& to, const Address& from, const Bytes& bytes) {
    ++delivered;
    Receiver r = bound_.at(to).receiver;  // a copy: the receiver may bind or unbind
    r(to, from, bytes);
  }
  // The datagram, leaving `from` inside `nat`'s LANs, is on its way to the inside host
  // behind external address `to` (inbound or hairpinned): through filtering, then one
  // LAN hop.
  void enter(Nat& nat, const Address& to, const Address& from, const Bytes& bytes) {
    auto inside = nat.inbound(now, to, from);
    auto it = inside ? bound_.find(*inside) : bound_.end();
    if (it == bound_.end() || lans_[it->second.lan].nat != &nat) {
      ++filtered;
      return;
    }
    at(now + delay(it->second.lan), [this, in = *inside, from, bytes] {
      if (bound_.count(in)) deliver(in, from, bytes);
    });
  }

  // The datagram reached the far end of a hop on `lan`.
  void arrive(Lan lan, const Address& from, const Address& to, const Bytes& bytes) {
    if (auto it = bound_.find(to); it != bound_.end() && it->second.lan == lan) {
      deliver(to, from, bytes);
      return;
    }
    if (lan == kInternet) {
      for (auto& nat : nats_) {
        if (nat->owns(to)) return enter(*nat, to, from, bytes);
      }
      ++unroutable;
      return;
    }
    Nat& nat = *lans_[lan].nat;
    if (nat.owns(to)) {
      // RFC 4787 section 6: hairpinning sends it back in, from the external address of the
      // sender's mapping (REQ-9), and filtering applies as to any inbound datagram.
      if (!nat.config().hairpinning) {
        ++filtered;
        return;
      }
      return enter(nat, to, nat.outbound(now, from, to), bytes);
    }
    const Address external = nat.outbound(now, from, to);
    at(now + internet_delay, [this, external, to, bytes] { arrive(kInternet, external, to, bytes); });
  }

  std::vector<LanInfo> lans_;
  std::vector<std::unique_ptr<Nat>> nats_;
  std::map<Address, Binding> bound_;
  std::map<std::pair<Time, uint64_t>, std::function<void()>> queue_;
  uint64_t seq_ = 0;
};

// --- servers -------------------------------------------------------------------------------

// The success response to a Binding request (RFC 8489 section 7.3.1): XOR-MAPPED-ADDRESS is
// where the request came from, as the server saw it.
inline Bytes binding_response(const stun::Message& request, const Address& source) {
  stun::Writer w(stun::Class::success, stun::Method::binding, request.transaction_id());
  w.add_xor_address(stun::attr::xor_mapped_address, source);
  w.add_fingerprint();
  return Bytes(w.bytes().begin(), w.bytes().end());
}

// A STUN server: Binding requests only.
class StunServer {
 public:
  StunServer(Network& net, Address address) : address_(address) {
    net.bind(address, Network::kInternet, [&net, address](const Address&, const Address& from, auto bytes) {
      auto m = stun::Message::parse(bytes);
      if (!m || m->message_class() != stun::Class::request || m->method() != stun::Method::binding) return;
      net.send(address, from, binding_response(*m, from));
    });
  }
  const Address& address() const noexcept { return address_; }

 private:
  Address address_;
};

// A TURN server over UDP (RFC 8656) with long-term credentials (RFC 8489 section 9.2), and a
// STUN server on the same address (as coturn). Allocations are keyed by the client's
// transport address (the 5-tuple, section 2); relayed addresses are on the server's IP from
// `first_relay_port` up. Permissions are per peer IP (section 9) and last 300 s, channels
// 600 s (section 12), allocations what was asked up to an hour (default 600 s, section 7).
// Peer data without a permission is dropped (section 9); with a channel bound to the peer
// it goes to the client as ChannelData, otherwise as a Data indication (section 11.4).
class TurnServer {
 public:
  struct Options {
    std::string user = "user";
    std::string password = "secret";
    std::string realm = "sim";
    std::string nonce = "n0nce-1";
    uint16_t first_relay_port = 50000;
  };
  struct Stats {
    std::size_t unauthorized = 0;  // 401s sent
    std::size_t allocations = 0;   // made
    std::size_t deleted = 0;       // by a Refresh with LIFETIME 0
    std::size_t refreshes = 0;
    std::size_t permissions = 0;  // CreatePermission requests that succeeded
    std::size_t channel_binds = 0;
    std::size_t send_indications = 0;
    std::size_t to_peers = 0;    // datagrams relayed out
    std::size_t to_clients = 0;  // datagrams relayed in (ChannelData or Data indication)
    std::size_t data_indications = 0;
    std::size_t no_permission = 0;  // peer datagrams dropped for want of a permission
    std::size_t errors = 0;         // error responses other than 401
  };

  TurnServer(Network& net, Address address) : TurnServer(net, address, Options{}) {}
  TurnServer(Network& net, Address address, Options options)
      : net_(net), address_(address), options_(std::move(options)), next_port_(options_.first_relay_port) {
    net.bind(address, Network::kInternet,
             [this](const Address&, const Address& from, auto bytes) { from_client(from, bytes); });
  }
  const Address& address() const noexcept { return address_; }
  const Stats& stats() const noexcept { return stats_; }
  std::size_t allocation_count() {
    expire();
    return allocations_.size();
  }
  // A new nonce: requests with the old one get 438 (RFC 8489 section 9.2.4).
  void set_nonce(std::string nonce) { options_.nonce = std::move(nonce); }

 private:
  struct Permission {
    Address ip;  // port 0
    Time expires;
  };
  struct ChannelBinding {
    uint16_t number;
    Address peer;
    Time expires;
  };
  struct Allocation {
    Address client, relayed;
    Time expires;
    stun::TransactionId created_by;  // a retransmitted Allocate gets the same answer
    std::vector<Permission> permissions;
    std::vector<ChannelBinding> channels;
  };

  static constexpr auto kPermissionLifetime = 300s;  // RFC 8656 section 9
  static constexpr auto kChannelLifetime = 600s;     // section 12
  static constexpr uint32_t kDefaultLifetime = 600, kMaxLifetime = 3600;  // section 7.2

  Time now() const { return net_.now; }
  void expire() {
    std::erase_if(allocations_, [&](Allocation& a) {
      if (a.expires > now()) {
        std::erase_if(a.permissions, [&](const Permission& p) { return p.expires <= now(); });
        std::erase_if(a.channels, [&](const ChannelBinding& c) { return c.expires <= now(); });
        return false;
      }
      net_.unbind(a.relayed);
      return true;
    });
  }
  Allocation* allocation_of(const Address& client) {
    expire();
    for (auto& a : allocations_) {
      if (a.client == client) return &a;
    }
    return nullptr;
  }
  static bool permitted(const Allocation& a, const Address& peer) {
    return std::any_of(a.permissions.begin(), a.permissions.end(),
                       [&](const Permission& p) { return p.ip == peer.with_port(0); });
  }
  static void permit(Allocation& a, const Address& peer, Time expires) {
    for (auto& p : a.permissions) {
      if (p.ip == peer.with_port(0)) {
        p.expires = expires;
        return;
      }
    }
    a.permissions.push_back(Permission{peer.with_port(0), expires});
  }

  void reply(const Address& to, const stun::Writer& w) {
    net_.send(address_, to, Bytes(w.bytes().begin(), w.bytes().end()));
  }
  // An error response; signed when the request was authenticated (RFC 8489 section 9.2.4).
  void reply_error(const Address& to, const stun::Message& m, int code, std::string_view reason,
                   const std::array<std::byte, 16>* key) {
    stun::Writer w(stun::Class::error, m.method(), m.transaction_id());
    w.add_error_code(code, reason);
    if (code == stun::error::unauthorized || code == stun::error::stale_nonce) {
      ++(code == stun::error::unauthorized ? stats_.unauthorized : stats_.errors);
      w.add_string(stun::attr::realm, options_.realm);
      w.add_string(stun::attr::nonce, options_.nonce);
    } else {
      ++stats_.errors;
    }
    if (key != nullptr) w.add_message_integrity(*key);
    w.add_fingerprint();
    reply(to, w);
  }

  void from_client(const Address& from, std::span<const std::byte> bytes) {
    if (bytes.empty()) return;
    const auto first = std::to_integer<unsigned>(bytes[0]);
    if (first >= 0x40 && first <= 0x4f) {  // ChannelData (section 12.6)
      auto data = stun::parse_channel_data(bytes);
      Allocation* a = allocation_of(from);
      if (!data || a == nullptr) return;
      for (const auto& c : a->channels) {
        if (c.number == data->channel) return relay_out(*a, c.peer, data->data);
      }
      return;  // an unbound channel: discarded
    }
    auto m = stun::Message::parse(bytes);
    if (!m) return;
    if (m->message_class() == stun::Class::indication) {
      if (m->method() == stun::Method::send) on_send(from, *m);
      return;  // indications get no answer, and are not authenticated (section 11.2)
    }
    if (m->message_class() != stun::Class::request) return;
    if (m->method() == stun::Method::binding) {
      net_.send(address_, from, binding_response(*m, from));
      return;
    }
    const auto method = m->method();
    if (method != stun::Method::allocate && method != stun::Method::refresh &&
        method != stun::Method::create_permission && method != stun::Method::channel_bind) {
      reply_error(from, *m, stun::error::bad_request, "Bad Request", nullptr);
      return;
    }
    // RFC 8489 section 9.2.4: no MESSAGE-INTEGRITY -> 401 with REALM and NONCE; one without
    // USERNAME, REALM or NONCE -> 400; a nonce that is not current -> 438; an unknown user or
    // a wrong HMAC -> 401. The key is MD5(username ":" realm ":" password).
    if (!m->has_integrity()) {
      reply_error(from, *m, stun::error::unauthorized, "Unauthorized", nullptr);
      return;
    }
    auto user = m->string(stun::attr::username);
    auto realm = m->string(stun::attr::realm);
    auto nonce = m->string(stun::attr::nonce);
    if (!user || !realm || !nonce) {
      reply_error(from, *m, stun::error::bad_request, "Bad Request", nullptr);
      return;
    }
    if (*nonce != options_.nonce) {
      reply_error(from, *m, stun::error::stale_nonce, "Stale Nonce", nullptr);
      return;
    }
    const auto key = stun::long_term_key(options_.user, options_.realm, options_.password);
    if (*user != options_.user || *realm != options_.realm || !m->check_integrity(key)) {
      reply_error(from, *m, stun::error::unauthorized, "Unauthorized", nullptr);
      return;
    }
    // Section 6.3.1 of RFC 8489: comprehension-required attributes we do not know -> 420.
    static constexpr uint16_t kKnown[] = {
        stun::attr::username, stun::attr::realm, stun::attr::nonce, stun::attr::message_integrity,
        stun::attr::lifetime, stun::attr::requested_transport, stun::attr::dont_fragment,
        stun::attr::xor_peer_address, stun::attr::channel_number, stun::attr::requested_address_family};
    if (auto unknown = m->unknown_required(kKnown); !unknown.empty()) {
      stun::Writer w(stun::Class::error, method, m->transaction_id());
      w.add_error_code(stun::error::unknown_attribute, "Unknown Attribute");
      w.add_unknown_attributes(unknown);
      w.add_message_integrity(key);
      w.add_fingerprint();
      ++stats_.errors;
      reply(from, w);
      return;
    }
    stun::Writer w(stun::Class::success, method, m->transaction_id());
    if (method == stun::Method::allocate) {
      if (!on_allocate(from, *m, w, key)) return;
    } else {
      // Every other request is about the allocation of its 5-tuple (sections 7.3, 9.2, 12.2).
      Allocation* a = allocation_of(from);
      if (a == nullptr) {
        reply_error(from, *m, stun::error::allocation_mismatch, "Allocation Mismatch", &key);
        return;
      }
      const bool ok = method == stun::Method::refresh             ? on_refresh(*a, *m, w)
                      : method == stun::Method::create_permission ? on_create_permission(*a, from, *m, key)
                                                                  : on_channel_bind(*a, from, *m, key);
      if (!ok) return;  // an error response went out
    }
    w.add_message_integrity(key);  // success responses are signed (RFC 8656 section 7.2 ...)
    w.add_fingerprint();
    reply(from, w);
  }

  // Section 7.2.
  bool on_allocate(const Address& from, const stun::Message& m, stun::Writer& w,
                   const std::array<std::byte, 16>& key) {
    Allocation* a = allocation_of(from);
    if (a != nullptr && a->created_by != m.transaction_id()) {
      reply_error(from, m, stun::error::allocation_mismatch, "Allocation Mismatch", &key);
      return false;
    }
    if (a == nullptr) {
      auto transport = m.find(stun::attr::requested_transport);
      if (!transport || transport->size() != 4) {
        reply_error(from, m, stun::error::bad_request, "REQUESTED-TRANSPORT missing", &key);
        return false;
      }
      if (std::to_integer<unsigned>((*transport)[0]) != 17) {
        reply_error(from, m, stun::error::unsupported_transport, "Unsupported Transport Protocol", &key);
        return false;
      }
      Allocation fresh{from, address_.with_port(next_port_++), now(), m.transaction_id(), {}, {}};
      fresh.expires = now() + std::chrono::seconds(lifetime(m));
      allocations_.push_back(std::move(fresh));
      a = &allocations_.back();
      const Address relayed = a->relayed;
      net_.bind(relayed, Network::kInternet,
                [this, relayed](const Address&, const Address& peer, auto bytes) { from_peer(relayed, peer, bytes); });
      ++stats_.allocations;
    }
    w.add_xor_address(stun::attr::xor_relayed_address, a->relayed);
    w.add_u32(stun::attr::lifetime, static_cast<uint32_t>(
                                        std::chrono::duration_cast<std::chrono::seconds>(a->expires - now()).count()));
    w.add_xor_address(stun::attr::xor_mapped_address, from);
    return true;
  }
  static uint32_t lifetime(const stun::Message& m) {
    return std::min(m.u32(stun::attr::lifetime).value_or(kDefaultLifetime), kMaxLifetime);
  }

  // Section 7.3 (7.4 on the server): LIFETIME 0 deletes the allocation.
  bool on_refresh(Allocation& a, const stun::Message& m, stun::Writer& w) {
    const uint32_t seconds = lifetime(m);
    ++stats_.refreshes;
    if (seconds == 0) {
      ++stats_.deleted;
      a.expires = now();
      expire();  // `a` is gone after this
    } else {
      a.expires = now() + std::chrono::seconds(seconds);
    }
    w.add_u32(stun::attr::lifetime, seconds);
    return true;
  }

  // Section 9.2: every XOR-PEER-ADDRESS gets (or refreshes) a permission for its IP.
  bool on_create_permission(Allocation& a, const Address& from, const stun::Message& m,
                            const std::array<std::byte, 16>& key) {
    // find() gives the first attribute of a type; the agent never asks for more than one peer
    // at once, so one is what the simulation handles.
    auto peer = m.xor_address(stun::attr::xor_peer_address);
    if (!peer) {
      reply_error(from, m, stun::error::bad_request, "XOR-PEER-ADDRESS missing", &key);
      return false;
    }
    permit(a, *peer, now() + kPermissionLifetime);
    ++stats_.permissions;
    return true;
  }

  // Section 12.2: a channel number 0x4000-0x4FFF, bound to one peer transport address only
  // and that peer to one channel only; binding installs (refreshes) the peer's permission too.
  bool on_channel_bind(Allocation& a, const Address& from, const stun::Message& m,
                       const std::array<std::byte, 16>& key) {
    auto number = m.channel_number();
    auto peer = m.xor_address(stun::attr::xor_peer_address);
    if (!number || *number < 0x4000 || *number > 0x4fff || !peer) {
      reply_error(from, m, stun::error::bad_request, "Bad Request", &key);
      return false;
    }
    for (const auto& c : a.channels) {
      if ((c.number == *number) != (c.peer == *peer)) {
        reply_error(from, m, stun::error::bad_request, "Channel or peer bound otherwise", &key);
        return false;
      }
    }
    auto c = std::find_if(a.channels.begin(), a.channels.end(),
                          [&](const ChannelBinding& b) { return b.number == *number; });
    if (c == a.channels.end()) {
      a.channels.push_back(ChannelBinding{*number, *peer, {}});
      c = std::prev(a.channels.end());
    }
    c->expires = now() + kChannelLifetime;
    permit(a, *peer, now() + kPermissionLifetime);
    ++stats_.channel_binds;
    return true;
  }

  // Section 11.2.
  void on_send(const Address& from, const stun::Message& m) {
    Allocation* a = allocation_of(from);
    auto peer = m.xor_address(stun::attr::xor_peer_address);
    auto data = m.find(stun::attr::data);
    if (a == nullptr || !peer || !data) return;
    ++stats_.send_indications;
    relay_out(*a, *peer, *data);
  }

  void relay_out(Allocation& a, const Address& peer, std::span<const std::byte> data) {
    if (!permitted(a, peer)) {
      ++stats_.no_permission;
      return;
    }
    ++stats_.to_peers;
    net_.send(a.relayed, peer, Bytes(data.begin(), data.end()));
  }

  // A datagram from `peer` at the relayed address (sections 11.4 and 12.6).
  void from_peer(const Address& relayed, const Address& peer, std::span<const std::byte> data) {
    expire();
    auto a = std::find_if(allocations_.begin(), allocations_.end(),
                          [&](const Allocation& x) { return x.relayed == relayed; });
    if (a == allocations_.end()) return;
    if (!permitted(*a, peer)) {
      ++stats_.no_permission;
      return;
    }
    ++stats_.to_clients;
    for (const auto& c : a->channels) {
      if (c.peer != peer) continue;
      Bytes framed;
      stun::write_channel_data(c.number, data, false, framed);
      net_.send(address_, a->client, std::move(framed));
      return;
    }
    ++stats_.data_indications;
    stun::TransactionId id{};
    for (std::size_t i = 0; i < id.size(); ++i) id[i] = std::byte(++indication_ids_ >> (8 * (i % 4)));
    stun::Writer w(stun::Class::indication, stun::Method::data, id);
    w.add_xor_address(stun::attr::xor_peer_address, peer);
    w.add(stun::attr::data, data);
    w.add_fingerprint();
    reply(a->client, w);
  }

  Network& net_;
  Address address_;
  Options options_;
  uint16_t next_port_;
  std::vector<Allocation> allocations_;
  Stats stats_;
  uint32_t indication_ids_ = 0;
};

// --- ICE agents on the network -------------------------------------------------------------

struct IcePeer {
  std::string name;
  std::unique_ptr<ice::Agent> agent;
  std::vector<Address> hosts;
  IcePeer* remote = nullptr;
  std::vector<ice::IceState> states;  // every StateChanged, in order
  std::vector<ice::Candidate> local_candidates;
  std::vector<ice::event::SelectedPair> selections;  // every SelectedPair, in order
  std::vector<std::string> problems;
  std::vector<Bytes> received;  // the application's datagrams handle_receive gave back
  bool gathering_done = false;

  ice::IceState state() const { return agent->state(); }
  bool connected() const { return state() == ice::IceState::connected || state() == ice::IceState::completed; }
  const ice::event::SelectedPair* selected() const { return selections.empty() ? nullptr : &selections.back(); }
  // For failure messages: the state history and the problems.
  std::string describe() const {
    std::string s = name + ": " + std::string(ice::to_string(state())) + " [";
    for (auto st : states) s += std::string(ice::to_string(st)) + " ";
    s += "] problems [";
    for (const auto& p : problems) s += p + "; ";
    if (const auto* sel = selected()) {
      s += "] selected " + std::string(ice::to_string(sel->local.type)) + " " + sel->local.address.to_string() +
           " -> " + std::string(ice::to_string(sel->remote.type)) + " " + sel->remote.address.to_string();
    }
    return s + "\n";
  }
};

// Agents on a Network: each host address bound to its agent, candidates trickled to the
// other side with a signalling delay, timers run in virtual time.
class IceSim {
 public:
  explicit IceSim(Network& net) : net(net) {}
  Network& net;
  Duration signal_delay = 30ms;

  // `hosts`: each socket's address and the LAN it is on. The agent's randomness is seeded
  // from `seed`, so a run repeats exactly.
  IcePeer& add_peer(std::string name, ice::AgentConfig config, std::vector<std::pair<Address, Network::Lan>> hosts,
                    uint64_t seed) {
    auto gen = std::make_shared<uint64_t>(seed * 0x9E3779B97F4A7C15ull + 1);
    config.random = [gen](std::span<std::byte> out) {
      for (auto& b : out) {
        *gen ^= *gen << 13;  // xorshift64: enough for ids and credentials
        *gen ^= *gen >> 7;
        *gen ^= *gen << 17;
        b = std::byte(*gen & 0xff);
      }
    };
    peers_.push_back(std::make_unique<IcePeer>());
    IcePeer& p = *peers_.back();
    p.name = std::move(name);
    p.agent = std::make_unique<ice::Agent>(std::move(config));
    for (const auto& [address, lan] : hosts) {
      p.hosts.push_back(address);
      net.bind(address, lan, [this, &p](const Address& to, const Address& from, std::span<const std::byte> bytes) {
        auto app = p.agent->handle_receive(net.now, to, from, bytes);
        if (!app.empty()) p.received.emplace_back(app.begin(), app.end());
      });
    }
    return p;
  }

  // The offer/answer: each learns the other's credentials one signalling delay later, and
  // every candidate and the end of candidates as they come (trickle, RFC 8838). The hosts
  // are added now, which starts gathering.
  void introduce(IcePeer& a, IcePeer& b) {
    a.remote = &b;
    b.remote = &a;
    for (IcePeer* p : {&a, &b}) {
      signal([p, ufrag = p->remote->agent->local_ufrag(), pwd = p->remote->agent->local_pwd()](Time now) {
        p->agent->set_remote_credentials(now, ufrag, pwd);
      });
    }
    for (IcePeer* p : {&a, &b}) {
      for (const auto& h : p->hosts) p->agent->add_host(net.now, h);
      p->agent->end_of_hosts(net.now);
    }
  }

  // Sends an application datagram on `p`'s route (as the transport does: behind a
  // ChannelData header on a relayed route). False when there is no route.
  bool send_data(IcePeer& p, Bytes bytes) {
    auto route = p.agent->route();
    if (!route) return false;
    if (route->channel != 0) {
      Bytes framed;
      stun::write_channel_data(route->channel, bytes, route->stream, framed);
      bytes = std::move(framed);
    }
    net.send(route->from, route->to, std::move(bytes));
    return true;
  }

  // Moves datagrams, signalling and time until `done` holds or `limit` of virtual time has
  // passed; `done` is checked after each step.
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const Time end = net.now + limit;
    for (std::size_t steps = 0;; ++steps) {
      if (steps > 10'000'000) throw std::runtime_error("sim::IceSim: no progress in virtual time");
      pump();
      if (done()) return true;
      std::optional<Time> next = net.next_event();
      for (auto& p : peers_) {
        if (auto d = p->agent->next_deadline()) next = std::min(next.value_or(*d), std::max(*d, net.now));
      }
      if (!next || *next > end) {
        net.now = end;
        return done();
      }
      net.now = *next;
      net.run_due();
      pump();
      for (auto& p : peers_) {
        if (auto d = p->agent->next_deadline(); d && *d <= net.now) p->agent->handle_timeout(net.now);
      }
    }
  }
  void run_for(Duration span) {
    run_until([] { return false; }, span);
  }

 private:
  // A signalling message arrives one signal_delay from now.
  void signal(std::function<void(Time)> fn) {
    net.at(net.now + signal_delay, [this, fn = std::move(fn)] { fn(net.now); });
  }

  void pump() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& p : peers_) {
        while (auto t = p->agent->poll_transmit()) {
          moved = true;
          net.send(t->from, t->to, std::move(t->bytes));
        }
        while (auto e = p->agent->poll_event()) {
          moved = true;
          on_event(*p, *e);
        }
      }
    }
  }

  void on_event(IcePeer& p, const ice::Event& e) {
    IcePeer* remote = p.remote;
    if (const auto* c = std::get_if<ice::event::LocalCandidate>(&e)) {
      p.local_candidates.push_back(c->candidate);
      if (remote != nullptr) {
        signal([remote, cand = c->candidate](Time now) { remote->agent->add_remote_candidate(now, cand); });
      }
    } else if (std::holds_alternative<ice::event::GatheringDone>(e)) {
      p.gathering_done = true;
      if (remote != nullptr) signal([remote](Time now) { remote->agent->remote_gathering_done(now); });
    } else if (const auto* s = std::get_if<ice::event::StateChanged>(&e)) {
      p.states.push_back(s->state);
    } else if (const auto* sel = std::get_if<ice::event::SelectedPair>(&e)) {
      p.selections.push_back(*sel);
    } else if (const auto* problem = std::get_if<ice::event::Problem>(&e)) {
      p.problems.push_back(problem->message);
    }
  }

  std::vector<std::unique_ptr<IcePeer>> peers_;
};

}  // namespace peer::test::sim
