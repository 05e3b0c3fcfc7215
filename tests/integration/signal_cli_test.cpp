// The real `peer signal` binary: starts, answers /healthz, and on SIGTERM tells its
// members and exits 0.
#include <gtest/gtest.h>

#include <fcntl.h>

#include <fstream>

#include "../support/signal_helpers.hpp"

#ifdef PEER_CLI  // set when the tools are built (tests/CMakeLists.txt)
namespace peer::test {
namespace {

TEST(SignalCli, HealthzThenSigtermExitsZeroAndTellsMembers) {
  const auto port = free_port();
  Child server({PEER_CLI, "signal", "--listen", "127.0.0.1:" + std::to_string(port), "--log-level", "warn"});
  ASSERT_TRUE(eventually([&] {
    try {
      return http_get(port, "/healthz").body == "ok\n";
    } catch (const std::exception&) {
      return false;  // not listening yet
    }
  }));
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
  const auto port = free_port();
  Child server({PEER_CLI, "signal", "--listen", "127.0.0.1:" + std::to_string(port), "--secret-file", secret,
                "--log-level", "warn"});
  ASSERT_TRUE(eventually([&] {
    try {
      return http_get(port, "/healthz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }));
  RawWs member(port);
  EXPECT_FALSE(member.join("room", token).empty()) << token;
  member.drop();  // a raw client would not answer the close frame
  EXPECT_EQ(server.stop(SIGINT), 0);
}

}  // namespace
}  // namespace peer::test
#endif
