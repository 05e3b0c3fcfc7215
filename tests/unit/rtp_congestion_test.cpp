// Congestion control (core/rtp/congestion.hpp): the incoming-rate window, the delay-based
// estimator on synthetic arrivals (steady, a queue building behind a bottleneck, the 64 s
// wrap of abs-send-time, reordering), the sender's loss- and REMB-based target, and what
// RtpSender reads for it (REMB, packets NACKed).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/rtp/congestion.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp.hpp"
#include "core/rtp/rtp_sender.hpp"

namespace peer::rtp {
namespace {

using namespace std::chrono_literals;

TimePoint at(Duration d) { return TimePoint{} + d; }

uint32_t abs_time(Duration since_zero, Duration offset = 0s) {
  return abs_send_time_from_us(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(since_zero + offset).count()));
}

TEST(IncomingRate, IsTheLastHalfSecondOnceAWholeWindowWasSeen) {
  IncomingRate rate;
  for (int ms = 0; ms < 1000; ms += 10) {
    rate.add(at(std::chrono::milliseconds(ms)), 1000);  // 1000 bytes / 10 ms = 800 kbit/s
    if (ms < 490) {
      EXPECT_FALSE(rate.bps(at(std::chrono::milliseconds(ms))).has_value()) << ms;
    }
  }
  ASSERT_TRUE(rate.bps(at(990ms)));
  EXPECT_EQ(*rate.bps(at(990ms)), 800'000u);
  // Quiet for a second: nothing in the window any more.
  EXPECT_EQ(*rate.bps(at(2000ms)), 0u);
  rate.add(at(2000ms), 500);
  EXPECT_EQ(*rate.bps(at(2000ms)), 8'000u);
}

// Frames of `packets` x 1200 bytes every 33 ms, all of a frame sent at once, through a link
// of `link_bps` (0: no limit) with 20 ms of propagation; calls the estimator per arrival.
struct Feed {
  uint64_t link_bps = 0;
  int packets = 4;
  Duration send_offset = 0s;  // added to the abs-send-time clock (to cross its wrap)
  TimePoint link_free{};
  Duration t{};

  void frames(DelayBasedEstimator& e, int count) {
    for (int f = 0; f < count; ++f, t += 33ms) {
      for (int p = 0; p < packets; ++p) {
        TimePoint arrival = at(t) + 20ms;
        if (link_bps != 0) {
          link_free = std::max(link_free, at(t)) + std::chrono::microseconds(uint64_t{1200} * 8 * 1'000'000 / link_bps);
          arrival = link_free + 20ms;
        }
        e.on_packet(arrival, abs_time(t, send_offset), 1200);
      }
    }
  }
};

TEST(DelayBasedEstimator, SteadyDelayIsNormalAndGivesNoEstimate) {
  DelayBasedEstimator e;
  Feed feed;  // 4 x 1200 bytes / 33 ms = 1.16 Mbit/s, no queue
  feed.frames(e, 150);  // 5 s
  EXPECT_EQ(e.overuse_count(), 0u);
  EXPECT_EQ(e.usage(), BandwidthUsage::normal);
  // The path never limited the sender: no estimate to send, the sender keeps its rate.
  EXPECT_FALSE(e.estimate_bps());
  EXPECT_FALSE(e.decrease_pending());
  EXPECT_EQ(*e.incoming_bps(TimePoint{} + feed.t), 1'152'000u);
}

TEST(DelayBasedEstimator, AQueueBuildingBehindABottleneckIsOveruseAndTheEstimateFallsUnderIt) {
  DelayBasedEstimator e;
  Feed feed;
  feed.frames(e, 90);  // 3 s unconstrained: 1.16 Mbit/s
  ASSERT_EQ(e.overuse_count(), 0u);
  feed.link_bps = 600'000;  // now the link carries half of it: the queue grows 20 ms a frame
  const Duration start = feed.t;
  while (e.overuse_count() == 0 && feed.t - start < 2s) feed.frames(e, 1);
  ASSERT_EQ(e.overuse_count(), 1u);
  EXPECT_LE(feed.t - start, 600ms) << "overuse seen only after " << (feed.t - start) / 1ms << " ms";
  ASSERT_TRUE(e.estimate_bps());
  EXPECT_LT(*e.estimate_bps(), 1'000'000u);
  // The sender here does not react, so the queue keeps growing: within half a second the
  // estimate is 0.85 x what arrives (the link's 600 kbit/s), whatever the 1.16 Mbit/s sent.
  feed.frames(e, 15);
  EXPECT_LE(*e.estimate_bps(), 560'000u);
  EXPECT_GE(*e.estimate_bps(), 400'000u);
  EXPECT_TRUE(e.decrease_pending());
  e.reported();
  EXPECT_FALSE(e.decrease_pending());
}

TEST(DelayBasedEstimator, TheSendTimeWrapEvery64SecondsIsNotAJump) {
  DelayBasedEstimator e;
  Feed feed;
  feed.send_offset = 63s;  // the 6.18 clock wraps 1 s into the run
  feed.frames(e, 150);
  EXPECT_EQ(e.overuse_count(), 0u);
  EXPECT_EQ(e.usage(), BandwidthUsage::normal);
  // And a bottleneck after the wrap is still seen.
  feed.link_bps = 600'000;
  feed.frames(e, 30);
  EXPECT_EQ(e.overuse_count(), 1u);
}

TEST(DelayBasedEstimator, ReorderedAndRetransmittedPacketsDoNotLookLikeAQueue) {
  DelayBasedEstimator e;
  Duration t{};
  for (int f = 0; f < 150; ++f, t += 33ms) {
    // Packets of a frame arrive out of order, and a packet of a frame 0.5 s old (a
    // retransmission keeps its send time) arrives with each.
    for (int p : {2, 0, 3, 1}) e.on_packet(at(t) + 20ms + std::chrono::microseconds(p * 100), abs_time(t), 1200);
    if (t > 500ms) e.on_packet(at(t) + 21ms, abs_time(t - 500ms), 1200);
  }
  EXPECT_EQ(e.overuse_count(), 0u);
}

TEST(DelayBasedEstimator, AfterAGapTheStreamStartsOverAndTheEstimateDoesNotCollapse) {
  DelayBasedEstimator e;
  Feed feed;
  feed.frames(e, 60);
  feed.link_bps = 600'000;
  feed.frames(e, 30);  // overusing when the stream stops
  ASSERT_EQ(e.usage(), BandwidthUsage::overusing);
  const uint64_t before = *e.estimate_bps();
  // 40 s of silence (longer than half the send-time wrap), then the same stream again,
  // with the link free.
  feed.t += 40s;
  feed.link_bps = 0;
  feed.frames(e, 60);
  EXPECT_EQ(e.usage(), BandwidthUsage::normal);
  ASSERT_TRUE(e.estimate_bps());
  EXPECT_GE(*e.estimate_bps(), before);  // kept (and grown), not 0.85 x an empty window
  EXPECT_EQ(e.overuse_count(), 1u);
}

TEST(DelayBasedEstimator, PacketsWithoutSendTimeCountOnlyTowardsTheRate) {
  DelayBasedEstimator e;
  for (int ms = 0; ms < 3000; ms += 10) e.on_packet_without_send_time(at(std::chrono::milliseconds(ms)), 1000);
  EXPECT_FALSE(e.estimate_bps());
  EXPECT_EQ(*e.incoming_bps(at(2990ms)), 800'000u);
}

TEST(SendRateController, LossAboveTenPercentCutsBelowTwoPercentGrowsOnceASecond) {
  SendRateController c({.start_bps = 1'000'000, .min_bps = 50'000, .max_bps = 2'000'000});
  c.on_loss_report(51, at(1s));  // 51/256, about 20%: x (1 - loss / 2)
  const double cut = 1'000'000 * (1 - 0.5 * 51 / 256.0);
  EXPECT_NEAR(static_cast<double>(c.target_bps()), cut, 1);
  c.on_loss_report(13, at(2s));  // 5%: hold
  EXPECT_NEAR(static_cast<double>(c.target_bps()), cut, 1);
  c.on_loss_report(0, at(3s));  // under 2%: x 1.05 + 1 kbit/s
  EXPECT_NEAR(static_cast<double>(c.target_bps()), cut * 1.05 + 1000, 2);
  c.on_loss_report(0, at(3s) + 300ms);  // a second report within the second: no step
  EXPECT_NEAR(static_cast<double>(c.target_bps()), cut * 1.05 + 1000, 2);
  for (int i = 0; i < 30; ++i) c.on_loss_report(0, at(std::chrono::seconds(4 + i)));
  EXPECT_EQ(c.target_bps(), 2'000'000u);  // never above the configured bitrate
  for (int i = 0; i < 60; ++i) c.on_loss_report(255, at(std::chrono::seconds(40 + i)));
  EXPECT_EQ(c.target_bps(), 50'000u);  // nor under the minimum
}

TEST(SendRateController, TheTargetIsTheLowerOfLossBasedAndRemb) {
  SendRateController c({.start_bps = 1'000'000, .min_bps = 50'000, .max_bps = 1'000'000});
  c.on_remb(400'000);
  EXPECT_EQ(c.target_bps(), 400'000u);
  EXPECT_EQ(c.remb_bps(), 400'000u);
  c.on_remb(5'000'000);  // more than we may use: the configured bitrate
  EXPECT_EQ(c.target_bps(), 1'000'000u);
  c.on_remb(10'000);  // under the floor
  EXPECT_EQ(c.target_bps(), 50'000u);
  c.on_remb(700'000);
  c.set_max(500'000);
  EXPECT_EQ(c.target_bps(), 500'000u);
}

TEST(RtpSenderFeedback, RembForOurSsrcAndDistinctNackedPacketsAreCounted) {
  RtpSender sender({.ssrc = 0x1234, .initial_sequence = 100});
  std::vector<std::byte> out(1500);
  const std::vector<std::byte> payload(100, std::byte{1});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(sender.send(payload, true, 0, at(10ms), out));

  std::vector<std::byte> rtcp(200);
  RtcpWriter w(rtcp);
  w.receiver_report(0x9999);
  const uint32_t other = 0x7777, ours = 0x1234;
  ASSERT_TRUE(w.remb(0x9999, 300'000, std::span<const uint32_t>(&other, 1)));  // not about us
  const std::vector<uint16_t> lost = {101, 103};
  ASSERT_TRUE(w.nack(0x9999, 0x1234, lost));
  sender.handle_rtcp(at(20ms), std::span<const std::byte>(rtcp.data(), w.size()));
  EXPECT_EQ(sender.stats().rembs_received, 0u);
  EXPECT_FALSE(sender.stats().remb_bps);
  EXPECT_EQ(sender.stats().packets_nacked, 2u);

  RtcpWriter again(rtcp);
  again.receiver_report(0x9999);
  const uint32_t both[] = {other, ours};
  ASSERT_TRUE(again.remb(0x9999, 450'000, both));
  const std::vector<uint16_t> lost_again = {103, 105};  // 103 a second time
  ASSERT_TRUE(again.nack(0x9999, 0x1234, lost_again));
  sender.handle_rtcp(at(30ms), std::span<const std::byte>(rtcp.data(), again.size()));
  EXPECT_EQ(sender.stats().rembs_received, 1u);
  // REMB's 6-bit exponent and 18-bit mantissa hold 450000 exactly.
  EXPECT_EQ(sender.stats().remb_bps, 450'000u);
  EXPECT_EQ(sender.stats().packets_nacked, 3u);  // 101, 103, 105
  EXPECT_EQ(sender.stats().nacked_packets, 4u);  // every sequence number asked for
}

}  // namespace
}  // namespace peer::rtp
