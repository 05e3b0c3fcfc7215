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

// How a candidate is reached: UDP, or ICE-TCP (RFC 6544) with its tcptype (section 4.5).
// Simultaneous-open ("so", section 4.5 too) is not implemented: it needs both sides to
// connect at once from the same port, which only helps through NATs that drop the other
// two kinds, and no browser signals it. A remote "so" candidate is refused by from_sdp().
enum class Transport : uint8_t { udp, tcp_active, tcp_passive };
std::string_view to_string(Transport transport) noexcept;  // "udp", "tcp-active", "tcp-passive"
constexpr bool is_tcp(Transport t) noexcept {
  return t != Transport::udp;
}

// Type preferences of RFC 8445 section 5.1.2.2 (the recommended values) for UDP. ICE-TCP
// candidates take lower ones (RFC 6544 section 4.2 leaves the values to the agent, RFC
// 8445 section 5.1.2.2 lets them depend on the transport): host 90 (as Chromium), prflx 80,
// srflx 70, all below a UDP srflx (100), so that any UDP pair but a relayed one beats any
// TCP pair; a direct TCP pair still beats a UDP relay.
constexpr uint32_t type_preference(CandidateType type,
                                   Transport transport = Transport::udp) noexcept {
  const bool tcp = is_tcp(transport);
  switch (type) {
    case CandidateType::host:
      return tcp ? 90 : 126;
    case CandidateType::prflx:
      return tcp ? 80 : 110;
    case CandidateType::srflx:
      return tcp ? 70 : 100;
    case CandidateType::relay: return 0;
  }
  return 0;
}

// RFC 6544 section 4.2: the local preference of a TCP candidate is
// 2^13 * direction-pref + other-pref. Direction preferences as recommended there: host
// candidates active 6, passive 4 (so 2); server-reflexive and peer-reflexive (NAT-assisted)
// ones passive 2, active 4 (so 6). other-pref (0..8191) keeps the order of the hosts: the
// UDP local preference divided by 8.
constexpr uint16_t local_preference(CandidateType type, Transport transport,
                                    uint16_t host_preference) noexcept {
  if (!is_tcp(transport)) return host_preference;
  const bool active = transport == Transport::tcp_active;
  const uint16_t direction = type == CandidateType::host ? (active ? 6 : 4) : (active ? 4 : 2);
  return static_cast<uint16_t>((direction << 13) | (host_preference >> 3));
}

// priority = 2^24 * type preference + 2^8 * local preference + (256 - component id)
// (RFC 8445 section 5.1.2.1; RFC 6544 section 4.2 for TCP). Component is always 1 (BUNDLE
// and rtcp-mux). `local_preference` is the host's (UDP) one; TCP's is derived from it.
constexpr uint32_t candidate_priority(CandidateType type, uint16_t host_preference,
                                      Transport transport = Transport::udp) noexcept {
  return (type_preference(type, transport) << 24) |
         (uint32_t{local_preference(type, transport, host_preference)} << 8) | (256 - 1);
}

// Pair priority (RFC 8445 section 6.1.2.3), G the controlling agent's candidate priority and
// D the controlled agent's: 2^32 * min(G,D) + 2 * max(G,D) + (G > D ? 1 : 0).
constexpr uint64_t pair_priority(uint32_t controlling, uint32_t controlled) noexcept {
  const uint64_t g = controlling, d = controlled;
  return (std::min(g, d) << 32) + 2 * std::max(g, d) + (g > d ? 1 : 0);
}

struct Candidate {
  CandidateType type = CandidateType::host;
  Transport transport = Transport::udp;
  // The transport address. An active TCP candidate's port is 9 (RFC 6544 section 4.5: it
  // connects from an ephemeral port, never listens); its base has port 0.
  Address address;
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
// A remote candidate from its SDP form. nullopt for candidates the agent cannot use: TCP
// without tcptype or with tcptype "so", a component other than 1, an address that is a name (mDNS
// names are resolved by the transport first, then given here as an address). The reason goes to
// `why`.
std::optional<Candidate> from_sdp(const sdp::Candidate& candidate, std::string* why = nullptr);

}  // namespace peer::ice
