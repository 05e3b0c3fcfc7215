// The H.264 RTP payload format (RFC 6184, packetization-mode 1): Annex B splitting,
// single NAL unit / STAP-A / FU-A packetization and depacketization. Lives in unit_rtp.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/rtp/payload_h264.hpp"
#include "rtp_payload_test_util.hpp"
#include "rtp_test_util.hpp"

namespace peer::rtp {
namespace {

using test::bytes;
using Bytes = std::vector<std::byte>;
using Spans = std::vector<std::span<const std::byte>>;

std::vector<Bytes> nal_units(std::span<const std::byte> annexb) {
  std::vector<Bytes> out;
  for_each_nal_unit(annexb, [&](std::span<const std::byte> nal) {
    out.emplace_back(nal.begin(), nal.end());
  });
  return out;
}

void append(Bytes& to, const Bytes& from) { to.insert(to.end(), from.begin(), from.end()); }

TEST(H264, SplitsAnnexB) {
  // Garbage before the first start code, a 4-byte and a 3-byte start code, an empty NAL
  // unit, trailing zeros (trailing_zero_8bits) before the next start code and at the end.
  const auto stream = bytes({0xff, 0x00, 0x00, 0x00, 0x01, 0x67, 0x42,  // SPS
                             0x00, 0x00, 0x01,                          // empty
                             0x00, 0x00, 0x01, 0x68, 0xce, 0x00, 0x00,  // PPS + zeros
                             0x00, 0x00, 0x01, 0x65, 0x00, 0x00, 0x02, 0x88, 0x00});
  const auto nals = nal_units(stream);
  ASSERT_EQ(nals.size(), 3u);
  EXPECT_EQ(nals[0], bytes({0x67, 0x42}));
  EXPECT_EQ(nals[1], bytes({0x68, 0xce}));
  EXPECT_EQ(nals[2], bytes({0x65, 0x00, 0x00, 0x02, 0x88}));
  EXPECT_TRUE(nal_units(bytes({0x65, 0x00, 0x00, 0x00})).empty());  // no start code
  EXPECT_TRUE(nal_units({}).empty());
}

// SPS and PPS (NRI 3), an IDR slice of 5000 bytes, and separately a non-IDR slice.
const Bytes kSps = bytes({0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8});
const Bytes kPps = bytes({0x68, 0xce, 0x3c, 0x80});
Bytes slice(uint8_t header, std::size_t size) {
  Bytes s(size);
  s[0] = std::byte{header};
  for (std::size_t i = 1; i < size; ++i) s[i] = static_cast<std::byte>((i * 13 + 1) | 1);
  return s;
}
const Bytes kIdr = slice(0x65, 5000);
const Bytes kNonIdr = slice(0x41, 700);

Bytes annexb(std::initializer_list<const Bytes*> nals, bool short_codes = false) {
  Bytes out;
  bool first = true;
  for (const Bytes* n : nals) {
    append(out, short_codes && !first ? bytes({0, 0, 1}) : bytes({0, 0, 0, 1}));
    append(out, *n);
    first = false;
  }
  return out;
}

test::Payloads packetize(std::span<const std::byte> stream, std::size_t max) {
  const auto created = H264Packetizer::create(stream, max);
  EXPECT_TRUE(created) << describe(created.error());
  if (!created) return {};
  H264Packetizer p = *created;
  const std::size_t count = p.packet_count();
  test::Payloads out = test::collect(p, max);
  EXPECT_EQ(out.bytes.size(), count);
  return out;
}

TEST(H264, RoundTripsAnAccessUnit) {
  constexpr std::size_t kMax = 1200;
  const Bytes key = annexb({&kSps, &kPps, &kIdr}, /*short_codes=*/true);
  const test::Payloads out = packetize(key, kMax);
  // STAP-A (SPS, PPS), then the IDR slice in FU-A fragments: 4999 bytes, 1198 a packet.
  ASSERT_EQ(out.bytes.size(), 1u + 5u);
  EXPECT_EQ(out.bytes[0][0], std::byte{0x78});
  std::size_t smallest = kMax, largest = 0;
  for (std::size_t i = 0; i < out.bytes.size(); ++i) {
    EXPECT_LE(out.bytes[i].size(), kMax);
    EXPECT_EQ(out.markers[i], i + 1 == out.bytes.size());
    const auto p = parse_h264(out.bytes[i]);
    ASSERT_TRUE(p) << describe(p.error());
    EXPECT_TRUE(p->keyframe);
    if (i == 0) continue;
    EXPECT_EQ(p->kind, H264PacketKind::fu_a);
    EXPECT_EQ(p->nal_type, kH264NalIdr);
    EXPECT_EQ(p->fu_start, i == 1);
    EXPECT_EQ(p->fu_end, i == 5);
    smallest = std::min(smallest, out.bytes[i].size());
    largest = std::max(largest, out.bytes[i].size());
  }
  EXPECT_LE(largest - smallest, 1u);

  Bytes frame(key.size() + 16);
  const auto f = assemble_h264(out.spans(), frame);
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_TRUE(f->keyframe);
  frame.resize(f->size);
  EXPECT_EQ(frame, annexb({&kSps, &kPps, &kIdr}));  // 4-byte start codes throughout
  EXPECT_TRUE(is_complete_h264_frame(out.rtp().views));

  const Bytes delta = annexb({&kNonIdr});
  const test::Payloads d = packetize(delta, kMax);
  ASSERT_EQ(d.bytes.size(), 1u);
  EXPECT_EQ(d.bytes[0], kNonIdr);  // a single NAL unit packet is the NAL unit
  EXPECT_TRUE(d.markers[0]);
  Bytes dframe(delta.size());
  const auto df = assemble_h264(d.spans(), dframe);
  ASSERT_TRUE(df);
  EXPECT_FALSE(df->keyframe);
  EXPECT_EQ(dframe, delta);
}

// RFC 6184 section 5.7.1, figure 7: STAP-A header, then size + NAL unit for each.
TEST(H264, StapAShape) {
  const Bytes sei = bytes({0x06, 0x05, 0x01, 0xaa});  // NRI 0
  const Bytes sps = bytes({0x67, 0x42, 0x00, 0x1f});  // NRI 3
  const Bytes bad_f = bytes({0x88 | 0x00, 0x11});     // F=1, NRI 0, type 8 (PPS)
  const Bytes stream = annexb({&sei, &sps, &bad_f});
  const test::Payloads out = packetize(stream, 100);
  ASSERT_EQ(out.bytes.size(), 1u);
  EXPECT_EQ(out.bytes[0], bytes({0xf8,              // F (OR), NRI (max) 3, type 24
                                 0x00, 0x04, 0x06, 0x05, 0x01, 0xaa,  //
                                 0x00, 0x04, 0x67, 0x42, 0x00, 0x1f,  //
                                 0x00, 0x02, 0x88, 0x11}));
  EXPECT_TRUE(out.markers[0]);
  const auto p = parse_h264(out.bytes[0]);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, H264PacketKind::stap_a);
  EXPECT_EQ(p->nal_count, 3u);
  EXPECT_TRUE(p->keyframe);  // an SPS
  EXPECT_EQ(p->annexb_size, stream.size());
  Bytes back(stream.size());
  ASSERT_TRUE(depacketize_h264(out.bytes[0], back));
  EXPECT_EQ(back, stream);

  // Exactly the budget still aggregates; a byte less splits off the last unit.
  EXPECT_EQ(packetize(stream, 17).bytes.size(), 1u);
  const test::Payloads split = packetize(stream, 16);
  ASSERT_EQ(split.bytes.size(), 2u);
  EXPECT_EQ(split.bytes[0].size(), 13u);  // STAP-A of two
  EXPECT_EQ(split.bytes[1], bad_f);       // alone: a single NAL unit packet
}

// RFC 6184 section 5.8, figures 14-15: FU indicator (F, NRI, 28), FU header (S, E, R, type).
TEST(H264, FuAShape) {
  Bytes idr = bytes({0x65});
  for (int i = 0; i < 10; ++i) idr.push_back(static_cast<std::byte>(0xd0 + i));
  const test::Payloads out = packetize(annexb({&idr}), 6);  // 4 bytes of fragment a packet
  ASSERT_EQ(out.bytes.size(), 3u);
  EXPECT_EQ(out.bytes[0], bytes({0x7c, 0x85, 0xd0, 0xd1, 0xd2, 0xd3}));  // S
  EXPECT_EQ(out.bytes[1], bytes({0x7c, 0x05, 0xd4, 0xd5, 0xd6}));
  EXPECT_EQ(out.bytes[2], bytes({0x7c, 0x45, 0xd7, 0xd8, 0xd9}));  // E
  EXPECT_EQ(out.markers, (std::vector<bool>{false, false, true}));

  Bytes back(32);
  auto n = depacketize_h264(out.bytes[0], back);
  ASSERT_TRUE(n);
  EXPECT_EQ(Bytes(back.begin(), back.begin() + *n),
            bytes({0, 0, 0, 1, 0x65, 0xd0, 0xd1, 0xd2, 0xd3}));
  n = depacketize_h264(out.bytes[1], back);
  ASSERT_TRUE(n);
  EXPECT_EQ(Bytes(back.begin(), back.begin() + *n), bytes({0xd4, 0xd5, 0xd6}));

  // A NAL unit of exactly the budget goes whole; one byte more is fragmented in two.
  EXPECT_EQ(packetize(annexb({&idr}), 11).bytes.size(), 1u);
  EXPECT_EQ(packetize(annexb({&idr}), 10).bytes.size(), 2u);
}

TEST(H264, EveryCutIsAnError) {
  const auto stap = bytes({0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x03, 0x68, 0xce, 0x3c});
  test::for_each_prefix(stap, [](auto prefix, std::size_t n) {
    const auto p = parse_h264(prefix);
    if (n == 5) {  // ends right after the first unit: a valid STAP-A of one
      ASSERT_TRUE(p);
      EXPECT_EQ(p->nal_count, 1u);
      return;
    }
    ASSERT_FALSE(p) << n;
    EXPECT_EQ(p.error().code, ErrorCode::truncated) << n;
  });
  const auto fu = bytes({0x7c, 0x85, 0xd0});
  test::for_each_prefix(fu, [](auto prefix, std::size_t n) {
    const auto p = parse_h264(prefix);
    ASSERT_FALSE(p) << n;
    EXPECT_EQ(p.error().code, ErrorCode::truncated) << n;
  });
  EXPECT_EQ(parse_h264({}).error().code, ErrorCode::truncated);  // single NAL unit: empty
  const auto one = parse_h264(bytes({0x41}));                     // a header alone is a NAL unit
  ASSERT_TRUE(one);
  EXPECT_EQ(one->annexb_size, 5u);
  Bytes small(4);
  EXPECT_EQ(depacketize_h264(bytes({0x41}), small).error().code, ErrorCode::buffer_too_small);
}

TEST(H264, RefusesWhatModeOneCannotCarry) {
  const auto refused = [](std::initializer_list<int> payload) {
    const auto p = parse_h264(bytes(payload));
    EXPECT_FALSE(p);
    return p ? ErrorCode::truncated : p.error().code;
  };
  for (const int type : {0, 25, 26, 27, 29, 30, 31}) {
    SCOPED_TRACE(type);
    const auto p = parse_h264(bytes({0x60 | type, 0x80, 0x00, 0x01, 0x02}));
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code, ErrorCode::bad_field);
    EXPECT_NE(std::string(p.error().message).find("RFC 6184"), std::string::npos);
  }
  EXPECT_NE(std::string(parse_h264(bytes({0x7d, 0x85, 0x00})).error().message).find("FU-B"),
            std::string::npos);
  EXPECT_EQ(refused({0x7c, 0xc5, 0xd0}), ErrorCode::bad_field);                // S and E
  EXPECT_EQ(refused({0x7c, 0x98, 0xd0}), ErrorCode::bad_field);                // FU of type 24
  EXPECT_EQ(refused({0x78, 0x00, 0x00, 0x00, 0x01, 0x67}), ErrorCode::bad_field);  // size 0
  EXPECT_EQ(refused({0x78, 0x00, 0x01, 0x7c}), ErrorCode::bad_field);  // aggregated FU-A
}

TEST(H264, FrameRules) {
  const auto start = bytes({0x7c, 0x85, 0xd0});
  const auto middle = bytes({0x7c, 0x05, 0xd1});
  const auto other = bytes({0x7c, 0x01, 0xd1});
  const auto end = bytes({0x7c, 0x45, 0xd2});
  const auto single = bytes({0x41, 0x9a});
  Bytes out(64);
  const auto code = [&](const Spans& s) { return assemble_h264(s, out).error().code; };

  const auto f = assemble_h264(Spans{single, start, middle, end}, out);
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_TRUE(f->keyframe);
  EXPECT_EQ(Bytes(out.begin(), out.begin() + f->size),
            bytes({0, 0, 0, 1, 0x41, 0x9a, 0, 0, 0, 1, 0x65, 0xd0, 0xd1, 0xd2}));

  EXPECT_EQ(code({}), ErrorCode::invalid_argument);
  EXPECT_EQ(code({middle, end}), ErrorCode::bad_field);          // no start
  EXPECT_EQ(code({start, start, end}), ErrorCode::bad_field);    // two starts
  EXPECT_EQ(code({start, other, end}), ErrorCode::bad_field);    // another type
  EXPECT_EQ(code({start, single, end}), ErrorCode::bad_field);   // interrupted
  EXPECT_EQ(code({single, start, middle}), ErrorCode::truncated);  // no end
  const auto cut = assemble_h264(Spans{single, bytes({0x7c})}, out);
  EXPECT_EQ(cut.error().code, ErrorCode::truncated);
  EXPECT_EQ(cut.error().offset, 2u + 1u);  // across the payloads
  EXPECT_EQ(assemble_h264(Spans{single, start, end}, std::span(out).first(8)).error().code,
            ErrorCode::buffer_too_small);

  test::RtpRun run;
  run.add(start, false, 7, 1);
  run.add(end, false, 8, 1);
  EXPECT_FALSE(is_complete_h264_frame(run.views));  // no marker
  run = {};
  run.add(start, false, 7, 1);
  run.add(middle, true, 8, 1);
  EXPECT_FALSE(is_complete_h264_frame(run.views));  // marker, but the NAL unit is cut
  run = {};
  run.add(start, false, 7, 1);
  run.add(end, true, 8, 1);
  EXPECT_TRUE(is_complete_h264_frame(run.views));
}

TEST(H264, PacketizerArguments) {
  const Bytes stream = annexb({&kNonIdr});
  EXPECT_EQ(H264Packetizer::create(stream, 2).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(H264Packetizer::create(kNonIdr, 1200).error().code, ErrorCode::invalid_argument);
  const Bytes stap = bytes({0x78, 0x01});
  const auto bad = H264Packetizer::create(annexb({&kSps, &stap}), 1200);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(bad.error().offset, 4u + kSps.size() + 4u);  // where that NAL unit starts

  H264Packetizer p = *H264Packetizer::create(stream, 300);
  EXPECT_EQ(p.packet_count(), 3u);
  Bytes out(300);
  EXPECT_EQ(p.next(std::span(out).first(10)).error().code, ErrorCode::buffer_too_small);
  while (!p.done()) ASSERT_TRUE(p.next(out));
  EXPECT_EQ(p.next(out).error().code, ErrorCode::invalid_argument);
}

}  // namespace
}  // namespace peer::rtp
