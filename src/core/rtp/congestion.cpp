#include "core/rtp/congestion.hpp"

#include <algorithm>
#include <cmath>

namespace peer::rtp {
namespace {

constexpr auto kBucket = std::chrono::milliseconds(10);
constexpr int64_t kGroupSpanUs = 5000;       // GCC section 5.2: a group is a 5 ms burst
constexpr double kSmoothing = 0.9;           // trendline's exponential smoothing
constexpr double kThresholdGain = 4.0;       // libwebrtc's trendline threshold gain
constexpr double kMaxDeltasCounted = 60;     // the trend is scaled by min(deltas, 60)
constexpr double kOveruseTimeMs = 10;        // GCC section 5.4: overuse must last 10 ms
constexpr double kThresholdUp = 0.0087;      // section 5.4: K_u
constexpr double kThresholdDown = 0.039;     // section 5.4: K_d
constexpr double kBeta = 0.85;               // section 5.5: decrease to 0.85 x incoming
constexpr double kIncreasePerSecond = 1.08;  // section 5.5: eta, 8% a second
constexpr auto kDecreaseInterval = std::chrono::milliseconds(200);  // at most one decrease per RTT-ish
// A stream quiet this long starts over (libwebrtc's stream timeout is 2 s): the send-time
// unwrap may be off by a wrap, the groups and the trend describe another time, and a stale
// "overusing" must not cut the estimate to what a nearly empty rate window holds.
constexpr auto kStreamGap = std::chrono::seconds(2);

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int64_t bucket_of(TimePoint t) { return t.time_since_epoch() / kBucket; }

}  // namespace

// --- incoming rate -----------------------------------------------------------------------

void IncomingRate::advance(int64_t bucket) noexcept {
  if (newest_ < 0) {
    newest_ = first_ = bucket;
    return;
  }
  if (bucket <= newest_) return;
  const int64_t stale = std::min<int64_t>(bucket - newest_, kBuckets);
  for (int64_t i = 1; i <= stale; ++i) bytes_[static_cast<std::size_t>((newest_ + i) % kBuckets)] = 0;
  newest_ = bucket;
}

void IncomingRate::add(TimePoint now, std::size_t bytes) noexcept {
  const int64_t bucket = bucket_of(now);
  advance(bucket);
  if (bucket <= newest_ - kBuckets) return;  // older than the window
  bytes_[static_cast<std::size_t>(std::min(bucket, newest_) % kBuckets)] += bytes;
}

std::optional<uint64_t> IncomingRate::bps(TimePoint now) const noexcept {
  const int64_t bucket = bucket_of(now);
  if (newest_ < 0 || bucket - first_ < kBuckets - 1) return std::nullopt;
  uint64_t sum = 0;
  for (int64_t i = std::max(bucket - kBuckets + 1, newest_ - kBuckets + 1); i <= std::min(bucket, newest_); ++i) {
    sum += bytes_[static_cast<std::size_t>(i % kBuckets)];
  }
  const auto window_ms = static_cast<uint64_t>(kBuckets * kBucket.count());
  return sum * 8 * 1000 / window_ms;
}

// --- delay-based estimate (receiver) ------------------------------------------------------

void DelayBasedEstimator::on_packet(TimePoint arrival, uint32_t abs_send_time, std::size_t size) noexcept {
  if (last_arrival_ && arrival - *last_arrival_ > kStreamGap) restart();
  if (!last_arrival_ || arrival > *last_arrival_) last_arrival_ = arrival;
  rate_.add(arrival, size);
  // Unwrap the 24-bit 6.18 send time: a step is taken as the shorter way round (+-32 s).
  abs_send_time &= 0xFFFFFF;
  if (last_abs_) {
    const int32_t step = static_cast<int32_t>(((abs_send_time - *last_abs_ + 0x800000) & 0xFFFFFF)) - 0x800000;
    send_us_ += (static_cast<int64_t>(step) * 1000000) / (1 << 18);
  }
  last_abs_ = abs_send_time;
  const int64_t send = send_us_;

  if (!current_.valid) {
    current_ = {send, send, arrival, arrival, true};
  } else if (send < current_.first_send_us) {
    // Reordered from an earlier group: it says nothing about the queue now.
  } else if (send - current_.first_send_us <= kGroupSpanUs) {
    current_.last_send_us = std::max(current_.last_send_us, send);
    current_.last_arrival = std::max(current_.last_arrival, arrival);
  } else {
    // GCC section 5.2: the delay variation between two complete groups, taken at their
    // last packets: d(i) = (t_i - t_{i-1}) - (T_i - T_{i-1}).
    if (previous_.valid) {
      on_group_delta(static_cast<double>(current_.last_send_us - previous_.last_send_us) / 1000.0,
                     ms(current_.last_arrival - previous_.last_arrival), arrival);
    }
    previous_ = current_;
    current_ = {send, send, arrival, arrival, true};
  }
  update_rate(arrival);
}

void DelayBasedEstimator::restart() noexcept {
  last_abs_.reset();
  send_us_ = 0;
  current_ = previous_ = Group{};
  sample_count_ = 0;
  first_arrival_.reset();
  accumulated_delay_ = smoothed_delay_ = 0;
  deltas_ = 0;
  previous_trend_ = modified_trend_ = 0;
  time_over_ms_ = -1;
  overuse_counter_ = 0;
  usage_ = BandwidthUsage::normal;
  if (state_ == RateState::decrease) state_ = RateState::hold;
  last_rate_update_.reset();  // no growth credited for the silence
}

void DelayBasedEstimator::on_group_delta(double send_delta_ms, double arrival_delta_ms, TimePoint now) noexcept {
  ++deltas_;
  accumulated_delay_ += arrival_delta_ms - send_delta_ms;
  smoothed_delay_ = kSmoothing * smoothed_delay_ + (1 - kSmoothing) * accumulated_delay_;
  if (!first_arrival_) first_arrival_ = now;
  samples_[sample_count_ % kWindow] = {ms(now - *first_arrival_), smoothed_delay_};
  ++sample_count_;
  // The trend: the slope of the smoothed delay over arrival time (least squares), in ms of
  // queueing per ms; positive while a queue builds.
  // libwebrtc waits for a full window, but its groups are 5 ms pacer bursts; ours are whole
  // frames (33 ms at 30 fps), so a full window would take 0.7 s, long enough for a small
  // router queue to fill before any trend shows. The regression starts at kMinSamples; the
  // min(deltas, 60) scaling in detect() keeps an early, noisy slope small.
  double trend = previous_trend_;
  const std::size_t n = std::min(sample_count_, kWindow);
  if (n >= kMinSamples) {
    double mean_x = 0, mean_y = 0;
    for (std::size_t i = 0; i < n; ++i) {
      mean_x += samples_[i].first;
      mean_y += samples_[i].second;
    }
    mean_x /= static_cast<double>(n);
    mean_y /= static_cast<double>(n);
    double numerator = 0, denominator = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& [x, y] = samples_[i];
      numerator += (x - mean_x) * (y - mean_y);
      denominator += (x - mean_x) * (x - mean_x);
    }
    if (denominator != 0) trend = numerator / denominator;
  }
  detect(trend, send_delta_ms, now);
}

void DelayBasedEstimator::detect(double trend, double send_delta_ms, TimePoint now) noexcept {
  if (deltas_ < 2) return;
  modified_trend_ = std::min(static_cast<double>(deltas_), kMaxDeltasCounted) * trend * kThresholdGain;
  if (modified_trend_ > threshold_) {
    // GCC section 5.4: overuse only when the signal stays above the threshold for 10 ms and
    // is not already falling.
    time_over_ms_ = time_over_ms_ < 0 ? send_delta_ms / 2 : time_over_ms_ + send_delta_ms;
    ++overuse_counter_;
    if (time_over_ms_ > kOveruseTimeMs && overuse_counter_ > 1 && trend >= previous_trend_) {
      time_over_ms_ = 0;
      overuse_counter_ = 0;
      if (usage_ != BandwidthUsage::overusing) ++overuses_;
      usage_ = BandwidthUsage::overusing;
    }
  } else if (modified_trend_ < -threshold_) {
    time_over_ms_ = -1;
    overuse_counter_ = 0;
    usage_ = BandwidthUsage::underusing;
  } else {
    time_over_ms_ = -1;
    overuse_counter_ = 0;
    usage_ = BandwidthUsage::normal;
  }
  previous_trend_ = trend;
  update_threshold(modified_trend_, now);
}

// GCC section 5.4: the threshold follows the signal, slowly up and faster down, so that a
// competing TCP flow does not starve us and noise does not trigger overuse. A spike far
// above it (a route change, a stall) is not followed.
void DelayBasedEstimator::update_threshold(double modified_trend, TimePoint now) noexcept {
  if (!last_threshold_update_) last_threshold_update_ = now;
  const double magnitude = std::fabs(modified_trend);
  if (magnitude > threshold_ + 15) {
    last_threshold_update_ = now;
    return;
  }
  const double k = magnitude < threshold_ ? kThresholdDown : kThresholdUp;
  const double dt = std::min(ms(now - *last_threshold_update_), 100.0);
  threshold_ = std::clamp(threshold_ + k * (magnitude - threshold_) * dt, 6.0, 600.0);
  last_threshold_update_ = now;
}

// GCC section 5.5: the AIMD state machine, driven by the detector's signal.
void DelayBasedEstimator::update_rate(TimePoint now) noexcept {
  switch (usage_) {
    case BandwidthUsage::overusing:
      state_ = RateState::decrease;
      break;
    case BandwidthUsage::underusing:
      state_ = RateState::hold;
      break;
    case BandwidthUsage::normal:
      if (state_ == RateState::hold) state_ = RateState::increase;
      break;
  }
  const auto incoming = rate_.bps(now);
  if (!estimate_) {
    // No estimate (and so no REMB) until the first overuse: before a queue has shown, the
    // path has not limited the sender, and an estimate would only echo what the sender
    // happens to send. libwebrtc starts from the incoming rate after 5 s, and so pulls an
    // encoder that makes little (a still scene) down to 1.5x that, from where it climbs back
    // at 8% a second when the scene moves. Here the sender keeps its own (loss-based) rate.
    if (state_ != RateState::decrease || !incoming) return;
    estimate_value_ = static_cast<double>(*incoming);
    last_rate_update_ = now;
  }
  const double dt = std::clamp(std::chrono::duration<double>(now - last_rate_update_.value_or(now)).count(), 0.0, 1.0);
  last_rate_update_ = now;
  switch (state_) {
    case RateState::increase: {
      // Growth stops at 1.5x what actually arrives (section 5.5: A_hat < 1.5 R_hat): an
      // estimate the sender cannot fill says nothing. The cap stops a rise; it does not
      // pull an estimate down when the sender makes less for a while (libwebrtc the same).
      double grown = estimate_value_ * std::pow(kIncreasePerSecond, dt);
      if (incoming) grown = std::min(grown, 1.5 * static_cast<double>(*incoming) + 10'000);
      estimate_value_ = std::max(estimate_value_, grown);
      break;
    }
    case RateState::decrease:
      if (incoming && (!last_decrease_ || now - *last_decrease_ >= kDecreaseInterval)) {
        estimate_value_ = std::min(estimate_value_, kBeta * static_cast<double>(*incoming));
        last_decrease_ = now;
      }
      state_ = RateState::hold;
      break;
    case RateState::hold:
      break;
  }
  estimate_value_ = std::clamp(estimate_value_, static_cast<double>(config_.min_bps), static_cast<double>(config_.max_bps));
  estimate_ = static_cast<uint64_t>(estimate_value_);
}

bool DelayBasedEstimator::decrease_pending() const noexcept {
  if (!estimate_) return false;
  return !reported_ || static_cast<double>(*estimate_) < 0.97 * static_cast<double>(*reported_);
}

// --- send rate (sender) -------------------------------------------------------------------

void SendRateController::on_remb(uint64_t bps) noexcept {
  remb_ = bps;
  recompute();
}

// GCC section 6: loss above 10% is congestion, below 2% room to grow; in between, hold.
void SendRateController::on_loss_report(uint8_t fraction_lost, TimePoint now) noexcept {
  const double loss = fraction_lost / 256.0;
  auto rate = static_cast<double>(loss_based_);
  if (loss > 0.10) {
    rate *= 1 - 0.5 * loss;
  } else if (loss < 0.02) {
    // At most one step a second, however often reports come.
    if (last_increase_ && now - *last_increase_ < std::chrono::seconds(1)) return;
    last_increase_ = now;
    rate = rate * 1.05 + 1000;
  }
  loss_based_ = static_cast<uint64_t>(std::clamp(rate, static_cast<double>(config_.min_bps), static_cast<double>(config_.max_bps)));
  recompute();
}

void SendRateController::set_max(uint64_t bps) noexcept {
  config_.max_bps = bps;
  config_.min_bps = std::min(config_.min_bps, bps);
  loss_based_ = std::min(loss_based_, config_.max_bps);
  recompute();
}

void SendRateController::recompute() noexcept {
  uint64_t target = loss_based_;
  if (remb_) target = std::min(target, *remb_);
  target_ = std::clamp(target, config_.min_bps, config_.max_bps);
}

}  // namespace peer::rtp
