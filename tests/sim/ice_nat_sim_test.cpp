// Two ICE agents (core/ice/agent.hpp) across NATs of every RFC 4787 kind, with a STUN and a
// TURN server (RFC 8656), on the simulated network of tests/support/sim_network.hpp, in
// virtual time: each pairing is a deterministic run of a few milliseconds of wall time, its
// timeouts (connect, consent) included. Each test asserts the state events, the candidate
// types of the selected pair (event::SelectedPair) and application datagrams both ways on
// route(), through the NATs or the relay.
//
// The topology: peer a at 10.1.0.2:5000 behind a NAT at 203.0.113.10, peer b at
// 10.2.0.2:6000 behind one at 203.0.113.20 (or both public, 192.0.2.1 and .2, with no NAT);
// the STUN server at 198.51.100.1:3478, the TURN server at 198.51.100.2:3478 (relayed
// addresses on its IP from port 50000). LAN hops take 2 ms, internet hops 10 ms,
// signalling 30 ms.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/ice/agent.hpp"
#include "core/stun/message.hpp"
#include "../support/sim_network.hpp"

namespace {

using namespace std::chrono_literals;
using peer::Address;
using peer::ice::AgentConfig;
using peer::ice::CandidateType;
using peer::ice::IceState;
namespace sim = peer::test::sim;
namespace stun = peer::stun;
using sim::Bytes;
using sim::Dependence;
using sim::IcePeer;
using sim::NatConfig;

Address ip(const char* text, uint16_t port = 0) { return *Address::parse(text, port); }

const Address kStun = ip("198.51.100.1", 3478);
const Address kTurn = ip("198.51.100.2", 3478);

const NatConfig kFullCone{};  // EIM/EIF
const NatConfig kPortRestricted = NatConfig::of(Dependence::endpoint_independent, Dependence::address_and_port);
const NatConfig kSymmetric = NatConfig::of(Dependence::address_and_port, Dependence::address_and_port);
const NatConfig kFullConeHairpinning =
    NatConfig::of(Dependence::endpoint_independent, Dependence::endpoint_independent, true);

// One side of a pairing: its NAT (none: a public host) and its servers.
struct Side {
  std::optional<NatConfig> nat;
  bool turn = false;
  bool relay_only = false;
  sim::Duration lan_delay = 2ms;  // host to NAT
};

struct World {
  sim::Network net;
  sim::StunServer stun{net, kStun};
  sim::TurnServer turn{net, kTurn};
  sim::IceSim ice{net};
  IcePeer* a = nullptr;  // controlling
  IcePeer* b = nullptr;  // controlled

  AgentConfig config(bool controlling, const Side& side) {
    AgentConfig c;
    c.controlling = controlling;
    c.stun_servers = {kStun};
    if (side.turn) c.turn_servers = {{kTurn, "user", "secret"}};
    c.relay_only = side.relay_only;
    return c;
  }
  // a and b, each behind its own NAT (or public), introduced: gathering has started.
  void pair(const Side& sa, const Side& sb, bool a_controls = true) {
    auto host = [&](const Side& s, const char* priv, const char* pub, const char* nat_ip, uint16_t port) {
      if (!s.nat) return std::make_pair(ip(pub, port), sim::Network::kInternet);
      return std::make_pair(ip(priv, port), net.add_lan(&net.add_nat(ip(nat_ip), *s.nat), s.lan_delay));
    };
    a = &ice.add_peer("a", config(a_controls, sa), {host(sa, "10.1.0.2", "192.0.2.1", "203.0.113.10", 5000)}, 1);
    b = &ice.add_peer("b", config(!a_controls, sb), {host(sb, "10.2.0.2", "192.0.2.2", "203.0.113.20", 6000)}, 2);
    ice.introduce(*a, *b);
  }
  // a and b behind one NAT: on one LAN, or on two subnets that reach each other only
  // through the NAT's external address. Introduced.
  void behind_one_nat(NatConfig config, bool one_lan) {
    sim::Nat& nat = net.add_nat(ip("203.0.113.10"), config);
    const auto lan_a = net.add_lan(&nat), lan_b = one_lan ? lan_a : net.add_lan(&nat);
    a = &ice.add_peer("a", this->config(true, {}), {{ip("10.1.0.2", 5000), lan_a}}, 1);
    b = &ice.add_peer("b", this->config(false, {}), {{ip(one_lan ? "10.1.0.3" : "10.2.0.2", 6000), lan_b}}, 2);
    ice.introduce(*a, *b);
  }
  bool connected() const { return a->connected() && b->connected(); }
  std::string describe() const { return a->describe() + b->describe(); }
};

// Datagrams both ways on each side's route (a DTLS-like first byte, so the agent hands them
// back as the caller's): all of them arrive.
void expect_data_both_ways(World& w) {
  const std::size_t before_a = w.a->received.size(), before_b = w.b->received.size();
  for (uint8_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(w.ice.send_data(*w.a, Bytes{std::byte{23}, std::byte{'a'}, std::byte{i}}));
    ASSERT_TRUE(w.ice.send_data(*w.b, Bytes{std::byte{23}, std::byte{'b'}, std::byte{i}}));
  }
  w.ice.run_for(200ms);
  ASSERT_EQ(w.b->received.size(), before_b + 5) << w.describe();
  ASSERT_EQ(w.a->received.size(), before_a + 5) << w.describe();
  for (uint8_t i = 0; i < 5; ++i) {
    EXPECT_EQ(w.b->received[before_b + i], (Bytes{std::byte{23}, std::byte{'a'}, std::byte{i}}));
    EXPECT_EQ(w.a->received[before_a + i], (Bytes{std::byte{23}, std::byte{'b'}, std::byte{i}}));
  }
}

void expect_selected(const IcePeer& p, CandidateType local, CandidateType remote) {
  ASSERT_NE(p.selected(), nullptr) << p.describe();
  EXPECT_EQ(p.selected()->local.type, local) << p.describe();
  EXPECT_EQ(p.selected()->remote.type, remote) << p.describe();
}

// checking, then connected (and maybe completed), nothing else.
void expect_connected_states(const IcePeer& p) {
  ASSERT_FALSE(p.states.empty()) << p.describe();
  EXPECT_EQ(p.states.front(), IceState::checking) << p.describe();
  EXPECT_NE(std::find(p.states.begin(), p.states.end(), IceState::connected), p.states.end()) << p.describe();
  for (auto s : p.states) {
    EXPECT_TRUE(s == IceState::checking || s == IceState::connected || s == IceState::completed) << p.describe();
  }
}

// The two sides use one pair (RFC 8445 section 8.1.1: the controlled agent selects the pair
// the controlling one nominated): what is a relayed candidate on one end is one on the other.
// A host candidate behind a NAT is seen by the other side as srflx or prflx, so only the
// relayed ends can be compared by type.
void expect_one_pair(const World& w) {
  const auto* a = w.a->selected();
  const auto* b = w.b->selected();
  ASSERT_TRUE(a != nullptr && b != nullptr) << w.describe();
  EXPECT_EQ(a->local.type == CandidateType::relay, b->remote.type == CandidateType::relay) << w.describe();
  EXPECT_EQ(a->remote.type == CandidateType::relay, b->local.type == CandidateType::relay) << w.describe();
  if (a->local.type == CandidateType::relay) {
    EXPECT_EQ(a->local.address, b->remote.address) << w.describe();
  }
  if (b->local.type == CandidateType::relay) {
    EXPECT_EQ(b->local.address, a->remote.address) << w.describe();
  }
}

// Connects within `limit`, both sides' states as expected, one pair, then data both ways.
void connect(World& w, sim::Duration limit = 5s) {
  ASSERT_TRUE(w.ice.run_until([&] { return w.connected(); }, limit)) << w.describe();
  // Let nomination and signalling settle (a peer-reflexive remote may turn out signalled).
  w.ice.run_for(1s);
  ASSERT_TRUE(w.connected()) << w.describe();
  expect_connected_states(*w.a);
  expect_connected_states(*w.b);
  expect_one_pair(w);
  expect_data_both_ways(w);
}

TEST(IceNat, NoNatBothSidesSelectsTheHostPair) {
  World w;
  w.pair({}, {});
  connect(w);
  expect_selected(*w.a, CandidateType::host, CandidateType::host);
  expect_selected(*w.b, CandidateType::host, CandidateType::host);
  EXPECT_EQ(w.a->selected()->remote.address, ip("192.0.2.2", 6000));
  // The STUN server saw the host address itself: no server-reflexive candidate.
  for (const auto* p : {w.a, w.b}) {
    for (const auto& c : p->local_candidates) EXPECT_EQ(c.type, CandidateType::host) << p->describe();
  }
}

TEST(IceNat, FullConeBothSidesSelectsServerReflexive) {
  World w;
  w.pair({kFullCone}, {kFullCone});
  connect(w);
  expect_selected(*w.a, CandidateType::host, CandidateType::srflx);
  expect_selected(*w.b, CandidateType::host, CandidateType::srflx);
  EXPECT_EQ(w.a->selected()->remote.address.with_port(0), ip("203.0.113.20"));
  EXPECT_EQ(w.b->selected()->remote.address.with_port(0), ip("203.0.113.10"));
}

// Port-restricted cones let nothing in from an endpoint they have not sent to: a's first
// check to b's srflx is dropped at b's NAT until b's check to a opened it (the hole punch).
// b's LAN is slow (25 ms to its NAT) so that a's check does arrive first.
TEST(IceNat, PortRestrictedConeBothSidesPunchesThrough) {
  World w;
  w.pair({kPortRestricted}, {kPortRestricted, false, false, 25ms});
  connect(w);
  expect_selected(*w.a, CandidateType::host, CandidateType::srflx);
  expect_selected(*w.b, CandidateType::host, CandidateType::srflx);
  EXPECT_GT(w.net.filtered, 0u);
}

// A symmetric NAT gives each destination its own port, so a's srflx (its mapping towards the
// STUN server) is no use to b; a's checks reach b's full cone from a new port, which b learns
// as peer-reflexive (RFC 8445 section 7.3.1.3) and answers there. Both roles.
TEST(IceNat, SymmetricAgainstFullConeConnectsViaPeerReflexive) {
  for (bool a_controls : {true, false}) {
    SCOPED_TRACE(a_controls ? "symmetric side controls" : "symmetric side is controlled");
    World w;
    w.pair({kSymmetric}, {kFullCone}, a_controls);
    connect(w);
    expect_selected(*w.a, CandidateType::host, CandidateType::srflx);
    expect_selected(*w.b, CandidateType::host, CandidateType::prflx);
    const auto& a_srflx = std::find_if(w.a->local_candidates.begin(), w.a->local_candidates.end(),
                                       [](const auto& c) { return c.type == CandidateType::srflx; });
    ASSERT_NE(a_srflx, w.a->local_candidates.end());
    EXPECT_EQ(w.b->selected()->remote.address.with_port(0), ip("203.0.113.10"));
    EXPECT_NE(w.b->selected()->remote.address, a_srflx->address);
  }
}

TEST(IceNat, SymmetricBothSidesWithoutTurnFailsWithinTheConnectTimeout) {
  World w;
  w.pair({kSymmetric}, {kSymmetric});
  const auto start = w.net.now;
  const auto timeout = AgentConfig{}.timing.connect_timeout;
  ASSERT_TRUE(w.ice.run_until([&] {
    return w.a->state() == IceState::failed && w.b->state() == IceState::failed;
  }, timeout + 1s)) << w.describe();
  EXPECT_LE(w.net.now - start, timeout);
  for (const auto* p : {w.a, w.b}) {
    EXPECT_EQ(p->states, (std::vector<IceState>{IceState::checking, IceState::failed})) << p->describe();
    EXPECT_EQ(p->selected(), nullptr);
    EXPECT_FALSE(p->agent->route().has_value());
    ASSERT_FALSE(p->problems.empty());
    EXPECT_NE(p->problems.back().find("no candidate pair worked"), std::string::npos) << p->describe();
  }
}

// With TURN on both sides a pair through the relay works: the server's permission is per IP
// (RFC 8656 section 9), so the checks of the other side's new mappings get in.
TEST(IceNat, SymmetricBothSidesWithTurnSelectsARelayedPair) {
  for (bool a_controls : {true, false}) {
    SCOPED_TRACE(a_controls ? "a controls" : "b controls");
    World w;
    w.pair({kSymmetric, true}, {kSymmetric, true}, a_controls);
    connect(w);
    // The controlling side nominates its host to the other's relay (that beats relay to
    // relay and, its G being the larger, the mirror pair); the controlled side selects that
    // same path: from its relay to the controlling side's NAT mapping, peer-reflexive.
    expect_selected(a_controls ? *w.a : *w.b, CandidateType::host, CandidateType::relay);
    expect_selected(a_controls ? *w.b : *w.a, CandidateType::relay, CandidateType::prflx);
    for (const auto* p : {w.a, w.b}) {
      ASSERT_NE(p->selected(), nullptr);
      EXPECT_TRUE(p->selected()->local.type == CandidateType::relay ||
                  p->selected()->remote.type == CandidateType::relay)
          << p->describe();
      const auto route = p->agent->route();
      ASSERT_TRUE(route.has_value());
      if (p->selected()->local.type == CandidateType::relay) {
        EXPECT_EQ(route->to, kTurn);
        EXPECT_GE(route->channel, 0x4000);
      }
    }
    EXPECT_GT(w.turn.stats().to_peers, 0u);
    EXPECT_GT(w.turn.stats().to_clients, 0u);
  }
}

// Two hosts behind one NAT on separate subnets (no direct route): their srflx candidates
// connect them through the NAT's hairpinning (RFC 4787 section 6).
TEST(IceNat, SameNatWithHairpinningConnects) {
  World w;
  w.behind_one_nat(kFullConeHairpinning, false);
  connect(w);
  expect_selected(*w.a, CandidateType::host, CandidateType::srflx);
  expect_selected(*w.b, CandidateType::host, CandidateType::srflx);
  EXPECT_EQ(w.a->selected()->remote.address.with_port(0), ip("203.0.113.10"));
}

TEST(IceNat, SameNatWithoutHairpinningFails) {
  World w;
  w.behind_one_nat(kFullCone, false);
  ASSERT_TRUE(w.ice.run_until([&] { return w.a->state() == IceState::failed && w.b->state() == IceState::failed; },
                              AgentConfig{}.timing.connect_timeout + 1s))
      << w.describe();
}

// On one LAN the host pair works too and wins on priority (RFC 8445 section 5.1.2.2).
TEST(IceNat, SameLanSelectsTheHostPair) {
  World w;
  w.behind_one_nat(kFullConeHairpinning, true);
  connect(w);
  expect_selected(*w.a, CandidateType::host, CandidateType::host);
  expect_selected(*w.b, CandidateType::host, CandidateType::host);
  EXPECT_EQ(w.a->agent->route()->to, ip("10.1.0.3", 6000));
}

// RTCIceTransportPolicy "relay" on both sides: only relayed candidates are signalled, the
// pair is relay to relay and the data goes as ChannelData both ways; close() deletes both
// allocations (Refresh with LIFETIME 0).
TEST(IceNat, RelayOnlyPolicySelectsTheRelayPair) {
  World w;
  w.pair({kFullCone, true, true}, {kFullCone, true, true});
  connect(w);
  expect_selected(*w.a, CandidateType::relay, CandidateType::relay);
  expect_selected(*w.b, CandidateType::relay, CandidateType::relay);
  for (const auto* p : {w.a, w.b}) {
    for (const auto& c : p->local_candidates) EXPECT_EQ(c.type, CandidateType::relay) << p->describe();
    EXPECT_EQ(p->agent->route()->to, kTurn);
    EXPECT_GE(p->agent->route()->channel, 0x4000);
  }
  EXPECT_EQ(w.turn.stats().allocations, 2u);
  EXPECT_GE(w.turn.stats().unauthorized, 2u);  // each Allocate was first refused for its nonce
  EXPECT_GE(w.turn.stats().channel_binds, 2u);
  EXPECT_EQ(w.turn.stats().no_permission, 0u);
  // Allocations and channels are refreshed: still connected, and data still flows, after 20
  // idle minutes (allocations last 10, permissions 5).
  w.ice.run_for(20min);
  ASSERT_TRUE(w.connected()) << w.describe();
  expect_data_both_ways(w);
  w.a->agent->close(w.net.now);
  w.b->agent->close(w.net.now);
  w.ice.run_for(100ms);
  EXPECT_EQ(w.turn.stats().deleted, 2u);
  EXPECT_EQ(w.turn.allocation_count(), 0u);
}

// RFC 7675: with the link gone, no consent response for `disconnected_after` makes the
// agent disconnected, none for `consent_timeout` failed; both in virtual time.
TEST(IceNat, ConsentLostFailsAtTheConsentTimeout) {
  World w;
  w.pair({kFullCone}, {kFullCone});
  connect(w);
  const auto timing = AgentConfig{}.timing;
  w.net.cut = true;
  const auto cut = w.net.now;
  ASSERT_TRUE(w.ice.run_until([&] { return w.a->state() == IceState::disconnected; }, 60s)) << w.describe();
  // The last consent response came at most one consent interval (x 1.2) before the cut.
  EXPECT_LE(w.net.now - cut, timing.disconnected_after);
  EXPECT_GE(w.net.now - cut, timing.disconnected_after - timing.consent_interval * 6 / 5);
  ASSERT_TRUE(w.ice.run_until([&] { return w.a->state() == IceState::failed && w.b->state() == IceState::failed; },
                              60s))
      << w.describe();
  EXPECT_LE(w.net.now - cut, timing.consent_timeout);
  EXPECT_GE(w.net.now - cut, timing.consent_timeout - timing.consent_interval * 6 / 5);
  for (const auto* p : {w.a, w.b}) {
    ASSERT_GE(p->states.size(), 2u);
    EXPECT_EQ(p->states.end()[-2], IceState::disconnected) << p->describe();
    EXPECT_EQ(p->states.back(), IceState::failed) << p->describe();
    EXPECT_NE(p->problems.back().find("consent expired"), std::string::npos) << p->describe();
    EXPECT_FALSE(p->agent->route().has_value());
  }
}

TEST(IceNat, ConsentRegainedBeforeTheTimeoutReconnects) {
  World w;
  w.pair({kPortRestricted}, {kPortRestricted});
  connect(w);
  w.net.cut = true;
  ASSERT_TRUE(w.ice.run_until([&] {
    return w.a->state() == IceState::disconnected && w.b->state() == IceState::disconnected;
  }, 20s)) << w.describe();
  w.ice.run_for(5s);
  w.net.cut = false;
  ASSERT_TRUE(w.ice.run_until([&] { return w.connected(); }, 5s)) << w.describe();
  for (const auto* p : {w.a, w.b}) {
    EXPECT_EQ(std::count(p->states.begin(), p->states.end(), IceState::disconnected), 1) << p->describe();
    EXPECT_EQ(std::count(p->states.begin(), p->states.end(), IceState::failed), 0) << p->describe();
  }
  expect_data_both_ways(w);
  // And it stays up: consent keeps the NAT mappings and the pair alive.
  w.ice.run_for(60s);
  EXPECT_TRUE(w.connected()) << w.describe();
}

// The same seeds, the same run: every event at the same virtual time.
TEST(IceNat, RunsAreRepeatable) {
  auto run = [] {
    World w;
    w.pair({kSymmetric, true}, {kPortRestricted, true});
    w.ice.run_until([&] { return w.connected(); }, 5s);
    w.ice.run_for(2s);
    return std::make_tuple(w.net.now, w.net.delivered, w.a->selections.size(), w.a->selected()->local,
                           w.a->selected()->remote, w.b->selected()->remote);
  };
  EXPECT_EQ(run(), run());
}

// --- the NAT model itself (RFC 4787) ---------------------------------------------------

TEST(IceNat, NatModelMappingAndFilteringMatrix) {
  const Address inside = ip("10.0.0.2", 5000);
  const Address x1 = ip("198.51.100.7", 1000), x1_port2 = ip("198.51.100.7", 2000),
                x2 = ip("198.51.100.8", 1000);
  const auto t = sim::Time{} + 1h;
  for (auto mapping : {Dependence::endpoint_independent, Dependence::address, Dependence::address_and_port}) {
    for (auto filtering : {Dependence::endpoint_independent, Dependence::address, Dependence::address_and_port}) {
      SCOPED_TRACE(testing::Message() << "mapping " << int(mapping) << " filtering " << int(filtering));
      sim::Nat nat(ip("203.0.113.1"), NatConfig::of(mapping, filtering));
      const Address m1 = nat.outbound(t, inside, x1);
      EXPECT_EQ(m1, ip("203.0.113.1", 40000));
      EXPECT_EQ(nat.outbound(t, inside, x1), m1);  // the same destination: the same mapping
      // Section 4.1: the same port for another port of the same host unless port-dependent,
      // for another host only if endpoint-independent.
      const Address m_port2 = nat.outbound(t, inside, x1_port2);
      EXPECT_EQ(m_port2 == m1, mapping != Dependence::address_and_port);
      const Address m_x2 = nat.outbound(t, inside, x2);
      EXPECT_EQ(m_x2 == m1, mapping == Dependence::endpoint_independent);
      // Section 5, on a fresh NAT with one datagram out to x1: who may answer on its mapping.
      sim::Nat f(ip("203.0.113.1"), NatConfig::of(mapping, filtering));
      const Address m = f.outbound(t, inside, x1);
      EXPECT_EQ(f.inbound(t, m, x1), inside);
      EXPECT_EQ(f.inbound(t, m, x1_port2).has_value(), filtering != Dependence::address_and_port);
      EXPECT_EQ(f.inbound(t, m, x2).has_value(), filtering == Dependence::endpoint_independent);
      EXPECT_FALSE(f.inbound(t, m.with_port(m.port + 1), x1).has_value());  // no mapping there
    }
  }
}

TEST(IceNat, NatModelMappingTimeoutRefreshedByOutboundOnly) {
  const Address inside = ip("10.0.0.2", 5000), x = ip("198.51.100.7", 1000);
  const auto t = sim::Time{} + 1h;
  NatConfig config;
  config.mapping_timeout = 30s;
  sim::Nat nat(ip("203.0.113.1"), config);
  const Address m = nat.outbound(t, inside, x);
  EXPECT_EQ(nat.outbound(t + 20s, inside, x), m);  // refreshed at 20 s
  EXPECT_EQ(nat.inbound(t + 45s, m, x), inside);   // inbound does not refresh
  EXPECT_FALSE(nat.inbound(t + 50s, m, x).has_value());
  EXPECT_EQ(nat.mappings(), 0u);
  // A new mapping, on a port never used before.
  EXPECT_EQ(nat.outbound(t + 50s, inside, x), ip("203.0.113.1", 40001));
}

TEST(IceNat, NetworkHairpinsOnlyWhenTheNatDoes) {
  for (bool hairpinning : {false, true}) {
    sim::Network net;
    sim::Nat& nat = net.add_nat(ip("203.0.113.1"), NatConfig::of(Dependence::endpoint_independent, Dependence::endpoint_independent, hairpinning));
    const auto lan1 = net.add_lan(&nat), lan2 = net.add_lan(&nat);
    const Address a = ip("10.1.0.2", 5000), b = ip("10.2.0.2", 6000), server = ip("198.51.100.1", 3478);
    std::vector<Address> at_b, at_server;
    net.bind(a, lan1, [](auto&&...) {});
    net.bind(b, lan2, [&](const Address&, const Address& from, auto) { at_b.push_back(from); });
    net.bind(server, sim::Network::kInternet, [&](const Address&, const Address& from, auto) { at_server.push_back(from); });
    net.send(a, server, Bytes{std::byte{1}});
    net.send(b, server, Bytes{std::byte{1}});
    net.send(a, b, Bytes{std::byte{1}});  // another subnet: no route but through the NAT
    auto drain = [&] {
      while (auto t = net.next_event()) {
        net.now = *t;
        net.run_due();
      }
    };
    drain();
    ASSERT_EQ(at_server.size(), 2u);
    EXPECT_TRUE(at_b.empty());
    EXPECT_EQ(net.unroutable, 1u);
    net.send(a, at_server[1], Bytes{std::byte{1}});  // to b's mapping, on the NAT's own address
    drain();
    // The hairpinned datagram comes from a's external mapping (RFC 4787 REQ-9).
    EXPECT_EQ(at_b, hairpinning ? std::vector<Address>{at_server[0]} : std::vector<Address>{});
  }
}

// --- the TURN server itself (RFC 8656), as a client other than the agent would use it ----

class TurnClient {
 public:
  TurnClient(sim::Network& net, Address self) : net_(net), self_(self) {
    net.bind(self, sim::Network::kInternet, [this](const Address&, const Address& from, std::span<const std::byte> b) {
      received.emplace_back(from, Bytes(b.begin(), b.end()));
    });
  }
  std::vector<std::pair<Address, Bytes>> received;

  // A request, signed when a nonce is known; runs the network; the answer.
  std::optional<stun::Message> request(stun::Method method, const std::function<void(stun::Writer&)>& attributes,
                                       const std::string& password = "secret") {
    stun::TransactionId id{};
    id[0] = std::byte(++ids_);
    stun::Writer w(stun::Class::request, method, id);
    attributes(w);
    if (!nonce.empty()) {
      w.add_string(stun::attr::username, "user");
      w.add_string(stun::attr::realm, "sim");
      w.add_string(stun::attr::nonce, nonce);
      w.add_message_integrity(stun::long_term_key("user", "sim", password));
    }
    w.add_fingerprint();
    send(kTurn, Bytes(w.bytes().begin(), w.bytes().end()));
    for (const auto& [from, bytes] : received) {
      auto m = stun::Message::parse(bytes);
      if (m && m->transaction_id() == id) {
        answer_ = bytes;
        return stun::Message::parse(answer_);
      }
    }
    return std::nullopt;
  }
  void send(const Address& to, Bytes bytes) {
    net_.send(self_, to, std::move(bytes));
    drain();
  }
  void drain() {
    while (auto t = net_.next_event()) {
      net_.now = *t;
      net_.run_due();
    }
  }
  static int code(const std::optional<stun::Message>& m) {
    if (!m || m->message_class() != stun::Class::error) return 0;
    return m->error_code()->code;
  }
  std::string nonce;

 private:
  sim::Network& net_;
  Address self_;
  Bytes answer_;
  uint8_t ids_ = 0;
};

TEST(IceNat, TurnServerFollowsRfc8656) {
  sim::Network net;
  sim::TurnServer turn(net, kTurn);
  const auto key = stun::long_term_key("user", "sim", "secret");
  TurnClient client(net, ip("192.0.2.10", 7000));
  std::vector<std::pair<Address, Bytes>> at_peer;
  const Address peer = ip("192.0.2.20", 9000), stranger = ip("192.0.2.30", 9000);
  net.bind(peer, sim::Network::kInternet,
           [&](const Address&, const Address& from, auto b) { at_peer.emplace_back(from, Bytes(b.begin(), b.end())); });
  net.bind(stranger, sim::Network::kInternet, [](auto&&...) {});
  net.bind(peer.with_port(9001), sim::Network::kInternet, [](auto&&...) {});
  auto transport = [](stun::Writer& w) { w.add_requested_transport(17); };

  // Unsigned: 401 with REALM and NONCE (RFC 8489 section 9.2.4).
  auto r = client.request(stun::Method::allocate, transport);
  ASSERT_EQ(TurnClient::code(r), stun::error::unauthorized);
  EXPECT_EQ(r->string(stun::attr::realm).value_or(""), "sim");
  client.nonce = std::string(r->string(stun::attr::nonce).value_or(""));
  // A wrong password: 401 again; a stale nonce: 438 with the new one.
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::allocate, transport, "wrong")), stun::error::unauthorized);
  turn.set_nonce("n0nce-2");
  r = client.request(stun::Method::allocate, transport);
  ASSERT_EQ(TurnClient::code(r), stun::error::stale_nonce);
  client.nonce = std::string(r->string(stun::attr::nonce).value_or(""));
  EXPECT_EQ(client.nonce, "n0nce-2");
  // No REQUESTED-TRANSPORT: 400; TCP: 442.
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::allocate, [](stun::Writer&) {})), stun::error::bad_request);
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::allocate, [](stun::Writer& w) { w.add_requested_transport(6); })),
            stun::error::unsupported_transport);
  // Before an allocation: 437.
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::refresh, [](stun::Writer&) {})),
            stun::error::allocation_mismatch);

  r = client.request(stun::Method::allocate, transport);
  ASSERT_TRUE(r && r->message_class() == stun::Class::success);
  EXPECT_TRUE(r->check_integrity(key));
  const Address relayed = *r->xor_address(stun::attr::xor_relayed_address);
  EXPECT_EQ(relayed, kTurn.with_port(50000));
  EXPECT_EQ(r->xor_address(stun::attr::xor_mapped_address), ip("192.0.2.10", 7000));
  EXPECT_EQ(r->u32(stun::attr::lifetime), 600u);
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::allocate, transport)), stun::error::allocation_mismatch);

  // Peer data without a permission is dropped (section 9).
  net.send(peer, relayed, Bytes{std::byte{'p'}});
  client.received.clear();
  client.drain();
  EXPECT_TRUE(client.received.empty());
  EXPECT_EQ(turn.stats().no_permission, 1u);

  // CreatePermission, then a Send indication goes out and the peer's answer comes back as a
  // Data indication (section 11).
  r = client.request(stun::Method::create_permission,
                     [&](stun::Writer& w) { w.add_xor_address(stun::attr::xor_peer_address, peer); });
  ASSERT_TRUE(r && r->message_class() == stun::Class::success);
  auto indication = [&](const Address& to, Bytes data) {
    stun::Writer w(stun::Class::indication, stun::Method::send, stun::TransactionId{std::byte{0x77}});
    w.add_xor_address(stun::attr::xor_peer_address, to);
    w.add(stun::attr::data, data);
    client.send(kTurn, Bytes(w.bytes().begin(), w.bytes().end()));
  };
  indication(peer, Bytes{std::byte{'s'}});
  indication(stranger, Bytes{std::byte{'x'}});  // no permission for that IP: dropped
  ASSERT_EQ(at_peer.size(), 1u);
  EXPECT_EQ(at_peer[0], std::make_pair(relayed, Bytes{std::byte{'s'}}));
  EXPECT_EQ(turn.stats().no_permission, 2u);
  client.received.clear();
  net.send(peer.with_port(9001), relayed, Bytes{std::byte{'d'}});  // the permission is per IP
  client.drain();
  ASSERT_EQ(client.received.size(), 1u);
  auto data = stun::Message::parse(client.received[0].second);
  ASSERT_TRUE(data && data->message_class() == stun::Class::indication && data->method() == stun::Method::data);
  EXPECT_EQ(data->xor_address(stun::attr::xor_peer_address), peer.with_port(9001));
  EXPECT_EQ(Bytes(data->find(stun::attr::data)->begin(), data->find(stun::attr::data)->end()), Bytes{std::byte{'d'}});

  // ChannelBind: ChannelData both ways; a number outside 0x4000-0x4FFF, or a second channel
  // for the same peer, is a 400 (section 12.2).
  auto bind = [&](uint16_t number, const Address& to) {
    return client.request(stun::Method::channel_bind, [&](stun::Writer& w) {
      w.add_channel_number(number);
      w.add_xor_address(stun::attr::xor_peer_address, to);
    });
  };
  // (0x3FFF written by hand: the Writer refuses it.)
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::channel_bind, [&](stun::Writer& w) {
              w.add(stun::attr::channel_number, Bytes{std::byte{0x3f}, std::byte{0xff}, std::byte{0}, std::byte{0}});
              w.add_xor_address(stun::attr::xor_peer_address, peer);
            })),
            stun::error::bad_request);
  r = bind(0x4000, peer);
  ASSERT_TRUE(r && r->message_class() == stun::Class::success);
  EXPECT_EQ(TurnClient::code(bind(0x4001, peer)), stun::error::bad_request);
  EXPECT_EQ(TurnClient::code(bind(0x4000, stranger)), stun::error::bad_request);
  Bytes framed;
  stun::write_channel_data(0x4000, Bytes{std::byte{'c'}}, false, framed);
  client.send(kTurn, framed);
  ASSERT_EQ(at_peer.size(), 2u);
  EXPECT_EQ(at_peer[1], std::make_pair(relayed, Bytes{std::byte{'c'}}));
  client.received.clear();
  net.send(peer, relayed, Bytes{std::byte{'e'}});
  client.drain();
  ASSERT_EQ(client.received.size(), 1u);
  auto channel_data = stun::parse_channel_data(client.received[0].second);
  ASSERT_TRUE(channel_data.has_value());
  EXPECT_EQ(channel_data->channel, 0x4000);
  EXPECT_EQ(Bytes(channel_data->data.begin(), channel_data->data.end()), Bytes{std::byte{'e'}});

  // Refresh with LIFETIME 0 deletes the allocation: the relayed address is gone.
  r = client.request(stun::Method::refresh, [](stun::Writer& w) { w.add_u32(stun::attr::lifetime, 0); });
  ASSERT_TRUE(r && r->message_class() == stun::Class::success);
  EXPECT_EQ(r->u32(stun::attr::lifetime), 0u);
  EXPECT_EQ(turn.allocation_count(), 0u);
  EXPECT_EQ(TurnClient::code(client.request(stun::Method::refresh, [](stun::Writer&) {})),
            stun::error::allocation_mismatch);
  const auto to_clients = turn.stats().to_clients;
  net.send(peer, relayed, Bytes{std::byte{'z'}});
  client.drain();
  EXPECT_EQ(turn.stats().to_clients, to_clients);
  EXPECT_GT(net.unroutable, 0u);
}

}  // namespace
