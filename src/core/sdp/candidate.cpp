#include "core/sdp/candidate.hpp"

#include "core/sdp/text.hpp"
#include "peer/error.hpp"

namespace peer::sdp {

using detail::is_address;
using detail::is_ice_chars;
using detail::parse_uint;
using detail::quote_excerpt;

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(Errc::bad_candidate, "candidate: " + what);
}

[[noreturn]] void bad_field(std::string_view field, std::string_view value,
                            std::string_view expected) {
  fail("bad " + std::string(field) + " " + quote_excerpt(value, 64) + ": expected " +
       std::string(expected));
}

std::string_view trim(std::string_view s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

uint16_t parse_port(std::string_view field, std::string_view v) {
  auto port = parse_uint<uint16_t>(v);
  if (!port) bad_field(field, v, "a number from 0 to 65535");
  return *port;
}

}  // namespace

// RFC 8839 section 5.1:
//   candidate-attribute = "candidate" ":" foundation SP component-id SP transport SP
//                         priority SP connection-address SP port SP cand-type
//                         [SP rel-addr] [SP rel-port] *(SP cand-extension)
// tcptype is a cand-extension defined by RFC 6544 section 4.5; we give it its own field.
Candidate parse_candidate(std::string_view line) {
  if (line.size() > kMaxCandidateSize) {
    fail("line is " + std::to_string(line.size()) + " bytes, more than the " +
         std::to_string(kMaxCandidateSize) + " allowed");
  }
  line = trim(line);
  if (line.empty()) fail("empty line: expected 'candidate:<foundation> ...'");
  if (line.substr(0, 2) == "a=") line.remove_prefix(2);
  constexpr std::string_view kPrefix = "candidate:";
  if (line.substr(0, kPrefix.size()) != kPrefix) {
    fail("line " + quote_excerpt(line) + " does not start with 'candidate:'");
  }
  line.remove_prefix(kPrefix.size());
  for (char c : line) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) fail("control character in " + quote_excerpt(line));
  }

  auto f = detail::split_spaces(line);
  static constexpr std::string_view kFields[] = {"foundation", "component", "transport", "priority",
                                                 "address",    "port",      "'typ'",     "type"};
  if (f.size() < std::size(kFields)) {
    fail("missing " + std::string(kFields[f.size()]) +
         ": expected '<foundation> <component> <transport> <priority> <address> <port> typ "
         "<type>'");
  }

  Candidate c;
  // foundation = 1*32ice-char
  if (f[0].size() > 32 || !is_ice_chars(f[0])) {
    bad_field("foundation", f[0], "1 to 32 characters of ALPHA / DIGIT / '+' / '/'");
  }
  c.foundation = f[0];
  // component-id = 1*3DIGIT, 1..256 (RFC 8445 section 5.1.1.1 caps components at 256)
  auto component = parse_uint<int>(f[1], 256);
  if (!component || *component < 1) bad_field("component", f[1], "a number from 1 to 256");
  c.component = *component;
  // transport = "UDP" / transport-extension; only UDP and TCP (RFC 6544) exist in WebRTC.
  // ABNF strings are case-insensitive: Firefox writes "UDP", Chrome "udp".
  if (detail::iequals(f[2], "udp") || detail::iequals(f[2], "tcp")) {
    c.transport = detail::lowercase(f[2]);
  } else {
    bad_field("transport", f[2], "udp or tcp");
  }
  // priority = 1*10DIGIT. RFC 8445 section 5.1.2 says 1..2^31-1; we accept any 32-bit
  // value so an odd but harmless peer is not refused.
  auto priority = parse_uint<uint32_t>(f[3]);
  if (!priority) bad_field("priority", f[3], "a number from 0 to 4294967295");
  c.priority = *priority;
  if (!is_address(f[4])) bad_field("address", f[4], "an IPv4 or IPv6 address or a host name");
  c.address = f[4];
  c.port = parse_port("port", f[5]);
  if (f[6] != "typ") bad_field("'typ'", f[6], "the word 'typ'");
  std::string type = detail::lowercase(f[7]);
  if (type != "host" && type != "srflx" && type != "prflx" && type != "relay") {
    bad_field("type", f[7], "host, srflx, prflx or relay");
  }
  c.type = std::move(type);

  bool seen_raddr = false, seen_rport = false, seen_tcptype = false;
  for (std::size_t i = std::size(kFields); i < f.size(); i += 2) {
    std::string_view name = f[i];
    if (i + 1 >= f.size()) fail("extension " + quote_excerpt(name, 64) + " has no value");
    std::string_view value = f[i + 1];
    if (name == "raddr") {
      if (seen_raddr) fail("duplicate raddr");
      seen_raddr = true;
      if (!is_address(value)) bad_field("raddr", value, "an IPv4 or IPv6 address or host name");
      c.related_address = value;
    } else if (name == "rport") {
      if (seen_rport) fail("duplicate rport");
      seen_rport = true;
      c.related_port = parse_port("rport", value);
    } else if (name == "tcptype") {
      // RFC 6544 section 4.5: tcp-type = "active" / "passive" / "so"
      if (seen_tcptype) fail("duplicate tcptype");
      seen_tcptype = true;
      if (value != "active" && value != "passive" && value != "so") {
        bad_field("tcptype", value, "active, passive or so");
      }
      c.tcp_type = value;
    } else {
      // extension-att-name / extension-att-value are byte-strings; split_spaces already
      // guarantees they are non-empty and blank-free, and control bytes were refused above.
      c.extensions.emplace_back(name, value);
    }
  }
  return c;
}

std::string write_candidate(const Candidate& c) {
  std::string out = "candidate:";
  out += c.foundation;
  out += ' ';
  out += std::to_string(c.component);
  out += ' ';
  out += c.transport;
  out += ' ';
  out += std::to_string(c.priority);
  out += ' ';
  out += c.address;
  out += ' ';
  out += std::to_string(c.port);
  out += " typ ";
  out += c.type;
  if (!c.related_address.empty()) {
    out += " raddr ";
    out += c.related_address;
  }
  if (!c.related_address.empty() || c.related_port != 0) {
    out += " rport ";
    out += std::to_string(c.related_port);
  }
  if (!c.tcp_type.empty()) {
    out += " tcptype ";
    out += c.tcp_type;
  }
  for (const auto& [name, value] : c.extensions) {
    out += ' ';
    out += name;
    out += ' ';
    out += value;
  }
  return out;
}

}  // namespace peer::sdp
