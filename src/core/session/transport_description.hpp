#pragma once
// JSEP (RFC 8829) for the one BUNDLE transport of a peer: building our offer or answer,
// and reading the remote description's transport parameters. Pure functions: no I/O.

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtls/dtls_endpoint.hpp"
#include "core/sdp/description.hpp"

namespace peer::session {

// What our description says about our transport.
struct LocalTransport {
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint;       // sha-256, "AB:CD:..."
  std::string setup;             // "actpass" (offer), "active" or "passive" (answer)
  std::uint64_t session_id = 0;  // o= line (RFC 8866 section 5.2)
  std::uint64_t session_version = 1;
  std::uint16_t sctp_port = 5000;           // RFC 8841 section 5; browsers use 5000
  std::uint64_t max_message_size = 262144;  // what we accept (RFC 8841 section 6)
  std::vector<std::string> candidates;      // "candidate:..." lines to include (non-trickle)
  bool end_of_candidates = false;
};

// An offer with one m=application section (UDP/DTLS/SCTP webrtc-datachannel, mid "0") in a
// BUNDLE group, ICE trickle announced (RFC 8838 section 4.1.1).
sdp::Description make_offer(const LocalTransport& local);

// An answer to `offer`: the first m=application section is accepted with our transport;
// any other section (media comes with its issue) is rejected with port 0 (RFC 8829
// section 5.3.1), and BUNDLE groups only the accepted mid.
// Throws Error(bad_sdp) when the offer has no m=application section we can accept.
sdp::Description make_answer(const sdp::Description& offer, const LocalTransport& local);

// The remote side's transport, from the section we bundle on (the first one that is not
// rejected), falling back to session-level attributes as Firefox writes them.
struct RemoteTransport {
  std::string mid;
  int mline_index = 0;
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint_algorithm;  // lower case, e.g. "sha-256"
  std::string fingerprint;
  std::string setup;  // "actpass", "active", "passive" (empty if absent)
  std::vector<std::string> candidates;
  bool end_of_candidates = false;
  std::uint64_t max_message_size = 65536;  // absent means 65536 (RFC 8841 section 6)
};
// Throws Error(bad_sdp) naming what is missing (ICE credentials, fingerprint, a usable
// section) or wrong (setup:holdconn, an unknown setup value in an answer...).
RemoteTransport remote_transport(const sdp::Description& description);

// Adds gathered candidates and a=end-of-candidates to the bundled section (the `ready`
// description, for signaling without trickle).
void add_candidates(sdp::Description& description, const std::vector<std::string>& candidates);

// Our DTLS role from the other side's a=setup (RFC 8842 section 5): the offerer (actpass)
// takes the opposite of what the answer chose.
dtls::Role offerer_role(const RemoteTransport& answer);

}  // namespace peer::session
