// The VP8 RTP payload format (RFC 7741): descriptor, packetizer, depacketizer, frames.
// Lives in the unit_rtp binary.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/rtp/payload_vp8.hpp"
#include "rtp_payload_test_util.hpp"
#include "rtp_test_util.hpp"

namespace peer::rtp {
namespace {

using test::bytes;

// Every optional field of RFC 7741 section 4.2, by hand:
//   X=1 N=1 S=1 PID=3 | I=1 L=1 T=1 K=1 | M=1 PictureID=0x0123 | TL0PICIDX=0x45 |
//   TID=2 Y=1 KEYIDX=21 | VP8 data
const std::vector<std::byte> kAllFields =
    bytes({0xb3, 0xf0, 0x81, 0x23, 0x45, 0xb5, 0x9d, 0x01, 0x2a});

TEST(Vp8, ParsesEveryOptionalField) {
  const auto p = parse_vp8(kAllFields);
  ASSERT_TRUE(p) << describe(p.error());
  const Vp8Descriptor& d = p->descriptor;
  EXPECT_TRUE(d.non_reference);
  EXPECT_TRUE(d.start_of_partition);
  EXPECT_EQ(d.partition_id, 3);
  EXPECT_EQ(d.picture_id, 0x0123);
  EXPECT_TRUE(d.picture_id_15bit);
  EXPECT_EQ(d.tl0_pic_idx, 0x45);
  EXPECT_EQ(d.temporal_id, 2);
  EXPECT_TRUE(d.layer_sync);
  EXPECT_EQ(d.key_idx, 21);
  EXPECT_EQ(p->descriptor_size, 6u);
  ASSERT_EQ(p->data.size(), 3u);
  EXPECT_EQ(p->data[0], std::byte{0x9d});
  EXPECT_FALSE(p->begins_frame());  // PID 3
  EXPECT_FALSE(p->keyframe);

  // Written back, the same six bytes.
  EXPECT_EQ(vp8_descriptor_size(d), 6u);
  std::vector<std::byte> out(6);
  const auto n = write_vp8_descriptor(out, d);
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_EQ(out, std::vector<std::byte>(kAllFields.begin(), kAllFields.begin() + 6));
}

TEST(Vp8, ParsesShortForms) {
  // No X: one byte of descriptor.
  auto p = parse_vp8(bytes({0x10, 0x50}));
  ASSERT_TRUE(p);
  Vp8Descriptor start;
  start.start_of_partition = true;
  EXPECT_EQ(p->descriptor, start);
  EXPECT_EQ(p->descriptor_size, 1u);
  EXPECT_TRUE(p->begins_frame());
  EXPECT_TRUE(p->keyframe);  // P bit (lowest of 0x50) is 0

  // 7-bit picture id (M=0).
  p = parse_vp8(bytes({0x90, 0x80, 0x17, 0x51}));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->descriptor.picture_id, 0x17);
  EXPECT_FALSE(p->descriptor.picture_id_15bit);
  EXPECT_FALSE(p->keyframe);  // P = 1: an interframe

  // K without T: the T/K byte is there, TID is not.
  p = parse_vp8(bytes({0x80, 0x10, 0xca, 0x00}));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->descriptor.temporal_id);
  EXPECT_EQ(p->descriptor.key_idx, 10);
  EXPECT_FALSE(p->descriptor.start_of_partition);
  EXPECT_FALSE(p->keyframe);  // not the start of a frame

  // L alone; the reserved bits (R in both bytes, RSV) are ignored.
  p = parse_vp8(bytes({0xc8 | 0x10, 0x4f, 0x07, 0x00}));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->descriptor.tl0_pic_idx, 7);
  EXPECT_FALSE(p->descriptor.picture_id);
  EXPECT_EQ(p->descriptor.partition_id, 0);
}

TEST(Vp8, EveryCutIsTruncated) {
  test::for_each_prefix(std::span(kAllFields).first(7), [](auto prefix, std::size_t n) {
    const auto p = parse_vp8(prefix);
    ASSERT_FALSE(p) << n;
    EXPECT_EQ(p.error().code, ErrorCode::truncated) << n;
    EXPECT_LE(p.error().offset, n);
  });
  // The short picture id form cut after its byte: no data.
  EXPECT_EQ(parse_vp8(bytes({0x90, 0x80, 0x17})).error().code, ErrorCode::truncated);
}

TEST(Vp8, WriterRefusesOutOfRangeFields) {
  std::vector<std::byte> out(8);
  const auto code = [&](auto set, std::size_t room = 8) {
    Vp8Descriptor d;
    set(d);
    return write_vp8_descriptor(std::span(out).first(room), d).error().code;
  };
  EXPECT_EQ(code([](auto& d) { d.partition_id = 8; }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([](auto& d) { d.picture_id = 0x80; }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([](auto& d) {
              d.picture_id = 0x8000;
              d.picture_id_15bit = true;
            }),
            ErrorCode::invalid_argument);
  EXPECT_EQ(code([](auto& d) { d.temporal_id = 4; }), ErrorCode::invalid_argument);
  EXPECT_EQ(code([](auto& d) { d.key_idx = 32; }), ErrorCode::invalid_argument);
  EXPECT_EQ(code(
                [](auto& d) {
                  d.picture_id = 5;
                  d.tl0_pic_idx = 1;
                  d.temporal_id = 1;
                },
                3),
            ErrorCode::buffer_too_small);
}

// A synthetic frame: the frame tag's P bit says key or delta, the rest is a pattern.
std::vector<std::byte> frame_of(std::size_t size, bool key) {
  std::vector<std::byte> f(size);
  for (std::size_t i = 0; i < size; ++i) f[i] = static_cast<std::byte>((i * 7 + 3) & 0xff);
  f[0] = static_cast<std::byte>(key ? 0x10 : 0x11);
  return f;
}

constexpr std::size_t kMax = 1200;
constexpr std::size_t kRoom = kMax - Vp8Packetizer::kDescriptorSize;

void round_trip(std::size_t size, bool key, std::size_t packets) {
  SCOPED_TRACE(testing::Message() << "size " << size << (key ? " key" : " delta"));
  const auto frame = frame_of(size, key);
  const auto created = Vp8Packetizer::create(frame, kMax, 0x1234);
  ASSERT_TRUE(created) << describe(created.error());
  Vp8Packetizer pk = *created;
  EXPECT_EQ(pk.packet_count(), packets);
  const test::Payloads out = test::collect(pk, kMax);
  ASSERT_EQ(out.bytes.size(), packets);
  std::size_t smallest = kMax, largest = 0;
  for (std::size_t i = 0; i < packets; ++i) {
    const auto& b = out.bytes[i];
    EXPECT_LE(b.size(), kMax);
    smallest = std::min(smallest, b.size());
    largest = std::max(largest, b.size());
    EXPECT_EQ(out.markers[i], i + 1 == packets);
    const auto p = parse_vp8(b);
    ASSERT_TRUE(p) << describe(p.error());
    EXPECT_EQ(p->descriptor_size, 4u);
    EXPECT_EQ(p->descriptor.picture_id, 0x1234);
    EXPECT_TRUE(p->descriptor.picture_id_15bit);
    EXPECT_EQ(p->descriptor.start_of_partition, i == 0);
    EXPECT_EQ(p->descriptor.partition_id, 0);
    EXPECT_FALSE(p->descriptor.tl0_pic_idx || p->descriptor.temporal_id || p->descriptor.key_idx);
    EXPECT_EQ(p->keyframe, key && i == 0);
  }
  EXPECT_LE(largest - smallest, 1u);  // balanced

  std::vector<std::byte> assembled(size);
  const auto f = assemble_vp8(out.spans(), assembled);
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_EQ(f->size, size);
  EXPECT_EQ(f->keyframe, key);
  EXPECT_EQ(f->picture_id, 0x1234);
  EXPECT_EQ(assembled, frame);

  const test::RtpRun run = out.rtp();
  EXPECT_TRUE(is_complete_vp8_frame(run.views));
}

TEST(Vp8, RoundTrips) {
  for (const bool key : {true, false}) {
    round_trip(1, key, 1);
    round_trip(kRoom, key, 1);  // exactly the budget
    round_trip(kMax, key, 2);   // an MTU of VP8 bytes needs a second packet
    round_trip(3 * kRoom + 1, key, 4);
    round_trip(3 * kMax + 1, key, 4);
  }
}

TEST(Vp8, PacketizerArguments) {
  const auto frame = frame_of(10, true);
  EXPECT_EQ(Vp8Packetizer::create({}, kMax, 1).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(Vp8Packetizer::create(frame, kMax, 0x8000).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(Vp8Packetizer::create(frame, 4, 1).error().code, ErrorCode::invalid_argument);

  // A budget of 5: one VP8 byte a packet.
  const auto created = Vp8Packetizer::create(frame, 5, 1, /*non_reference=*/true);
  ASSERT_TRUE(created);
  Vp8Packetizer pk = *created;
  EXPECT_EQ(pk.packet_count(), 10u);
  std::vector<std::byte> out(5);
  EXPECT_EQ(pk.next(std::span(out).first(4)).error().code, ErrorCode::buffer_too_small);
  const auto first = pk.next(out);  // nothing was consumed by the refusal
  ASSERT_TRUE(first);
  EXPECT_EQ(first->size, 5u);
  EXPECT_FALSE(first->marker);
  EXPECT_EQ(out, bytes({0xb0, 0x80, 0x80, 0x01, 0x10}));  // X N S, I, M + picture id 1
  while (!pk.done()) ASSERT_TRUE(pk.next(out));
  EXPECT_EQ(pk.next(out).error().code, ErrorCode::invalid_argument);
}

TEST(Vp8, AssemblerRules) {
  const auto first = bytes({0x90, 0x80, 0x05, 0x10, 0xaa});  // S=1 PID=0, picture id 5
  const auto middle = bytes({0x80, 0x80, 0x05, 0xbb});
  const auto other_id = bytes({0x80, 0x80, 0x06, 0xbb});
  const auto restart = bytes({0x90, 0x80, 0x05, 0xcc});
  const auto bad = bytes({0x80, 0x80});
  std::vector<std::byte> out(16);
  using Spans = std::vector<std::span<const std::byte>>;

  auto f = assemble_vp8(Spans{first, middle}, out);
  ASSERT_TRUE(f) << describe(f.error());
  EXPECT_EQ(f->size, 3u);
  EXPECT_EQ(std::vector<std::byte>(out.begin(), out.begin() + 3), bytes({0x10, 0xaa, 0xbb}));

  EXPECT_EQ(assemble_vp8(Spans{}, out).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(assemble_vp8(Spans{middle}, out).error().code, ErrorCode::bad_field);
  const auto again = assemble_vp8(Spans{first, restart}, out);
  EXPECT_EQ(again.error().code, ErrorCode::bad_field);
  EXPECT_EQ(again.error().offset, 5u);  // where the second payload starts
  EXPECT_EQ(assemble_vp8(Spans{first, other_id}, out).error().code, ErrorCode::bad_field);
  const auto cut = assemble_vp8(Spans{first, bad}, out);
  EXPECT_EQ(cut.error().code, ErrorCode::truncated);
  EXPECT_EQ(cut.error().offset, 5u + 2u);  // across the payloads
  EXPECT_EQ(assemble_vp8(Spans{first, middle}, std::span(out).first(2)).error().code,
            ErrorCode::buffer_too_small);
}

TEST(Vp8, CompleteFrameNeedsItAll) {
  const auto first = bytes({0x90, 0x80, 0x05, 0x10});
  const auto middle = bytes({0x80, 0x80, 0x05, 0xbb});
  const auto last = bytes({0x80, 0x80, 0x05, 0xcc});
  const auto check = [&](auto build) {
    test::RtpRun run;
    build(run);
    return is_complete_vp8_frame(run.views);
  };
  EXPECT_TRUE(check([&](auto& r) {
    r.add(first, false, 65535, 9);
    r.add(middle, false, 0, 9);  // the sequence wraps
    r.add(last, true, 1, 9);
  }));
  EXPECT_FALSE(check([](auto&) {}));
  EXPECT_FALSE(check([&](auto& r) {  // a gap
    r.add(first, false, 1, 9);
    r.add(last, true, 3, 9);
  }));
  EXPECT_FALSE(check([&](auto& r) {  // no marker at the end
    r.add(first, false, 1, 9);
    r.add(last, false, 2, 9);
  }));
  EXPECT_FALSE(check([&](auto& r) {  // a marker before the end
    r.add(first, true, 1, 9);
    r.add(last, true, 2, 9);
  }));
  EXPECT_FALSE(check([&](auto& r) {  // two timestamps
    r.add(first, false, 1, 9);
    r.add(last, true, 2, 10);
  }));
  EXPECT_FALSE(check([&](auto& r) {  // the start is missing
    r.add(middle, false, 1, 9);
    r.add(last, true, 2, 9);
  }));
}

}  // namespace
}  // namespace peer::rtp
