#pragma once
// Shared by fuzz_vp8 and fuzz_h264: an input cut into RTP payloads, and a loud death.
//
// Input layout: [budget byte] then payloads each as [length byte][that many bytes] (a
// length past the end takes what is left). The budget byte picks a max payload size for
// the packetizer half of each target.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/rtp/payload_common.hpp"

namespace peer::rtp::fuzz {

[[noreturn]] inline void die(const char* target, const char* what) {
  std::fprintf(stderr, "%s: %s\n", target, what);
  std::abort();
}

inline std::vector<std::span<const std::byte>> split_payloads(std::span<const std::byte> in) {
  std::vector<std::span<const std::byte>> out;
  while (!in.empty()) {
    const std::size_t n = std::min<std::size_t>(std::to_integer<uint8_t>(in[0]), in.size() - 1);
    out.push_back(in.subspan(1, n));
    in = in.subspan(1 + n);
  }
  return out;
}

// Runs a packetizer to its end and keeps its payloads; dies (naming `target`) when one is
// over the budget, comes after the marker, fails is_valid(payload), or when the run fails,
// ends without a marker or gives another count than packet_count().
template <class Packetizer, class Valid>
std::vector<std::vector<std::byte>> packetize(const char* target, Packetizer packetizer,
                                              std::size_t max_payload, Valid is_valid) {
  std::vector<std::vector<std::byte>> payloads;
  std::vector<std::byte> scratch(max_payload);
  bool marker_seen = false;
  const std::size_t count = packetizer.packet_count();
  const auto error =
      packetize_all(packetizer, scratch, [&](std::span<const std::byte> p, bool marker) {
        if (p.size() > max_payload) die(target, "payload over the budget");
        if (marker_seen) die(target, "a payload after the marker");
        if (!is_valid(p)) die(target, "the packetizer wrote a payload its parser rejects");
        marker_seen = marker;
        payloads.emplace_back(p.begin(), p.end());
      });
  if (error || !marker_seen || payloads.size() != count)
    die(target, "packetizer failed, lost its marker or miscounted");
  return payloads;
}

inline bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace peer::rtp::fuzz
