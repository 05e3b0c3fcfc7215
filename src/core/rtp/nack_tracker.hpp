#pragma once
// The missing-packet list of one RTP receiver (generic NACK, RFC 4585 section 6.2.1):
// a gap in the sequence numbers adds its numbers at once (due now), each is asked for again
// after about one RTT (never sooner than min_retry), and given up after max_retries
// requests or once older than max_age. The list is a fixed ring ordered by sequence
// number; when a gap does not fit, the oldest entries are given up to make room.
// Given-up numbers are reported as "everything up to here" (take_given_up()): the jitter
// buffer drops through that point anyway, since frames are released in order.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/rtp/rtp_stream.hpp"

namespace peer::rtp {

struct NackConfig {
  std::size_t max_list = 512;
  int max_retries = 10;
  Duration max_age = std::chrono::seconds(1);
  Duration min_retry = std::chrono::milliseconds(10);
};

class NackTracker {
 public:
  explicit NackTracker(NackConfig config);

  // A packet arrived. True when it was on the list (a retransmission or a late reorder).
  bool on_packet(int64_t seq, TimePoint now);
  // Writes the numbers due for a (re)request at `now` into `out` (at most `max`), marking
  // them requested.
  void collect(TimePoint now, Duration rtt, std::vector<uint16_t>& out, std::size_t max);
  bool any_due(TimePoint now, Duration rtt) const;
  // Gives up entries too old or asked too often.
  void handle_timeout(TimePoint now, Duration rtt);
  std::optional<TimePoint> next_timeout(Duration rtt) const;
  // Forgets everything below `seq` (released or dropped by the jitter buffer).
  void clear_below(int64_t seq);
  // The highest number given up since the last call, if any.
  std::optional<int64_t> take_given_up() noexcept {
    auto g = given_up_;
    given_up_.reset();
    return g;
  }
  std::size_t size() const noexcept { return active_; }
  uint64_t given_up_count() const noexcept { return given_up_count_; }

 private:
  struct Entry {
    int64_t seq = 0;
    TimePoint first_seen{};
    TimePoint last_sent{};
    int retries = 0;
    bool active = false;
  };
  Duration retry_interval(Duration rtt) const noexcept {
    // "about one RTT": a quarter more, so a retransmission arriving right on time is not
    // asked for again.
    return std::max(config_.min_retry, rtt + rtt / 4);
  }
  void give_up_front();
  void pop_inactive();

  NackConfig config_;
  Ring<Entry> list_;
  std::size_t active_ = 0;
  int64_t highest_ = -1;
  std::optional<int64_t> given_up_;
  uint64_t given_up_count_ = 0;
};

}  // namespace peer::rtp
