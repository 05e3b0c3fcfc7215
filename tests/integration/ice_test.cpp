// EventLoop, parse_ice_servers and IceTransport over real sockets, all on 127.0.0.1.

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <peer/error.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "../support/eventually.hpp"
#include "../support/process_info.hpp"
#include "../support/turn_server.hpp"
#include "core/mdns/message.hpp"
#include "core/sdp/candidate.hpp"
#include "ice/ice_server.hpp"
#include "ice/ice_transport.hpp"
#include "ice/mdns_resolver.hpp"
#include "ice/mdns_responder.hpp"
#include "runtime/event_loop.hpp"

using namespace std::chrono_literals;
using peer::Errc;
using peer::Error;
using peer::ice::IceConfig;
using peer::ice::IceServer;
using peer::ice::IceState;
using peer::ice::IceTransport;
using peer::runtime::EventLoop;
using Clock = std::chrono::steady_clock;

namespace {

using peer::test::count_socket_fds;
using peer::test::count_threads_named;

template <class Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout) {
  return peer::test::eventually(pred, timeout, 2ms);
}

std::vector<std::byte> bytes_of(const std::string& text) {
  std::vector<std::byte> out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

// ---------------------------------------------------------------- EventLoop

TEST(EventLoop, PostRunsInFifoOrderAndNeverInline) {
  auto loop = EventLoop::create();
  std::vector<int> order;  // touched only on the loop thread
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) loop->post([&order, i] { order.push_back(i); });
  });
  producer.join();
  loop->run_sync([] {});
  ASSERT_EQ(order.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));

  bool ran_inline = true;
  bool ran = false;
  loop->run_sync([&] {
    loop->post([&] { ran = true; });
    ran_inline = ran;
  });
  loop->run_sync([] {});
  EXPECT_FALSE(ran_inline);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(loop->in_loop_thread());
}

TEST(EventLoop, RunSyncPropagatesExceptions) {
  auto loop = EventLoop::create();
  EXPECT_THROW(loop->run_sync([] { throw std::runtime_error("boom"); }), std::runtime_error);
  try {
    loop->run_sync([] { throw Error(Errc::invalid_state, "nope"); });
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_state);
  }
  // Inline on the loop thread; an exception escaping a posted task is logged, not fatal.
  loop->run_sync([&] {
    EXPECT_THROW(loop->run_sync([] { throw std::logic_error("inline"); }), std::logic_error);
  });
  loop->post([] { throw std::runtime_error("swallowed"); });
  int value = 0;
  loop->run_sync([&] { value = 42; });
  EXPECT_EQ(value, 42);
}

TEST(EventLoop, TimersFireInDeadlineOrderAndCancel) {
  auto loop = EventLoop::create();
  std::vector<int> fired;
  std::vector<EventLoop::Timer> timers;
  std::promise<void> done;
  loop->run_sync([&] {
    // Deadlines from one base: relative delays taken one after another would reorder if
    // this thread were descheduled between two calls (seen on a loaded machine).
    const auto base = Clock::now();
    auto at = [&](std::chrono::milliseconds offset, std::function<void()> fn) { return loop->call_at(base + offset, std::move(fn)); };
    timers.push_back(at(30ms, [&] { fired.push_back(30); }));
    timers.push_back(at(10ms, [&] { fired.push_back(10); }));
    timers.push_back(at(20ms, [&] { fired.push_back(20); }));
    auto cancelled = at(15ms, [&] { fired.push_back(15); });
    EXPECT_TRUE(cancelled.pending());
    cancelled.cancel();
    EXPECT_FALSE(cancelled.pending());
    {
      auto dropped = at(5ms, [&] { fired.push_back(5); });
    }
    // Moving keeps it armed; re-assigning cancels the old one.
    auto moved = at(25ms, [&] { fired.push_back(25); });
    timers.push_back(std::move(moved));
    auto reassigned = at(12ms, [&] { fired.push_back(12); });
    reassigned = at(1ms, [&] { fired.push_back(1); });
    timers.push_back(std::move(reassigned));
    timers.push_back(at(40ms, [&] { done.set_value(); }));
  });
  ASSERT_EQ(done.get_future().wait_for(2s), std::future_status::ready);
  loop->run_sync([&] {
    EXPECT_EQ(fired, (std::vector<int>{1, 10, 20, 25, 30}));
    for (auto& t : timers) EXPECT_FALSE(t.pending());
    timers.clear();
  });
}

TEST(EventLoop, TimersNeverFireEarly) {
  auto loop = EventLoop::create();
  const std::vector<std::chrono::microseconds> delays = {2500us, 4100us, 7300us, 11000us, 3300us};
  std::vector<std::chrono::microseconds> lateness(delays.size());
  std::vector<EventLoop::Timer> timers;
  std::atomic<int> remaining = int(delays.size());
  loop->run_sync([&] {
    for (std::size_t i = 0; i < delays.size(); ++i) {
      auto deadline = Clock::now() + delays[i];
      timers.push_back(loop->call_at(deadline, [&, i, deadline] {
        lateness[i] =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - deadline);
        --remaining;
      }));
    }
  });
  ASSERT_TRUE(poll_until([&] { return remaining == 0; }, 2s));
  loop->run_sync([&] { timers.clear(); });
  // Only "never early" is asserted: how late a timer fires depends on the machine's load,
  // and timing belongs in benchmarks, not tests.
  for (auto late : lateness) EXPECT_GE(late.count(), 0) << "a timer fired early";
}

TEST(EventLoop, DestroyedFromItsOwnThreadExitsWithoutJoining) {
  const int baseline = count_threads_named("peer-loop");
  auto loop = EventLoop::create();
  ASSERT_EQ(count_threads_named("peer-loop"), baseline + 1);
  auto* raw = loop.get();
  auto holder = std::make_shared<std::shared_ptr<EventLoop>>(std::move(loop));
  std::promise<void> gate;
  auto gate_future = gate.get_future().share();
  std::promise<void> destroyed;
  std::atomic<bool> later_task_ran = false;
  auto witness = std::make_shared<int>(0);  // captured by the dropped task: must be released
  std::weak_ptr<int> witness_weak = witness;
  EventLoop::Timer* leaked_timer = nullptr;

  raw->post([gate_future] { gate_future.wait(); });  // hold the loop while we queue
  raw->post([holder, &destroyed, &leaked_timer, raw] {
    // A timer left armed must not fire after the loop is gone, nor crash.
    leaked_timer = new EventLoop::Timer(raw->call_after(1ms, [] { std::abort(); }));
    holder->reset();  // last reference, dropped on the loop thread itself
    destroyed.set_value();
  });
  raw->post([&later_task_ran, witness] { later_task_ran = true; });
  witness.reset();
  holder.reset();
  gate.set_value();

  ASSERT_EQ(destroyed.get_future().wait_for(2s), std::future_status::ready);
  EXPECT_TRUE(poll_until([&] { return count_threads_named("peer-loop") == baseline; }, 2s))
      << "the loop thread did not exit";
  EXPECT_FALSE(later_task_ran) << "tasks queued behind the destroying one must not run";
  EXPECT_TRUE(witness_weak.expired()) << "dropped tasks must be destroyed";
  std::this_thread::sleep_for(5ms);
  delete leaked_timer;  // cancelling after the loop is gone is harmless
}

TEST(EventLoop, SharedDefaultLivesWhileHeld) {
  const int baseline = count_threads_named("peer-loop");
  auto a = EventLoop::shared_default();
  auto b = EventLoop::shared_default();
  EXPECT_EQ(a, b);
  EXPECT_EQ(count_threads_named("peer-loop"), baseline + 1);
  std::weak_ptr<EventLoop> weak = a;
  a.reset();
  EXPECT_FALSE(weak.expired());
  b.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(count_threads_named("peer-loop"), baseline) << "joined when the last holder let go";
  auto c = EventLoop::shared_default();
  int value = 0;
  c->run_sync([&] { value = 7; });
  EXPECT_EQ(value, 7);
}

// Watch: level-triggered readiness, interest changed by want(), and a watch that cancels
// itself from its own callback is not called again although the descriptor stays ready.
TEST(EventLoop, WatchReportsReadinessUntilCancelled) {
  auto loop = EventLoop::create();
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  std::atomic<int> readable{0}, writable{0};
  EventLoop::Watch watch;
  loop->run_sync([&] {
    watch = loop->watch(fds[0], EventLoop::kReadable, [&](unsigned ready) {
      if (ready & EventLoop::kReadable) ++readable;
      if (ready & EventLoop::kWritable) {
        ++writable;
        watch.want(EventLoop::kReadable);  // written what we had: only reads now
      }
      if (readable >= 3) watch.cancel();   // the byte is never read: still ready
    });
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(readable.load(), 0) << "nothing to read yet";
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  ASSERT_TRUE(poll_until([&] { return readable.load() >= 3; }, 2s));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(readable.load(), 3) << "called after cancel()";
  EXPECT_EQ(writable.load(), 0) << "kWritable was never wanted";
  loop->run_sync([&] {
    EXPECT_FALSE(watch.active());
    watch = loop->watch(fds[1], EventLoop::kWritable, [&](unsigned ready) {
      if (ready & EventLoop::kWritable) ++writable;
      watch.want(0);
    });
  });
  ASSERT_TRUE(poll_until([&] { return writable.load() >= 1; }, 2s));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(writable.load(), 1) << "want(0) still reports writability";
  loop->run_sync([&] { watch.cancel(); });
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoop, RunSyncOnDestroyedLoopDoesNotHang) {
  auto loop = EventLoop::create();
  auto* raw = loop.get();
  auto holder = std::make_shared<std::shared_ptr<EventLoop>>(std::move(loop));
  std::promise<void> gate;
  auto gate_future = gate.get_future().share();
  raw->post([gate_future] { gate_future.wait(); });
  raw->post([holder] { holder->reset(); });
  // run_sync's task lands behind the destroying task and is dropped: broken promise.
  std::thread releaser([&] {
    std::this_thread::sleep_for(20ms);
    gate.set_value();
  });
  holder.reset();
  EXPECT_THROW(raw->run_sync([] {}), std::future_error);
  releaser.join();
}

// ---------------------------------------------------------------- parse_ice_servers

TEST(IceServers, ParsesEveryShape) {
  using nlohmann::json;
  auto one = peer::ice::parse_ice_servers("stun:stun.example.org");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].type, IceServer::Type::stun);
  EXPECT_EQ(one[0].host, "stun.example.org");
  EXPECT_EQ(one[0].port, 3478);

  auto strings = peer::ice::parse_ice_servers(json::array({"stun:1.2.3.4:19302", "stun:[::1]"}));
  ASSERT_EQ(strings.size(), 2u);
  EXPECT_EQ(strings[0].port, 19302);
  EXPECT_EQ(strings[1].host, "::1");
  EXPECT_EQ(strings[1].port, 3478);

  auto object = peer::ice::parse_ice_servers(
      json{{"urls", "turn:turn.example.org"}, {"username", "u"}, {"credential", "p"}});
  ASSERT_EQ(object.size(), 1u);
  EXPECT_EQ(object[0].type, IceServer::Type::turn);
  EXPECT_EQ(object[0].transport, IceServer::Transport::udp);
  EXPECT_EQ(object[0].username, "u");
  EXPECT_EQ(object[0].credential, "p");

  auto full = peer::ice::parse_ice_servers(json::parse(R"([
      {"urls": ["turn:10.0.0.1:3479?transport=tcp", "turns:turn.example.org",
                "TURN:[2001:db8::1]:5000?transport=udp"],
       "username": "alice", "credential": "secret"},
      {"urls": "stun:stun.l.google.com:19302"},
      "stun:example.net",
      {"url": "stun:legacy.example.org"}
  ])"));
  ASSERT_EQ(full.size(), 6u);
  EXPECT_EQ(full[0], (IceServer{IceServer::Type::turn, "10.0.0.1", 3479, IceServer::Transport::tcp,
                                "alice", "secret"}));
  EXPECT_EQ(full[1], (IceServer{IceServer::Type::turns, "turn.example.org", 5349,
                                IceServer::Transport::tcp, "alice", "secret"}));
  EXPECT_EQ(full[2], (IceServer{IceServer::Type::turn, "2001:db8::1", 5000,
                                IceServer::Transport::udp, "alice", "secret"}));
  EXPECT_EQ(full[3].host, "stun.l.google.com");
  EXPECT_EQ(full[3].port, 19302);
  EXPECT_TRUE(full[3].username.empty());
  EXPECT_EQ(full[4].host, "example.net");
  EXPECT_EQ(full[5].host, "legacy.example.org");
  EXPECT_EQ(peer::ice::to_string(full[2]), "turn:[2001:db8::1]:5000?transport=udp");

  // libwebrtc's TlsCertPolicy, per entry: every url of the entry takes it.
  auto insecure = peer::ice::parse_ice_servers(json::parse(R"([
      {"urls": ["turns:a.example.org", "turn:a.example.org"], "username": "u", "credential": "p",
       "tlsCertPolicy": "insecureNoCheck"},
      {"urls": "turns:b.example.org", "username": "u", "credential": "p", "tlsCertPolicy": "secure"}
  ])"));
  ASSERT_EQ(insecure.size(), 3u);
  EXPECT_FALSE(insecure[0].verify_certificate);
  EXPECT_FALSE(insecure[1].verify_certificate);
  EXPECT_TRUE(insecure[2].verify_certificate);
  EXPECT_TRUE(full[1].verify_certificate);  // secure unless said otherwise

  EXPECT_TRUE(peer::ice::parse_ice_servers(json::array()).empty());
  EXPECT_TRUE(peer::ice::parse_ice_servers(json()).empty());
}

// Messages reach logs and stderr: a credential is never part of them.
TEST(IceServers, ErrorsNeverShowTheCredential) {
  using nlohmann::json;
  for (const json& input : {json{{"username", "u"}, {"credential", "hunter2-secret"}},
                            json{{"urls", 3}, {"username", "u"}, {"credential", "hunter2-secret"}}}) {
    try {
      peer::ice::parse_ice_servers(input);
      ADD_FAILURE() << "accepted a bad entry";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find("hunter2-secret"), std::string::npos) << message;
      EXPECT_NE(message.find("\"credential\":\"***\""), std::string::npos) << message;
    }
  }
}

TEST(IceServers, RejectsBadInputNamingTheUrlAndWhy) {
  using nlohmann::json;
  struct Case {
    json input;
    std::string expected_in_message;
  };
  const std::vector<Case> cases = {
      {json{{"urls", "turn:t.example.org"}}, "turn:t.example.org' : turn needs a username"},
      {json{{"urls", "turn:t.example.org"}, {"username", "u"}},
       "needs a username and a credential"},
      {json{{"urls", "turns:t.example.org"}, {"credential", "p"}}, "turns needs a username"},
      {json{{"urls", "turn:t"}, {"username", 5}, {"credential", "p"}},
       "'username' must be a string"},
      {"http://example.org", "unknown scheme 'http'"},
      {"stun.example.org", "missing scheme"},
      {"stuns:example.org", "stuns (STUN over TLS) is not supported"},
      {json{{"urls", "turns:t"}, {"username", "u"}, {"credential", "p"}, {"tlsCertPolicy", "none"}},
       "unknown tlsCertPolicy 'none'"},
      {"stun://example.org", "no '//'"},
      {"stun:", "missing host"},
      {"stun::3478", "missing host"},
      {"stun:example.org:", "empty port"},
      {"stun:example.org:99999", "out of range"},
      {"stun:example.org:0", "out of range"},
      {"stun:example.org:34a", "bad port '34a'"},
      {"stun:[::1", "unterminated '['"},
      {"stun:[::1]x", "expected ':port' after ']'"},
      {"stun:::1", "IPv6 hosts need brackets"},
      {"stun:ex ample.org", "invalid character ' '"},
      {"stun:example.org?transport=udp", "stun urls take no '?' parameters"},
      {json{{"urls", "turn:t?transport=sctp"}, {"username", "u"}, {"credential", "p"}},
       "unknown transport 'sctp'"},
      {json{{"urls", "turn:t?foo=bar"}, {"username", "u"}, {"credential", "p"}},
       "unknown parameter 'foo=bar'"},
      {json{{"urls", "turns:t?transport=udp"}, {"username", "u"}, {"credential", "p"}},
       "turns over udp (DTLS) is not supported"},
      {json{{"username", "u"}}, "missing 'urls'"},
      {json{{"urls", json::array()}}, "'urls' is empty"},
      {json{{"urls", json::array({1})}}, "'urls' entries must be strings"},
      {json{{"urls", 3}}, "'urls' must be a string or an array"},
      {json::array({42}), "expected a url string or an object"},
      {json(17), "expected an array, an object or a url string"},
  };
  for (const auto& c : cases) {
    try {
      peer::ice::parse_ice_servers(c.input);
      ADD_FAILURE() << "accepted " << c.input.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument) << c.input.dump();
      std::string expected = c.expected_in_message;
      // The first case checks the url is named too ("ice server url 'turn:...': ...").
      expected.erase(std::remove(expected.begin(), expected.end(), ' '), expected.end());
      std::string message = e.what();
      std::string squeezed = message;
      squeezed.erase(std::remove(squeezed.begin(), squeezed.end(), ' '), squeezed.end());
      EXPECT_NE(squeezed.find(expected), std::string::npos)
          << "message: " << message << "\nexpected: " << c.expected_in_message;
      if (c.input.is_string()) {
        EXPECT_NE(message.find(c.input.get<std::string>()), std::string::npos) << message;
      }
    }
  }
}

// ---------------------------------------------------------------- IceTransport

namespace {

// One side of a test connection. Everything in it is touched on the loop thread only; the
// test thread reads it through run_sync.
struct Side {
  std::unique_ptr<IceTransport> ice;
  std::vector<std::string> candidates;
  std::vector<IceState> states;
  std::vector<std::string> errors;
  std::vector<std::string> received;
  std::string local_pair, remote_pair;
  bool gathering_done = false;
  bool destroy_on_receive = false;    // reset `ice` from inside on_receive
  bool destroy_on_connected = false;  // reset `ice` from inside on_state(connected)
  Clock::time_point gather_started, connected_at, gathering_done_at;
};

class IcePair : public ::testing::Test {
 protected:
  void SetUp() override { loop_ = EventLoop::create(); }
  void TearDown() override {
    if (!loop_) return;
    loop_->run_sync([&] {
      a_.ice.reset();
      b_.ice.reset();
    });
  }

  static IceConfig local_config(bool controlling) {
    IceConfig config;
    config.local_addresses = {"127.0.0.1"};
    config.controlling = controlling;
    return config;
  }

  static IceConfig tcp_only_config(bool controlling) {
    IceConfig config = local_config(controlling);
    config.udp = false;
    config.tcp = true;
    return config;
  }

  peer::ice::IceCallbacks callbacks_for(Side& self, Side& other) {
    peer::ice::IceCallbacks cb;
    cb.on_candidate = [&self, &other](const std::string& candidate) {
      ASSERT_TRUE(self.ice);
      self.candidates.push_back(candidate);
      if (other.ice) other.ice->add_remote_candidate(candidate);
    };
    cb.on_gathering_done = [&self, &other] {
      ASSERT_TRUE(self.ice);
      self.gathering_done = true;
      self.gathering_done_at = Clock::now();
      if (other.ice) other.ice->remote_gathering_done();
    };
    cb.on_state = [&self](IceState state) {
      Side& side = self;  // the closure dies with `side.ice` below
      side.states.push_back(state);
      if (state == IceState::connected) side.connected_at = Clock::now();
      if (state == IceState::connected && side.destroy_on_connected) side.ice.reset();
    };
    cb.on_selected_pair = [&self](const std::string& local, const std::string& remote) {
      self.local_pair = local;
      self.remote_pair = remote;
    };
    cb.on_receive = [&self](std::span<const std::byte> data) {
      Side& side = self;
      side.received.push_back(text_of(data));
      if (side.destroy_on_receive) side.ice.reset();
    };
    cb.on_error = [&self](const std::string& message) { self.errors.push_back(message); };
    return cb;
  }

  // Both transports are created, exchange credentials and gather; candidates trickle across.
  void start(IceConfig ca, IceConfig cb) {
    loop_->run_sync([&] {
      a_.ice = IceTransport::create(*loop_, ca, callbacks_for(a_, b_));
      b_.ice = IceTransport::create(*loop_, cb, callbacks_for(b_, a_));
      a_.ice->set_remote_credentials(b_.ice->local_ufrag(), b_.ice->local_pwd());
      b_.ice->set_remote_credentials(a_.ice->local_ufrag(), a_.ice->local_pwd());
      a_.gather_started = b_.gather_started = Clock::now();
      a_.ice->gather();
      b_.ice->gather();
    });
  }

  bool connected(Side& side) {
    bool result = false;
    loop_->run_sync([&] {
      auto state = side.ice->state();
      result = state == IceState::connected || state == IceState::completed;
    });
    return result;
  }

  // Sends `count` datagrams each way and checks they all arrive intact.
  // Datagrams of the sizes send_batch must keep apart: runs ended by a short one, runs longer
  // than the kernel's 64 segments, a larger datagram after smaller ones, a lone one. Each
  // starts with its index.
  static std::vector<std::string> mixed_sizes() {
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 5; ++i) sizes.push_back(1200);
    sizes.push_back(300);
    for (int i = 0; i < 3; ++i) sizes.push_back(1200);
    sizes.push_back(1199);
    for (int i = 0; i < 70; ++i) sizes.push_back(100);
    for (int i = 0; i < 60; ++i) sizes.push_back(1200);  // a run as large as GSO allows
    sizes.push_back(2000);
    sizes.push_back(20);
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      std::string t = "#" + std::to_string(i) + ":";
      t.resize(sizes[i], static_cast<char>('a' + i % 26));
      texts.push_back(std::move(t));
    }
    return texts;
  }

  // a sends `texts` in one send_batch; b must receive exactly them, each as itself, in order.
  void expect_batch_arrives(const std::vector<std::string>& texts) {
    std::size_t total = 0;
    for (const auto& t : texts) total += t.size();
    loop_->run_sync([&] {
      b_.received.clear();
      std::vector<std::span<const std::byte>> batch;
      for (const auto& t : texts) batch.push_back(std::as_bytes(std::span(t.data(), t.size())));
      EXPECT_EQ(a_.ice->send_batch(batch), batch.size());
    });
    auto got_all = [&] {
      std::size_t bytes = 0;
      loop_->run_sync([&] {
        for (const auto& r : b_.received) bytes += r.size();
      });
      return bytes >= total;
    };
    ASSERT_TRUE(poll_until(got_all, 5s));
    loop_->run_sync([&] {
      std::size_t got = 0;
      for (const auto& r : b_.received) got += r.size();
      EXPECT_EQ(got, total);
      EXPECT_TRUE(b_.received == texts) << "datagram boundaries lost or datagrams reordered";
    });
  }

  void exchange(int count) {
    loop_->run_sync([&] {
      for (int i = 0; i < count; ++i) {
        EXPECT_TRUE(a_.ice->send(bytes_of("from a #" + std::to_string(i))));
        EXPECT_TRUE(b_.ice->send(bytes_of("from b #" + std::to_string(i))));
      }
    });
    auto got_all = [&] {
      std::size_t a = 0, b = 0;
      loop_->run_sync([&] {
        a = a_.received.size();
        b = b_.received.size();
      });
      return a >= std::size_t(count) && b >= std::size_t(count);
    };
    ASSERT_TRUE(poll_until(got_all, 3s));
    loop_->run_sync([&] {
      std::set<std::string> at_a(a_.received.begin(), a_.received.end());
      std::set<std::string> at_b(b_.received.begin(), b_.received.end());
      for (int i = 0; i < count; ++i) {
        EXPECT_TRUE(at_b.count("from a #" + std::to_string(i))) << i;
        EXPECT_TRUE(at_a.count("from b #" + std::to_string(i))) << i;
      }
      EXPECT_EQ(a_.received.size(), std::size_t(count));
      EXPECT_EQ(b_.received.size(), std::size_t(count));
    });
  }

  void report_setup_time(const char* what) {
    loop_->run_sync([&] {
      auto ms = [](Clock::duration d) {
        return std::chrono::duration<double, std::milli>(d).count();
      };
      std::printf("[ setup    ] %s: gather->connected controlling %.1f ms, controlled %.1f ms\n",
                  what, ms(a_.connected_at - a_.gather_started),
                  ms(b_.connected_at - b_.gather_started));
    });
  }

  std::shared_ptr<EventLoop> loop_;
  Side a_, b_;
};

}  // namespace

TEST_F(IcePair, ConnectsOverUdpAndExchangesData) {
  auto a = local_config(true);
  auto b = local_config(false);
  // host UDP only (the default): the fastest path, what we time
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, a, callbacks_for(a_, b_));
    EXPECT_FALSE(a_.ice->send(bytes_of("too early")));
    EXPECT_EQ(a_.ice->state(), IceState::new_);
    a_.ice.reset();
  });
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  report_setup_time("udp");
  exchange(20);
  EXPECT_TRUE(poll_until(
      [&] {
        bool done = false;
        loop_->run_sync([&] { done = a_.gathering_done && b_.gathering_done; });
        return done;
      },
      3s));
  loop_->run_sync([&] {
    std::printf("[ gather   ] done after %.1f ms\n",
                std::chrono::duration<double, std::milli>(a_.gathering_done_at - a_.gather_started)
                    .count());
    ASSERT_FALSE(a_.candidates.empty());
    for (const auto& c : a_.candidates) {
      EXPECT_TRUE(c.starts_with("candidate:")) << c;
      EXPECT_EQ(c.find('\r'), std::string::npos);
      EXPECT_EQ(c.find('\n'), std::string::npos);
      EXPECT_NE(c.find(" 127.0.0.1 "), std::string::npos) << c;
    }
    EXPECT_TRUE(a_.local_pair.starts_with("host udp 127.0.0.1:")) << a_.local_pair;
    EXPECT_TRUE(a_.remote_pair.starts_with("host udp 127.0.0.1:")) << a_.remote_pair;
    EXPECT_EQ(a_.states.front(), IceState::checking);
    auto it = std::find(a_.states.begin(), a_.states.end(), IceState::connected);
    EXPECT_NE(it, a_.states.end());
    EXPECT_TRUE(a_.errors.empty());
    EXPECT_TRUE(b_.errors.empty());
  });
  // Stays up, and completes after the remaining checks.
  EXPECT_TRUE(poll_until(
      [&] {
        IceState s{};
        loop_->run_sync([&] { s = a_.ice->state(); });
        return s == IceState::completed;
      },
      3s));
}

// send_batch cuts runs of equal-sized datagrams with UDP_SEGMENT, and the receiver gets every
// datagram as itself: runs ended by a short one, runs longer than the kernel's 64 segments, a
// larger datagram after smaller ones, a lone one. On loopback a UDP_SEGMENT send reaches a
// receiving socket with UDP_GRO as one buffer: our transport (the default) receives with GRO
// and must cut the buffer back at the segment size the kernel reports (checked: without the
// cut this fails), or a STUN packet at the end of a run would be lost inside a DTLS buffer.
TEST_F(IcePair, SendBatchKeepsEveryDatagram) {
  start(local_config(true), local_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  loop_->run_sync([&] {
    EXPECT_TRUE(a_.ice->sends_with_gso()) << "UDP_SEGMENT not used on a loopback UDP pair";
  });
  expect_batch_arrives(mixed_sizes());
}

TEST_F(IcePair, ConnectsOverIceTcp) {
  start(tcp_only_config(true), tcp_only_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  report_setup_time("tcp");
  exchange(20);
  loop_->run_sync([&] {
    for (const auto& c : a_.candidates) EXPECT_NE(c.find(" tcp "), std::string::npos) << c;
    EXPECT_TRUE(a_.local_pair.starts_with("host tcp-active ")) << a_.local_pair;
    EXPECT_TRUE(a_.remote_pair.starts_with("host tcp-passive ")) << a_.remote_pair;
    EXPECT_TRUE(b_.local_pair.starts_with("host tcp-passive ")) << b_.local_pair;
    EXPECT_TRUE(b_.remote_pair.starts_with("host tcp-")) << b_.remote_pair;
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
  });
}

// Over ICE-TCP each datagram is an RFC 4571 frame: a batch keeps its boundaries and order,
// and 3.6 MB in one batch all arrive (sized so that the socket usually takes it in parts: the
// rest goes from the writable callback, and reads end inside frames).
TEST_F(IcePair, IceTcpSendBatchKeepsEveryDatagram) {
  start(tcp_only_config(true), tcp_only_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  loop_->run_sync([&] { EXPECT_FALSE(a_.ice->sends_with_gso()); });
  expect_batch_arrives(mixed_sizes());
  std::vector<std::string> many;
  for (int i = 0; i < 3000; ++i) {
    std::string t = "#" + std::to_string(i) + ":";
    t.resize(i % 7 == 0 ? 65535 / 64 : 1200, static_cast<char>('a' + i % 26));
    many.push_back(std::move(t));
  }
  many.back().resize(65535, 'z');  // the largest a frame can carry
  expect_batch_arrives(many);
}

// UDP and TCP on both sides: TCP pairs are checked too (connections open both ways), but the
// UDP pair has the higher priority and is the one in use once ICE completed.
TEST_F(IcePair, UdpAndIceTcpSelectsUdp) {
  auto a = local_config(true);
  auto b = local_config(false);
  a.tcp = b.tcp = true;
  start(a, b);
  ASSERT_TRUE(poll_until(
      [&] {
        IceState sa{}, sb{};
        loop_->run_sync([&] {
          sa = a_.ice->state();
          sb = b_.ice->state();
        });
        return sa == IceState::completed && sb == IceState::completed;
      },
      5s));
  exchange(5);
  loop_->run_sync([&] {
    EXPECT_TRUE(a_.local_pair.starts_with("host udp ")) << a_.local_pair;
    EXPECT_TRUE(b_.local_pair.starts_with("host udp ")) << b_.local_pair;
    EXPECT_TRUE(a_.ice->sends_with_gso());
    const auto tcp =
        std::count_if(a_.candidates.begin(), a_.candidates.end(),
                      [](const std::string& c) { return c.find(" tcp ") != std::string::npos; });
    EXPECT_EQ(tcp, 2) << ::testing::PrintToString(a_.candidates);  // active and passive
  });
}

// A connection that closes fails its pair: with TCP only, ICE fails on the side whose
// peer went away, at once rather than when consent runs out (30 s).
TEST_F(IcePair, IceTcpConnectionClosedByThePeerFailsIce) {
  start(tcp_only_config(true), tcp_only_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  loop_->run_sync([&] { b_.ice.reset(); });  // closes its sockets, so a's connections close
  ASSERT_TRUE(poll_until(
      [&] {
        bool failed = false;
        loop_->run_sync(
            [&] { failed = !a_.states.empty() && a_.states.back() == IceState::failed; });
        return failed;
      },
      2s));
  loop_->run_sync([&] {
    EXPECT_FALSE(a_.ice->send(bytes_of("nobody")));
    const bool said = std::any_of(a_.errors.begin(), a_.errors.end(), [](const std::string& e) {
      return e.find("closed") != std::string::npos;
    });
    EXPECT_TRUE(said) << ::testing::PrintToString(a_.errors);
  });
}

// ICE restart on our own sockets: new credentials both ways (the answerer's order: remote
// credentials, then restart), candidates again, a new pair; the datagrams sent on the old
// pair during the restart and on the new one after all arrive.
TEST_F(IcePair, RestartKeepsTheConnection) {
  start(local_config(true), local_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  std::string old_ufrag;
  loop_->run_sync([&] {
    old_ufrag = a_.ice->local_ufrag();
    a_.local_pair.clear();
    a_.ice->restart();
    EXPECT_NE(a_.ice->local_ufrag(), old_ufrag);
    b_.ice->set_remote_credentials(a_.ice->local_ufrag(), a_.ice->local_pwd());
    b_.ice->restart();
    a_.ice->set_remote_credentials(b_.ice->local_ufrag(), b_.ice->local_pwd());
    const std::string during = "during the restart";
    EXPECT_TRUE(a_.ice->send(std::as_bytes(std::span(during.data(), during.size()))));
  });
  ASSERT_TRUE(poll_until(
      [&] {
        bool done = false;
        loop_->run_sync([&] { done = !a_.local_pair.empty() && !b_.received.empty(); });
        return done;
      },
      3s));
  loop_->run_sync([&] {
    EXPECT_EQ(b_.received, std::vector<std::string>{"during the restart"});
    b_.received.clear();
  });
  exchange(20);
  loop_->run_sync([&] {
    for (auto st : a_.states) EXPECT_NE(st, IceState::failed);
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
  });
}

TEST_F(IcePair, RemoteCandidateErrors) {
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, local_config(true), callbacks_for(a_, b_));
    auto expect_bad = [&](const std::string& candidate, const std::string& why) {
      try {
        a_.ice->add_remote_candidate(candidate);
        ADD_FAILURE() << "accepted " << candidate;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::bad_candidate);
        std::string message = e.what();
        EXPECT_NE(message.find(why), std::string::npos) << message;
      }
    };
    expect_bad("candidate:garbage", "cannot parse ICE candidate 'candidate:garbage'");
    expect_bad("typ host", "does not start with 'candidate:'");
    expect_bad("candidate:1 2 UDP 2122252543 127.0.0.1 5000 typ host", "component 2");
    // .local names are resolved (IceMdns tests), after the checks every candidate gets.
    EXPECT_NO_THROW(a_.ice->add_remote_candidate("candidate:1 1 UDP 2122252543 4e1f6b2c.local 5000 typ host"));
    expect_bad("candidate:1 2 UDP 2122252543 4e1f6b2c.local 5000 typ host", "component 2");
    EXPECT_NO_THROW(a_.ice->add_remote_candidate(
        "a=candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host generation 0 ufrag x\r\n"));
    EXPECT_NO_THROW(a_.ice->add_remote_candidate(
        "candidate:2 1 TCP 1015022079 127.0.0.1 9 typ host tcptype active"));
    EXPECT_NO_THROW(a_.ice->add_remote_candidate(""));  // end-of-candidates
  });
  EXPECT_EQ(peer::ice::to_string(IceState::new_), "new");
  EXPECT_EQ(peer::ice::to_string(IceState::completed), "completed");
}

TEST_F(IcePair, DestroyingTransportsClosesTheirSockets) {
  const int before = count_socket_fds();
  auto a = local_config(true);
  auto b = local_config(false);
  a.tcp = b.tcp = true;  // UDP and TCP
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  exchange(3);
  EXPECT_GT(count_socket_fds(), before);
  loop_->run_sync([&] {
    a_.ice.reset();
    b_.ice.reset();
  });
  EXPECT_EQ(count_socket_fds(), before);
}

TEST_F(IcePair, DestroyingFromItsOwnCallbackIsSafe) {
  const int before = count_socket_fds();
  // Round 1: the controlling side destroys itself from inside its receive callback.
  a_.destroy_on_receive = true;
  start(local_config(true), local_config(false));
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  loop_->run_sync([&] { EXPECT_TRUE(b_.ice->send(bytes_of("bye"))); });
  ASSERT_TRUE(poll_until(
      [&] {
        bool gone = false;
        loop_->run_sync([&] { gone = a_.ice == nullptr; });
        return gone;
      },
      2s));
  loop_->run_sync([&] {
    EXPECT_EQ(a_.received, std::vector<std::string>{"bye"});
    b_.ice.reset();
    a_ = Side{};
    b_ = Side{};
  });
  // Round 2: both destroy themselves from inside on_state(connected).
  a_.destroy_on_connected = b_.destroy_on_connected = true;
  start(local_config(true), local_config(false));
  ASSERT_TRUE(poll_until(
      [&] {
        bool gone = false;
        loop_->run_sync([&] { gone = a_.ice == nullptr && b_.ice == nullptr; });
        return gone;
      },
      5s));
  std::this_thread::sleep_for(50ms);  // any stray event would run (and crash) now
  loop_->run_sync([] {});
  EXPECT_EQ(count_socket_fds(), before);
}

// ---------------------------------------------------------------- TURN

TEST_F(IcePair, RelayOnlyConnectsThroughCoturn) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn;
  const int before = count_socket_fds();
  auto a = local_config(true);
  auto b = local_config(false);
  a.relay_only = b.relay_only = true;
  a.servers = b.servers = peer::ice::parse_ice_servers(turn.ice_servers_json());
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 8s)) << turn.log();
  report_setup_time("relay");
  exchange(20);
  loop_->run_sync([&] {
    ASSERT_FALSE(a_.candidates.empty());
    for (const auto& c : a_.candidates) EXPECT_NE(c.find(" typ relay"), std::string::npos) << c;
    for (const auto& c : b_.candidates) EXPECT_NE(c.find(" typ relay"), std::string::npos) << c;
    EXPECT_TRUE(a_.local_pair.starts_with("relay udp 127.0.0.1:")) << a_.local_pair;
    EXPECT_TRUE(b_.local_pair.starts_with("relay udp 127.0.0.1:")) << b_.local_pair;
    EXPECT_TRUE(a_.errors.empty());
    // TURN frames each datagram (ChannelData): batches go without UDP_SEGMENT, and arrive.
    EXPECT_FALSE(a_.ice->sends_with_gso());
    const std::string one = "relayed batch 1", two = "relayed batch 2";
    const std::vector<std::span<const std::byte>> batch{
        std::as_bytes(std::span(one.data(), one.size())),
        std::as_bytes(std::span(two.data(), two.size()))};
    EXPECT_EQ(a_.ice->send_batch(batch), 2u);
  });
  ASSERT_TRUE(poll_until(
      [&] {
        std::size_t n = 0;
        loop_->run_sync([&] { n = b_.received.size(); });
        return n >= 22;
      },
      3s));
  loop_->run_sync([&] {
    EXPECT_EQ(b_.received.back().substr(0, 13), "relayed batch");
    a_.ice.reset();
    b_.ice.reset();
  });
  // The TURN allocations are released first (one RTT), then the sockets close.
  EXPECT_TRUE(poll_until([&] { return count_socket_fds() == before; }, 1s));
}

// TURN over TLS (RFC 8656 section 3.1): the allocation, checks and data all go through the
// TLS stream. The certificate is self-signed, so the entry says "insecureNoCheck"; the
// verified path (a trusted certificate naming the server's IP) is the field suite's
// symmetric-tls cell, with SSL_CERT_FILE pointing at the server's certificate.
TEST_F(IcePair, RelayOnlyOverTlsCarriesData) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn({.tls = true});
  const int before = count_socket_fds();
  auto a = local_config(true);
  auto b = local_config(false);
  a.relay_only = b.relay_only = true;
  a.servers = b.servers = peer::ice::parse_ice_servers(
      {{"urls", turn.tls_url()}, {"username", turn.user()}, {"credential", turn.password()},
       {"tlsCertPolicy", "insecureNoCheck"}});
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 8s)) << turn.log();
  exchange(20);
  loop_->run_sync([&] {
    EXPECT_TRUE(a_.local_pair.starts_with("relay udp 127.0.0.1:")) << a_.local_pair;
    EXPECT_TRUE(b_.local_pair.starts_with("relay udp 127.0.0.1:")) << b_.local_pair;
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
    a_.ice.reset();
    b_.ice.reset();
  });
  EXPECT_TRUE(poll_until([&] { return count_socket_fds() == before; }, 1s));
}

// The same server with the default policy: its self-signed certificate is not trusted, the
// handshake fails, and the error says so instead of a bare relay timeout.
TEST_F(IcePair, TurnsWithAnUntrustedCertificateFailsSayingWhy) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn({.tls = true});
  auto config = local_config(true);
  config.relay_only = true;
  config.servers = peer::ice::parse_ice_servers(
      {{"urls", turn.tls_url()}, {"username", turn.user()}, {"credential", turn.password()}});
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, config, callbacks_for(a_, b_));
    a_.ice->gather();
  });
  ASSERT_TRUE(poll_until(
      [&] {
        bool reported = false;
        loop_->run_sync([&] { reported = !a_.errors.empty(); });
        return reported;
      },
      5s));
  loop_->run_sync([&] {
    const std::string& error = a_.errors.front();
    EXPECT_NE(error.find(turn.tls_url()), std::string::npos) << error;
    EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
    std::printf("[ turns    ] %s\n", error.c_str());
    EXPECT_TRUE(a_.candidates.empty());
  });
}

TEST_F(IcePair, DroppingTheLoopRightAfterTurnTransportsStillClosesEverything) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn;
  const int before = count_socket_fds();
  const int threads_before = count_threads_named("peer-loop");
  auto a = local_config(true);
  auto b = local_config(false);
  a.relay_only = b.relay_only = true;
  a.servers = b.servers = peer::ice::parse_ice_servers(turn.ice_servers_json());
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 8s)) << turn.log();
  loop_->run_sync([&] {
    a_.ice.reset();
    b_.ice.reset();
  });
  auto t0 = Clock::now();
  loop_.reset();  // joins: closing sent the deallocations (Refresh, lifetime 0), not awaited
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  // Behaviour, not speed: nothing keeps the quitting loop turning.
  EXPECT_LT(waited, 4000ms);
  EXPECT_EQ(count_socket_fds(), before);
  EXPECT_EQ(count_threads_named("peer-loop"), threads_before - 1);
}

TEST_F(IcePair, RelayOnlyWithWrongPasswordFailsFast) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn;
  auto config = local_config(true);
  config.relay_only = true;
  config.servers = peer::ice::parse_ice_servers(turn.ice_servers_json("udp", "wrong-password"));
  auto started = Clock::now();
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, config, callbacks_for(a_, b_));
    a_.ice->gather();
  });
  auto failed = [&] {
    bool result = false;
    loop_->run_sync([&] { result = a_.ice->state() == IceState::failed && !a_.errors.empty(); });
    return result;
  };
  ASSERT_TRUE(poll_until(failed, 5s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  std::printf("[ turn     ] wrong password reported after %lld ms\n",
              static_cast<long long>(took.count()));
  loop_->run_sync([&] {
    EXPECT_NE(a_.errors.front().find("no relay candidate from TURN 127.0.0.1:" +
                                     std::to_string(turn.port())),
              std::string::npos)
        << a_.errors.front();
    EXPECT_TRUE(a_.candidates.empty());
    EXPECT_EQ(a_.states.back(), IceState::failed);
  });
}

TEST_F(IcePair, RelayOnlyWithoutTurnServerFails) {
  auto config = local_config(true);
  config.relay_only = true;
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, config, callbacks_for(a_, b_));
    a_.ice->gather();
    EXPECT_TRUE(a_.errors.empty()) << "reported from inside gather()";
  });
  loop_->run_sync([&] {
    ASSERT_EQ(a_.errors.size(), 1u);
    EXPECT_NE(a_.errors[0].find("TURN"), std::string::npos);
    EXPECT_EQ(a_.ice->state(), IceState::failed);
    EXPECT_EQ(a_.states, std::vector<IceState>{IceState::failed});
  });
}

TEST_F(IcePair, StunAndTurnServersAddRelayCandidatesNextToHostOnes) {
  ASSERT_TRUE(peer::test::TurnServer::available())
      << "turnserver (coturn) not installed: run scripts/deps.sh test";
  peer::test::TurnServer turn;
  auto servers = turn.ice_servers_json("tcp");  // TURN over TCP to the server
  servers.push_back("stun:127.0.0.1:" + std::to_string(turn.port()));
  auto a = local_config(true);
  auto b = local_config(false);
  a.tcp = b.tcp = false;
  a.servers = b.servers = peer::ice::parse_ice_servers(servers);
  start(a, b);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s)) << turn.log();
  ASSERT_TRUE(poll_until(
      [&] {
        bool done = false;
        loop_->run_sync([&] { done = a_.gathering_done && b_.gathering_done; });
        return done;
      },
      3s));
  exchange(5);
  loop_->run_sync([&] {
    auto has = [](const std::vector<std::string>& candidates, const char* type) {
      return std::any_of(candidates.begin(), candidates.end(),
                         [&](const std::string& c) { return c.find(type) != std::string::npos; });
    };
    EXPECT_TRUE(has(a_.candidates, " typ host")) << ::testing::PrintToString(a_.candidates);
    EXPECT_TRUE(has(a_.candidates, " typ relay")) << ::testing::PrintToString(a_.candidates);
    EXPECT_TRUE(has(b_.candidates, " typ relay")) << ::testing::PrintToString(b_.candidates);
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
    EXPECT_TRUE(a_.local_pair.starts_with("host udp")) << a_.local_pair;  // host beats relay
  });
}

TEST_F(IcePair, RelayOnlyWithUnreachableTurnServerFailsInSeconds) {
  // A loopback port nobody listens on (taken and released): the allocation gets no answer.
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  ::close(fd);

  auto config = local_config(true);
  config.relay_only = true;
  config.servers = peer::ice::parse_ice_servers(nlohmann::json{
      {"urls", "turn:127.0.0.1:" + std::to_string(port)}, {"username", "u"}, {"credential", "p"}});
  auto started = Clock::now();
  loop_->run_sync([&] {
    a_.ice = IceTransport::create(*loop_, config, callbacks_for(a_, b_));
    a_.ice->gather();
  });
  auto failed = [&] {
    bool result = false;
    loop_->run_sync([&] { result = a_.ice->state() == IceState::failed; });
    return result;
  };
  ASSERT_TRUE(poll_until(failed, 6s));
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  std::printf("[ turn     ] unreachable TURN reported after %lld ms\n",
              static_cast<long long>(took.count()));
  loop_->run_sync([&] {
    ASSERT_FALSE(a_.errors.empty());
    EXPECT_NE(a_.errors[0].find("no relay candidate from TURN 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << a_.errors[0];
  });
}

// ---------------------------------------------------------------- mDNS (.local) candidates

namespace {

// One side's candidates hidden behind `<uuid>.local` names, as browsers do
// (draft-ietf-mmusic-mdns-ice-candidates), inside a network namespace of this test: a veth
// pair m0 (10.77.0.1) / m1 (10.77.0.2), both ends in it, since multicast does not work on
// `lo`. The namespace is anonymous (unshare), so it goes away with the test's last thread
// and socket in it; nothing is named that could be left behind. The test thread returns to
// the namespace it came from in TearDown.
class IceMdns : public IcePair {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: the test makes a network namespace with a veth pair";
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(home_, 0) << std::strerror(errno);
    if (::unshare(CLONE_NEWNET) != 0) {
      const int e = errno;
      ::close(home_);
      home_ = -1;
      GTEST_SKIP() << "unshare(CLONE_NEWNET) refused: " << std::strerror(e);
    }
    // accept_local: the query from 10.77.0.2 comes back in on m0 and the kernel would drop a
    // packet with a local source address.
    const int rc = std::system(
        "ip link set lo up && ip link add m0 type veth peer name m1 && "
        "ip addr add 10.77.0.1/24 dev m0 && ip addr add 10.77.0.2/24 dev m1 && "
        "ip link set m0 up && ip link set m1 up && "
        "sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.m0.accept_local=1 "
        "net.ipv4.conf.m1.accept_local=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.m0.rp_filter=0 "
        "net.ipv4.conf.m1.rp_filter=0");
    ASSERT_EQ(rc, 0) << "ip/sysctl in the test's namespace failed";
    loop_ = EventLoop::create();  // its thread starts in the namespace
  }

  void TearDown() override {
    IcePair::TearDown();
    stop_responder();
    loop_.reset();
    if (home_ >= 0) {
      EXPECT_EQ(::setns(home_, CLONE_NEWNET), 0) << std::strerror(errno);
      ::close(home_);
    }
  }

  static IceConfig config_on(const char* address, bool controlling) {
    IceConfig config;
    config.local_addresses = {address};
    config.controlling = controlling;
    return config;
  }

  // The test's mDNS responder, the counterpart of our resolver: it answers A questions for
  // the names it knows, by unicast to the querier's port (RFC 6762 section 6.7), with
  // answers written by our own core/mdns writer (so the writer is not tested independently
  // here; unit_mdns checks both sides on hand-built packets). It listens on 224.0.0.251:5353
  // joined on both veth ends.
  void start_responder() {
    responder_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(responder_fd_, 0);
    const int on = 1;
    setsockopt(responder_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(peer::mdns::kPort);
    ASSERT_EQ(::bind(responder_fd_, reinterpret_cast<sockaddr*>(&any), sizeof any), 0) << std::strerror(errno);
    for (const char* interface : {"m0", "m1"}) {
      ip_mreqn join{};
      std::memcpy(&join.imr_multiaddr, peer::mdns::kGroupV4.data(), 4);
      join.imr_ifindex = static_cast<int>(if_nametoindex(interface));
      ASSERT_EQ(setsockopt(responder_fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &join, sizeof join), 0)
          << interface << ": " << std::strerror(errno);
    }
    responder_ = std::thread([this] {
      std::array<std::byte, 9000> buffer;
      while (!stop_) {
        pollfd p{responder_fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        sockaddr_storage from{};
        socklen_t length = sizeof from;
        const ssize_t n = ::recvfrom(responder_fd_, buffer.data(), buffer.size(), 0,
                                     reinterpret_cast<sockaddr*>(&from), &length);
        if (n <= 0) continue;
        auto query = peer::mdns::Message::parse(std::span(buffer.data(), static_cast<std::size_t>(n)));
        if (!query || query->is_response()) continue;
        std::size_t at = 0;
        while (auto q = query->next_question(at)) {
          std::lock_guard lock(names_mutex_);
          for (auto& [name, known] : names_) {
            if (!q->name.equals(name)) continue;
            ++known.queries;
            if (q->type != static_cast<uint16_t>(peer::mdns::Type::a)) continue;
            std::vector<std::byte> answer;
            const peer::Address address = *peer::Address::parse(known.address, 0);
            peer::mdns::write_response(query->id(), name, peer::mdns::Type::a, std::span(&address, 1), 10, answer);
            ::sendto(responder_fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), length);
          }
        }
      }
    });
  }

  void stop_responder() {
    stop_ = true;
    if (responder_.joinable()) responder_.join();
    if (responder_fd_ >= 0) ::close(responder_fd_);
    responder_fd_ = -1;
  }

  // A's candidate line with its address replaced by a new name the responder knows (or, with
  // `answered` false, a name nobody answers).
  std::string hide(const std::string& candidate, bool answered = true) {
    auto c = peer::sdp::parse_candidate(candidate);
    const std::string name = fmt::format("4e1f6b2c-8f3a-4d2e-9c1b-{:012x}.local", ++names_made_);
    if (answered) {
      std::lock_guard lock(names_mutex_);
      names_[name] = Known{c.address, 0};
    }
    c.address = name;
    return peer::sdp::write_candidate(c);
  }

  int queries_for_all() {
    std::lock_guard lock(names_mutex_);
    int total = 0;
    for (const auto& [name, known] : names_) total += known.queries;
    return total;
  }

  // Starts both sides; A's candidates reach B only through `rewrite` (B's reach A as they are).
  // `tcp_only`: ICE-TCP on and UDP off on both sides, and B hides its own addresses too.
  void start_hidden(std::function<std::vector<std::string>(const std::string&)> rewrite, bool a_names = false,
                    bool tcp_only = false) {
    loop_->run_sync([&] {
      auto ca = callbacks_for(a_, b_);
      ca.on_candidate = [this, rewrite](const std::string& candidate) {
        a_.candidates.push_back(candidate);
        for (const auto& line : rewrite(candidate)) {
          if (b_.ice) b_.ice->add_remote_candidate(line);
        }
      };
      auto config_a = config_on("10.77.0.1", true);
      config_a.mdns_names = a_names;
      auto config_b = config_on("10.77.0.2", false);
      if (tcp_only) {
        for (auto* c : {&config_a, &config_b}) {
          c->udp = false;
          c->tcp = true;
        }
        config_b.mdns_names = true;
      }
      a_.ice = IceTransport::create(*loop_, config_a, ca);
      b_.ice = IceTransport::create(*loop_, config_b, callbacks_for(b_, a_));
      a_.ice->set_remote_credentials(b_.ice->local_ufrag(), b_.ice->local_pwd());
      b_.ice->set_remote_credentials(a_.ice->local_ufrag(), a_.ice->local_pwd());
      a_.ice->gather();
      b_.ice->gather();
    });
  }

  std::string remote_pair(Side& side) {
    std::string pair;
    loop_->run_sync([&] { pair = side.remote_pair; });
    return pair;
  }

  struct Known {
    std::string address;
    int queries = 0;
  };
  int home_ = -1;
  int responder_fd_ = -1;
  std::thread responder_;
  std::atomic<bool> stop_{false};
  std::mutex names_mutex_;
  std::map<std::string, Known> names_;
  int names_made_ = 0;
};

}  // namespace

// B gets only A's `.local` names; it asks for them and pairs with the addresses answered, so
// the selected pair's remote is A's real host candidate, not a peer-reflexive one learned
// from A's checks. Then, with the responder gone, a candidate under a name already resolved is
// used at once (the cache): B's check reaches a socket of the test at that name's address.
TEST_F(IceMdns, LocalNamesResolveToHostCandidates) {
  start_responder();
  start_hidden([this](const std::string& c) { return std::vector<std::string>{hide(c)}; });
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 10s));
  exchange(5);
  EXPECT_TRUE(poll_until([&] { return remote_pair(b_).starts_with("host udp 10.77.0.1:"); }, 5s))
      << "B's selected remote: " << remote_pair(b_);
  EXPECT_GE(queries_for_all(), 1);
  loop_->run_sync([&] {
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
    EXPECT_TRUE(b_.errors.empty()) << ::testing::PrintToString(b_.errors);
    for (auto st : b_.states) EXPECT_NE(st, IceState::failed);
  });

  // The cache: no responder now; the same name with another port still reaches that port.
  stop_responder();
  const int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(probe, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  inet_pton(AF_INET, "10.77.0.1", &at.sin_addr);
  socklen_t length = sizeof at;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&at), &length), 0);
  std::string name;
  {
    std::lock_guard lock(names_mutex_);
    name = names_.begin()->first;
  }
  loop_->run_sync([&] {
    b_.ice->add_remote_candidate(fmt::format("candidate:77 1 udp 2122252543 {} {} typ host", name,
                                             ntohs(at.sin_port)));
  });
  pollfd p{probe, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 5000), 1) << "no check from B at the cached address";
  std::array<std::byte, 1500> check{};
  if (p.revents & POLLIN) {
    const auto n = ::recv(probe, check.data(), check.size(), 0);
    ASSERT_GE(n, 20);
    EXPECT_EQ(check[0], std::byte{0x00});  // a STUN Binding request
    EXPECT_EQ(check[1], std::byte{0x01});
  }
  ::close(probe);
}

// "ice-mdns": A signals its host candidate as a `<uuid>.local` name and answers B's
// question for it itself (MdnsResponder, on 5353 in the group); B resolves it and pairs with
// A's real host address. No test responder runs here: the name is answered by A or not at all.
TEST_F(IceMdns, OurOwnHostNamesAreAnsweredByOurResponder) {
  start_hidden([](const std::string& c) { return std::vector<std::string>{c}; }, true);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 10s));
  exchange(5);
  EXPECT_TRUE(poll_until([&] { return remote_pair(b_).starts_with("host udp 10.77.0.1:"); }, 5s))
      << "B's selected remote: " << remote_pair(b_);
  loop_->run_sync([&] {
    ASSERT_FALSE(a_.candidates.empty());
    for (const auto& c : a_.candidates) {
      const auto parsed = peer::sdp::parse_candidate(c);
      EXPECT_TRUE(std::regex_match(parsed.address, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\.local")))
          << c;
      EXPECT_EQ(c.find("10.77.0.1"), std::string::npos) << "the address leaked: " << c;
    }
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
    EXPECT_TRUE(b_.errors.empty()) << ::testing::PrintToString(b_.errors);
  });
}

// ICE-TCP candidates behind names (RFC 6544 with draft-ietf-mmusic-mdns-ice-candidates): with
// UDP off and both sides hiding their addresses, the connection comes up only if each side
// resolves the other's .local TCP candidates (our responder answers; the active side then
// connects to the passive one).
TEST_F(IceMdns, TcpCandidatesBehindNamesAreResolved) {
  start_hidden([](const std::string& c) { return std::vector<std::string>{c}; }, true, true);
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 10s))
      << "A's candidates: " << ::testing::PrintToString(a_.candidates);
  exchange(5);
  loop_->run_sync([&] {
    ASSERT_FALSE(a_.candidates.empty());
    for (const auto& c : a_.candidates) {
      EXPECT_NE(c.find(" tcp "), std::string::npos) << c;
      EXPECT_NE(c.find(".local"), std::string::npos) << c;
    }
    EXPECT_TRUE(a_.errors.empty()) << ::testing::PrintToString(a_.errors);
    EXPECT_TRUE(b_.errors.empty()) << ::testing::PrintToString(b_.errors);
  });
}

// A name nobody answers is given up (after the resolver's timeout) without an error and
// without holding up the candidates that do resolve, nor the remote end-of-candidates for
// good: the connection comes up over the answered name, and stays up after the give-up.
// The resolver's socket exists only once a .local candidate came and closes with the
// transport.
// The responder answers the link only (RFC 6762 sections 5.5, 11): a unicast query for our
// name from an address outside the named address's subnet (the remote of a call, which
// knows our public address, must not learn the private one) gets nothing; the same query
// from inside the subnet gets a legacy answer (ID and question repeated, no cache-flush
// bit, TTL <= 10 s, section 6.7).
TEST_F(IceMdns, OurResponderAnswersUnicastQueriesFromTheLinkOnly) {
  ASSERT_EQ(std::system("ip addr add 192.0.2.9/32 dev lo"), 0);
  std::unique_ptr<peer::ice::MdnsResponder> responder;
  std::string name;
  loop_->run_sync([&] {
    responder = std::make_unique<peer::ice::MdnsResponder>(*loop_, std::vector<peer::Address>{*peer::Address::parse("10.77.0.1", 0)});
    name = responder->name_of(*peer::Address::parse("10.77.0.1", 7)).value_or("");
  });
  ASSERT_FALSE(name.empty());
  auto ask_from = [&](const char* source) -> std::optional<std::vector<std::byte>> {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from), 0) << source;
    std::vector<std::byte> query;
    peer::mdns::write_query(name, peer::mdns::Type::a, query);
    query[0] = std::byte{0x12};  // an ID the legacy answer must repeat
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(peer::mdns::kPort);
    inet_pton(AF_INET, "10.77.0.1", &to.sin_addr);
    ::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    pollfd p{fd, POLLIN, 0};
    std::optional<std::vector<std::byte>> answer;
    if (::poll(&p, 1, 700) == 1) {
      std::vector<std::byte> buffer(9000);
      const auto n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n > 0) answer = std::vector<std::byte>(buffer.begin(), buffer.begin() + n);
    }
    ::close(fd);
    return answer;
  };
  EXPECT_FALSE(ask_from("192.0.2.9").has_value()) << "answered a query from off the link";
  const auto answer = ask_from("10.77.0.2");
  ASSERT_TRUE(answer.has_value()) << "no answer to a query from the link";
  const auto message = peer::mdns::Message::parse(*answer);
  ASSERT_TRUE(message);
  EXPECT_EQ(message->id() >> 8, 0x12);
  EXPECT_EQ(message->question_count(), 1);
  std::vector<peer::Address> got;
  peer::mdns::addresses_for(*message, name, got);
  EXPECT_EQ(got, std::vector<peer::Address>{*peer::Address::parse("10.77.0.1", 0)});
  std::size_t at = 0;
  (void)message->next_question(at);
  const auto record = message->next_record(at);
  ASSERT_TRUE(record);
  EXPECT_FALSE(record->cache_flush);
  EXPECT_LE(record->ttl, 10u);
  loop_->run_sync([&] { responder.reset(); });
}

TEST_F(IceMdns, AnUnansweredNameDoesNotBreakTheConnection) {
  start_responder();
  const int before = count_socket_fds();
  start_hidden([this](const std::string& c) {
    return std::vector<std::string>{hide(c, false), hide(c)};
  });
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 10s));
  exchange(3);
  EXPECT_TRUE(poll_until([&] { return remote_pair(b_).starts_with("host udp 10.77.0.1:"); }, 5s))
      << "B's selected remote: " << remote_pair(b_);
  // 2 transports x 1 UDP socket + B's resolver: its query socket and its listener on the
  // group (A got no .local candidate: none).
  EXPECT_EQ(count_socket_fds(), before + 4);
  // Past the resolver's timeout the unanswered name is dropped; still connected, no error.
  std::this_thread::sleep_for(peer::ice::MdnsResolver::kTimeout + 500ms);
  loop_->run_sync([&] {
    a_.received.clear();
    b_.received.clear();
  });
  exchange(3);
  EXPECT_TRUE(connected(a_) && connected(b_));
  loop_->run_sync([&] {
    EXPECT_TRUE(b_.errors.empty()) << ::testing::PrintToString(b_.errors);
    for (auto st : b_.states) EXPECT_NE(st, IceState::failed);
    a_.ice.reset();
    b_.ice.reset();
  });
  EXPECT_EQ(count_socket_fds(), before);
}

// Without a namespace: on loopback-only transports the resolver has no interface to ask on
// (lo has no multicast), so a .local candidate is accepted and given up at once; the
// connection goes on over the other candidates, and the remote's end-of-candidates is not
// held back.
TEST_F(IcePair, LocalNameWithNoMulticastInterfaceIsDroppedQuietly) {
  loop_->run_sync([&] {
    auto cb = callbacks_for(b_, a_);
    a_.ice = IceTransport::create(*loop_, local_config(true), callbacks_for(a_, b_));
    b_.ice = IceTransport::create(*loop_, local_config(false), cb);
    a_.ice->set_remote_credentials(b_.ice->local_ufrag(), b_.ice->local_pwd());
    b_.ice->set_remote_credentials(a_.ice->local_ufrag(), a_.ice->local_pwd());
    b_.ice->add_remote_candidate("candidate:9 1 udp 2122252543 0a7d5e3f-2b19-4e1f-8f3a-4d2e9c1b0000.local 9 typ host");
    a_.ice->gather();
    b_.ice->gather();
  });
  ASSERT_TRUE(poll_until([&] { return connected(a_) && connected(b_); }, 5s));
  exchange(3);
  loop_->run_sync([&] {
    EXPECT_TRUE(b_.errors.empty()) << ::testing::PrintToString(b_.errors);
    EXPECT_TRUE(b_.remote_pair.starts_with("host udp 127.0.0.1:")) << b_.remote_pair;
  });
}
