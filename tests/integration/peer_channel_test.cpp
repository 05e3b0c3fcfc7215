// Data channels between two real Peers over loopback: the `channel` and `connect` plugins,
// SCTP over DTLS over ICE.
#include <gtest/gtest.h>

#include <dirent.h>

#include <atomic>
#include <cstdio>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../support/eventually.hpp"
#include "../support/process_info.hpp"
#include "api/sctp_clock.hpp"
#include "runtime/event_loop.hpp"
#include "peer/channel.hpp"
#include "peer/connect.hpp"
#include "peer/peer.hpp"

namespace {

using peer::Channel;
using peer::json;
using peer::Peer;
using namespace std::chrono_literals;

Peer loopback_peer() {
  Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  return p;
}

// Received messages of one channel, with a wait. The listeners share the state, not the
// Inbox: a tests ends (destroying its Inbox) while the peers, declared before it, still
// run, and a queued "channel open" dispatched on their loop at that moment must find it.
struct InboxState {
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::pair<bool, std::string>> messages;
  int opened = 0, closed = 0;
};

struct Inbox {
  std::shared_ptr<InboxState> state = std::make_shared<InboxState>();
  std::mutex& m = state->m;
  std::condition_variable& cv = state->cv;
  std::vector<std::pair<bool, std::string>>& messages = state->messages;
  int& opened = state->opened;
  int& closed = state->closed;
  std::mutex subs_mutex;  // watch() runs on a peer's loop (on_channel)
  std::vector<peer::Subscription> subs;

  void watch(Channel& c) {
    auto st = state;
    std::lock_guard guard(subs_mutex);
    subs.push_back(c.on_message([st](const peer::Message& msg) {
      std::lock_guard lock(st->m);
      st->messages.emplace_back(msg.binary(), std::string(msg.text()));
      st->cv.notify_all();
    }));
    subs.push_back(c.on("channel open", [st] {
      std::lock_guard lock(st->m);
      ++st->opened;
      st->cv.notify_all();
    }));
    subs.push_back(c.on("channel close", [st] {
      std::lock_guard lock(st->m);
      ++st->closed;
      st->cv.notify_all();
    }));
  }
  ~Inbox() {
    std::lock_guard guard(subs_mutex);
    subs.clear();
  }
  template <class P>
  bool wait(P pred, std::chrono::milliseconds t = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, t, pred);
  }
};

std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

TEST(Channel, SameLabelOnBothSidesCarriesTextBinaryEmptyAndJsonBothWays) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("chat"));  // before connect
  a.use(peer::connect(b));
  Channel cb = b.use(peer::channel("chat"));  // after connect: order does not matter
  Inbox ia, ib;
  ia.watch(ca);
  ib.watch(cb);
  ca.send("hello from a");  // sent before open: kept, then delivered in order
  ca.send(bytes_of(std::string("\x00\x01\x02", 3)));
  ca.send("");
  ca.send(json{{"n", 1}});
  ASSERT_TRUE(ib.wait([&] { return ib.messages.size() >= 4; })) << ib.messages.size();
  {
    std::lock_guard lock(ib.m);
    EXPECT_EQ(ib.messages[0], std::make_pair(false, std::string("hello from a")));
    EXPECT_EQ(ib.messages[1], std::make_pair(true, std::string("\x00\x01\x02", 3)));
    EXPECT_EQ(ib.messages[2], std::make_pair(false, std::string()));
    EXPECT_EQ(json::parse(ib.messages[3].second), (json{{"n", 1}}));
  }
  cb.send("hello from b");
  ASSERT_TRUE(ia.wait([&] { return !ia.messages.empty(); }));
  EXPECT_EQ(ia.messages[0].second, "hello from b");
  EXPECT_EQ(ca.state(), "open");
  EXPECT_EQ(ca.get("state"), "open");
  ASSERT_TRUE(ca.id().has_value());
  // Ids follow the DTLS role (RFC 8832 section 6): the offerer is the DTLS server here.
  EXPECT_EQ(*ca.id() % 2, a.get("role") == "client" ? 0 : 1);
}

// The scale issue: an idle connected pair wakes its loop only for what the protocols need
// (RFC 7675 consent checks every 4-6 s per peer, each a request, a response and the other
// side's check), and usrsctp's process clock slows to 4 ticks a second once every
// association is quiet. Before, each peer's own SCTP tick alone ran 100 times a second
// (600 loop wakeups in these 3 s) and the idle-trim check with it.
TEST(Channel, AnIdleConnectedPairBarelyWakesItsLoop) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("idle"));
  Channel cb = b.use(peer::channel("idle"));
  a.use(peer::connect(b));
  Inbox ib;
  ib.watch(cb);
  ca.send("one message, then silence");
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  // A second for the idle-trim check to see no traffic and stop, and for the SCTP clock to
  // see no packets (delayed SACK and the like done).
  std::this_thread::sleep_for(1500ms);
  auto loop = peer::runtime::EventLoop::shared_default();
  const auto before = loop->stats();
  const unsigned long ticks_before = peer::SctpClock::ticks();
  std::this_thread::sleep_for(3s);
  const auto after = loop->stats();
  const unsigned long ticks = peer::SctpClock::ticks() - ticks_before;
  const auto wakeups = (after.timers - before.timers) + (after.watches - before.watches) + (after.posts - before.posts);
  std::printf("idle 3 s: %llu loop wakeups, %lu SCTP clock ticks\n", static_cast<unsigned long long>(wakeups), ticks);
  // Two peers, at most one consent check each per 4 s (plus one that was due), each costing
  // at most 4 wakeups on this loop (its timer, the other's request, the response, the
  // retransmission timer re-armed): 16; doubled for a slow machine.
  EXPECT_LE(wakeups, 32u) << "timers " << after.timers - before.timers << ", watches "
                          << after.watches - before.watches << ", posts " << after.posts - before.posts;
  EXPECT_LE(ticks, 3u * 4u + 4u) << "the SCTP clock kept its busy 10 ms tick";
  EXPECT_GE(ticks, 6u) << "the SCTP clock stopped although associations live (heartbeats need it)";
  EXPECT_EQ(ca.state(), "open");
}

TEST(Channel, RemoteChannelWithoutHandleArrivesOnPeer) {
  Peer a = loopback_peer(), b = loopback_peer();
  std::mutex m;
  std::condition_variable cv;
  std::optional<Channel> got;
  Inbox ib;
  auto sub = b.on_channel([&](Channel c) {
    std::lock_guard lock(m);
    got = c;
    ib.watch(c);
    cv.notify_all();
  });
  a.use(peer::connect(b));
  Channel ca = a.use(peer::channel("files", peer::ChannelOptions{.protocol = "x-files"}));
  ca.send("one");
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return got.has_value(); }));
    EXPECT_EQ(got->label(), "files");
    EXPECT_EQ(got->get("protocol"), "x-files");
  }
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  EXPECT_EQ(ib.messages[0].second, "one");
  // The handle we were given can answer.
  Inbox ia;
  ia.watch(ca);
  got->send("two");
  ASSERT_TRUE(ia.wait([&] { return !ia.messages.empty(); }));
  EXPECT_EQ(ia.messages[0].second, "two");
}

TEST(Channel, NegotiatedChannelWithFixedIdNeedsNoHandshake) {
  Peer a = loopback_peer(), b = loopback_peer();
  peer::ChannelOptions options;
  options.id = 42;
  Channel ca = a.use(peer::channel("fixed", options));
  Channel cb = b.use(peer::channel("fixed", options));
  Inbox ib;
  ib.watch(cb);
  a.use(peer::connect(b));
  ca.send("over 42");
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  EXPECT_EQ(ib.messages[0].second, "over 42");
  EXPECT_EQ(ca.id(), std::optional<std::uint16_t>(42));
  EXPECT_EQ(cb.id(), std::optional<std::uint16_t>(42));
}

TEST(Channel, UnorderedWithoutRetransmitsOpensAndCarries) {
  Peer a = loopback_peer(), b = loopback_peer();
  Inbox ib;
  auto sub = b.on_channel([&](Channel c) { ib.watch(c); });
  a.use(peer::connect(b));
  peer::ChannelOptions options;
  options.ordered = false;
  options.max_retransmits = 0;
  Channel ca = a.use(peer::channel("lossy", options));
  for (int i = 0; i < 20; ++i) ca.send("m" + std::to_string(i));
  // Unreliable by design: loopback normally loses nothing, but a busy machine may drop a
  // datagram, and nothing retransmits it. So: messages arrive, none twice, none invented.
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  ib.wait([&] { return ib.messages.size() >= 20; }, 2s);
  std::lock_guard lock(ib.m);
  std::set<std::string> distinct;
  for (const auto& [binary, text] : ib.messages) {
    EXPECT_FALSE(binary);
    EXPECT_EQ(text.rfind("m", 0), 0u) << text;
    EXPECT_TRUE(distinct.insert(text).second) << "delivered twice: " << text;
  }
  EXPECT_LE(ib.messages.size(), 20u);
  EXPECT_EQ(ca.get("ordered"), false);
}

TEST(Channel, CloseIsSeenByBothSides) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("c"));
  Inbox ia;
  ia.watch(ca);
  Inbox ib;
  std::optional<Channel> remote;
  std::mutex m;
  auto sub = b.on_channel([&](Channel c) {
    std::lock_guard lock(m);
    remote = c;
    ib.watch(c);
  });
  a.use(peer::connect(b));
  ca.send("x");
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  ca.close();
  EXPECT_TRUE(ia.wait([&] { return ia.closed == 1; }));
  EXPECT_TRUE(ib.wait([&] { return ib.closed == 1; }));
  EXPECT_EQ(ca.state(), "closed");
  EXPECT_THROW(ca.send("after close"), peer::Error);
}

// close() right after a burst that is still queued: everything send() accepted arrives, in
// order, before the close (RFC 8831 section 6.7), from either side, and a remote close is
// answered only after what was queued for it.
TEST(Channel, CloseDeliversWhatWasQueuedFirst) {
  // One stream: b takes a's channel (a handle of the same label on b would be a second
  // stream, closed on its own).
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("burst"));
  Inbox ia, ib;
  ia.watch(ca);
  std::mutex m;
  std::condition_variable got;
  std::optional<Channel> remote;
  auto sub = b.on_channel([&](Channel c) {
    ib.watch(c);
    std::lock_guard lock(m);
    remote = c;
    got.notify_all();
  });
  a.use(peer::connect(b));
  ASSERT_TRUE(ia.wait([&] { return ia.opened == 1; }));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(got.wait_for(lock, 10s, [&] { return remote.has_value(); }));
  }
  Channel& cb = *remote;
  std::vector<peer::Subscription> watch_errors;
  std::vector<std::string> errors;
  auto record = [&](const json& e) {
    std::lock_guard lock(m);
    errors.push_back(e.dump());
  };
  for (Channel* c : {&ca, &cb}) watch_errors.push_back(c->on("error", record));
  for (Peer* p : {&a, &b}) watch_errors.push_back(p->on("error", record));
  constexpr int kMessages = 160;  // 10 MiB: far more than usrsctp's 1 MiB send buffer
  auto message = [](int i, char who) {
    std::string m(64 * 1024, who);
    const std::string tag = std::to_string(i) + ":";
    m.replace(0, tag.size(), tag);
    return m;
  };
  for (int i = 0; i < kMessages; ++i) {
    ca.send(bytes_of(message(i, 'a')));
    cb.send(bytes_of(message(i, 'b')));  // b's side is still queued when a's close arrives
  }
  EXPECT_GT(ca.buffered_amount(), std::size_t{1} << 20);
  ca.close();
  ASSERT_TRUE(ib.wait([&] { return ib.closed == 1; }, 30s)) << ib.messages.size();
  ASSERT_TRUE(ia.wait([&] { return ia.closed == 1; }, 30s)) << ia.messages.size();
  std::lock_guard la(ia.m), lb(ib.m);
  ASSERT_EQ(ib.messages.size(), std::size_t{kMessages});
  ASSERT_EQ(ia.messages.size(), std::size_t{kMessages});
  {
    std::lock_guard lock(m);
    EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
  }
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_TRUE(ib.messages[static_cast<std::size_t>(i)].second == message(i, 'a')) << i;
    EXPECT_TRUE(ia.messages[static_cast<std::size_t>(i)].second == message(i, 'b')) << i;
  }
}

TEST(Channel, LargeMessagesAndTheRemoteLimit) {
  Peer a = loopback_peer(), b = loopback_peer();
  b.set("optional", json{{"max-message-size", 300000}});
  Channel ca = a.use(peer::channel("big"));
  Inbox ib;
  auto sub = b.on_channel([&](Channel c) { ib.watch(c); });
  Inbox ia;
  ia.watch(ca);
  a.use(peer::connect(b));
  ASSERT_TRUE(ia.wait([&] { return ia.opened == 1; }));
  std::string big(256 * 1024, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 251);
  ca.send(bytes_of(big));
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  EXPECT_EQ(ib.messages[0].second.size(), big.size());
  EXPECT_TRUE(ib.messages[0].second == big);
  const std::string too_big(300001, 'x');
  try {
    ca.send(bytes_of(too_big));
    FAIL() << "a message over the remote's a=max-message-size must be refused";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("max-message-size"), std::string::npos) << e.what();
  }
}

TEST(Channel, AThousandChannelsOnOnePeer) {
  Peer a = loopback_peer(), b = loopback_peer();
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  std::vector<peer::Subscription> subs;
  auto sub = b.on_channel([&](Channel c) {
    subs.push_back(c.on_message([&](const peer::Message&) {
      std::lock_guard lock(m);
      ++arrived;
      cv.notify_all();
    }));
  });
  // 1,000 channels from one side take ids up to 1998: the default 256 streams would stop at 128.
  a.set("sctp-streams", 2048);
  b.set("sctp-streams", 2048);
  a.use(peer::connect(b));
  std::vector<Channel> channels;
  for (int i = 0; i < 1000; ++i) {
    channels.push_back(a.use(peer::channel("c" + std::to_string(i))));
    channels.back().send("hi");
  }
  std::unique_lock lock(m);
  EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return arrived == 1000; })) << arrived;
}

}  // namespace

namespace {

TEST(Channel, OpenedLaterByEitherSideAndAdoptedByLabel) {
  Peer a = loopback_peer(), b = loopback_peer();
  std::mutex m;
  std::condition_variable cv;
  bool connected = false;
  auto sub = a.on("change connection", [&](const json& v) {
    std::lock_guard lock(m);
    connected = v == "connected";
    cv.notify_all();
  });
  a.use(peer::connect(b));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return connected; }));
  }
  // a opens "late" on a connected association; b asks for it by label afterwards and gets
  // that same channel (no second stream), whichever happened first on the wire.
  bool arrived = false;
  auto announced = b.on_channel([&](Channel) {
    std::lock_guard lock(m);
    arrived = true;
    cv.notify_all();
  });
  Channel ca = a.use(peer::channel("late"));
  Inbox ia;
  ia.watch(ca);
  {
    std::unique_lock lock(m);  // the OPEN has reached b before b asks for the label
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return arrived; }));
  }
  Channel cb = b.use(peer::channel("late"));
  Inbox ib;
  ib.watch(cb);
  ca.send("to b");
  cb.send("to a");
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  ASSERT_TRUE(ia.wait([&] { return !ia.messages.empty(); }));
  EXPECT_EQ(ib.messages[0].second, "to b");
  EXPECT_EQ(ia.messages[0].second, "to a");
  EXPECT_EQ(ca.id(), cb.id());  // one stream carries both directions
  // And b opens one later too.
  Channel cb2 = b.use(peer::channel("from-b"));
  Channel ca2 = a.use(peer::channel("from-b"));
  Inbox ia2;
  ia2.watch(ca2);
  cb2.send("hi");
  ASSERT_TRUE(ia2.wait([&] { return !ia2.messages.empty(); }));
  EXPECT_EQ(ia2.messages[0].second, "hi");
}

}  // namespace

namespace {

int threads_named(const std::string& name) {
  return peer::test::count_threads_named(name);
}

TEST(Channel, ClosingAPeerClosesTheRemoteChannelsAndLeavesNoThread) {
  {
    Peer a = loopback_peer(), b = loopback_peer();
    Channel ca = a.use(peer::channel("c"));
    Channel cb = b.use(peer::channel("c"));
    Inbox ia, ib;
    ia.watch(ca);
    ib.watch(cb);
    a.use(peer::connect(b));
    ca.send("x");
    ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
    a.close();  // an SCTP ABORT tells b at once
    EXPECT_TRUE(ib.wait([&] { return ib.closed == 1; }));
    EXPECT_EQ(cb.state(), "closed");
    EXPECT_EQ(ca.state(), "closed");
    EXPECT_THROW(ca.send("after close"), peer::Error);
  }
  // usrsctp is finished with the last association: its thread is gone, as is ours.
  const auto end = std::chrono::steady_clock::now() + 5s;
  while ((threads_named("SCTP iterator") > 0 || threads_named("peer-loop") > 0) &&
         std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(threads_named("SCTP iterator"), 0);
  EXPECT_EQ(threads_named("peer-loop"), 0);
}

TEST(Channel, BufferedAmountRisesAndTheLowEventFires) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("flow"));
  Channel cb = b.use(peer::channel("flow"));
  Inbox ia;
  ia.watch(ca);
  std::atomic<std::size_t> received{0};
  auto counter = cb.on_message([&](const peer::Message& m) { received += m.bytes().size(); });
  std::mutex m;
  std::condition_variable cv;
  int low_events = 0;
  auto low = ca.on("bufferedamountlow", [&] {
    std::lock_guard lock(m);
    ++low_events;
    cv.notify_all();
  });
  ca.buffered_amount_low_threshold(64 * 1024);
  a.use(peer::connect(b));
  ASSERT_TRUE(ia.wait([&] { return ia.opened == 1; }));
  const std::string block(64 * 1024, 'b');
  std::size_t peak = 0;
  for (int i = 0; i < 64; ++i) {
    ca.send(bytes_of(block));
    peak = std::max(peak, ca.buffered_amount());
  }
  EXPECT_GT(peak, 64u * 1024u);  // 4 MiB cannot all be on the wire at once
  std::unique_lock lock(m);
  EXPECT_TRUE(cv.wait_for(lock, 20s, [&] { return low_events > 0; }));
  lock.unlock();
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (received < 64u * block.size() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(received.load(), 64u * block.size());
  EXPECT_LE(ca.buffered_amount(), 64u * 1024u);
}

TEST(Channel, MaxPacketLifeTimeChannelOpensOnTheOtherSideWithItsOptions) {
  Peer a = loopback_peer(), b = loopback_peer();
  Inbox ib;
  std::optional<Channel> remote;
  std::mutex m;
  auto sub = b.on_channel([&](Channel c) {
    std::lock_guard lock(m);
    remote = c;
    ib.watch(c);
  });
  peer::ChannelOptions options;
  options.max_packet_life_time = 500;
  options.protocol = "timed";
  Channel ca = a.use(peer::channel("timed", options));
  a.use(peer::connect(b));
  ca.send("t");
  ASSERT_TRUE(ib.wait([&] { return !ib.messages.empty(); }));
  std::lock_guard lock(m);
  EXPECT_EQ(remote->get("protocol"), "timed");
  EXPECT_THROW(a.use(peer::channel(
                   "both", peer::ChannelOptions{.max_retransmits = 1, .max_packet_life_time = 1})),
               peer::Error);
}

}  // namespace

namespace {

TEST(Channel, PeersOnTwoLoopsTalkAcrossThreads) {
  peer::Peer::set_loops(2);
  Peer a = loopback_peer(), b = loopback_peer();
  peer::Peer::set_loops(1);  // back to the default for the other tests
  std::mutex m;
  std::condition_variable cv;
  std::set<std::thread::id> threads;
  Channel ca = a.use(peer::channel("x"));
  Channel cb = b.use(peer::channel("x"));
  Inbox ia, ib;
  ia.watch(ca);
  ib.watch(cb);
  auto ta = ca.on_message([&](const peer::Message&) {
    std::lock_guard lock(m);
    threads.insert(std::this_thread::get_id());
  });
  auto tb = cb.on_message([&](const peer::Message&) {
    std::lock_guard lock(m);
    threads.insert(std::this_thread::get_id());
  });
  a.use(peer::connect(b));  // the wiring calls across loops: posted, never blocking
  for (int i = 0; i < 100; ++i) {
    ca.send("a" + std::to_string(i));
    cb.send("b" + std::to_string(i));
  }
  ASSERT_TRUE(ib.wait([&] { return ib.messages.size() >= 100; }));
  ASSERT_TRUE(ia.wait([&] { return ia.messages.size() >= 100; }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(ib.messages[i].second, "a" + std::to_string(i));
    EXPECT_EQ(ia.messages[i].second, "b" + std::to_string(i));
  }
  std::lock_guard lock(m);
  EXPECT_EQ(threads.size(), 2u);  // each peer's callbacks ran on its own loop thread
}

}  // namespace

namespace {

TEST(Channel, CallbacksMayThrowOrCloseThePeer) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("c"));
  Channel cb = b.use(peer::channel("c"));
  std::mutex m;
  std::condition_variable cv;
  int seen = 0;
  std::vector<json> errors;
  auto err = b.on("error", [&](const json& e) {
    std::lock_guard lock(m);
    errors.push_back(e);
    cv.notify_all();
  });
  // The first message makes the listener throw (not JSON), the second closes b from inside
  // the callback, while the association is being drained; nothing after that is delivered.
  auto sub = cb.on_message([&, b](const peer::Message& msg) mutable {
    {
      std::lock_guard lock(m);
      ++seen;
      cv.notify_all();
    }
    if (msg.text() == "close") b.close();
    if (msg.text() == "not json") (void)msg.to_json();
  });
  a.use(peer::connect(b));
  ca.send("not json");
  std::unique_lock lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return !errors.empty(); }));
  EXPECT_NE(errors[0]["message"].get<std::string>().find("threw"), std::string::npos) << errors[0];
  lock.unlock();
  ca.send("close");
  ca.send("after");
  lock.lock();
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return seen >= 2; }));
  lock.unlock();
  std::this_thread::sleep_for(100ms);
  lock.lock();
  EXPECT_EQ(seen, 2);  // "after" came after close
  lock.unlock();
  EXPECT_EQ(b.get("connection"), "closed");
  cb.buffered_amount_low_threshold(1);  // harmless on a closed peer
  EXPECT_THROW(cb.send("x"), peer::Error);
}

}  // namespace

namespace {

TEST(Channel, IdsOfClosedChannelsAreReused) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("first"));
  Inbox ia;
  ia.watch(ca);
  a.use(peer::connect(b));
  ASSERT_TRUE(ia.wait([&] { return ia.opened == 1; }));
  const std::uint16_t first_id = *ca.id();
  ca.close();
  ASSERT_TRUE(ia.wait([&] { return ia.closed == 1; }));
  // The closed stream's id is free again: the next channel of ours takes the lowest one.
  Channel again = a.use(peer::channel("again"));
  Inbox ig;
  ig.watch(again);
  ASSERT_TRUE(ig.wait([&] { return ig.opened == 1; }));
  EXPECT_EQ(*again.id(), first_id);
}

}  // namespace

namespace {

std::string ice_ufrag_of(const json& description) {
  const std::string sdp = description.value("sdp", std::string());
  const auto at = sdp.find("a=ice-ufrag:");
  if (at == std::string::npos) return {};
  return sdp.substr(at + 12, sdp.find_first_of("\r\n", at) - at - 12);
}

}  // namespace

// ICE restart (W3C restartIce, RFC 8445 section 9) from either side of a connected pair with
// an open channel: both sides get new ICE credentials, a new pair is selected, the channel
// carries messages before, during and after, and DTLS is not touched (same roles, the
// association and the channel go on).
TEST(Channel, IceRestartFromEitherSideKeepsTheChannel) {
  Peer a = loopback_peer(), b = loopback_peer();
  Channel ca = a.use(peer::channel("chat"));
  a.use(peer::connect(b));
  Channel cb = b.use(peer::channel("chat"));
  Inbox ia, ib;
  ia.watch(ca);
  ib.watch(cb);
  ca.send("before");
  ASSERT_TRUE(ib.wait([&] { return ib.messages.size() >= 1; }));
  const json role_a = a.get("role"), role_b = b.get("role");
  std::size_t expected = 1;
  // Twice in a row from each side: the side that joined a restart must join the next one
  // too (a flag left set by joining once made its second answer keep the old credentials).
  for (Peer* restarting : {&a, &a, &b, &b}) {
    const std::string ufrag_a = ice_ufrag_of(a.get("local")), ufrag_b = ice_ufrag_of(b.get("local"));
    restarting->restart();
    ca.send("during");
    ++expected;
    ASSERT_TRUE(ib.wait([&] { return ib.messages.size() >= expected; })) << ib.messages.size();
    // Both sides answered with new credentials, and the new generation connected.
    ASSERT_TRUE(peer::test::eventually([&] {
      return ice_ufrag_of(a.get("local")) != ufrag_a && ice_ufrag_of(b.get("local")) != ufrag_b &&
             (a.get("ice") == "connected" || a.get("ice") == "completed") &&
             (b.get("ice") == "connected" || b.get("ice") == "completed");
    })) << a.get("ice") << " " << b.get("ice") << " ufrags " << ufrag_a << "->" << ice_ufrag_of(a.get("local"))
        << " " << ufrag_b << "->" << ice_ufrag_of(b.get("local")) << " errors a " << a.get("ice-error");
    ca.send("after");
    cb.send("after");
    ++expected;
    ASSERT_TRUE(ib.wait([&] { return ib.messages.size() >= expected; })) << ib.messages.size();
  }
  ASSERT_TRUE(ia.wait([&] { return ia.messages.size() >= 2; }));
  std::lock_guard lock(ib.m);
  EXPECT_EQ(ib.messages.back().second, "after");
  EXPECT_EQ(a.get("role"), role_a);
  EXPECT_EQ(b.get("role"), role_b);
  EXPECT_EQ(a.get("connection"), "connected");
  EXPECT_EQ(ca.state(), "open");
}
