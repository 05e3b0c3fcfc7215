#pragma once
// Pieces shared by the RTP stream objects (rtp_sender, rtp_receiver, jitter_buffer,
// nack_tracker): the clock type, 64-bit sequence unwrapping, NTP time, the randomized RTCP
// report interval, and a fixed-capacity ring. Pure: no I/O, no clock reads.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace peer::rtp {

// Every stream object takes the current time from its caller (a virtual clock in tests).
using Clock = std::chrono::steady_clock;
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

// Extends 16-bit sequence numbers to 64 bits (RFC 3550 appendix A.1): a number within half
// the space (32768) after the highest seen moves forward, one within half before it is old.
// The first number is taken as is (0..65535), so the low 32 bits of an unwrapped value are
// RFC 3550's "extended highest sequence number" (cycles << 16 | seq).
class SequenceUnwrapper {
 public:
  int64_t unwrap(uint16_t seq) noexcept {
    if (!started_) {
      started_ = true;
      highest_ = seq;
      return highest_;
    }
    const auto delta = static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(highest_)));
    const int64_t value = highest_ + delta;
    if (value > highest_) highest_ = value;
    return value;
  }
  // The value `seq` would unwrap to, without moving the highest.
  int64_t peek(uint16_t seq) const noexcept {
    if (!started_) return seq;
    return highest_ + static_cast<int16_t>(static_cast<uint16_t>(seq - static_cast<uint16_t>(highest_)));
  }
  bool started() const noexcept { return started_; }
  int64_t highest() const noexcept { return highest_; }

 private:
  int64_t highest_ = 0;
  bool started_ = false;
};

// NTP time (32.32 fixed point seconds, RFC 3550 section 4) of `now`: the steady clock's
// time since its epoch plus `ntp_offset` (the NTP time of the steady clock's epoch; the
// glue sets it from the wall clock once, the core never reads one). Only differences of
// these values matter for RTT (section 6.4.1); lip sync needs the true offset.
inline uint64_t ntp_time(TimePoint now, uint64_t ntp_offset) noexcept {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const auto u = static_cast<uint64_t>(us);
  const uint64_t seconds = u / 1000000;
  const uint64_t fraction = ((u % 1000000) << 32) / 1000000;
  return ntp_offset + ((seconds << 32) | fraction);
}
// The middle 32 bits (16.16 seconds), the unit of LSR and DLSR.
inline uint32_t ntp_mid32(uint64_t ntp) noexcept { return static_cast<uint32_t>(ntp >> 16); }
// A duration in 1/65536 s (DLSR) and back.
inline uint32_t to_q16(Duration d) noexcept {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us <= 0 ? 0 : static_cast<uint32_t>((static_cast<uint64_t>(us) << 16) / 1000000);
}
inline Duration from_q16(uint32_t q) noexcept {
  return std::chrono::duration_cast<Duration>(
      std::chrono::microseconds((static_cast<uint64_t>(q) * 1000000 + 32768) >> 16));
}

// The RTCP report timer: RFC 3550 section 6.3.1 randomizes each interval over
// [0.5, 1.5] x the nominal one so that participants do not synchronize; the nominal
// interval is fixed (section 6.2's bandwidth-based computation is simplified to a
// configured value, ~1 s for video, as browsers do). The first report goes after half an
// interval (section 6.2, "initial"). A seeded xorshift: deterministic for tests.
class RtcpTimer {
 public:
  RtcpTimer(Duration interval, uint64_t seed) noexcept : interval_(interval), state_(seed | 1) {}
  // Arms the timer at `now` if it is not running.
  void start(TimePoint now) noexcept {
    if (!running_) {
      running_ = true;
      next_ = now + randomized() / 2;
    }
  }
  bool running() const noexcept { return running_; }
  TimePoint next() const noexcept { return next_; }
  // True when a report is due at `now`; the next one is then scheduled.
  bool due(TimePoint now) noexcept {
    if (!running_ || now < next_) return false;
    next_ = now + randomized();
    return true;
  }

 private:
  Duration randomized() noexcept {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    const double factor = 0.5 + static_cast<double>(state_ >> 11) / 9007199254740992.0;  // [0.5, 1.5)
    return std::chrono::duration_cast<Duration>(interval_ * factor);
  }
  Duration interval_;
  uint64_t state_;
  TimePoint next_{};
  bool running_ = false;
};

// A FIFO of fixed capacity, allocated once: push_back fails (returns false) when full.
template <class T>
class Ring {
 public:
  explicit Ring(std::size_t capacity) : items_(capacity == 0 ? 1 : capacity) {}
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return items_.size(); }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == items_.size(); }
  T& operator[](std::size_t i) noexcept { return items_[(head_ + i) % items_.size()]; }
  const T& operator[](std::size_t i) const noexcept { return items_[(head_ + i) % items_.size()]; }
  T& front() noexcept { return (*this)[0]; }
  T& back() noexcept { return (*this)[size_ - 1]; }
  bool push_back(const T& value) noexcept {
    if (full()) return false;
    items_[(head_ + size_) % items_.size()] = value;
    ++size_;
    return true;
  }
  void pop_front() noexcept {
    if (size_ == 0) return;
    head_ = (head_ + 1) % items_.size();
    --size_;
  }
  void clear() noexcept { head_ = size_ = 0; }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace peer::rtp
