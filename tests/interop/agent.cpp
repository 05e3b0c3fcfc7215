// interop_agent: the native side of the Chromium interop cases (tests/interop/run.js).
//
// A peer::Peer driven by JSON commands, one per line on stdin; what happens comes back as
// JSON events, one per line on stdout (logs go to stderr). The page under test
// (tests/interop/page/case.js) takes the same commands, so run.js drives both sides alike.
//
// Commands:
//   {"cmd":"open","label":L, "ordered":bool, "maxRetransmits":n, "maxPacketLifeTime":ms,
//    "negotiated":bool, "id":n}                   open a data channel
//   {"cmd":"join","url":"ws://…","room":R}       the signal plugin: join, pair, negotiate
//   {"cmd":"send","label":L,"text":n,"binary":m} send pattern text 0..n-1, then binary 0..m-1
//   {"cmd":"bulk","label":L,"bytes":n}           n bytes as 64 KiB pattern messages, then "bulk-end n"
//   {"cmd":"close","label":L}
//   {"cmd":"stats","label":L}                    answered with a "stats" event
//   {"cmd":"track","kind":"video"|"audio","source":S}  a local track (before join, or before "offer"): S is the
//                                                 video()/audio() source ("pattern", "tone:440", "none")
//   {"cmd":"offer"}                              offer again (after "track" on a connected peer)
//   {"cmd":"remove","kind":K}                    Peer::remove of our first live track of kind K,
//                                                once signaling is stable, then offer again
//   {"cmd":"media"}                              answered with a "media" event: our video track's
//                                                stats ("sent") and what the remote's
//                                                 tracks brought (frames, size, varied pictures, audio)
//   {"cmd":"quit"}
// Events: ready, signal {state}, connection {state}, channel {label, state, id},
// stats {label, text, binary, dup, bad, out_of_order, first_bad, state, cpu_ms (the process's
// CPU time so far)}, bulk-sent, bulk-done
// {bytes, ms, mb_per_s, bad}, done {cmd} (a command finished), error {message}.
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <thread>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "interop/pattern.hpp"
#include "peer/channel.hpp"
#include "peer/media.hpp"
#include "peer/peer.hpp"
#include "peer/signal.hpp"

namespace peer::interop {
namespace {

using Clock = std::chrono::steady_clock;

std::mutex out_mutex;
void emit(const json& event) {
  const std::string line = event.dump() + "\n";
  std::lock_guard lock(out_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// CPU time of this process (all threads, user + system), in ms: with the wall time of a
// bulk transfer it shows whether peer or Chromium is the slower side.
double cpu_ms() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(u.ru_utime) + ms(u.ru_stime);
}

// What arrived on one channel, checked against the pattern (pattern.hpp).
struct Received {
  std::uint32_t text = 0, binary = 0, dup = 0, bad = 0, out_of_order = 0;
  long next_text = 0, next_binary = 0;
  std::vector<bool> text_seen, binary_seen;
  std::string first_bad;
  // bulk
  std::uint64_t bulk_bytes = 0;
  long next_bulk = 0;
  Clock::time_point bulk_first, bulk_last;
  double bulk_cpu_first = 0, bulk_cpu_last = 0;

  void note_bad(std::string what) {
    ++bad;
    if (first_bad.empty()) first_bad = std::move(what);
  }
  // Counts index i of a kind; false for a duplicate.
  bool count(std::vector<bool>& seen, long i, long& next) {
    if (static_cast<std::size_t>(i) >= seen.size()) seen.resize(static_cast<std::size_t>(i) + 1);
    if (seen[static_cast<std::size_t>(i)]) {
      ++dup;
      return false;
    }
    seen[static_cast<std::size_t>(i)] = true;
    if (i != next) ++out_of_order;
    next = i + 1;
    return true;
  }
};

struct Entry {
  explicit Entry(Channel c) : channel(std::move(c)) {}
  Channel channel;
  Received received;
  std::vector<Subscription> subs;
  std::condition_variable low;  // bufferedamountlow, for bulk
};

class Agent {
 public:
  Agent() {
    // run.sh's firefox suites put every side on a veth address (Firefox skips loopback).
    const char* address = std::getenv("PEER_INTEROP_ADDRESS");
    peer_.set("addresses", json::array({address != nullptr && *address != '\0' ? address : "127.0.0.1"}));
    subs_.push_back(peer_.on("change connection", [](const json& s) { emit({{"event", "connection"}, {"state", s}}); }));
    subs_.push_back(peer_.on("change signal", [](const json& s) { emit({{"event", "signal"}, {"state", s}}); }));
    subs_.push_back(peer_.on("change pair", [](const json& p) { std::fprintf(stderr, "agent: pair %s\n", p.dump().c_str()); }));
    subs_.push_back(peer_.on("error", [](const json& e) { emit({{"event", "error"}, {"message", e}}); }));
    subs_.push_back(peer_.on_channel([this](Channel c) { add(c, "remote"); }));
    subs_.push_back(peer_.on_track([this](Track t) { watch(t); }));
  }
  ~Agent() {
    peer_.close();  // no callback after this
    subs_.clear();
    media_subs_.clear();
    std::lock_guard lock(mutex_);
    channels_.clear();
  }

  // The command's result (null for most), sent back with its "done".
  json run(const json& c) {
    const std::string cmd = c.at("cmd").get<std::string>();
    if (cmd == "pair") return peer_.get("pair");  // the selected pair, our side's view
    if (cmd == "open") {
      ChannelOptions o;
      o.ordered = c.value("ordered", true);
      if (c.contains("maxRetransmits")) o.max_retransmits = c["maxRetransmits"].get<std::uint32_t>();
      if (c.contains("maxPacketLifeTime")) o.max_packet_life_time = c["maxPacketLifeTime"].get<std::uint32_t>();
      if (c.value("negotiated", false)) o.id = c.at("id").get<std::uint16_t>();
      add(peer_.use(channel(c.at("label").get<std::string>(), o)), "local");
    } else if (cmd == "offer") {
      peer_.offer();  // a renegotiation after "track": the signal plugin sends it
    } else if (cmd == "remove") {
      const std::string kind = c.at("kind").get<std::string>();
      auto it = std::find_if(tracks_.begin(), tracks_.end(),
                             [&](Track& t) { return t.kind() == kind && t.get("state") == "live"; });
      if (it == tracks_.end()) throw std::invalid_argument("no live local " + kind + " track");
      // An exchange the remote started may still be running: remove() wants it finished.
      for (int i = 0; i < 1000 && peer_.get("signaling") != "stable"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      peer_.remove(*it);
      peer_.offer();
    } else if (cmd == "join") {
      peer_.use(signal(c.at("room").get<std::string>(), c.at("url").get<std::string>()));
    } else if (cmd == "send") {
      Channel ch = find(c.at("label"))->channel;
      for (std::uint32_t i = 0; i < c.value("text", 0u); ++i) ch.send(pattern_text(i));
      for (std::uint32_t i = 0; i < c.value("binary", 0u); ++i) {
        const auto b = pattern_binary(i);
        ch.send(std::span<const std::byte>(b));
      }
    } else if (cmd == "bulk") {
      bulk(*find(c.at("label")), c.at("bytes").get<std::uint64_t>());
    } else if (cmd == "close") {
      find(c.at("label"))->channel.close();
    } else if (cmd == "stats") {
      emit(stats(*find(c.at("label"))));
    } else if (cmd == "track") {
      const std::string kind = c.at("kind").get<std::string>();
      if (kind == "video") {
        tracks_.push_back(peer_.use(video({.source = c.value("source", "pattern")})));
      } else {
        tracks_.push_back(peer_.use(audio({.source = c.value("source", "tone:440")})));
      }
    } else if (cmd == "media") {
      // Our own video track's stats (refreshed once a second): what congestion control made
      // of the remote's feedback (rembBitrate: Chromium's REMB; targetBitrate).
      json sent = json::object();
      for (auto& t : tracks_) {
        if (t.kind() == "video" && t.has("stats")) sent = t.get("stats");
      }
      std::lock_guard lock(mutex_);
      emit({{"event", "media"},
            {"sent", sent},
            {"video", {{"frames", media_.frames}, {"width", media_.width}, {"height", media_.height},
                       {"varied", media_.varied}}},
            {"audio", {{"packets", media_.audio_packets}, {"loud", media_.loud_packets}}},
            {"tracks", media_.tracks},
            {"ended", {{"video", media_.ended["video"]}, {"audio", media_.ended["audio"]}}}});
    } else {
      throw std::invalid_argument("unknown command \"" + cmd + "\"");
    }
    return nullptr;
  }

 private:
  std::shared_ptr<Entry> find(const json& label) {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(label.get<std::string>());
    if (it == channels_.end()) throw std::invalid_argument("no channel \"" + label.get<std::string>() + "\"");
    return it->second;
  }

  void add(Channel c, const char* origin) {
    auto e = std::make_shared<Entry>(c);
    const std::string label = c.label();
    const bool bulk = label.rfind("bulk", 0) == 0;
    std::weak_ptr<Entry> weak = e;
    e->subs.push_back(c.on_message([this, weak, bulk](const Message& m) {
      if (auto entry = weak.lock()) receive(*entry, m, bulk);
    }));
    e->subs.push_back(c.on("channel open", [c]() mutable {
      emit({{"event", "channel"}, {"label", c.label()}, {"state", "open"}, {"id", c.id() ? json(*c.id()) : json()}});
    }));
    e->subs.push_back(c.on("channel close", [c]() mutable {
      emit({{"event", "channel"}, {"label", c.label()}, {"state", "closed"}});
    }));
    e->subs.push_back(c.on("bufferedamountlow", [weak] {
      if (auto entry = weak.lock()) entry->low.notify_all();
    }));
    std::fprintf(stderr, "agent: %s channel \"%s\"\n", origin, label.c_str());
    std::lock_guard lock(mutex_);
    channels_[label] = e;
  }

  void receive(Entry& e, const Message& m, bool bulk) {
    std::lock_guard lock(mutex_);
    Received& r = e.received;
    if (bulk) {
      if (!m.binary()) {
        // "bulk-end <bytes>": the sender is done; the receiver reports what it got.
        const double ms = ms_between(r.bulk_first, r.bulk_last);
        emit({{"event", "bulk-done"},
              {"label", e.channel.label()},
              {"bytes", r.bulk_bytes},
              {"expected", std::string(m.text().substr(m.text().find(' ') + 1))},
              {"ms", ms},
              {"mb_per_s", ms > 0 ? r.bulk_bytes / ms / 1000.0 : 0.0},
              {"cpu_ms", r.bulk_cpu_last - r.bulk_cpu_first},
              {"bad", r.bad},
              {"first_bad", r.first_bad}});
        return;
      }
      const long k = check_bulk(m.bytes());
      const auto now = Clock::now();
      const double cpu = cpu_ms();
      if (r.bulk_bytes == 0) {
        r.bulk_first = now;
        r.bulk_cpu_first = cpu;
      }
      r.bulk_last = now;
      r.bulk_cpu_last = cpu;
      r.bulk_bytes += m.bytes().size();
      if (k != r.next_bulk) r.note_bad("bulk message " + std::to_string(r.next_bulk) + " was " + std::to_string(k));
      r.next_bulk = (k < 0 ? r.next_bulk : k) + 1;
      return;
    }
    if (m.binary()) {
      const long i = check_binary(m.bytes());
      if (i < 0) {
        r.note_bad("binary message of " + std::to_string(m.bytes().size()) + " bytes does not match the pattern");
      } else if (r.count(r.binary_seen, i, r.next_binary)) {
        ++r.binary;
      }
    } else {
      const long i = check_text(m.text());
      if (i < 0) {
        r.note_bad("text message \"" + std::string(m.text().substr(0, 40)) + "\" does not match the pattern");
      } else if (r.count(r.text_seen, i, r.next_text)) {
        ++r.text;
      }
    }
  }

  json stats(Entry& e) {
    std::lock_guard lock(mutex_);
    const Received& r = e.received;
    return {{"event", "stats"}, {"label", e.channel.label()}, {"text", r.text}, {"binary", r.binary},
            {"dup", r.dup},     {"bad", r.bad},                {"out_of_order", r.out_of_order},
            {"first_bad", r.first_bad}, {"state", std::string(e.channel.state())}, {"cpu_ms", cpu_ms()}};
  }

  // Sends `bytes` in 64 KiB messages, keeping at most 4 MiB buffered (W3C-style flow
  // control on buffered_amount and "bufferedamountlow").
  void bulk(Entry& e, std::uint64_t bytes) {
    constexpr std::size_t kHigh = 4 << 20;
    e.channel.buffered_amount_low_threshold(1 << 20);
    std::vector<std::byte> message;
    const auto start = Clock::now();
    const double cpu_start = cpu_ms();
    std::uint64_t sent = 0;
    for (std::uint32_t k = 0; sent < bytes; ++k) {
      while (e.channel.buffered_amount() > kHigh) {
        std::unique_lock lock(mutex_);
        e.low.wait_for(lock, std::chrono::milliseconds(10));
      }
      pattern_bulk(message, k);
      e.channel.send(std::span<const std::byte>(message));
      sent += message.size();
    }
    e.channel.send("bulk-end " + std::to_string(sent));
    // Returns once all is handed to usrsctp; the CPU it takes to drain is in the next
    // command's count, not here (the receiver's timing is the throughput).
    emit({{"event", "bulk-sent"}, {"label", e.channel.label()}, {"bytes", sent},
          {"ms", ms_between(start, Clock::now())}, {"cpu_ms", cpu_ms() - cpu_start}});
  }

  // Counts what the remote's tracks bring: decoded video frames (and whether the picture
  // has detail: a luma range over 64 on its middle row), audio packets and loud ones.
  void watch(Track t) {
    std::lock_guard lock(mutex_);
    media_.tracks.push_back(t.kind());
    media_subs_.push_back(t.on_video([this](const VideoFrame& f) {
      int lo = 255, hi = 0;
      const std::uint8_t* row = f.y + static_cast<std::ptrdiff_t>(f.height / 2) * f.stride_y;
      for (int x = 0; x < f.width; ++x) {
        lo = std::min<int>(lo, row[x]);
        hi = std::max<int>(hi, row[x]);
      }
      std::lock_guard lock(mutex_);
      ++media_.frames;
      media_.width = f.width;
      media_.height = f.height;
      if (hi - lo > 64) ++media_.varied;
    }));
    media_subs_.push_back(t.on("ended", [this, kind = t.kind()] {
      std::lock_guard lock(mutex_);
      ++media_.ended[kind];
    }));
    media_subs_.push_back(t.on_audio([this](const AudioFrame& a) {
      double energy = 0;
      for (auto s : a.samples) energy += double(s) * s;
      const bool loud = !a.samples.empty() && energy / a.samples.size() > 100.0 * 100.0;  // above -50 dBFS
      std::lock_guard lock(mutex_);
      ++media_.audio_packets;
      if (loud) ++media_.loud_packets;
    }));
  }

  struct MediaCounts {
    int frames = 0, width = 0, height = 0, varied = 0, audio_packets = 0, loud_packets = 0;
    std::vector<std::string> tracks;
    std::map<std::string, int> ended;  // remote tracks that ended, by kind
  } media_;
  std::vector<Subscription> media_subs_;
  std::vector<Track> tracks_;
  Peer peer_;
  std::vector<Subscription> subs_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Entry>> channels_;
};

}  // namespace
}  // namespace peer::interop

int main() {
  spdlog::set_default_logger(spdlog::stderr_color_mt("agent"));
  spdlog::set_level(spdlog::level::warn);
  if (const char* level = std::getenv("PEER_INTEROP_LOG")) spdlog::set_level(spdlog::level::from_str(level));
  peer::interop::Agent agent;
  peer::interop::emit({{"event", "ready"}});
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    peer::json command;
    try {
      command = peer::json::parse(line);
      if (command.value("cmd", "") == "quit") break;
      const peer::json result = agent.run(command);
      peer::interop::emit({{"event", "done"}, {"cmd", command["cmd"]}, {"result", result}});
    } catch (const std::exception& e) {
      peer::interop::emit({{"event", "error"}, {"message", std::string("command ") + line + ": " + e.what()}});
    }
  }
  return 0;
}
