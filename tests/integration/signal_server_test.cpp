// The signaling server in-process on 127.0.0.1 (port 0) with raw WebSocket clients and
// peer::signaling::Client: rooms, relaying, every error a client can provoke, limits, tokens,
// HTTP endpoints, shutdown and the client's reconnect.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>
#include <fstream>

#include "server/server.hpp"
#include "signal/token.hpp"
#include "../support/signal_helpers.hpp"

namespace peer::test {
namespace {

using server::Server;
using server::ServerOptions;

ServerOptions test_options() {
  spdlog::set_level(spdlog::level::warn);
  ServerOptions o;
  o.port = 0;
  o.threads = 2;
  return o;
}

std::string url(const Server& s) { return "ws://127.0.0.1:" + std::to_string(s.port()) + "/"; }

void expect_error(RawWs& ws, const std::string& code) {
  json m = ws.recv_type("error");
  EXPECT_EQ(m.value("code", ""), code) << m.dump();
  EXPECT_FALSE(m.value("message", "").empty());
}

TEST(SignalServer, JoinJoinedPeerJoinedAndRelayWithServerFrom) {
  Server server(test_options());
  server.start();
  RawWs a(server.port()), b(server.port());
  const auto a_id = a.join("room");
  ASSERT_FALSE(a_id.empty());
  EXPECT_EQ(a.last_joined()["peers"], json::array());
  EXPECT_EQ(a.last_joined()["room"], "room");
  const auto b_id = b.join("room");
  EXPECT_EQ(b.last_joined()["peers"], json::array({a_id}));
  EXPECT_EQ(a.recv_type("peer-joined")["id"], b_id);

  // The first member offers to the newcomer; "from" is the server's.
  a.send({{"type", "offer"}, {"sdp", "v=0\r\n"}, {"to", b_id}});
  json offer = b.recv_type("offer");
  EXPECT_EQ(offer["from"], a_id);
  EXPECT_EQ(offer["sdp"], "v=0\r\n");
  // A forged "from" is overwritten.
  b.send({{"type", "candidate"}, {"candidate", "candidate:1 1 udp 1 127.0.0.1 9 typ host"}, {"sdpMid", "0"},
          {"sdpMLineIndex", 0}, {"to", a_id}, {"from", "someone-else"}});
  json candidate = a.recv_type("candidate");
  EXPECT_EQ(candidate["from"], b_id);
  EXPECT_EQ(candidate["sdpMLineIndex"], 0);
  // Application types are relayed too.
  a.send({{"type", "chat"}, {"text", "hi"}, {"to", b_id}});
  EXPECT_EQ(b.recv_type("chat")["text"], "hi");
  EXPECT_GE(server.metrics().messages_relayed.load(), 3u);
}

TEST(SignalServer, ThreeMembersFormAMesh) {
  Server server(test_options());
  server.start();
  RawWs a(server.port()), b(server.port()), c(server.port());
  const auto a_id = a.join("mesh");
  const auto b_id = b.join("mesh");
  const auto c_id = c.join("mesh");
  EXPECT_EQ(c.last_joined()["peers"].size(), 2u);
  EXPECT_EQ(a.recv_type("peer-joined")["id"], b_id);
  EXPECT_EQ(a.recv_type("peer-joined")["id"], c_id);
  EXPECT_EQ(b.recv_type("peer-joined")["id"], c_id);
}

TEST(SignalServer, ErrorsLeaveTheConnectionUsable) {
  Server server(test_options());
  server.start();
  RawWs a(server.port());
  a.send(std::string("{nope"));
  expect_error(a, "bad-json");
  a.send(json{{"type", "join"}});
  expect_error(a, "bad-message");
  a.send(json{{"type", "offer"}, {"sdp", "x"}, {"to", "x-1"}});
  expect_error(a, "not-joined");
  a.send_binary("\x01\x02");
  expect_error(a, "bad-message");
  const auto id = a.join("r");
  ASSERT_FALSE(id.empty());
  a.send(json{{"type", "join"}, {"room", "r2"}});
  expect_error(a, "bad-message");
  a.send(json{{"type", "offer"}, {"sdp", "x"}, {"to", "nobody-1"}});
  expect_error(a, "unknown-peer");
  // A member of another room is unknown too.
  RawWs b(server.port());
  const auto b_id = b.join("elsewhere");
  a.send(json{{"type", "offer"}, {"sdp", "x"}, {"to", b_id}});
  expect_error(a, "unknown-peer");
  // Still usable: relay to itself works.
  a.send(json{{"type", "ping"}, {"to", id}});
  EXPECT_EQ(a.recv_type("ping")["from"], id);
  auto metrics = http_get(server.port(), "/metrics").body;
  EXPECT_NE(metrics.find("peer_signal_errors_total{code=\"bad-json\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("peer_signal_errors_total{code=\"unknown-peer\"} 2"), std::string::npos) << metrics;
}

// The acceptance list of bad input, one case after another against one client (the
// offender) while a pair in another room exchanges a message across every case. Each case
// is answered with its error code; the offender still works afterwards (a ping to itself
// comes back) unless the error says "closed"; its room partner sees nothing but what is
// expected; the pair sees exactly its own messages.
TEST(SignalServer, BadInputIsAnsweredAndHarmsNoOtherClient) {
  auto options = test_options();
  options.secret = "acceptance-secret";
  options.max_room_members = 2;  // the pair's room is full
  Server server(options);
  server.start();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto token = [&](const std::string& room) { return signaling::mint_token(room, now + 600, options.secret); };

  RawWs p1(server.port()), p2(server.port());
  const auto p1_id = p1.join("pair", token("pair"));
  const auto p2_id = p2.join("pair", token("pair"));
  ASSERT_FALSE(p2_id.empty());
  ASSERT_EQ(p1.recv()["type"], "peer-joined");
  RawWs offender(server.port()), partner(server.port());
  const auto o_id = offender.join("mine", token("mine"));
  const auto partner_id = partner.join("mine", token("mine"));
  ASSERT_FALSE(partner_id.empty());
  ASSERT_EQ(offender.recv()["type"], "peer-joined");

  int round = 0;
  // One message each way through the pair; nothing else may arrive there.
  auto pair_round = [&](const std::string& label, const std::function<void()>& during) {
    ++round;
    p1.send(json{{"type", "m"}, {"to", p2_id}, {"n", round}});
    during();
    json there = p2.recv();
    EXPECT_EQ(there.value("type", ""), "m") << label << ": " << there.dump();
    EXPECT_EQ(there.value("n", -1), round) << label;
    EXPECT_EQ(there.value("from", ""), p1_id) << label;
    p2.send(json{{"type", "m"}, {"to", p1_id}, {"n", round}});
    json back = p1.recv();
    EXPECT_EQ(back.value("n", -1), round) << label << ": " << back.dump();
    EXPECT_EQ(back.value("from", ""), p2_id) << label;
  };
  bool offender_joined = true;
  // In its room, a ping to itself comes back. Out of it (the join cases) the ping is
  // answered with not-joined: still served, and the refused join had no effect.
  auto offender_works = [&](const std::string& label) {
    offender.send(json{{"type", "ping"}, {"to", o_id}, {"n", round}});
    json echo = offender.recv();
    if (offender_joined) {
      EXPECT_EQ(echo.value("type", ""), "ping") << label << ": " << echo.dump();
      EXPECT_EQ(echo.value("from", ""), o_id) << label;
    } else {
      EXPECT_EQ(echo.value("code", ""), "not-joined") << label << ": " << echo.dump();
    }
  };
  auto expect_error_code = [&](const std::string& label, const std::string& code) {
    json e = offender.recv();
    EXPECT_EQ(e.value("type", ""), "error") << label << ": " << e.dump();
    EXPECT_EQ(e.value("code", ""), code) << label << ": " << e.dump();
    EXPECT_FALSE(e.value("message", "").empty()) << label;
    EXPECT_FALSE(e.value("closed", false)) << label << ": " << e.dump();
  };
  // A case: what the offender sends, and the error code it must get back.
  auto bad_case = [&](const std::string& label, const std::string& text, const std::string& code) {
    pair_round(label, [&] {
      offender.send(text);
      expect_error_code(label, code);
    });
    offender_works(label);
  };

  bad_case("invalid JSON", "{nope", "bad-json");
  bad_case("a non-object (array)", "[1,2,3]", "bad-message");
  bad_case("a non-object (number)", "42", "bad-message");
  bad_case("missing type", json{{"to", partner_id}, {"sdp", "v=0"}}.dump(), "bad-message");
  bad_case("unknown to", json{{"type", "offer"}, {"sdp", "v=0"}, {"to", "nobody-1"}}.dump(), "unknown-peer");
  bad_case("to a member of another room", json{{"type", "offer"}, {"sdp", "v=0"}, {"to", p1_id}}.dump(),
           "unknown-peer");
  bad_case("too large (100 KiB, discarded)",
           json{{"type", "ping"}, {"to", o_id}, {"pad", std::string(100 * 1024, 'x')}}.dump(), "too-large");

  // A forged "from" is no error: the server replaces it with the sender's id.
  pair_round("forged from", [&] {
    offender.send(json{{"type", "offer"}, {"sdp", "v=0"}, {"to", partner_id}, {"from", p1_id}});
    json got = partner.recv();
    EXPECT_EQ(got.value("type", ""), "offer") << got.dump();
    EXPECT_EQ(got.value("from", ""), o_id) << got.dump();
  });
  offender_works("forged from");

  // Joins: out of the room first (joining while in one is itself refused).
  offender.send(json{{"type", "leave"}});
  EXPECT_EQ(partner.recv().value("type", ""), "peer-left");
  offender_joined = false;
  bad_case("a bad token", json{{"type", "join"}, {"room", "mine"}, {"token", signaling::mint_token("mine", now + 600, "wrong")}}.dump(),
           "unauthorized");
  bad_case("an expired token",
           json{{"type", "join"}, {"room", "mine"}, {"token", signaling::mint_token("mine", now - 10, options.secret)}}.dump(),
           "unauthorized");
  bad_case("a join to a full room", json{{"type", "join"}, {"room", "pair"}, {"token", token("pair")}}.dump(),
           "room-full");
  // None of them joined anything: back in "mine", the partner is the only one there.
  offender.send(json{{"type", "join"}, {"room", "mine"}, {"token", token("mine")}});
  json rejoined = offender.recv();
  EXPECT_EQ(rejoined.value("type", ""), "joined") << rejoined.dump();
  EXPECT_EQ(rejoined["peers"], json::array({partner_id}));
  offender_joined = true;
  EXPECT_EQ(partner.recv().value("id", ""), o_id);  // its peer-joined

  // A flood past the rate limit (50/s, bursts of 50): 500 pings to itself cannot all pass
  // unless 9 s went by; each is answered by its echo or by rate-limited.
  pair_round("a flood", [&] {
    constexpr int kFlood = 500;
    for (int i = 0; i < kFlood; ++i) offender.send(json{{"type", "ping"}, {"to", o_id}, {"i", i}});
    int limited = 0;
    for (int i = 0; i < kFlood; ++i) {
      json m = offender.recv();
      if (m.value("code", "") == "rate-limited") {
        ++limited;
        EXPECT_FALSE(m.value("closed", false));
      } else {
        ASSERT_EQ(m.value("type", ""), "ping") << m.dump();
      }
    }
    EXPECT_GE(limited, 1);
  });
  // Usable again once its bucket refills (polled: each try costs one token).
  EXPECT_TRUE(eventually([&] {
    offender.send(json{{"type", "ping"}, {"to", o_id}});
    return offender.recv().value("type", "") == "ping";
  }));

  // A 2 MiB message goes past the hard ceiling (16 x 64 KiB, at least 1 MiB): answered with
  // too-large and "closed": true, then the connection is closed (1009).
  pair_round("a 2 MiB frame", [&] {
    offender.send(json{{"type", "ping"}, {"to", o_id}, {"pad", std::string(2 << 20, 'x')}}.dump());
    json e = offender.recv();
    EXPECT_EQ(e.value("code", ""), "too-large") << e.dump();
    EXPECT_EQ(e.value("closed", false), true) << e.dump();
    EXPECT_TRUE(offender.recv().is_null());  // closed
    json left = partner.recv();
    EXPECT_EQ(left.value("type", ""), "peer-left") << left.dump();
    EXPECT_EQ(left.value("id", ""), o_id);
  });
  pair_round("after all", [] {});
  auto metrics = http_get(server.port(), "/metrics").body;
  EXPECT_NE(metrics.find("peer_signal_errors_total{code=\"too-large\"} 2"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("peer_signal_errors_total{code=\"room-full\"} 1"), std::string::npos) << metrics;
}

TEST(SignalServer, RoomFullAndServerFull) {
  auto options = test_options();
  options.max_room_members = 2;
  options.max_rooms = 1;
  Server server(options);
  server.start();
  RawWs a(server.port()), b(server.port()), c(server.port());
  a.join("r");
  b.join("r");
  c.send(json{{"type", "join"}, {"room", "r"}});
  expect_error(c, "room-full");
  c.send(json{{"type", "join"}, {"room", "other"}});
  expect_error(c, "server-full");
}

TEST(SignalServer, TooLargeIsDiscardedAndTheConnectionGoesOn) {
  auto options = test_options();
  options.max_message_bytes = 1024;
  Server server(options);
  server.start();
  RawWs a(server.port());
  const auto id = a.join("r");
  a.send(json{{"type", "ping"}, {"to", id}, {"pad", std::string(100000, 'x')}});
  expect_error(a, "too-large");
  a.send(json{{"type", "ping"}, {"to", id}, {"pad", std::string(500, 'x')}});
  EXPECT_EQ(a.recv_type("ping")["from"], id);
}

TEST(SignalServer, RateLimited) {
  auto options = test_options();
  options.messages_per_second = 2;
  Server server(options);
  server.start();
  RawWs a(server.port());
  for (int i = 0; i < 30; ++i) a.send(json{{"type", "ping"}, {"to", "x-1"}});
  int limited = 0;
  for (int i = 0; i < 30; ++i) {
    json m = a.recv();
    ASSERT_EQ(m.value("type", ""), "error");
    if (m["code"] == "rate-limited") ++limited;
  }
  EXPECT_GE(limited, 1);  // at 2/s, 30 messages cannot all pass unless 14 s went by
}

TEST(SignalServer, Tokens) {
  auto options = test_options();
  options.secret = "test-secret";
  Server server(options);
  server.start();
  RawWs a(server.port());
  a.send(json{{"type", "join"}, {"room", "r"}});
  expect_error(a, "unauthorized");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  a.send(json{{"type", "join"}, {"room", "r"}, {"token", signaling::mint_token("r", now + 600, "wrong")}});
  expect_error(a, "unauthorized");
  a.send(json{{"type", "join"}, {"room", "r"}, {"token", signaling::mint_token("r", now - 1, "test-secret")}});
  expect_error(a, "unauthorized");
  a.send(json{{"type", "join"}, {"room", "r"}, {"token", signaling::mint_token("other", now + 600, "test-secret")}});
  expect_error(a, "unauthorized");
  EXPECT_FALSE(a.join("r", signaling::mint_token("r", now + 600, "test-secret")).empty());
}

TEST(SignalServer, LeaveAndDroppedConnectionTellTheOthers) {
  Server server(test_options());
  server.start();
  RawWs a(server.port());
  a.join("r");
  {
    RawWs b(server.port());
    const auto b_id = b.join("r");
    a.recv_type("peer-joined");
    b.send(json{{"type", "leave"}});
    EXPECT_EQ(a.recv_type("peer-left")["id"], b_id);
    // After leaving, b may join again (a new membership, same id).
    EXPECT_EQ(b.join("r"), b_id);
    EXPECT_EQ(a.recv_type("peer-joined")["id"], b_id);
    b.drop();  // no close frame, no leave
    EXPECT_EQ(a.recv_type("peer-left")["id"], b_id);
  }
  EXPECT_TRUE(eventually([&] { return server.metrics().connections.load() == 1; }));
}

TEST(SignalServer, HealthzMetricsAndNotFound) {
  Server server(test_options());
  server.start();
  auto health = http_get(server.port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  RawWs a(server.port());
  a.join("r");
  auto metrics = http_get(server.port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(metrics.body.find("peer_signal_connections 1\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("peer_signal_rooms 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE peer_signal_messages_relayed_total counter"), std::string::npos);
  EXPECT_EQ(http_get(server.port(), "/index.html").status, 404);  // no --static
}

TEST(SignalServer, StaticFilesWithoutTraversal) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("peer-static-" + std::to_string(::getpid()));
  fs::create_directories(dir / "www" / "sub");
  std::ofstream(dir / "secret.txt") << "secret";
  std::ofstream(dir / "www" / "index.html") << "<h1>peer</h1>";
  std::ofstream(dir / "www" / "app.js") << "let x = 1;";
  std::ofstream(dir / "www" / "style.css") << "body{}";
  std::ofstream(dir / "www" / "img.png") << "\x89PNG";
  std::ofstream(dir / "www" / "sub" / "index.html") << "sub";
  fs::create_symlink(dir / "secret.txt", dir / "www" / "link.txt");
  auto options = test_options();
  options.static_dir = (dir / "www").string();
  Server server(options);
  server.start();
  auto root = http_get(server.port(), "/");
  EXPECT_EQ(root.status, 200);
  EXPECT_EQ(root.body, "<h1>peer</h1>");
  EXPECT_EQ(root.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(http_get(server.port(), "/app.js?v=1").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(http_get(server.port(), "/style.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(http_get(server.port(), "/img.png").content_type, "image/png");
  EXPECT_EQ(http_get(server.port(), "/sub/").body, "sub");
  for (auto target : {"/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/link.txt", "/missing",
                      "/..", "/sub/..\\..\\secret.txt"}) {
    auto r = http_get(server.port(), target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << target;
  }
  EXPECT_EQ(http_get(server.port(), "/healthz").status, 200);  // still there with --static
  server.stop();
  fs::remove_all(dir);
}

TEST(SignalClient, TwoClientsMeetAndExchange) {
  Server server(test_options());
  server.start();
  Recorder ra, rb;
  signaling::Client a(url(server)), b(url(server));
  ra.attach(a);
  rb.attach(b);
  a.join("room");
  ASSERT_TRUE(ra.wait_state("joined"));
  // Sent before b's "joined": queued and flushed after it.
  b.send({{"type", "hello"}, {"to", a.id()}});
  b.join("room");
  json joined = rb.take_type("joined");
  EXPECT_EQ(joined["peers"], json::array({a.id()}));
  EXPECT_EQ(b.id(), joined["id"]);
  EXPECT_EQ(ra.take_type("peer-joined")["id"], b.id());
  EXPECT_EQ(ra.take_type("hello")["from"], b.id());
  a.send({{"type", "offer"}, {"sdp", "v=0"}, {"to", b.id()}});
  json offer = rb.take_type("offer");
  EXPECT_EQ(offer["from"], a.id());
  b.close();
  EXPECT_EQ(rb.states().back(), "closed");
  EXPECT_EQ(ra.take_type("peer-left")["id"], joined["id"]);
}

TEST(SignalClient, ReconnectsAndRejoinsAfterServerRestart) {
  auto options = test_options();
  auto first = std::make_unique<Server>(options);
  first->start();
  options.port = first->port();
  signaling::ClientOptions client_options;
  client_options.backoff_max = std::chrono::milliseconds(400);
  Recorder r;
  signaling::Client client(url(*first), client_options);
  r.attach(client);
  client.join("room");
  ASSERT_TRUE(r.wait_state("joined"));
  const auto first_id = client.id();
  first->stop();
  json bye = r.take_type("error");
  EXPECT_EQ(bye["code"], "shutdown");
  EXPECT_EQ(bye["closed"], true);
  ASSERT_TRUE(r.wait_state("connecting", 2));
  client.send({{"type", "note"}, {"to", "later"}});  // queued while away
  first.reset();
  Server second(options);
  second.start();
  ASSERT_TRUE(r.wait_state("joined", 2));
  EXPECT_NE(client.id(), first_id);
  EXPECT_EQ(r.take_type("error")["code"], "unknown-peer");  // the queued message went out
  client.close();
}

TEST(SignalClient, CloseFromInsideACallbackAndQueueBound) {
  Server server(test_options());
  server.start();
  signaling::ClientOptions options;
  options.max_queue = 2;
  auto client = std::make_unique<signaling::Client>(url(server), options);
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> seen;
  client->on_message([&](const json& m) {
    std::lock_guard lock(mutex);
    seen.push_back(m.value("code", m.value("type", "")));
    cv.notify_all();
  });
  client->on_state([&](const std::string& s) {
    {
      std::lock_guard lock(mutex);
      seen.push_back("state:" + s);
      cv.notify_all();
    }
    // From the client's own thread: "closed" is reported from inside this call.
    if (s == "joined") client->close();
  });
  for (int i = 0; i < 3; ++i) client->send({{"type", "x"}, {"to", "a-1"}});  // the third does not fit
  client->join("room");
  std::unique_lock lock(mutex);
  ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return !seen.empty() && seen.back() == "state:closed"; }));
  EXPECT_NE(std::find(seen.begin(), seen.end(), "queue-full"), seen.end());
  lock.unlock();
  client.reset();  // joins the thread
}

TEST(SignalClient, DestroyedInsideItsOwnCallback) {
  Server server(test_options());
  server.start();
  std::promise<void> destroyed;
  auto* client = new signaling::Client(url(server));
  client->on_state([&](const std::string& s) {
    if (s == "joined") {
      delete client;  // detaches its own thread
      destroyed.set_value();
    }
  });
  client->join("room");
  ASSERT_EQ(destroyed.get_future().wait_for(kWait), std::future_status::ready);
}

TEST(SignalClient, RetriesUntilAServerAppears) {
  const auto port = free_port();
  signaling::ClientOptions client_options;
  client_options.backoff_max = std::chrono::milliseconds(300);
  Recorder r;
  signaling::Client client("ws://127.0.0.1:" + std::to_string(port) + "/", client_options);
  r.attach(client);
  client.join("room");
  ASSERT_TRUE(r.wait_state("connecting"));
  auto options = test_options();
  options.port = port;
  Server server(options);
  server.start();
  ASSERT_TRUE(r.wait_state("joined"));
}

}  // namespace
}  // namespace peer::test
