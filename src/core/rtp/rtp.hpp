#pragma once
// RTP packets (RFC 3550 section 5.1) and their header extensions (RFC 8285): a non-owning
// view parser and a writer into a caller's buffer. Neither allocates nor throws.
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                           timestamp                           |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |           synchronization source (SSRC) identifier            |
//    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//    |            contributing source (CSRC) identifiers             |
//    |                             ....                              |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |  defined by profile (0xBEDE, 0x100x)  |         length        |  (X = 1, section 5.3.1)
//    |                        header extension                       |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |                payload ...    | padding ... | padding count   |  (P = 1)
//
// What parse_rtp() accepts is exactly what RFC 3550 section 5.1 and RFC 8285 allow: a
// packet it returns can be read through the view without further checks (the extension
// elements of a one- or two-byte header were walked once already). Demultiplexing RTP from
// RTCP is is_rtcp() in core/demux.hpp (RFC 5761 section 4); SRTP is not this layer's.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/rtp/result.hpp"

namespace peer::rtp {

inline constexpr std::size_t kRtpHeaderSize = 12;  // without CSRCs and extension
inline constexpr std::size_t kMaxCsrcs = 15;

// "defined by profile" values of RFC 8285 section 4.2 (one-byte) and 4.3 (two-byte; the low
// 4 bits are "appbits", free for the application).
inline constexpr uint16_t kOneByteProfile = 0xBEDE;
inline constexpr uint16_t kTwoByteProfile = 0x1000;
inline constexpr uint16_t kTwoByteProfileMask = 0xFFF0;

enum class ExtensionForm : uint8_t { none, one_byte, two_byte, other };

// One header extension element (RFC 8285 section 4): its local id and its data.
struct ExtensionElement {
  uint8_t id = 0;
  std::span<const std::byte> data;
};

// Walks the elements of a one- or two-byte header extension block (RFC 8285 sections 4.2,
// 4.3): padding bytes (id 0) are skipped; in the one-byte form id 15 ends the walk (its
// length is ignored, section 4.2). Used on a block parse_rtp() checked, it never fails.
class ExtensionIterator {
 public:
  ExtensionIterator() = default;
  ExtensionIterator(ExtensionForm form, std::span<const std::byte> block) noexcept;
  const ExtensionElement& operator*() const noexcept { return current_; }
  const ExtensionElement* operator->() const noexcept { return &current_; }
  ExtensionIterator& operator++() noexcept;
  bool operator==(std::default_sentinel_t) const noexcept { return done_; }

 private:
  void advance() noexcept;
  ExtensionForm form_ = ExtensionForm::none;
  std::span<const std::byte> rest_;
  ExtensionElement current_;
  bool done_ = true;
};

struct ExtensionRange {
  ExtensionForm form = ExtensionForm::none;
  std::span<const std::byte> block;
  ExtensionIterator begin() const noexcept { return {form, block}; }
  std::default_sentinel_t end() const noexcept { return {}; }
};

// Checks a one- or two-byte extension block element by element; `offset` (the block's
// place in the packet) goes into the error. Other forms are opaque and always valid.
std::optional<Error> check_extensions(ExtensionForm form, std::span<const std::byte> block,
                                      std::size_t offset) noexcept;

// A parsed RTP packet; points into the bytes given to parse_rtp(), which must outlive it.
class RtpView {
 public:
  bool padding() const noexcept { return (detail::u8(packet_, 0) & 0x20) != 0; }
  bool marker() const noexcept { return (detail::u8(packet_, 1) & 0x80) != 0; }
  uint8_t payload_type() const noexcept { return detail::u8(packet_, 1) & 0x7f; }
  uint16_t sequence() const noexcept { return detail::u16(packet_, 2); }
  uint32_t timestamp() const noexcept { return detail::u32(packet_, 4); }
  uint32_t ssrc() const noexcept { return detail::u32(packet_, 8); }
  std::size_t csrc_count() const noexcept { return detail::u8(packet_, 0) & 0x0f; }
  uint32_t csrc(std::size_t i) const noexcept { return detail::u32(packet_, 12 + 4 * i); }

  bool has_extension() const noexcept { return (detail::u8(packet_, 0) & 0x10) != 0; }
  uint16_t extension_profile() const noexcept { return extension_profile_; }
  ExtensionForm extension_form() const noexcept { return form_; }
  // The extension data after its 4-byte header (section 5.3.1), empty without X.
  std::span<const std::byte> extension_block() const noexcept { return extension_; }
  ExtensionRange extensions() const noexcept { return {form_, extension_}; }
  // The first element with this id (1..14 one-byte, 1..255 two-byte), if any.
  std::optional<std::span<const std::byte>> find_extension(uint8_t id) const noexcept;

  std::size_t header_size() const noexcept { return header_size_; }
  std::span<const std::byte> payload() const noexcept { return payload_; }
  std::size_t padding_size() const noexcept { return padding_size_; }
  std::span<const std::byte> bytes() const noexcept { return packet_; }

 private:
  friend Result<RtpView> parse_rtp(std::span<const std::byte> packet) noexcept;
  std::span<const std::byte> packet_;
  std::span<const std::byte> extension_;
  std::span<const std::byte> payload_;
  std::size_t header_size_ = 0;
  std::size_t padding_size_ = 0;
  uint16_t extension_profile_ = 0;
  ExtensionForm form_ = ExtensionForm::none;
};

Result<RtpView> parse_rtp(std::span<const std::byte> packet) noexcept;
inline Result<RtpView> parse_rtp(const uint8_t* data, std::size_t size) noexcept {
  return parse_rtp({reinterpret_cast<const std::byte*>(data), size});
}

// The fixed header fields for write_rtp().
struct RtpHeader {
  bool marker = false;
  uint8_t payload_type = 0;  // 0..127
  uint16_t sequence = 0;
  uint32_t timestamp = 0;
  uint32_t ssrc = 0;
  std::span<const uint32_t> csrcs;  // at most 15
};

// Writes a packet into `out` and returns its size. The extension elements go in the
// one-byte form when every id is 1..14 and every element 1..16 bytes, otherwise in the
// two-byte form (ids 1..255, 0..255 bytes; RFC 8285 section 4.3), zero-padded to 32 bits.
// `padding` (0..255) bytes of RTP padding are added at the end (section 5.1), the last
// holding the count. Nothing is written past out.size(); nothing is allocated.
Result<std::size_t> write_rtp(std::span<std::byte> out, const RtpHeader& header,
                              std::span<const ExtensionElement> extensions,
                              std::span<const std::byte> payload, uint8_t padding = 0) noexcept;

// --- Extension payloads ---------------------------------------------------------------

// urn:ietf:params:rtp-hdrext:sdes:mid (RFC 8843 section 15.2, an SDES item, RFC 7941):
// the MID as text, 1..255 bytes (1..16 in the one-byte form). nullopt when empty.
std::optional<std::string_view> read_mid(std::span<const std::byte> data) noexcept;
// The data of a mid element (no copy: the bytes of `mid`).
inline std::span<const std::byte> mid_data(std::string_view mid) noexcept {
  return {reinterpret_cast<const std::byte*>(mid.data()), mid.size()};
}

// http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time: 24 bits, seconds in 6.18
// fixed point (6 bits of seconds, wrapping every 64 s; 18 bits of fraction).
std::optional<uint32_t> read_abs_send_time(std::span<const std::byte> data) noexcept;
std::array<std::byte, 3> abs_send_time_data(uint32_t value) noexcept;  // low 24 bits
// Microseconds (any epoch) to the 24-bit 6.18 value and back (within 0..64 s).
constexpr uint32_t abs_send_time_from_us(uint64_t us) noexcept {
  return static_cast<uint32_t>((((us % 64000000) << 18) + 500000) / 1000000) & 0xFFFFFF;
}
constexpr uint64_t abs_send_time_to_us(uint32_t value) noexcept {
  return ((static_cast<uint64_t>(value & 0xFFFFFF) * 1000000) + (1u << 17)) >> 18;
}

// http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01 section 2:
// a 16-bit transport-wide sequence number.
std::optional<uint16_t> read_transport_sequence(std::span<const std::byte> data) noexcept;
std::array<std::byte, 2> transport_sequence_data(uint16_t sequence) noexcept;

}  // namespace peer::rtp
