#include "core/rtp/jitter_buffer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace peer::rtp {

JitterBuffer::JitterBuffer(JitterBufferConfig config, FrameFormat format)
    : config_(config),
      format_(std::move(format)),
      slots_(std::max<std::size_t>(config.max_packets, 2)),
      // Until a keyframe arrives, a stream that starts with a delta frame cannot be decoded.
      waiting_for_keyframe_(static_cast<bool>(format_.is_keyframe)) {
  views_.reserve(slots_.size());
}

bool JitterBuffer::is_start(int64_t seq) const noexcept {
  const Slot* s = at(seq);
  if (s == nullptr) return false;
  if (format_.is_frame_start) return s->start;
  if (seq == head_ && prev_end_) return true;
  const Slot* prev = at(seq - 1);
  return prev != nullptr && (prev->end || prev->timestamp != s->timestamp);
}

std::optional<int64_t> JitterBuffer::complete_from(int64_t first) const noexcept {
  const Slot* s = at(first);
  if (s == nullptr) return std::nullopt;
  const uint32_t ts = s->timestamp;
  for (int64_t q = first;; ++q) {
    const Slot* p = at(q);
    if (p == nullptr) return std::nullopt;               // a gap (or nothing yet after)
    if (p->timestamp != ts) return q - 1;                // the next frame began: no end mark
    if (p->end) return q;
  }
}

void JitterBuffer::free_returned() noexcept {
  for (int64_t q = returned_first_; q <= returned_last_; ++q) {
    Slot& s = slots_[index(q)];
    if (s.seq == q) {
      if (s.end) --ends_held_;
      s.seq = -1;
    }
  }
  returned_last_ = returned_first_ - 1;
  views_.clear();
}

void JitterBuffer::drop(Slot& slot) noexcept {
  if (static_cast<int64_t>(slot.timestamp) != last_dropped_ts_) {
    ++stats_.frames_dropped;
    last_dropped_ts_ = slot.timestamp;
  }
  if (slot.end) --ends_held_;
  slot.seq = -1;
  ++stats_.packets_dropped;
}

void JitterBuffer::drop_through(int64_t sequence, bool loss) {
  if (!started_ || sequence < head_) return;
  for (int64_t q = head_; q <= sequence && q <= highest_; ++q) {
    Slot& s = slots_[index(q)];
    if (s.seq == q) drop(s);
  }
  head_ = sequence + 1;
  prev_end_ = false;
  if (loss) {
    if (format_.is_keyframe) waiting_for_keyframe_ = true;
    keyframe_wanted_ = true;
  }
}

void JitterBuffer::give_up_through(int64_t sequence) { drop_through(sequence, true); }

void JitterBuffer::try_keyframe_jump(int64_t seq) {
  // Only worth a look when the head is stuck or frames are being dropped anyway.
  if (!format_.is_keyframe || seq <= head_) return;
  if (!waiting_for_keyframe_ && at(head_) != nullptr) return;
  const Slot* s = at(seq);
  int64_t first = seq;
  while (first > head_) {  // back to the frame's first packet
    const Slot* p = at(first - 1);
    if (p == nullptr || p->timestamp != s->timestamp) break;
    --first;
  }
  if (first <= head_ || !is_start(first) || !at(first)->key) return;
  if (!complete_from(first)) return;
  last_dropped_ts_ = -1;
  drop_through(first - 1, false);
  prev_end_ = true;  // a keyframe starts here whatever came before
}

JitterBuffer::Insert JitterBuffer::insert(const RtpView& packet, int64_t seq) {
  free_returned();
  const std::size_t size = packet.bytes().size();
  if (size > config_.max_packet_size) return Insert::too_large;
  if (!started_) {
    started_ = true;
    head_ = seq;
    highest_ = seq;
    prev_end_ = true;  // without a start callback the first packet is taken as a start
    slab_.resize(slots_.size() * config_.max_packet_size);  // warm-up, once
  }
  const int64_t window = static_cast<int64_t>(slots_.size());
  if (seq < head_) {
    // Before anything was released a reordered early packet moves the start back.
    if (!released_any_ && head_ - seq < window / 2 && highest_ - seq < window) {
      head_ = seq;
    } else {
      ++stats_.too_old;
      return Insert::too_old;
    }
  }
  if (at(seq) != nullptr) {
    ++stats_.duplicates;
    return Insert::duplicate;
  }
  if (seq >= head_ + window) {  // out of slots: the oldest go
    ++stats_.overflows;
    drop_through(seq - window, true);
  }
  Slot& slot = slots_[index(seq)];
  std::memcpy(slab_.data() + index(seq) * config_.max_packet_size, packet.bytes().data(), size);
  slot.seq = seq;
  slot.size = size;
  slot.timestamp = packet.timestamp();
  slot.start = format_.is_frame_start ? format_.is_frame_start(packet) : false;
  slot.end = format_.is_frame_end ? format_.is_frame_end(packet) : packet.marker();
  slot.key = format_.is_keyframe ? format_.is_keyframe(packet) : false;
  highest_ = std::max(highest_, seq);
  if (slot.end && ++ends_held_ > config_.max_frames) {
    // Too many frames held back: the oldest frame goes (through its end).
    ++stats_.overflows;
    int64_t q = head_;
    while (q < highest_ && (at(q) == nullptr || !at(q)->end)) ++q;
    drop_through(q, true);
  }
  try_keyframe_jump(seq);
  return Insert::stored;
}

std::optional<Frame> JitterBuffer::pop_frame() {
  free_returned();
  while (started_ && head_ <= highest_) {
    const Slot* s = at(head_);
    if (s == nullptr) return std::nullopt;  // wait: NACK may bring it, or a give-up
    if (!is_start(head_)) {
      // The rest of a frame whose beginning was given up: useless.
      if (format_.is_keyframe) waiting_for_keyframe_ = true;
      const bool end = s->end;
      drop(slots_[index(head_)]);
      ++head_;
      prev_end_ = end;
      continue;
    }
    const auto last = complete_from(head_);
    if (!last) return std::nullopt;
    const int64_t first = head_;
    const bool key = s->key;
    head_ = *last + 1;
    prev_end_ = true;
    if (waiting_for_keyframe_ && !key) {
      keyframe_wanted_ = true;  // still nothing decodable: keep asking (rate-limited above)
      for (int64_t q = first; q <= *last; ++q) drop(slots_[index(q)]);
      continue;
    }
    waiting_for_keyframe_ = false;
    released_any_ = true;
    returned_first_ = first;
    returned_last_ = *last;
    for (int64_t q = first; q <= *last; ++q) {
      const Slot& p = slots_[index(q)];
      // These bytes were a valid packet when stored; parsing again cannot fail.
      const auto view = parse_rtp({slab_.data() + index(q) * config_.max_packet_size, p.size});
      views_.push_back(*view);
    }
    ++stats_.frames_complete;
    return Frame{s->timestamp, key, first, *last, views_};
  }
  return std::nullopt;
}

}  // namespace peer::rtp
