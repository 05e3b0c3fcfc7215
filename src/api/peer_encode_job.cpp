#include "api/peer_encode_job.hpp"

#include <utility>

#include "runtime/worker_pool.hpp"

namespace peer {

VideoEncodeJob::VideoEncodeJob(std::weak_ptr<runtime::EventLoop> loop, const media::Vp8Config& config,
                               Deliver deliver)
    : loop_(std::move(loop)),
      deliver_(std::move(deliver)),
      encoder_(config),
      encoder_bps_(static_cast<std::uint64_t>(config.bitrate_kbps) * 1000) {}

void VideoEncodeJob::submit(const media::VideoFrame& frame) {
  bool schedule = false;
  {
    std::lock_guard lock(mu_);
    if (has_waiting_) dropped_.fetch_add(1);  // the worker did not get to it: replaced
    waiting_ = frame;                          // reuses the buffer once it has the size
    has_waiting_ = true;
    schedule = !std::exchange(scheduled_, true);
  }
  if (!schedule) return;
  try {
    runtime::WorkerPool::run([self = shared_from_this()] { self->encode_waiting(); });
  } catch (...) {
    std::lock_guard lock(mu_);
    scheduled_ = false;  // the next frame tries again
    throw;
  }
}

void VideoEncodeJob::cancel() noexcept {
  // Only the flag: `deliver_` is read by posted closures on the loop and lives with the job
  // (what it captures is weak).
  cancelled_.store(true);
}

void VideoEncodeJob::encode_waiting() {
  // Whatever ends this run (an exception from libvpx or an allocation included), the next
  // submit() must be able to schedule another.
  struct Unschedule {
    VideoEncodeJob& job;
    bool done = false;
    ~Unschedule() {
      if (done) return;
      std::lock_guard lock(job.mu_);
      job.scheduled_ = false;
    }
  } unschedule{*this};
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!has_waiting_ || cancelled_.load()) {
        scheduled_ = false;
        unschedule.done = true;
        return;
      }
      std::swap(waiting_, working_);
      has_waiting_ = false;
    }
    if (keyframe_.exchange(false)) encoder_.request_keyframe();
    // The congestion controller's target; moves under 3% are not worth a rate-control update.
    const std::uint64_t target = target_bps_.load();
    if (target != 0 && (target * 100 < encoder_bps_ * 97 || target * 100 > encoder_bps_ * 103)) {
      if (encoder_.set_bitrate(static_cast<int>(target / 1000)).ok()) encoder_bps_ = target;
    }
    media::EncodedFrame out;
    if (!encoder_.encode(working_, out).ok() || out.data.empty()) continue;
    auto loop = loop_.lock();
    if (!loop) return;  // the peer's loop is gone: nothing more comes
    loop->post([self = shared_from_this(), out = std::move(out)] {
      if (!self->cancelled_.load() && self->deliver_) self->deliver_(out);
    });
  }
}

}  // namespace peer
