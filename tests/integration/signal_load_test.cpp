// Many clients at once: 1,000 WebSocket clients in 500 rooms of two, each relaying 100
// messages to its partner through one in-process server (the Swarm: one io_context on
// the test thread), and pairs spanning two nodes over Redis. Every receiver must get
// exactly its partner's messages, in order, and nothing from another room.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "server/server.hpp"
#include "../support/signal_helpers.hpp"
#include "../support/signal_swarm.hpp"

namespace peer::test {
namespace {


#ifdef PEER_SANITIZE_BUILD
// Under ASan+UBSan on two cores the full size takes minutes; the same checks on fewer
// clients still cover the relay paths.
constexpr int kClients = 200;
#else
constexpr int kClients = 1000;
#endif
constexpr int kMessages = 100;
constexpr auto kLoadWait = std::chrono::seconds(60);

// Each client holds one socket and its server session one more, plus a margin.
bool ensure_fd_limit(rlim_t needed, std::string& why) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    why = "getrlimit failed";
    return false;
  }
  if (limit.rlim_cur >= needed) return true;
  limit.rlim_cur = limit.rlim_max;
  if (limit.rlim_max < needed || ::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    why = "needs " + std::to_string(needed) + " file descriptors; the hard limit (ulimit -Hn) is " +
          std::to_string(limit.rlim_max);
    return false;
  }
  return true;
}

// Clients 2k and 2k+1 (on servers[k % n] and servers[(k+1) % n]) meet in room "r<k>" and
// each sends `messages` numbered messages to the other at once; every receiver must get
// exactly its partner's, in order, and the servers relay nothing else.
void relay_in_pairs(const std::vector<server::Server*>& servers, int clients, int messages) {
  std::vector<unsigned short> ports;
  for (auto* s : servers) ports.push_back(s->port());
  Swarm swarm(ports, clients);
  std::int64_t complete = 0;
  swarm.on_message = [&](Swarm::Peer& p, const json& m) {
    if (m.value("type", "") != "m" || m.value("from", "") != p.partner || m.value("room", "") != p.room ||
        m.value("seq", std::int64_t{-1}) != p.received) {
      return swarm.fail(p, "expected message " + std::to_string(p.received) + " of " + p.partner + " in " + p.room +
                               ", got " + m.dump());
    }
    if (++p.received == messages) ++complete;
  };
  ASSERT_TRUE(swarm.connect_all(kLoadWait)) << ::testing::PrintToString(swarm.errors());
  // All joins at once: with two nodes, the two of a room join on different servers at the
  // same moment, and must still learn of each other.
  ASSERT_TRUE(swarm.join_all(kLoadWait)) << swarm.paired() << " of " << clients << " learnt of their partner; "
                                         << ::testing::PrintToString(swarm.errors());
  std::int64_t rooms = 0;
  for (auto* s : servers) rooms += s->metrics().rooms.load();
  EXPECT_EQ(rooms, servers.size() == 1 ? clients / 2 : clients);  // with two nodes a room is on both

  for (auto& p : swarm.peers()) {
    for (int seq = 0; seq < messages; ++seq) {
      swarm.send(*p, json{{"type", "m"}, {"to", p->partner}, {"room", p->room}, {"seq", seq}}.dump());
    }
  }
  ASSERT_TRUE(swarm.run_until([&] { return complete == clients; }, kLoadWait))
      << complete << " of " << clients << " complete; " << ::testing::PrintToString(swarm.errors());
  // Exactly the messages sent were relayed: none went anywhere else on the side.
  std::uint64_t relayed = 0;
  for (auto* s : servers) relayed += s->metrics().messages_relayed.load();
  EXPECT_EQ(relayed, static_cast<std::uint64_t>(clients) * messages);
  for (auto& p : swarm.peers()) EXPECT_EQ(p->received, messages) << p->id;
  EXPECT_TRUE(swarm.errors().empty()) << ::testing::PrintToString(swarm.errors());
}

server::ServerOptions load_options() {
  spdlog::set_level(spdlog::level::warn);
  server::ServerOptions options;
  options.port = 0;
  options.threads = 2;
  options.messages_per_second = 0;  // each client sends its messages at once
  options.max_rooms = kClients;
  return options;
}

TEST(SignalLoad, ThousandClientsInRoomsOfTwoRelayWithoutLossOrCrossing) {
  std::string why;
  if (!ensure_fd_limit(2 * kClients + 200, why)) GTEST_SKIP() << why;
  server::Server server(load_options());
  server.start();
  relay_in_pairs({&server}, kClients, kMessages);
}

// The same across two servers sharing a real redis-server: every room spans both, every
// message goes through Redis. Fewer messages: each remote relay is two synchronous Redis
// calls. Many joins at once make the two of a room join on two nodes at the same moment
// (before join order was kept in Redis, some pairs never learnt of each other).
TEST(SignalLoad, PairsSpanningTwoNodesOverRedis) {
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
  constexpr int kRedisClients = kClients;
  std::string why;
  if (!ensure_fd_limit(2 * kRedisClients + 200, why)) GTEST_SKIP() << why;
  RedisServer redis;
  auto options = load_options();
  options.redis_url = redis.url();
  options.shutdown_grace = std::chrono::milliseconds(500);
  server::Server one(options), two(options);
  one.start();
  two.start();
  relay_in_pairs({&one, &two}, kRedisClients, 5);
}

}  // namespace
}  // namespace peer::test
