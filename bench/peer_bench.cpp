// peer-bench: two peers in one process over loopback UDP, through the public API only.
//
//   peer-bench [--only setup|throughput|rtt|memory|scale|media-rtt]... [--seconds N] [--rtt-count N]
//              [--pairs N] [--setup-runs N] [--quick]
//
// Prints one JSON object on stdout; progress and problems go to stderr. See README.md,
// "Benchmarks", for what each number means.

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <peer/channel.hpp>
#include <peer/connect.hpp>
#include <peer/media.hpp>
#include <peer/peer.hpp>

namespace {

using peer::Channel;
using peer::json;
using peer::Message;
using peer::Peer;
using peer::Subscription;
using ojson = nlohmann::ordered_json;  // the output keeps its keys in this order
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Problems the benchmark saw (timeouts, failures, lost or reordered messages): printed on
// stderr when they happen and listed under "errors" in the JSON, never hidden.
std::vector<std::string> g_errors;
std::mutex g_errors_mutex;
void report(const std::string& what) {
  std::fprintf(stderr, "peer-bench: ERROR: %s\n", what.c_str());
  std::lock_guard lock(g_errors_mutex);
  g_errors.push_back(what);
}
void note(const std::string& what) {
  std::fprintf(stderr, "peer-bench: %s\n", what.c_str());
}

// Nearest-rank percentile of sorted values, p in (0, 1].
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}
double median(const std::vector<double>& sorted) {
  if (sorted.empty()) return 0;
  const std::size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}
double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Two connected peers with one channel of the same label on each side. Heap-allocated so
// that callbacks may hold its address.
struct Pair {
  std::optional<Peer> a, b;
  std::optional<Channel> ca, cb;
  std::vector<Subscription> subs;
  std::mutex mutex;
  std::condition_variable changed;
  int open = 0, created = 0, connected = 0;
  bool failed = false;
  std::string name;
  // When the last of the two peers emitted "create", reached connection "connected", and
  // saw "channel open".
  Clock::time_point created_at, connected_at, open_at;

  // Creates both peers (timing starts before this is called), wires them with connect and
  // waits until the channel is open on both sides. False (and an error reported) on
  // timeout or failure.
  bool start(const std::string& label, double timeout_s, peer::ChannelOptions options = {}) {
    begin(label, options);
    return wait_open(timeout_s);
  }

  // start() in two halves: begin() returns at once, wait_open() waits for both channels.
  // `before_connect(a)`: e.g. a track, which must be added before the first offer.
  void begin(const std::string& label, peer::ChannelOptions options = {},
             const std::function<void(Peer&)>& before_connect = {}) {
    a.emplace();
    b.emplace();
    for (Peer* p : {&*a, &*b}) p->set("addresses", json::array({"127.0.0.1"}));
    ca = a->use(peer::channel(label, options));
    cb = b->use(peer::channel(label, options));
    for (Channel* c : {&*ca, &*cb}) {
      subs.push_back(c->on("channel open", [this] {
        std::lock_guard lock(mutex);
        if (++open == 2) open_at = Clock::now();
        changed.notify_all();
      }));
    }
    for (Peer* p : {&*a, &*b}) {
      const char* who = p == &*a ? "offerer" : "answerer";
      subs.push_back(p->on("error", [this, who](const json& e) {
        report(name + ": " + who + " error event " + e.dump());
      }));
      subs.push_back(p->on("create", [this] {
        std::lock_guard lock(mutex);
        if (++created == 2) created_at = Clock::now();
      }));
      subs.push_back(p->on("change connection", [this](const json& state) {
        std::lock_guard lock(mutex);
        if (state == "connected" && ++connected == 2) connected_at = Clock::now();
        if (state != "failed") return;
        failed = true;
        changed.notify_all();
      }));
    }
    if (before_connect) before_connect(*a);
    a->use(peer::connect(*b));
  }

  bool wait_open(double timeout_s) {
    std::unique_lock lock(mutex);
    const bool ok = changed.wait_for(lock, std::chrono::duration<double>(timeout_s), [this] {
      return open >= 2 || failed;
    }) && !failed;
    if (!ok) {
      const int opened = open;
      lock.unlock();
      report(name + ": channel not open on both sides after " + std::to_string(timeout_s) + " s (" +
             std::to_string(opened) + " of 2 'channel open'" +
             (failed ? ", connection failed" : "") + "); offerer " + state(*a) + ", answerer " +
             state(*b) + ", channel states " + std::string(ca->state()) + "/" +
             std::string(cb->state()));
    }
    return ok;
  }

  static std::string state(const Peer& p) {
    json s;
    for (const char* k : {"ice", "dtls", "connection"}) s[k] = p.get(k);
    return s.dump();
  }

  void close() {
    subs.clear();
    if (a) a->close();
    if (b) b->close();
    ca.reset();
    cb.reset();
    a.reset();
    b.reset();
  }
  ~Pair() { close(); }
};

struct Options {
  std::set<std::string> only;
  double seconds = 8;
  int rtt_count = 10000;
  int pairs = 100;
  int setup_runs = 50;
  double timeout_s = 10;
  std::size_t high_water = 4u << 20;
  std::size_t low_water = 1u << 20;
};

// 1. Setup: Peer construction (certificate included) to "channel open" on both sides.
ojson bench_setup(const Options& o) {
  std::vector<double> ms, created_ms, connected_ms, runs;
  int failures = 0;
  for (int i = 0; i < o.setup_runs; ++i) {
    auto pair = std::make_unique<Pair>();
    pair->name = "setup run " + std::to_string(i + 1);
    const auto t0 = Clock::now();
    const bool ok = pair->start("setup", o.timeout_s);
    const double elapsed = seconds_since(t0) * 1e3;
    pair->close();
    if (ok) {
      auto since = [t0](Clock::time_point t) {
        return std::chrono::duration<double>(t - t0).count() * 1e3;
      };
      ms.push_back(elapsed);
      runs.push_back(round_to(elapsed, 2));
      created_ms.push_back(since(pair->created_at));
      connected_ms.push_back(since(pair->connected_at));
    } else {
      ++failures;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::sort(created_ms.begin(), created_ms.end());
  std::sort(connected_ms.begin(), connected_ms.end());
  note("setup: median " + std::to_string(median(ms)) + " ms, max " +
       std::to_string(ms.empty() ? 0 : ms.back()) + " ms over " + std::to_string(ms.size()) +
       " runs");
  ojson r = {{"median", round_to(median(ms), 3)},
             {"p90", round_to(percentile(ms, 0.9), 3)},
             {"max", round_to(ms.empty() ? 0 : ms.back(), 3)},
             {"min", round_to(ms.empty() ? 0 : ms.front(), 3)},
             {"runs", ms.size()},
             // Medians of when both peers had emitted "create" (certificate made), when
             // both reached connection "connected" (ICE + DTLS), counted from the start.
             {"phases_median",
              {{"created", round_to(median(created_ms), 3)},
               {"connected", round_to(median(connected_ms), 3)},
               {"channel_open", round_to(median(ms), 3)}}},
             {"all", runs}};
  if (failures) r["failures"] = failures;
  return r;
}

// 2. Throughput of one reliable ordered channel, message_bytes per message, for o.seconds.
// Every message carries its sequence number in its first 8 bytes; the receiver checks size
// and order.
ojson bench_throughput(const Options& o, std::size_t message_bytes) {
  auto pair = std::make_unique<Pair>();
  pair->name = "throughput " + std::to_string(message_bytes);
  ojson r = {{"message_bytes", message_bytes}, {"seconds", o.seconds}};
  if (!pair->start("bulk", o.timeout_s)) {
    r["error"] = "channel did not open";
    return r;
  }
  Channel& tx = *pair->ca;
  Channel& rx = *pair->cb;

  std::atomic<std::uint64_t> received_bytes{0}, received_messages{0};
  std::atomic<std::uint64_t> bad_size{0}, out_of_order{0};
  std::uint64_t expected = 0;  // touched only on the loop thread
  pair->subs.push_back(rx.on_message([&](const Message& m) {
    const auto bytes = m.bytes();
    if (bytes.size() != message_bytes) bad_size.fetch_add(1, std::memory_order_relaxed);
    if (bytes.size() >= 8) {
      std::uint64_t seq;
      std::memcpy(&seq, bytes.data(), 8);
      if (seq != expected) out_of_order.fetch_add(1, std::memory_order_relaxed);
      expected = seq + 1;
    }
    received_bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
    received_messages.fetch_add(1, std::memory_order_release);
  }));
  std::mutex mutex;
  std::condition_variable low;
  bool low_seen = false;
  std::uint64_t low_events = 0;
  pair->subs.push_back(tx.on("bufferedamountlow", [&] {
    std::lock_guard lock(mutex);
    low_seen = true;
    ++low_events;
    low.notify_all();
  }));
  tx.buffered_amount_low_threshold(o.low_water);

  std::vector<std::byte> block(message_bytes);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<std::byte>(i * 131 + 7);
  std::uint64_t sent = 0;
  std::uint64_t waits = 0, low_without_event = 0;

  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mutex);
      low_seen = false;
    }
    if (tx.buffered_amount() >= o.high_water) {
      ++waits;
      std::unique_lock lock(mutex);
      // Until "bufferedamountlow"; buffered_amount() is polled too, so a late or missing
      // event costs at most 5 ms and is counted.
      while (!low_seen && Clock::now() < deadline) {
        if (low.wait_for(lock, std::chrono::milliseconds(5), [&] { return low_seen; })) break;
        if (tx.buffered_amount() <= o.low_water) {
          ++low_without_event;
          break;
        }
      }
      continue;
    }
    std::memcpy(block.data(), &sent, 8);
    tx.send(std::span<const std::byte>(block));
    ++sent;
  }
  const double elapsed = seconds_since(t0);
  const std::uint64_t delivered = received_bytes.load();
  const double cpu = cpu_seconds() - cpu0;

  // Then everything sent must arrive: wait for the rest (not counted in the rate).
  const auto drain0 = Clock::now();
  while (received_messages.load(std::memory_order_acquire) < sent &&
         seconds_since(drain0) < o.timeout_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const std::uint64_t got = received_messages.load();
  if (got != sent) {
    report(pair->name + ": sent " + std::to_string(sent) + " messages, " + std::to_string(got) +
           " arrived within " + std::to_string(o.timeout_s) + " s after the sender stopped" +
           " (buffered_amount " + std::to_string(tx.buffered_amount()) + ")");
  }
  if (bad_size)
    report(pair->name + ": " + std::to_string(bad_size.load()) + " wrong-size messages");
  if (out_of_order)
    report(pair->name + ": " + std::to_string(out_of_order.load()) + " messages out of order");
  pair->close();

  const double gb = static_cast<double>(delivered) / 1e9;
  r["mb_per_s"] = round_to(static_cast<double>(delivered) / 1e6 / elapsed, 2);
  r["cpu_s_per_gb"] = gb > 0 ? round_to(cpu / gb, 3) : 0.0;
  r["delivered_bytes"] = delivered;
  r["sent_messages"] = sent;
  r["arrived_messages"] = got;
  r["sender_waits"] = waits;
  r["low_without_event"] = low_without_event;
  {
    std::lock_guard lock(mutex);
    r["low_events"] = low_events;
  }
  note("throughput " + std::to_string(message_bytes) + " B: " + r["mb_per_s"].dump() + " MB/s, " +
       r["cpu_s_per_gb"].dump() + " CPU s/GB");
  return r;
}

ojson round_trips(Pair& pair, const Options& o);

// 3. Round trips of 32 bytes, one at a time. The echo side replies inside its on_message;
// this thread spins briefly on the reply counter, then sleeps on a condition variable.
ojson bench_rtt(const Options& o) {
  auto pair = std::make_unique<Pair>();
  pair->name = "rtt";
  ojson r = {{"count", o.rtt_count}};
  if (!pair->start("rtt", o.timeout_s)) {
    r["error"] = "channel did not open";
    return r;
  }
  return round_trips(*pair, o);
}

// 6. The data channel RTT of one pair while another pair of the same process (same loop)
// sends 640x480 VP8 at 30 fps: once with the encoder on the loop (Peer::set_media_workers(0)),
// once on the worker pool. `rtt_us` as in 3, for each.
ojson bench_media_rtt(const Options& o) {
  ojson r;
  for (const bool workers : {false, true}) {
    peer::Peer::set_media_workers(workers ? 2 : 0);
    auto video = std::make_unique<Pair>();
    video->name = "media-rtt video";
    video->begin("v", {}, [](Peer& sender) { sender.use(peer::video(peer::VideoOptions{})); });
    if (!video->wait_open(o.timeout_s)) return {{"error", "the video pair did not connect"}};
    std::this_thread::sleep_for(std::chrono::seconds(1));  // frames flowing
    auto ping = std::make_unique<Pair>();
    ping->name = "media-rtt ping";
    if (!ping->start("rtt", o.timeout_s)) return {{"error", "the ping pair did not connect"}};
    r[workers ? "encode_on_workers" : "encode_on_loop"] = round_trips(*ping, o);
    ping->close();
    video->close();
  }
  note("media-rtt: " + r.dump());
  return r;
}

ojson round_trips(Pair& pair_ref, const Options& o) {
  Pair* pair = &pair_ref;
  ojson r = {{"count", o.rtt_count}};
  Channel& ping = *pair->ca;
  Channel& echo = *pair->cb;
  Channel* echo_ptr = &echo;
  pair->subs.push_back(
      echo.on_message([echo_ptr](const Message& m) { echo_ptr->send(m.bytes()); }));
  std::atomic<std::uint64_t> replies{0};
  std::atomic<std::uint64_t> bad{0};
  std::mutex mutex;
  std::condition_variable replied;
  pair->subs.push_back(ping.on_message([&](const Message& m) {
    if (m.bytes().size() != 32) bad.fetch_add(1);
    replies.fetch_add(1, std::memory_order_release);
    std::lock_guard lock(mutex);
    replied.notify_all();
  }));

  std::vector<std::byte> payload(32, std::byte{'p'});
  const int warmup = std::min(100, o.rtt_count);
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(o.rtt_count));
  for (int i = 0; i < warmup + o.rtt_count; ++i) {
    const std::uint64_t want = static_cast<std::uint64_t>(i) + 1;
    const auto t0 = Clock::now();
    ping.send(std::span<const std::byte>(payload));
    bool ok = replies.load(std::memory_order_acquire) >= want;
    while (!ok && Clock::now() - t0 < std::chrono::microseconds(200)) {
      ok = replies.load(std::memory_order_acquire) >= want;
    }
    if (!ok) {
      std::unique_lock lock(mutex);
      ok = replied.wait_for(lock, std::chrono::duration<double>(o.timeout_s),
                            [&] { return replies.load(std::memory_order_acquire) >= want; });
    }
    const double elapsed = seconds_since(t0) * 1e6;
    if (!ok) {
      report("rtt: no reply to round trip " + std::to_string(i + 1) + " within " +
             std::to_string(o.timeout_s) + " s (" + std::to_string(replies.load()) +
             " replies so far); stopped");
      break;
    }
    if (i >= warmup) us.push_back(elapsed);
  }
  if (bad) report("rtt: " + std::to_string(bad.load()) + " replies of the wrong size");
  pair->close();
  std::sort(us.begin(), us.end());
  r = {{"median", round_to(median(us), 1)},
       {"p99", round_to(percentile(us, 0.99), 1)},
       {"min", round_to(us.empty() ? 0 : us.front(), 1)},
       {"max", round_to(us.empty() ? 0 : us.back(), 1)},
       {"count", us.size()}};
  note("rtt: median " + r["median"].dump() + " us, p99 " + r["p99"].dump() + " us");
  return r;
}

// 4. RSS growth over o.pairs connected pairs (one open channel each), per peer. One extra
// pair stays connected while the baseline is taken, so the shared event loop thread and
// one-time library initialisation are not charged to the measured peers.
ojson bench_memory(const Options& o) {
  ojson r;
  auto anchor = std::make_unique<Pair>();
  anchor->name = "memory anchor";
  if (!anchor->start("mem", o.timeout_s)) {
    r["error"] = "anchor pair did not connect";
    return r;
  }
  malloc_trim(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t before = rss_bytes();
  std::vector<std::unique_ptr<Pair>> pairs;
  int failures = 0;
  for (int i = 0; i < o.pairs; ++i) {
    auto pair = std::make_unique<Pair>();
    pair->name = "memory pair " + std::to_string(i + 1);
    if (!pair->start("mem", o.timeout_s)) ++failures;
    pairs.push_back(std::move(pair));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::uint64_t after = rss_bytes();
  // Connections quiet for a second give their buffers back (PeerImpl::trim_when_idle);
  // malloc_trim as before the baseline, so freed heap is not counted either time.
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  malloc_trim(0);
  const std::uint64_t after_idle = rss_bytes();
  const auto t0 = Clock::now();
  for (auto& p : pairs) p->close();
  pairs.clear();
  anchor->close();
  const double peers = 2.0 * o.pairs;
  const double kib = after > before ? static_cast<double>(after - before) / 1024.0 / peers : 0;
  const double kib_idle =
      after_idle > before ? static_cast<double>(after_idle - before) / 1024.0 / peers : 0;
  r = {{"kib_per_peer", round_to(kib, 1)},
       {"kib_per_peer_idle", round_to(kib_idle, 1)},
       {"pairs", o.pairs},
       {"rss_before_kib", before / 1024},
       {"rss_after_kib", after / 1024},
       {"rss_after_idle_kib", after_idle / 1024},
       {"close_all_ms", round_to(seconds_since(t0) * 1e3, 1)}};
  if (failures) r["failures"] = failures;
  note("memory: " + r["kib_per_peer"].dump() + " KiB per peer over " + std::to_string(o.pairs) +
       " pairs");
  return r;
}

// 5. Scale (the scale issue's goals): o.pairs pairs started at once in one process, one
// channel each. Measures when every channel is open, the whole process's CPU while all sit
// idle, one echo on every channel at once (each pair's round trip, sent back to back from
// this thread), RSS per idle peer and the time to close them all.
ojson bench_scale(const Options& o) {
  ojson r = {{"pairs", o.pairs}};
  malloc_trim(0);
  const std::uint64_t rss_before = rss_bytes();
  std::vector<std::unique_ptr<Pair>> pairs;
  pairs.reserve(static_cast<std::size_t>(o.pairs));
  const auto t0 = Clock::now();
  for (int i = 0; i < o.pairs; ++i) {
    auto pair = std::make_unique<Pair>();
    pair->name = "scale pair " + std::to_string(i + 1);
    pair->begin("scale");
    pairs.push_back(std::move(pair));
  }
  const double started_s = seconds_since(t0);
  int failures = 0;
  std::vector<double> open_ms;
  for (auto& p : pairs) {
    const double left = std::max(0.1, o.timeout_s * 6 - seconds_since(t0));
    if (!p->wait_open(left)) {
      ++failures;
      continue;
    }
    open_ms.push_back(std::chrono::duration<double>(p->open_at - t0).count() * 1e3);
  }
  std::sort(open_ms.begin(), open_ms.end());
  r["create_all_s"] = round_to(started_s, 3);
  r["all_open_s"] = round_to(open_ms.empty() ? 0 : open_ms.back() / 1e3, 3);
  r["open_median_s"] = round_to(median(open_ms) / 1e3, 3);
  r["open_failures"] = failures;

  // Idle: connections quiet for a second give their buffers back (PeerImpl::trim_when_idle).
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  malloc_trim(0);
  const std::uint64_t rss_idle = rss_bytes();
  const double idle_seconds = std::max(2.0, std::min(o.seconds, 10.0));
  const double cpu0 = cpu_seconds();
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_seconds));
  r["idle_cpu_cores"] = round_to((cpu_seconds() - cpu0) / seconds_since(w0), 4);
  r["kib_per_idle_peer"] =
      round_to(rss_idle > rss_before ? static_cast<double>(rss_idle - rss_before) / 1024.0 / (2.0 * o.pairs) : 0, 1);

  // One echo on every channel at once.
  struct Echo {
    Clock::time_point sent;
    std::atomic<double> rtt_ms{-1};
  };
  std::vector<Echo> echoes(pairs.size());
  std::atomic<int> replies{0};
  std::mutex mutex;
  std::condition_variable all_back;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    Pair& p = *pairs[i];
    if (!p.cb || !p.ca) continue;
    Channel* echo = &*p.cb;
    p.subs.push_back(echo->on_message([echo](const Message& m) { echo->send(m.bytes()); }));
    p.subs.push_back(p.ca->on_message([&, i](const Message&) {
      echoes[i].rtt_ms = std::chrono::duration<double>(Clock::now() - echoes[i].sent).count() * 1e3;
      if (replies.fetch_add(1) + 1 == static_cast<int>(pairs.size())) {
        std::lock_guard lock(mutex);
        all_back.notify_all();
      }
    }));
  }
  const std::vector<std::byte> payload(32, std::byte{'e'});
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    echoes[i].sent = Clock::now();
    pairs[i]->ca->send(std::span<const std::byte>(payload));
  }
  {
    std::unique_lock lock(mutex);
    all_back.wait_for(lock, std::chrono::duration<double>(o.timeout_s),
                      [&] { return replies.load() >= static_cast<int>(pairs.size()); });
  }
  std::vector<double> rtt;
  for (auto& e : echoes) {
    if (e.rtt_ms >= 0) rtt.push_back(e.rtt_ms);
  }
  std::sort(rtt.begin(), rtt.end());
  if (rtt.size() < pairs.size()) {
    report("scale: " + std::to_string(pairs.size() - rtt.size()) + " of " + std::to_string(pairs.size()) +
           " echoes did not come back within " + std::to_string(o.timeout_s) + " s");
  }
  r["echo_ms"] = {{"median", round_to(median(rtt), 2)},
                  {"p99", round_to(percentile(rtt, 0.99), 2)},
                  {"max", round_to(rtt.empty() ? 0 : rtt.back(), 2)},
                  {"count", rtt.size()}};

  const auto c0 = Clock::now();
  for (auto& p : pairs) p->close();
  pairs.clear();
  r["close_all_s"] = round_to(seconds_since(c0), 3);
  note("scale: " + r.dump());
  return r;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "";
}

[[noreturn]] void usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: peer-bench [--only setup|throughput|rtt|memory|scale|media-rtt]... [--seconds N]\n"
               "                  [--rtt-count N] [--pairs N] [--setup-runs N] [--quick]\n"
               "Two peers in one process over loopback UDP; one JSON object on stdout.\n"
               "  --only K        run only this measurement (repeatable; default: all)\n"
               "  --loops N       event-loop threads the peers are spread over (default 1)\n"
               "  --seconds N     throughput duration per message size (default 8)\n"
               "  --rtt-count N   32-byte round trips (default 10000)\n"
               "  --pairs N       connected pairs for the memory and scale measurements (default 100)\n"
               "  --setup-runs N  sequential setups (default 50)\n"
               "  --timeout N     seconds to wait for any one step (default 10)\n"
               "  --quick         smoke run: 5 setups, 1 s, 500 round trips, 10 pairs\n");
  std::exit(code);
}

Options parse(int argc, char** argv) {
  Options o;
  auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) usage(2);
    return argv[++i];
  };
  auto number = [&](int& i) -> double {
    const std::string v = value(i);
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || d <= 0) {
      std::fprintf(stderr, "peer-bench: %s wants a positive number, not '%s'\n", argv[i - 1],
                   v.c_str());
      usage(2);
    }
    return d;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--only") {
      const std::string k = value(i);
      if (k != "setup" && k != "throughput" && k != "rtt" && k != "memory" && k != "scale" && k != "media-rtt") usage(2);
      o.only.insert(k);
    } else if (arg == "--seconds") {
      o.seconds = number(i);
    } else if (arg == "--rtt-count") {
      o.rtt_count = static_cast<int>(number(i));
    } else if (arg == "--pairs") {
      o.pairs = static_cast<int>(number(i));
    } else if (arg == "--setup-runs") {
      o.setup_runs = static_cast<int>(number(i));
    } else if (arg == "--timeout") {
      o.timeout_s = number(i);
    } else if (arg == "--loops") {
      peer::Peer::set_loops(static_cast<std::size_t>(number(i)));
    } else if (arg == "--quick") {
      o.setup_runs = 5;
      o.seconds = 1;
      o.rtt_count = 500;
      o.pairs = 10;
    } else if (arg == "--help" || arg == "-h") {
      usage(0);
    } else {
      std::fprintf(stderr, "peer-bench: unknown argument '%s'\n", arg.c_str());
      usage(2);
    }
  }
  return o;
}

}  // namespace

double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const double load_before = load_average();
  auto wanted = [&](const char* k) { return o.only.empty() || o.only.count(k) > 0; };
  ojson out = ojson::object();
  try {
    if (wanted("setup")) out["setup_ms"] = bench_setup(o);
    if (wanted("throughput")) {
      out["throughput"] = ojson::array();
      for (std::size_t size : {std::size_t{16384}, std::size_t{65536}})
        out["throughput"].push_back(bench_throughput(o, size));
    }
    if (wanted("rtt")) out["rtt_us"] = bench_rtt(o);
    if (wanted("memory")) {
      ojson m = bench_memory(o);
      out["memory_kib_per_peer"] = m.value("kib_per_peer", ojson());
      out["memory"] = std::move(m);
    }
    // Not part of the default run (it holds thousands of peers): --only scale.
    if (o.only.count("scale") > 0) out["scale"] = bench_scale(o);
    if (o.only.count("media-rtt") > 0) out["media_rtt_us"] = bench_media_rtt(o);
  } catch (const std::exception& e) {
    report(std::string("exception: ") + e.what());
  }
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  // Other work on the machine skews every number: the 1-minute load average before and
  // after the run tells how quiet it was.
  out["machine"] = {{"cores", std::thread::hardware_concurrency()},
                    {"cpu", cpu_model()},
                    {"date", date},
                    {"loadavg_before", load_before},
                    {"loadavg_after", load_average()}};
  {
    std::lock_guard lock(g_errors_mutex);
    out["errors"] = g_errors;
  }
  std::printf("%s\n", out.dump().c_str());
  return g_errors.empty() ? 0 : 1;
}
