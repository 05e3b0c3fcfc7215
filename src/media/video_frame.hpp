#pragma once
// VideoFrame: one I420 picture (8-bit Y, then U and V at half width and half height, rounded
// up), owning its three planes in one buffer; EncodedFrame: one compressed frame.
//
// Frames are reused across the pipeline: resize() reallocates only when the new picture needs
// more bytes than the buffer already holds, so a source, a decoder or a copy that keeps the
// same size allocates nothing per frame. Rows are padded to 32 bytes (Y) and 16 bytes (U, V)
// so that codecs and SIMD loops may read whole vectors; the padding is not part of the
// picture and its content is unspecified.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace peer::media {

class VideoFrame {
 public:
  enum Plane : int { kY = 0, kU = 1, kV = 2 };

  VideoFrame() = default;
  VideoFrame(int width, int height) { resize(width, height); }
  VideoFrame(const VideoFrame& other) { copy_from(other); }
  VideoFrame& operator=(const VideoFrame& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  VideoFrame(VideoFrame&&) noexcept = default;
  VideoFrame& operator=(VideoFrame&&) noexcept = default;

  // Sets the picture size (both at least 1; throws peer::Error otherwise). The content is
  // unspecified afterwards. Allocates only when the buffer is too small for the new size.
  void resize(int width, int height);
  // Copies picture and timestamp (allocates only as resize() does).
  void copy_from(const VideoFrame& other);
  // Paints the whole picture one colour (Y, U, V values).
  void fill(uint8_t y, uint8_t u, uint8_t v);

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  bool empty() const noexcept { return width_ == 0; }
  // Width and height of plane p in samples (chroma planes are half, rounded up).
  int plane_width(int p) const noexcept { return p == kY ? width_ : (width_ + 1) / 2; }
  int plane_height(int p) const noexcept { return p == kY ? height_ : (height_ + 1) / 2; }
  int stride(int p) const noexcept { return p == kY ? stride_y_ : stride_uv_; }
  uint8_t* data(int p) noexcept { return planes_[p]; }
  const uint8_t* data(int p) const noexcept { return planes_[p]; }
  uint8_t* row(int p, int y) noexcept { return planes_[p] + std::ptrdiff_t(y) * stride(p); }
  const uint8_t* row(int p, int y) const noexcept {
    return planes_[p] + std::ptrdiff_t(y) * stride(p);
  }
  // Bytes the buffer holds (for tests of reuse).
  std::size_t capacity() const noexcept { return capacity_; }

  int64_t timestamp_us = 0;  // capture time, microseconds (any epoch; encoders want it rising)

 private:
  std::unique_ptr<uint8_t[]> buffer_;
  std::size_t capacity_ = 0;
  int width_ = 0;
  int height_ = 0;
  int stride_y_ = 0;
  int stride_uv_ = 0;
  uint8_t* planes_[3] = {nullptr, nullptr, nullptr};
};

// One compressed video frame, as an encoder gives it and a decoder takes it. `data` is
// reused: encoders assign into it, so its capacity stays once it has grown.
struct EncodedFrame {
  std::vector<uint8_t> data;
  bool keyframe = false;
  int64_t timestamp_us = 0;
  int width = 0;   // the picture size the frame was encoded from
  int height = 0;
};

}  // namespace peer::media
