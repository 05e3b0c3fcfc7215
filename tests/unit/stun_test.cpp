// STUN messages (RFC 8489) and TURN ChannelData (RFC 8656 section 12.4). Lives in the
// unit_stun binary.
//
// The four messages of RFC 5769 section 2 are copied from the RFC's hex dumps. Their
// MESSAGE-INTEGRITY and FINGERPRINT values check every other byte: a byte copied wrong would
// fail the HMAC or the CRC.

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/stun/message.hpp"
#include "peer/error.hpp"

namespace peer::stun {
namespace {

std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::string as_string(std::span<const std::byte> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

TransactionId tid(std::initializer_list<int> values) {
  TransactionId id{};
  std::size_t i = 0;
  for (const int v : values) id.at(i++) = static_cast<std::byte>(v);
  return id;
}

// Parses or fails the test with the parser's message.
Message must_parse(std::span<const std::byte> m) {
  ParseError error;
  auto parsed = Message::parse(m, &error);
  EXPECT_TRUE(parsed) << error.message << " at byte " << error.offset;
  return parsed.value_or(Message{});
}

void append(std::vector<std::byte>& m, std::initializer_list<int> values) {
  for (const int v : values) m.push_back(static_cast<std::byte>(v));
}

void set_u16(std::vector<std::byte>& m, std::size_t at, uint16_t v) {
  m[at] = static_cast<std::byte>(v >> 8);
  m[at + 1] = static_cast<std::byte>(v & 0xff);
}

constexpr std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";

// --- RFC 5769 section 2 -----------------------------------------------------------------

// 2.1: Binding request; SOFTWARE "STUN test client", USERNAME "evtj:h6vY" (padded with
// spaces), short-term password VOkJxbRl1RmTxUk/WvJxBt.
const std::vector<std::byte> kSampleRequest = bytes({
    0x00, 0x01, 0x00, 0x58,                          // Binding request, length 88
    0x21, 0x12, 0xa4, 0x42,                          // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,  // transaction ID
    0xfa, 0x87, 0xdf, 0xae,                          //
    0x80, 0x22, 0x00, 0x10,                          // SOFTWARE, 16 bytes
    0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,  // "STUN tes"
    0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,  // "t client"
    0x00, 0x24, 0x00, 0x04,                          // PRIORITY
    0x6e, 0x00, 0x01, 0xff,                          //
    0x80, 0x29, 0x00, 0x08,                          // ICE-CONTROLLED
    0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,  // tie breaker
    0x00, 0x06, 0x00, 0x09,                          // USERNAME, 9 bytes
    0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,  // "evtj:h6v"
    0x59, 0x20, 0x20, 0x20,                          // "Y" and 3 bytes of padding (spaces)
    0x00, 0x08, 0x00, 0x14,                          // MESSAGE-INTEGRITY
    0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,  //
    0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,  //
    0xc1, 0xb5, 0x71, 0xa2,                          //
    0x80, 0x28, 0x00, 0x04,                          // FINGERPRINT
    0xe5, 0x7a, 0x3b, 0xcf,                          //
});

// 2.2: Binding success response; SOFTWARE "test vector" (11 bytes, padded with a space),
// XOR-MAPPED-ADDRESS 192.0.2.1 port 32853.
const std::vector<std::byte> kSampleIpv4Response = bytes({
    0x01, 0x01, 0x00, 0x3c,                          // Binding success, length 60
    0x21, 0x12, 0xa4, 0x42,                          // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,  // transaction ID
    0xfa, 0x87, 0xdf, 0xae,                          //
    0x80, 0x22, 0x00, 0x0b,                          // SOFTWARE, 11 bytes
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,  // "test vec"
    0x74, 0x6f, 0x72, 0x20,                          // "tor" and 1 byte of padding (a space)
    0x00, 0x20, 0x00, 0x08,                          // XOR-MAPPED-ADDRESS
    0x00, 0x01, 0xa1, 0x47,                          // IPv4, port XOR 0x2112
    0xe1, 0x12, 0xa6, 0x43,                          // address XOR the cookie
    0x00, 0x08, 0x00, 0x14,                          // MESSAGE-INTEGRITY
    0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,  //
    0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53,  //
    0xf0, 0x6b, 0xe7, 0xd7,                          //
    0x80, 0x28, 0x00, 0x04,                          // FINGERPRINT
    0xc0, 0x7d, 0x4c, 0x96,                          //
});

// 2.3: as 2.2 with XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const std::vector<std::byte> kSampleIpv6Response = bytes({
    0x01, 0x01, 0x00, 0x48,                          // Binding success, length 72
    0x21, 0x12, 0xa4, 0x42,                          // magic cookie
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,  // transaction ID
    0xfa, 0x87, 0xdf, 0xae,                          //
    0x80, 0x22, 0x00, 0x0b,                          // SOFTWARE, 11 bytes
    0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,  // "test vec"
    0x74, 0x6f, 0x72, 0x20,                          // "tor" and a space of padding
    0x00, 0x20, 0x00, 0x14,                          // XOR-MAPPED-ADDRESS
    0x00, 0x02, 0xa1, 0x47,                          // IPv6, port XOR 0x2112
    0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79,  // address XOR cookie and
    0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,  // transaction ID
    0x00, 0x08, 0x00, 0x14,                          // MESSAGE-INTEGRITY
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1,  //
    0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,  //
    0xbf, 0xe3, 0xed, 0x41,                          //
    0x80, 0x28, 0x00, 0x04,                          // FINGERPRINT
    0xc8, 0xfb, 0x0b, 0x4c,                          //
});

// 2.4: Binding request with long-term credentials: USERNAME U+30DE U+30C8 U+30EA U+30C3
// U+30AF U+30B9, NONCE, REALM "example.org", password "TheMatrIX" after SASLprep (of
// "The<U+00AD>M<U+00AA>tr<U+2168>"). No FINGERPRINT. Padding is zeros here.
const std::vector<std::byte> kSampleLongTermRequest = bytes({
    0x00, 0x01, 0x00, 0x60,                          // Binding request, length 96
    0x21, 0x12, 0xa4, 0x42,                          // magic cookie
    0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0,  // transaction ID
    0x29, 0xda, 0x41, 0x2e,                          //
    0x00, 0x06, 0x00, 0x12,                          // USERNAME, 18 bytes of UTF-8
    0xe3, 0x83, 0x9e, 0xe3, 0x83, 0x88, 0xe3, 0x83,  //
    0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3,  //
    0x82, 0xb9, 0x00, 0x00,                          // and 2 bytes of padding
    0x00, 0x15, 0x00, 0x1c,                          // NONCE, 28 bytes
    0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39,  // "f//499k9"
    0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34,  // "54d6OL34"
    0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79,  // "oL9FSTvy"
    0x36, 0x34, 0x73, 0x41,                          // "64sA"
    0x00, 0x14, 0x00, 0x0b,                          // REALM, 11 bytes
    0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e,  // "example."
    0x6f, 0x72, 0x67, 0x00,                          // "org" and 1 byte of padding
    0x00, 0x08, 0x00, 0x14,                          // MESSAGE-INTEGRITY
    0xf6, 0x70, 0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e,  //
    0x02, 0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2,  //
    0x8c, 0xa8, 0x96, 0x66,                          //
});

constexpr std::string_view kLongTermUsername =
    "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
constexpr std::string_view kLongTermRealm = "example.org";
constexpr std::string_view kLongTermPassword = "TheMatrIX";
constexpr std::string_view kLongTermNonce = "f//499k954d6OL34oL9FSTvy64sA";

const TransactionId kVectorTid =
    tid({0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae});
const TransactionId kLongTermTid =
    tid({0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e});

TEST(StunRfc5769, SampleRequest) {
  const Message m = must_parse(kSampleRequest);
  EXPECT_EQ(m.message_class(), Class::request);
  EXPECT_EQ(m.method(), Method::binding);
  EXPECT_EQ(m.method_bits(), 0x001);
  EXPECT_EQ(m.transaction_id(), kVectorTid);
  EXPECT_EQ(m.bytes().data(), kSampleRequest.data());
  EXPECT_EQ(m.bytes().size(), kSampleRequest.size());
  EXPECT_EQ(m.string(attr::software), "STUN test client");
  EXPECT_EQ(m.u32(attr::priority), 0x6e0001ffu);
  EXPECT_EQ(m.u64(attr::ice_controlled), 0x932ff9b151263b36u);
  EXPECT_FALSE(m.has(attr::ice_controlling));
  EXPECT_EQ(m.string(attr::username), "evtj:h6vY");
  EXPECT_TRUE(m.has_integrity());
  EXPECT_TRUE(m.has_fingerprint());
  ASSERT_TRUE(m.find(attr::message_integrity));
  EXPECT_EQ(m.find(attr::message_integrity)->size(), 20u);
  EXPECT_EQ(m.find(attr::message_integrity)->data(), kSampleRequest.data() + 80);
  ASSERT_TRUE(m.find(attr::fingerprint));
  EXPECT_EQ(m.find(attr::fingerprint)->data(), kSampleRequest.data() + 104);
  EXPECT_TRUE(m.check_integrity(short_term_key(kShortTermPassword)));
  EXPECT_FALSE(m.check_integrity(short_term_key("VOkJxbRl1RmTxUk/WvJxBu")));
  EXPECT_FALSE(m.check_integrity({}));
  const std::array<uint16_t, 3> known{attr::priority, attr::username, attr::message_integrity};
  EXPECT_TRUE(m.unknown_required(known).empty());
}

TEST(StunRfc5769, SampleIpv4Response) {
  const Message m = must_parse(kSampleIpv4Response);
  EXPECT_EQ(m.message_class(), Class::success);
  EXPECT_EQ(m.method(), Method::binding);
  EXPECT_EQ(m.transaction_id(), kVectorTid);
  EXPECT_EQ(m.string(attr::software), "test vector");
  EXPECT_EQ(m.xor_address(attr::xor_mapped_address), Address::v4({192, 0, 2, 1}, 32853));
  // Read without the XOR, the same bytes are another (meaningless) address.
  EXPECT_EQ(m.address(attr::xor_mapped_address), Address::v4({0xe1, 0x12, 0xa6, 0x43}, 0xa147));
  EXPECT_FALSE(m.has(attr::mapped_address));
  EXPECT_TRUE(m.has_integrity());
  EXPECT_TRUE(m.has_fingerprint());
  EXPECT_TRUE(m.check_integrity(short_term_key(kShortTermPassword)));
  EXPECT_FALSE(m.check_integrity(short_term_key("vOkJxbRl1RmTxUk/WvJxBt")));
}

TEST(StunRfc5769, SampleIpv6Response) {
  const Message m = must_parse(kSampleIpv6Response);
  EXPECT_EQ(m.message_class(), Class::success);
  EXPECT_EQ(m.method(), Method::binding);
  EXPECT_EQ(m.transaction_id(), kVectorTid);
  EXPECT_EQ(m.string(attr::software), "test vector");
  const auto expected = Address::parse("2001:db8:1234:5678:11:2233:4455:6677", 32853);
  ASSERT_TRUE(expected);
  EXPECT_EQ(m.xor_address(attr::xor_mapped_address), expected);
  EXPECT_TRUE(m.has_fingerprint());
  EXPECT_TRUE(m.check_integrity(short_term_key(kShortTermPassword)));
}

TEST(StunRfc5769, SampleRequestWithLongTermAuthentication) {
  const Message m = must_parse(kSampleLongTermRequest);
  EXPECT_EQ(m.message_class(), Class::request);
  EXPECT_EQ(m.method(), Method::binding);
  EXPECT_EQ(m.transaction_id(), kLongTermTid);
  EXPECT_EQ(m.string(attr::username), kLongTermUsername);
  EXPECT_EQ(m.string(attr::username), "マトリックス");
  EXPECT_EQ(m.string(attr::nonce), kLongTermNonce);
  EXPECT_EQ(m.string(attr::realm), kLongTermRealm);
  EXPECT_TRUE(m.has_integrity());
  EXPECT_FALSE(m.has_fingerprint());
  EXPECT_FALSE(m.find(attr::fingerprint));
  const auto key = long_term_key(kLongTermUsername, kLongTermRealm, kLongTermPassword);
  EXPECT_TRUE(m.check_integrity(key));
  // The password before SASLprep is not the key.
  const auto raw =
      long_term_key(kLongTermUsername, kLongTermRealm, "The\xc2\xadM\xc2\xaatr\xe2\x85\xa8");
  EXPECT_FALSE(m.check_integrity(raw));
  EXPECT_FALSE(m.check_integrity(short_term_key(kLongTermPassword)));
}

// MD5("マトリックス:example.org:TheMatrIX"), computed apart from this code (md5sum).
TEST(StunRfc5769, LongTermKey) {
  const auto key = long_term_key(kLongTermUsername, kLongTermRealm, kLongTermPassword);
  const auto expected = bytes({0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51, 0x8e, 0x31, 0x29,
                               0x11, 0xd2, 0xda, 0xb2, 0xa9});
  EXPECT_TRUE(std::equal(key.begin(), key.end(), expected.begin(), expected.end()));
}

const std::vector<std::byte>* const kVectors[] = {&kSampleRequest, &kSampleIpv4Response,
                                                  &kSampleIpv6Response, &kSampleLongTermRequest};

// No flipped bit leaves a message with a FINGERPRINT: the CRC no longer matches, or the
// header or a length is refused first. A flip can hide the fingerprint, though: in its type
// (the attribute becomes an unknown one after MESSAGE-INTEGRITY, ignored by section 14.5),
// or in a length that then runs exactly to the end, swallowing what followed. Such a
// message parses, without a fingerprint; the integrity check is then what catches changes.
TEST(StunRfc5769, AnyFlippedBitFailsTheFingerprint) {
  for (const auto* vector : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    const std::size_t fingerprint_type = vector->size() - 8;
    const std::size_t fingerprint_value = vector->size() - 4;
    int hidden = 0;
    for (std::size_t i = 0; i < vector->size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<std::byte> m = *vector;
        m[i] ^= static_cast<std::byte>(1 << bit);
        ParseError error;
        const auto parsed = Message::parse(m, &error);
        if (parsed) {
          ++hidden;
          EXPECT_FALSE(parsed->has_fingerprint()) << "byte " << i << " bit " << bit;
          if (i >= fingerprint_type && i < fingerprint_type + 2) {
            EXPECT_TRUE(parsed->check_integrity(short_term_key(kShortTermPassword)));
          } else {
            EXPECT_FALSE(parsed->has_integrity()) << "byte " << i << " bit " << bit;
          }
          continue;
        }
        EXPECT_STRNE(error.message, "");
        if (i >= fingerprint_value) {
          EXPECT_NE(std::string(error.message).find("FINGERPRINT"), std::string::npos);
          EXPECT_EQ(error.offset, fingerprint_value);
        }
      }
    }
    EXPECT_LE(hidden, 16 + 2);  // the 16 bits of the type, and a length or two
  }
}

// Without a FINGERPRINT (2.4), any flipped bit that still parses fails the integrity check.
TEST(StunRfc5769, AnyFlippedBitFailsIntegrity) {
  const auto key = long_term_key(kLongTermUsername, kLongTermRealm, kLongTermPassword);
  int parsed = 0;
  for (std::size_t i = 0; i < kSampleLongTermRequest.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<std::byte> m = kSampleLongTermRequest;
      m[i] ^= static_cast<std::byte>(1 << bit);
      const auto parsed_message = Message::parse(m);
      if (!parsed_message) continue;
      ++parsed;
      EXPECT_FALSE(parsed_message->check_integrity(key)) << "byte " << i << " bit " << bit;
    }
  }
  EXPECT_GT(parsed, 700);  // most flips leave a well-formed message
}

// The HMAC covers the message through MESSAGE-INTEGRITY with the length patched to end
// there, so removing the FINGERPRINT (and fixing the length) keeps the integrity valid.
TEST(StunRfc5769, IntegrityDoesNotCoverTheFingerprint) {
  for (const auto* vector : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    std::vector<std::byte> m(vector->begin(), vector->end() - 8);
    set_u16(m, 2, static_cast<uint16_t>(m.size() - 20));
    const Message parsed = must_parse(m);
    EXPECT_FALSE(parsed.has_fingerprint());
    EXPECT_TRUE(parsed.check_integrity(short_term_key(kShortTermPassword)));
    m[m.size() - 1] ^= std::byte{0x80};  // the last byte of the HMAC
    EXPECT_FALSE(must_parse(m).check_integrity(short_term_key(kShortTermPassword)));
  }
}

TEST(StunRfc5769, WrongFingerprintFailsParse) {
  std::vector<std::byte> m = kSampleIpv4Response;
  m.back() ^= std::byte{1};
  ParseError error;
  EXPECT_FALSE(Message::parse(m, &error));
  EXPECT_NE(std::string(error.message).find("FINGERPRINT"), std::string::npos);
  EXPECT_EQ(error.offset, m.size() - 4);
  EXPECT_TRUE(looks_like_stun(m));  // the demultiplexer's cheap test cannot tell
}

// Every proper prefix of a valid message is refused with a reason, and nothing is read past
// the end (each prefix is its own heap buffer of exactly that size, for ASan).
TEST(StunRfc5769, EveryTruncationFails) {
  for (const auto* vector : kVectors) {
    for (std::size_t n = 0; n < vector->size(); ++n) {
      const std::vector<std::byte> prefix(vector->begin(),
                                          vector->begin() + static_cast<std::ptrdiff_t>(n));
      ParseError error;
      EXPECT_FALSE(Message::parse(prefix, &error)) << "prefix " << n;
      ASSERT_NE(error.message, nullptr);
      EXPECT_STRNE(error.message, "") << "prefix " << n;
      EXPECT_LE(error.offset, n);
    }
  }
}

// The 2.4 request has zero padding everywhere, so the Writer must give it byte for byte.
TEST(StunRfc5769, WriterReproducesLongTermRequest) {
  Writer w(Class::request, Method::binding, kLongTermTid);
  w.add_string(attr::username, kLongTermUsername);
  w.add_string(attr::nonce, kLongTermNonce);
  w.add_string(attr::realm, kLongTermRealm);
  w.add_message_integrity(long_term_key(kLongTermUsername, kLongTermRealm, kLongTermPassword));
  const auto out = w.bytes();
  EXPECT_TRUE(std::equal(out.begin(), out.end(), kSampleLongTermRequest.begin(),
                         kSampleLongTermRequest.end()));
}

// The 2.2 response pads SOFTWARE with a space (0x20), which RFC 5389 allowed; RFC 8489
// section 14 has senders pad with zeros, as the Writer does. So the Writer's message is the
// vector's except that padding byte and the HMAC and CRC, which cover it; both of those
// must then check.
TEST(StunRfc5769, WriterReproducesIpv4ResponseButForThePadding) {
  Writer w(Class::success, Method::binding, kVectorTid);
  w.add_string(attr::software, "test vector");
  w.add_xor_address(attr::xor_mapped_address, Address::v4({192, 0, 2, 1}, 32853));
  w.add_message_integrity(short_term_key(kShortTermPassword));
  w.add_fingerprint();
  const auto out = w.bytes();
  ASSERT_EQ(out.size(), kSampleIpv4Response.size());
  constexpr std::size_t kPadding = 35, kHmac = 52, kCrc = 76;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool derived = i == kPadding || (i >= kHmac && i < kHmac + 20) || i >= kCrc;
    if (!derived) {
      EXPECT_EQ(out[i], kSampleIpv4Response[i]) << "byte " << i;
    }
  }
  EXPECT_EQ(out[kPadding], std::byte{0});
  EXPECT_EQ(kSampleIpv4Response[kPadding], std::byte{0x20});
  const Message m = must_parse(out);
  EXPECT_TRUE(m.check_integrity(short_term_key(kShortTermPassword)));
  EXPECT_EQ(m.string(attr::software), "test vector");
  EXPECT_EQ(m.xor_address(attr::xor_mapped_address), Address::v4({192, 0, 2, 1}, 32853));
}

TEST(StunRfc5769, WriterReproducesIpv6ResponseButForThePadding) {
  Writer w(Class::success, Method::binding, kVectorTid);
  w.add_string(attr::software, "test vector");
  w.add_xor_address(attr::xor_mapped_address,
                    *Address::parse("2001:db8:1234:5678:11:2233:4455:6677", 32853));
  w.add_message_integrity(short_term_key(kShortTermPassword));
  w.add_fingerprint();
  const auto out = w.bytes();
  ASSERT_EQ(out.size(), kSampleIpv6Response.size());
  for (std::size_t i = 0; i < 64; ++i) {  // up to the HMAC value
    if (i != 35) {
      EXPECT_EQ(out[i], kSampleIpv6Response[i]) << "byte " << i;
    }
  }
  EXPECT_TRUE(must_parse(out).check_integrity(short_term_key(kShortTermPassword)));
}

// --- parse() refusals --------------------------------------------------------------------

std::vector<std::byte> header(uint16_t type, uint16_t length) {
  std::vector<std::byte> m =
      bytes({0, 0, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  set_u16(m, 0, type);
  set_u16(m, 2, length);
  return m;
}

void expect_refused(const std::vector<std::byte>& m, std::size_t offset, std::string_view word) {
  ParseError error;
  EXPECT_FALSE(Message::parse(m, &error));
  EXPECT_EQ(error.offset, offset) << error.message;
  EXPECT_NE(std::string(error.message).find(word), std::string::npos) << error.message;
}

TEST(StunParse, HeaderOnly) {
  const auto m = header(0x0001, 0);
  const Message parsed = must_parse(m);
  EXPECT_EQ(parsed.message_class(), Class::request);
  EXPECT_FALSE(parsed.has_integrity());
  EXPECT_FALSE(parsed.has_fingerprint());
  EXPECT_FALSE(parsed.has(attr::username));
  EXPECT_FALSE(parsed.check_integrity(short_term_key("x")));
  EXPECT_TRUE(looks_like_stun(m));
}

TEST(StunParse, RefusesShortHeader) {
  expect_refused(bytes({0, 1, 0, 0}), 4, "20-byte");
  EXPECT_FALSE(looks_like_stun(bytes({0, 1, 0, 0})));
}

TEST(StunParse, RefusesTopBits) {
  for (const uint16_t type : {0x4001, 0x8001, 0xc001}) {
    const auto m = header(type, 0);
    expect_refused(m, 0, "two most significant bits");
    EXPECT_FALSE(looks_like_stun(m));
  }
}

TEST(StunParse, RefusesBadCookie) {
  auto m = header(0x0001, 0);
  m[7] = std::byte{0x43};
  expect_refused(m, 4, "magic cookie");
  EXPECT_FALSE(looks_like_stun(m));
}

TEST(StunParse, RefusesLengthNotMultipleOf4) {
  auto m = header(0x0001, 6);
  m.resize(26);
  expect_refused(m, 2, "multiple of 4");
}

TEST(StunParse, RefusesLengthDifferentFromBytes) {
  auto m = header(0x0001, 8);
  m.resize(24);
  expect_refused(m, 2, "length");
  m.resize(32);  // too many bytes is as bad as too few: a datagram is one message
  expect_refused(m, 2, "length");
}

TEST(StunParse, RefusesAttributeOverrun) {
  auto m = header(0x0001, 8);
  append(m, {0x00, 0x06, 0x00, 0x05, 'a', 'b', 'c', 'd'});
  expect_refused(m, 22, "runs past");  // 5 bytes pad to 8, only 4 are there
  set_u16(m, 22, 4);
  EXPECT_EQ(must_parse(m).string(attr::username), "abcd");
  set_u16(m, 22, 0xffff);
  expect_refused(m, 22, "runs past");
}

TEST(StunParse, RefusesMessageIntegrityOfWrongSize) {
  auto m = header(0x0001, 20);
  append(m, {0x00, 0x08, 0x00, 0x10});
  m.resize(40);
  expect_refused(m, 22, "MESSAGE-INTEGRITY");
}

TEST(StunParse, RefusesFingerprintOfWrongSize) {
  auto m = header(0x0001, 12);
  append(m, {0x80, 0x28, 0x00, 0x08});
  m.resize(32);
  expect_refused(m, 22, "FINGERPRINT");
}

TEST(StunParse, RefusesFingerprintNotLast) {
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_string(attr::username, "user");
  w.add_fingerprint();
  std::vector<std::byte> m(w.bytes().begin(), w.bytes().end());
  const std::size_t after = m.size();
  append(m, {0x80, 0x22, 0x00, 0x00});  // empty SOFTWARE
  set_u16(m, 2, static_cast<uint16_t>(m.size() - 20));
  expect_refused(m, after, "last");
}

TEST(StunParse, AttributesAfterIntegrityAreIgnored) {
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_u32(attr::priority, 7);
  w.add_message_integrity(short_term_key("pw"));
  std::vector<std::byte> m(w.bytes().begin(), w.bytes().end());
  // USERNAME and a second MESSAGE-INTEGRITY after the first, as a middlebox might append.
  append(m, {0x00, 0x06, 0x00, 0x03, 'b', 'a', 'd', 0x00});
  append(m, {0x00, 0x08, 0x00, 0x04, 1, 2, 3, 4});
  set_u16(m, 2, static_cast<uint16_t>(m.size() - 20));
  const Message parsed = must_parse(m);
  EXPECT_EQ(parsed.u32(attr::priority), 7u);
  EXPECT_FALSE(parsed.has(attr::username));
  EXPECT_EQ(parsed.find(attr::message_integrity)->size(), 20u);  // the first one
  EXPECT_TRUE(parsed.check_integrity(short_term_key("pw")));
  const std::array<uint16_t, 1> known{attr::priority};
  EXPECT_EQ(parsed.unknown_required(known), std::vector<uint16_t>{attr::message_integrity});

  // With a FINGERPRINT after them, the fingerprint is still checked (this one is wrong).
  append(m, {0x80, 0x28, 0x00, 0x04, 0, 0, 0, 0});
  set_u16(m, 2, static_cast<uint16_t>(m.size() - 20));
  expect_refused(m, m.size() - 4, "FINGERPRINT");
}

// Attributes after MESSAGE-INTEGRITY must still fit: ignored does not mean unchecked.
TEST(StunParse, RefusesOverrunAfterIntegrity) {
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_message_integrity(short_term_key("pw"));
  std::vector<std::byte> m(w.bytes().begin(), w.bytes().end());
  append(m, {0x00, 0x06, 0x00, 0x09, 'a', 'b', 'c', 'd'});
  set_u16(m, 2, static_cast<uint16_t>(m.size() - 20));
  expect_refused(m, 46, "runs past");
}

TEST(StunParse, FindReturnsTheFirstOfAType) {
  Writer w(Class::indication, Method::data, kVectorTid);
  w.add_string(attr::software, "one");
  w.add_string(attr::software, "two");
  const Message m = must_parse(w.bytes());
  EXPECT_EQ(m.message_class(), Class::indication);
  EXPECT_EQ(m.method(), Method::data);
  EXPECT_EQ(m.string(attr::software), "one");
}

TEST(StunParse, UnknownRequired) {
  Writer w(Class::request, Method::allocate, kVectorTid);
  w.add_string(attr::username, "u");
  w.add_flag(0x7fff);
  w.add_flag(0x8123);  // comprehension-optional: never reported
  w.add_flag(0x0030);
  w.add_flag(0x7fff);  // reported once
  w.add_requested_transport(17);
  w.add_message_integrity(short_term_key("k"));
  w.add_fingerprint();
  const Message m = must_parse(w.bytes());
  const std::array<uint16_t, 3> known{attr::username, attr::requested_transport,
                                      attr::message_integrity};
  EXPECT_EQ(m.unknown_required(known), (std::vector<uint16_t>{0x7fff, 0x0030}));
  EXPECT_EQ(m.unknown_required({}),
            (std::vector<uint16_t>{attr::username, 0x7fff, 0x0030, attr::requested_transport,
                                   attr::message_integrity}));
}

TEST(StunParse, MalformedTypedValues) {
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add(attr::priority, bytes({1, 2, 3}));                            // u32 of 3 bytes
  w.add(attr::ice_controlling, bytes({1, 2, 3, 4}));                  // u64 of 4 bytes
  w.add(attr::mapped_address, bytes({0, 3, 0, 1, 1, 2, 3, 4}));       // family 3
  w.add(attr::alternate_server, bytes({0, 1, 0, 1, 1, 2, 3, 4, 5}));  // IPv4 of 5 bytes
  w.add(attr::xor_peer_address, bytes({0, 2, 0, 1, 1, 2, 3, 4}));     // IPv6 of 4 bytes
  w.add(attr::xor_relayed_address, bytes({0, 1, 0}));                 // shorter than the head
  w.add(attr::error_code, bytes({0, 0, 7, 0}));                       // class 7
  w.add(attr::channel_number, bytes({0x40, 0x00}));                   // 2 bytes, not 4
  const Message m = must_parse(w.bytes());
  EXPECT_FALSE(m.u32(attr::priority));
  EXPECT_FALSE(m.u64(attr::ice_controlling));
  EXPECT_FALSE(m.address(attr::mapped_address));
  EXPECT_FALSE(m.address(attr::alternate_server));
  EXPECT_FALSE(m.xor_address(attr::xor_peer_address));
  EXPECT_FALSE(m.xor_address(attr::xor_relayed_address));
  EXPECT_FALSE(m.address(attr::xor_relayed_address));
  EXPECT_FALSE(m.error_code());
  EXPECT_FALSE(m.channel_number());
  EXPECT_FALSE(m.u32(attr::lifetime));    // absent
  EXPECT_TRUE(m.string(attr::priority));  // any value is a string

  Writer e(Class::error, Method::binding, kVectorTid);
  e.add(attr::error_code, bytes({0, 0, 4, 100}));  // number 100
  EXPECT_FALSE(must_parse(e.bytes()).error_code());
  e.reset(Class::error, Method::binding, kVectorTid);
  e.add(attr::error_code, bytes({0, 0, 4}));  // 3 bytes
  EXPECT_FALSE(must_parse(e.bytes()).error_code());
}

// --- Writer round trips ------------------------------------------------------------------

TEST(StunWriter, TypeEncodesClassAndMethod) {
  const std::pair<Class, uint16_t> cases[] = {{Class::request, 0x0001},
                                              {Class::indication, 0x0011},
                                              {Class::success, 0x0101},
                                              {Class::error, 0x0111}};
  for (const auto& [cls, type] : cases) {
    Writer w(cls, Method::binding, kVectorTid);
    EXPECT_EQ(std::to_integer<int>(w.bytes()[0]) << 8 | std::to_integer<int>(w.bytes()[1]), type);
    const Message m = must_parse(w.bytes());
    EXPECT_EQ(m.message_class(), cls);
    EXPECT_EQ(m.method(), Method::binding);
  }
  for (uint16_t method = 0; method <= 0xfff; ++method) {
    for (const Class cls : {Class::request, Class::indication, Class::success, Class::error}) {
      Writer w(cls, static_cast<Method>(method), kVectorTid);
      const Message m = must_parse(w.bytes());
      ASSERT_EQ(m.method_bits(), method);
      ASSERT_EQ(m.message_class(), cls);
    }
  }
  Writer w(Class::error, Method::allocate, kVectorTid);
  EXPECT_EQ(w.bytes()[0], std::byte{0x01});
  EXPECT_EQ(w.bytes()[1], std::byte{0x13});
  EXPECT_THROW((void)Writer(Class::request, static_cast<Method>(0x1000), kVectorTid), Error);
}

TEST(StunWriter, RoundTripsEveryAttributeKind) {
  const TransactionId id = tid({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  const Address v4 = Address::v4({203, 0, 113, 7}, 54321);
  const Address v6 = *Address::parse("2001:db8::ff00:42:8329", 1);
  const std::array<uint16_t, 3> unknown_odd{0x0031, 0x7fff, 0x0002};
  const std::array<uint16_t, 2> unknown_even{0x0033, 0x0034};

  Writer w(Class::error, Method::channel_bind, id);
  w.add(0x7001, bytes({1, 2, 3, 4, 5}));
  w.add_string(attr::username, "alice:bob");
  w.add_string(attr::realm, "");
  w.add_u32(attr::priority, 0xdeadbeef);
  w.add_u64(attr::ice_controlling, 0x0123456789abcdefULL);
  w.add_flag(attr::use_candidate);
  w.add_address(attr::mapped_address, v4);
  w.add_address(attr::alternate_server, v6);
  w.add_xor_address(attr::xor_mapped_address, v4);
  w.add_xor_address(attr::xor_peer_address, v6);
  w.add_error_code(error::role_conflict, "Role Conflict");
  w.add_unknown_attributes(unknown_odd);
  w.add_channel_number(0x4abc);
  w.add_requested_transport(17);
  w.add_message_integrity(short_term_key("secret"));
  w.add_fingerprint();
  ASSERT_EQ(w.bytes().size() % 4, 0u);

  const Message m = must_parse(w.bytes());
  EXPECT_EQ(m.message_class(), Class::error);
  EXPECT_EQ(m.method(), Method::channel_bind);
  EXPECT_EQ(m.transaction_id(), id);
  ASSERT_TRUE(m.find(0x7001));
  EXPECT_EQ(std::vector<std::byte>(m.find(0x7001)->begin(), m.find(0x7001)->end()),
            bytes({1, 2, 3, 4, 5}));
  EXPECT_EQ(m.string(attr::username), "alice:bob");
  EXPECT_EQ(m.string(attr::realm), "");
  EXPECT_EQ(m.u32(attr::priority), 0xdeadbeefu);
  EXPECT_EQ(m.u64(attr::ice_controlling), 0x0123456789abcdefULL);
  ASSERT_TRUE(m.find(attr::use_candidate));
  EXPECT_TRUE(m.find(attr::use_candidate)->empty());
  EXPECT_EQ(m.address(attr::mapped_address), v4);
  EXPECT_EQ(m.address(attr::alternate_server), v6);
  EXPECT_EQ(m.xor_address(attr::xor_mapped_address), v4);
  EXPECT_EQ(m.xor_address(attr::xor_peer_address), v6);
  EXPECT_NE(m.address(attr::xor_peer_address), v6);  // really XORed on the wire
  const auto code = m.error_code();
  ASSERT_TRUE(code);
  EXPECT_EQ(code->code, 487);
  EXPECT_EQ(code->reason, "Role Conflict");
  const auto unknown = m.find(attr::unknown_attributes);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(as_string(*unknown), as_string(bytes({0x00, 0x31, 0x7f, 0xff, 0x00, 0x02})));
  EXPECT_EQ(m.channel_number(), 0x4abc);
  ASSERT_TRUE(m.find(attr::requested_transport));
  EXPECT_EQ(as_string(*m.find(attr::requested_transport)), as_string(bytes({17, 0, 0, 0})));
  EXPECT_TRUE(m.check_integrity(short_term_key("secret")));
  EXPECT_FALSE(m.check_integrity(short_term_key("Secret")));
  EXPECT_TRUE(m.has_fingerprint());

  // Padding: zeros, to 4 (UNKNOWN-ATTRIBUTES with an odd count, a 5-byte value).
  const auto after = [&](std::span<const std::byte> value, std::size_t k) {
    return value.data()[value.size() + k];
  };
  EXPECT_EQ(after(*unknown, 0), std::byte{0});
  EXPECT_EQ(after(*unknown, 1), std::byte{0});
  EXPECT_EQ(after(*m.find(0x7001), 0), std::byte{0});
  EXPECT_EQ(after(*m.find(0x7001), 2), std::byte{0});

  Writer even(Class::error, Method::binding, id);
  even.add_unknown_attributes(unknown_even);
  EXPECT_EQ(as_string(*must_parse(even.bytes()).find(attr::unknown_attributes)),
            as_string(bytes({0x00, 0x33, 0x00, 0x34})));
}

TEST(StunWriter, ErrorCodeClassesAndNumbers) {
  for (const int code : {300, 400, 401, 420, 438, 487, 500, 508, 699}) {
    Writer w(Class::error, Method::binding, kVectorTid);
    w.add_error_code(code, "");
    const auto e = must_parse(w.bytes()).error_code();
    ASSERT_TRUE(e) << code;
    EXPECT_EQ(e->code, code);
    EXPECT_TRUE(e->reason.empty());
  }
  Writer w(Class::error, Method::binding, kVectorTid);
  EXPECT_THROW(w.add_error_code(299, "x"), Error);
  EXPECT_THROW(w.add_error_code(700, "x"), Error);
  EXPECT_EQ(w.bytes().size(), 20u);
}

TEST(StunWriter, IntegrityWithAnEmptyKey) {
  // OpenSSL's EVP_MAC_init reads a null key as "keep the last one"; an empty key must still
  // be the empty key, whatever key was used before on this thread.
  Writer keyed(Class::request, Method::binding, kVectorTid);
  keyed.add_message_integrity(short_term_key("previous"));
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_message_integrity({});
  const Message m = must_parse(w.bytes());
  EXPECT_TRUE(must_parse(keyed.bytes()).check_integrity(short_term_key("previous")));
  EXPECT_TRUE(m.check_integrity({}));
  EXPECT_TRUE(m.check_integrity(short_term_key("")));
  EXPECT_FALSE(m.check_integrity(short_term_key("previous")));

  // And it is HMAC-SHA1 with an empty key, as OpenSSL's one-shot HMAC() computes it.
  std::vector<std::byte> input(w.bytes().begin(), w.bytes().begin() + 20);
  unsigned char expected[20];
  unsigned int length = 0;
  static const unsigned char kNoKey = 0;
  HMAC(EVP_sha1(), &kNoKey, 0, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
       expected, &length);
  ASSERT_EQ(length, 20u);
  EXPECT_EQ(as_string(*m.find(attr::message_integrity)),
            std::string(reinterpret_cast<const char*>(expected), 20));
}

TEST(StunWriter, LongKeyIsHashedFirst) {
  // A key longer than SHA-1's 64-byte block is hashed by HMAC (RFC 2104 section 2); the
  // writer and the checker must agree on it.
  const std::string key(100, 'k');
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_string(attr::username, "u");
  w.add_message_integrity(short_term_key(key));
  EXPECT_TRUE(must_parse(w.bytes()).check_integrity(short_term_key(key)));
  EXPECT_FALSE(must_parse(w.bytes()).check_integrity(short_term_key(key.substr(1))));
}

TEST(StunWriter, ResetClearsAndKeepsCapacity) {
  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_string(attr::software, std::string(200, 's'));
  w.add_fingerprint();
  const auto* data = w.bytes().data();
  w.reset(Class::success, Method::refresh, kLongTermTid);
  EXPECT_EQ(w.bytes().size(), 20u);
  EXPECT_EQ(w.bytes().data(), data);  // no new buffer
  const Message m = must_parse(w.bytes());
  EXPECT_EQ(m.message_class(), Class::success);
  EXPECT_EQ(m.method(), Method::refresh);
  EXPECT_EQ(m.transaction_id(), kLongTermTid);
  EXPECT_FALSE(m.has(attr::software));
  w.add_string(attr::software, std::string(200, 't'));  // fits: still the same buffer
  EXPECT_EQ(w.bytes().data(), data);
  w.add_fingerprint();  // allowed again after reset
  EXPECT_TRUE(must_parse(w.bytes()).has_fingerprint());
}

TEST(StunWriter, RefusesMisuseAndLeavesTheMessageAlone) {
  Writer none;
  EXPECT_TRUE(none.bytes().empty());
  EXPECT_THROW(none.add_flag(attr::use_candidate), Error);

  Writer w(Class::request, Method::binding, kVectorTid);
  w.add_message_integrity(short_term_key("k"));
  const std::vector<std::byte> sealed(w.bytes().begin(), w.bytes().end());
  EXPECT_THROW(w.add_string(attr::username, "late"), Error);
  EXPECT_THROW(w.add_message_integrity(short_term_key("k")), Error);
  EXPECT_EQ(std::vector<std::byte>(w.bytes().begin(), w.bytes().end()), sealed);
  w.add_fingerprint();
  const std::vector<std::byte> done(w.bytes().begin(), w.bytes().end());
  EXPECT_THROW(w.add_fingerprint(), Error);
  EXPECT_THROW(w.add_u32(attr::priority, 1), Error);
  EXPECT_EQ(std::vector<std::byte>(w.bytes().begin(), w.bytes().end()), done);
  EXPECT_TRUE(must_parse(w.bytes()).check_integrity(short_term_key("k")));

  Writer v(Class::request, Method::binding, kVectorTid);
  EXPECT_THROW(v.add_address(attr::mapped_address, Address{}), Error);
  EXPECT_THROW(v.add_xor_address(attr::xor_mapped_address, Address{}), Error);
  EXPECT_THROW(v.add_channel_number(0x3fff), Error);
  EXPECT_THROW(v.add_channel_number(0x5000), Error);
  const std::vector<std::byte> big(0x10000);
  EXPECT_THROW(v.add(attr::data, big), Error);
  EXPECT_EQ(v.bytes().size(), 20u);
  // The largest message the 16-bit length allows, and not a byte more.
  v.add(attr::data, std::span<const std::byte>(big).first(0xfffc - 4));
  EXPECT_EQ(v.bytes().size(), 20u + 0xfffc);
  EXPECT_THROW(v.add_flag(attr::use_candidate), Error);
  EXPECT_TRUE(must_parse(v.bytes()).has(attr::data));
}

// --- ChannelData (RFC 8656 section 12.4) --------------------------------------------------

TEST(StunChannelData, ParsesAndWrites) {
  const auto payload = bytes({1, 2, 3, 4, 5});
  std::vector<std::byte> out = bytes({0xee});  // write_channel_data appends
  write_channel_data(0x4001, payload, false, out);
  EXPECT_EQ(out, bytes({0xee, 0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5}));
  const auto parsed = parse_channel_data(std::span<const std::byte>(out).subspan(1));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->channel, 0x4001);
  EXPECT_EQ(as_string(parsed->data), as_string(payload));

  std::vector<std::byte> padded;
  write_channel_data(0x4fff, payload, true, padded);
  EXPECT_EQ(padded, bytes({0x4f, 0xff, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0}));
  const auto p = parse_channel_data(padded);  // trailing padding allowed
  ASSERT_TRUE(p);
  EXPECT_EQ(p->channel, 0x4fff);
  EXPECT_EQ(as_string(p->data), as_string(payload));

  std::vector<std::byte> empty;
  write_channel_data(0x4000, {}, true, empty);
  EXPECT_EQ(empty, bytes({0x40, 0x00, 0x00, 0x00}));
  ASSERT_TRUE(parse_channel_data(empty));
  EXPECT_TRUE(parse_channel_data(empty)->data.empty());
}

TEST(StunChannelData, Refusals) {
  EXPECT_FALSE(parse_channel_data({}));
  EXPECT_FALSE(parse_channel_data(bytes({0x40, 0x00, 0x00})));
  EXPECT_FALSE(parse_channel_data(bytes({0x3f, 0xff, 0x00, 0x00})));     // below the range
  EXPECT_FALSE(parse_channel_data(bytes({0x50, 0x00, 0x00, 0x00})));     // above it
  EXPECT_FALSE(parse_channel_data(bytes({0x00, 0x01, 0x00, 0x00})));     // a STUN request
  EXPECT_FALSE(parse_channel_data(bytes({0x40, 0x00, 0x00, 0x02, 1})));  // data cut short
  EXPECT_TRUE(parse_channel_data(bytes({0x40, 0x00, 0x00, 0x01, 1})));
  std::vector<std::byte> out;
  EXPECT_THROW(write_channel_data(0x3fff, {}, false, out), Error);
  EXPECT_THROW(write_channel_data(0x5000, {}, false, out), Error);
  EXPECT_THROW(write_channel_data(0x4000, std::vector<std::byte>(0x10000), false, out), Error);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace peer::stun
