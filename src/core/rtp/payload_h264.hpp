#pragma once
// The H.264 RTP payload format (RFC 6184), packetization-mode 1 (non-interleaved): Annex B
// byte streams in, RTP payloads out (single NAL unit packets, STAP-A, FU-A), and back.
// Pure code: no H.264 codec, no I/O, no allocation.
//
// NAL unit header, and the payload header of every packet (RFC 6184 section 5.3):
//
//     +---------------+
//     |0|1|2|3|4|5|6|7|
//     +-+-+-+-+-+-+-+-+
//     |F|NRI|  Type   |   Type 1..23: one NAL unit (section 5.6)
//     +---------------+        24: STAP-A, 28: FU-A (mode 1); 25, 26, 27, 29: mode 2 only
//
// STAP-A (section 5.7.1): header (type 24), then per NAL unit a 16-bit size and the unit:
//
//     |STAP-A hdr| NALU 1 size (16) | NALU 1 hdr | NALU 1 data ... | NALU 2 size | ...
//
// FU-A (section 5.8): FU indicator (F, NRI of the NAL unit, type 28), FU header
// (S start, E end, R = 0, the NAL unit's type), then a fragment of the NAL unit without
// its header byte:
//
//     | FU indicator |S|E|R| Type | FU payload ...
//
// Annex B (ITU-T H.264 Annex B): NAL units each after a start code 00 00 01 (or 00 00 00 01).

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/rtp/payload_common.hpp"
#include "core/rtp/result.hpp"
#include "core/rtp/rtp.hpp"

namespace peer::rtp {

inline constexpr uint8_t kH264NalIdr = 5;
inline constexpr uint8_t kH264NalSps = 7;
inline constexpr uint8_t kH264NalPps = 8;
inline constexpr uint8_t kH264StapA = 24;
inline constexpr uint8_t kH264FuA = 28;

// Takes the next NAL unit off the front of an Annex B stream: skips to the next start code
// (00 00 01; a 00 00 00 01 is the same with a zero before it), and returns the bytes up to
// the following start code or the end, without trailing zero bytes (trailing_zero_8bits,
// Annex B.2). `stream` is left at that start code. Empty NAL units are skipped; bytes
// before the first start code are ignored. Returns an empty span when none is left.
std::span<const std::byte> next_nal_unit(std::span<const std::byte>& stream) noexcept;

// visit(std::span<const std::byte> nal) for each NAL unit of an Annex B stream, in order.
template <class F>
void for_each_nal_unit(std::span<const std::byte> annexb, F&& visit) {
  for (auto nal = next_nal_unit(annexb); !nal.empty(); nal = next_nal_unit(annexb)) visit(nal);
}

// Splits one access unit (a frame), given as an Annex B stream, into RTP payloads of at most
// `max_payload` bytes: a NAL unit that fits goes alone, or in a STAP-A with the NAL units
// after it when two or more fit together (SPS and PPS before an IDR slice); a larger one
// goes in FU-A fragments of balanced sizes. The marker is on the last payload. The stream
// must outlive the packetizer; next() copies from it into the caller's buffer.
class H264Packetizer {
 public:
  // invalid_argument: max_payload under 3 (an FU-A needs 2 header bytes and 1 of data), no
  // NAL unit in the stream, or a NAL unit of type 0 or 24..31, which cannot be sent as it
  // is (RFC 6184 section 5.2; the offset is where it starts in the stream).
  static Result<H264Packetizer> create(std::span<const std::byte> annexb,
                                       std::size_t max_payload) noexcept;

  std::size_t packet_count() const noexcept { return count_; }
  bool done() const noexcept { return nal_.empty(); }
  // Writes the next payload into `out` (buffer_too_small, and nothing consumed, when it
  // does not fit; max_payload bytes always do). invalid_argument after the last one.
  Result<PacketizedPayload> next(std::span<std::byte> out) noexcept;

  H264Packetizer() = default;

 private:
  Result<PacketizedPayload> step(std::span<std::byte> out, bool write) noexcept;
  std::span<const std::byte> stream_;  // the whole input, for error offsets
  std::span<const std::byte> nal_;     // the NAL unit the next payload starts with or continues
  std::span<const std::byte> rest_;    // the stream after nal_
  std::size_t max_ = 0;
  std::size_t count_ = 0;
  std::size_t fu_index_ = 0;  // FU-A of nal_: fragments sent, how many, bytes sent
  std::size_t fu_count_ = 0;
  std::size_t fu_offset_ = 0;
};

enum class H264PacketKind : uint8_t { single_nal, stap_a, fu_a };

// One checked H.264 RTP payload.
struct H264Packet {
  H264PacketKind kind = H264PacketKind::single_nal;
  uint8_t nal_type = 0;       // single: its type; FU-A: the fragmented unit's; STAP-A: 24
  std::size_t nal_count = 0;  // NAL units that begin here (FU-A: 1 with S, else 0)
  bool fu_start = false;      // FU-A: S
  bool fu_end = false;        // FU-A: E
  bool keyframe = false;      // carries an IDR slice (type 5) or an SPS (type 7)
  std::size_t annexb_size = 0;  // bytes depacketize_h264() writes for it
};

// Checks an RTP payload: single NAL unit (types 1..23), STAP-A (every unit's size, none
// empty, none of type 0 or 24..31) or FU-A (S and E not both set, a fragment follows).
// STAP-B, MTAP16/24 and FU-B (interleaved mode) and the undefined types 0, 30, 31 are
// bad_field errors that name the type.
Result<H264Packet> parse_h264(std::span<const std::byte> payload) noexcept;

// Writes the Annex B bytes of one payload into `out`: each NAL unit that begins in it after
// a 00 00 00 01 start code (an FU-A start fragment: the start code and the rebuilt NAL
// header), an FU-A fragment's data as it is. Returns the size written.
Result<std::size_t> depacketize_h264(std::span<const std::byte> payload,
                                     std::span<std::byte> out) noexcept;

struct H264Frame {
  std::size_t size = 0;  // bytes written to `out`
  bool keyframe = false;
};

// Depacketizes the payloads of one access unit (one RTP timestamp, in sequence order; the
// caller found no gap) into one Annex B stream in `out`. On top of parse_h264(): every FU-A
// begins with S, continues with the same type and ends with E before any other packet and
// before the last one ends. An error's offset counts bytes across the payloads as if they
// were one buffer.
Result<H264Frame> assemble_h264(std::span<const std::span<const std::byte>> payloads,
                                std::span<std::byte> out) noexcept;

// True when `packets` make one whole access unit: one timestamp, consecutive sequence
// numbers, the marker on the last only, and payloads assemble_h264() accepts.
bool is_complete_h264_frame(std::span<const RtpView> packets) noexcept;

}  // namespace peer::rtp
