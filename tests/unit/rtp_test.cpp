// RTP packets (RFC 3550 section 5.1), RFC 8285 header extensions and the RTP/RTCP demux
// (RFC 5761 section 4). Lives in the unit_rtp binary.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/demux.hpp"
#include "core/rtp/rtp.hpp"
#include "rtp_test_util.hpp"

namespace peer::rtp {
namespace {

using test::bytes;

// Hand-written from RFC 3550 section 5.1: V=2, M=1, PT=96, no CSRC, no extension.
TEST(Rtp, ParsesMinimalPacket) {
  const auto p =
      bytes({0x80, 0xe0, 0x12, 0x34, 0x00, 0x00, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 'h', 'i'});
  const auto v = parse_rtp(p);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_FALSE(v->padding());
  EXPECT_TRUE(v->marker());
  EXPECT_EQ(v->payload_type(), 96);
  EXPECT_EQ(v->sequence(), 0x1234);
  EXPECT_EQ(v->timestamp(), 0x5678u);
  EXPECT_EQ(v->ssrc(), 0x9abcdef0u);
  EXPECT_EQ(v->csrc_count(), 0u);
  EXPECT_FALSE(v->has_extension());
  EXPECT_EQ(v->extension_form(), ExtensionForm::none);
  EXPECT_EQ(v->header_size(), 12u);
  ASSERT_EQ(v->payload().size(), 2u);
  EXPECT_EQ(v->payload()[0], std::byte{'h'});
  EXPECT_EQ(v->extensions().begin(), std::default_sentinel);
}

// CSRCs, a one-byte extension block (RFC 8285 section 4.2) with mid, abs-send-time and the
// transport-wide sequence number, and 4 bytes of padding.
const std::vector<std::byte> kFull = bytes({
    0xb2, 0x6f, 0x00, 0x01,  // V=2 P X CC=2, PT=111, seq 1
    0x00, 0x00, 0x00, 0x02,  // timestamp
    0x11, 0x22, 0x33, 0x44,  // SSRC
    0xaa, 0xaa, 0xaa, 0xaa,  // CSRC 1
    0xbb, 0xbb, 0xbb, 0xbb,  // CSRC 2
    0xbe, 0xde, 0x00, 0x03,  // one-byte profile, 3 words
    0x10, '0',               // id 1 (mid), 1 byte
    0x22, 0xaa, 0xbb, 0xcc,  // id 2 (abs-send-time), 3 bytes
    0x31, 0x00, 0x05,        // id 3 (transport-cc sequence), 2 bytes
    0x00, 0x00, 0x00,        // padding to the word
    0xde, 0xad, 0xbe, 0xef,  // payload
    0x00, 0x00, 0x00, 0x04,  // RTP padding, count 4
});

TEST(Rtp, ParsesCsrcsOneByteExtensionsAndPadding) {
  const auto v = parse_rtp(kFull);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_TRUE(v->padding());
  EXPECT_FALSE(v->marker());
  EXPECT_EQ(v->payload_type(), 111);
  ASSERT_EQ(v->csrc_count(), 2u);
  EXPECT_EQ(v->csrc(0), 0xaaaaaaaau);
  EXPECT_EQ(v->csrc(1), 0xbbbbbbbbu);
  EXPECT_EQ(v->extension_profile(), kOneByteProfile);
  EXPECT_EQ(v->extension_form(), ExtensionForm::one_byte);
  EXPECT_EQ(v->header_size(), 36u);
  EXPECT_EQ(v->padding_size(), 4u);
  ASSERT_EQ(v->payload().size(), 4u);
  EXPECT_EQ(v->payload()[0], std::byte{0xde});

  std::vector<int> ids;
  for (const ExtensionElement& e : v->extensions()) ids.push_back(e.id);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 3}));

  EXPECT_EQ(read_mid(*v->find_extension(1)), "0");
  EXPECT_EQ(read_abs_send_time(*v->find_extension(2)), 0xaabbccu);
  EXPECT_EQ(read_transport_sequence(*v->find_extension(3)), 5);
  EXPECT_FALSE(v->find_extension(4));
  EXPECT_FALSE(v->find_extension(0));
  // Wrong sizes are not read as the extension.
  EXPECT_FALSE(read_abs_send_time(*v->find_extension(3)));
  EXPECT_FALSE(read_transport_sequence(*v->find_extension(2)));
}

// RFC 8285 section 4.3: two-byte header, zero-length element, padding between elements.
TEST(Rtp, ParsesTwoByteExtensions) {
  const auto p = bytes({0x90, 0x60, 0x00, 0x07, 0,   0, 0, 9, 0, 0, 0, 1,  //
                        0x10, 0x03, 0x00, 0x02,       // profile 0x1003 (appbits 3)
                        0x01, 0x00,                   // id 1, empty
                        0x00,                         // padding byte
                        0x14, 0x03, 'a',  'b',  'c',  // id 20, "abc"
                        0x55});
  const auto v = parse_rtp(p);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(v->extension_form(), ExtensionForm::two_byte);
  EXPECT_EQ(v->extension_profile(), 0x1003);
  std::vector<std::pair<int, std::size_t>> seen;
  for (const ExtensionElement& e : v->extensions()) seen.emplace_back(e.id, e.data.size());
  EXPECT_EQ(seen, (std::vector<std::pair<int, std::size_t>>{{1, 0}, {20, 3}}));
  EXPECT_EQ(read_mid(*v->find_extension(20)), "abc");
  EXPECT_FALSE(read_mid(*v->find_extension(1)));  // an empty mid is no mid
  ASSERT_EQ(v->payload().size(), 1u);
}

// RFC 8285 section 4.2: id 15 ends the walk, its length ignored; unknown profiles are opaque.
TEST(Rtp, OneByteId15StopsAndOtherProfilesAreOpaque) {
  const auto stop = bytes({0x90, 0x60, 0,    1,    0,    0,   0,    0,   0, 0, 0, 0,  //
                           0xbe, 0xde, 0x00, 0x01, 0x10, 'x', 0xff, 0x22});
  const auto v = parse_rtp(stop);
  ASSERT_TRUE(v) << describe(v.error());
  int n = 0;
  for (const ExtensionElement& e : v->extensions()) {
    EXPECT_EQ(e.id, 1);
    ++n;
  }
  EXPECT_EQ(n, 1);

  const auto other = bytes({0x90, 0x60, 0,    1,    0,    0,    0,    0,   0, 0, 0, 0,  //
                            0x12, 0x34, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff});
  const auto o = parse_rtp(other);
  ASSERT_TRUE(o) << describe(o.error());
  EXPECT_EQ(o->extension_form(), ExtensionForm::other);
  EXPECT_EQ(o->extension_block().size(), 4u);
  EXPECT_EQ(o->extensions().begin(), std::default_sentinel);
}

struct BadCase {
  const char* name;
  std::vector<std::byte> packet;
  ErrorCode code;
  const char* field;  // must appear in the message
};

TEST(Rtp, RejectsMalformedPacketsNamingTheField) {
  const BadCase cases[] = {
      {"short", bytes({0x80, 0x60, 0, 1}), ErrorCode::truncated, "12-byte"},
      {"version 1", bytes({0x40, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}), ErrorCode::bad_version,
       "version"},
      {"csrc count", bytes({0x82, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}),
       ErrorCode::truncated, "CSRC count"},
      {"extension header cut", bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde}),
       ErrorCode::truncated, "extension header"},
      {"extension length",
       bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 2, 0x10, 1, 0, 0}),
       ErrorCode::truncated, "extension length"},
      {"one-byte element",
       bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1, 0x00, 0x13, 1, 2}),
       ErrorCode::bad_extension, "element length"},
      {"two-byte element",
       bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 1, 0x01, 0x03, 1, 2}),
       ErrorCode::bad_extension, "element length"},
      {"two-byte element header",
       bytes({0x90, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 1, 0x01, 0x00, 0, 0x07}),
       ErrorCode::bad_extension, "element header"},
      {"padding 0", bytes({0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}), ErrorCode::bad_padding,
       "padding count of 0"},
      {"padding too long", bytes({0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3}),
       ErrorCode::bad_padding, "padding count larger"},
  };
  for (const BadCase& c : cases) {
    const auto v = parse_rtp(c.packet);
    ASSERT_FALSE(v) << c.name;
    EXPECT_EQ(v.error().code, c.code) << c.name << ": " << describe(v.error());
    EXPECT_NE(std::string(v.error().message).find(c.field), std::string::npos)
        << c.name << ": " << describe(v.error());
    EXPECT_LE(v.error().offset, c.packet.size()) << c.name;
  }
}

TEST(Rtp, PaddingMayCoverTheWholePayload) {
  const auto p = bytes({0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4});
  const auto v = parse_rtp(p);
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_TRUE(v->payload().empty());
  EXPECT_EQ(v->padding_size(), 4u);
}

// Every prefix of a valid packet parses or fails without reading past its end (ASan).
TEST(Rtp, EveryPrefixIsRejectedOrParsedInBounds) {
  test::for_each_prefix(kFull, [](std::span<const std::byte> prefix, std::size_t n) {
    const auto v = parse_rtp(prefix);
    if (!v) {
      EXPECT_LE(v.error().offset, n);
      return;
    }
    // A prefix that parses must be self-consistent.
    EXPECT_EQ(v->header_size() + v->payload().size() + v->padding_size(), n);
    for (const ExtensionElement& e : v->extensions()) EXPECT_NE(e.id, 0);
  });
  // Before the whole header is there, nothing parses.
  for (std::size_t n = 0; n < 36; ++n) {
    EXPECT_FALSE(parse_rtp(std::span(kFull).first(n))) << n;
  }
}

TEST(Rtp, GarbageNeverCrashes) {
  uint32_t state = 12345;
  std::vector<std::byte> buf;
  for (int round = 0; round < 20000; ++round) {
    state = state * 1664525u + 1013904223u;
    buf.resize(state % 64);
    for (auto& b : buf) {
      state = state * 1664525u + 1013904223u;
      b = static_cast<std::byte>(state >> 24);
    }
    if (!buf.empty()) buf[0] = static_cast<std::byte>(0x80 | (std::to_integer<int>(buf[0]) & 0x3f));
    const auto v = parse_rtp(buf);
    if (v) {
      for (const ExtensionElement& e : v->extensions()) EXPECT_LE(e.data.size(), 255u);
    }
  }
}

// --- writer ---------------------------------------------------------------------------

TEST(RtpWriter, WritesTheHandWrittenPacket) {
  const std::array<uint32_t, 2> csrcs{0xaaaaaaaa, 0xbbbbbbbb};
  const auto ast = abs_send_time_data(0xaabbcc);
  const auto tseq = transport_sequence_data(5);
  const std::array<ExtensionElement, 3> ext{{{1, mid_data("0")}, {2, ast}, {3, tseq}}};
  const auto payload = bytes({0xde, 0xad, 0xbe, 0xef});
  std::array<std::byte, 1500> out{};
  const auto size = write_rtp(out, {false, 111, 1, 2, 0x11223344, csrcs}, ext, payload, 4);
  ASSERT_TRUE(size) << describe(size.error());
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*size)),
            kFull);
}

TEST(RtpWriter, RoundTripsBothExtensionFormsAndPadding) {
  const std::string long_mid(40, 'm');
  const std::array<std::byte, 0> empty{};
  struct Case {
    std::vector<ExtensionElement> ext;
    ExtensionForm form;
    uint8_t padding;
  };
  const Case cases[] = {
      {{}, ExtensionForm::none, 0},
      {{{5, mid_data("audio")}}, ExtensionForm::one_byte, 0},
      {{{14, mid_data("a")}, {1, mid_data("0123456789abcdef")}}, ExtensionForm::one_byte, 1},
      {{{15, mid_data("x")}}, ExtensionForm::two_byte, 0},  // id 15 needs two-byte
      {{{3, empty}}, ExtensionForm::two_byte, 7},           // empty element
      {{{1, mid_data(long_mid)}, {200, mid_data("v")}}, ExtensionForm::two_byte, 255},
  };
  const std::array<uint32_t, 1> csrcs{7};
  const auto payload = bytes({1, 2, 3, 4, 5});
  for (const Case& c : cases) {
    std::array<std::byte, 512> out{};
    const RtpHeader h{true, 127, 65535, 0xffffffff, 42, csrcs};
    const auto size = write_rtp(out, h, c.ext, payload, c.padding);
    ASSERT_TRUE(size) << describe(size.error());
    const auto v = parse_rtp(std::span(out).first(*size));
    ASSERT_TRUE(v) << describe(v.error());
    EXPECT_TRUE(v->marker());
    EXPECT_EQ(v->payload_type(), 127);
    EXPECT_EQ(v->sequence(), 65535);
    EXPECT_EQ(v->timestamp(), 0xffffffffu);
    EXPECT_EQ(v->ssrc(), 42u);
    ASSERT_EQ(v->csrc_count(), 1u);
    EXPECT_EQ(v->csrc(0), 7u);
    EXPECT_EQ(v->extension_form(), c.form);
    EXPECT_EQ(v->padding_size(), c.padding);
    EXPECT_TRUE(
        std::equal(v->payload().begin(), v->payload().end(), payload.begin(), payload.end()));
    std::size_t i = 0;
    for (const ExtensionElement& e : v->extensions()) {
      ASSERT_LT(i, c.ext.size());
      EXPECT_EQ(e.id, c.ext[i].id);
      EXPECT_TRUE(
          std::equal(e.data.begin(), e.data.end(), c.ext[i].data.begin(), c.ext[i].data.end()));
      ++i;
    }
    EXPECT_EQ(i, c.ext.size());
    EXPECT_EQ(v->extension_block().size() % 4, 0u);
  }
}

TEST(RtpWriter, NeverWritesPastTheBuffer) {
  const std::array<ExtensionElement, 1> ext{{{1, mid_data("video")}}};
  const auto payload = bytes({1, 2, 3});
  std::array<std::byte, 64> big{};
  const auto need = write_rtp(big, {}, ext, payload, 3);
  ASSERT_TRUE(need);
  for (std::size_t n = 0; n < *need; ++n) {
    std::vector<std::byte> out(n + 8, std::byte{0x5a});
    const auto r = write_rtp(std::span(out).first(n), {}, ext, payload, 3);
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, ErrorCode::buffer_too_small);
    for (const std::byte b : out) EXPECT_EQ(b, std::byte{0x5a});
  }
}

TEST(RtpWriter, RefusesWhatTheWireCannotCarry) {
  std::array<std::byte, 2048> out{};
  const std::array<uint32_t, 16> csrcs{};
  const std::vector<std::byte> big(256);
  const std::array<ExtensionElement, 1> id0{{{0, mid_data("x")}}};
  const std::array<ExtensionElement, 1> too_big{{{1, big}}};
  EXPECT_EQ(write_rtp(out, RtpHeader{.payload_type = 128, .csrcs = {}}, {}, {}).error().code,
            ErrorCode::invalid_argument);
  EXPECT_EQ(write_rtp(out, RtpHeader{.csrcs = csrcs}, {}, {}).error().code,
            ErrorCode::invalid_argument);
  EXPECT_EQ(write_rtp(out, {}, id0, {}).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(write_rtp(out, {}, too_big, {}).error().code, ErrorCode::invalid_argument);
}

// --- extension payloads ----------------------------------------------------------------

TEST(RtpExtensions, AbsSendTimeIsSixEighteenFixedPoint) {
  EXPECT_EQ(abs_send_time_from_us(0), 0u);
  EXPECT_EQ(abs_send_time_from_us(1'000'000), 1u << 18);
  EXPECT_EQ(abs_send_time_from_us(500'000), 1u << 17);
  EXPECT_EQ(abs_send_time_from_us(64'000'000), 0u);  // wraps every 64 s
  EXPECT_EQ(abs_send_time_from_us(65'000'000), 1u << 18);
  EXPECT_EQ(abs_send_time_from_us(63'999'999), 0u);  // rounds up to 64 s, which wraps
  EXPECT_EQ(abs_send_time_to_us(1u << 18), 1'000'000u);
  for (uint64_t us : {0ull, 1ull, 3'814ull, 1'234'567ull, 63'000'001ull}) {
    const auto back = abs_send_time_to_us(abs_send_time_from_us(us));
    EXPECT_LE(back > us ? back - us : us - back, 2u) << us;  // 1/2^18 s is 3.8 us
  }
  const auto d = abs_send_time_data(0x12345678);  // only the low 24 bits go out
  EXPECT_EQ(read_abs_send_time(d), 0x345678u);
}

TEST(RtpExtensions, TransportSequenceAndMid) {
  EXPECT_EQ(read_transport_sequence(transport_sequence_data(0xfffe)), 0xfffe);
  EXPECT_EQ(read_mid(mid_data("video-1")), "video-1");
  EXPECT_FALSE(read_mid({}));
}

TEST(RtpErrors, DescribeNamesCodeOffsetAndMessage) {
  EXPECT_EQ(describe({ErrorCode::bad_padding, 37, "RTP: padding"}),
            "bad_padding at byte 37: RTP: padding");
  EXPECT_EQ(to_string(ErrorCode::buffer_too_small), "buffer_too_small");
}

// --- demux -----------------------------------------------------------------------------

TEST(RtpDemux, IsRtcpByPayloadTypeRange) {
  const auto with = [](int second) { return bytes({0x80, second}); };
  EXPECT_TRUE(is_rtcp(with(200)));  // SR
  EXPECT_TRUE(is_rtcp(with(206)));  // PSFB
  EXPECT_TRUE(is_rtcp(with(192)));  // 64 with the marker bit
  EXPECT_TRUE(is_rtcp(with(223)));  // 95
  EXPECT_TRUE(is_rtcp(with(64)));
  EXPECT_FALSE(is_rtcp(with(63)));
  EXPECT_FALSE(is_rtcp(with(96)));   // RTP PT 96
  EXPECT_FALSE(is_rtcp(with(224)));  // RTP PT 96 with the marker
  EXPECT_FALSE(is_rtcp(with(111)));
  EXPECT_FALSE(is_rtcp(bytes({0x80})));
  EXPECT_EQ(classify(with(200)), PacketKind::rtp_rtcp);
}

}  // namespace
}  // namespace peer::rtp
