#include "media/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace peer::media {

std::string_view to_string(Colour c) noexcept {
  switch (c) {
    case Colour::white: return "white";
    case Colour::yellow: return "yellow";
    case Colour::cyan: return "cyan";
    case Colour::green: return "green";
    case Colour::magenta: return "magenta";
    case Colour::red: return "red";
    case Colour::blue: return "blue";
    case Colour::black: return "black";
    case Colour::grey: return "grey";
  }
  return "unknown";
}

Rgb yuv_to_rgb(double y, double u, double v) noexcept {
  const double yn = (y - 16) / 219;
  const double pb = (u - 128) / 224;
  const double pr = (v - 128) / 224;
  const auto clip = [](double x) { return std::clamp(x, 0.0, 1.0); };
  return {clip(yn + 1.402 * pr), clip(yn - 0.344136 * pb - 0.714136 * pr), clip(yn + 1.772 * pb)};
}

void rgb_to_yuv(Rgb c, uint8_t& y, uint8_t& u, uint8_t& v) noexcept {
  const double yn = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
  const auto q = [](double x) { return uint8_t(std::lround(std::clamp(x, 0.0, 255.0))); };
  y = q(16 + 219 * yn);
  u = q(128 + 224 * (c.b - yn) / 1.772);
  v = q(128 + 224 * (c.r - yn) / 1.402);
}

Rgb mean_rgb(const VideoFrame& frame, Rect r) noexcept {
  const int x0 = std::max(r.x, 0);
  const int y0 = std::max(r.y, 0);
  const int x1 = std::min(r.x + r.width, frame.width());
  const int y1 = std::min(r.y + r.height, frame.height());
  if (x0 >= x1 || y0 >= y1) return {};
  double sum[3] = {0, 0, 0};
  double count[3] = {0, 0, 0};
  for (int p = 0; p < 3; ++p) {
    const int s = p == VideoFrame::kY ? 0 : 1;  // chroma: half resolution
    for (int y = y0 >> s; y <= (y1 - 1) >> s; ++y) {
      const uint8_t* row = frame.row(p, y);
      for (int x = x0 >> s; x <= (x1 - 1) >> s; ++x) sum[p] += row[x];
      count[p] += ((x1 - 1) >> s) - (x0 >> s) + 1;
    }
  }
  return yuv_to_rgb(sum[0] / count[0], sum[1] / count[1], sum[2] / count[2]);
}

Colour dominant_colour(const VideoFrame& frame, Rect region) noexcept {
  const Rgb c = mean_rgb(frame, region);
  int bits = 0;
  for (const double ch : {c.r, c.g, c.b}) {
    if (ch > 0.4 && ch < 0.6) return Colour::grey;
    bits = bits << 1 | (ch >= 0.6 ? 1 : 0);
  }
  switch (bits) {  // r g b
    case 0b111: return Colour::white;
    case 0b110: return Colour::yellow;
    case 0b011: return Colour::cyan;
    case 0b010: return Colour::green;
    case 0b101: return Colour::magenta;
    case 0b100: return Colour::red;
    case 0b001: return Colour::blue;
    default: return Colour::black;
  }
}

namespace {
bool same_size(const VideoFrame& a, const VideoFrame& b) {
  return !a.empty() && a.width() == b.width() && a.height() == b.height();
}
template <class F>
double sum_y(const VideoFrame& a, const VideoFrame& b, F f) {
  double sum = 0;
  for (int y = 0; y < a.height(); ++y) {
    const uint8_t* ra = a.row(VideoFrame::kY, y);
    const uint8_t* rb = b.row(VideoFrame::kY, y);
    int64_t row = 0;
    for (int x = 0; x < a.width(); ++x) row += f(int(ra[x]) - int(rb[x]));
    sum += double(row);
  }
  return sum / (double(a.width()) * a.height());
}
}  // namespace

double psnr_y(const VideoFrame& a, const VideoFrame& b) noexcept {
  if (!same_size(a, b)) return 0;
  const double mse = sum_y(a, b, [](int d) { return d * d; });
  if (mse == 0) return 99;
  return std::min(99.0, 10 * std::log10(255.0 * 255.0 / mse));
}

double mean_abs_diff_y(const VideoFrame& a, const VideoFrame& b) noexcept {
  if (!same_size(a, b)) return 255;
  return sum_y(a, b, [](int d) { return std::abs(d); });
}

double rms(std::span<const int16_t> pcm) noexcept {
  if (pcm.empty()) return 0;
  double sum = 0;
  for (const int16_t s : pcm) sum += double(s) * s;
  return std::sqrt(sum / double(pcm.size())) / 32768.0;
}

double rms_dbfs(std::span<const int16_t> pcm) noexcept {
  const double r = rms(pcm);
  return r > 0 ? std::max(-200.0, 20 * std::log10(r)) : -200.0;
}

bool is_silence(std::span<const int16_t> pcm, double threshold_dbfs) noexcept {
  return rms_dbfs(pcm) < threshold_dbfs;
}

void add_noise(VideoFrame& frame, uint32_t& seed) noexcept {
  for (int p = 0; p < 3; ++p) {
    for (int y = 0; y < frame.plane_height(p); ++y) {
      uint8_t* row = frame.row(p, y);
      for (int x = 0; x < frame.plane_width(p); ++x) {
        seed = seed * 1664525u + 1013904223u;
        row[x] = static_cast<uint8_t>(std::min(255u, row[x] + (seed >> 28)));
      }
    }
  }
}

}  // namespace peer::media
