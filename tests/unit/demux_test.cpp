#include "core/demux.hpp"

#include <array>
#include <cstddef>
#include <utility>

#include <gtest/gtest.h>

namespace {

using peer::classify;
using peer::PacketKind;

PacketKind classify_byte(unsigned first) {
  const std::array<std::byte, 4> packet{std::byte(first), std::byte{0}, std::byte{0}, std::byte{0}};
  return classify(packet);
}

TEST(Demux, EmptyPacketIsUnknown) {
  EXPECT_EQ(classify({}), PacketKind::unknown);
}

TEST(Demux, OneBytePacketIsClassified) {
  const std::array<std::byte, 1> dtls{std::byte{22}};
  EXPECT_EQ(classify(dtls), PacketKind::dtls);
}

// Every boundary of the RFC 7983 section 7 table, and the unassigned gaps between them.
TEST(Demux, Rfc7983RangeBoundaries) {
  const std::pair<unsigned, PacketKind> cases[] = {
      {0, PacketKind::stun},          {3, PacketKind::stun},       {4, PacketKind::unknown},
      {15, PacketKind::unknown},      {16, PacketKind::zrtp},      {19, PacketKind::zrtp},
      {20, PacketKind::dtls},         {63, PacketKind::dtls},      {64, PacketKind::turn_channel},
      {79, PacketKind::turn_channel}, {80, PacketKind::unknown},   {127, PacketKind::unknown},
      {128, PacketKind::rtp_rtcp},    {191, PacketKind::rtp_rtcp}, {192, PacketKind::unknown},
      {255, PacketKind::unknown},
  };
  for (const auto& [first, kind] : cases) {
    EXPECT_EQ(classify_byte(first), kind) << "first byte " << first;
  }
}

TEST(Demux, EveryByteFallsInExactlyTheTableRanges) {
  for (unsigned b = 0; b < 256; ++b) {
    PacketKind expected = PacketKind::unknown;
    if (b <= 3)
      expected = PacketKind::stun;
    else if (b >= 16 && b <= 19)
      expected = PacketKind::zrtp;
    else if (b >= 20 && b <= 63)
      expected = PacketKind::dtls;
    else if (b >= 64 && b <= 79)
      expected = PacketKind::turn_channel;
    else if (b >= 128 && b <= 191)
      expected = PacketKind::rtp_rtcp;
    EXPECT_EQ(classify_byte(b), expected) << "first byte " << b;
  }
}

TEST(Demux, TypicalPackets) {
  EXPECT_EQ(classify_byte(0x00), PacketKind::stun);          // Binding request 0x0001
  EXPECT_EQ(classify_byte(0x01), PacketKind::stun);          // Binding success 0x0101
  EXPECT_EQ(classify_byte(0x16), PacketKind::dtls);          // handshake record
  EXPECT_EQ(classify_byte(0x17), PacketKind::dtls);          // application data record
  EXPECT_EQ(classify_byte(0x40), PacketKind::turn_channel);  // channel 0x4000
  EXPECT_EQ(classify_byte(0x80), PacketKind::rtp_rtcp);      // RTP version 2
  EXPECT_EQ(classify_byte(0x90), PacketKind::rtp_rtcp);      // RTP v2 with extension
}

}  // namespace
