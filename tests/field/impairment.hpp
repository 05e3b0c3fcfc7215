#pragma once
// The pure logic of peer-field-link (link.cpp): a learning switch and per-direction
// impairments (loss, delay, jitter, reordering, duplication, a rate limit with a drop-tail
// queue, an outage). Sans-I/O: no devices, no clock of its own; every call takes the
// caller's `now`, so the unit tests (impairment_test.cpp) drive it on a virtual clock.
//
// A frame's life per egress: decide() at ingress picks its fate and when it leaves the
// delay line; the program keeps it in a heap until then and hands it to serialize(), which
// queues it behind the frames already on the wire (rate limit) or drops it (queue full).
//
// Determinism: every ingress->egress direction has its own generator, seeded from
// (seed, ingress, egress), and decide() draws exactly kDrawsPerFrame numbers from it for
// every IP frame, whatever happens to the frame (even in an outage, even with every knob
// at zero). So the drop/duplicate/reorder/delay decisions of the n-th IP frame of a
// direction depend only on the seed, n and the settings, never on the timing of other
// directions. Frames that are not impaired (is_impaired) draw nothing: their number
// depends on ARP and neighbour discovery timing.

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace peer::field {

using Clock = std::chrono::steady_clock;

inline constexpr std::size_t kDefaultQueueBytes = 256 * 1024;
inline constexpr std::size_t kMaxPorts = 8;
inline constexpr std::size_t kEthHeader = 14;

struct Settings {
  double loss = 0;       // probability an IP frame is dropped
  double duplicate = 0;  // probability a kept frame is sent twice
  double reorder = 0;    // probability a copy skips the delay line (overtakes)
  std::chrono::nanoseconds delay{0};
  std::chrono::nanoseconds jitter{0};  // delay is uniform in [delay - jitter, delay + jitter]
  std::uint64_t rate_bps = 0;          // 0: no rate limit
  std::size_t queue_bytes = kDefaultQueueBytes;
};

// Only IP is impaired: ARP and other ethertypes model link plumbing that the emulated
// internet would not have, so they pass at once and untouched. So does IPv6's equivalent,
// neighbour discovery and multicast listener messages (ICMPv6 130-137 and 143); besides,
// the kernel sends them at random times after a link comes up, and if they drew numbers the
// n-th ping of two runs with the same seed would not meet the same fate.
inline bool is_impaired(std::span<const std::byte> frame) {
  if (frame.size() < kEthHeader) return false;
  auto byte = [&](std::size_t i) { return static_cast<unsigned>(frame[i]); };
  const unsigned type = byte(12) << 8 | byte(13);
  if (type == 0x0800) return true;
  if (type != 0x86DD) return false;
  constexpr std::size_t kIp6Header = 40;
  constexpr unsigned kHopByHop = 0, kIcmp6 = 58;
  std::size_t at = kEthHeader + kIp6Header;
  if (frame.size() < at) return true;
  unsigned next = byte(kEthHeader + 6);
  if (next == kHopByHop && frame.size() >= at + 2) {  // MLD reports carry a router alert
    next = byte(at);
    at += 8 * (byte(at + 1) + 1);
  }
  if (next != kIcmp6 || frame.size() <= at) return true;
  const unsigned icmp = byte(at);
  return !((icmp >= 130 && icmp <= 137) || icmp == 143);
}

// xoshiro256** seeded through splitmix64: small, fast, and the same numbers on every
// compiler and standard library (std::uniform_real_distribution is not specified exactly).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // One independent stream per (seed, ingress, egress).
  static std::uint64_t direction_seed(std::uint64_t seed, unsigned ingress, unsigned egress) {
    std::uint64_t x = seed;
    x = splitmix64(x) ^ (std::uint64_t{ingress} + 1) * 0xD1B54A32D192ED03ull;
    x = splitmix64(x) ^ (std::uint64_t{egress} + 1) * 0xABC98388FB8FAC03ull;
    return splitmix64(x);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

enum class Fate : std::uint8_t { kForward, kLost, kOutage };

struct Copy {
  Clock::time_point exit;  // when it leaves the delay line (enters the serializer)
  bool reordered = false;  // skipped the delay line
  bool operator==(const Copy&) const = default;
};

struct Decision {
  Fate fate = Fate::kForward;
  bool duplicated = false;
  std::uint8_t count = 0;  // copies to send: 0 (dropped), 1, or 2 (duplicated)
  std::array<Copy, 2> copies{};
  bool operator==(const Decision&) const = default;
};

// One ingress->egress direction.
class Direction {
 public:
  static constexpr int kDrawsPerFrame = 6;  // loss, duplicate, and reorder + jitter per copy

  Direction(std::uint64_t seed, unsigned ingress, unsigned egress)
      : rng_(Rng::direction_seed(seed, ingress, egress)) {}

  // The fate of an IP frame arriving at `now`.
  Decision decide(Clock::time_point now, const Settings& s, bool outage) {
    std::array<double, kDrawsPerFrame> u;
    for (auto& x : u) x = rng_.uniform();  // all of them, always (see the header comment)
    Decision d;
    if (outage) {
      d.fate = Fate::kOutage;
      return d;
    }
    if (u[0] < s.loss) {
      d.fate = Fate::kLost;
      return d;
    }
    d.duplicated = u[1] < s.duplicate;
    d.count = d.duplicated ? 2 : 1;
    for (int i = 0; i < d.count; ++i) d.copies[i] = place(now, s, u[2 + 2 * i], u[3 + 2 * i]);
    return d;
  }

  // A copy leaves the delay line at `entry` (non-decreasing from call to call) with `bytes`:
  // when it is fully on the wire, or nothing if the queue of the rate limit is full
  // (drop-tail). Without a rate limit it leaves at `entry`.
  std::optional<Clock::time_point> serialize(Clock::time_point entry, std::size_t bytes,
                                             const Settings& s) {
    if (s.rate_bps == 0) return entry;
    // Frames whose last bit left by `entry` no longer take room in the queue.
    while (!wire_.empty() && wire_.front().first <= entry) {
      backlog_ -= wire_.front().second;
      wire_.pop_front();
    }
    if (backlog_ + bytes > s.queue_bytes) return std::nullopt;
    const auto start = std::max(entry, wire_free_);
    // Integer nanoseconds, rounded up, so a frame never leaves before its last bit.
    const auto ns =
        (static_cast<unsigned __int128>(bytes) * 8 * 1'000'000'000 + s.rate_bps - 1) / s.rate_bps;
    wire_free_ = start + std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
    wire_.emplace_back(wire_free_, bytes);
    backlog_ += bytes;
    return wire_free_;
  }

  std::size_t backlog_bytes() const { return backlog_; }

 private:
  // When a copy leaves the delay line, from its reorder draw and its jitter draw.
  Copy place(Clock::time_point now, const Settings& s, double u_reorder, double u_jitter) {
    const bool has_delay = s.delay.count() > 0 || s.jitter.count() > 0;
    if (has_delay && u_reorder < s.reorder) return {now, true};  // like netem's `reorder`
    const double ns = static_cast<double>(s.delay.count()) +
                      (2 * u_jitter - 1) * static_cast<double>(s.jitter.count());
    const auto delay = std::chrono::nanoseconds(std::max<std::int64_t>(0, std::llround(ns)));
    // Jitter alone keeps order (real paths mostly do): a copy never leaves before an earlier
    // in-order copy of the same direction. Ties go by the caller's sequence number.
    last_exit_ = std::max(now + delay, last_exit_);
    return {last_exit_, false};
  }

  Rng rng_;
  Clock::time_point last_exit_{};  // latest exit of an in-order copy
  // The rate limit: (time its last bit leaves, bytes) of every frame still in the queue.
  std::deque<std::pair<Clock::time_point, std::size_t>> wire_;
  std::size_t backlog_ = 0;
  Clock::time_point wire_free_{};
};

// All directions of a link of `ports` ports, with the settings they share.
class Impairment {
 public:
  Impairment(std::uint64_t seed, std::size_t ports, Settings settings)
      : ports_(ports), settings_(settings) {
    directions_.reserve(ports * ports);
    for (std::size_t i = 0; i < ports; ++i)
      for (std::size_t e = 0; e < ports; ++e)
        directions_.emplace_back(seed, static_cast<unsigned>(i), static_cast<unsigned>(e));
  }

  Settings& settings() { return settings_; }
  const Settings& settings() const { return settings_; }
  bool outage() const { return outage_; }
  void set_outage(bool on) { outage_ = on; }

  Direction& direction(std::size_t ingress, std::size_t egress) {
    return directions_[ingress * ports_ + egress];
  }

  Decision decide(std::size_t ingress, std::size_t egress, Clock::time_point now) {
    return direction(ingress, egress).decide(now, settings_, outage_);
  }
  std::optional<Clock::time_point> serialize(std::size_t ingress, std::size_t egress,
                                             Clock::time_point entry, std::size_t bytes) {
    return direction(ingress, egress).serialize(entry, bytes, settings_);
  }

 private:
  std::size_t ports_;
  Settings settings_;
  bool outage_ = false;
  std::vector<Direction> directions_;
};

// A learning switch: source MAC -> ingress port. Ports are static, so no ageing: a host
// that shows up on another port is simply learned there.
class LearningSwitch {
 public:
  explicit LearningSwitch(std::size_t ports) : ports_(ports) {}

  // Learns from `frame` and appends its egress ports to `out` (cleared first): the port
  // of a known unicast destination, else every other port; never `ingress`.
  void route(std::size_t ingress, std::span<const std::byte> frame, std::vector<std::size_t>& out) {
    out.clear();
    if (frame.size() < kEthHeader) return;
    const std::uint64_t dst = mac(frame.subspan(0, 6));
    const std::uint64_t src = mac(frame.subspan(6, 6));
    if (!group(frame[6])) table_[src] = ingress;  // a group source address is bogus
    if (!group(frame[0])) {
      if (auto it = table_.find(dst); it != table_.end()) {
        // Known on the ingress port: the destination already has it (filtering).
        if (it->second != ingress) out.push_back(it->second);
        return;
      }
    }
    for (std::size_t p = 0; p < ports_; ++p)
      if (p != ingress) out.push_back(p);
  }

  std::size_t known() const { return table_.size(); }

 private:
  static bool group(std::byte first) { return (static_cast<unsigned>(first) & 1) != 0; }
  static std::uint64_t mac(std::span<const std::byte> b) {
    std::uint64_t v = 0;
    for (auto x : b) v = v << 8 | static_cast<std::uint64_t>(x);
    return v;
  }

  std::size_t ports_;
  std::unordered_map<std::uint64_t, std::size_t> table_;
};

}  // namespace peer::field
