#pragma once
// A synthetic video source whose pictures a receiver can check after lossy coding.
//
//   +----+----+----+----+----+----+----+----+   bars: top 3/5 of the height, 8 vertical
//   |whi |yel |cya |gre |mag |red |blu |bla |   bars of 100% colours (BT.601 limited range)
//   +----+----+----+----+----+----+----+----+
//   |        []  ->                         |   box band: a white box on dark grey that moves
//   +---------------------------------------+   with the frame number (bounces left-right)
//   |#|.|#|#|.|.|.|#| ...  32 blocks         |   code band: the frame number (24 bits) and a
//   +---------------------------------------+   CRC-8 of it, MSB first, white = 1, black = 0
//
// Blocks are width/32 pixels wide and a fifth of the height tall (20 x 96 at 640x480), big
// enough to survive VP8 at a few hundred kbit/s; read_frame_number() samples the middle of
// each block and checks the CRC, so a misread gives nothing rather than a wrong number.
// Frame numbers wrap at 2^24 (6.5 days at 30 fps).
//
// Cost: next() draws every pixel (about 0.1 ms at 640x480) into the caller's frame, which
// allocates only when it is smaller than the pattern.

#include <cstdint>
#include <optional>

#include "media/analysis.hpp"
#include "media/video_frame.hpp"

namespace peer::media {

inline constexpr Colour kBarColours[8] = {Colour::white,   Colour::yellow, Colour::cyan,
                                          Colour::green,   Colour::magenta, Colour::red,
                                          Colour::blue,    Colour::black};

class TestPattern {
 public:
  // At least 64x40 (throws peer::Error(invalid_argument) otherwise); fps 1..240 sets the
  // timestamps (frame n at n * 1e6 / fps microseconds).
  explicit TestPattern(int width = 640, int height = 480, int fps = 30);

  // Draws the next frame (numbers start at 0) into `frame`.
  void next(VideoFrame& frame);
  // Draws frame number n, without touching the sequence.
  void draw(uint32_t n, VideoFrame& frame) const;
  uint32_t frame_number() const noexcept { return next_; }  // of the next frame
  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }

  // Where things are, for checks: bar i (0..7), the moving box of frame n.
  static Rect bar_rect(int width, int height, int bar) noexcept;
  static Rect box_rect(int width, int height, uint32_t n) noexcept;

 private:
  int width_;
  int height_;
  int fps_;
  uint32_t next_ = 0;
};

// Reads the frame number back from a picture drawn by TestPattern (of any size it allows),
// also after lossy coding; nullopt when the code cannot be read or its CRC does not match.
std::optional<uint32_t> read_frame_number(const VideoFrame& frame) noexcept;

}  // namespace peer::media
