#pragma once
// What the RTP payload formats (payload_vp8, payload_h264, payload_opus) share: the shape a
// packetizer hands out, a loop over a packetizer, and the checks on a run of RTP packets that
// claims to be one frame. Header only; no I/O, no clock, no allocation.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/rtp/result.hpp"
#include "core/rtp/rtp.hpp"

namespace peer::rtp {

// One RTP payload a packetizer wrote into the caller's buffer: its size, and whether the
// RTP marker bit goes on the packet (the last packet of a video frame, RFC 7741 section 4.1,
// RFC 6184 section 5.1).
struct PacketizedPayload {
  std::size_t size = 0;
  bool marker = false;
};

// Runs a packetizer (Vp8Packetizer, H264Packetizer) to its end, each payload written into
// `scratch` (at least the packetizer's max_payload bytes) and handed to
// visit(std::span<const std::byte> payload, bool marker) before the next overwrites it.
// Returns the first error, if any (then some payloads may have been visited already).
template <class Packetizer, class F>
std::optional<Error> packetize_all(Packetizer& packetizer, std::span<std::byte> scratch,
                                   F&& visit) {
  while (!packetizer.done()) {
    const Result<PacketizedPayload> p = packetizer.next(scratch);
    if (!p) return p.error();
    visit(std::span<const std::byte>(scratch.first(p->size)), p->marker);
  }
  return std::nullopt;
}

namespace detail {

// The transport half of "is this a complete frame": at least one packet, one timestamp,
// sequence numbers consecutive (across the 16-bit wrap), and the marker on the last packet
// only. The payload formats add their own first-packet and fragment rules.
inline bool contiguous_frame(std::span<const RtpView> packets) noexcept {
  if (packets.empty()) return false;
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const RtpView& p = packets[i];
    if (p.timestamp() != packets[0].timestamp()) return false;
    if (p.marker() != (i + 1 == packets.size())) return false;
    if (i > 0 && p.sequence() != static_cast<uint16_t>(packets[i - 1].sequence() + 1)) return false;
  }
  return true;
}

}  // namespace detail
}  // namespace peer::rtp
