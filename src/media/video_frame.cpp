#include "media/video_frame.hpp"

#include <cstring>
#include <string>

#include "peer/error.hpp"

namespace peer::media {
namespace {

constexpr int kAlignY = 32;
constexpr int kAlignUv = 16;
// Frames larger than 16384 x 16384 are refused: no codec we use goes there, and the byte
// count below must not overflow.
constexpr int kMaxSide = 16384;

int align_up(int n, int a) { return (n + a - 1) / a * a; }

}  // namespace

void VideoFrame::resize(int width, int height) {
  if (width < 1 || height < 1 || width > kMaxSide || height > kMaxSide) {
    throw Error(Errc::invalid_argument, "VideoFrame::resize: size " + std::to_string(width) + "x" +
                                            std::to_string(height) + " is not within 1..16384");
  }
  const int stride_y = align_up(width, kAlignY);
  const int stride_uv = align_up((width + 1) / 2, kAlignUv);
  const int chroma_h = (height + 1) / 2;
  const std::size_t size_y = std::size_t(stride_y) * height;
  const std::size_t size_uv = std::size_t(stride_uv) * chroma_h;
  const std::size_t total = size_y + 2 * size_uv;
  if (total > capacity_) {
    buffer_.reset(new uint8_t[total]);  // the only allocation: default-initialised, not zeroed
    capacity_ = total;
  }
  width_ = width;
  height_ = height;
  stride_y_ = stride_y;
  stride_uv_ = stride_uv;
  planes_[kY] = buffer_.get();
  planes_[kU] = planes_[kY] + size_y;
  planes_[kV] = planes_[kU] + size_uv;
}

void VideoFrame::copy_from(const VideoFrame& other) {
  timestamp_us = other.timestamp_us;
  if (other.empty()) {
    width_ = height_ = 0;
    return;
  }
  resize(other.width_, other.height_);
  for (int p = 0; p < 3; ++p) {
    for (int y = 0; y < plane_height(p); ++y) std::memcpy(row(p, y), other.row(p, y), plane_width(p));
  }
}

void VideoFrame::fill(uint8_t y_value, uint8_t u_value, uint8_t v_value) {
  const uint8_t values[3] = {y_value, u_value, v_value};
  for (int p = 0; p < 3; ++p) {
    for (int y = 0; y < plane_height(p); ++y) std::memset(row(p, y), values[p], plane_width(p));
  }
}

}  // namespace peer::media
