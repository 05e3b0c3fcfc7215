#include "media/test_pattern.hpp"

#include <fmt/format.h>

#include <cstring>

#include "peer/error.hpp"

namespace peer::media {
namespace {

constexpr int kCodeBits = 32;   // 24 bits of frame number, then CRC-8
constexpr int kNumberBits = 24;
constexpr uint8_t kLow = 16;    // black and white in limited range
constexpr uint8_t kHigh = 235;
constexpr uint8_t kBandGrey = 48;

int bars_bottom(int height) { return (height * 3 / 5) & ~1; }
int code_top(int height) { return (height * 4 / 5) & ~1; }

// CRC-8, polynomial 0x07, over the three bytes of the number, xor 0x55 at the end so that an
// all-black (or all-white) band is not a valid code.
uint8_t crc8(uint32_t n) {
  uint8_t crc = 0;
  for (int i = 2; i >= 0; --i) {
    crc ^= uint8_t(n >> (8 * i));
    for (int b = 0; b < 8; ++b) crc = uint8_t(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
  }
  return crc ^ 0x55;
}

Rgb rgb_of(Colour c) {
  switch (c) {
    case Colour::white: return {1, 1, 1};
    case Colour::yellow: return {1, 1, 0};
    case Colour::cyan: return {0, 1, 1};
    case Colour::green: return {0, 1, 0};
    case Colour::magenta: return {1, 0, 1};
    case Colour::red: return {1, 0, 0};
    case Colour::blue: return {0, 0, 1};
    case Colour::grey: return {0.5, 0.5, 0.5};
    case Colour::black: break;
  }
  return {0, 0, 0};
}

// Paints a rectangle (even x/y/width/height keep chroma exact; odd edges round outwards).
void paint(VideoFrame& f, Rect r, uint8_t y, uint8_t u, uint8_t v) {
  for (int row = r.y; row < r.y + r.height; ++row) std::memset(f.row(VideoFrame::kY, row) + r.x, y, r.width);
  const int cx0 = r.x / 2;
  const int cx1 = (r.x + r.width + 1) / 2;
  for (int row = r.y / 2; row < (r.y + r.height + 1) / 2; ++row) {
    std::memset(f.row(VideoFrame::kU, row) + cx0, u, cx1 - cx0);
    std::memset(f.row(VideoFrame::kV, row) + cx0, v, cx1 - cx0);
  }
}

Rect block_rect(int width, int height, int bit) {
  const int top = code_top(height);
  const int x0 = bit * width / kCodeBits;
  const int x1 = (bit + 1) * width / kCodeBits;
  return {x0, top, x1 - x0, height - top};
}

}  // namespace

TestPattern::TestPattern(int width, int height, int fps) : width_(width), height_(height), fps_(fps) {
  if (width < 64 || height < 40 || width > 16384 || height > 16384 || fps < 1 || fps > 240) {
    throw peer::Error(Errc::invalid_argument,
                      fmt::format("TestPattern: {}x{} at {} fps: at least 64x40, at most 16384, "
                                  "fps 1..240",
                                  width, height, fps));
  }
}

Rect TestPattern::bar_rect(int width, int height, int bar) noexcept {
  const int x0 = (bar * width / 8) & ~1;
  const int x1 = bar == 7 ? width : (((bar + 1) * width / 8) & ~1);
  return {x0, 0, x1 - x0, bars_bottom(height)};
}

Rect TestPattern::box_rect(int width, int height, uint32_t n) noexcept {
  const int band_top = bars_bottom(height);
  const int band = code_top(height) - band_top;
  const int side = (band * 3 / 4) & ~1;
  const int travel = width - side;  // the box bounces: 0 -> travel -> 0, 4 pixels a frame
  const int64_t step = int64_t(n) * 4 % (2 * int64_t(travel));
  const int x = int(step <= travel ? step : 2 * travel - step) & ~1;
  return {x, (band_top + (band - side) / 2) & ~1, side, side};
}

void TestPattern::next(VideoFrame& frame) {
  draw(next_, frame);
  next_ = (next_ + 1) & ((1u << kNumberBits) - 1);
}

void TestPattern::draw(uint32_t n, VideoFrame& frame) const {
  frame.resize(width_, height_);
  frame.timestamp_us = int64_t(n) * 1000000 / fps_;
  uint8_t y = 0, u = 0, v = 0;
  for (int bar = 0; bar < 8; ++bar) {
    rgb_to_yuv(rgb_of(kBarColours[bar]), y, u, v);
    paint(frame, bar_rect(width_, height_, bar), y, u, v);
  }
  const int band_top = bars_bottom(height_);
  paint(frame, {0, band_top, width_, code_top(height_) - band_top}, kBandGrey, 128, 128);
  paint(frame, box_rect(width_, height_, n), kHigh, 128, 128);
  n &= (1u << kNumberBits) - 1;
  const uint32_t code = n << 8 | crc8(n);
  for (int bit = 0; bit < kCodeBits; ++bit) {
    const bool one = (code >> (kCodeBits - 1 - bit)) & 1;
    paint(frame, block_rect(width_, height_, bit), one ? kHigh : kLow, 128, 128);
  }
}

std::optional<uint32_t> read_frame_number(const VideoFrame& frame) noexcept {
  if (frame.width() < 64 || frame.height() < 40) return std::nullopt;
  uint32_t code = 0;
  for (int bit = 0; bit < kCodeBits; ++bit) {
    const Rect b = block_rect(frame.width(), frame.height(), bit);
    // The middle half of the block each way: away from ringing at its edges.
    const int x0 = b.x + b.width / 4;
    const int x1 = b.x + b.width - b.width / 4;
    const int y0 = b.y + b.height / 4;
    const int y1 = b.y + b.height - b.height / 4;
    int64_t sum = 0;
    for (int row = y0; row < y1; ++row) {
      const uint8_t* p = frame.row(VideoFrame::kY, row);
      for (int x = x0; x < x1; ++x) sum += p[x];
    }
    const int64_t count = int64_t(x1 - x0) * (y1 - y0);
    if (count == 0) return std::nullopt;
    const int64_t mean = sum / count;
    // A block far from both levels is not part of a code (another picture, heavy damage).
    if (mean > 80 && mean < 170) return std::nullopt;
    code = code << 1 | (mean >= 126 ? 1u : 0u);
  }
  const uint32_t n = code >> 8;
  if (uint8_t(code) != crc8(n)) return std::nullopt;
  return n;
}

}  // namespace peer::media
