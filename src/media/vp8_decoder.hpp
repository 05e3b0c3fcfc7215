#pragma once
// VP8 decoder (libvpx). A frame the decoder cannot use is an error with a code the receiver
// acts on: need_keyframe (a delta frame before any keyframe, or after an error: its
// references are missing or damaged) and corrupt (libvpx rejected the data or reports the
// picture as damaged, as with a truncated frame). Both mean "send a PLI"; after either,
// delta frames are refused until a keyframe arrives, so no damaged picture is shown.
//
// Cost: the constructor allocates libvpx's state; the first keyframe allocates its frame
// buffers. decode() copies the picture from libvpx's buffer into `out`, which allocates
// only when `out` is smaller than the picture.

#include <cstdint>
#include <memory>
#include <span>

#include "media/status.hpp"
#include "media/video_frame.hpp"

namespace peer::media {

// RFC 6386 section 9.1: bit 0 of the first byte of the frame tag is 0 for a keyframe.
// A keyframe also carries the start code 9d 01 2a and its size (10 bytes in all).
bool vp8_is_keyframe(std::span<const uint8_t> frame) noexcept;

class Vp8Decoder {
 public:
  // threads: 1..2. Throws peer::Error(internal) when libvpx refuses to start.
  explicit Vp8Decoder(int threads = 1);
  ~Vp8Decoder();
  Vp8Decoder(const Vp8Decoder&) = delete;
  Vp8Decoder& operator=(const Vp8Decoder&) = delete;
  Vp8Decoder(Vp8Decoder&&) noexcept;
  Vp8Decoder& operator=(Vp8Decoder&&) noexcept;

  // Decodes one complete frame (all partitions). On success `out` holds the picture, with
  // `timestamp_us` copied to it.
  Status decode(std::span<const uint8_t> data, int64_t timestamp_us, VideoFrame& out);
  Status decode(const EncodedFrame& frame, VideoFrame& out) {
    return decode(frame.data, frame.timestamp_us, out);
  }
  // True until a keyframe has decoded, and again after an error.
  bool needs_keyframe() const noexcept;
  int64_t frames_decoded() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peer::media
