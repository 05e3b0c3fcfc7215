#pragma once
// ICE server configuration: STUN and TURN servers as browsers take them (RTCIceServer).

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace peer::ice {

struct IceServer {
  enum class Type { stun, turn, turns } type = Type::stun;
  std::string host;  // a hostname or a numeric IP (IPv6 without brackets)
  std::uint16_t port = 3478;
  // How we reach the server: turn defaults to udp, turns is TLS over tcp. The relayed
  // candidate itself is always UDP (RFC 8656).
  enum class Transport { udp, tcp } transport = Transport::udp;
  std::string username, credential;  // TURN long-term credentials (RFC 8489 section 9.2)
  // turns: check the server's certificate chain (OpenSSL's default trust store, which
  // SSL_CERT_FILE and SSL_CERT_DIR override) and that it names `host`. False only with
  // "tlsCertPolicy": "insecureNoCheck" (libwebrtc's native name for the same switch).
  bool verify_certificate = true;

  bool operator==(const IceServer&) const = default;
};

// Parses browser RTCIceServer shapes (W3C webrtc-pc section 4.2.1):
//   [{"urls": "stun:host" | ["turn:host", ...], "username": "u", "credential": "p"}, ...]
//   ["stun:host", ...]      {"urls": ...}      "stun:host"
// URLs follow RFC 7064 (stun:host[:port]) and RFC 7065 (turn[s]:host[:port][?transport=udp|tcp]);
// default ports 3478 (stun, turn) and 5349 (turns); IPv6 hosts in brackets. "stuns:" and
// "turns:...?transport=udp" (DTLS) are rejected: our agent does not speak them. "turns:" is
// TURN over TLS (agent_transport.hpp). An entry may carry "tlsCertPolicy": "secure"
// (default) or "insecureNoCheck" (libwebrtc's PeerConnectionInterface::TlsCertPolicy names).
// Messages never show a credential (it is printed as "***").
// Throws peer::Error(Errc::invalid_argument) naming the offending url and what is wrong, e.g.
// a turn url without username and credential.
std::vector<IceServer> parse_ice_servers(const nlohmann::json& servers);

// "turn:127.0.0.1:3478?transport=udp" style, for messages and logs (no credentials).
std::string to_string(const IceServer& server);

}  // namespace peer::ice
