// VideoFrame (layout, reuse without reallocation), the test pattern (bars, moving box, the
// frame number code) and the analysis helpers. Lives in the unit_media binary.

#include <gtest/gtest.h>

#include <cmath>

#include "media/analysis.hpp"
#include "media/test_pattern.hpp"
#include "media/video_frame.hpp"
#include "peer/error.hpp"

namespace peer::media {
namespace {

TEST(VideoFrame, LayoutAndReuse) {
  VideoFrame f(641, 481);
  EXPECT_EQ(f.plane_width(VideoFrame::kU), 321);
  EXPECT_EQ(f.plane_height(VideoFrame::kV), 241);
  EXPECT_GE(f.stride(VideoFrame::kY), 641);
  EXPECT_EQ(f.stride(VideoFrame::kY) % 32, 0);
  EXPECT_GE(f.stride(VideoFrame::kU), 321);
  EXPECT_GE(f.data(VideoFrame::kU), f.data(VideoFrame::kY) + f.stride(0) * 481);
  EXPECT_GE(f.data(VideoFrame::kV), f.data(VideoFrame::kU) + f.stride(1) * 241);
  const uint8_t* buffer = f.data(VideoFrame::kY);
  const std::size_t capacity = f.capacity();
  f.resize(641, 481);
  EXPECT_EQ(f.data(VideoFrame::kY), buffer);  // same size: no reallocation
  f.resize(320, 240);
  EXPECT_EQ(f.data(VideoFrame::kY), buffer);  // smaller: no reallocation either
  EXPECT_EQ(f.capacity(), capacity);
  f.fill(10, 20, 30);
  EXPECT_EQ(f.row(VideoFrame::kY, 239)[319], 10);
  EXPECT_EQ(f.row(VideoFrame::kV, 119)[159], 30);

  VideoFrame copy = f;
  EXPECT_EQ(copy.width(), 320);
  EXPECT_NE(copy.data(0), f.data(0));
  EXPECT_EQ(copy.row(VideoFrame::kU, 5)[5], 20);
  const uint8_t* copy_buffer = copy.data(0);
  copy = f;  // same size again: no reallocation
  EXPECT_EQ(copy.data(0), copy_buffer);

  EXPECT_THROW(f.resize(0, 10), peer::Error);
}

TEST(TestPattern, BarsBoxAndCode) {
  TestPattern pattern(640, 480, 30);
  VideoFrame f;
  for (uint32_t n = 0; n < 3; ++n) {
    pattern.next(f);
    EXPECT_EQ(f.timestamp_us, int64_t(n) * 1000000 / 30);
    EXPECT_EQ(read_frame_number(f), n);
  }
  EXPECT_EQ(pattern.frame_number(), 3u);
  for (int bar = 0; bar < 8; ++bar) {
    EXPECT_EQ(dominant_colour(f, TestPattern::bar_rect(640, 480, bar)), kBarColours[bar]) << bar;
  }
  // The box moves, and bounces back.
  const Rect b0 = TestPattern::box_rect(640, 480, 0);
  const Rect b10 = TestPattern::box_rect(640, 480, 10);
  EXPECT_EQ(b10.x, b0.x + 40);
  EXPECT_EQ(dominant_colour(f, TestPattern::box_rect(640, 480, 2)), Colour::white);
  const int travel = 640 - b0.width;
  EXPECT_EQ(TestPattern::box_rect(640, 480, uint32_t(travel / 4)).x, travel & ~1);
  EXPECT_EQ(TestPattern::box_rect(640, 480, uint32_t(travel / 2)).x, 0);

  // Large numbers, other sizes.
  TestPattern small(160, 120);
  for (const uint32_t n : {0u, 1u, 12345u, 0xABCDEFu, 0xFFFFFFu}) {
    small.draw(n, f);
    EXPECT_EQ(read_frame_number(f), n);
  }
  // Pictures that carry no code read as nothing.
  f.fill(16, 128, 128);
  EXPECT_FALSE(read_frame_number(f).has_value());
  f.fill(235, 128, 128);
  EXPECT_FALSE(read_frame_number(f).has_value());
  // One flipped bit fails the CRC.
  small.draw(777, f);
  Rect block{0, 96, 5, 24};  // the first block of the code band at 160x120
  for (int y = block.y; y < block.y + block.height; ++y) {
    for (int x = block.x; x < block.x + block.width; ++x) f.row(0, y)[x] ^= 0xFF ^ 0x0C;  // 16 <-> 235-ish
  }
  EXPECT_FALSE(read_frame_number(f).has_value());
  EXPECT_THROW(TestPattern(32, 32), peer::Error);
}

TEST(Analysis, ColoursAndDifferences) {
  VideoFrame a(64, 64), b(64, 64);
  uint8_t y, u, v;
  rgb_to_yuv({1, 0, 0}, y, u, v);
  EXPECT_EQ(y, 81);  // 16 + 219 * 0.299
  EXPECT_EQ(u, 90);
  EXPECT_EQ(v, 240);
  a.fill(y, u, v);
  EXPECT_EQ(dominant_colour(a, {0, 0, 64, 64}), Colour::red);
  const Rgb back = mean_rgb(a, {10, 10, 5, 5});
  EXPECT_NEAR(back.r, 1, 0.01);
  EXPECT_NEAR(back.g, 0, 0.01);
  a.fill(126, 128, 128);
  EXPECT_EQ(dominant_colour(a, {0, 0, 64, 64}), Colour::grey);
  EXPECT_EQ(dominant_colour(a, {100, 100, 5, 5}), Colour::black);  // outside: empty
  b.copy_from(a);
  EXPECT_EQ(psnr_y(a, b), 99);
  EXPECT_EQ(mean_abs_diff_y(a, b), 0);
  b.fill(128, 128, 128);
  EXPECT_NEAR(mean_abs_diff_y(a, b), 2, 1e-9);
  EXPECT_NEAR(psnr_y(a, b), 10 * std::log10(255.0 * 255 / 4), 1e-9);
  VideoFrame c(32, 32);
  EXPECT_EQ(psnr_y(a, c), 0);
}

}  // namespace
}  // namespace peer::media
