// `peer demo`: two peers in one process connect over loopback and print what happened,
// with the time of each step (candidates, ICE checks and pair, DTLS handshake, channels),
// then exchange messages and move a bulk transfer over a data channel, ending with a
// summary: setup time, throughput, round-trip time, and the sha-256 of both ends.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "util.hpp"
#include "peer/channel.hpp"
#include "peer/connect.hpp"
#include "peer/peer.hpp"

namespace peer::tools {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

struct Timeline {
  Clock::time_point start = Clock::now();
  std::mutex mutex;
  std::condition_variable changed;
  int connected = 0;
  int channels_open = 0;
  bool failed = false;
  bool quiet = false;

  void print(std::string_view who, std::string_view what) {
    if (quiet) return;
    std::lock_guard lock(mutex);
    std::printf("%9.3f ms  %-6s %.*s\n", ms_since(start), std::string(who).c_str(),
                static_cast<int>(what.size()), what.data());
    std::fflush(stdout);
  }
  template <class Pred>
  bool wait(Pred pred, double seconds) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, std::chrono::duration<double>(seconds),
                            [&] { return failed || pred(); });
  }
};

int run_demo(const std::string& address, double timeout_s, bool client_offers, std::uint64_t mib,
             bool quiet, bool ice_tcp, std::size_t loops) {
  Peer::set_loops(loops);  // the two peers on their own threads (round-robin)
  Timeline timeline;
  timeline.quiet = quiet;
  Peer offerer;
  Peer answerer;
  for (Peer* p : {&offerer, &answerer}) {
    p->set("addresses", json::array({address}));
    p->set("ice-tcp", ice_tcp);
  }

  std::vector<Subscription> subs;
  auto watch = [&](Peer& p, const char* who) {
    subs.push_back(p.on("change", [&timeline, who](const json& key, const json& value) {
      const std::string k = key.get<std::string>();
      if (k == "local" || k == "remote" || k == "servers" || k == "addresses") return;
      timeline.print(who, fmt::format("{} = {}", k,
                                      value.is_string() ? value.get<std::string>() : value.dump()));
    }));
    subs.push_back(p.on("candidate", [&timeline, who](const json& c) {
      timeline.print(who, fmt::format("candidate {}", c["candidate"].get<std::string>()));
    }));
    subs.push_back(p.on("channel open", [&timeline, who](const json& c) {
      timeline.print(who, fmt::format("channel open {}", c.dump()));
    }));
    subs.push_back(p.on("error", [&timeline, who](const json& e) {
      timeline.print(who, fmt::format("error {}: {}", e["code"].get<std::string>(),
                                      e["message"].get<std::string>()));
    }));
    subs.push_back(p.on("change connection", [&timeline](const json& value) {
      std::lock_guard lock(timeline.mutex);
      if (value == "connected") ++timeline.connected;
      if (value == "failed") timeline.failed = true;
      timeline.changed.notify_all();
    }));
  };
  watch(offerer, "offer");
  watch(answerer, "answer");
  if (client_offers) answerer.set("optional", json{{"setup", "passive"}});

  // Messages: the answerer echoes every message of the "demo" channel.
  Channel chat = offerer.use(channel("demo"));
  Channel echo = answerer.use(channel("demo"));
  std::vector<std::string> heard;
  double rtt_sum = 0;
  std::vector<double> rtts;
  Clock::time_point ping_sent;
  subs.push_back(echo.on_message([&](const Message& m) {
    if (m.text().rfind("ping", 0) != 0)
      timeline.print("answer", fmt::format("message \"{}\"", m.text()));
    echo.send(m.text());
  }));
  subs.push_back(chat.on_message([&](const Message& m) {
    std::lock_guard lock(timeline.mutex);
    if (m.text().rfind("ping", 0) == 0) {
      rtts.push_back(ms_since(ping_sent));
    } else {
      heard.emplace_back(m.text());
    }
    timeline.changed.notify_all();
  }));
  for (Channel* c : {&chat, &echo}) {
    subs.push_back(c->on("channel open", [&timeline] {
      std::lock_guard lock(timeline.mutex);
      ++timeline.channels_open;
      timeline.changed.notify_all();
    }));
  }

  offerer.use(connect(answerer));
  if (!timeline.wait([&] { return timeline.connected >= 2 && timeline.channels_open >= 2; },
                     timeout_s)) {
    std::printf("%s after %.3f ms\n", timeline.failed ? "failed" : "timed out",
                ms_since(timeline.start));
    return 1;
  }
  const double setup_ms = ms_since(timeline.start);
  chat.send("hello from the offerer");
  if (!timeline.wait([&] { return !heard.empty(); }, timeout_s)) return 1;
  timeline.print("offer", fmt::format("message \"{}\" came back", heard.front()));

  // Round trips of 32 bytes, one at a time.
  const std::string ping = "ping" + std::string(28, '.');
  for (int i = 0; i < 200; ++i) {
    const std::size_t before = rtts.size();
    ping_sent = Clock::now();
    chat.send(ping);
    if (!timeline.wait([&] { return rtts.size() > before; }, timeout_s)) return 1;
  }
  std::sort(rtts.begin(), rtts.end());
  (void)rtt_sum;

  // Bulk transfer on its own channel, with buffered_amount flow control.
  const std::uint64_t total = mib << 20;
  const std::size_t chunk = 64 * 1024;
  Channel bulk = offerer.use(channel("bulk"));
  Channel sink = answerer.use(channel("bulk"));
  Sha256 sent_hash, received_hash;
  std::uint64_t received = 0;
  subs.push_back(sink.on_message([&](const Message& m) {
    received_hash.update(m.bytes());
    std::lock_guard lock(timeline.mutex);
    received += m.bytes().size();
    timeline.changed.notify_all();
  }));
  subs.push_back(bulk.on("bufferedamountlow", [&timeline] { timeline.changed.notify_all(); }));
  subs.push_back(bulk.on("channel open", [&timeline] {
    std::lock_guard lock(timeline.mutex);
    timeline.changed.notify_all();
  }));
  constexpr std::size_t kHigh = 4 << 20, kLow = 1 << 20;
  bulk.buffered_amount_low_threshold(kLow);
  if (!timeline.wait([&] { return bulk.state() == "open"; }, timeout_s)) return 1;

  std::mt19937_64 rng(42);
  std::vector<std::byte> block(chunk);
  Progress progress(total, quiet);
  const auto t0 = Clock::now();
  std::uint64_t sent = 0;
  while (sent < total) {
    if (bulk.buffered_amount() > kHigh) {
      timeline.wait([&] { return bulk.buffered_amount() <= kLow; }, 0.05);
      progress.update(received, std::chrono::duration<double>(Clock::now() - t0).count());
      continue;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
    for (std::size_t i = 0; i < n; i += 8) {
      const std::uint64_t r = rng();
      std::memcpy(block.data() + i, &r, std::min<std::size_t>(8, n - i));
    }
    const std::span<const std::byte> piece(block.data(), n);
    sent_hash.update(piece);
    bulk.send(piece);
    sent += n;
  }
  while (!timeline.wait([&] { return received >= total; }, 0.1)) {
    progress.update(received, std::chrono::duration<double>(Clock::now() - t0).count());
    if (std::chrono::duration<double>(Clock::now() - t0).count() > timeout_s + 600) return 1;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  progress.update(total, seconds);
  const std::string sent_hex = sent_hash.hex(), received_hex = received_hash.hex();

  std::printf("\nsummary\n");
  std::printf("  setup      %.3f ms (create to both channels open)\n", setup_ms);
  std::printf("  pair       %s <-> %s\n", offerer.get("pair").value("local", "?").c_str(),
              offerer.get("pair").value("remote", "?").c_str());
  std::printf("  transfer   %llu MiB in %.2f s: %.1f MB/s\n", static_cast<unsigned long long>(mib),
              seconds, static_cast<double>(total) / 1e6 / seconds);
  std::printf("  rtt        median %.1f us, p99 %.1f us (32 bytes, %zu round trips)\n",
              rtts[rtts.size() / 2] * 1000, rtts[rtts.size() * 99 / 100] * 1000, rtts.size());
  std::printf("  sha-256    sent     %s\n", sent_hex.c_str());
  std::printf("  sha-256    received %s %s\n", received_hex.c_str(),
              sent_hex == received_hex ? "(match)" : "(MISMATCH)");
  subs.clear();
  offerer.close();
  answerer.close();
  return sent_hex == received_hex ? 0 : 1;
}

}  // namespace

void add_demo(CLI::App& app, int& exit_code) {
  auto* demo = app.add_subcommand(
      "demo", "two local peers connect over loopback, print their timeline, then move data");
  static std::string address = "127.0.0.1";
  static double timeout_s = 10;
  static bool client_offers = false;
  static std::uint64_t mib = 256;
  static bool quiet = false;
  static bool ice_tcp = false;
  static std::size_t loops = 1;
  demo->add_option("--address", address, "local address both peers gather on")
      ->capture_default_str();
  demo->add_option("--timeout", timeout_s, "seconds to wait for each step")->capture_default_str();
  demo->add_option("--size", mib, "MiB to transfer")->capture_default_str();
  demo->add_flag("--offerer-client", client_offers,
                 "make the offerer the DTLS client (answer setup:passive)");
  demo->add_flag("--quiet", quiet, "print only the summary");
  demo->add_option("--loops", loops, "event-loop threads the two peers are spread over")
      ->capture_default_str();
  demo->add_flag("--ice-tcp,!--no-ice-tcp", ice_tcp, "gather ICE-TCP candidates too (default off)");
  static double video_seconds = 0;
  demo->add_option("--video", video_seconds,
                   "instead of data: SECONDS of the VP8 test pattern and an Opus tone from one peer to the other "
                   "(frames sent, decoded, lost, recovered)")
      ->expected(0, 1)
      ->default_str("5");
  demo->callback([&exit_code, demo] {
    if (demo->count("--video") > 0) {
      exit_code = run_video_demo(address, video_seconds > 0 ? video_seconds : 5, timeout_s);
      return;
    }
    exit_code = run_demo(address, timeout_s, client_offers, mib, quiet, ice_tcp, loops);
  });
}

}  // namespace peer::tools
