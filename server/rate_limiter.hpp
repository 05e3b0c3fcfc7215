#pragma once
// A token bucket: `rate` messages per second, bursts of up to one second's worth.
// Touched only on its session's strand.

#include <algorithm>
#include <chrono>

namespace peer::server {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(double rate) : rate_(rate), capacity_(std::max(1.0, rate)), tokens_(capacity_) {}

  bool allow(Clock::time_point now = Clock::now()) {
    if (rate_ <= 0) return true;  // no limit
    tokens_ = std::min(capacity_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double rate_;
  double capacity_;
  double tokens_;
  Clock::time_point last_ = Clock::now();
};

}  // namespace peer::server
