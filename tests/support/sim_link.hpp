#pragma once
// An in-memory datagram link between two endpoints (side 0 and side 1) with seeded
// impairments: loss, duplication, reordering, a per-hop delay and a bottleneck (a rate
// with a drop-tail queue in front of it). No sockets, no threads,
// no clock of its own: every call takes the caller's `now`, which may be a virtual clock.
//
// Determinism: each direction has its own std::mt19937_64, seeded from (seed, direction),
// and every send() draws exactly three numbers from it whatever happens to the datagram.
// So the fate of the n-th datagram of a direction depends only on the seed and n: the
// same sequence of sends gives the same drops, duplicates and reorderings, however the
// two directions interleave and whatever the clock says.
//
// Reordering: a datagram picked for reordering is held back and released right after the
// next `reorder_depth` datagrams of its direction (or, if the direction goes quiet, once
// `max_hold` has passed, so a held last datagram is late, not lost).

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace peer::test {

struct Impairments {
  double loss = 0;        // probability a datagram is dropped
  double duplicate = 0;   // probability a (kept) datagram is delivered twice
  double reorder = 0;     // probability a (kept) datagram is held back
  std::size_t reorder_depth = 3;  // ...until this many later datagrams went ahead of it
  std::chrono::steady_clock::duration max_hold = std::chrono::milliseconds(20);
  std::chrono::steady_clock::duration delay{0};  // one-way delay of every datagram
  std::uint64_t drop_first = 0;  // drop this direction's first n datagrams (a lost flight)
  // Bottleneck: datagrams leave one after another at rate_bps (0: no limit), queued behind
  // each other; one that would find more than queue_bytes waiting ahead of it is dropped
  // (drop-tail; 0: no limit). The queueing delay adds to `delay`.
  std::uint64_t rate_bps = 0;
  std::size_t queue_bytes = 0;
};

struct LinkStats {
  std::uint64_t sent = 0;        // datagrams offered by the sender
  std::uint64_t delivered = 0;   // handed to the receiver (duplicates included)
  std::uint64_t dropped = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::uint64_t queue_dropped = 0;  // dropped because the bottleneck queue was full (not in `dropped`)
  // FNV-1a over the per-datagram decisions (dropped/duplicated/reordered bits), so two
  // runs can be compared by more than their counts.
  std::uint64_t trace = 14695981039346656037ull;
  // The decisions themselves, one byte per datagram sent (bits as in `trace`): two runs on
  // the real clock may send different numbers of datagrams (a timer that fired late), and
  // then only their common prefix can be compared.
  std::vector<std::uint8_t> decisions;

  bool operator==(const LinkStats&) const = default;
  LinkStats& operator+=(const LinkStats& o) {
    sent += o.sent;
    delivered += o.delivered;
    dropped += o.dropped;
    duplicated += o.duplicated;
    reordered += o.reordered;
    queue_dropped += o.queue_dropped;
    trace = (trace ^ o.trace) * 1099511628211ull;
    decisions.insert(decisions.end(), o.decisions.begin(), o.decisions.end());
    return *this;
  }
};

class SimLink {
 public:
  using Clock = std::chrono::steady_clock;
  using Datagram = std::vector<std::byte>;

  SimLink(std::uint64_t seed, Impairments zero_to_one, Impairments one_to_zero)
      : seed_(seed), dirs_{Direction(seed, 0, zero_to_one), Direction(seed, 1, one_to_zero)} {}
  SimLink(std::uint64_t seed, Impairments both) : SimLink(seed, both, both) {}

  std::uint64_t seed() const noexcept { return seed_; }

  // Side `from` sends a datagram at `now`.
  void send(int from, Clock::time_point now, std::span<const std::byte> data) {
    Direction& d = dirs_[index(from)];
    const Impairments& im = d.impairments;
    // Always three draws (see the header comment).
    const double u_loss = d.uniform(d.rng);
    const double u_dup = d.uniform(d.rng);
    const double u_reorder = d.uniform(d.rng);
    const bool drop = d.stats.sent < im.drop_first || u_loss < im.loss;
    const bool dup = !drop && u_dup < im.duplicate;
    const bool hold = !drop && u_reorder < im.reorder;
    ++d.stats.sent;
    const auto decision = static_cast<std::uint8_t>(std::uint8_t{drop} | std::uint8_t{dup} << 1 | std::uint8_t{hold} << 2);
    d.stats.trace = (d.stats.trace ^ decision) * 1099511628211ull;
    d.stats.decisions.push_back(decision);
    if (drop) {
      ++d.stats.dropped;
      return;
    }
    if (im.rate_bps != 0 && im.queue_bytes != 0 && d.backlog_bytes(now) + data.size() > im.queue_bytes) {
      ++d.stats.queue_dropped;
      return;
    }
    // Datagrams sent after a held one count towards its release.
    std::vector<Held> released;
    for (auto it = d.held.begin(); it != d.held.end();) {
      if (--it->remaining == 0) {
        released.push_back(std::move(*it));
        it = d.held.erase(it);
      } else {
        ++it;
      }
    }
    Datagram copy(data.begin(), data.end());
    if (dup) ++d.stats.duplicated;
    if (hold) {
      ++d.stats.reordered;
      d.held.push_back({std::max<std::size_t>(im.reorder_depth, 1), now + im.max_hold, copy});
      if (dup) d.enqueue(now, std::move(copy));  // the copy goes ahead: reordered too
    } else {
      if (dup) d.enqueue(now, copy);
      d.enqueue(now, std::move(copy));
    }
    for (auto& h : released) d.enqueue(now, std::move(h.data));
  }

  // Hands side `to` every datagram due at `now`, in order: f(std::span<const std::byte>).
  // f may send (those wait for a later call). Returns how many were delivered.
  template <class F>
  std::size_t deliver(int to, Clock::time_point now, F&& f) {
    Direction& d = dirs_[index(1 - to)];
    d.release_expired(now);
    std::size_t n = 0;
    while (!d.queue.empty() && d.queue.front().due <= now) {
      Datagram data = std::move(d.queue.front().data);
      d.queue.pop_front();
      ++d.stats.delivered;
      ++n;
      f(std::span<const std::byte>(data));
    }
    return n;
  }

  // The earliest time something (in flight or held) becomes deliverable, if any.
  std::optional<Clock::time_point> next_due() const {
    std::optional<Clock::time_point> next;
    auto consider = [&](Clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    for (const auto& d : dirs_) {
      if (!d.queue.empty()) consider(d.queue.front().due);
      for (const auto& h : d.held) consider(h.release_at);
    }
    return next;
  }

  bool empty() const {
    return std::all_of(dirs_.begin(), dirs_.end(),
                       [](const Direction& d) { return d.queue.empty() && d.held.empty(); });
  }

  // Statistics of the direction sent by `from`, or of both.
  const LinkStats& stats(int from) const { return dirs_[index(from)].stats; }
  LinkStats total() const {
    LinkStats t = dirs_[0].stats;
    t += dirs_[1].stats;
    return t;
  }

  Impairments& impairments(int from) { return dirs_[index(from)].impairments; }

 private:
  struct InFlight {
    Clock::time_point due;
    Datagram data;
  };
  struct Held {
    std::size_t remaining;  // later datagrams still to go ahead of it
    Clock::time_point release_at;
    Datagram data;
  };
  struct Direction {
    Direction(std::uint64_t seed, std::uint64_t which, Impairments im) : impairments(im) {
      std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                        static_cast<std::uint32_t>(which)};
      rng.seed(seq);
    }
    Impairments impairments;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> uniform{0.0, 1.0};
    std::deque<InFlight> queue;  // sorted by due (enqueue keeps it so)
    std::vector<Held> held;
    LinkStats stats;
    Clock::time_point link_free{};  // when the bottleneck has sent everything queued

    // Bytes still waiting for the bottleneck at `now`.
    std::size_t backlog_bytes(Clock::time_point now) const {
      if (link_free <= now) return 0;
      const auto wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(link_free - now).count();
      return static_cast<std::size_t>(static_cast<double>(wait_ns) * 1e-9 * static_cast<double>(impairments.rate_bps) / 8);
    }
    void enqueue(Clock::time_point now, Datagram data) {
      auto due = now + impairments.delay;
      if (impairments.rate_bps != 0) {
        // Serialized behind what is queued: it leaves the bottleneck at link_free.
        const auto transmit = std::chrono::nanoseconds(
            static_cast<std::int64_t>(static_cast<double>(data.size()) * 8e9 / static_cast<double>(impairments.rate_bps)));
        link_free = std::max(link_free, now) + transmit;
        due = link_free + impairments.delay;
      }
      // A caller's clock that went backwards must not reorder what we did not choose to.
      if (!queue.empty()) due = std::max(due, queue.back().due);
      queue.push_back({due, std::move(data)});
    }
    void release_expired(Clock::time_point now) {
      for (auto it = held.begin(); it != held.end();) {
        if (it->release_at <= now) {
          enqueue(it->release_at, std::move(it->data));
          it = held.erase(it);
        } else {
          ++it;
        }
      }
    }
  };

  static std::size_t index(int side) { return side == 0 ? 0 : 1; }

  std::uint64_t seed_;
  std::array<Direction, 2> dirs_;
};

}  // namespace peer::test
