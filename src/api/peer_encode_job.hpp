#pragma once
// peer::VideoEncodeJob: one local video track's VP8 encoder, run on the process's worker pool
// (runtime/worker_pool.hpp) instead of the peer's loop (the scale issue: a 640x480 frame takes
// ~2.7 ms to encode, and every peer of the loop would wait that long for its packets).
//
// The loop captures a frame and submit()s it; a worker encodes it and posts the encoded frame
// back to the loop, where `deliver` packetizes and sends it (session::VideoSender in its
// "encoded" mode). At most one frame waits: one the worker has not started yet is replaced by
// the next capture, so a worker that cannot keep up drops frames instead of building a
// backlog (and latency). Keyframe requests (PLI/FIR) and the congestion controller's target
// reach the encoder through atomics, applied before the next frame.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "media/video_frame.hpp"
#include "media/vp8_encoder.hpp"
#include "runtime/event_loop.hpp"

namespace peer {

class VideoEncodeJob : public std::enable_shared_from_this<VideoEncodeJob> {
 public:
  // Called on the loop thread for each frame encoded, until cancel().
  using Deliver = std::function<void(const media::EncodedFrame&)>;

  // Makes the encoder now (throws peer::Error for a config libvpx refuses).
  VideoEncodeJob(std::weak_ptr<runtime::EventLoop> loop, const media::Vp8Config& config, Deliver deliver);

  // Loop thread. Copies the frame (into a reused buffer) and has a worker encode it.
  void submit(const media::VideoFrame& frame);
  void request_keyframe() noexcept { keyframe_.store(true); }
  void set_target_bps(std::uint64_t bps) noexcept { target_bps_.store(bps); }
  // Nothing is delivered afterwards; a frame being encoded is thrown away. Any thread.
  void cancel() noexcept;
  std::uint64_t frames_dropped() const noexcept { return dropped_.load(); }

 private:
  void encode_waiting();  // on a worker

  std::weak_ptr<runtime::EventLoop> loop_;
  const Deliver deliver_;  // called on the loop thread only
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> keyframe_{false};
  std::atomic<std::uint64_t> target_bps_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::mutex mu_;
  media::VideoFrame waiting_;  // guarded by mu_
  bool has_waiting_ = false;   // guarded by mu_
  bool scheduled_ = false;     // guarded by mu_: a worker runs or will run encode_waiting()
  // The worker's own (one worker at a time: scheduled_).
  media::Vp8Encoder encoder_;
  media::VideoFrame working_;
  std::uint64_t encoder_bps_ = 0;
};

}  // namespace peer
