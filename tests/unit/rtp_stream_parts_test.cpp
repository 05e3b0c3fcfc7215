// The pieces of the RTP stream machinery on their own: sequence unwrapping, the jitter
// buffer's caps and keyframe logic, the NACK list's cap, the sender's cache and RTCP input.

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <vector>

#include "core/rtp/jitter_buffer.hpp"
#include "core/rtp/nack_tracker.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp_sender.hpp"
#include "core/rtp/rtp_stream.hpp"
#include "rtp_stream_sim.hpp"

namespace peer::rtp::test {
namespace {

using std::chrono::milliseconds;
const TimePoint kT0 = TimePoint(std::chrono::seconds(500));

TEST(RtpStreamParts, UnwrapsAcrossTheWrapAndKeepsOldNumbersOld) {
  SequenceUnwrapper u;
  EXPECT_EQ(u.unwrap(65534), 65534);
  EXPECT_EQ(u.unwrap(65535), 65535);
  EXPECT_EQ(u.unwrap(0), 65536);
  EXPECT_EQ(u.unwrap(65533), 65533);  // late, from before the wrap
  EXPECT_EQ(u.unwrap(5), 65541);
  EXPECT_EQ(u.highest(), 65541);
  EXPECT_EQ(u.unwrap(30000), 30000 + 65536);  // within half the space ahead
  EXPECT_EQ(u.unwrap(65000), 65000);          // more than half ahead of 30000: old
}

// A packet of the test format (tests/unit/rtp_stream_sim.hpp) in its own storage.
struct Pkt {
  std::array<std::byte, 64> bytes{};
  std::size_t size = 0;
  RtpView view() const { return *parse_rtp(std::span(bytes.data(), size)); }
};
Pkt make(uint16_t seq, uint32_t ts, bool start, bool end, bool key) {
  Pkt p;
  RtpHeader h;
  h.sequence = seq;
  h.timestamp = ts;
  h.marker = end;
  h.ssrc = 7;
  std::array<std::byte, 4> payload{std::byte(static_cast<uint8_t>((start ? 1 : 0) | (key ? 2 : 0)))};
  p.size = *write_rtp(p.bytes, h, {}, payload);
  return p;
}

TEST(RtpStreamParts, JitterBufferHoldsFramesBehindAGapAndReleasesThemInOrder) {
  JitterBuffer jb({64, 16, 200}, test_format());
  jb.insert(make(10, 100, true, true, true).view(), 10);
  auto f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->keyframe);
  // Frame 200 is 11..12; 12 arrives first, then frame 300 (13) complete: both wait for 11.
  jb.insert(make(12, 200, false, true, false).view(), 12);
  jb.insert(make(13, 300, true, true, false).view(), 13);
  EXPECT_FALSE(jb.pop_frame());
  jb.insert(make(11, 200, true, false, false).view(), 11);
  f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->timestamp, 200u);
  EXPECT_EQ(f->packets.size(), 2u);
  EXPECT_EQ(f->packets[0].sequence(), 11);
  f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->timestamp, 300u);
  EXPECT_EQ(jb.insert(make(12, 200, false, true, false).view(), 12), JitterBuffer::Insert::too_old);
  EXPECT_EQ(jb.stats().frames_complete, 3u);
}

TEST(RtpStreamParts, JitterBufferGivesUpThenDropsUntilAKeyframe) {
  JitterBuffer jb({64, 16, 200}, test_format());
  jb.insert(make(1, 100, true, true, true).view(), 1);
  ASSERT_TRUE(jb.pop_frame());
  // 2 is lost for good; 3 (a delta frame) is complete behind it.
  jb.insert(make(3, 300, true, true, false).view(), 3);
  EXPECT_FALSE(jb.pop_frame());
  jb.give_up_through(2);
  EXPECT_TRUE(jb.take_keyframe_wanted());
  EXPECT_FALSE(jb.pop_frame());  // 3 is a delta frame: dropped
  EXPECT_TRUE(jb.waiting_for_keyframe());
  jb.insert(make(4, 400, true, true, true).view(), 4);
  auto f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->timestamp, 400u);
  EXPECT_FALSE(jb.waiting_for_keyframe());
  EXPECT_EQ(jb.stats().frames_dropped, 1u);
}

TEST(RtpStreamParts, JitterBufferJumpsToACompleteKeyframePastAGap) {
  JitterBuffer jb({64, 16, 200}, test_format());
  jb.insert(make(1, 100, true, true, true).view(), 1);
  ASSERT_TRUE(jb.pop_frame());
  jb.insert(make(3, 300, true, true, false).view(), 3);  // 2 missing
  jb.insert(make(4, 400, true, false, true).view(), 4);
  jb.insert(make(5, 400, false, true, true).view(), 5);  // keyframe 4..5 complete
  auto f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->timestamp, 400u);
  EXPECT_EQ(jb.head(), 6);
  EXPECT_FALSE(jb.take_keyframe_wanted());  // a jump to a keyframe needs none
}

TEST(RtpStreamParts, JitterBufferCapsPacketsAndFrames) {
  JitterBuffer jb({32, 8, 200}, test_format());
  jb.insert(make(0, 0, true, true, true).view(), 0);
  ASSERT_TRUE(jb.pop_frame());
  // 1 never comes; 100 one-packet delta frames pile up behind it.
  for (int i = 2; i < 102; ++i) jb.insert(make(static_cast<uint16_t>(i), i * 10, true, true, false).view(), i);
  EXPECT_GT(jb.stats().overflows, 0u);
  EXPECT_TRUE(jb.take_keyframe_wanted());
  EXPECT_TRUE(jb.waiting_for_keyframe());
  EXPECT_GE(jb.head(), 102 - 8 - 1);  // no more than max_frames held
  while (jb.pop_frame()) {
  }
  jb.insert(make(102, 1020, true, true, true).view(), 102);
  auto f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->keyframe);
}

TEST(RtpStreamParts, JitterBufferDefaultFormatUsesMarkersAndTimestamps) {
  JitterBuffer jb({32, 8, 200}, FrameFormat{});  // no callbacks: marker ends, next starts
  jb.insert(make(5, 50, false, false, false).view(), 5);
  jb.insert(make(6, 50, false, true, false).view(), 6);
  auto f = jb.pop_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->packets.size(), 2u);
  jb.insert(make(8, 70, false, true, false).view(), 8);  // 7 (its start) lost
  EXPECT_FALSE(jb.pop_frame());
  jb.give_up_through(7);
  EXPECT_FALSE(jb.pop_frame());  // 8 alone is the rest of a frame
  jb.insert(make(9, 90, false, true, false).view(), 9);
  f = jb.pop_frame();  // no keyframe logic: the next whole frame goes out
  ASSERT_TRUE(f);
  EXPECT_EQ(f->timestamp, 90u);
}

TEST(RtpStreamParts, NackListIsCappedAndGivesUpTheOldest) {
  NackTracker nack({16, 3, std::chrono::seconds(1), milliseconds(10)});
  nack.on_packet(0, kT0);
  nack.on_packet(101, kT0);  // 100 missing, 16 kept
  EXPECT_EQ(nack.size(), 16u);
  auto given = nack.take_given_up();
  ASSERT_TRUE(given);
  EXPECT_EQ(*given, 84);
  std::vector<uint16_t> out;
  nack.collect(kT0, milliseconds(20), out, 100);
  EXPECT_EQ(out.size(), 16u);
  EXPECT_EQ(out.front(), 85);
  // Retry after ~RTT, not before; give up after 3 requests.
  out.clear();
  nack.collect(kT0 + milliseconds(10), milliseconds(20), out, 100);
  EXPECT_TRUE(out.empty());
  nack.collect(kT0 + milliseconds(25), milliseconds(20), out, 100);
  EXPECT_EQ(out.size(), 16u);
  EXPECT_TRUE(nack.on_packet(90, kT0 + milliseconds(30)));  // recovered
  EXPECT_EQ(nack.size(), 15u);
  out.clear();
  nack.collect(kT0 + milliseconds(50), milliseconds(20), out, 100);
  EXPECT_EQ(out.size(), 15u);
  nack.handle_timeout(kT0 + milliseconds(100), milliseconds(20));
  EXPECT_EQ(nack.size(), 0u);
  EXPECT_EQ(*nack.take_given_up(), 100);
}

TEST(RtpStreamParts, SenderAnswersNackFromItsCacheOnly) {
  RtpSenderConfig c;
  c.ssrc = 42;
  c.cache_packets = 4;
  RtpSender s(c);
  std::array<std::byte, 200> buf{};
  std::array<std::byte, 10> payload{};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s.send(payload, true, 3000u * i, kT0, buf).ok());
  std::array<std::byte, 100> rtcp{};
  RtcpWriter w(rtcp);
  const std::array<uint16_t, 3> seqs{2, 8, 9};  // 2 is gone from a 4-packet cache
  ASSERT_TRUE(w.nack(1, 42, seqs));
  s.handle_rtcp(kT0 + milliseconds(10), w.bytes());
  s.handle_rtcp(kT0 + milliseconds(10), w.bytes());  // the same NACK twice: queued once
  std::vector<uint16_t> resent;
  while (auto p = s.poll_retransmission(kT0 + milliseconds(10))) resent.push_back(parse_rtp(*p)->sequence());
  EXPECT_EQ(resent, (std::vector<uint16_t>{8, 9}));
  EXPECT_EQ(s.stats().nack_misses, 2u);
  EXPECT_EQ(s.stats().packets_retransmitted, 2u);
  // Too old: past cache_age.
  s.handle_rtcp(kT0 + std::chrono::seconds(2), w.bytes());
  EXPECT_FALSE(s.poll_retransmission(kT0 + std::chrono::seconds(2)));
}

TEST(RtpStreamParts, SenderFlagsPliAndNewFirOnly) {
  RtpSenderConfig c;
  c.ssrc = 42;
  RtpSender s(c);
  std::array<std::byte, 100> rtcp{};
  RtcpWriter w(rtcp);
  ASSERT_TRUE(w.pli(1, 43));  // another stream's
  s.handle_rtcp(kT0, w.bytes());
  EXPECT_FALSE(s.keyframe_requested());
  RtcpWriter w2(rtcp);
  const std::array<FirEntry, 1> fir{FirEntry{42, 7}};
  ASSERT_TRUE(w2.fir(1, fir));
  s.handle_rtcp(kT0, w2.bytes());
  EXPECT_TRUE(s.take_keyframe_request());
  s.handle_rtcp(kT0, w2.bytes());  // the same FIR again (RFC 5104 4.3.1.2): no new request
  EXPECT_FALSE(s.keyframe_requested());
  RtcpWriter w3(rtcp);
  ASSERT_TRUE(w3.pli(1, 42));
  s.handle_rtcp(kT0, w3.bytes());
  EXPECT_TRUE(s.take_keyframe_request());
  EXPECT_EQ(s.stats().plis_received, 1u);
  EXPECT_EQ(s.stats().firs_received, 1u);
}

}  // namespace
}  // namespace peer::rtp::test
