// The `signal` plugin: two Peers meet through an in-process signaling server on 127.0.0.1
// (port 0), connect and exchange messages; remote candidates that arrive before the
// description; the server dies while the peers are connected (their channel keeps
// working, and both plugins join again once a server is back on the same port); a third
// member is ignored; close() leaves the room. Restarting by itself: only the first offerer
// restarts, the tries are bounded, members that reconnect are followed. (These fake the
// ICE state in the store, as the loopback path cannot break; tests/field's restart-* cells
// break real paths.)
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../support/signal_helpers.hpp"
#include "peer/channel.hpp"
#include "peer/peer.hpp"
#include "peer/signal.hpp"
#include "server/server.hpp"

namespace peer::test {
namespace {

using server::Server;
using server::ServerOptions;

ServerOptions server_options(unsigned short port = 0) {
  spdlog::set_level(spdlog::level::warn);
  ServerOptions o;
  o.port = port;
  o.threads = 1;
  o.shutdown_grace = std::chrono::milliseconds(500);
  return o;
}

std::string url_of(unsigned short port) { return "ws://127.0.0.1:" + std::to_string(port) + "/"; }

Peer loopback_peer() {
  Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  return p;
}

SignalOptions fast_reconnect() {
  SignalOptions o;
  o.backoff_max = std::chrono::milliseconds(300);
  return o;
}

// Waits for a store key to take a value (checked now and on every change).
bool wait_key(Peer& p, const std::string& key, const json& value, std::chrono::seconds timeout = kWait) {
  std::mutex m;
  std::condition_variable cv;
  auto sub = p.on("change " + key, [&](const json&) {
    std::lock_guard lock(m);
    cv.notify_all();
  });
  std::unique_lock lock(m);
  return cv.wait_for(lock, timeout, [&] { return p.get(key) == value; });
}

// The messages of one channel, with a wait; counts the errors of its peer too.
struct Inbox {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> messages;
  std::vector<json> errors;
  std::vector<Subscription> subs;

  void watch(Peer& p, Channel& c) {
    subs.push_back(c.on_message([this](const Message& msg) {
      std::lock_guard lock(m);
      messages.emplace_back(msg.text());
      cv.notify_all();
    }));
    subs.push_back(p.on("error", [this](const json& e) {
      std::lock_guard lock(m);
      errors.push_back(e);
      cv.notify_all();
    }));
  }
  bool wait_message(const std::string& text, std::chrono::seconds timeout = kWait) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, timeout,
                       [&] { return std::find(messages.begin(), messages.end(), text) != messages.end(); });
  }
};

// A bare member of a room (no Peer): what it is sent is in `r`.
struct RawMember {
  Recorder r;  // before the client: "closed" is reported from the client's destructor
  signaling::Client client;
  RawMember(unsigned short port, const std::string& room) : client(url_of(port)) {
    r.attach(client);
    client.join(room);
  }
};

// Two peers in one room, connected, with a "chat" channel each.
struct Pair {
  Peer a = loopback_peer();
  Peer b = loopback_peer();
  Channel ca = a.use(channel("chat"));
  Channel cb = b.use(channel("chat"));
  Inbox ia, ib;

  void connect(const std::string& url, const std::string& room, SignalOptions options = {}) {
    ia.watch(a, ca);
    ib.watch(b, cb);
    a.use(signal(room, url, options));
    ASSERT_TRUE(wait_key(a, "signal", "joined"));  // a is first: it will offer
    b.use(signal(room, url, options));
    ASSERT_TRUE(wait_key(a, "connection", "connected"));
    ASSERT_TRUE(wait_key(b, "connection", "connected"));
  }
};

TEST(SignalPlugin, TwoPeersMeetConnectAndExchangeMessages) {
  Server server(server_options());
  server.start();
  Pair pair;
  pair.connect(url_of(server.port()), "room");
  EXPECT_EQ(pair.a.get("signal-remote"), pair.b.get("signal-id"));
  EXPECT_EQ(pair.b.get("signal-remote"), pair.a.get("signal-id"));
  EXPECT_EQ(pair.b.get("signal"), "joined");
  pair.ca.send("hello from a");
  pair.cb.send("hello from b");
  EXPECT_TRUE(pair.ib.wait_message("hello from a"));
  EXPECT_TRUE(pair.ia.wait_message("hello from b"));
  EXPECT_TRUE(pair.ia.errors.empty()) << pair.ia.errors.front().dump();
  EXPECT_TRUE(pair.ib.errors.empty()) << pair.ib.errors.front().dump();
}

TEST(SignalPlugin, BadRoomOrUrlThrows) {
  EXPECT_THROW(signal("no spaces", "ws://127.0.0.1:1/"), Error);
  EXPECT_THROW(signal("room", "http://127.0.0.1:1/"), Error);
}

// The remote is driven by hand through a raw Client and sends all its candidates (and
// end-of-candidates) BEFORE its offer: the plugin keeps them and applies them after.
TEST(SignalPlugin, CandidatesBeforeTheDescriptionAreKeptInOrder) {
  Server server(server_options());
  server.start();
  RawMember member(server.port(), "early");
  Recorder& r = member.r;
  signaling::Client& raw = member.client;
  ASSERT_TRUE(r.wait_state("joined"));

  Peer a = loopback_peer();
  Channel ca = a.use(channel("chat"));
  Inbox ia;
  ia.watch(a, ca);
  a.use(signal("early", url_of(server.port())));
  const json joined = r.take_type("peer-joined");
  ASSERT_FALSE(joined.is_null());
  const std::string a_id = joined["id"];

  Peer b = loopback_peer();
  Channel cb = b.use(channel("chat"));
  std::mutex m;
  std::condition_variable cv;
  json offer;
  std::vector<json> candidates;
  bool ready = false;
  auto s1 = b.on("offer", [&](const json& d) {
    std::lock_guard lock(m);
    offer = d;
    cv.notify_all();
  });
  auto s2 = b.on("candidate", [&](const json& c) {
    std::lock_guard lock(m);
    candidates.push_back(c);
  });
  auto s3 = b.on("ready", [&] {
    std::lock_guard lock(m);
    ready = true;
    cv.notify_all();
  });
  b.offer();
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kWait, [&] { return ready && !offer.is_null(); }));
  }
  ASSERT_FALSE(candidates.empty());
  for (json c : candidates) {
    c["type"] = "candidate";
    c["to"] = a_id;
    raw.send(c);
  }
  raw.send({{"type", "candidate"}, {"candidate", ""}, {"sdpMid", "0"}, {"sdpMLineIndex", 0}, {"to", a_id}});
  raw.send({{"type", "offer"}, {"sdp", offer["sdp"]}, {"to", a_id}});

  const json answer = r.take_type("answer");
  ASSERT_FALSE(answer.is_null());
  EXPECT_EQ(answer["from"], a_id);
  b.remote({{"type", "answer"}, {"sdp", answer["sdp"]}});
  // a's candidates trickle after its answer; end-of-candidates ends them.
  for (;;) {
    const json c = r.take_type("candidate");
    ASSERT_FALSE(c.is_null());
    b.ice({{"candidate", c["candidate"]}, {"sdpMid", c["sdpMid"]}, {"sdpMLineIndex", c["sdpMLineIndex"]}});
    if (c["candidate"] == "") break;
  }
  ASSERT_TRUE(wait_key(a, "connection", "connected"));
  ASSERT_TRUE(wait_key(b, "connection", "connected"));
  EXPECT_EQ(a.get("signal-remote"), raw.id());
  cb.send("via early candidates");
  EXPECT_TRUE(ia.wait_message("via early candidates"));
  EXPECT_TRUE(ia.errors.empty()) << ia.errors.front().dump();
}

// The acceptance item: killing the server while two peers are connected leaves their data
// channel working; the plugin reconnects when the server is back (same port).
TEST(SignalPlugin, ServerDiesChannelKeepsWorkingAndPluginsRejoin) {
  auto server = std::make_unique<Server>(server_options());
  server->start();
  const unsigned short port = server->port();
  Pair pair;
  pair.connect(url_of(port), "survive", fast_reconnect());
  server->stop();
  server.reset();
  ASSERT_TRUE(wait_key(pair.a, "signal", "connecting"));
  ASSERT_TRUE(wait_key(pair.b, "signal", "connecting"));
  pair.ca.send("while the server is gone");
  pair.cb.send("still here");
  EXPECT_TRUE(pair.ib.wait_message("while the server is gone"));
  EXPECT_TRUE(pair.ia.wait_message("still here"));

  Server second(server_options(port));
  second.start();
  ASSERT_TRUE(wait_key(pair.a, "signal", "joined"));
  ASSERT_TRUE(wait_key(pair.b, "signal", "joined"));
  // (New ids after the reconnect; a restarted in-process server may count from 1 again,
  // so they are not compared.)
  // Nothing was torn down or renegotiated: same channel, same connection.
  EXPECT_EQ(pair.a.get("connection"), "connected");
  EXPECT_EQ(pair.b.get("connection"), "connected");
  EXPECT_EQ(pair.a.get("signaling"), "stable");
  pair.ca.send("after the server came back");
  EXPECT_TRUE(pair.ib.wait_message("after the server came back"));
  EXPECT_TRUE(pair.ia.errors.empty()) << pair.ia.errors.front().dump();
  EXPECT_TRUE(pair.ib.errors.empty()) << pair.ib.errors.front().dump();
}

TEST(SignalPlugin, AThirdMemberIsIgnoredAndCloseLeavesTheRoom) {
  Server server(server_options());
  server.start();
  Pair pair;
  pair.connect(url_of(server.port()), "three");
  const json b_id = pair.b.get("signal-id");

  std::mutex m;
  std::condition_variable cv;
  std::vector<json> seen;
  auto sub = pair.a.on("signal message", [&](const json& msg) {
    std::lock_guard lock(m);
    seen.push_back(msg);
    cv.notify_all();
  });
  RawMember member(server.port(), "three");
  Recorder& r = member.r;
  ASSERT_TRUE(r.wait_state("joined"));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, kWait, [&] {
      return std::any_of(seen.begin(), seen.end(), [&](const json& x) { return x["type"] == "peer-joined"; });
    }));
  }
  EXPECT_EQ(pair.a.get("signal-remote"), b_id);  // still paired with b, no offer to the newcomer

  // close() closes the signaling connection: the others see a leave.
  const std::string a_id = pair.a.get("signal-id");
  pair.a.close();
  const json left = r.take([&](const json& x) { return x["type"] == "peer-left" && x["id"] == a_id; });
  EXPECT_FALSE(left.is_null());
}

// The a=ice-ufrag of a description in the store ("" when none).
std::string ufrag_of(const json& description) {
  if (!description.is_object()) return {};
  const std::string sdp = description.value("sdp", "");
  const auto at = sdp.find("a=ice-ufrag:");
  if (at == std::string::npos) return {};
  const auto start = at + std::string_view("a=ice-ufrag:").size();
  return sdp.substr(start, sdp.find_first_of("\r\n", start) - start);
}

// Counts the offers a peer's plugin receives.
struct OfferCounter {
  std::atomic<int> offers{0};
  Subscription sub;
  explicit OfferCounter(Peer& p)
      : sub(p.on("signal message", [this](const json& m) {
          if (m.value("type", "") == "offer") ++offers;
        })) {}
};

// ICE failed on both sides: a (the first offerer) restarts, b only waits and answers. The
// restart is real (new credentials both ways over the loopback path); the store's "ice"
// is what the test set, so the test also says when it is back.
TEST(SignalPlugin, TheFirstOffererRestartsWhenIceFails) {
  Server server(server_options());
  server.start();
  Pair pair;
  // One restart only (the next try would be a minute later): the test counts offers.
  pair.a.set("auto-restart", {{"backoff", 60000}});
  pair.connect(url_of(server.port()), "restart");
  OfferCounter a_offers(pair.a), b_offers(pair.b);
  const std::string a_ufrag = ufrag_of(pair.b.get("remote"));
  const std::string b_ufrag = ufrag_of(pair.a.get("remote"));
  ASSERT_FALSE(a_ufrag.empty());
  const json role_a = pair.a.get("role");

  pair.b.set("ice", "failed");
  ASSERT_TRUE(wait_key(pair.b, "signal-restart", "waiting"));
  pair.a.set("ice", "failed");
  ASSERT_TRUE(eventually([&] {
    return ufrag_of(pair.b.get("remote")) != a_ufrag && ufrag_of(pair.a.get("remote")) != b_ufrag &&
           pair.a.get("signaling") == "stable";
  })) << "a's restart did not complete";
  EXPECT_EQ(b_offers.offers.load(), 1);
  EXPECT_EQ(a_offers.offers.load(), 0) << "b restarted too (glare)";
  EXPECT_EQ(pair.a.get("signal-restart"), "restarting");
  EXPECT_EQ(pair.b.get("signal-restart"), "waiting");

  pair.a.set("ice", "completed");
  pair.b.set("ice", "completed");
  ASSERT_TRUE(wait_key(pair.a, "signal-restart", "idle"));
  ASSERT_TRUE(wait_key(pair.b, "signal-restart", "idle"));
  // The same DTLS association and channel: no new handshake, no new roles.
  EXPECT_EQ(pair.a.get("dtls"), "connected");
  EXPECT_EQ(pair.a.get("role"), role_a);
  pair.ca.send("after the restart from a");
  pair.cb.send("after the restart from b");
  EXPECT_TRUE(pair.ib.wait_message("after the restart from a"));
  EXPECT_TRUE(pair.ia.wait_message("after the restart from b"));
  EXPECT_TRUE(pair.ia.errors.empty()) << pair.ia.errors.front().dump();
  EXPECT_TRUE(pair.ib.errors.empty()) << pair.ib.errors.front().dump();
}

// The tries are bounded: when the connection is not back after them, "gave-up" and an
// error; when it comes back later all the same, "idle" again.
TEST(SignalPlugin, RestartingGivesUpAfterItsTriesAndTheConnectionMayStillComeBack) {
  Server server(server_options());
  server.start();
  Pair pair;
  pair.a.set("auto-restart", {{"grace", 0}, {"backoff", 20}, {"tries", 3}});
  pair.connect(url_of(server.port()), "give-up");
  pair.a.set("ice", "disconnected");
  ASSERT_TRUE(wait_key(pair.a, "signal-restart", "gave-up"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(pair.ia.m);
    return !pair.ia.errors.empty();
  }));
  {
    std::lock_guard lock(pair.ia.m);
    ASSERT_EQ(pair.ia.errors.size(), 1u) << pair.ia.errors.back().dump();
    EXPECT_EQ(pair.ia.errors[0]["code"], "signal_restart_failed") << pair.ia.errors[0].dump();
    EXPECT_NE(pair.ia.errors[0]["message"].get<std::string>().find("3 ICE restarts"), std::string::npos)
        << pair.ia.errors[0].dump();
  }
  pair.a.set("ice", "connected");
  ASSERT_TRUE(wait_key(pair.a, "signal-restart", "idle"));
  pair.ca.send("still the same channel");
  EXPECT_TRUE(pair.ib.wait_message("still the same channel"));
}

TEST(SignalPlugin, AutoRestartValuesAreChecked) {
  for (const json& bad : {json("yes"), json{{"tries", 0}}, json{{"grace", "2s"}}, json{{"unknown", 1}}}) {
    Peer p = loopback_peer();
    p.set("auto-restart", bad);
    EXPECT_THROW(p.use(signal("room", "ws://127.0.0.1:1/")), Error) << bad.dump();
  }
}

// Both members reconnect (the server restarted) and get new ids: each tells the other
// ("rejoined"), so a restart afterwards goes to the right member.
TEST(SignalPlugin, MembersThatReconnectAreFollowedAndRestartsReachThem) {
  auto server = std::make_unique<Server>(server_options());
  server->start();
  const unsigned short port = server->port();
  Pair pair;
  pair.a.set("auto-restart", {{"backoff", 60000}});
  pair.connect(url_of(port), "follow", fast_reconnect());
  server->stop();
  server.reset();
  ASSERT_TRUE(wait_key(pair.a, "signal", "connecting"));
  ASSERT_TRUE(wait_key(pair.b, "signal", "connecting"));
  Server second(server_options(port));
  second.start();
  ASSERT_TRUE(eventually([&] {
    return pair.a.get("signal") == "joined" && pair.b.get("signal") == "joined" &&
           pair.a.get("signal-remote") == pair.b.get("signal-id") &&
           pair.b.get("signal-remote") == pair.a.get("signal-id");
  })) << pair.a.to_json().dump() << "\n" << pair.b.to_json().dump();
  const std::string a_ufrag = ufrag_of(pair.b.get("remote"));
  pair.a.set("ice", "failed");
  ASSERT_TRUE(eventually([&] { return ufrag_of(pair.b.get("remote")) != a_ufrag && pair.a.get("signaling") == "stable"; }));
  pair.a.set("ice", "completed");
  ASSERT_TRUE(wait_key(pair.a, "signal-restart", "idle"));
  pair.ca.send("after reconnects and a restart");
  EXPECT_TRUE(pair.ib.wait_message("after reconnects and a restart"));
  EXPECT_TRUE(pair.ia.errors.empty()) << pair.ia.errors.front().dump();
  EXPECT_TRUE(pair.ib.errors.empty()) << pair.ib.errors.front().dump();
}

}  // namespace
}  // namespace peer::test
