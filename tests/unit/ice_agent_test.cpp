// The ICE agent (core/ice/agent.hpp) between agents on a simulated network with a virtual
// clock: no sockets, no sleeps. The network routes each Transmit by its destination address,
// with a one-way delay, seeded loss, NATs in front of hosts and a STUN server on the
// "public" side; signaling is trickled as the agents emit candidates. ICE-TCP (RFC 6544) runs
// over virtual connections: a frame from an active candidate's base to a listening address
// opens one (or is refused when nothing listens there), and frames keep their order and are
// never lost.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/ice/agent.hpp"
#include "core/sdp/candidate.hpp"
#include "core/stun/message.hpp"
#include "../support/sim_network.hpp"

namespace {

using namespace std::chrono_literals;
using peer::Address;
using peer::ice::Agent;
using peer::ice::AgentConfig;
using peer::ice::Candidate;
using peer::ice::CandidateType;
using peer::ice::IceState;
using peer::ice::Time;
namespace event = peer::ice::event;
using Bytes = std::vector<std::byte>;

Address ip(const char* text, uint16_t port) { return *Address::parse(text, port); }

// A NAT in front of one node: tests/support/sim_network.hpp's model (RFC 4787). `cone`:
// endpoint-independent mapping and filtering (any outside host may send to a mapping once it
// exists); `symmetric`: address- and port-dependent mapping and filtering. Ports are handed
// out from 40000 up.
using Nat = peer::test::sim::Nat;
enum class NatMode { cone, symmetric };

struct Node {
  std::string name;
  std::unique_ptr<Agent> agent;
  std::vector<Address> hosts;
  std::vector<Address> tcp_hosts;  // listening addresses (ICE-TCP)
  Nat* nat = nullptr;
  Node* peer = nullptr;
  bool trickle = true;  // hand our candidates to the peer as they come
  std::vector<IceState> states;
  std::vector<Candidate> local_candidates;
  std::optional<std::pair<Candidate, Candidate>> selected;
  std::vector<std::string> problems;
  bool gathering_done = false;
  std::size_t candidates_before_done = 0;  // local_candidates when GatheringDone came
  std::size_t data_received = 0;

  IceState state() const { return agent->state(); }
  bool connected() const {
    return state() == IceState::connected || state() == IceState::completed;
  }
};

class Net {
 public:
  Time now = Time{} + 1000h;
  std::chrono::milliseconds delay = 5ms;
  double loss = 0;
  bool cut = false;  // drop everything (an outage)
  std::optional<Address> stun_server;
  // A TURN server (RFC 8656) on that address too, when set: long-term credentials "user" /
  // turn_password, realm "sim", relayed addresses 203.0.113.3:50000 and up.
  bool turn = false;
  std::string turn_password = "secret";
  std::size_t turn_refreshes_to_zero = 0;
  std::mt19937_64 rng{1};
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<std::unique_ptr<Nat>> nats;
  std::size_t delivered = 0;

  Node& add(std::string name, bool controlling, std::vector<Address> hosts, Nat* nat = nullptr) {
    AgentConfig config;
    config.controlling = controlling;
    if (stun_server) config.stun_servers.push_back(*stun_server);
    if (stun_server && turn) config.turn_servers.push_back({*stun_server, "user", "secret"});
    // Repeatable runs: the agent's randomness comes from a generator seeded by its name.
    auto gen = std::make_shared<std::mt19937_64>(std::hash<std::string>{}(name));
    config.random = [gen](std::span<std::byte> out) {
      for (auto& b : out) b = std::byte((*gen)() & 0xff);
    };
    config_hook(config);
    auto node = std::make_unique<Node>();
    node->name = std::move(name);
    node->agent = std::make_unique<Agent>(config);
    node->hosts = std::move(hosts);
    node->nat = nat;
    nodes.push_back(std::move(node));
    return *nodes.back();
  }
  std::function<void(AgentConfig&)> config_hook = [](AgentConfig&) {};

  Nat& add_nat(NatMode mode, Address public_ip) {
    using peer::test::sim::Dependence;
    const auto d = mode == NatMode::cone ? Dependence::endpoint_independent : Dependence::address_and_port;
    nats.push_back(std::make_unique<Nat>(public_ip, peer::test::sim::NatConfig::of(d, d)));
    return *nats.back();
  }

  // Joins a and b: credentials both ways, then each adds its hosts (which starts gathering).
  void introduce(Node& a, Node& b) {
    a.peer = &b;
    b.peer = &a;
    a.agent->set_remote_credentials(now, b.agent->local_ufrag(), b.agent->local_pwd());
    b.agent->set_remote_credentials(now, a.agent->local_ufrag(), a.agent->local_pwd());
    for (Node* n : {&a, &b}) {
      for (const auto& h : n->hosts) n->agent->add_host(now, h);
      for (const auto& h : n->tcp_hosts) n->agent->add_tcp_host(now, h);
      n->agent->end_of_hosts(now);
    }
  }

  // Moves packets and time until `done` holds or `limit` of virtual time has passed.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const Time end = now + limit;
    for (;;) {
      pump();
      if (done()) return true;
      std::optional<Time> next;
      auto consider = [&](Time t) {
        if (!next || t < *next) next = t;
      };
      if (!in_flight.empty()) consider(in_flight.begin()->first);
      for (auto& n : nodes) {
        if (auto d = n->agent->next_deadline()) consider(std::max(*d, now));
      }
      if (!next || *next > end) {
        now = end;
        return done();
      }
      now = *next;
      while (!in_flight.empty() && in_flight.begin()->first <= now) {
        Packet p = std::move(in_flight.begin()->second);
        in_flight.erase(in_flight.begin());
        deliver(p);
      }
      for (auto& n : nodes) {
        if (auto d = n->agent->next_deadline(); d && *d <= now) n->agent->handle_timeout(now);
      }
    }
  }
  void run_for(std::chrono::milliseconds span) {
    run_until([] { return false; }, span);
  }

  // A datagram from node `n` that is not STUN (the data path), on its route.
  void send_data(Node& n) {
    auto route = n.agent->route();
    ASSERT_TRUE(route.has_value());
    const Bytes record{std::byte{23}, std::byte{0xfe}, std::byte{0xfd}};
    Bytes framed;
    if (route->channel != 0) {
      peer::stun::write_channel_data(route->channel, record, false, framed);  // as the transport does
    } else {
      framed = record;
    }
    if (route->tcp) {
      transmit_tcp(n, route->from, route->to, std::move(framed));
    } else {
      transmit(n, route->from, route->to, std::move(framed));
    }
  }

  // --- virtual ICE-TCP connections ------------------------------------------------------
  struct TcpConnection {
    Node* opener = nullptr;
    Address opener_base;  // the active candidate's base (its IP, port 0)
    Address opener_port;  // where it connected from, as the acceptor sees it
    Node* acceptor = nullptr;
    Address listen;
    bool open = true;
  };
  std::vector<TcpConnection> tcp_connections;
  std::size_t tcp_frames = 0;  // frames written on connections (a connect's first one included)
  std::size_t tcp_refused = 0;

  // The connection ends (a reset): both sides hear of it after the one-way delay.
  void close_tcp(TcpConnection& c) {
    if (!c.open) return;
    c.open = false;
    in_flight.emplace(
        now + delay,
        Packet{c.opener_base, c.listen, {}, Packet::Kind::tcp_closed, c.opener, c.opener_base});
    in_flight.emplace(
        now + delay,
        Packet{c.listen, c.opener_port, {}, Packet::Kind::tcp_closed, c.acceptor, c.listen});
  }

 private:
  struct Packet {
    Address from, to;
    Bytes bytes;
    // datagram: UDP; tcp_frame: for `node`'s connection from `base`; tcp_closed: `node`'s
    // connection (base = from, to) ended.
    enum class Kind { datagram, tcp_frame, tcp_closed } kind = Kind::datagram;
    Node* node = nullptr;
    Address base{};
  };
  std::multimap<Time, Packet> in_flight;

  void pump() {
    bool moved = true;
    while (moved) {
      moved = false;
      for (auto& n : nodes) {
        while (auto t = n->agent->poll_transmit()) {
          moved = true;
          if (t->tcp) {
            transmit_tcp(*n, t->from, t->to, std::move(t->bytes));
          } else {
            transmit(*n, t->from, t->to, std::move(t->bytes));
          }
        }
        while (auto e = n->agent->poll_event()) {
          moved = true;
          on_event(*n, *e);
        }
      }
    }
  }

  void on_event(Node& n, const peer::ice::Event& e) {
    if (auto* c = std::get_if<event::LocalCandidate>(&e)) {
      n.local_candidates.push_back(c->candidate);
      if (n.trickle && n.peer) n.peer->agent->add_remote_candidate(now, c->candidate);
    } else if (std::get_if<event::GatheringDone>(&e)) {
      n.gathering_done = true;
      n.candidates_before_done = n.local_candidates.size();
      if (n.trickle && n.peer) n.peer->agent->remote_gathering_done(now);
    } else if (auto* s = std::get_if<event::StateChanged>(&e)) {
      n.states.push_back(s->state);
    } else if (auto* p = std::get_if<event::SelectedPair>(&e)) {
      n.selected = std::make_pair(p->local, p->remote);
    } else if (auto* p = std::get_if<event::Problem>(&e)) {
      n.problems.push_back(p->message);
    }
  }

  void transmit(Node& n, Address from, Address to, Bytes bytes) {
    if (n.nat) from = n.nat->outbound(now, from, to);
    if (cut) return;
    if (loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < loss) return;
    in_flight.emplace(now + delay, Packet{from, to, std::move(bytes)});
  }

  // A frame on the connection (from, to) of `n`: opened by this frame when `from` is an active
  // base (port 0) and something listens at `to`, refused (tcp_closed) when nothing does.
  void transmit_tcp(Node& n, Address from, Address to, Bytes bytes) {
    if (cut) return;  // stalls, as a TCP connection through an outage would
    ++tcp_frames;
    for (auto& c : tcp_connections) {
      if (!c.open) continue;
      if (c.opener == &n && c.opener_base == from && c.listen == to) {
        in_flight.emplace(now + delay, Packet{c.opener_port, c.listen, std::move(bytes),
                                              Packet::Kind::tcp_frame, c.acceptor, c.listen});
        return;
      }
      if (c.acceptor == &n && c.listen == from && c.opener_port == to) {
        in_flight.emplace(now + delay, Packet{c.listen, c.opener_base, std::move(bytes),
                                              Packet::Kind::tcp_frame, c.opener, c.opener_base});
        return;
      }
    }
    if (from.port != 0) return;  // no such accepted connection (it closed): dropped
    for (auto& node : nodes) {
      if (std::find(node->tcp_hosts.begin(), node->tcp_hosts.end(), to) == node->tcp_hosts.end())
        continue;
      tcp_connections.push_back(
          TcpConnection{&n, from, from.with_port(next_tcp_port++), node.get(), to});
      const auto& c = tcp_connections.back();
      in_flight.emplace(now + delay, Packet{c.opener_port, c.listen, std::move(bytes),
                                            Packet::Kind::tcp_frame, c.acceptor, c.listen});
      return;
    }
    ++tcp_refused;  // connection refused: the opener hears of it a round trip later
    in_flight.emplace(now + 2 * delay, Packet{from, to, {}, Packet::Kind::tcp_closed, &n, from});
  }
  uint16_t next_tcp_port = 30000;

  void deliver(Packet& p) {
    ++delivered;
    if (p.kind == Packet::Kind::tcp_frame) {
      if (!p.node->agent->handle_tcp_receive(now, p.base, p.from, p.bytes).empty())
        ++p.node->data_received;
      return;
    }
    if (p.kind == Packet::Kind::tcp_closed) {
      p.node->agent->tcp_closed(now, p.base, p.to);
      return;
    }
    if (stun_server && p.to == *stun_server) {
      if (turn && serve_turn(p)) return;
      answer_binding(p);
      return;
    }
    if (turn && relay_in(p)) return;
    for (auto& nat : nats) {
      if (!nat->owns(p.to)) continue;
      auto inside = nat->inbound(now, p.to, p.from);
      if (!inside) return;  // filtered
      p.to = *inside;
      break;
    }
    for (auto& n : nodes) {
      if (std::find(n->hosts.begin(), n->hosts.end(), p.to) == n->hosts.end()) continue;
      if (!n->agent->handle_receive(now, p.to, p.from, p.bytes).empty()) ++n->data_received;
      return;
    }
  }

  // --- the TURN server -------------------------------------------------------------------
  struct Relay {
    Address client;   // the allocation's 5-tuple, as the server sees it
    Address relayed;
    std::map<uint16_t, Address> channels;  // bound channels (which imply permissions)
  };
  std::vector<Relay> relays;
  uint16_t next_relay_port = 50000;

  void reply(const Packet& p, const peer::stun::Writer& w) {
    in_flight.emplace(now + delay, Packet{*stun_server, p.from, Bytes(w.bytes().begin(), w.bytes().end())});
  }

  // Allocate, Refresh and ChannelBind with the 401 dance (RFC 8489 section 9.2), and
  // ChannelData from the client relayed to its peer. False when it is not TURN's.
  bool serve_turn(const Packet& p) {
    using namespace peer::stun;
    const auto first = std::to_integer<unsigned>(p.bytes[0]);
    Relay* relay = nullptr;
    for (auto& r : relays) relay = r.client == p.from ? &r : relay;
    if (first >= 0x40 && first <= 0x4f) {
      auto data = parse_channel_data(p.bytes);
      if (!relay || !data || !relay->channels.count(data->channel)) return true;
      in_flight.emplace(now + delay, Packet{relay->relayed, relay->channels[data->channel],
                                            Bytes(data->data.begin(), data->data.end())});
      return true;
    }
    auto m = Message::parse(p.bytes);
    if (!m || m->message_class() != Class::request || m->method() == Method::binding) return false;
    const auto key = long_term_key("user", "sim", turn_password);
    // Unsigned (the first request) or signed with the wrong key: 401 with realm and nonce.
    if (!m->has_integrity() || !m->check_integrity(key)) {
      Writer w(Class::error, m->method(), m->transaction_id());
      w.add_error_code(error::unauthorized, "Unauthorized");
      w.add_string(attr::realm, "sim");
      w.add_string(attr::nonce, "n0nce");
      reply(p, w);
      return true;
    }
    Writer w(Class::success, m->method(), m->transaction_id());
    if (m->method() == Method::allocate) {
      if (!relay) {
        relays.push_back(Relay{p.from, stun_server->with_port(next_relay_port++), {}});
        relay = &relays.back();
      }
      w.add_xor_address(attr::xor_relayed_address, relay->relayed);
      w.add_xor_address(attr::xor_mapped_address, p.from);
      w.add_u32(attr::lifetime, 600);
    } else if (m->method() == Method::refresh) {
      const uint32_t lifetime = m->u32(attr::lifetime).value_or(600);
      if (lifetime == 0) ++turn_refreshes_to_zero;
      w.add_u32(attr::lifetime, lifetime);
    } else if (m->method() == Method::channel_bind) {
      auto peer = m->xor_address(attr::xor_peer_address);
      auto channel = m->channel_number();
      if (!relay || !peer || !channel) return true;
      relay->channels[*channel] = *peer;
    }
    w.add_message_integrity(key);
    w.add_fingerprint();
    reply(p, w);
    return true;
  }

  // A datagram for a relayed address: to the client as ChannelData when a channel is bound
  // to its source (only bound peers have a permission here).
  bool relay_in(const Packet& p) {
    for (auto& r : relays) {
      if (r.relayed != p.to) continue;
      for (const auto& [number, peer] : r.channels) {
        if (peer != p.from) continue;
        Bytes framed;
        peer::stun::write_channel_data(number, p.bytes, false, framed);
        in_flight.emplace(now + delay, Packet{*stun_server, r.client, std::move(framed)});
      }
      return true;
    }
    return false;
  }

  // A STUN server (RFC 8489 section 7.3.1): a Binding success with XOR-MAPPED-ADDRESS.
  void answer_binding(const Packet& p) {
    auto m = peer::stun::Message::parse(p.bytes);
    if (!m || m->message_class() != peer::stun::Class::request) return;
    in_flight.emplace(now + delay, Packet{*stun_server, p.from, peer::test::sim::binding_response(*m, p.from)});
  }
};

bool both_connected(const Node& a, const Node& b) { return a.connected() && b.connected(); }

std::string describe(const Node& n) {
  std::string s = n.name + ": state " + std::string(peer::ice::to_string(n.state())) + ", states [";
  for (auto st : n.states) s += std::string(peer::ice::to_string(st)) + " ";
  s += "], problems [";
  for (const auto& p : n.problems) s += p + "; ";
  return s + "]";
}

// A datagram each way on the routes in use, so that each side has received `received` in all;
// then a minute in which consent (RFC 7675) must keep the pair up.
void expect_data_both_ways_and_consent(Net& net, Node& a, Node& b, std::size_t received) {
  net.send_data(a);
  net.send_data(b);
  net.run_for(100ms);
  EXPECT_EQ(a.data_received, received);
  EXPECT_EQ(b.data_received, received);
  net.run_for(60s);
  EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
}

TEST(IceAgent, ConnectsOverHostsInOneRoundTripBothRoles) {
  for (bool a_controls : {true, false}) {
    Net net;
    Node& a = net.add("a", a_controls, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", !a_controls, {ip("10.0.0.2", 6000)});
    const Time start = net.now;
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
    // Candidates cross with one delay, the first check and its answer take a round trip:
    // both sides are connected after 3 one-way delays, not a pacing tick or retransmission more.
    EXPECT_LE(net.now - start, 3 * net.delay) << "a controlling: " << a_controls;
    ASSERT_TRUE(a.selected && b.selected);
    EXPECT_EQ(a.selected->first.address, ip("10.0.0.1", 5000));
    EXPECT_EQ(a.selected->second.address, ip("10.0.0.2", 6000));
    EXPECT_EQ(b.agent->route()->to, ip("10.0.0.1", 5000));
    EXPECT_EQ(a.agent->route()->from, ip("10.0.0.1", 5000));
    ASSERT_TRUE(net.run_until([&] {
      return a.state() == IceState::completed && b.state() == IceState::completed;
    }, 5s)) << describe(a) << describe(b);
    EXPECT_EQ(a.states.front(), IceState::checking);
    EXPECT_TRUE(a.gathering_done && b.gathering_done);
    net.send_data(a);
    net.run_for(50ms);
    EXPECT_EQ(b.data_received, 1u);
  }
}

TEST(IceAgent, FirstCheckOfANewPairGoesOutAtOnce) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.agent->set_remote_credentials(net.now, b.agent->local_ufrag(), b.agent->local_pwd());
  a.agent->add_host(net.now, a.hosts[0]);
  while (a.agent->poll_transmit()) {
  }
  Candidate remote;
  remote.address = ip("10.0.0.2", 6000);
  remote.priority = peer::ice::candidate_priority(CandidateType::host, 65535);
  remote.foundation = "1";
  a.agent->add_remote_candidate(net.now, remote);  // no time passes
  auto t = a.agent->poll_transmit();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, remote.address);
  auto m = peer::stun::Message::parse(t->bytes);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message_class(), peer::stun::Class::request);
  EXPECT_EQ(m->string(peer::stun::attr::username).value_or(""),
            b.agent->local_ufrag() + ":" + a.agent->local_ufrag());
  EXPECT_TRUE(m->has(peer::stun::attr::use_candidate));
  EXPECT_TRUE(m->check_integrity(peer::stun::short_term_key(b.agent->local_pwd())));
}

TEST(IceAgent, PeerReflexiveWhenOneSideSignalsNothing) {
  for (bool silent_controls : {true, false}) {
    Net net;
    Node& a = net.add("a", silent_controls, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", !silent_controls, {ip("10.0.0.2", 6000)});
    a.trickle = false;  // b never learns a's candidates: only a's checks reveal it
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
    ASSERT_TRUE(b.selected);
    EXPECT_EQ(b.selected->second.type, CandidateType::prflx);
    EXPECT_EQ(b.selected->second.address, ip("10.0.0.1", 5000));
  }
}

// A browser's host candidate resolved from its mDNS name after its checks made it a
// peer-reflexive one: the selected pair is announced again with the signalled type.
TEST(IceAgent, SignalledCandidateLearnedAsPeerReflexiveReannouncesTheSelectedPair) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.trickle = false;
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
  ASSERT_TRUE(b.selected);
  ASSERT_EQ(b.selected->second.type, CandidateType::prflx);
  b.agent->add_remote_candidate(net.now, a.local_candidates.at(0));
  net.run_for(10ms);
  ASSERT_TRUE(b.selected);
  EXPECT_EQ(b.selected->second.type, CandidateType::host);
  EXPECT_EQ(b.selected->second.address, ip("10.0.0.1", 5000));
}

// A browser whose only candidates are mDNS names: nothing usable, then end-of-candidates.
// The agent must not give up at that point; the browser's checks bring the pair.
TEST(IceAgent, EndOfCandidatesWithNoneUsableStillConnectsThroughTheirChecks) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.trickle = false;
  net.introduce(a, b);
  b.agent->remote_gathering_done(net.now);
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
  EXPECT_EQ(b.selected->second.type, CandidateType::prflx);
}

TEST(IceAgent, ChecksAnsweredBeforeRemoteCredentialsArrive) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.peer = &b;
  b.peer = &a;
  // a knows everything; b has not yet got a's answer (no credentials, no candidates).
  a.agent->set_remote_credentials(net.now, b.agent->local_ufrag(), b.agent->local_pwd());
  a.trickle = false;
  a.agent->add_host(net.now, a.hosts[0]);
  b.agent->add_host(net.now, b.hosts[0]);
  ASSERT_TRUE(net.run_until([&] { return a.connected(); }, 2s)) << describe(a) << describe(b);
  EXPECT_FALSE(b.connected());  // b cannot check without a's password
  b.agent->set_remote_credentials(net.now, a.agent->local_ufrag(), a.agent->local_pwd());
  ASSERT_TRUE(net.run_until([&] { return b.connected(); }, 2s)) << describe(b);
}

TEST(IceAgent, RoleConflictIsSettledEitherWay) {
  for (bool both_controlling : {true, false}) {
    Net net;
    Node& a = net.add("a", both_controlling, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", both_controlling, {ip("10.0.0.2", 6000)});
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] {
      return both_connected(a, b);
    }, 5s)) << describe(a) << describe(b);
    EXPECT_NE(a.agent->controlling(), b.agent->controlling());
    EXPECT_EQ(a.agent->route()->to, ip("10.0.0.2", 6000));
    EXPECT_EQ(b.agent->route()->to, ip("10.0.0.1", 5000));
  }
}

TEST(IceAgent, PrefersTheBetterPairAndReportsIt) {
  // a has two addresses; b reaches both. The pair with a's preferred host is selected.
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.hosts.push_back(ip("10.0.1.1", 5001));
  a.peer = &b;
  b.peer = &a;
  a.agent->set_remote_credentials(net.now, b.agent->local_ufrag(), b.agent->local_pwd());
  b.agent->set_remote_credentials(net.now, a.agent->local_ufrag(), a.agent->local_pwd());
  a.agent->add_host(net.now, a.hosts[1], 100);    // less preferred
  a.agent->add_host(net.now, a.hosts[0], 65535);  // preferred
  a.agent->end_of_hosts(net.now);
  b.agent->add_host(net.now, b.hosts[0]);
  b.agent->end_of_hosts(net.now);
  ASSERT_TRUE(net.run_until([&] {
    return a.state() == IceState::completed && b.state() == IceState::completed;
  }, 5s)) << describe(a) << describe(b);
  EXPECT_EQ(a.agent->route()->from, ip("10.0.0.1", 5000));
  EXPECT_EQ(b.agent->route()->to, ip("10.0.0.1", 5000));
}

TEST(IceAgent, ConnectsUnderTwentyPercentLoss) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Net net;
    net.rng.seed(seed);
    net.loss = 0.2;
    net.delay = 20ms;
    Node& a = net.add("a", seed % 2 == 0, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", seed % 2 != 0, {ip("10.0.0.2", 6000)});
    net.introduce(a, b);
    // Trickled candidates are signalling, not subject to the link's loss.
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 10s))
        << "seed " << seed << ": " << describe(a) << describe(b);
  }
}

TEST(IceAgent, ConsentLostThenRegainedThenExpired) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s));
  // Idle for a minute: consent checks keep both sides up (RFC 7675).
  net.run_for(60s);
  EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
  // An outage of 15 s: disconnected, then back without anyone doing anything.
  net.cut = true;
  const Time outage = net.now;
  ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::disconnected; }, 15s)) << describe(a);
  EXPECT_GE(net.now - outage, 5s);
  EXPECT_LE(net.now - outage, 9s);
  net.run_for(5s);
  net.cut = false;
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 10s)) << describe(a) << describe(b);
  // The remote goes away for good: failed 30 s after the last response.
  net.cut = true;
  const Time gone = net.now;
  ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::failed; }, 40s)) << describe(a);
  EXPECT_GE(net.now - gone, 25s);
  EXPECT_LE(net.now - gone, 31s);
  EXPECT_FALSE(a.agent->route().has_value());
  ASSERT_FALSE(a.problems.empty());
  EXPECT_NE(a.problems.back().find("consent expired"), std::string::npos) << a.problems.back();
  // Nothing more to do: the agent asks for no further wake-ups but its last transactions'.
  net.run_for(60s);
  EXPECT_FALSE(a.agent->next_deadline().has_value());
}

TEST(IceAgent, FailsWhenNoPairWorks) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  net.cut = true;
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until([&] {
    return a.state() == IceState::failed && b.state() == IceState::failed;
  }, 40s)) << describe(a) << describe(b);
  ASSERT_FALSE(a.problems.empty());
  EXPECT_NE(a.problems.back().find("no candidate pair worked"), std::string::npos) << a.problems.back();
}

// The field suite's world in miniature: a (10.1.0.2) and b (10.2.0.2), each behind its own
// NAT of `mode` (public 203.0.113.10 and .20), a STUN server at 203.0.113.3; introduced.
std::pair<Node*, Node*> behind_nats(Net& net, NatMode mode) {
  net.stun_server = ip("203.0.113.3", 3478);
  Nat& na = net.add_nat(mode, ip("203.0.113.10", 0));
  Nat& nb = net.add_nat(mode, ip("203.0.113.20", 0));
  Node& a = net.add("a", true, {ip("10.1.0.2", 5000)}, &na);
  Node& b = net.add("b", false, {ip("10.2.0.2", 6000)}, &nb);
  net.introduce(a, b);
  return {&a, &b};
}

TEST(IceAgent, ServerReflexiveThroughConeNats) {
  Net net;
  auto [pa, pb] = behind_nats(net, NatMode::cone);
  Node& a = *pa;
  Node& b = *pb;
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
  auto srflx = std::find_if(a.local_candidates.begin(), a.local_candidates.end(),
                            [](const Candidate& c) { return c.type == CandidateType::srflx; });
  ASSERT_NE(srflx, a.local_candidates.end());
  EXPECT_EQ(srflx->address.ip, ip("203.0.113.10", 0).ip);
  EXPECT_EQ(srflx->related, ip("10.1.0.2", 5000));
  ASSERT_TRUE(a.selected);
  EXPECT_TRUE(a.selected->second.type == CandidateType::srflx ||
              a.selected->second.type == CandidateType::prflx);
}

TEST(IceAgent, SymmetricNatsWithoutRelayFailWithAClearReason) {
  Net net;
  Node& a = *behind_nats(net, NatMode::symmetric).first;
  ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::failed; }, 40s)) << describe(a);
  EXPECT_NE(a.problems.back().find("no candidate pair worked"), std::string::npos) << a.problems.back();
}

// Symmetric NATs on both sides: only a relay works (RFC 8656). Relay-only, both roles: the
// candidates are relays only, the pair is relay to relay, data goes both ways, and close()
// releases the allocations.
TEST(IceAgent, RelayOnlyThroughTurnAcrossSymmetricNats) {
  for (bool a_controls : {true, false}) {
    Net net;
    net.turn = true;
    net.config_hook = [](AgentConfig& c) { c.relay_only = true; };
    auto [pa, pb] = behind_nats(net, NatMode::symmetric);
    Node& a = *pa;
    Node& b = *pb;
    a.agent->set_controlling(a_controls);
    b.agent->set_controlling(!a_controls);
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s)) << describe(a) << describe(b);
    for (const Node* n : {&a, &b}) {
      ASSERT_FALSE(n->local_candidates.empty());
      for (const auto& c : n->local_candidates) EXPECT_EQ(c.type, CandidateType::relay) << n->name;
      ASSERT_TRUE(n->selected);
      EXPECT_EQ(n->selected->first.type, CandidateType::relay);
      EXPECT_EQ(n->agent->route()->to, *net.stun_server);
      EXPECT_GE(n->agent->route()->channel, 0x4000);
    }
    net.send_data(a);
    net.send_data(b);
    net.run_for(100ms);
    EXPECT_EQ(a.data_received, 1u);
    EXPECT_EQ(b.data_received, 1u);
    // Allocations and channels are refreshed: still connected after 20 idle minutes.
    net.run_for(std::chrono::minutes(20));
    EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
    a.agent->close(net.now);
    b.agent->close(net.now);
    net.run_for(100ms);
    EXPECT_EQ(net.turn_refreshes_to_zero, 2u);
    EXPECT_FALSE(a.agent->next_deadline().has_value());
  }
}

TEST(IceAgent, SymmetricNatsConnectThroughTurnNextToOtherCandidates) {
  Net net;
  net.turn = true;
  // Not a structured binding: clang 14 cannot capture those in a lambda.
  const auto nodes = behind_nats(net, NatMode::symmetric);
  Node* pa = nodes.first;
  Node* pb = nodes.second;
  ASSERT_TRUE(net.run_until([&] { return both_connected(*pa, *pb); }, 10s)) << describe(*pa) << describe(*pb);
  EXPECT_TRUE(pa->selected->first.type == CandidateType::relay ||
              pa->selected->second.type == CandidateType::relay);
  // The TURN server is the STUN server too (one address, as coturn): its Binding answer
  // still gives the server-reflexive candidate.
  EXPECT_TRUE(std::any_of(pa->local_candidates.begin(), pa->local_candidates.end(),
                          [](const Candidate& c) { return c.type == CandidateType::srflx; }));
}

TEST(IceAgent, RelayOnlyWithAWrongTurnPasswordFailsNamingTheServer) {
  Net net;
  net.turn = true;
  net.turn_password = "not-the-one";
  net.config_hook = [](AgentConfig& c) { c.relay_only = true; };
  Node& a = *behind_nats(net, NatMode::symmetric).first;
  ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::failed; }, 10s)) << describe(a);
  EXPECT_LT(net.now - (Time{} + 1000h), 2s);
  EXPECT_TRUE(a.local_candidates.empty());
  ASSERT_FALSE(a.problems.empty());
  EXPECT_NE(a.problems.front().find("no relay candidate from TURN 203.0.113.3:3478"), std::string::npos)
      << a.problems.front();
  EXPECT_NE(a.problems.front().find("401"), std::string::npos) << a.problems.front();
}

// RFC 8489 section 6.2.2: over TCP an Allocate goes once, over UDP it is retransmitted; with
// no answer either way the allocation is given up after the same time, naming the server.
TEST(IceAgent, TurnRequestsOverTcpAreNotRetransmitted) {
  for (const bool tcp : {false, true}) {
    SCOPED_TRACE(tcp ? "TURN over TCP" : "TURN over UDP");
    AgentConfig config;
    config.relay_only = true;
    const Address server = *Address::parse("203.0.113.3", 3478);
    config.turn_servers.push_back({server, "user", "secret", tcp});
    Agent agent(config);
    Time now = Time{} + 1000h;
    agent.add_host(now, *Address::parse("10.0.0.1", 5000));
    agent.end_of_hosts(now);
    int to_server = 0;
    std::vector<std::string> problems;
    for (int ms = 0; ms <= 10000 && agent.state() != IceState::failed; ms += 10) {
      now = Time{} + 1000h + std::chrono::milliseconds(ms);
      agent.handle_timeout(now);
      while (auto t = agent.poll_transmit()) {
        EXPECT_EQ(t->to, server);
        EXPECT_EQ(t->stream, tcp);
        ++to_server;
      }
      while (auto e = agent.poll_event()) {
        if (auto* p = std::get_if<event::Problem>(&*e)) problems.push_back(p->message);
      }
    }
    EXPECT_EQ(to_server, tcp ? 1 : config.timing.gather_transmissions);
    EXPECT_EQ(agent.state(), IceState::failed);
    ASSERT_FALSE(problems.empty());
    EXPECT_NE(problems.front().find("no relay candidate from TURN 203.0.113.3:3478"), std::string::npos)
        << problems.front();
  }
}

// --- ICE-TCP (RFC 6544) ---------------------------------------------------------------------

using peer::ice::Transport;

std::optional<Candidate> local_of(const Node& n, Transport transport) {
  for (const auto& c : n.local_candidates) {
    if (c.transport == transport && c.type == CandidateType::host) return c;
  }
  return std::nullopt;
}

// A TCP-only pair: each side's active candidate connects to the other's passive one
// (virtual connections), and the controlling side's connection is selected: its pair has
// the higher priority (section 4.2: active's direction preference 6 against passive's 4).
// The controlled side sees the remote's active candidate with the port it connected from.
TEST(IceAgent, TcpOnlyConnectsActiveToPassive) {
  Net net;
  Node& a = net.add("a", true, {});
  Node& b = net.add("b", false, {});
  a.tcp_hosts = {ip("10.0.0.1", 7000)};
  b.tcp_hosts = {ip("10.0.0.2", 8000)};
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until(
      [&] { return a.state() == IceState::completed && b.state() == IceState::completed; }, 5s))
      << describe(a) << describe(b);
  ASSERT_TRUE(a.selected && b.selected);
  EXPECT_EQ(a.selected->first.transport, Transport::tcp_active);
  EXPECT_EQ(a.selected->second.transport, Transport::tcp_passive);
  EXPECT_EQ(a.selected->second.address, ip("10.0.0.2", 8000));
  EXPECT_EQ(b.selected->first.transport, Transport::tcp_passive);
  EXPECT_EQ(b.selected->first.address, ip("10.0.0.2", 8000));
  EXPECT_EQ(b.selected->second.transport, Transport::tcp_active);
  // a's signalled active candidate (port 9), with the port its connection came from.
  EXPECT_EQ(b.selected->second.type, CandidateType::host);
  EXPECT_EQ(b.selected->second.address.ip_string(), "10.0.0.1");
  EXPECT_NE(b.selected->second.address.port, 9);
  // One connection each way, both open; a's route is its own connection, b's the one it accepted.
  ASSERT_EQ(net.tcp_connections.size(), 2u);
  EXPECT_EQ(net.tcp_refused, 0u);
  const auto ra = a.agent->route(), rb = b.agent->route();
  ASSERT_TRUE(ra && rb);
  EXPECT_TRUE(ra->tcp && rb->tcp);
  EXPECT_EQ(ra->from, ip("10.0.0.1", 0));
  EXPECT_EQ(ra->to, ip("10.0.0.2", 8000));
  EXPECT_EQ(rb->from, ip("10.0.0.2", 8000));
  EXPECT_EQ(rb->to, b.selected->second.address);
  // Data both ways over the selected connection; consent (RFC 7675) runs over TCP too.
  expect_data_both_ways_and_consent(net, a, b, 1);
}

// The signalled candidates: a passive one on the listening port, an active one with port 9
// (RFC 6544 section 4.5), both "tcp" with tcptype, priorities per section 4.2 below the UDP
// host's; from_sdp() reads them back.
TEST(IceAgent, TcpCandidatesCarryTcptypeAndPriorities) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  a.tcp_hosts = {ip("10.0.0.1", 7000)};
  net.introduce(a, b);
  net.run_for(10ms);
  const auto udp = local_of(a, Transport::udp);
  const auto active = local_of(a, Transport::tcp_active);
  const auto passive = local_of(a, Transport::tcp_passive);
  ASSERT_TRUE(udp && active && passive);
  EXPECT_EQ(passive->address, ip("10.0.0.1", 7000));
  EXPECT_EQ(active->address, ip("10.0.0.1", 9));
  // type preference 90 for TCP hosts, local preference 2^13 * direction + other (65535 / 8)
  EXPECT_EQ(active->priority, (90u << 24) | ((6u << 13 | 8191u) << 8) | 255u);
  EXPECT_EQ(passive->priority, (90u << 24) | ((4u << 13 | 8191u) << 8) | 255u);
  EXPECT_GT(udp->priority, active->priority);
  EXPECT_GT(active->priority, passive->priority);
  EXPECT_NE(udp->foundation, active->foundation);
  const auto line_active = peer::sdp::write_candidate(peer::ice::to_sdp(*active));
  const auto line_passive = peer::sdp::write_candidate(peer::ice::to_sdp(*passive));
  EXPECT_NE(line_active.find(" tcp "), std::string::npos) << line_active;
  EXPECT_NE(line_active.find(" 10.0.0.1 9 typ host tcptype active"), std::string::npos)
      << line_active;
  EXPECT_NE(line_passive.find(" 10.0.0.1 7000 typ host tcptype passive"), std::string::npos)
      << line_passive;
  for (const auto& c : {*active, *passive}) {
    auto back = peer::ice::from_sdp(
        peer::sdp::parse_candidate(peer::sdp::write_candidate(peer::ice::to_sdp(c))));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->transport, c.transport);
    EXPECT_EQ(back->priority, c.priority);
  }
  std::string why;
  EXPECT_FALSE(peer::ice::from_sdp(
      peer::sdp::parse_candidate("candidate:1 1 tcp 1 10.0.0.2 9 typ host tcptype so"), &why));
  EXPECT_NE(why.find("simultaneous-open"), std::string::npos) << why;
  EXPECT_FALSE(peer::ice::from_sdp(
      peer::sdp::parse_candidate("candidate:1 1 tcp 1 10.0.0.2 80 typ host"), &why));
}

// Section 6.2: our active candidate pairs with a remote passive one only; never active with
// active, passive with passive (the remote's passive one is not checked from our passive
// one), nor TCP with UDP. The one check goes from the active base (port 0) to the passive
// port, on a connection.
TEST(IceAgent, TcpPairsOnlyActiveWithPassive) {
  AgentConfig config;
  config.controlling = true;
  Agent agent(config);
  Time now = Time{} + 1000h;
  agent.set_remote_credentials(now, "remoteufrag", "remotepasswordremotepassword");
  agent.add_tcp_host(now, ip("10.0.0.1", 7000));
  agent.end_of_hosts(now);
  auto remote = [](const char* line) {
    return *peer::ice::from_sdp(peer::sdp::parse_candidate(line));
  };
  agent.add_remote_candidate(
      now, remote("candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active"));
  agent.add_remote_candidate(now, remote("candidate:2 1 udp 2122252543 10.0.0.2 6000 typ host"));
  agent.add_remote_candidate(
      now, remote("candidate:3 1 tcp 1518214911 10.0.0.2 8000 typ host tcptype passive"));
  std::vector<peer::ice::Transmit> sent;
  for (int ms = 0; ms < 1000; ms += 5) {
    agent.handle_timeout(now + std::chrono::milliseconds(ms));
    while (auto t = agent.poll_transmit()) sent.push_back(std::move(*t));
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].tcp);
  EXPECT_EQ(sent[0].from, ip("10.0.0.1", 0));
  EXPECT_EQ(sent[0].to, ip("10.0.0.2", 8000));
}

// RFC 8489 section 6.2.2 via RFC 6544 section 7.1: a check on a TCP connection goes once (the
// transport is reliable) but still times out; over UDP the same check is retransmitted.
TEST(IceAgent, ChecksOverTcpAreNotRetransmitted) {
  for (const bool tcp : {false, true}) {
    SCOPED_TRACE(tcp ? "ICE-TCP" : "UDP");
    AgentConfig config;
    config.controlling = true;
    Agent agent(config);
    Time now = Time{} + 1000h;
    agent.set_remote_credentials(now, "remoteufrag", "remotepasswordremotepassword");
    if (tcp) {
      agent.add_tcp_host(now, ip("10.0.0.1", 7000));
    } else {
      agent.add_host(now, ip("10.0.0.1", 5000));
    }
    agent.end_of_hosts(now);
    const Address to = ip("10.0.0.2", 8000);
    auto line = std::string("candidate:3 1 ") + (tcp ? "tcp" : "udp") +
                " 1518214911 10.0.0.2 8000 typ host" + (tcp ? " tcptype passive" : "");
    agent.add_remote_candidate(now, *peer::ice::from_sdp(peer::sdp::parse_candidate(line)));
    agent.remote_gathering_done(now);
    int checks = 0;
    for (int ms = 0; ms <= 15000 && agent.state() != IceState::failed; ms += 10) {
      agent.handle_timeout(now + std::chrono::milliseconds(ms));
      while (auto t = agent.poll_transmit()) {
        EXPECT_EQ(t->to, to);
        EXPECT_EQ(t->tcp, tcp);
        ++checks;
      }
    }
    EXPECT_EQ(checks, tcp ? 1 : config.timing.check_transmissions);
    EXPECT_EQ(agent.state(), IceState::failed);
  }
}

// A connection that closes fails its pairs: a refused connect fails the pair at once (not
// after the check's timeout), and closing the connections of a connected TCP-only pair ends
// ICE on both sides with the reason.
TEST(IceAgent, ClosedTcpConnectionFailsItsPair) {
  {
    Net net;
    Node& a = net.add("a", true, {});
    Node& b = net.add("b", false, {});
    a.tcp_hosts = {ip("10.0.0.1", 7000)};
    b.trickle = false;
    net.introduce(a, b);
    Candidate nobody;  // a passive candidate where nothing listens
    nobody.transport = Transport::tcp_passive;
    nobody.address = nobody.base = ip("10.0.0.9", 8000);
    nobody.priority = 1;
    nobody.foundation = "9";
    a.agent->add_remote_candidate(net.now, nobody);
    a.agent->remote_gathering_done(net.now);
    const Time start = net.now;
    ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::failed; }, 20s)) << describe(a);
    EXPECT_EQ(net.tcp_refused, 1u);
    EXPECT_LE(net.now - start, 3 * net.delay) << "failed by the check's timeout, not the refusal";
  }
  {
    Net net;
    Node& a = net.add("a", true, {});
    Node& b = net.add("b", false, {});
    a.tcp_hosts = {ip("10.0.0.1", 7000)};
    b.tcp_hosts = {ip("10.0.0.2", 8000)};
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s))
        << describe(a) << describe(b);
    net.run_for(100ms);
    for (auto& c : net.tcp_connections) net.close_tcp(c);
    ASSERT_TRUE(net.run_until(
        [&] { return a.state() == IceState::failed && b.state() == IceState::failed; }, 1s))
        << describe(a) << describe(b);
    EXPECT_FALSE(a.agent->route().has_value());
    const bool said = std::any_of(a.problems.begin(), a.problems.end(), [](const std::string& p) {
      return p.find("closed") != std::string::npos;
    });
    EXPECT_TRUE(said) << describe(a);
  }
}

// UDP and TCP on both sides: UDP pairs have the higher priorities and the UDP pair is the
// one selected once everything is checked.
TEST(IceAgent, MixedUdpAndTcpSelectsUdp) {
  for (bool a_controls : {true, false}) {
    Net net;
    Node& a = net.add("a", a_controls, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", !a_controls, {ip("10.0.0.2", 6000)});
    a.tcp_hosts = {ip("10.0.0.1", 7000)};
    b.tcp_hosts = {ip("10.0.0.2", 8000)};
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until(
        [&] { return a.state() == IceState::completed && b.state() == IceState::completed; }, 5s))
        << describe(a) << describe(b);
    ASSERT_TRUE(a.selected && b.selected);
    EXPECT_EQ(a.selected->first.transport, Transport::udp);
    EXPECT_EQ(a.selected->second.address, ip("10.0.0.2", 6000));
    EXPECT_EQ(b.selected->first.transport, Transport::udp);
    EXPECT_FALSE(a.agent->route()->tcp);
    EXPECT_FALSE(b.agent->route()->tcp);
    net.send_data(a);
    net.run_for(50ms);
    EXPECT_EQ(b.data_received, 1u);
  }
}

// ICE restart (RFC 8445 section 9), started by either side: new credentials both ways,
// candidates again, a new pair selected; data flows on the old route throughout and on the
// new one after, and the old credentials stay answered meanwhile.
TEST(IceAgent, RestartFromEitherSideKeepsTheDataFlowing) {
  for (bool controlling_restarts : {true, false}) {
    Net net;
    Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] {
      return a.state() == IceState::completed && b.state() == IceState::completed;
    }, 5s));
    Node& starter = controlling_restarts ? a : b;
    Node& other = controlling_restarts ? b : a;
    const std::string old_ufrag = starter.agent->local_ufrag();
    a.selected.reset();
    b.selected.reset();
    // JSEP: the restarting offer carries new credentials; the answerer restarts too.
    starter.agent->restart(net.now);
    EXPECT_TRUE(starter.agent->restarting());
    EXPECT_NE(starter.agent->local_ufrag(), old_ufrag);
    ASSERT_TRUE(starter.agent->route().has_value()) << "the old route must carry the data";
    other.agent->set_remote_credentials(net.now, starter.agent->local_ufrag(), starter.agent->local_pwd());
    other.agent->restart(net.now);
    starter.agent->set_remote_credentials(net.now, other.agent->local_ufrag(), other.agent->local_pwd());
    net.send_data(a);
    net.send_data(b);
    ASSERT_TRUE(net.run_until([&] { return a.selected && b.selected; }, 5s)) << describe(a) << describe(b);
    EXPECT_FALSE(a.agent->restarting());
    EXPECT_FALSE(b.agent->restarting());
    EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
    for (auto st : a.states) EXPECT_NE(st, IceState::failed);
    // Consent runs on the new generation: still up after a minute.
    expect_data_both_ways_and_consent(net, a, b, 2);
  }
}

// The answer to our restart comes late: the remote, restarted already, checks us with our
// new credentials meanwhile. We must not finish the restart on its old credentials, and its
// candidates trickled before the answer must survive the answer.
TEST(IceAgent, RestartWaitsForTheAnswerAndKeepsWhatCameBeforeIt) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s));
  a.selected.reset();
  a.agent->restart(net.now);
  b.agent->set_remote_credentials(net.now, a.agent->local_ufrag(), a.agent->local_pwd());
  b.agent->restart(net.now);
  net.run_for(200ms);  // b's candidates and checks reach a; b's answer does not yet
  EXPECT_TRUE(a.agent->restarting()) << "finished on b's old credentials";
  EXPECT_FALSE(a.selected.has_value());
  ASSERT_TRUE(a.agent->route().has_value()) << "the old route carries the data meanwhile";
  a.agent->set_remote_credentials(net.now, b.agent->local_ufrag(), b.agent->local_pwd());
  ASSERT_TRUE(net.run_until([&] { return a.selected.has_value(); }, 2s)) << describe(a);
  EXPECT_FALSE(a.agent->restarting());
  EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
}

// A restart whose new checks never succeed ends in `failed` after the connect timeout.
TEST(IceAgent, RestartThatNeverCompletesFails) {
  Net net;
  Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
  Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
  net.introduce(a, b);
  ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s));
  a.agent->restart(net.now);  // the offer never reaches b
  ASSERT_TRUE(net.run_until([&] { return a.state() == IceState::failed; }, 40s)) << describe(a);
  EXPECT_FALSE(a.agent->route().has_value());
}

// A network change (docs/architecture.md section 6.1): a's address goes away and another
// comes. The restart drops the vanished host (its candidates are not announced again and
// no pair uses it), announces the new one under the new credentials before GatheringDone,
// and the connection goes on over the new address.
TEST(IceAgent, RestartAfterAnAddressChangeUsesTheNewAddressOnly) {
  for (bool controlling_moves : {true, false}) {
    Net net;
    net.stun_server = ip("203.0.113.3", 3478);
    Node& a = net.add("a", true, {ip("10.0.0.1", 5000)});
    Node& b = net.add("b", false, {ip("10.0.0.2", 6000)});
    net.introduce(a, b);
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b); }, 5s));
    Node& mover = controlling_moves ? a : b;
    Node& other = controlling_moves ? b : a;
    const Address old_host = mover.hosts[0];
    const Address new_host = ip(controlling_moves ? "10.0.0.3" : "10.0.0.4", 7000);
    // The old address is gone: nothing reaches it, nothing leaves from it.
    mover.hosts = {new_host};
    net.run_for(12s);
    EXPECT_EQ(other.state(), IceState::disconnected) << describe(other);

    // The restart, as the peer runs it: the vanished host out, then restart, then the new host.
    mover.agent->remove_host(net.now, old_host);
    mover.local_candidates.clear();
    mover.gathering_done = false;
    mover.agent->restart(net.now, true);
    mover.agent->add_host(net.now, new_host);
    mover.agent->end_of_hosts(net.now);
    other.agent->set_remote_credentials(net.now, mover.agent->local_ufrag(), mover.agent->local_pwd());
    other.agent->restart(net.now);
    mover.agent->set_remote_credentials(net.now, other.agent->local_ufrag(), other.agent->local_pwd());
    mover.selected.reset();
    ASSERT_TRUE(net.run_until([&] { return both_connected(a, b) && mover.selected && mover.gathering_done; }, 10s))
        << describe(a) << describe(b);
    for (const auto& c : mover.local_candidates) {
      EXPECT_NE(c.address, old_host) << "the vanished host was announced again";
      EXPECT_NE(c.base, old_host) << "a candidate on the vanished host was announced again";
    }
    // The new host is announced, before end-of-candidates.
    const auto first = mover.local_candidates.begin();
    EXPECT_TRUE(std::any_of(first, first + static_cast<std::ptrdiff_t>(mover.candidates_before_done),
                            [&](const Candidate& c) { return c.type == CandidateType::host && c.address == new_host; }))
        << "GatheringDone came before the new host";
    EXPECT_EQ(mover.selected->first.base, new_host);
    const std::size_t before = other.data_received;
    net.send_data(mover);
    net.run_for(100ms);
    EXPECT_EQ(other.data_received, before + 1);
    // Consent on the new pair: still up a minute later.
    net.run_for(60s);
    EXPECT_TRUE(both_connected(a, b)) << describe(a) << describe(b);
  }
}

// Remote input the agent must refuse without changing anything.
TEST(IceAgent, BadChecksAreRefusedAndChangeNothing) {
  Net net;
  Node& a = net.add("a", false, {ip("10.0.0.1", 5000)});
  a.agent->add_host(net.now, a.hosts[0]);
  while (a.agent->poll_transmit()) {
  }
  const Address from = ip("10.0.0.9", 7000);
  auto request = [&](bool sign, std::string username, std::string_view password) {
    peer::stun::TransactionId id{};
    id[0] = std::byte{7};
    peer::stun::Writer w(peer::stun::Class::request, peer::stun::Method::binding, id);
    w.add_string(peer::stun::attr::username, username);
    w.add_u64(peer::stun::attr::ice_controlling, 42);
    if (sign) w.add_message_integrity(peer::stun::short_term_key(password));
    w.add_fingerprint();
    return Bytes(w.bytes().begin(), w.bytes().end());
  };
  auto answer_code = [&]() -> int {
    auto t = a.agent->poll_transmit();
    if (!t) return 0;
    auto m = peer::stun::Message::parse(t->bytes);
    if (!m) return -1;
    if (m->message_class() == peer::stun::Class::success) return 200;
    return m->error_code() ? m->error_code()->code : -1;
  };
  const std::string good_user = a.agent->local_ufrag() + ":x";
  EXPECT_TRUE(a.agent->handle_receive(net.now, a.hosts[0], from, request(false, good_user, "")).empty());
  EXPECT_EQ(answer_code(), 400);
  EXPECT_TRUE(a.agent->handle_receive(net.now, a.hosts[0], from, request(true, good_user, "wrong-password-0123456")).empty());
  EXPECT_EQ(answer_code(), 401);
  EXPECT_TRUE(a.agent->handle_receive(net.now, a.hosts[0], from, request(true, "nope:x", a.agent->local_pwd())).empty());
  EXPECT_EQ(answer_code(), 401);
  // Not STUN: the caller's (DTLS starts at 20); STUN-looking garbage is swallowed.
  EXPECT_FALSE(a.agent->handle_receive(net.now, a.hosts[0], from, Bytes{std::byte{22}, std::byte{0xfe}}).empty());
  // 20 zero bytes lack the magic cookie: not STUN, so not the agent's either.
  EXPECT_FALSE(a.agent->handle_receive(net.now, a.hosts[0], from, Bytes(20, std::byte{0})).empty());
  EXPECT_EQ(a.agent->state(), IceState::new_);
  EXPECT_EQ(answer_code(), 0);
  // A correct one is answered and makes a peer-reflexive pair (checked when credentials come).
  EXPECT_TRUE(a.agent->handle_receive(net.now, a.hosts[0], from, request(true, good_user, a.agent->local_pwd())).empty());
  EXPECT_EQ(answer_code(), 200);
}

}  // namespace
