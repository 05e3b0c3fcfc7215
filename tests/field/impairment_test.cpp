// The decisions of peer-field-link (impairment.hpp) on a virtual clock: no TAP devices.
#include "impairment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace peer::field {
namespace {

using namespace std::chrono_literals;

Clock::time_point at(std::chrono::nanoseconds t) {
  return Clock::time_point{} + 1h + t;
}

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

Settings everything() {
  Settings s;
  s.loss = 0.1;
  s.duplicate = 0.1;
  s.reorder = 0.1;
  s.delay = 30ms;
  s.jitter = 10ms;
  return s;
}

// The n-th frame of a direction gets the same decisions in every run with the same seed,
// however the directions interleave; another seed or another direction gives others.
TEST(Impairment, SameSeedSameDecisionsWhateverTheInterleaving) {
  constexpr int kFrames = 2000;
  auto frame_time = [](int n) { return at(n * 1ms); };

  Impairment a(42, 3, everything());
  std::vector<Decision> a01, a10;
  for (int n = 0; n < kFrames; ++n) {
    a01.push_back(a.decide(0, 1, frame_time(n)));
    a10.push_back(a.decide(1, 0, frame_time(n)));
  }

  Impairment b(42, 3, everything());
  std::vector<Decision> b01, b10;
  for (int n = 0; n < kFrames; ++n) b10.push_back(b.decide(1, 0, frame_time(n)));
  for (int n = 0; n < kFrames; ++n) {
    b.decide(2, 1, frame_time(n));  // traffic on other directions changes nothing
    b.decide(0, 2, frame_time(n));
    b01.push_back(b.decide(0, 1, frame_time(n)));
  }
  EXPECT_EQ(a01, b01);
  EXPECT_EQ(a10, b10);
  EXPECT_NE(a01, a10);

  // Every direction has its own stream: the ingress and the egress both count.
  std::vector<Decision> a02, a20;
  for (int n = 0; n < kFrames; ++n) {
    a02.push_back(a.decide(0, 2, frame_time(n)));
    a20.push_back(a.decide(2, 0, frame_time(n)));
  }
  EXPECT_NE(a01, a02);
  EXPECT_NE(a10, a20);

  Impairment c(43, 3, everything());
  std::vector<Decision> c01;
  for (int n = 0; n < kFrames; ++n) c01.push_back(c.decide(0, 1, frame_time(n)));
  EXPECT_NE(a01, c01);
}

TEST(Impairment, LossRate) {
  Settings s;
  s.loss = 0.05;
  Impairment imp(1, 2, s);
  int lost = 0;
  constexpr int kFrames = 100'000;
  for (int n = 0; n < kFrames; ++n) {
    const Decision d = imp.decide(0, 1, at(n * 1us));
    if (d.fate == Fate::kLost) {
      EXPECT_EQ(d.count, 0);
      ++lost;
    } else {
      EXPECT_EQ(d.count, 1);
    }
  }
  const double rate = static_cast<double>(lost) / kFrames;
  EXPECT_GE(rate, 0.045);
  EXPECT_LE(rate, 0.055);

  imp.settings().loss = 0;
  for (int n = 0; n < 1000; ++n) EXPECT_EQ(imp.decide(0, 1, at(1s)).fate, Fate::kForward);
  imp.settings().loss = 1;
  for (int n = 0; n < 1000; ++n) EXPECT_EQ(imp.decide(0, 1, at(1s)).fate, Fate::kLost);
}

TEST(Impairment, NoImpairmentLeavesAtOnce) {
  Impairment imp(7, 2, Settings{});
  for (int n = 0; n < 100; ++n) {
    const Decision d = imp.decide(1, 0, at(n * 1ms));
    ASSERT_EQ(d.count, 1);
    EXPECT_EQ(d.copies[0].exit, at(n * 1ms));
    EXPECT_FALSE(d.copies[0].reordered);
    EXPECT_EQ(imp.serialize(1, 0, d.copies[0].exit, 1500), at(n * 1ms));
  }
}

// Sparse frames (further apart than the jitter) see the delay itself: uniform in
// [delay - jitter, delay + jitter].
TEST(Impairment, DelayAndJitterRange) {
  Settings s;
  s.delay = 30ms;
  s.jitter = 10ms;
  Impairment imp(3, 2, s);
  double lo = 1e9, hi = 0, sum = 0;
  constexpr int kFrames = 10'000;
  for (int n = 0; n < kFrames; ++n) {
    const auto now = at(n * 100ms);
    const Decision d = imp.decide(0, 1, now);
    ASSERT_EQ(d.count, 1);
    const double delay = ms(d.copies[0].exit - now);
    lo = std::min(lo, delay);
    hi = std::max(hi, delay);
    sum += delay;
  }
  EXPECT_GE(lo, 20.0);
  EXPECT_LT(lo, 20.1);
  EXPECT_LE(hi, 40.0);
  EXPECT_GT(hi, 39.9);
  EXPECT_NEAR(sum / kFrames, 30.0, 0.3);

  // A jitter larger than the delay is clamped at 0, never negative.
  imp.settings().delay = 1ms;
  for (int n = 0; n < 1000; ++n) {
    const auto now = at(2000s + n * 100ms);
    EXPECT_GE(imp.decide(0, 1, now).copies[0].exit, now);
  }
}

// Jitter alone never releases a frame before an earlier one of the same direction.
TEST(Impairment, JitterWithoutReorderKeepsOrder) {
  Settings s;
  s.delay = 30ms;
  s.jitter = 10ms;
  s.duplicate = 0.2;  // copies stay in order too
  Impairment imp(11, 2, s);
  Clock::time_point last{};
  for (int n = 0; n < 100'000; ++n) {
    const auto now = at(n * 100us);  // far denser than the jitter: plenty of chances to reorder
    const Decision d = imp.decide(0, 1, now);
    for (int c = 0; c < d.count; ++c) {
      EXPECT_FALSE(d.copies[c].reordered);
      ASSERT_GE(d.copies[c].exit, last) << "frame " << n;
      EXPECT_GE(d.copies[c].exit, now + 20ms);
      last = d.copies[c].exit;
    }
  }
}

// With a delay, reorder P sends about P of the frames at once, ahead of earlier ones.
TEST(Impairment, ReorderOvertakes) {
  Settings s;
  s.delay = 30ms;
  s.reorder = 0.1;
  Impairment imp(5, 2, s);
  constexpr int kFrames = 100'000;
  int overtaking = 0, marked = 0;
  Clock::time_point latest{};
  for (int n = 0; n < kFrames; ++n) {
    const auto now = at(n * 1ms);
    const Decision d = imp.decide(0, 1, now);
    ASSERT_EQ(d.count, 1);
    const Copy& c = d.copies[0];
    if (c.reordered) {
      ++marked;
      EXPECT_EQ(c.exit, now);
    } else {
      EXPECT_EQ(c.exit, now + 30ms);
    }
    if (c.exit < latest) ++overtaking;
    latest = std::max(latest, c.exit);
  }
  EXPECT_LE(overtaking, marked);  // only a frame that skipped the delay overtakes
  EXPECT_GE(static_cast<double>(overtaking) / kFrames, 0.09);
  EXPECT_LE(static_cast<double>(overtaking) / kFrames, 0.11);

  // Without a delay there is nothing to overtake: no frame is marked reordered.
  imp.settings().delay = 0ms;
  for (int n = 0; n < 1000; ++n) EXPECT_FALSE(imp.decide(0, 1, at(1000s)).copies[0].reordered);
}

TEST(Impairment, DuplicateRate) {
  Settings s;
  s.duplicate = 0.05;
  s.delay = 10ms;
  s.jitter = 5ms;
  Impairment imp(9, 2, s);
  constexpr int kFrames = 100'000;
  int dup = 0, different_delay = 0;
  for (int n = 0; n < kFrames; ++n) {
    const auto now = at(n * 1s);  // sparse: each copy shows its own delay
    const Decision d = imp.decide(1, 0, now);
    ASSERT_EQ(d.count, d.duplicated ? 2 : 1);
    if (d.duplicated) {
      ++dup;
      // The original goes first; the copy's own delay decision lets it leave later.
      EXPECT_GE(d.copies[1].exit, d.copies[0].exit);
      if (d.copies[1].exit != d.copies[0].exit) ++different_delay;
    }
  }
  EXPECT_GE(static_cast<double>(dup) / kFrames, 0.045);
  EXPECT_LE(static_cast<double>(dup) / kFrames, 0.055);
  EXPECT_GT(different_delay, dup / 3);
}

// 8 Mbit/s: a 1000-byte frame takes exactly 1 ms on the wire.
TEST(Impairment, RateSerializesAndDropsTail) {
  Settings s;
  s.rate_bps = 8'000'000;
  s.queue_bytes = 5000;
  Direction d(1, 0, 1);
  // Ten frames at once: five fit the queue and leave 1 ms apart, the rest are dropped.
  for (int n = 0; n < 10; ++n) {
    const auto done = d.serialize(at(0ms), 1000, s);
    if (n < 5) {
      ASSERT_TRUE(done) << n;
      EXPECT_EQ(*done, at((n + 1) * 1ms));
    } else {
      EXPECT_FALSE(done) << n;
    }
  }
  EXPECT_EQ(d.backlog_bytes(), 5000u);
  // Once the first has left there is room for one more, behind the others.
  EXPECT_FALSE(d.serialize(at(999us), 1000, s));
  EXPECT_EQ(d.serialize(at(1ms), 1000, s), at(6ms));
  // After the queue drained, a frame leaves one serialization time after it came.
  EXPECT_EQ(d.serialize(at(100ms), 1000, s), at(101ms));
  EXPECT_EQ(d.serialize(at(100ms), 500, s), at(101ms + 500us));
  EXPECT_EQ(d.backlog_bytes(), 1500u);
}

// Frames offered faster than the rate leave at the rate, whatever the offered pattern.
TEST(Impairment, RateFollowsSerializationAfterDelay) {
  Settings s;
  s.delay = 20ms;
  s.rate_bps = 1'200'000;  // 1500 bytes = 10 ms
  s.queue_bytes = 1 << 30;
  Impairment imp(2, 2, s);
  std::vector<Clock::time_point> done;
  for (int n = 0; n < 1000; ++n) {
    const Decision d = imp.decide(0, 1, at(n * 5ms));  // twice the rate
    const auto t = imp.serialize(0, 1, d.copies[0].exit, 1500);
    ASSERT_TRUE(t);
    done.push_back(*t);
  }
  EXPECT_EQ(done.front(), at(30ms));  // 20 ms delay, then 10 ms on the wire
  for (std::size_t i = 1; i < done.size(); ++i) ASSERT_EQ(done[i] - done[i - 1], 10ms) << i;

  // A 256 KiB queue at 1.2 Mbit/s: a burst of 500 frames keeps only what fits.
  imp.settings().queue_bytes = kDefaultQueueBytes;
  int kept = 0;
  for (int n = 0; n < 500; ++n) kept += imp.serialize(1, 0, at(0ms), 1500).has_value();
  EXPECT_EQ(kept, static_cast<int>(kDefaultQueueBytes / 1500));
}

// An outage drops every frame, and still draws the numbers, so the frames after it get
// the decisions they would have had without it.
TEST(Impairment, OutageDropsAllAndKeepsTheSequence) {
  Impairment with(8, 2, everything());
  Impairment without(8, 2, everything());
  for (int n = 0; n < 3000; ++n) {
    const auto now = at(n * 50ms);
    const bool out = n >= 1000 && n < 2000;
    with.set_outage(out);
    const Decision a = with.decide(0, 1, now);
    const Decision b = without.decide(0, 1, now);
    if (out) {
      EXPECT_EQ(a.fate, Fate::kOutage);
      EXPECT_EQ(a.count, 0);
    } else {
      EXPECT_EQ(a, b) << n;
    }
  }
}

std::vector<std::byte> frame(std::uint64_t dst, std::uint64_t src, unsigned type) {
  std::vector<std::byte> f(60);
  for (int i = 0; i < 6; ++i) {
    f[i] = static_cast<std::byte>(dst >> (40 - 8 * i));
    f[6 + i] = static_cast<std::byte>(src >> (40 - 8 * i));
  }
  f[12] = static_cast<std::byte>(type >> 8);
  f[13] = static_cast<std::byte>(type);
  return f;
}

TEST(Impairment, OnlyIpIsImpaired) {
  EXPECT_TRUE(is_impaired(frame(1, 2, 0x0800)));
  EXPECT_TRUE(is_impaired(frame(1, 2, 0x86DD)));
  EXPECT_FALSE(is_impaired(frame(1, 2, 0x0806)));  // ARP
  EXPECT_FALSE(is_impaired(frame(1, 2, 0x8100)));  // VLAN
  // IPv6 neighbour discovery and MLD are link plumbing like ARP; other ICMPv6 and UDP are not.
  auto ip6 = [](unsigned next, std::vector<unsigned> rest) {
    auto f = frame(0x33'33'00'00'00'01, 2, 0x86DD);
    f.resize(kEthHeader + 40);
    f[kEthHeader] = std::byte{0x60};
    f[kEthHeader + 6] = static_cast<std::byte>(next);
    for (unsigned b : rest) f.push_back(static_cast<std::byte>(b));
    return f;
  };
  EXPECT_FALSE(is_impaired(ip6(58, {135, 0, 0, 0})));  // neighbour solicitation
  EXPECT_FALSE(is_impaired(ip6(58, {136, 0, 0, 0})));  // neighbour advertisement
  EXPECT_FALSE(is_impaired(ip6(58, {133, 0, 0, 0})));  // router solicitation
  EXPECT_FALSE(is_impaired(ip6(0, {58, 0, 5, 2, 0, 0, 1, 0, 143, 0, 0, 0})));  // MLDv2 report
  EXPECT_TRUE(is_impaired(ip6(58, {128, 0, 0, 0})));                           // echo request
  EXPECT_TRUE(is_impaired(ip6(0, {58, 0, 5, 2, 0, 0, 1, 0, 128, 0, 0, 0})));
  EXPECT_TRUE(is_impaired(ip6(17, {135, 0, 0, 0})));  // UDP
  EXPECT_TRUE(is_impaired(ip6(58, {})));              // truncated: impaired like any IPv6

  auto short_frame = frame(1, 2, 0x0800);
  short_frame.resize(13);
  EXPECT_FALSE(is_impaired(short_frame));
}

TEST(LearningSwitch, FloodsLearnsAndNeverReflects) {
  constexpr std::uint64_t kA = 0x02'00'00'00'00'0A, kB = 0x02'00'00'00'00'0B;
  constexpr std::uint64_t kBroadcast = 0xFF'FF'FF'FF'FF'FF, kMulticast = 0x01'00'5E'00'00'01;
  LearningSwitch sw(3);
  std::vector<std::size_t> out;
  using V = std::vector<std::size_t>;

  sw.route(0, frame(kB, kA, 0x0800), out);  // B unknown: flood
  EXPECT_EQ(out, (V{1, 2}));
  sw.route(1, frame(kA, kB, 0x0800), out);  // A learned on 0
  EXPECT_EQ(out, (V{0}));
  sw.route(0, frame(kB, kA, 0x0800), out);  // B learned on 1
  EXPECT_EQ(out, (V{1}));
  sw.route(2, frame(kBroadcast, 0x02'00'00'00'00'0C, 0x0806), out);
  EXPECT_EQ(out, (V{0, 1}));
  sw.route(1, frame(kMulticast, kB, 0x0800), out);
  EXPECT_EQ(out, (V{0, 2}));
  sw.route(0, frame(kA, kA, 0x0800), out);  // known on the ingress port: filtered
  EXPECT_TRUE(out.empty());
  sw.route(2, frame(kA, kB, 0x0800), out);  // B moved to port 2; A still on 0
  EXPECT_EQ(out, (V{0}));
  sw.route(0, frame(kB, kA, 0x0800), out);
  EXPECT_EQ(out, (V{2}));
  sw.route(1, frame(kB, kMulticast, 0x0800), out);  // a group source is not learned
  EXPECT_EQ(sw.known(), 3u);
}

}  // namespace
}  // namespace peer::field
