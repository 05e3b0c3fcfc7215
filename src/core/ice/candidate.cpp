#include "core/ice/candidate.hpp"

namespace peer::ice {

std::string_view to_string(CandidateType type) noexcept {
  switch (type) {
    case CandidateType::host: return "host";
    case CandidateType::srflx: return "srflx";
    case CandidateType::prflx: return "prflx";
    case CandidateType::relay: return "relay";
  }
  return "unknown";
}

std::string_view to_string(Transport transport) noexcept {
  switch (transport) {
    case Transport::udp:
      return "udp";
    case Transport::tcp_active:
      return "tcp-active";
    case Transport::tcp_passive:
      return "tcp-passive";
  }
  return "unknown";
}

sdp::Candidate to_sdp(const Candidate& c) {
  sdp::Candidate out;
  out.foundation = c.foundation;
  out.component = 1;
  out.transport = is_tcp(c.transport) ? "tcp" : "udp";
  if (is_tcp(c.transport))
    out.tcp_type = c.transport == Transport::tcp_active ? "active" : "passive";
  out.priority = c.priority;
  out.address = c.address.ip_string();
  out.port = c.address.port;
  out.type = std::string(to_string(c.type));
  // RFC 8839 section 5.1: raddr/rport for every type but host.
  if (c.type != CandidateType::host && !c.related.empty()) {
    out.related_address = c.related.ip_string();
    out.related_port = c.related.port;
  }
  return out;
}

std::optional<Candidate> from_sdp(const sdp::Candidate& in, std::string* why) {
  auto refuse = [&](const char* reason) -> std::optional<Candidate> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (in.component != 1) return refuse("component other than 1 (rtcp-mux is required)");
  Candidate c;
  if (in.transport == "tcp") {
    // RFC 6544 section 4.5: tcptype is required on TCP candidates.
    if (in.tcp_type == "active") {
      c.transport = Transport::tcp_active;
    } else if (in.tcp_type == "passive") {
      c.transport = Transport::tcp_passive;
    } else if (in.tcp_type == "so") {
      return refuse("TCP simultaneous-open (tcptype so) is not supported");
    } else {
      return refuse("TCP without tcptype");
    }
  } else if (in.transport != "udp") {
    return refuse("neither UDP nor TCP");
  }
  auto address = Address::parse(in.address, in.port);
  if (!address) return refuse("the address is not a numeric IPv4 or IPv6 address");
  // An active candidate's port is meaningless (9 by RFC 6544 section 4.5, 0 from some agents).
  if (in.port == 0 && c.transport != Transport::tcp_active) return refuse("port 0");
  if (in.type == "host") {
    c.type = CandidateType::host;
  } else if (in.type == "srflx") {
    c.type = CandidateType::srflx;
  } else if (in.type == "prflx") {
    c.type = CandidateType::prflx;
  } else if (in.type == "relay") {
    c.type = CandidateType::relay;
  } else {
    return refuse("unknown candidate type");
  }
  c.address = *address;
  c.base = *address;  // a remote candidate's base is not ours to know; keep the address
  if (!in.related_address.empty()) {
    if (auto related = Address::parse(in.related_address, in.related_port)) c.related = *related;
  }
  c.priority = in.priority;
  c.foundation = in.foundation;
  return c;
}

}  // namespace peer::ice
