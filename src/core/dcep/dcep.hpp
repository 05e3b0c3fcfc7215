#pragma once
// DCEP, the Data Channel Establishment Protocol (RFC 8832): the DATA_CHANNEL_OPEN and
// DATA_CHANNEL_ACK messages, their parser and writer, and the SCTP payload protocol
// identifiers (PPIDs) of WebRTC data channels (RFC 8831 section 8).
//
// Sans-I/O: bytes in, model out, and back. DCEP messages travel as whole SCTP user messages
// with PPID 50 (RFC 8832 section 8.1), so parse() is given exactly one message.
//
// parse() throws peer::Error(Errc::bad_dcep) whose message says what was wrong; it never
// reads out of bounds. write() throws peer::Error(Errc::invalid_argument) for a model that
// cannot be put on the wire (a label or protocol over 65535 bytes or not UTF-8, a channel
// type outside the enum). What write() produces, parse() accepts, and parsing it gives back
// the model (with the reliability parameter of a reliable channel type set to 0).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace peer::dcep {

// Channel Type of DATA_CHANNEL_OPEN (RFC 8832 section 5.1): the high bit (0x80) means
// unordered; the low bits say how the Reliability Parameter is read.
enum class ChannelType : uint8_t {
  reliable = 0x00,
  reliable_unordered = 0x80,
  partial_reliable_rexmit = 0x01,            // parameter: number of retransmissions
  partial_reliable_rexmit_unordered = 0x81,  //
  partial_reliable_timed = 0x02,             // parameter: lifetime in milliseconds
  partial_reliable_timed_unordered = 0x82,   //
};

// True unless the channel type has the unordered bit 0x80 (RFC 8832 section 5.1).
constexpr bool ordered(ChannelType t) noexcept {
  return (static_cast<uint8_t>(t) & 0x80) == 0;
}
// True for reliable and reliable_unordered, whose Reliability Parameter is 0 on the wire.
constexpr bool reliable(ChannelType t) noexcept {
  return (static_cast<uint8_t>(t) & 0x7f) == 0;
}

// Priorities of RFC 8831 section 6.4 (the W3C API's "very-low" .. "high").
inline constexpr uint16_t kPriorityBelowNormal = 128;
inline constexpr uint16_t kPriorityNormal = 256;
inline constexpr uint16_t kPriorityHigh = 512;
inline constexpr uint16_t kPriorityExtraHigh = 1024;

// DATA_CHANNEL_OPEN (RFC 8832 section 5.1). label and protocol are UTF-8 (RFC 3629), at
// most 65535 bytes each; an empty protocol means "unspecified".
struct Open {
  ChannelType channel_type = ChannelType::reliable;
  uint16_t priority = kPriorityNormal;  // the W3C default ("low") maps to 256
  uint32_t reliability_parameter = 0;   // ignored (and written as 0) for reliable types
  std::string label;
  std::string protocol;
  bool operator==(const Open&) const = default;
};

// DATA_CHANNEL_ACK (RFC 8832 section 5.2): the message type byte alone.
struct Ack {
  bool operator==(const Ack&) const = default;
};

// Message Type values (RFC 8832 section 8.2.1); 0x00, 0x01 and 0xff are reserved.
inline constexpr uint8_t kMessageAck = 0x02;
inline constexpr uint8_t kMessageOpen = 0x03;

// Size of the fixed part of DATA_CHANNEL_OPEN, before label and protocol.
inline constexpr std::size_t kOpenHeaderSize = 12;

// Parses one DCEP message. Throws peer::Error(Errc::bad_dcep).
std::variant<Open, Ack> parse(std::span<const std::byte> message);

// Append the encoded message to `out`. write(Open) throws peer::Error(invalid_argument).
void write(const Open& open, std::vector<std::byte>& out);
void write_ack(std::vector<std::byte>& out);

// SCTP payload protocol identifiers (RFC 8831 section 8; IANA "SCTP Payload Protocol
// Identifiers"). 52 and 54 were for the partial delivery of large messages, now deprecated:
// never sent, but accepted on receive.
inline constexpr uint32_t kPpidDcep = 50;
inline constexpr uint32_t kPpidString = 51;
inline constexpr uint32_t kPpidBinaryPartial = 52;  // deprecated
inline constexpr uint32_t kPpidBinary = 53;
inline constexpr uint32_t kPpidStringPartial = 54;  // deprecated
inline constexpr uint32_t kPpidStringEmpty = 56;
inline constexpr uint32_t kPpidBinaryEmpty = 57;

// What a received SCTP message carries, by its PPID. An empty message is sent as one byte
// (SCTP cannot carry zero bytes) with PPID 56 or 57, and that byte is to be ignored
// (RFC 8831 section 6.6).
enum class Payload : uint8_t { dcep, string, binary, empty_string, empty_binary };

// nullopt for a PPID that is not WebRTC's (the message is to be dropped).
constexpr std::optional<Payload> payload_of(uint32_t ppid) noexcept {
  switch (ppid) {
    case kPpidDcep:
      return Payload::dcep;
    case kPpidString:
    case kPpidStringPartial:
      return Payload::string;
    case kPpidBinary:
    case kPpidBinaryPartial:
      return Payload::binary;
    case kPpidStringEmpty:
      return Payload::empty_string;
    case kPpidBinaryEmpty:
      return Payload::empty_binary;
    default:
      return std::nullopt;
  }
}

// The PPID to send an application message with (RFC 8831 section 6.6).
constexpr uint32_t ppid_for(bool binary, std::size_t size) noexcept {
  if (size == 0) return binary ? kPpidBinaryEmpty : kPpidStringEmpty;
  return binary ? kPpidBinary : kPpidString;
}

}  // namespace peer::dcep
