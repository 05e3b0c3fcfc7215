#include "core/rtp/nack_tracker.hpp"

#include <algorithm>

namespace peer::rtp {

NackTracker::NackTracker(NackConfig config) : config_(config), list_(std::max<std::size_t>(config.max_list, 1)) {}

void NackTracker::give_up_front() {
  Entry& e = list_.front();
  if (e.active) {
    given_up_ = std::max(given_up_.value_or(e.seq), e.seq);
    ++given_up_count_;
    --active_;
  }
  list_.pop_front();
}

void NackTracker::pop_inactive() {
  while (!list_.empty() && !list_.front().active) list_.pop_front();
}

bool NackTracker::on_packet(int64_t seq, TimePoint now) {
  if (highest_ < 0) {
    highest_ = seq;
    return false;
  }
  if (seq > highest_) {
    // A gap: every number in it is missing (RFC 4585 section 3.4: ask early).
    int64_t from = highest_ + 1;
    const auto cap = static_cast<int64_t>(list_.capacity());
    if (seq - from > cap) {  // more than the list holds: the oldest are lost outright
      given_up_ = std::max(given_up_.value_or(seq - cap - 1), seq - cap - 1);
      given_up_count_ += static_cast<uint64_t>(seq - cap - from);
      from = seq - cap;
    }
    for (int64_t q = from; q < seq; ++q) {
      if (list_.full()) give_up_front();
      list_.push_back(Entry{q, now, {}, 0, true});
      ++active_;
    }
    highest_ = seq;
    return false;
  }
  // Binary search: the ring is sorted by sequence number.
  std::size_t lo = 0, hi = list_.size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (list_[mid].seq < seq) lo = mid + 1; else hi = mid;
  }
  if (lo < list_.size() && list_[lo].seq == seq && list_[lo].active) {
    list_[lo].active = false;
    --active_;
    pop_inactive();
    return true;
  }
  return false;
}

bool NackTracker::any_due(TimePoint now, Duration rtt) const {
  for (std::size_t i = 0; i < list_.size(); ++i) {
    const Entry& e = list_[i];
    if (e.active && e.retries < config_.max_retries &&
        (e.retries == 0 || now - e.last_sent >= retry_interval(rtt)))
      return true;
  }
  return false;
}

void NackTracker::collect(TimePoint now, Duration rtt, std::vector<uint16_t>& out, std::size_t max) {
  for (std::size_t i = 0; i < list_.size() && out.size() < max; ++i) {
    Entry& e = list_[i];
    if (!e.active || e.retries >= config_.max_retries) continue;
    if (e.retries == 0 || now - e.last_sent >= retry_interval(rtt)) {
      out.push_back(static_cast<uint16_t>(e.seq));
      e.last_sent = now;
      ++e.retries;
    }
  }
}

void NackTracker::handle_timeout(TimePoint now, Duration rtt) {
  // Give up from the front while the oldest is too old or asked too often; entries behind
  // a live one wait their turn (they are younger and were asked fewer or as many times).
  pop_inactive();
  while (!list_.empty()) {
    const Entry& e = list_.front();
    const bool old = now - e.first_seen >= config_.max_age;
    // max_retries requests went out and the last one had its RTT-ish chance.
    const bool exhausted = e.retries >= config_.max_retries && now - e.last_sent >= retry_interval(rtt);
    if (!old && !exhausted) break;
    give_up_front();
    pop_inactive();
  }
}

std::optional<TimePoint> NackTracker::next_timeout(Duration rtt) const {
  std::optional<TimePoint> next;
  auto consider = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (std::size_t i = 0; i < list_.size(); ++i) {
    const Entry& e = list_[i];
    if (!e.active) continue;
    consider(e.first_seen + config_.max_age);
    if (e.retries == 0) consider(e.first_seen);
    else consider(e.last_sent + retry_interval(rtt));  // a retry, or the give-up after the last
  }
  return next;
}

void NackTracker::clear_below(int64_t seq) {
  while (!list_.empty() && list_.front().seq < seq) {
    if (list_.front().active) --active_;
    list_.pop_front();
  }
  pop_inactive();
}

}  // namespace peer::rtp
