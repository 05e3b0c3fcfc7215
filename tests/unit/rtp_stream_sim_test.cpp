// RtpSender and RtpReceiver end to end over a simulated link with a virtual clock
// (rtp_stream_sim.hpp): loss and NACK, burst loss and PLI, sequence wrap, duplicates and
// reordering, RTT and fraction lost from SR/RR.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "rtp_stream_sim.hpp"

namespace peer::rtp::test {
namespace {

using std::chrono::milliseconds;

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Every frame came out, in order, each once.
void expect_in_order(const StreamSim& sim, int frames) {
  ASSERT_EQ(sim.released().size(), static_cast<std::size_t>(frames));
  for (int i = 0; i < frames; ++i) EXPECT_EQ(sim.released()[i].timestamp, sim.timestamp_of(i)) << i;
}

TEST(RtpStreamSim, InOrderDeliveryCompletesEveryFrameWithoutNack) {
  StreamSim sim(default_options());
  sim.run(std::chrono::seconds(2));
  expect_in_order(sim, 300);
  const auto& r = sim.receiver().stats();
  EXPECT_EQ(r.frames_complete, 300u);
  EXPECT_EQ(r.frames_dropped, 0u);
  EXPECT_EQ(r.nacks_sent, 0u);
  EXPECT_EQ(r.plis_sent, 0u);
  EXPECT_EQ(r.packets_lost, 0u);
  EXPECT_EQ(r.jitter, 0u);  // constant delay
  EXPECT_EQ(r.packets_received, sim.rtp_sent());
  EXPECT_EQ(sim.sender().stats().packets_sent, sim.rtp_sent());
  EXPECT_GE(sim.sender().stats().srs_sent, 5u);
  EXPECT_GE(r.rrs_sent, 5u);
}

TEST(RtpStreamSim, RttFromSenderAndReceiverReportsMatchesTheLink) {
  StreamSim sim(default_options());  // 10 ms each way
  sim.run(std::chrono::seconds(2));
  const auto rtt = sim.sender().stats().rtt;
  ASSERT_TRUE(rtt.has_value());
  std::printf("[ measured ] RTT from SR/RR %.3f ms (link 20 ms)\n", ms(*rtt));
  EXPECT_NEAR(ms(*rtt), 20.0, 2.0);
  EXPECT_NEAR(ms(sim.receiver().stats().rtt), 20.0, 2.0);  // fed by the glue (set_rtt)
}

TEST(RtpStreamSim, FivePercentLossIsRecoveredByNack) {
  auto o = default_options();
  o.media.loss = 0.05;
  o.feedback.loss = 0.05;
  StreamSim sim(o);
  sim.run(std::chrono::seconds(2));
  const auto& r = sim.receiver().stats();
  const auto& s = sim.sender().stats();
  const double complete = static_cast<double>(r.frames_complete) / 300.0;
  std::printf(
      "[ measured ] 5%% loss: %llu/300 frames complete, %llu dropped, link dropped %llu of %llu "
      "media datagrams, %llu NACK messages (%llu seqs), %llu retransmitted, %llu recovered, "
      "%llu given up, %llu PLIs, RTT %.2f ms\n",
      (unsigned long long)r.frames_complete, (unsigned long long)r.frames_dropped,
      (unsigned long long)sim.link().stats(0).dropped, (unsigned long long)sim.link().stats(0).sent,
      (unsigned long long)r.nacks_sent, (unsigned long long)r.nacked_packets,
      (unsigned long long)s.packets_retransmitted, (unsigned long long)r.retransmitted_received,
      (unsigned long long)r.packets_given_up, (unsigned long long)r.plis_sent, ms(s.rtt.value_or(Duration{})));
  EXPECT_GE(complete, 0.99);
  EXPECT_GT(r.nacks_sent, 0u);
  EXPECT_GT(r.retransmitted_received, 0u);
  // The released frames are in order.
  for (std::size_t i = 1; i < sim.released().size(); ++i) {
    EXPECT_LT(sim.released()[i - 1].timestamp, sim.released()[i].timestamp);
  }
  ASSERT_TRUE(s.rtt.has_value());
  EXPECT_NEAR(ms(*s.rtt), 20.0, 2.0);
}

TEST(RtpStreamSim, BurstBeyondTheCacheGivesUpSendsPliAndRecoversOnTheKeyframe) {
  auto o = default_options();
  o.sender.cache_packets = 32;  // the burst loses ~45 packets: the first ones cannot come back
  StreamSim sim(o);
  const TimePoint start = sim.now();
  std::optional<TimePoint> give_up, pli;
  uint64_t plis = 0;
  sim.run(std::chrono::seconds(2), [&](StreamSim& s) {
    const auto t = s.now() - start;
    s.link().impairments(0).loss = (t >= milliseconds(3000) && t < milliseconds(3500)) ? 1.0 : 0.0;
    const auto& r = s.receiver().stats();
    if (!give_up && r.packets_given_up > 0) give_up = r.last_give_up;
    if (r.plis_sent > plis) {
      plis = r.plis_sent;
      if (!pli) pli = r.last_pli;
    }
  });
  const auto& r = sim.receiver().stats();
  ASSERT_TRUE(give_up.has_value());
  ASSERT_TRUE(pli.has_value());
  const Duration latency = *pli - *give_up;
  std::printf(
      "[ measured ] burst: gave up %llu packets at +%.1f ms, PLI %.1f ms after the give-up, "
      "%llu PLIs, sender NACK misses %llu, keyframe sent %.1f ms after the PLI, %llu frames "
      "complete, %llu dropped\n",
      (unsigned long long)r.packets_given_up, ms(*give_up - start), ms(latency),
      (unsigned long long)r.plis_sent, (unsigned long long)sim.sender().stats().nack_misses,
      sim.keyframes_sent().size() > 1 ? ms(sim.keyframes_sent()[1] - *pli) : -1.0,
      (unsigned long long)r.frames_complete, (unsigned long long)r.frames_dropped);
  EXPECT_LE(latency, milliseconds(20) + std::chrono::microseconds(33333));
  EXPECT_GT(sim.sender().stats().nack_misses, 0u);
  EXPECT_GE(sim.sender().stats().plis_received, 1u);
  ASSERT_GE(sim.keyframes_sent().size(), 2u);
  // Frames flow again: the keyframe and every frame after it came out.
  const TimePoint key_at = sim.keyframes_sent()[1];
  int after = 0, key_released = 0;
  for (const auto& f : sim.released()) {
    if (f.keyframe && f.at > *give_up) ++key_released;
    if (f.at > key_at) ++after;
  }
  EXPECT_EQ(key_released, 1);
  const int frames_after_key = static_cast<int>((sim.now() - std::chrono::seconds(2) - key_at) /
                                                std::chrono::microseconds(33333)) + 1;
  EXPECT_GE(after, frames_after_key - 1);
  EXPECT_EQ(sim.released().back().timestamp, sim.timestamp_of(299));
  EXPECT_GT(r.frames_dropped, 0u);
}

TEST(RtpStreamSim, SequenceNumbersWrap) {
  auto o = default_options();
  o.sender.initial_sequence = 65000;  // ~900 packets: wraps once
  o.media.loss = 0.03;
  StreamSim sim(o);
  sim.run(std::chrono::seconds(2));
  EXPECT_LT(sim.sender().next_sequence(), 65000);  // it did wrap
  EXPECT_GE(sim.receiver().stats().frames_complete, 297u);
  EXPECT_EQ(sim.receiver().stats().plis_sent, 0u);
  const auto block = sim.receiver().report_block(sim.now());
  EXPECT_EQ(block.highest_sequence, 65000u + sim.rtp_sent() - 1);  // cycles << 16 | seq
}

TEST(RtpStreamSim, DuplicatesAndReorderingStillCompleteEveryFrame) {
  auto o = default_options();
  o.media.duplicate = 0.05;
  o.media.reorder = 0.05;
  StreamSim sim(o);
  sim.run(std::chrono::seconds(2));
  expect_in_order(sim, 300);
  const auto& r = sim.receiver().stats();
  EXPECT_GT(r.duplicates, 0u);
  EXPECT_EQ(r.frames_dropped, 0u);
  EXPECT_EQ(r.plis_sent, 0u);
  EXPECT_EQ(r.packets_given_up, 0u);
}

TEST(RtpStreamSim, FractionLostInReceiverReportsMatchesTheLoss) {
  auto o = default_options();
  o.media.loss = 0.10;
  o.receiver.nack_enabled = false;  // with NACK, retransmissions count as received (A.3)
  o.frames = 900;                   // 30 s
  StreamSim sim(o);
  sim.run(std::chrono::seconds(2));
  double sum = 0;
  for (const auto& [at, f] : sim.fractions()) sum += f / 256.0;
  ASSERT_GE(sim.fractions().size(), 20u);
  const double mean = sum / static_cast<double>(sim.fractions().size());
  const auto& l = sim.link().stats(0);
  const double link_loss = static_cast<double>(l.dropped) / static_cast<double>(l.sent);
  std::printf("[ measured ] RR fraction lost: mean %.4f over %zu reports, link %.4f, sender sees %u/256\n",
              mean, sim.fractions().size(), link_loss, unsigned(sim.sender().stats().fraction_lost));
  EXPECT_NEAR(mean, link_loss, 0.015);
  // The cumulative count is exact: expected minus received RTP packets.
  const auto block = sim.receiver().report_block(sim.now());
  const auto& r = sim.receiver().stats();
  EXPECT_EQ(static_cast<uint64_t>(block.cumulative_lost), r.packets_lost);
  EXPECT_NEAR(static_cast<double>(r.packets_lost), static_cast<double>(sim.rtp_sent() - r.packets_received), 2.0);
}

}  // namespace
}  // namespace peer::rtp::test
