// Two real Peers in one process over loopback UDP (and a real coturn for relay): the
// acceptance cases of the foundation issue.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../support/eventually.hpp"
#include "../support/process_info.hpp"
#include "core/dtls/certificate.hpp"
#include "../support/turn_server.hpp"
#include "peer/peer.hpp"

namespace {

using peer::json;
using peer::Peer;
using namespace std::chrono_literals;

// Collects what a peer emits, thread-safely, and lets the test wait for a condition.
struct Recorder {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<json> errors;
  std::vector<std::string> connection;  // every `connection` value seen, in order
  std::vector<json> candidates;
  std::vector<std::thread::id> threads;  // where callbacks ran
  json ready;

  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return pred(); });
  }
  bool saw(const std::string& state) {
    return std::find(connection.begin(), connection.end(), state) != connection.end();
  }
};

// Subscribes a recorder to a peer; the subscriptions live as long as this object.
struct Watch {
  std::vector<peer::Subscription> subs;
  Watch(Peer& p, Recorder& r) {
    subs.push_back(p.on("error", [&r](const json& e) {
      std::lock_guard lock(r.mutex);
      r.errors.push_back(e);
      r.threads.push_back(std::this_thread::get_id());
      r.cv.notify_all();
    }));
    subs.push_back(p.on("change connection", [&r](const json& v) {
      std::lock_guard lock(r.mutex);
      r.connection.push_back(v.get<std::string>());
      r.threads.push_back(std::this_thread::get_id());
      r.cv.notify_all();
    }));
    subs.push_back(p.on("ready", [&r](const json& d) {
      std::lock_guard lock(r.mutex);
      r.ready = d;
      r.cv.notify_all();
    }));
  }
};

Peer loopback_peer(json servers = json::array()) {
  Peer p(std::move(servers));
  p.set("addresses", json::array({"127.0.0.1"}));
  return p;
}

// Wires a and b in memory: candidates both ways, offer -> answer -> remote.
struct Wiring {
  std::vector<peer::Subscription> subs;
  Wiring(Peer& a, Peer& b, json answer_options = json::object(),
         std::function<json(json)> tamper_answer = {}) {
    subs.push_back(a.on("candidate", [b](const json& c) mutable { b.ice(c); }));
    subs.push_back(b.on("candidate", [a](const json& c) mutable { a.ice(c); }));
    subs.push_back(a.on("offer", [b, answer_options](const json& offer) mutable {
      b.remote(offer);
      b.answer({}, answer_options);
    }));
    subs.push_back(b.on("answer", [a, tamper_answer](const json& answer) mutable {
      a.remote(tamper_answer ? tamper_answer(answer) : answer);
    }));
  }
};

using peer::test::count_threads_named;
int count_sockets() {
  return peer::test::count_socket_fds();
}

using peer::test::eventually;

void connect_with_roles(const std::string& answer_setup, const std::string& offerer_role,
                        const std::string& answerer_role) {
  Peer a = loopback_peer(), b = loopback_peer();
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  Wiring wiring(a, b, {{"setup", answer_setup}});
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("connected"); }))
      << "offerer errors: " << json(ra.errors).dump();
  ASSERT_TRUE(rb.wait([&] { return rb.saw("connected"); }))
      << "answerer errors: " << json(rb.errors).dump();
  EXPECT_EQ(a.get("role"), offerer_role);
  EXPECT_EQ(b.get("role"), answerer_role);
  EXPECT_EQ(a.get("dtls"), "connected");
  EXPECT_EQ(a.get("signaling"), "stable");
  EXPECT_EQ(b.get("signaling"), "stable");
  EXPECT_TRUE(ra.errors.empty()) << json(ra.errors).dump();
  EXPECT_TRUE(rb.errors.empty()) << json(rb.errors).dump();
  // The pair is a loopback pair and the connection went through connecting first.
  EXPECT_NE(a.get("pair").dump().find("127.0.0.1"), std::string::npos) << a.get("pair").dump();
  EXPECT_EQ(ra.connection.front(), "connecting");
  // Callbacks run on the loop thread, never the test's.
  for (auto id : ra.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(Peer, ConnectsWithOffererAsDtlsServer) {
  connect_with_roles("active", "server", "client");
}

TEST(Peer, ConnectsWithOffererAsDtlsClient) {
  connect_with_roles("passive", "client", "server");
}

// ICE-TCP is opt-in. A peer without it ignores the other side's TCP candidates (they could
// never pair, and would only slow nomination down) and still connects over UDP.
TEST(Peer, IceTcpIsOptIn) {
  Peer a = loopback_peer(), b = loopback_peer();
  b.set("ice-tcp", true);
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  std::mutex m;
  std::vector<std::string> from_a, from_b;
  auto sub_a = a.on("candidate", [&](const json& c) {
    std::lock_guard lock(m);
    from_a.push_back(c["candidate"]);
  });
  auto sub_b = b.on("candidate", [&](const json& c) {
    std::lock_guard lock(m);
    from_b.push_back(c["candidate"]);
  });
  Wiring wiring(a, b);
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("connected"); })) << json(ra.errors).dump();
  ASSERT_TRUE(rb.wait([&] { return rb.saw("connected"); })) << json(rb.errors).dump();
  EXPECT_TRUE(ra.errors.empty()) << json(ra.errors).dump();
  EXPECT_NE(a.get("pair")["local"].get<std::string>().find("udp"), std::string::npos);
  std::lock_guard lock(m);
  ASSERT_FALSE(from_a.empty());
  for (const auto& c : from_a) EXPECT_EQ(c.find(" tcp "), std::string::npos) << c;
  EXPECT_TRUE(std::any_of(from_b.begin(), from_b.end(), [](const std::string& c) {
    return c.find(" tcp ") != std::string::npos;
  })) << "ice-tcp: true gathers TCP candidates";
  Peer bad = loopback_peer();
  bad.set("ice-tcp", "yes");
  EXPECT_THROW(bad.create(), peer::Error);
  // The other keys read at create() are refused there too, naming the key.
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"ice-mdns", "on"}, {"ice-udp", 0}, {"sctp-streams", 1}, {"sctp-streams", 70000}, {"sctp-streams", "many"}}) {
    Peer p = loopback_peer();
    p.set(key, value);
    try {
      p.create();
      ADD_FAILURE() << key << " = " << value.dump() << " accepted";
    } catch (const peer::Error& e) {
      EXPECT_EQ(e.code(), peer::Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

// Where UDP cannot be used ("ice-udp": false on both sides), ICE-TCP carries the connection:
// ICE over a TCP pair, then DTLS (and everything above it) in RFC 4571 frames.
TEST(Peer, ConnectsOverIceTcpWithoutUdp) {
  Peer a = loopback_peer(), b = loopback_peer();
  for (Peer* p : {&a, &b}) {
    p->set("ice-tcp", true);
    p->set("ice-udp", false);
  }
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  std::mutex m;
  std::vector<std::string> from_a;
  auto sub_a = a.on("candidate", [&](const json& c) {
    std::lock_guard lock(m);
    from_a.push_back(c["candidate"]);
  });
  Wiring wiring(a, b);
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("connected"); })) << json(ra.errors).dump();
  ASSERT_TRUE(rb.wait([&] { return rb.saw("connected"); })) << json(rb.errors).dump();
  EXPECT_TRUE(ra.errors.empty()) << json(ra.errors).dump();
  EXPECT_TRUE(rb.errors.empty()) << json(rb.errors).dump();
  EXPECT_TRUE(a.get("pair")["local"].get<std::string>().starts_with("host tcp-"))
      << a.get("pair").dump();
  EXPECT_TRUE(b.get("pair")["remote"].get<std::string>().starts_with("host tcp-"))
      << b.get("pair").dump();
  {
    std::lock_guard lock(m);
    ASSERT_FALSE(from_a.empty());
    for (const auto& c : from_a) EXPECT_NE(c.find(" tcp "), std::string::npos) << c;
  }
  Peer neither = loopback_peer();
  neither.set("ice-udp", false);
  EXPECT_THROW(neither.create(), peer::Error);
}

// The DTLS identity: one certificate per process by default, a fresh one on request, or the
// application's own.
TEST(Peer, CertificateIsSharedUnlessNewOrGiven) {
  auto fingerprint_of = [](Peer& p) {
    p.create();
    return p.get("fingerprint").get<std::string>();
  };
  Peer a = loopback_peer(), b = loopback_peer(), fresh = loopback_peer(), own = loopback_peer();
  fresh.set("certificate", "new");
  const auto mine = peer::dtls::Certificate::generate();
  own.set("certificate", {{"cert", mine.cert_pem()}, {"key", mine.key_pem()}});
  const std::string shared = fingerprint_of(a);
  EXPECT_TRUE(shared.starts_with("sha-256 ")) << shared;
  EXPECT_EQ(fingerprint_of(b), shared);
  EXPECT_NE(fingerprint_of(fresh), shared);
  EXPECT_EQ(fingerprint_of(own), "sha-256 " + mine.fingerprint());
  Peer bad = loopback_peer();
  bad.set("certificate", "fresh please");
  try {
    bad.create();
    ADD_FAILURE() << "a certificate value that is neither PEM nor \"new\" was accepted";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::bad_certificate);
    EXPECT_NE(std::string(e.what()).find("\"new\""), std::string::npos) << e.what();
  }
}

TEST(Peer, OfferIsQueuedUntilSomeoneListens) {
  Peer a = loopback_peer();
  a.offer();
  std::mutex m;
  std::condition_variable cv;
  json got;
  auto sub = a.on("offer", [&](const json& o) {
    std::lock_guard lock(m);
    got = o;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return !got.is_null(); }));
  EXPECT_EQ(got["type"], "offer");
  EXPECT_NE(got["sdp"].get<std::string>().find("a=setup:actpass"), std::string::npos);
  EXPECT_NE(got["sdp"].get<std::string>().find("a=fingerprint:sha-256 "), std::string::npos);
  EXPECT_EQ(a.get("signaling"), "have-local-offer");
}

TEST(Peer, ReadyCarriesAllCandidatesForSignalingWithoutTrickle) {
  Peer a = loopback_peer(), b = loopback_peer();
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return !ra.ready.is_null(); }));
  const std::string offer = ra.ready["sdp"];
  EXPECT_NE(offer.find("a=candidate:"), std::string::npos) << offer;
  EXPECT_NE(offer.find("a=end-of-candidates"), std::string::npos) << offer;
  EXPECT_EQ(a.get("gathering"), "complete");
  b.remote(ra.ready);
  b.answer();
  ASSERT_TRUE(rb.wait([&] { return !rb.ready.is_null(); }));
  a.remote(rb.ready);
  EXPECT_TRUE(ra.wait([&] { return ra.saw("connected"); })) << json(ra.errors).dump();
  EXPECT_TRUE(rb.wait([&] { return rb.saw("connected"); })) << json(rb.errors).dump();
}

TEST(Peer, TamperedFingerprintFailsNamingTheFingerprint) {
  Peer a = loopback_peer(), b = loopback_peer();
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  // Flip one hex digit of the answerer's fingerprint as the offerer receives it.
  Wiring wiring(a, b, json::object(), [](json answer) {
    std::string sdp = answer["sdp"];
    const auto at = sdp.find("a=fingerprint:sha-256 ") + 22;
    sdp[at] = sdp[at] == 'A' ? 'B' : 'A';
    answer["sdp"] = sdp;
    return answer;
  });
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("failed"); })) << json(ra.connection).dump();
  ASSERT_TRUE(rb.wait([&] { return rb.saw("failed"); })) << json(rb.connection).dump();
  std::lock_guard lock(ra.mutex);
  ASSERT_FALSE(ra.errors.empty());
  bool named = false;
  for (const auto& e : ra.errors) {
    if (e["code"] == "fingerprint_mismatch" &&
        e["message"].get<std::string>().find("fingerprint") != std::string::npos) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << json(ra.errors).dump();
  EXPECT_FALSE(ra.saw("connected"));
  EXPECT_FALSE(rb.saw("connected"));
  EXPECT_NE(a.get("dtls"), "connected");
}

TEST(Peer, MalformedRemoteInputIsAnErrorEventAndThePeerStaysUsable) {
  Peer a = loopback_peer(), b = loopback_peer();
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  json offer;
  a.offer([&](const json& o) { offer = o; });
  ASSERT_TRUE(offer.is_object());

  // A broken line in an otherwise real offer: the error names the line.
  std::string bad = offer["sdp"];
  bad.insert(bad.find("a=mid:"), "a=fingerprint:sha-256 nothex\r\n");
  bad.replace(bad.find("m=application 9"), 15, "m=application x");
  b.remote({{"type", "offer"}, {"sdp", bad}});
  ASSERT_TRUE(rb.wait([&] { return !rb.errors.empty(); }));
  {
    std::lock_guard lock(rb.mutex);
    EXPECT_EQ(rb.errors[0]["code"], "bad_sdp");
    EXPECT_NE(rb.errors[0]["message"].get<std::string>().find("line"), std::string::npos)
        << rb.errors[0].dump();
  }
  // Not a description at all.
  b.remote(json{{"type", "offer"}});
  // A description without ICE credentials.
  std::string no_ice = offer["sdp"];
  no_ice = std::regex_replace(no_ice, std::regex("a=ice-(ufrag|pwd):[^\r]*\r\n"), "");
  b.remote({{"type", "offer"}, {"sdp", no_ice}});
  ASSERT_TRUE(rb.wait([&] { return rb.errors.size() >= 3; }));
  {
    std::lock_guard lock(rb.mutex);
    EXPECT_NE(rb.errors[2]["message"].get<std::string>().find("ice-ufrag"), std::string::npos)
        << rb.errors[2].dump();
  }
  EXPECT_EQ(b.get("signaling"), "stable");  // nothing was half-applied

  // Malformed candidates, before and after the remote description.
  b.ice({{"candidate", "candidate:1 1 udp notanumber 127.0.0.1 5000 typ host"}, {"sdpMid", "0"}});
  b.remote(offer);
  b.ice({{"candidate", "candidate:1 1 udp 2130706431 127.0.0.1 99999 typ host"}, {"sdpMid", "0"}});
  b.ice(json(42));
  ASSERT_TRUE(rb.wait([&] { return rb.errors.size() >= 6; })) << json(rb.errors).dump();
  {
    std::lock_guard lock(rb.mutex);
    for (std::size_t i = 3; i < 6; ++i)
      EXPECT_EQ(rb.errors[i]["code"], "bad_candidate") << rb.errors[i].dump();
    EXPECT_NE(rb.errors[3]["message"].get<std::string>().find("priority"), std::string::npos)
        << rb.errors[3].dump();
    EXPECT_NE(rb.errors[4]["message"].get<std::string>().find("port"), std::string::npos)
        << rb.errors[4].dump();
  }

  // Still usable: the good offer applied above is answered and the peers connect.
  std::vector<peer::Subscription> trickle;  // candidates only: the descriptions go by hand
  trickle.push_back(a.on("candidate", [b](const json& c) mutable { b.ice(c); }));
  trickle.push_back(b.on("candidate", [a](const json& c) mutable { a.ice(c); }));
  json answer;
  b.answer([&](const json& an) { answer = an; });
  a.remote(answer);
  EXPECT_TRUE(ra.wait([&] { return ra.saw("connected"); })) << json(ra.errors).dump();
  EXPECT_TRUE(rb.wait([&] { return rb.saw("connected"); })) << json(rb.errors).dump();
}

TEST(Peer, MisuseThrowsWithACodeAndWhatToDo) {
  Peer a = loopback_peer();
  try {
    a.answer();
    FAIL() << "answer() without a remote offer must throw";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_state);
    EXPECT_NE(std::string(e.what()).find("remote(offer)"), std::string::npos) << e.what();
  }
  Peer b = loopback_peer();
  json offer;
  b.offer([&](const json& o) { offer = o; });
  Peer c = loopback_peer();
  c.remote(offer);
  json answer;
  c.answer([&](const json& an) { answer = an; });
  try {
    a.remote(answer);  // a is stable: no local offer
    FAIL() << "a remote answer while stable must throw";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_state);
    EXPECT_NE(std::string(e.what()).find("offer()"), std::string::npos) << e.what();
  }
  Peer d = loopback_peer();
  d.set("iceTransportPolicy", "nearby");
  EXPECT_THROW(d.create(), peer::Error);
  // A bad limit is refused at the offer that would announce it, naming the key and value.
  for (const json& bad : {json("big"), json(0), json(-5), json(1.5)}) {
    Peer e = loopback_peer();
    e.set("optional", json{{"max-message-size", bad}});
    try {
      e.offer();
      ADD_FAILURE() << "offer() accepted max-message-size " << bad.dump();
    } catch (const peer::Error& error) {
      EXPECT_EQ(error.code(), peer::Errc::invalid_argument);
      EXPECT_NE(std::string(error.what()).find("max-message-size must be a positive integer, not " + bad.dump()),
                std::string::npos)
          << error.what();
    }
  }
  a.close();
  EXPECT_THROW(a.offer(), peer::Error);
}

TEST(Peer, CodecFiltersRunOverTheLocalDescription) {
  Peer a = loopback_peer();
  a.codec([](std::string sdp) {
    return std::regex_replace(sdp, std::regex("a=max-message-size:\\d+"),
                              "a=max-message-size:1234");
  });
  json offer;
  a.offer([&](const json& o) { offer = o; });
  EXPECT_NE(offer["sdp"].get<std::string>().find("a=max-message-size:1234"), std::string::npos);
}

TEST(Peer, CloseFromInsideItsOwnCallbackReturnsAndLeavesNothingBehind) {
  const int sockets_before = count_sockets();
  {
    Peer a = loopback_peer(), b = loopback_peer();
    Wiring wiring(a, b);
    std::mutex m;
    std::condition_variable cv;
    bool closed = false;
    int calls_after_close = 0;
    auto sub = a.on("change connection", [&, a](const json& v) mutable {
      std::lock_guard lock(m);
      if (closed) {
        ++calls_after_close;
        return;
      }
      if (v == "connected") {
        a.close();  // inside a's own callback, on a's loop thread
        closed = true;
        cv.notify_all();
      }
    });
    a.offer();
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return closed; }));
    lock.unlock();
    EXPECT_EQ(a.get("connection"), "closed");
    std::this_thread::sleep_for(100ms);
    std::lock_guard guard(m);
    EXPECT_EQ(calls_after_close, 0);
  }
  // All handles are gone: the loop thread ends and every socket is closed.
  EXPECT_TRUE(eventually([] { return count_threads_named("peer-loop") == 0; }))
      << count_threads_named("peer-loop") << " peer-loop threads remain";
  EXPECT_TRUE(eventually([&] { return count_sockets() <= sockets_before; }))
      << count_sockets() << " sockets, " << sockets_before << " before";
}

TEST(Peer, DestroyingTheLastHandleInsideACallbackIsSafe) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  {
    auto a = std::make_shared<Peer>(loopback_peer());
    auto holder = std::make_shared<std::shared_ptr<Peer>>(a);
    auto sub = a->on("change gathering", [&, holder](const json& v) {
      if (v != "complete") return;
      holder->reset();  // drops a handle inside the callback
      std::lock_guard lock(m);
      done = true;
      cv.notify_all();
    });
    sub.detach();
    a->offer();
    a.reset();  // the holder inside the listener has the last one
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done; }));
  }
  EXPECT_TRUE(eventually([] { return count_threads_named("peer-loop") == 0; }));
}

class Relay : public ::testing::Test {
 protected:
  void SetUp() override {
    turn_ = std::make_unique<peer::test::TurnServer>(
        peer::test::TurnServer::Options{"alice", "secret", "peer.test"});
  }
  json servers(const std::string& password, const std::string& transport = "udp") const {
    return json::array({{{"urls", json::array({fmt_url(transport)})},
                         {"username", "alice"},
                         {"credential", password}}});
  }
  std::string fmt_url(const std::string& transport) const {
    return "turn:127.0.0.1:" + std::to_string(turn_->port()) + "?transport=" + transport;
  }
  std::unique_ptr<peer::test::TurnServer> turn_;
};

TEST_F(Relay, ConnectsThroughCoturnWithRelayPolicy) {
  Peer a = loopback_peer(servers("secret")), b = loopback_peer(servers("secret"));
  a.set("iceTransportPolicy", "relay");
  b.set("iceTransportPolicy", "relay");
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  std::vector<std::string> seen;
  std::mutex m;
  auto sub = a.on("candidate", [&](const json& c) {
    std::lock_guard lock(m);
    seen.push_back(c["candidate"]);
  });
  Wiring wiring(a, b);
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("connected"); }, 15s)) << json(ra.errors).dump();
  ASSERT_TRUE(rb.wait([&] { return rb.saw("connected"); }, 15s)) << json(rb.errors).dump();
  EXPECT_NE(a.get("pair")["local"].get<std::string>().find("relay"), std::string::npos)
      << a.get("pair").dump();
  std::lock_guard lock(m);
  ASSERT_FALSE(seen.empty());
  for (const auto& c : seen) EXPECT_NE(c.find("typ relay"), std::string::npos) << c;
}

TEST_F(Relay, WrongPasswordFailsCleanly) {
  Peer a = loopback_peer(servers("wrong")), b = loopback_peer(servers("wrong"));
  a.set("iceTransportPolicy", "relay");
  b.set("iceTransportPolicy", "relay");
  Recorder ra, rb;
  Watch wa(a, ra), wb(b, rb);
  Wiring wiring(a, b);
  a.offer();
  ASSERT_TRUE(ra.wait([&] { return ra.saw("failed"); }, 15s)) << json(ra.connection).dump();
  std::lock_guard lock(ra.mutex);
  ASSERT_FALSE(ra.errors.empty());
  EXPECT_NE(ra.errors[0]["message"].get<std::string>().find("relay"), std::string::npos)
      << ra.errors[0].dump();
  EXPECT_FALSE(ra.saw("connected"));
}

}  // namespace
