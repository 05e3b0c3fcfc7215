#pragma once
// ICE candidate lines (RFC 8839 section 5.1 grammar, RFC 8445 section 5.1 semantics,
// RFC 6544 section 4.5 for tcptype).
//
//   candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
//             [raddr <address>] [rport <port>] *(<extension-name> <extension-value>)
//
// e.g. "candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 192.168.1.10
//       rport 54321 generation 0 ufrag EsAw network-id 1 network-cost 10"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace peer::sdp {

struct Candidate {
  std::string foundation;         // 1-32 ice-chars (ALPHA / DIGIT / "+" / "/")
  int component = 1;              // 1 = RTP (the only one with rtcp-mux and BUNDLE), 2 = RTCP
  std::string transport = "udp";  // "udp" or "tcp", lowercased
  uint32_t priority = 0;
  std::string address;  // IPv4, IPv6 or an FQDN such as an mDNS "<uuid>.local" name
  uint16_t port = 0;
  std::string type = "host";    // "host", "srflx", "prflx", "relay", lowercased
  std::string related_address;  // raddr; "" when absent
  uint16_t related_port = 0;    // rport; 0 when absent
  std::string tcp_type;         // "active", "passive", "so"; "" when absent
  // Other name/value pairs in order: generation, ufrag, network-id, network-cost, ...
  std::vector<std::pair<std::string, std::string>> extensions;

  bool operator==(const Candidate&) const = default;
};

// Accepts "candidate:..." or "a=candidate:..." (surrounding blanks and a line end are
// ignored). Throws peer::Error(Errc::bad_candidate) naming the bad field. An empty string
// (the browser's end-of-candidates signal) is rejected too: callers handle it first.
Candidate parse_candidate(std::string_view line);

// "candidate:..." without the a= prefix; raddr/rport/tcptype come before other extensions.
std::string write_candidate(const Candidate& candidate);

// Lines longer than this are rejected (real ones are < 200 bytes).
inline constexpr std::size_t kMaxCandidateSize = 4096;

}  // namespace peer::sdp
