#pragma once
// Frame assembly for one RTP stream: packets go in (any order, duplicates allowed) under
// their extended sequence number; frames come out in sequence order, each once its packets
// are all there. Which packet starts and which ends a frame, and which frame is a keyframe,
// is the payload format's to say (FrameFormat); the buffer itself is codec-agnostic.
//
// A frame is complete when its packets (same RTP timestamp) run without a gap from one the
// format calls a start to one it calls an end. Frames are released strictly in order: a
// missing packet holds back everything after it until it arrives or is given up
// (give_up_through(): the NACK tracker gave up, or memory ran out). What is given up is
// dropped, and from then on frames are dropped until a keyframe (keyframe_wanted()) when
// the format detects keyframes. A complete keyframe further on releases the stream at once:
// everything before it is dropped instead of waited for.
//
// Memory is fixed at construction (slots for max_packets packets of max_packet_size bytes;
// the slab is allocated on the first packet). Overflow (a packet max_packets or more past
// the oldest one kept, or more than max_frames frame ends held) drops the oldest packets,
// as a give-up would.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/rtp/rtp.hpp"

namespace peer::rtp {

// What the payload format tells about a packet. Unset members take the defaults.
struct FrameFormat {
  // The packet is the first of its frame (VP8: S=1 and PID 0; H.264: not a FU-A middle or
  // end). Default: the packet after the end of a frame (known only when that one arrived),
  // and the first packet received.
  std::function<bool(const RtpView&)> is_frame_start;
  // The packet is the last of its frame. Default: the marker bit (RFC 3550 section 5.1, as
  // the video payload formats use it). Audio formats: every packet is a frame.
  std::function<bool(const RtpView&)> is_frame_end;
  // Asked of a frame's first packet: the frame is a keyframe (decodable on its own).
  // Unset: no keyframe logic (nothing is dropped after a loss but what was lost).
  std::function<bool(const RtpView&)> is_keyframe;
};

struct JitterBufferConfig {
  std::size_t max_packets = 1024;
  std::size_t max_frames = 128;
  std::size_t max_packet_size = 1500;
};

// A released frame. The views point into the buffer: valid until its next non-const call.
struct Frame {
  uint32_t timestamp = 0;
  bool keyframe = false;
  int64_t first_sequence = 0;  // extended
  int64_t last_sequence = 0;
  std::span<const RtpView> packets;
};

struct JitterBufferStats {
  uint64_t frames_complete = 0;  // released
  uint64_t frames_dropped = 0;   // given up, cut, or skipped while waiting for a keyframe
  uint64_t packets_dropped = 0;  // discarded without being released
  uint64_t duplicates = 0;
  uint64_t too_old = 0;          // arrived after their place was released or given up
  uint64_t overflows = 0;        // times the caps forced the oldest out
};

class JitterBuffer {
 public:
  enum class Insert : uint8_t { stored, duplicate, too_old, too_large };

  JitterBuffer(JitterBufferConfig config, FrameFormat format);

  Insert insert(const RtpView& packet, int64_t sequence);
  // The next complete frame in order, if any.
  std::optional<Frame> pop_frame();
  // Packets up to and including `sequence` will not come: drop what is held up to there.
  void give_up_through(int64_t sequence);

  // Set when something was given up or cut (and the format detects keyframes); cleared when
  // a keyframe is released. The receiver turns it into a PLI.
  bool waiting_for_keyframe() const noexcept { return waiting_for_keyframe_; }
  // The first sequence number not yet released or dropped (NACKs below it are moot).
  int64_t head() const noexcept { return head_; }
  bool started() const noexcept { return started_; }
  // True once per loss event that wants a keyframe (a cut, overflow or give-up).
  bool take_keyframe_wanted() noexcept {
    const bool w = keyframe_wanted_;
    keyframe_wanted_ = false;
    return w;
  }
  const JitterBufferStats& stats() const noexcept { return stats_; }

 private:
  struct Slot {
    int64_t seq = -1;
    std::size_t size = 0;
    uint32_t timestamp = 0;
    bool start = false;  // the format said so (or, by default, unknown: false)
    bool end = false;
    bool key = false;
  };
  std::size_t index(int64_t seq) const noexcept {
    return static_cast<std::size_t>(seq) % slots_.size();
  }
  const Slot* at(int64_t seq) const noexcept {
    const Slot& s = slots_[index(seq)];
    return s.seq == seq ? &s : nullptr;
  }
  bool is_start(int64_t seq) const noexcept;
  // The end of the complete frame starting at `first`, or nullopt.
  std::optional<int64_t> complete_from(int64_t first) const noexcept;
  void free_returned() noexcept;
  void drop(Slot& slot) noexcept;
  void drop_through(int64_t sequence, bool loss);
  void try_keyframe_jump(int64_t seq);

  JitterBufferConfig config_;
  FrameFormat format_;
  std::vector<Slot> slots_;
  std::vector<std::byte> slab_;
  std::vector<RtpView> views_;  // the packets of the frame last returned
  int64_t head_ = 0;
  int64_t highest_ = -1;
  int64_t returned_first_ = 0, returned_last_ = -1;  // held for the caller's views
  std::size_t ends_held_ = 0;
  bool started_ = false;
  bool released_any_ = false;
  bool prev_end_ = false;  // head_ - 1 ended a frame (default frame-start detection)
  bool waiting_for_keyframe_ = false;
  bool keyframe_wanted_ = false;
  int64_t last_dropped_ts_ = -1;
  JitterBufferStats stats_;
};

}  // namespace peer::rtp
