#pragma once
// The VP8 RTP payload format (RFC 7741): the payload descriptor, a packetizer that splits one
// encoded frame into payloads under an MTU budget, a depacketizer, and a frame assembler.
// Pure code: no VP8 decoder, no I/O, no allocation.
//
// Payload descriptor (RFC 7741 section 4.2), in front of every packet's VP8 bytes:
//
//          0 1 2 3 4 5 6 7
//         +-+-+-+-+-+-+-+-+
//         |X|R|N|S|R| PID | (required)
//         +-+-+-+-+-+-+-+-+
//    X:   |I|L|T|K| RSV   | (optional, when X)
//         +-+-+-+-+-+-+-+-+
//    I:   |M| PictureID   | (optional, when I; M = 15-bit picture id)
//         +-+-+-+-+-+-+-+-+
//         |   PictureID   | (when M)
//         +-+-+-+-+-+-+-+-+
//    L:   |   TL0PICIDX   | (optional, when L)
//         +-+-+-+-+-+-+-+-+
//    T/K: |TID|Y| KEYIDX  | (optional, when T or K)
//         +-+-+-+-+-+-+-+-+
//
// The first packet of a frame has S = 1 and PID = 0; the VP8 bytes it carries start with
// the frame tag (RFC 6386 section 9.1), whose lowest bit P is 0 for a key frame (RFC 7741
// section 4.3). The marker bit is on the last packet of the frame (section 4.1).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/rtp/payload_common.hpp"
#include "core/rtp/result.hpp"
#include "core/rtp/rtp.hpp"

namespace peer::rtp {

struct Vp8Descriptor {
  bool non_reference = false;       // N: the frame can be dropped without hurting others
  bool start_of_partition = false;  // S
  uint8_t partition_id = 0;         // PID, 0..7
  std::optional<uint16_t> picture_id;  // I: 0..127 (M = 0) or 0..32767 (M = 1)
  bool picture_id_15bit = false;       // M: the two-byte form
  std::optional<uint8_t> tl0_pic_idx;  // L
  std::optional<uint8_t> temporal_id;  // T: TID, 0..3
  bool layer_sync = false;             // Y (kept whenever the T/K byte is there)
  std::optional<uint8_t> key_idx;      // K: KEYIDX, 0..31
  bool operator==(const Vp8Descriptor&) const = default;
};

// Bytes write_vp8_descriptor() writes for `d` (1..6).
std::size_t vp8_descriptor_size(const Vp8Descriptor& d) noexcept;

// Writes the descriptor at the start of `out`; the size written. invalid_argument for a
// field out of its range, buffer_too_small when `out` is too short.
Result<std::size_t> write_vp8_descriptor(std::span<std::byte> out,
                                         const Vp8Descriptor& d) noexcept;

// One parsed VP8 RTP payload; points into the bytes given to parse_vp8().
struct Vp8Packet {
  Vp8Descriptor descriptor;
  std::size_t descriptor_size = 0;
  std::span<const std::byte> data;  // the VP8 bytes after the descriptor (never empty)
  bool keyframe = false;            // begins a key frame (section 4.3)
  // S = 1 and PID = 0: the first packet of a frame.
  bool begins_frame() const noexcept {
    return descriptor.start_of_partition && descriptor.partition_id == 0;
  }
};

// Parses the descriptor of an RTP payload (every optional field) and finds the VP8 bytes.
// truncated when a field the flags announce is cut, or no VP8 byte follows the descriptor.
Result<Vp8Packet> parse_vp8(std::span<const std::byte> payload) noexcept;

// Splits one encoded VP8 frame into RTP payloads of at most `max_payload` bytes each,
// descriptor included, sizes balanced (they differ by one byte at most). Every payload has
// X=1, I=1, M=1 and the 15-bit `picture_id`; the first has S=1, PID=0 (the frame is sent as
// one partition); TL0PICIDX, TID and KEYIDX are left out. The frame must outlive the
// packetizer; next() copies from it into the caller's buffer, allocating nothing.
class Vp8Packetizer {
 public:
  static constexpr std::size_t kDescriptorSize = 4;  // X, I/L/T/K, two bytes of picture id

  // invalid_argument: an empty frame, a picture id over 15 bits, or a budget that leaves no
  // room for a VP8 byte after the descriptor.
  static Result<Vp8Packetizer> create(std::span<const std::byte> frame, std::size_t max_payload,
                                      uint16_t picture_id, bool non_reference = false) noexcept;

  std::size_t packet_count() const noexcept { return count_; }
  bool done() const noexcept { return index_ == count_; }
  // Writes the next payload into `out` (buffer_too_small, and nothing consumed, when it
  // does not fit; max_payload bytes always do). invalid_argument after the last one.
  Result<PacketizedPayload> next(std::span<std::byte> out) noexcept;

  Vp8Packetizer() = default;

 private:
  std::span<const std::byte> frame_;
  std::size_t count_ = 0;
  std::size_t index_ = 0;
  std::size_t offset_ = 0;
  uint16_t picture_id_ = 0;
  bool non_reference_ = false;
};

// What assemble_vp8() made of a frame.
struct Vp8Frame {
  std::size_t size = 0;  // bytes written to `out`
  bool keyframe = false;
  std::optional<uint16_t> picture_id;  // of the first packet, when it carries one
};

// Concatenates the VP8 bytes of the payloads of one frame (one RTP timestamp, in sequence
// order; the caller found no gap) into `out`. Checks each descriptor, that the first begins
// the frame (S=1, PID=0) and no later one does, and that the picture ids agree. An error's
// offset counts bytes across the payloads as if they were one buffer.
Result<Vp8Frame> assemble_vp8(std::span<const std::span<const std::byte>> payloads,
                              std::span<std::byte> out) noexcept;

// True when `packets` make one whole frame: one timestamp, consecutive sequence numbers,
// the marker on the last only, every payload a valid VP8 payload, the first with S=1 PID=0
// and no later one with both, the picture ids all the same (what assemble_vp8() checks).
bool is_complete_vp8_frame(std::span<const RtpView> packets) noexcept;

}  // namespace peer::rtp
