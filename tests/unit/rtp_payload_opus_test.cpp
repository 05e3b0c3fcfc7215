// The Opus RTP payload format (RFC 7587) and the TOC byte (RFC 6716 section 3.1).
// Lives in the unit_rtp binary.

#include <gtest/gtest.h>

#include <cstdint>

#include "core/rtp/payload_opus.hpp"
#include "rtp_test_util.hpp"

namespace peer::rtp {
namespace {

using test::bytes;

uint8_t toc(int config, bool stereo, int code) {
  return static_cast<uint8_t>((config << 3) | (stereo ? 4 : 0) | code);
}

uint32_t samples(std::initializer_list<int> packet) {
  const auto t = parse_opus_toc(bytes(packet));
  EXPECT_TRUE(t) << describe(t.error());
  return t ? t->samples() : 0;
}

// Table 2 of RFC 6716 section 3.1, a config of each mode and frame size.
TEST(Opus, FrameDurations) {
  EXPECT_EQ(samples({toc(0, false, 0)}), 480u);    // SILK NB 10 ms
  EXPECT_EQ(samples({toc(1, false, 0)}), 960u);    // SILK NB 20 ms
  EXPECT_EQ(samples({toc(6, false, 0)}), 1920u);   // SILK MB 40 ms
  EXPECT_EQ(samples({toc(11, false, 0)}), 2880u);  // SILK WB 60 ms
  EXPECT_EQ(samples({toc(12, false, 0)}), 480u);   // Hybrid SWB 10 ms
  EXPECT_EQ(samples({toc(15, true, 0)}), 960u);    // Hybrid FB 20 ms
  EXPECT_EQ(samples({toc(16, false, 0)}), 120u);   // CELT NB 2.5 ms
  EXPECT_EQ(samples({toc(21, false, 0)}), 240u);   // CELT WB 5 ms
  EXPECT_EQ(samples({toc(26, false, 0)}), 480u);   // CELT SWB 10 ms
  EXPECT_EQ(samples({toc(31, true, 0)}), 960u);    // CELT FB 20 ms
  // Frame counts: code 1 and 2 carry two frames, code 3 says how many.
  EXPECT_EQ(samples({toc(1, false, 1)}), 1920u);
  EXPECT_EQ(samples({toc(31, false, 2), 0x01}), 1920u);
  EXPECT_EQ(samples({toc(31, false, 3), 0x03}), 2880u);
  EXPECT_EQ(samples({toc(16, false, 3), 0x80 | 0x40 | 48}), 5760u);  // 48 x 2.5 ms, v and p
  EXPECT_EQ(samples({toc(3, false, 1)}), 5760u);  // 2 x 60 ms: the 120 ms limit

  const auto t = parse_opus_toc(bytes({toc(15, true, 0), 0x00}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->config, 15);
  EXPECT_EQ(t->mode, OpusMode::hybrid);
  EXPECT_EQ(t->bandwidth, OpusBandwidth::full);
  EXPECT_TRUE(t->stereo);
  EXPECT_EQ(t->frame_count, 1u);
  EXPECT_EQ(t->frame_samples, 960u);
  EXPECT_EQ(parse_opus_toc(bytes({toc(5, false, 0)}))->bandwidth, OpusBandwidth::medium);
  EXPECT_EQ(parse_opus_toc(bytes({toc(20, false, 0)}))->mode, OpusMode::celt);
}

TEST(Opus, Errors) {
  EXPECT_EQ(parse_opus_toc({}).error().code, ErrorCode::truncated);
  EXPECT_EQ(parse_opus_toc(bytes({toc(1, false, 3)})).error().code, ErrorCode::truncated);
  EXPECT_EQ(parse_opus_toc(bytes({toc(1, false, 3), 0x00})).error().code,
            ErrorCode::bad_field);  // M = 0
  const auto long_packet = parse_opus_toc(bytes({toc(1, false, 3), 0x07}));  // 140 ms
  EXPECT_EQ(long_packet.error().code, ErrorCode::bad_field);
  EXPECT_EQ(long_packet.error().offset, 1u);
}

TEST(Opus, Packetize) {
  const auto packet = bytes({toc(31, true, 0), 0x11, 0x22});
  const auto p = packetize_opus(packet, /*after_silence=*/true);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->payload.data(), packet.data());  // as it is, no copy
  EXPECT_EQ(p->payload.size(), packet.size());
  EXPECT_TRUE(p->marker);
  EXPECT_EQ(p->samples, 960u);
  EXPECT_FALSE(packetize_opus(packet)->marker);
  EXPECT_FALSE(packetize_opus({}));
}

}  // namespace
}  // namespace peer::rtp
