#pragma once
// Demultiplexing of the packets that share one ICE component (RFC 7983, which updates
// RFC 5764 section 5.1.2). WebRTC bundles STUN, DTLS, SRTP/SRTCP and, over TURN, channel
// data on a single 5-tuple; the first byte alone tells them apart.
//
// RFC 7983 section 7:
//
//                 +----------------+
//                 |        [0..3] -+--> forward to STUN
//                 |                |
//                 |      [16..19] -+--> forward to ZRTP
//                 |                |
//     packet -->  |      [20..63] -+--> forward to DTLS
//                 |                |
//                 |      [64..79] -+--> forward to TURN Channel
//                 |                |
//                 |    [128..191] -+--> forward to RTP/RTCP
//                 +----------------+
//
// Everything else (4..15, 80..127, 192..255) is not assigned and must be dropped.

#include <cstddef>
#include <span>

namespace peer {

enum class PacketKind { stun, zrtp, dtls, turn_channel, rtp_rtcp, unknown };

// Classifies a packet by its first byte; an empty packet is `unknown`.
inline PacketKind classify(std::span<const std::byte> packet) noexcept {
  if (packet.empty()) return PacketKind::unknown;
  const auto b = std::to_integer<unsigned>(packet.front());
  if (b <= 3) return PacketKind::stun;
  if (b >= 16 && b <= 19) return PacketKind::zrtp;
  if (b >= 20 && b <= 63) return PacketKind::dtls;
  if (b >= 64 && b <= 79) return PacketKind::turn_channel;
  if (b >= 128 && b <= 191) return PacketKind::rtp_rtcp;
  return PacketKind::unknown;
}

// Within rtp_rtcp: true for RTCP, false for RTP (RFC 5761 section 4, as RFC 7983 section 5
// leaves it). The second byte is RTCP's packet type (192..223 for every type in use) or
// RTP's marker bit and payload type; with the marker masked off, 64..95 is RTCP, so RTP
// payload types 64..95 are never used on a muxed session. Needs at least two bytes.
inline bool is_rtcp(std::span<const std::byte> packet) noexcept {
  if (packet.size() < 2) return false;
  const auto type = std::to_integer<unsigned>(packet[1]) & 0x7f;
  return type >= 64 && type <= 95;
}

}  // namespace peer
