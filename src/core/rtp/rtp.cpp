// RTP parser and writer (RFC 3550 section 5.1) and RFC 8285 header extensions.
//
// Rules, and why:
// - Every length is checked against what is left before anything is read (the CSRC list,
//   the extension header and its length in 32-bit words, the padding count).
// - Padding (section 5.1): the last byte counts the padding bytes including itself, so 0 is
//   an error, and so is a count larger than what follows the header.
// - Extensions (section 5.3.1): one block of `length` 32-bit words after a 4-byte header.
//   One-byte (0xBEDE) and two-byte (0x100x) blocks are walked element by element here so
//   that a view never meets a bad element later; an element running past the block is an
//   error. Other profiles are kept opaque.

#include "core/rtp/rtp.hpp"

#include <fmt/format.h>

#include <cstring>

namespace peer::rtp {

using detail::u16;
using detail::u8;

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::truncated:
      return "truncated";
    case ErrorCode::bad_version:
      return "bad_version";
    case ErrorCode::bad_padding:
      return "bad_padding";
    case ErrorCode::bad_extension:
      return "bad_extension";
    case ErrorCode::bad_field:
      return "bad_field";
    case ErrorCode::wrong_type:
      return "wrong_type";
    case ErrorCode::buffer_too_small:
      return "buffer_too_small";
    case ErrorCode::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

std::string describe(const Error& error) {
  return fmt::format("{} at byte {}: {}", to_string(error.code), error.offset, error.message);
}

namespace {

ExtensionForm form_of(uint16_t profile) noexcept {
  if (profile == kOneByteProfile) return ExtensionForm::one_byte;
  if ((profile & kTwoByteProfileMask) == kTwoByteProfile) return ExtensionForm::two_byte;
  return ExtensionForm::other;
}

constexpr Error err(ErrorCode code, std::size_t offset, const char* message) noexcept {
  return Error{code, offset, message};
}

}  // namespace

// --- ExtensionIterator ----------------------------------------------------------------

ExtensionIterator::ExtensionIterator(ExtensionForm form, std::span<const std::byte> block) noexcept
    : form_(form), rest_(block), done_(false) {
  if (form != ExtensionForm::one_byte && form != ExtensionForm::two_byte) done_ = true;
  advance();
}

ExtensionIterator& ExtensionIterator::operator++() noexcept {
  advance();
  return *this;
}

void ExtensionIterator::advance() noexcept {
  while (!done_) {
    if (rest_.empty()) break;
    const uint8_t first = u8(rest_, 0);
    if (first == 0) {  // padding byte (RFC 8285 sections 4.2, 4.3)
      rest_ = rest_.subspan(1);
      continue;
    }
    std::size_t id = 0, header = 0, size = 0;
    if (form_ == ExtensionForm::one_byte) {
      id = first >> 4;
      if (id == 15) break;  // reserved: stop here (section 4.2)
      header = 1;
      size = (first & 0x0f) + 1u;
    } else {
      if (rest_.size() < 2) break;
      id = first;
      header = 2;
      size = u8(rest_, 1);
    }
    if (id == 0 || rest_.size() - header < size) break;  // checked by check_extensions
    current_ = {static_cast<uint8_t>(id), rest_.subspan(header, size)};
    rest_ = rest_.subspan(header + size);
    return;
  }
  done_ = true;
  current_ = {};
}

std::optional<Error> check_extensions(ExtensionForm form, std::span<const std::byte> block,
                                      std::size_t offset) noexcept {
  if (form != ExtensionForm::one_byte && form != ExtensionForm::two_byte) return std::nullopt;
  std::size_t at = 0;
  while (at < block.size()) {
    const uint8_t first = u8(block, at);
    if (first == 0) {
      ++at;
      continue;
    }
    if (form == ExtensionForm::one_byte) {
      if ((first >> 4) == 15) return std::nullopt;  // RFC 8285 section 4.2: stop
      const std::size_t size = (first & 0x0f) + 1u;
      if (block.size() - at - 1 < size) {
        return err(ErrorCode::bad_extension, offset + at,
                   "RTP one-byte header extension: element length runs past the extension "
                   "block (RFC 8285 section 4.2)");
      }
      at += 1 + size;
    } else {
      if (block.size() - at < 2) {
        return err(ErrorCode::bad_extension, offset + at,
                   "RTP two-byte header extension: element header cut by the end of the "
                   "extension block (RFC 8285 section 4.3)");
      }
      const std::size_t size = u8(block, at + 1);
      if (block.size() - at - 2 < size) {
        return err(ErrorCode::bad_extension, offset + at,
                   "RTP two-byte header extension: element length runs past the extension "
                   "block (RFC 8285 section 4.3)");
      }
      at += 2 + size;
    }
  }
  return std::nullopt;
}

// --- RtpView --------------------------------------------------------------------------

std::optional<std::span<const std::byte>> RtpView::find_extension(uint8_t id) const noexcept {
  if (id == 0) return std::nullopt;
  for (const ExtensionElement& e : extensions()) {
    if (e.id == id) return e.data;
  }
  return std::nullopt;
}

Result<RtpView> parse_rtp(std::span<const std::byte> packet) noexcept {
  if (packet.size() < kRtpHeaderSize) {
    return err(ErrorCode::truncated, packet.size(),
               "RTP: shorter than the 12-byte fixed header (RFC 3550 section 5.1)");
  }
  const uint8_t b0 = u8(packet, 0);
  if ((b0 >> 6) != 2) {
    return err(ErrorCode::bad_version, 0, "RTP: version field is not 2 (RFC 3550 section 5.1)");
  }
  RtpView v;
  v.packet_ = packet;
  std::size_t at = kRtpHeaderSize + 4 * static_cast<std::size_t>(b0 & 0x0f);
  if (at > packet.size()) {
    return err(ErrorCode::truncated, kRtpHeaderSize,
               "RTP: CSRC count (CC) needs more bytes than the packet has "
               "(RFC 3550 section 5.1)");
  }
  if (b0 & 0x10) {
    if (packet.size() - at < 4) {
      return err(ErrorCode::truncated, at,
                 "RTP: extension bit (X) set but the extension header is cut "
                 "(RFC 3550 section 5.3.1)");
    }
    v.extension_profile_ = u16(packet, at);
    const std::size_t length = 4 * static_cast<std::size_t>(u16(packet, at + 2));
    if (packet.size() - at - 4 < length) {
      return err(ErrorCode::truncated, at + 2,
                 "RTP: extension length runs past the end of the packet "
                 "(RFC 3550 section 5.3.1)");
    }
    v.form_ = form_of(v.extension_profile_);
    v.extension_ = packet.subspan(at + 4, length);
    if (auto bad = check_extensions(v.form_, v.extension_, at + 4)) return *bad;
    at += 4 + length;
  }
  v.header_size_ = at;
  std::size_t end = packet.size();
  if (b0 & 0x20) {
    const std::size_t count = u8(packet, packet.size() - 1);
    if (count == 0) {
      return err(ErrorCode::bad_padding, packet.size() - 1,
                 "RTP: padding bit (P) set with a padding count of 0 (RFC 3550 section 5.1)");
    }
    if (count > packet.size() - at) {
      return err(ErrorCode::bad_padding, packet.size() - 1,
                 "RTP: padding count larger than the bytes after the header "
                 "(RFC 3550 section 5.1)");
    }
    v.padding_size_ = count;
    end -= count;
  }
  v.payload_ = packet.subspan(at, end - at);
  return v;
}

// --- write_rtp ------------------------------------------------------------------------

Result<std::size_t> write_rtp(std::span<std::byte> out, const RtpHeader& header,
                              std::span<const ExtensionElement> extensions,
                              std::span<const std::byte> payload, uint8_t padding) noexcept {
  using namespace detail;
  if (header.payload_type > 127) {
    return err(ErrorCode::invalid_argument, 1, "RTP writer: payload type above 127");
  }
  if (header.csrcs.size() > kMaxCsrcs) {
    return err(ErrorCode::invalid_argument, 0, "RTP writer: more than 15 CSRCs");
  }
  bool one_byte = true;
  std::size_t ext_size = 0;  // elements without block padding
  for (const ExtensionElement& e : extensions) {
    if (e.id == 0) {
      return err(ErrorCode::invalid_argument, 0, "RTP writer: extension id 0 (RFC 8285 section 4)");
    }
    if (e.data.size() > 255) {
      return err(ErrorCode::invalid_argument, 0,
                 "RTP writer: extension element over 255 bytes (RFC 8285 section 4.3)");
    }
    if (e.id > 14 || e.data.empty() || e.data.size() > 16) one_byte = false;
  }
  for (const ExtensionElement& e : extensions) ext_size += (one_byte ? 1 : 2) + e.data.size();
  const std::size_t ext_block = (ext_size + 3) / 4 * 4;
  if (ext_block / 4 > 0xffff) {
    return err(ErrorCode::invalid_argument, 0, "RTP writer: extension block over 65535 words");
  }
  const std::size_t header_size =
      kRtpHeaderSize + 4 * header.csrcs.size() + (extensions.empty() ? 0 : 4 + ext_block);
  const std::size_t total = header_size + payload.size() + padding;
  if (total > out.size()) {
    return err(ErrorCode::buffer_too_small, out.size(),
               "RTP writer: the buffer is smaller than the packet");
  }
  put8(out, 0,
       0x80u | (padding ? 0x20u : 0u) | (extensions.empty() ? 0u : 0x10u) |
           static_cast<uint32_t>(header.csrcs.size()));
  put8(out, 1, (header.marker ? 0x80u : 0u) | header.payload_type);
  put16(out, 2, header.sequence);
  put32(out, 4, header.timestamp);
  put32(out, 8, header.ssrc);
  std::size_t at = kRtpHeaderSize;
  for (const uint32_t csrc : header.csrcs) {
    put32(out, at, csrc);
    at += 4;
  }
  if (!extensions.empty()) {
    put16(out, at, one_byte ? kOneByteProfile : kTwoByteProfile);
    put16(out, at + 2, static_cast<uint32_t>(ext_block / 4));
    at += 4;
    for (const ExtensionElement& e : extensions) {
      if (one_byte) {
        put8(out, at++,
             (static_cast<uint32_t>(e.id) << 4) | static_cast<uint32_t>(e.data.size() - 1));
      } else {
        put8(out, at++, e.id);
        put8(out, at++, static_cast<uint32_t>(e.data.size()));
      }
      if (!e.data.empty()) std::memcpy(out.data() + at, e.data.data(), e.data.size());
      at += e.data.size();
    }
    for (std::size_t i = ext_size; i < ext_block; ++i) out[at++] = std::byte{0};
  }
  if (!payload.empty()) std::memcpy(out.data() + at, payload.data(), payload.size());
  at += payload.size();
  if (padding) {
    std::memset(out.data() + at, 0, padding - 1u);
    at += padding;
    put8(out, at - 1, padding);
  }
  return at;
}

// --- Extension payloads ---------------------------------------------------------------

std::optional<std::string_view> read_mid(std::span<const std::byte> data) noexcept {
  if (data.empty()) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(data.data()), data.size());
}

std::optional<uint32_t> read_abs_send_time(std::span<const std::byte> data) noexcept {
  if (data.size() != 3) return std::nullopt;
  return detail::u24(data, 0);
}

std::array<std::byte, 3> abs_send_time_data(uint32_t value) noexcept {
  std::array<std::byte, 3> out{};
  detail::put24(out, 0, value & 0xFFFFFF);
  return out;
}

std::optional<uint16_t> read_transport_sequence(std::span<const std::byte> data) noexcept {
  if (data.size() != 2) return std::nullopt;
  return u16(data, 0);
}

std::array<std::byte, 2> transport_sequence_data(uint16_t sequence) noexcept {
  std::array<std::byte, 2> out{};
  detail::put16(out, 0, sequence);
  return out;
}

}  // namespace peer::rtp
