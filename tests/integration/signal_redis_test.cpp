// Several signaling servers sharing rooms through a real redis-server on 127.0.0.1.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <set>

#include "server/server.hpp"
#include "../support/signal_helpers.hpp"

namespace peer::test {
namespace {

using server::Server;
using server::ServerOptions;

class SignalRedis : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::binary().empty()) GTEST_SKIP() << "redis-server is not installed (apt-get install redis-server)";
    spdlog::set_level(spdlog::level::warn);
    redis_ = std::make_unique<RedisServer>();
  }
  ServerOptions options() const {
    ServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.redis_url = redis_->url();
    o.heartbeat = std::chrono::milliseconds(200);
    o.shutdown_grace = std::chrono::milliseconds(500);  // raw test clients answer no close frame
    return o;
  }
  std::unique_ptr<RedisServer> redis_;
};

TEST_F(SignalRedis, ClientsOnTwoNodesMeetInOneRoom) {
  Server one(options()), two(options());
  one.start();
  two.start();
  ASSERT_NE(one.node(), two.node());
  RawWs a(one.port()), b(two.port());
  const auto a_id = a.join("shared");
  const auto b_id = b.join("shared");
  ASSERT_FALSE(b_id.empty());
  EXPECT_EQ(b.last_joined()["peers"], json::array({a_id}));
  EXPECT_EQ(a.recv_type("peer-joined")["id"], b_id);

  a.send({{"type", "offer"}, {"sdp", "v=0"}, {"to", b_id}, {"from", "forged"}});
  EXPECT_EQ(b.recv_type("offer")["from"], a_id);
  b.send({{"type", "answer"}, {"sdp", "v=0"}, {"to", a_id}});
  EXPECT_EQ(a.recv_type("answer")["from"], b_id);

  // Room limits count members of every node.
  RawWs c(two.port());
  const auto c_id = c.join("shared");
  EXPECT_EQ(c.last_joined()["peers"].size(), 2u);
  EXPECT_EQ(a.recv_type("peer-joined")["id"], c_id);
  EXPECT_EQ(b.recv_type("peer-joined")["id"], c_id);

  // Members of another room on another node stay unknown.
  RawWs d(two.port());
  const auto d_id = d.join("elsewhere");
  a.send({{"type", "offer"}, {"sdp", "v=0"}, {"to", d_id}});
  EXPECT_EQ(a.recv_type("error")["code"], "unknown-peer");

  c.send({{"type", "leave"}});
  EXPECT_EQ(a.recv_type("peer-left")["id"], c_id);
  // A node that stops takes its members out of the room.
  b.recv_type("peer-left");
  two.stop();
  EXPECT_EQ(a.recv_type("peer-left")["id"], b_id);
}

// The acceptance case: a client on each of two servers meets in one room and exchanges
// data; a graceful stop of one server tells its own clients ("shutdown", closed) and the
// other server's members see "peer-left" at once. The heartbeat is far longer than the
// test's waits, so "peer-left" cannot come from a node expiring or a heartbeat's sweep.
TEST_F(SignalRedis, GracefulStopTellsItsClientsAndTheOtherNodeAtOnce) {
  auto o = options();
  o.heartbeat = std::chrono::minutes(10);
  Server one(o), two(o);
  one.start();
  two.start();
  RawWs a(one.port());
  Recorder rb;
  signaling::Client b("ws://127.0.0.1:" + std::to_string(two.port()) + "/");
  rb.attach(b);
  const auto a_id = a.join("shared");
  b.join("shared");
  ASSERT_TRUE(rb.wait_state("joined"));
  EXPECT_EQ(a.recv_type("peer-joined")["id"], b.id());
  RawWs silent(two.port());  // never reads again: does not answer the close frame
  const auto silent_id = silent.join("shared");
  EXPECT_EQ(a.recv_type("peer-joined")["id"], silent_id);
  EXPECT_EQ(rb.take_type("peer-joined")["id"], silent_id);

  b.send({{"type", "offer"}, {"sdp", "v=0"}, {"to", a_id}});
  EXPECT_EQ(a.recv_type("offer")["from"], b.id());
  a.send({{"type", "answer"}, {"sdp", "v=0"}, {"to", b.id()}});
  EXPECT_EQ(rb.take_type("answer")["from"], a_id);

  const std::string b_id = b.id();
  two.stop();
  json bye = rb.take_type("error");
  EXPECT_EQ(bye["code"], "shutdown");
  EXPECT_EQ(bye["closed"], true);
  json silent_bye = silent.recv_type("error");
  EXPECT_EQ(silent_bye["code"], "shutdown");
  EXPECT_EQ(silent_bye["closed"], true);
  std::set<std::string> left;
  for (int i = 0; i < 2; ++i) left.insert(a.recv_type("peer-left").value("id", ""));
  EXPECT_EQ(left, (std::set<std::string>{b_id, silent_id}));
  EXPECT_EQ(redis_->command({"ZSCORE", "peer:room:shared", b_id}), 0);
  EXPECT_EQ(redis_->command({"ZSCORE", "peer:room:shared", silent_id}), 0);
  EXPECT_EQ(redis_->command({"EXISTS", "peer:node:" + two.node()}), 0);
  // The survivor's room goes on: a newcomer on its node sees only a.
  RawWs c(one.port());
  c.join("shared");
  EXPECT_EQ(c.last_joined()["peers"], json::array({a_id}));
}

TEST_F(SignalRedis, MembersOfADeadNodeExpire) {
  Server one(options());
  one.start();
  RawWs a(one.port());
  a.join("room");
  // A member whose node never beats (as if its process died): the next heartbeat sweeps it.
  ASSERT_EQ(redis_->command({"ZADD", "peer:room:room", "0", "deadbeef-1"}), 1);
  EXPECT_EQ(a.recv_type("peer-left")["id"], "deadbeef-1");
  EXPECT_EQ(redis_->command({"ZSCORE", "peer:room:room", "deadbeef-1"}), 0);
  EXPECT_EQ(redis_->command({"EXISTS", "peer:node:" + one.node()}), 1);
  RawWs b(one.port());
  b.join("room");
  EXPECT_EQ(b.last_joined()["peers"], json::array({a.last_joined()["id"]}));
}

TEST_F(SignalRedis, ClientClassAcrossNodes) {
  Server one(options()), two(options());
  one.start();
  two.start();
  Recorder ra, rb;
  signaling::Client a("ws://127.0.0.1:" + std::to_string(one.port()) + "/");
  signaling::Client b("ws://127.0.0.1:" + std::to_string(two.port()) + "/");
  ra.attach(a);
  rb.attach(b);
  a.join("r");
  ASSERT_TRUE(ra.wait_state("joined"));
  b.join("r");
  ASSERT_TRUE(rb.wait_state("joined"));
  EXPECT_EQ(ra.take_type("peer-joined")["id"], b.id());
  a.send({{"type", "candidate"}, {"candidate", ""}, {"sdpMid", "0"}, {"sdpMLineIndex", 0}, {"to", b.id()}});
  EXPECT_EQ(rb.take_type("candidate")["from"], a.id());
}

}  // namespace
}  // namespace peer::test
