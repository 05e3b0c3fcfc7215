// Many clients at once: 1,000 WebSocket clients in 500 rooms of two, each relaying 100
// messages to its partner through one in-process server (the Swarm: one io_context on
// the test thread). Every receiver must get exactly its partner's messages, in order, and
// nothing from another room.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include "server/server.hpp"
#include "../support/signal_swarm.hpp"

namespace peer::test {
namespace {

using json = Swarm::json;

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

TEST(SignalLoad, ThousandClientsInRoomsOfTwoRelayWithoutLossOrCrossing) {
  std::string why;
  if (!ensure_fd_limit(2 * kClients + 200, why)) GTEST_SKIP() << why;
  spdlog::set_level(spdlog::level::warn);
  server::ServerOptions options;
  options.port = 0;
  options.threads = 2;
  options.messages_per_second = 0;  // each client sends its 100 at once
  options.max_rooms = kClients;
  server::Server server(options);
  server.start();

  Swarm swarm({server.port()}, kClients);
  std::int64_t complete = 0;
  swarm.on_message = [&](Swarm::Peer& p, const json& m) {
    if (m.value("type", "") != "m" || m.value("from", "") != p.partner || m.value("room", "") != p.room ||
        m.value("seq", std::int64_t{-1}) != p.received) {
      return swarm.fail(p, "expected message " + std::to_string(p.received) + " of " + p.partner + " in " + p.room +
                               ", got " + m.dump());
    }
    if (++p.received == kMessages) ++complete;
  };
  ASSERT_TRUE(swarm.connect_all(kLoadWait)) << ::testing::PrintToString(swarm.errors());
  ASSERT_TRUE(swarm.join_all(kLoadWait)) << ::testing::PrintToString(swarm.errors());
  EXPECT_EQ(server.metrics().rooms.load(), kClients / 2);

  for (auto& p : swarm.peers()) {
    for (int seq = 0; seq < kMessages; ++seq) {
      swarm.send(*p, json{{"type", "m"}, {"to", p->partner}, {"room", p->room}, {"seq", seq}}.dump());
    }
  }
  ASSERT_TRUE(swarm.run_until([&] { return complete == kClients; }, kLoadWait))
      << complete << " of " << kClients << " complete; " << ::testing::PrintToString(swarm.errors());
  // Exactly the messages sent were relayed: none went anywhere else on the side.
  EXPECT_EQ(server.metrics().messages_relayed.load(), static_cast<std::uint64_t>(kClients) * kMessages);
  for (auto& p : swarm.peers()) EXPECT_EQ(p->received, kMessages) << p->id;
  EXPECT_TRUE(swarm.errors().empty()) << ::testing::PrintToString(swarm.errors());
}

}  // namespace
}  // namespace peer::test
