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

// An offer: the given audio/video sections (media_description.hpp's media_section), then
// one m=application section (UDP/DTLS/SCTP webrtc-datachannel) with mid `data_mid`, all in
// one BUNDLE group, ICE trickle announced (RFC 8838 section 4.1.1).
sdp::Description make_offer(const LocalTransport& local, const std::vector<sdp::Media>& media = {},
                            const std::string& data_mid = "0");

// An answer to `offer`: the first m=application section is accepted with our transport,
// the audio/video sections given in `accepted` (by m-line index) take those sections, and
// any other section is rejected with port 0 (RFC 8829 section 5.3.1); BUNDLE groups the
// accepted mids. Throws Error(bad_sdp) when nothing in the offer can be accepted.
sdp::Description make_answer(const sdp::Description& offer, const LocalTransport& local,
                             const std::vector<std::pair<int, sdp::Media>>& accepted = {});

// The index of the section data channels go on: the first m=application UDP/DTLS/SCTP
// section that is not rejected (port 0 unless bundle-only); -1 when there is none.
int data_section(const sdp::Description& description);
// The section the transport is read from: the data section, else the first RTP/SAVPF
// section that is not rejected; -1 when there is none.
int transport_section(const sdp::Description& description);

// The remote side's transport, from its data section (data_section()), falling back to
// session-level attributes as Firefox writes them.
struct RemoteTransport {
  std::string mid;
  int mline_index = 0;
  // Every mid that shares the transport (the remote's BUNDLE group holding `mid`): browsers
  // trickle candidates with the mid of the group's first section, e.g. an audio "0".
  std::vector<std::string> bundle_mids;
  std::string ice_ufrag;
  std::string ice_pwd;
  std::string fingerprint_algorithm;  // lower case, e.g. "sha-256"
  std::string fingerprint;
  // "actpass", "active" or "passive"; when absent, RFC 4145 section 4's default: "active"
  // in an offer, "passive" in an answer.
  std::string setup;
  std::vector<std::string> candidates;
  bool end_of_candidates = false;
  std::uint64_t max_message_size = 65536;  // absent means 65536 (RFC 8841 section 6)
  std::uint16_t sctp_port = 5000;          // a=sctp-port (RFC 8841 section 5)
  bool has_data = false;
};
// `is_offer` selects the a=setup default. Throws Error(bad_sdp) when there is no usable
// section (transport_section) or it lacks ICE credentials or a fingerprint. `has_data`
// says whether that description carries a data section.
RemoteTransport remote_transport(const sdp::Description& description, bool is_offer);

// Adds gathered candidates and a=end-of-candidates to the bundled section (the `ready`
// description, for signaling without trickle).
void add_candidates(sdp::Description& description, const std::vector<std::string>& candidates);

// Our DTLS role as offerer: the opposite of what the answer chose (RFC 8842 section 5.3).
dtls::Role offerer_role(const RemoteTransport& answer);

}  // namespace peer::session
