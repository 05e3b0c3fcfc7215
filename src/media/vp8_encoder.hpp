#pragma once
// VP8 encoder for real-time video (libvpx): one pass CBR, no lookahead (lag 0), error
// resilient (each frame's probabilities are reset, so a lost frame does not poison the
// entropy context of the next ones), keyframes on request (PLI/FIR) and otherwise every
// `max_keyframe_interval` frames.
//
// Cost: the constructor allocates libvpx's state (several frame buffers). encode() copies
// nothing in (the image wraps the VideoFrame's planes) and copies the compressed bytes out
// into EncodedFrame::data, which allocates only until its capacity has reached the largest
// frame so far. A frame of another size than the last re-creates the encoder (allocates,
// and the next frame is a keyframe).

#include <cstdint>
#include <memory>

#include "media/status.hpp"
#include "media/video_frame.hpp"

namespace peer::media {

struct Vp8Config {
  int width = 640;             // the first frame's size; another size later re-creates
  int height = 480;
  int bitrate_kbps = 1000;     // target (CBR), settable later with set_bitrate()
  int fps = 30;                // nominal rate, used until timestamps give the real spacing
  // VP8E_SET_CPUUSED, -16..16. In realtime mode a negative value is a fixed speed (higher
  // magnitude: faster, worse); a positive one lets libvpx pick the speed from how long
  // frames take to encode, so the output depends on the machine's load. -6 is what
  // WebRTC's VP8 encoder uses on desktops, and keeps the output reproducible.
  int cpu_used = -6;
  int threads = 1;             // 1..2 (2 splits the frame by token partitions/rows)
  int max_keyframe_interval = 3000;  // frames
  int min_quantizer = 2;       // 0..63, as WebRTC's VP8 wrapper
  int max_quantizer = 56;
  bool allow_frame_drop = false;  // let rate control skip frames under a bitrate crunch
};

class Vp8Encoder {
 public:
  // Throws peer::Error(invalid_argument) for a config out of range, (internal) when libvpx
  // refuses to start.
  explicit Vp8Encoder(const Vp8Config& config = {});
  ~Vp8Encoder();
  Vp8Encoder(const Vp8Encoder&) = delete;
  Vp8Encoder& operator=(const Vp8Encoder&) = delete;
  Vp8Encoder(Vp8Encoder&&) noexcept;
  Vp8Encoder& operator=(Vp8Encoder&&) noexcept;

  // Encodes one picture into `out` (data replaced, keyframe flag, the frame's timestamp and
  // size). With allow_frame_drop, a skipped frame gives ok and an empty `out.data`.
  // Timestamps should rise; one that does not is moved just after the previous for libvpx.
  Status encode(const VideoFrame& frame, EncodedFrame& out);
  // The next encoded frame will be a keyframe (answering a PLI or FIR).
  void request_keyframe() noexcept;
  // New target bitrate, applied from the next frame (no keyframe). Clamped to 10..100000.
  Status set_bitrate(int kbps);
  const Vp8Config& config() const noexcept;
  int64_t frames_encoded() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peer::media
