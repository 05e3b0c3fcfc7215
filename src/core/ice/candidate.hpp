#pragma once
// ICE candidates as the agent works with them (RFC 8445 section 5.1): a typed address, a
// priority and a foundation. sdp::Candidate (core/sdp/candidate.hpp) is the text form on
// the wire; to_sdp()/from_sdp() convert.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/net_address.hpp"
#include "core/sdp/candidate.hpp"

namespace peer::ice {

enum class CandidateType : uint8_t { host, srflx, prflx, relay };
std::string_view to_string(CandidateType type) noexcept;

// Type preferences of RFC 8445 section 5.1.2.2 (the recommended values).
constexpr uint32_t type_preference(CandidateType type) noexcept {
  switch (type) {
    case CandidateType::host: return 126;
    case CandidateType::prflx: return 110;
    case CandidateType::srflx: return 100;
    case CandidateType::relay: return 0;
  }
  return 0;
}

// priority = 2^24 * type preference + 2^8 * local preference + (256 - component id)
// (RFC 8445 section 5.1.2.1). Component is always 1 (BUNDLE and rtcp-mux).
constexpr uint32_t candidate_priority(CandidateType type, uint16_t local_preference) noexcept {
  return (type_preference(type) << 24) | (uint32_t{local_preference} << 8) | (256 - 1);
}

// Pair priority (RFC 8445 section 6.1.2.3), G the controlling agent's candidate priority and
// D the controlled agent's: 2^32 * min(G,D) + 2 * max(G,D) + (G > D ? 1 : 0).
constexpr uint64_t pair_priority(uint32_t controlling, uint32_t controlled) noexcept {
  const uint64_t g = controlling, d = controlled;
  return (std::min(g, d) << 32) + 2 * std::max(g, d) + (g > d ? 1 : 0);
}

struct Candidate {
  CandidateType type = CandidateType::host;
  Address address;  // the transport address (UDP only for now)
  // The base (RFC 8445 section 5.1.1.1): the host address of the socket for host, srflx and
  // prflx candidates; a relay candidate's own relayed address.
  Address base;
  Address related;  // raddr/rport: the base of srflx, the mapped address of relay; empty for host
  uint32_t priority = 0;
  std::string foundation;

  bool operator==(const Candidate&) const = default;
};

// The candidate line ("candidate:..."), with the `ufrag` extension when given (browsers
// use it to tell generations apart across an ICE restart).
sdp::Candidate to_sdp(const Candidate& candidate);
// A remote candidate from its SDP form. nullopt for candidates the agent cannot use: TCP,
// a component other than 1, an address that is a name (mDNS names are resolved by the
// transport first, then given here as an address). The reason goes to `why`.
std::optional<Candidate> from_sdp(const sdp::Candidate& candidate, std::string* why = nullptr);

}  // namespace peer::ice
