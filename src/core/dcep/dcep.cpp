// DCEP parser and writer (RFC 8832).
//
// DATA_CHANNEL_OPEN (RFC 8832 section 5.1), all fields in network byte order (section 5):
/*
     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Message Type |  Channel Type |            Priority           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                    Reliability Parameter                      |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |         Label Length          |       Protocol Length         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                                                               /
    |                             Label                             |
    /                                                               \
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    \                                                               /
    |                            Protocol                           |
    /                                                               \
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
*/
// DATA_CHANNEL_ACK (RFC 8832 section 5.2):
//
//    +-+-+-+-+-+-+-+-+
//    |  Message Type |
//    +-+-+-+-+-+-+-+-+
//
// Message Type: 0x03 OPEN, 0x02 ACK (section 8.2.1); anything else is an error.
//
// Rules, and why:
// - Every length is checked against what is left before anything is read.
// - Label Length + Protocol Length must account exactly for the bytes after the 12-byte
//   header, and an ACK is exactly one byte. A DCEP message is one whole SCTP user message
//   (section 8.1), so its end is known; RFC 8832 defines no trailing extension, and bytes
//   left over mean the sender miscounted: accepting them would open a channel with a label
//   or protocol the sender did not mean.
// - Channel types other than the six of section 5.1 are errors (the reliability semantics
//   would be unknown).
// - The Reliability Parameter of a reliable type "MUST be ignored on the receiving side"
//   (section 5.1): parse() sets it to 0, which write() also sends ("MUST be set to 0").
// - Label and protocol must be valid UTF-8 (section 5.1, RFC 3629: no overlong forms, no
//   surrogates, nothing above U+10FFFF). They end up in JSON values of the store, which
//   cannot hold invalid UTF-8.

#include "core/dcep/dcep.hpp"

#include <fmt/format.h>

#include <limits>
#include <string_view>

#include "core/bytes.hpp"
#include "peer/error.hpp"

namespace peer::dcep {

namespace {

// RFC 3629 section 4 syntax.
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
    if (b0 >= 0xc2 && b0 <= 0xdf) {
      len = 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      len = 3;
      if (b0 == 0xe0) lo = 0xa0;  // overlong
      if (b0 == 0xed) hi = 0x9f;  // surrogates U+D800..U+DFFF
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      len = 4;
      if (b0 == 0xf0) lo = 0x90;  // overlong
      if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
    } else {
      return false;  // continuation byte, overlong 0xc0/0xc1, or 0xf5..0xff
    }
    if (n - i < len) return false;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b1 < lo || b1 > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < 0x80 || b > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

bool known(ChannelType t) noexcept {
  switch (t) {
    case ChannelType::reliable:
    case ChannelType::reliable_unordered:
    case ChannelType::partial_reliable_rexmit:
    case ChannelType::partial_reliable_rexmit_unordered:
    case ChannelType::partial_reliable_timed:
    case ChannelType::partial_reliable_timed_unordered:
      return true;
  }
  return false;
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

[[noreturn]] void fail(const std::string& message) {
  throw Error(Errc::bad_dcep, message);
}

Open parse_open(std::span<const std::byte> m) {
  if (m.size() < kOpenHeaderSize) {
    fail(fmt::format("DCEP open: {} bytes, shorter than the {}-byte header (RFC 8832 section 5.1)",
                     m.size(), kOpenHeaderSize));
  }
  Open open;
  const auto type_byte = std::to_integer<uint8_t>(m[1]);
  open.channel_type = static_cast<ChannelType>(type_byte);
  if (!known(open.channel_type)) {
    fail(fmt::format("DCEP open: unknown channel type 0x{:02x} (RFC 8832 section 5.1)", type_byte));
  }
  open.priority = bytes::u16(m, 2);
  open.reliability_parameter = reliable(open.channel_type) ? 0 : bytes::u32(m, 4);
  const std::size_t label_length = bytes::u16(m, 8);
  const std::size_t protocol_length = bytes::u16(m, 10);

  std::span<const std::byte> rest = m.subspan(kOpenHeaderSize);
  if (label_length > rest.size()) {
    fail(fmt::format("DCEP open: label length {} exceeds the {} bytes left", label_length,
                     rest.size()));
  }
  const std::string_view label = as_text(rest.first(label_length));
  rest = rest.subspan(label_length);
  if (protocol_length > rest.size()) {
    fail(fmt::format("DCEP open: protocol length {} exceeds the {} bytes left after the label",
                     protocol_length, rest.size()));
  }
  const std::string_view protocol = as_text(rest.first(protocol_length));
  rest = rest.subspan(protocol_length);
  if (!rest.empty()) {
    fail(fmt::format(
        "DCEP open: {} bytes after the protocol; label length {} and protocol length {} must "
        "account for the whole message",
        rest.size(), label_length, protocol_length));
  }
  if (!valid_utf8(label)) fail("DCEP open: the label is not valid UTF-8 (RFC 8832 section 5.1)");
  if (!valid_utf8(protocol)) {
    fail("DCEP open: the protocol is not valid UTF-8 (RFC 8832 section 5.1)");
  }
  open.label = label;
  open.protocol = protocol;
  return open;
}

}  // namespace

std::variant<Open, Ack> parse(std::span<const std::byte> message) {
  if (message.empty()) fail("DCEP: empty message");
  const auto type = std::to_integer<uint8_t>(message[0]);
  switch (type) {
    case kMessageOpen:
      return parse_open(message);
    case kMessageAck:
      if (message.size() != 1) {
        fail(fmt::format("DCEP ack: {} bytes, expected exactly 1 (RFC 8832 section 5.2)",
                         message.size()));
      }
      return Ack{};
    default:
      fail(fmt::format(
          "DCEP: unknown message type 0x{:02x} (0x03 open, 0x02 ack; RFC 8832 section 8.2.1)",
          type));
  }
}

void write(const Open& open, std::vector<std::byte>& out) {
  constexpr std::size_t kMax = std::numeric_limits<uint16_t>::max();
  if (!known(open.channel_type)) {
    throw Error(Errc::invalid_argument, fmt::format("DCEP open: unknown channel type 0x{:02x}",
                                                    static_cast<uint8_t>(open.channel_type)));
  }
  if (open.label.size() > kMax || open.protocol.size() > kMax) {
    throw Error(Errc::invalid_argument,
                fmt::format("DCEP open: label ({} bytes) and protocol ({} bytes) must be at most "
                            "{} bytes each",
                            open.label.size(), open.protocol.size(), kMax));
  }
  if (!valid_utf8(open.label) || !valid_utf8(open.protocol)) {
    throw Error(Errc::invalid_argument, "DCEP open: label and protocol must be valid UTF-8");
  }
  out.reserve(out.size() + kOpenHeaderSize + open.label.size() + open.protocol.size());
  out.push_back(static_cast<std::byte>(kMessageOpen));
  out.push_back(static_cast<std::byte>(open.channel_type));
  bytes::append16(out, open.priority);
  bytes::append32(out, reliable(open.channel_type) ? 0 : open.reliability_parameter);
  bytes::append16(out, static_cast<uint16_t>(open.label.size()));
  bytes::append16(out, static_cast<uint16_t>(open.protocol.size()));
  for (const char c : open.label) out.push_back(static_cast<std::byte>(c));
  for (const char c : open.protocol) out.push_back(static_cast<std::byte>(c));
}

void write_ack(std::vector<std::byte>& out) {
  out.push_back(static_cast<std::byte>(kMessageAck));
}

}  // namespace peer::dcep
