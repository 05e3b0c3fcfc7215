#pragma once
// Congestion control for video, after Google Congestion Control (draft-ietf-rmcat-gcc-02)
// in its REMB form, which is what a browser runs when goog-remb is negotiated and
// transport-cc is not (peer negotiates no transport-cc):
//
//   receiver: DelayBasedEstimator  packets (arrival, abs-send-time, size) -> estimate,
//             sent to the sender as REMB (draft-alvestrand-rmcat-remb-03)
//   sender:   SendRateController   REMB + the loss of each receiver report -> the encoder's
//             target bitrate
//
// The delay-based part (GCC section 5) groups packets sent within 5 ms of each other,
// measures how the one-way delay changes from group to group, smooths it with a trendline
// (the slope of a linear regression over the last 20 groups, from the 5th on; what libwebrtc uses in place
// of the draft's Kalman filter) and compares it with an adaptive threshold (section 5.4):
// overuse, normal or underuse drive an AIMD rate controller (section 5.5): multiplicative
// increase of 8% a second while normal, down to 0.85 x the incoming bitrate on overuse,
// hold on underuse (the queues are draining).
//
// The loss-based part (section 6) runs at the sender on each report block: above 10% loss
// the rate falls by half the loss fraction, below 2% it rises 5%; the target is the lower
// of that and the latest REMB, within [min, max] (max: the track's configured bitrate).
//
// Pure: no I/O, no clock reads, no allocation after construction. One thread.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/rtp/rtp_stream.hpp"

namespace peer::rtp {

enum class BandwidthUsage { normal, overusing, underusing };

// The bitrate of what arrived over the last `window` (500 ms), from per-10 ms buckets.
class IncomingRate {
 public:
  void add(TimePoint now, std::size_t bytes) noexcept;
  // bit/s over the window ending at `now`; nullopt until a whole window has been seen.
  std::optional<uint64_t> bps(TimePoint now) const noexcept;

 private:
  static constexpr int kBuckets = 50;  // x 10 ms = the 500 ms window
  void advance(int64_t bucket) noexcept;
  std::array<uint64_t, kBuckets> bytes_{};
  int64_t newest_ = -1;  // index (time / 10 ms) of the newest bucket
  int64_t first_ = -1;   // index of the first bucket ever filled
};

struct DelayEstimatorConfig {
  uint64_t min_bps = 30'000;
  uint64_t max_bps = 30'000'000;
};

class DelayBasedEstimator {
 public:
  explicit DelayBasedEstimator(DelayEstimatorConfig config = {}) noexcept : config_(config) {}

  // One RTP packet of the stream: when it arrived, the sender's abs-send-time (the 24-bit
  // 6.18 value), and its size (whole packet, bytes).
  void on_packet(TimePoint arrival, uint32_t abs_send_time, std::size_t size) noexcept;
  // A packet without abs-send-time: counts towards the incoming rate only.
  void on_packet_without_send_time(TimePoint arrival, std::size_t size) noexcept { rate_.add(arrival, size); }

  // The estimate in bit/s, from the first overuse on (before it, the path has not limited
  // the sender: nothing to report).
  std::optional<uint64_t> estimate_bps() const noexcept { return estimate_; }
  // True when the estimate should go out now rather than with the next periodic report:
  // it fell at least 3% below the last one reported (what libwebrtc's REMB sender does).
  bool decrease_pending() const noexcept;
  // The estimate was sent (as REMB).
  void reported() noexcept { reported_ = estimate_; }

  BandwidthUsage usage() const noexcept { return usage_; }
  double trend() const noexcept { return modified_trend_; }       // ms, as compared
  double threshold() const noexcept { return threshold_; }        // ms
  std::optional<uint64_t> incoming_bps(TimePoint now) const noexcept { return rate_.bps(now); }
  uint64_t overuse_count() const noexcept { return overuses_; }

 private:
  struct Group {
    int64_t first_send_us = 0;  // unwrapped abs-send-time of its first packet
    int64_t last_send_us = 0;
    TimePoint first_arrival{};
    TimePoint last_arrival{};
    bool valid = false;
  };
  void restart() noexcept;  // after a gap in arrivals: everything but the estimate
  void on_group_delta(double send_delta_ms, double arrival_delta_ms, TimePoint now) noexcept;
  void detect(double trend, double send_delta_ms, TimePoint now) noexcept;
  void update_threshold(double modified_trend, TimePoint now) noexcept;
  void update_rate(TimePoint now) noexcept;

  DelayEstimatorConfig config_;
  IncomingRate rate_;
  std::optional<TimePoint> last_arrival_;
  // Send-time unwrapping (the 24-bit value wraps every 64 s).
  std::optional<uint32_t> last_abs_;
  int64_t send_us_ = 0;
  Group current_, previous_;
  // Trendline (libwebrtc TrendlineEstimator): accumulated delay, smoothed, regressed over
  // the last kWindow groups against their arrival times.
  static constexpr std::size_t kWindow = 20;
  static constexpr std::size_t kMinSamples = 5;
  std::array<std::pair<double, double>, kWindow> samples_{};  // (arrival ms, smoothed delay ms)
  std::size_t sample_count_ = 0;                              // total, wraps via % kWindow
  std::optional<TimePoint> first_arrival_;
  double accumulated_delay_ = 0;
  double smoothed_delay_ = 0;
  std::size_t deltas_ = 0;
  double previous_trend_ = 0;
  double modified_trend_ = 0;  // scaled as compared with the threshold
  // Overuse detector (section 5.4).
  double threshold_ = 12.5;
  std::optional<TimePoint> last_threshold_update_;
  double time_over_ms_ = -1;
  int overuse_counter_ = 0;
  BandwidthUsage usage_ = BandwidthUsage::normal;
  uint64_t overuses_ = 0;
  // Rate controller (section 5.5).
  enum class RateState { hold, increase, decrease };
  RateState state_ = RateState::increase;
  std::optional<TimePoint> last_rate_update_;
  std::optional<TimePoint> last_decrease_;
  double estimate_value_ = 0;
  std::optional<uint64_t> estimate_;
  std::optional<uint64_t> reported_;
};

struct SendRateConfig {
  uint64_t start_bps = 1'000'000;
  uint64_t min_bps = 50'000;
  uint64_t max_bps = 1'000'000;
};

class SendRateController {
 public:
  // A minimum above the maximum (a track configured under 50 kbit/s) is lowered to it.
  explicit SendRateController(SendRateConfig config) noexcept
      : config_(normalized(config)), loss_based_(config_.start_bps), target_(config_.start_bps) {}
  // A REMB for our SSRC.
  void on_remb(uint64_t bps) noexcept;
  // A receiver report's fraction lost (1/256 units) about our SSRC.
  void on_loss_report(uint8_t fraction_lost, TimePoint now) noexcept;
  uint64_t target_bps() const noexcept { return target_; }
  std::optional<uint64_t> remb_bps() const noexcept { return remb_; }
  void set_max(uint64_t bps) noexcept;

 private:
  void recompute() noexcept;
  static SendRateConfig normalized(SendRateConfig c) noexcept {
    c.min_bps = std::min(c.min_bps, c.max_bps);
    c.start_bps = std::clamp(c.start_bps, c.min_bps, c.max_bps);
    return c;
  }
  SendRateConfig config_;
  uint64_t loss_based_;
  std::optional<uint64_t> remb_;
  std::optional<TimePoint> last_increase_;
  uint64_t target_;
};

}  // namespace peer::rtp
