#pragma once
// Measuring pictures and sound, for tests and for receivers that check what they got:
// picture difference (PSNR, mean absolute difference), the dominant colour of a region, and
// the level of a block of PCM. All allocate nothing.

#include <cstdint>
#include <span>
#include <string_view>

#include "media/video_frame.hpp"

namespace peer::media {

struct Rect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// The corners of the RGB cube: the colours of the test pattern's bars, plus grey for what is
// neither dark nor bright nor coloured enough to be one of them.
enum class Colour : uint8_t { white, yellow, cyan, green, magenta, red, blue, black, grey };
std::string_view to_string(Colour c) noexcept;

struct Rgb {
  double r = 0, g = 0, b = 0;  // 0..1
};
// BT.601 limited range (Y 16..235, U/V 16..240), the range VP8 and the test pattern use.
Rgb yuv_to_rgb(double y, double u, double v) noexcept;
void rgb_to_yuv(Rgb rgb, uint8_t& y, uint8_t& u, uint8_t& v) noexcept;

// Mean colour of a region (clipped to the frame; an empty region is black).
Rgb mean_rgb(const VideoFrame& frame, Rect region) noexcept;
// The named colour nearest to the region's mean: each channel counts as on above 0.6 and
// off below 0.4; grey when a channel is in between.
Colour dominant_colour(const VideoFrame& frame, Rect region) noexcept;

// Luma PSNR in dB between two frames of the same size (99 when identical, 0 when sizes
// differ), and the mean absolute luma difference (255 when sizes differ).
double psnr_y(const VideoFrame& a, const VideoFrame& b) noexcept;
double mean_abs_diff_y(const VideoFrame& a, const VideoFrame& b) noexcept;

// Root mean square of PCM as a fraction of full scale (0..1); and in dBFS (-inf for zeros:
// returned as -200).
double rms(std::span<const int16_t> pcm) noexcept;
double rms_dbfs(std::span<const int16_t> pcm) noexcept;
// True when the level is below threshold_dbfs (-60 dBFS: quieter than 16-bit dither plus
// a codec's noise floor, far below speech).
bool is_silence(std::span<const int16_t> pcm, double threshold_dbfs = -60.0) noexcept;

// Adds light noise (0..15 to every sample of every plane, a linear congruential sequence
// from `seed`): the test pattern alone is too easy to fill a bitrate, with noise it takes
// whatever rate it is given, as a camera's picture does.
void add_noise(VideoFrame& frame, uint32_t& seed) noexcept;

}  // namespace peer::media
