// DCEP (RFC 8832) parser and writer. Lives in the unit_sdp binary (tests/unit/sdp*_test.cpp).

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

#include "core/dcep/dcep.hpp"
#include "peer/error.hpp"

namespace peer::dcep {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> encode(const Open& open) {
  std::vector<std::byte> out;
  write(open, out);
  return out;
}

Open parse_open(std::span<const std::byte> m) {
  auto v = parse(m);
  EXPECT_TRUE(std::holds_alternative<Open>(v));
  return std::get<Open>(v);
}

// Expects parse() to throw bad_dcep; returns the message.
std::string parse_error(std::span<const std::byte> m) {
  try {
    (void)parse(m);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::bad_dcep) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "parse() accepted " << m.size() << " bytes";
  return {};
}

constexpr std::array kAllTypes = {
    ChannelType::reliable,
    ChannelType::reliable_unordered,
    ChannelType::partial_reliable_rexmit,
    ChannelType::partial_reliable_rexmit_unordered,
    ChannelType::partial_reliable_timed,
    ChannelType::partial_reliable_timed_unordered,
};

TEST(Dcep, RoundTripsEveryChannelType) {
  for (const ChannelType t : kAllTypes) {
    Open open;
    open.channel_type = t;
    open.priority = 512;
    open.reliability_parameter = reliable(t) ? 0 : 0x01020304;
    open.label = "label";
    open.protocol = "proto";
    const auto wire = encode(open);
    EXPECT_EQ(wire.size(), kOpenHeaderSize + 10);
    EXPECT_EQ(wire[1], static_cast<std::byte>(t));
    EXPECT_EQ(parse_open(wire), open) << static_cast<int>(t);
  }
}

TEST(Dcep, OrderedAndReliableHelpers) {
  EXPECT_TRUE(ordered(ChannelType::reliable));
  EXPECT_FALSE(ordered(ChannelType::reliable_unordered));
  EXPECT_TRUE(ordered(ChannelType::partial_reliable_rexmit));
  EXPECT_FALSE(ordered(ChannelType::partial_reliable_rexmit_unordered));
  EXPECT_TRUE(ordered(ChannelType::partial_reliable_timed));
  EXPECT_FALSE(ordered(ChannelType::partial_reliable_timed_unordered));
  EXPECT_TRUE(reliable(ChannelType::reliable));
  EXPECT_TRUE(reliable(ChannelType::reliable_unordered));
  EXPECT_FALSE(reliable(ChannelType::partial_reliable_rexmit));
  EXPECT_FALSE(reliable(ChannelType::partial_reliable_timed_unordered));
}

// RFC 8832 section 5.1 layout, written out by hand: "chat", no protocol, reliable, 256.
TEST(Dcep, EncodesAKnownOpenByteForByte) {
  const auto expected = bytes({
      0x03,                    // Message Type: DATA_CHANNEL_OPEN
      0x00,                    // Channel Type: DATA_CHANNEL_RELIABLE
      0x01, 0x00,              // Priority: 256
      0x00, 0x00, 0x00, 0x00,  // Reliability Parameter
      0x00, 0x04,              // Label Length
      0x00, 0x00,              // Protocol Length
      'c', 'h', 'a', 't',      // Label
  });
  Open open;
  open.channel_type = ChannelType::reliable;
  open.priority = 256;
  open.label = "chat";
  EXPECT_EQ(encode(open), expected);
  EXPECT_EQ(parse_open(expected), open);
}

TEST(Dcep, EncodesPartialReliabilityBigEndian) {
  Open open;
  open.channel_type = ChannelType::partial_reliable_timed_unordered;
  open.priority = 0x1234;
  open.reliability_parameter = 0xa1b2c3d4;
  open.label = "x";
  open.protocol = "yz";
  EXPECT_EQ(encode(open), bytes({0x03, 0x82, 0x12, 0x34, 0xa1, 0xb2, 0xc3, 0xd4, 0x00, 0x01, 0x00,
                                 0x02, 'x', 'y', 'z'}));
}

// Section 5.1: for reliable types the parameter is sent as 0 and ignored on receipt.
TEST(Dcep, ReliabilityParameterOfReliableTypesIsZeroedBothWays) {
  Open open;
  open.channel_type = ChannelType::reliable_unordered;
  open.reliability_parameter = 77;
  const auto wire = encode(open);
  EXPECT_EQ(wire[4], std::byte{0});
  EXPECT_EQ(wire[7], std::byte{0});
  auto sent = bytes({0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00});
  EXPECT_EQ(parse_open(sent).reliability_parameter, 0u);
}

TEST(Dcep, WriteAppends) {
  std::vector<std::byte> out = bytes({0xaa});
  write_ack(out);
  write(Open{}, out);
  ASSERT_EQ(out.size(), 2 + kOpenHeaderSize);
  EXPECT_EQ(out[0], std::byte{0xaa});
  EXPECT_EQ(out[1], std::byte{0x02});
  EXPECT_EQ(out[2], std::byte{0x03});
}

TEST(Dcep, Utf8Labels) {
  Open open;
  open.label =
      "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87";  // été € 😀 中文
  open.protocol = "\xc3\xbc";
  const auto wire = encode(open);
  EXPECT_EQ(wire[9], static_cast<std::byte>(open.label.size()));  // length counts bytes
  EXPECT_EQ(parse_open(wire), open);
}

TEST(Dcep, RejectsInvalidUtf8) {
  for (const std::string bad :
       {"\xff", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "a\x80"}) {
    auto wire =
        bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x00, static_cast<int>(bad.size()), 0x00, 0x00});
    for (const char c : bad) wire.push_back(static_cast<std::byte>(c));
    EXPECT_NE(parse_error(wire).find("label is not valid UTF-8"), std::string::npos);
    Open open;
    open.protocol = bad;
    EXPECT_THROW(encode(open), Error);
  }
}

TEST(Dcep, EmptyLabelAndProtocol) {
  const Open open;
  const auto wire = encode(open);
  EXPECT_EQ(wire.size(), kOpenHeaderSize);
  EXPECT_EQ(parse_open(wire), open);
}

TEST(Dcep, MaxLengthLabelAndProtocol) {
  Open open;
  open.label.assign(65535, 'l');
  open.protocol.assign(65535, 'p');
  const auto wire = encode(open);
  EXPECT_EQ(wire.size(), kOpenHeaderSize + 2 * 65535);
  EXPECT_EQ(wire[8], std::byte{0xff});
  EXPECT_EQ(wire[9], std::byte{0xff});
  EXPECT_EQ(parse_open(wire), open);

  open.label.push_back('l');  // 65536 does not fit Label Length
  try {
    (void)encode(open);
    ADD_FAILURE() << "write accepted a 65536-byte label";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
  }
}

TEST(Dcep, EveryTruncationOfAValidOpenThrows) {
  Open open;
  open.channel_type = ChannelType::partial_reliable_rexmit;
  open.reliability_parameter = 3;
  open.label = "chat";
  open.protocol = "json";
  const auto wire = encode(open);
  for (std::size_t n = 0; n < wire.size(); ++n) {
    // A heap copy of exactly n bytes, so ASan sees any read past the end.
    const std::vector<std::byte> cut(wire.begin(), wire.begin() + static_cast<long>(n));
    const std::string message = parse_error(cut);
    EXPECT_FALSE(message.empty()) << n;
  }
  EXPECT_EQ(parse_error(std::span<const std::byte>()), "DCEP: empty message");
}

TEST(Dcep, OversizeLengthsNameWhatWasWrong) {
  // Label length 300 with 12 bytes left.
  auto wire = bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x01, 0x2c, 0x00, 0x00});
  wire.resize(wire.size() + 12, std::byte{'a'});
  EXPECT_EQ(parse_error(wire), "DCEP open: label length 300 exceeds the 12 bytes left");

  // Label fits, protocol length 0xffff does not.
  wire = bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0xff, 0xff, 'a', 'b'});
  EXPECT_EQ(parse_error(wire),
            "DCEP open: protocol length 65535 exceeds the 1 bytes left after the label");

  // Both maximal, nothing after the header.
  wire = bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff});
  EXPECT_NE(parse_error(wire).find("label length 65535"), std::string::npos);
}

TEST(Dcep, TrailingBytesAreRejected) {
  auto wire = bytes({0x03, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x01, 'a', 'b', 'c'});
  EXPECT_EQ(parse_error(wire),
            "DCEP open: 1 bytes after the protocol; label length 1 and protocol length 1 must "
            "account for the whole message");
  EXPECT_NE(parse_error(bytes({0x02, 0x00})).find("expected exactly 1"), std::string::npos);
}

TEST(Dcep, UnknownMessageTypes) {
  for (const int type : {0x00, 0x01, 0x04, 0x7f, 0xfe, 0xff}) {
    const auto message = parse_error(bytes({type}));
    EXPECT_NE(message.find("unknown message type"), std::string::npos) << message;
  }
  EXPECT_EQ(parse_error(bytes({0xff, 0x00, 0x01})),
            "DCEP: unknown message type 0xff (0x03 open, 0x02 ack; RFC 8832 section 8.2.1)");
}

TEST(Dcep, UnknownChannelTypes) {
  for (const int type : {0x03, 0x7f, 0x83, 0x40, 0xff, 0x10}) {
    const auto wire = bytes({0x03, type, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0});
    const auto message = parse_error(wire);
    EXPECT_NE(message.find("unknown channel type"), std::string::npos) << message;
  }
  Open open;
  open.channel_type = static_cast<ChannelType>(0x03);
  EXPECT_THROW(encode(open), Error);
}

TEST(Dcep, AckIsOneByte) {
  std::vector<std::byte> out;
  write_ack(out);
  EXPECT_EQ(out, bytes({0x02}));
  EXPECT_TRUE(std::holds_alternative<Ack>(parse(out)));
}

TEST(Dcep, Ppids) {
  EXPECT_EQ(kPpidDcep, 50u);
  EXPECT_EQ(payload_of(50), Payload::dcep);
  EXPECT_EQ(payload_of(51), Payload::string);
  EXPECT_EQ(payload_of(52), Payload::binary);  // deprecated Binary Partial
  EXPECT_EQ(payload_of(53), Payload::binary);
  EXPECT_EQ(payload_of(54), Payload::string);  // deprecated String Partial
  EXPECT_EQ(payload_of(56), Payload::empty_string);
  EXPECT_EQ(payload_of(57), Payload::empty_binary);
  EXPECT_EQ(payload_of(55), std::nullopt);
  EXPECT_EQ(payload_of(0), std::nullopt);
  EXPECT_EQ(ppid_for(false, 3), 51u);
  EXPECT_EQ(ppid_for(true, 3), 53u);
  EXPECT_EQ(ppid_for(false, 0), 56u);
  EXPECT_EQ(ppid_for(true, 0), 57u);
}

TEST(Dcep, ErrorCodeName) {
  EXPECT_EQ(to_string(Errc::bad_dcep), "bad_dcep");
}

}  // namespace
}  // namespace peer::dcep
