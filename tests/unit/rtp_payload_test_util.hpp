#pragma once
// Helpers shared by the payload format tests (rtp_payload_*_test.cpp) of unit_rtp: RTP
// packets around payloads, so that the is_complete_*_frame() checks see real views.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/rtp/rtp.hpp"

namespace peer::rtp::test {

// Owns RTP packets built around payloads, and views of them in order.
struct RtpRun {
  std::vector<std::vector<std::byte>> packets;
  std::vector<RtpView> views;

  void add(std::span<const std::byte> payload, bool marker, uint16_t sequence,
           uint32_t timestamp) {
    std::vector<std::byte> packet(kRtpHeaderSize + payload.size());
    const RtpHeader h{marker, 96, sequence, timestamp, 0x1234, {}};
    const auto n = write_rtp(packet, h, {}, payload);
    packet.resize(n ? *n : 0);
    packets.push_back(std::move(packet));
    views.clear();  // the packets may have moved: view them again
    for (const auto& p : packets) views.push_back(*parse_rtp(p));
  }
};

// A frame's payloads as (bytes, marker) in order, kept for a later look.
struct Payloads {
  std::vector<std::vector<std::byte>> bytes;
  std::vector<bool> markers;
  std::vector<std::span<const std::byte>> spans() const {
    return {bytes.begin(), bytes.end()};
  }
  // RTP packets of one timestamp from sequence `first` on, the markers as packetized.
  RtpRun rtp(uint16_t first = 65534, uint32_t timestamp = 90000) const {
    RtpRun run;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      run.add(bytes[i], markers[i], static_cast<uint16_t>(first + i), timestamp);
    }
    return run;
  }
};

// Runs a packetizer through packetize_all() into a Payloads.
template <class Packetizer>
Payloads collect(Packetizer& packetizer, std::size_t max_payload) {
  Payloads out;
  std::vector<std::byte> scratch(max_payload);
  const auto error = packetize_all(packetizer, scratch,
                                   [&](std::span<const std::byte> payload, bool marker) {
                                     out.bytes.emplace_back(payload.begin(), payload.end());
                                     out.markers.push_back(marker);
                                   });
  if (error) out.bytes.clear();
  return out;
}

}  // namespace peer::rtp::test
