#pragma once
// The Opus RTP payload format (RFC 7587): one Opus packet per RTP packet, carried as it is,
// with a 48 kHz RTP clock whatever the audio bandwidth (section 4.1). What is left to do
// here is read the TOC byte (RFC 6716 section 3.1) to know how far the timestamp moves.
//
//      0 1 2 3 4 5 6 7
//     +-+-+-+-+-+-+-+-+
//     | config  |s| c |   config: mode, bandwidth, frame size; s: stereo;
//     +-+-+-+-+-+-+-+-+   c: 0 one frame, 1 two equal, 2 two sized, 3 a count follows
//
//     code 3:  |TOC| v|p|   M   | ...   (M frames, 1..48; at most 120 ms in all, R5)
//
// Pure code: no Opus codec, no I/O, no allocation.

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/rtp/result.hpp"

namespace peer::rtp {

inline constexpr uint32_t kOpusClockRate = 48000;  // RFC 7587 section 4.1

enum class OpusMode : uint8_t { silk, hybrid, celt };
enum class OpusBandwidth : uint8_t { narrow, medium, wide, super_wide, full };

struct OpusToc {
  uint8_t config = 0;  // 0..31
  OpusMode mode = OpusMode::silk;
  OpusBandwidth bandwidth = OpusBandwidth::narrow;
  bool stereo = false;
  uint8_t code = 0;            // c: 0..3
  uint32_t frame_count = 0;    // 1, 2, or M of a code 3 packet
  uint32_t frame_samples = 0;  // per frame at 48 kHz: 120 (2.5 ms) .. 2880 (60 ms)
  // The whole packet's duration at 48 kHz: the RTP timestamp increment after it.
  uint32_t samples() const noexcept { return frame_count * frame_samples; }
};

// Reads the TOC byte, and for code 3 the frame count byte. truncated for an empty packet
// (R1) or a code 3 packet without its count byte; bad_field for a count of 0 or a packet
// over 120 ms (R5). The frames themselves are not checked: that is the decoder's job.
Result<OpusToc> parse_opus_toc(std::span<const std::byte> packet) noexcept;

// What goes on the wire for one Opus packet.
struct OpusPayload {
  std::span<const std::byte> payload;  // the Opus packet, unchanged
  bool marker = false;                 // the first packet of a talkspurt
  uint32_t samples = 0;                // how far the next packet's timestamp moves
};

// Checks the TOC of an encoded packet and says how to send it. The marker goes on the first
// packet after a silence in which nothing was sent (DTX): RFC 7587 section 4.1 defers to
// RFC 3551 section 4.1.
Result<OpusPayload> packetize_opus(std::span<const std::byte> packet,
                                   bool after_silence = false) noexcept;

}  // namespace peer::rtp
