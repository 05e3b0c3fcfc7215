// The real `peer signal` binary: starts, answers /healthz, and on SIGTERM tells its
// members and exits 0.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <fstream>
#include <set>

#include "../support/signal_helpers.hpp"

#ifdef PEER_CLI  // set when the tools are built (tests/CMakeLists.txt)
namespace peer::test {
namespace {

TEST(SignalCli, HealthzThenSigtermExitsZeroAndTellsMembers) {
  SignalProcess server(PEER_CLI, {"--log-level", "warn"});
  const auto port = server.port();
  ASSERT_TRUE(wait_healthz(port));
  EXPECT_EQ(http_get(port, "/healthz").body, "ok\n");
  Recorder recorder;
  signaling::Client member("ws://127.0.0.1:" + std::to_string(port) + "/");
  recorder.attach(member);
  member.join("room");
  ASSERT_TRUE(recorder.wait_state("joined"));
  EXPECT_EQ(server.stop(SIGTERM), 0);
  json bye = recorder.take_type("error");
  EXPECT_EQ(bye["code"], "shutdown");
  EXPECT_EQ(bye["closed"], true);
}

TEST(SignalCli, TokenCommandMintsWhatTheServerAccepts) {
  const std::string secret = ::testing::TempDir() + "peer-signal-secret";
  std::ofstream(secret) << "cli-secret\n";
  const std::string out = ::testing::TempDir() + "peer-signal-token";
  {
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::execl(PEER_CLI, PEER_CLI, "token", "room", "--ttl", "600", "--secret-file", secret.c_str(), nullptr);
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  std::string token;
  std::getline(std::ifstream(out), token);
  SignalProcess server(PEER_CLI, {"--secret-file", secret, "--log-level", "warn"});
  const auto port = server.port();
  ASSERT_TRUE(wait_healthz(port));
  RawWs member(port);
  EXPECT_FALSE(member.join("room", token).empty()) << token;
  member.drop();  // a raw client would not answer the close frame
  EXPECT_EQ(server.stop(SIGINT), 0);
}

// Two real `peer signal` processes sharing a real redis-server: a client on each meets in
// one room and exchanges data; SIGTERM to one tells its own clients and the other node's
// member sees "peer-left" for them. The heartbeat (10 minutes) is far beyond the test's
// waits, so the announcement comes from the graceful stop, not from the node expiring.
TEST(SignalCli, SigtermOfOneOfTwoRedisNodesAnnouncesPeerLeft) {
  if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
  RedisServer redis;
  const std::vector<std::string> node{"--redis", redis.url(), "--heartbeat-ms", "600000", "--shutdown-grace-ms", "500",
                                     "--log-level", "warn"};
  SignalProcess one(PEER_CLI, node), two(PEER_CLI, node);
  const auto port_one = one.port();
  const auto port_two = two.port();
  ASSERT_NE(port_one, port_two);
  ASSERT_TRUE(wait_healthz(port_one));
  ASSERT_TRUE(wait_healthz(port_two));
  RawWs a(port_one);
  Recorder rb;
  signaling::Client b("ws://127.0.0.1:" + std::to_string(port_two) + "/");
  rb.attach(b);
  const auto a_id = a.join("room");
  ASSERT_FALSE(a_id.empty());
  b.join("room");
  ASSERT_TRUE(rb.wait_state("joined"));
  const std::string b_id = b.id();
  EXPECT_EQ(a.recv_type("peer-joined")["id"], b_id);
  RawWs silent(port_two);  // never answers the close frame
  const auto silent_id = silent.join("room");
  EXPECT_EQ(a.recv_type("peer-joined")["id"], silent_id);
  a.send(json{{"type", "offer"}, {"sdp", "v=0"}, {"to", b_id}});
  EXPECT_EQ(rb.take_type("offer")["from"], a_id);
  b.send({{"type", "answer"}, {"sdp", "v=0"}, {"to", a_id}});
  EXPECT_EQ(a.recv_type("answer")["from"], b_id);

  EXPECT_EQ(two.stop(SIGTERM), 0);
  json bye = rb.take_type("error");
  EXPECT_EQ(bye["code"], "shutdown");
  EXPECT_EQ(bye["closed"], true);
  EXPECT_EQ(silent.recv_type("error")["code"], "shutdown");
  std::set<std::string> left;
  for (int i = 0; i < 2; ++i) left.insert(a.recv_type("peer-left").value("id", ""));
  EXPECT_EQ(left, (std::set<std::string>{b_id, silent_id}));
  a.drop();
}

}  // namespace
}  // namespace peer::test
#endif
