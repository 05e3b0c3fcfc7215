// VP8 through libvpx: the test pattern encoded and decoded at 1 Mbit/s keeps its picture, its
// bars' colours and its frame numbers; keyframes on request; a decoder refuses what it cannot
// use (a delta frame first, a truncated frame) with an error a receiver answers with a PLI.
// Lives in the unit_media binary.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "media/analysis.hpp"
#include "media/test_pattern.hpp"
#include "media/vp8_decoder.hpp"
#include "media/vp8_encoder.hpp"
#include "peer/error.hpp"

namespace peer::media {
namespace {

Vp8Config vga_1mbit() {
  Vp8Config c;
  c.width = 640;
  c.height = 480;
  c.bitrate_kbps = 1000;
  return c;
}

TEST(Vp8, TestPatternSurvives60FramesAt1Mbit) {
  TestPattern pattern(640, 480, 30);
  Vp8Encoder encoder(vga_1mbit());
  Vp8Decoder decoder;
  VideoFrame source, decoded;
  EncodedFrame encoded;
  std::size_t bytes = 0;
  double worst_psnr = 99;
  for (uint32_t n = 0; n < 60; ++n) {
    pattern.next(source);
    ASSERT_TRUE(encoder.encode(source, encoded)) << "frame " << n;
    ASSERT_FALSE(encoded.data.empty()) << "frame " << n;
    EXPECT_EQ(encoded.keyframe, n == 0) << "frame " << n;
    EXPECT_EQ(encoded.timestamp_us, source.timestamp_us);
    bytes += encoded.data.size();
    const auto s = decoder.decode(encoded, decoded);
    ASSERT_TRUE(s) << "frame " << n << ": " << s.message();
    ASSERT_EQ(decoded.width(), 640);
    ASSERT_EQ(decoded.height(), 480);
    EXPECT_EQ(decoded.timestamp_us, source.timestamp_us);
    const double psnr = psnr_y(source, decoded);
    worst_psnr = std::min(worst_psnr, psnr);
    EXPECT_GT(psnr, 30.0) << "frame " << n;
    EXPECT_LT(mean_abs_diff_y(source, decoded), 3.0) << "frame " << n;
    for (int bar = 0; bar < 8; ++bar) {
      const Rect r = TestPattern::bar_rect(640, 480, bar);
      const Rect centre{r.x + r.width / 4, r.y + r.height / 4, r.width / 2, r.height / 2};
      EXPECT_EQ(dominant_colour(decoded, centre), kBarColours[bar])
          << "frame " << n << " bar " << bar << ": " << to_string(dominant_colour(decoded, centre));
    }
    const auto number = read_frame_number(decoded);
    ASSERT_TRUE(number.has_value()) << "frame " << n;
    EXPECT_EQ(*number, n);
  }
  // CBR at 1 Mbit/s for 2 s: 250 kB; the keyframe and rate control settling allow some slack.
  EXPECT_LT(bytes, 400000u);
  EXPECT_EQ(decoder.frames_decoded(), 60);
  std::printf("60 frames: %zu bytes, worst luma PSNR %.1f dB\n", bytes, worst_psnr);
}

TEST(Vp8, KeyframeOnRequest) {
  TestPattern pattern(320, 240);
  Vp8Config c;
  c.width = 320;
  c.height = 240;
  c.bitrate_kbps = 300;
  Vp8Encoder encoder(c);
  VideoFrame frame;
  EncodedFrame out;
  for (int n = 0; n < 5; ++n) {
    pattern.next(frame);
    ASSERT_TRUE(encoder.encode(frame, out));
    EXPECT_EQ(out.keyframe, n == 0);
    EXPECT_EQ(vp8_is_keyframe(out.data), n == 0);
  }
  encoder.request_keyframe();
  pattern.next(frame);
  ASSERT_TRUE(encoder.encode(frame, out));
  EXPECT_TRUE(out.keyframe);
  EXPECT_TRUE(vp8_is_keyframe(out.data));
  pattern.next(frame);
  ASSERT_TRUE(encoder.encode(frame, out));
  EXPECT_FALSE(out.keyframe);
}

TEST(Vp8, DeltaFrameBeforeKeyframeIsAnError) {
  TestPattern pattern(320, 240);
  Vp8Config c;
  c.width = 320;
  c.height = 240;
  Vp8Encoder encoder(c);
  VideoFrame frame, decoded;
  EncodedFrame key, delta;
  pattern.next(frame);
  ASSERT_TRUE(encoder.encode(frame, key));
  pattern.next(frame);
  ASSERT_TRUE(encoder.encode(frame, delta));
  ASSERT_FALSE(delta.keyframe);

  Vp8Decoder decoder;
  EXPECT_TRUE(decoder.needs_keyframe());
  const auto s = decoder.decode(delta, decoded);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.code(), ErrorCode::need_keyframe);
  EXPECT_NE(s.message().find("before any keyframe"), std::string::npos) << s.message();
  // The keyframe, then the delta, decode.
  ASSERT_TRUE(decoder.decode(key, decoded));
  EXPECT_FALSE(decoder.needs_keyframe());
  ASSERT_TRUE(decoder.decode(delta, decoded));
}

TEST(Vp8, TruncatedFramesGiveErrorsNotCrashes) {
  TestPattern pattern(640, 480);
  Vp8Encoder encoder(vga_1mbit());
  VideoFrame frame, decoded;
  std::vector<EncodedFrame> frames(4);
  for (auto& f : frames) {
    pattern.next(frame);
    ASSERT_TRUE(encoder.encode(frame, f));
  }
  // Every cut of the keyframe either decodes (libvpx may not notice a missing tail) or is
  // an error; afterwards a delta frame is refused until a keyframe comes.
  const std::vector<uint8_t>& key = frames[0].data;
  int errors = 0;
  for (const std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{9},
                                std::size_t{10}, std::size_t{20}, key.size() / 4, key.size() / 2,
                                key.size() - 1}) {
    Vp8Decoder decoder;
    const auto s = decoder.decode(std::span(key.data(), cut), 0, decoded);
    if (!s) {
      ++errors;
      EXPECT_TRUE(s.code() == ErrorCode::corrupt || s.code() == ErrorCode::need_keyframe)
          << cut << ": " << to_string(s.code());
      EXPECT_TRUE(decoder.needs_keyframe());
      const auto d = decoder.decode(frames[1], decoded);
      EXPECT_EQ(d.code(), ErrorCode::need_keyframe) << d.message();
    }
  }
  EXPECT_GE(errors, 6);  // all the short cuts at least

  // A truncated delta frame in a running stream: an error or a picture, never a crash;
  // after an error only a keyframe is taken.
  Vp8Decoder decoder;
  ASSERT_TRUE(decoder.decode(frames[0], decoded));
  const auto& d1 = frames[1].data;
  const auto s = decoder.decode(std::span(d1.data(), d1.size() / 3), 0, decoded);
  if (!s) {
    EXPECT_EQ(decoder.decode(frames[2], decoded).code(), ErrorCode::need_keyframe);
  }
  // Garbage after a keyframe byte.
  std::vector<uint8_t> junk(key.begin(), key.begin() + 10);
  junk.resize(500, 0xA5);
  Vp8Decoder fresh;
  (void)fresh.decode(junk, 0, decoded);
}

// The pattern with light noise (analysis.hpp) fills whatever rate it is given.
void noise(VideoFrame& f, uint32_t& seed, int64_t timestamp_us) {
  add_noise(f, seed);
  f.timestamp_us = timestamp_us;
}

TEST(Vp8, BitrateChangesAtRuntime) {
  Vp8Config c = vga_1mbit();
  c.bitrate_kbps = 2000;
  Vp8Encoder encoder(c);
  TestPattern pattern(640, 480);
  VideoFrame frame;
  EncodedFrame out;
  uint32_t seed = 1;
  int64_t n = 0;
  const auto run = [&](int frames) {
    std::size_t bytes = 0;
    for (int i = 0; i < frames; ++i) {
      pattern.next(frame);
      noise(frame, seed, n++ * 33333);
      EXPECT_TRUE(encoder.encode(frame, out));
      bytes += out.data.size();
    }
    return bytes;
  };
  run(30);
  const std::size_t high = run(60);
  ASSERT_TRUE(encoder.set_bitrate(150));
  EXPECT_EQ(encoder.config().bitrate_kbps, 150);
  run(30);
  const std::size_t low = run(60);
  std::printf("60 frames of noise at 2000 kbit/s: %zu bytes; at 150 kbit/s: %zu bytes\n", high, low);
  // 2 s at 2000 kbit/s is 500 kB, at 150 kbit/s 37.5 kB: each within a factor of 2.
  EXPECT_GT(high, 250000u);
  EXPECT_LT(high, 1000000u);
  EXPECT_GT(low, 18000u);
  EXPECT_LT(low, 75000u);
}

TEST(Vp8, NewSizeRestartsWithKeyframe) {
  Vp8Encoder encoder(vga_1mbit());
  TestPattern big(640, 480), small(320, 240);
  VideoFrame frame, decoded;
  EncodedFrame out;
  Vp8Decoder decoder;
  big.next(frame);
  ASSERT_TRUE(encoder.encode(frame, out));
  ASSERT_TRUE(decoder.decode(out, decoded));
  small.draw(1, frame);
  frame.timestamp_us = 33333;
  ASSERT_TRUE(encoder.encode(frame, out));
  EXPECT_TRUE(out.keyframe);
  EXPECT_EQ(out.width, 320);
  ASSERT_TRUE(decoder.decode(out, decoded));
  EXPECT_EQ(decoded.width(), 320);
  EXPECT_EQ(decoded.height(), 240);
  EXPECT_EQ(read_frame_number(decoded), 1u);
}

TEST(Vp8, BadConfigThrows) {
  Vp8Config c;
  c.threads = 3;
  EXPECT_THROW(Vp8Encoder{c}, peer::Error);
  c = {};
  c.bitrate_kbps = 0;
  EXPECT_THROW(Vp8Encoder{c}, peer::Error);
  EXPECT_THROW(Vp8Decoder{0}, peer::Error);
}

// Not a check: the cost of one 640x480 frame at 1 Mbit/s on this machine, for the docs; the
// plain pattern (mostly static, few bits) and the pattern with light noise (fills the rate).
TEST(Vp8, TimingPerFrame) {
  for (const bool noisy : {false, true}) {
    TestPattern pattern(640, 480);
    Vp8Encoder encoder(vga_1mbit());
    Vp8Decoder decoder;
    VideoFrame frame, decoded;
    EncodedFrame out;
    std::vector<double> enc_ms, dec_ms;
    std::size_t bytes = 0;
    uint32_t seed = 7;
    using clock = std::chrono::steady_clock;
    for (int i = 0; i < 100; ++i) {
      pattern.next(frame);
      if (noisy) noise(frame, seed, frame.timestamp_us);
      const auto t0 = clock::now();
      ASSERT_TRUE(encoder.encode(frame, out));
      const auto t1 = clock::now();
      ASSERT_TRUE(decoder.decode(out, decoded));
      const auto t2 = clock::now();
      bytes += out.data.size();
      enc_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      dec_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    std::sort(enc_ms.begin(), enc_ms.end());
    std::sort(dec_ms.begin(), dec_ms.end());
    std::printf("VP8 640x480 %s at 1 Mbit/s, median of 100: encode %.3f ms, decode %.3f ms "
                "(max %.3f / %.3f), %.0f kbit/s\n",
                noisy ? "pattern+noise" : "pattern", enc_ms[50], dec_ms[50], enc_ms.back(),
                dec_ms.back(), bytes * 8.0 / (100 / 30.0) / 1000);
  }
}

}  // namespace
}  // namespace peer::media
