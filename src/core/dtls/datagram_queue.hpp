#pragma once
// A FIFO of datagrams that keeps their boundaries without a heap allocation per datagram:
// all bytes live in one reused buffer plus a list of end offsets. Buffers grow to the
// high-water mark and are then reused, so the steady state allocates nothing.
//
// Two buffers are kept so that drain() can hand out spans while the callback pushes new
// datagrams (an echo that sends from inside drain_application_data, say): drain swaps the
// live buffer out, walks it, and clears it; pushes made meanwhile land in the other one.

#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace peer::dtls {

class DatagramQueue {
 public:
  // Space for one datagram of up to `max` bytes at the end of the queue; append it with
  // commit(n). Lets a producer (SSL_read) write in place instead of through a scratch copy.
  std::byte* prepare(std::size_t max) {
    reserve(live_, live_.size + max);
    return live_.data.get() + live_.size;
  }
  void commit(std::size_t n) {
    assert(live_.size + n <= live_.capacity);
    live_.size += n;
    live_.ends.push_back(live_.size);
  }
  void push(std::span<const std::byte> datagram) {
    std::byte* out = prepare(datagram.size());
    if (!datagram.empty()) std::memcpy(out, datagram.data(), datagram.size());
    commit(datagram.size());
  }

  std::size_t count() const noexcept { return live_.ends.size(); }
  std::size_t bytes() const noexcept { return live_.size; }
  bool empty() const noexcept { return live_.ends.empty(); }
  void clear() noexcept { live_.clear(); }
  // Gives the grown buffers back when nothing is queued (an idle connection keeps none);
  // the next push grows them again.
  void release_if_empty() noexcept {
    if (draining_active_ || !live_.ends.empty()) return;
    live_ = Buffer{};
    spare_ = Buffer{};
    spans_ = {};
  }

  // Calls f(std::span<const std::byte>) for each datagram in order, then forgets them.
  // A span is valid only during its call. If f throws, the rest of this batch is dropped
  // (like packet loss, which every user of this queue tolerates). f must not drain the
  // same queue again.
  template <class F>
  void drain(F&& f) {
    drain_all([&f](std::span<const std::span<const std::byte>> all) {
      for (const auto& datagram : all) f(datagram);
    });
  }

  // Like drain(), but one call with every pending datagram, for senders that batch
  // (sendmmsg). The spans are valid only during the call; same rules for f as drain().
  template <class F>
  void drain_all(F&& f) {
    assert(!draining_active_);
    if (live_.ends.empty()) return;
    std::swap(live_, spare_);
    draining_active_ = true;
    struct Guard {
      DatagramQueue& q;
      ~Guard() {
        q.spare_.clear();
        q.draining_active_ = false;
      }
    } guard{*this};
    spans_.clear();
    std::size_t begin = 0;
    for (std::size_t end : spare_.ends) {
      spans_.emplace_back(spare_.data.get() + begin, end - begin);
      begin = end;
    }
    f(std::span<const std::span<const std::byte>>(spans_));
  }

 private:
  std::vector<std::span<const std::byte>> spans_;  // reused by drain_all
  struct Buffer {
    std::unique_ptr<std::byte[]> data;
    std::size_t size = 0;
    std::size_t capacity = 0;
    std::vector<std::size_t> ends;
    void clear() noexcept {
      size = 0;
      ends.clear();
    }
  };

  static void reserve(Buffer& b, std::size_t need) {
    if (need <= b.capacity) return;
    std::size_t cap = b.capacity == 0 ? 4096 : b.capacity;
    while (cap < need) cap *= 2;
    auto grown = std::make_unique_for_overwrite<std::byte[]>(cap);
    if (b.size != 0) std::memcpy(grown.get(), b.data.get(), b.size);
    b.data = std::move(grown);
    b.capacity = cap;
  }

  Buffer live_;
  Buffer spare_;
  bool draining_active_ = false;
};

}  // namespace peer::dtls
