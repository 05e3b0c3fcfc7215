#pragma once
// The SDP model used by WebRTC (RFC 8866 syntax, JSEP RFC 8829 usage), its parser and writer.
//
// The model is attribute-shaped, not codec-shaped: every line a browser writes has a typed
// home, and anything else is kept verbatim (`attributes`, `other_lines`) so a parse/write
// round trip loses nothing the session layer could need. Absent single-valued attributes
// are empty strings / std::nullopt / false; the `effective_*` helpers apply the RFC
// defaults and the session-level fallbacks (Firefox writes a=fingerprint at session level).
//
// parse() throws peer::Error(Errc::bad_sdp) whose message names the line number, the line
// and what was expected. write() produces CRLF lines in the order Chrome uses.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace peer::sdp {

// a=sendrecv / sendonly / recvonly / inactive (RFC 8866 section 6.7; RFC 3264 section 5.1).
enum class Direction { sendrecv, sendonly, recvonly, inactive };
// a=setup (RFC 4145 section 4; DTLS use in RFC 8842 section 5.1).
enum class Setup { actpass, active, passive, holdconn };

std::string_view to_string(Direction d) noexcept;
std::string_view to_string(Setup s) noexcept;
std::optional<Direction> direction_from_string(std::string_view s) noexcept;
std::optional<Setup> setup_from_string(std::string_view s) noexcept;

// An attribute the model has no field for: a=<name>[:<value>] (RFC 8866 section 5.13).
// `value` is nullopt for a property attribute (a=foo) and "" for a=foo: .
struct Attribute {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const Attribute&) const = default;
};

// A line of a type the model does not interpret (i= u= e= p= r= z= k=, or a second t=),
// kept in input order and written back at its RFC 8866 section 5 position.
struct Line {
  char type = 'i';
  std::string value;
  bool operator==(const Line&) const = default;
};

// o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> (5.2).
struct Origin {
  std::string username = "-";
  uint64_t session_id = 0;
  uint64_t session_version = 0;  // JSEP 5.2.2: +1 for every new local description
  std::string net_type = "IN";
  std::string address_type = "IP4";
  std::string address = "127.0.0.1";
  bool operator==(const Origin&) const = default;
};

// c=<nettype> <addrtype> <connection-address> (5.7). JSEP 5.2.1 writes "IN IP4 0.0.0.0".
struct Connection {
  std::string net_type = "IN";
  std::string address_type = "IP4";
  std::string address = "0.0.0.0";
  bool operator==(const Connection&) const = default;
};

// b=<bwtype>:<bandwidth> (5.8), e.g. b=AS:30.
struct Bandwidth {
  std::string type;
  uint64_t value = 0;
  bool operator==(const Bandwidth&) const = default;
};

// t=<start-time> <stop-time> (5.9). WebRTC always writes t=0 0.
struct Timing {
  uint64_t start = 0;
  uint64_t stop = 0;
  bool operator==(const Timing&) const = default;
};

// a=group:<semantics> *(SP <mid>) (RFC 5888 section 5), e.g. BUNDLE (RFC 8843), LS.
struct Group {
  std::string semantics;
  std::vector<std::string> mids;
  bool operator==(const Group&) const = default;
};

// a=msid-semantic: WMS [*|ids...] (draft-ietf-mmusic-msid-05; still written by browsers).
struct MsidSemantic {
  std::string semantic = "WMS";
  std::vector<std::string> ids;
  bool operator==(const MsidSemantic&) const = default;
};

// a=fingerprint:<hash-func> <XX:XX:...> (RFC 8122 section 5). Kept as written; compare the
// algorithm case-insensitively and the hex case-insensitively.
struct Fingerprint {
  std::string algorithm;  // "sha-256"
  std::string value;      // "AB:CD:..."
  bool operator==(const Fingerprint&) const = default;
};

// a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605 section 2.1).
struct Rtcp {
  uint16_t port = 9;
  std::optional<Connection> connection;
  bool operator==(const Rtcp&) const = default;
};

// a=rtpmap:<pt> <encoding>/<clock-rate>[/<channels>] (RFC 8866 section 6.6).
struct RtpMap {
  int payload_type = 0;  // 0..127
  std::string encoding;  // "opus", "VP8", "H264", "rtx" (as written; case-insensitive)
  uint32_t clock_rate = 0;
  std::optional<uint32_t> channels;  // Opus always "2"; Firefox writes "/1" for G722
  bool operator==(const RtpMap&) const = default;
};

// a=fmtp:<pt> <parameters> (RFC 8866 section 6.15). See fmtp_parameters().
struct Fmtp {
  int payload_type = 0;
  std::string parameters;  // "minptime=10;useinbandfec=1"
  bool operator==(const Fmtp&) const = default;
};

// a=rtcp-fb:<pt|*> <type> [<parameter>] (RFC 4585 section 4.2), e.g. "nack pli".
struct RtcpFb {
  std::optional<int> payload_type;  // nullopt means '*' (all formats)
  std::string type;                 // "nack", "ccm", "goog-remb", "transport-cc"
  std::string parameter;            // "", "pli", "fir"; may contain spaces
  bool operator==(const RtcpFb&) const = default;
};

// a=ssrc:<id> <attribute>[:<value>] (RFC 5576 section 4.1), e.g. "cname:abc".
struct Ssrc {
  uint32_t id = 0;
  std::string attribute;  // "cname", "msid"
  std::string value;      // "" when the attribute has no value; may contain spaces
  bool operator==(const Ssrc&) const = default;
};

// a=ssrc-group:<semantics> <ssrc>... (RFC 5576 section 4.2), e.g. FID (RFC 4588), SIM.
struct SsrcGroup {
  std::string semantics;
  std::vector<uint32_t> ssrcs;
  bool operator==(const SsrcGroup&) const = default;
};

// a=msid:<stream-id> [<track-id>] (RFC 8830 section 2). Chrome writes "-" for no stream.
struct Msid {
  std::string stream_id;
  std::string track_id;  // "" when absent
  bool operator==(const Msid&) const = default;
};

// a=extmap:<id>[/<direction>] <uri> [<attributes>] (RFC 8285 section 8).
struct Extmap {
  int id = 0;  // 1-14 one-byte, 16-255 two-byte, 4096-4351 offer-only (RFC 8285 section 5/7)
  std::optional<Direction> direction;
  std::string uri;
  std::string attributes;  // "" when absent; may contain spaces
  bool operator==(const Extmap&) const = default;
};

// One m= section (RFC 8866 section 5.14) with the attributes JSEP uses.
struct Media {
  std::string kind = "application";     // "audio", "video", "application" (kept as written)
  uint16_t port = 9;                    // 9 = discard (JSEP 5.2.1); 0 = rejected or bundle-only
  std::optional<uint16_t> port_count;   // m=<kind> <port>/<count>; not used by WebRTC
  std::string proto = "UDP/DTLS/SCTP";  // "UDP/TLS/RTP/SAVPF", "UDP/DTLS/SCTP", ...
  std::vector<std::string> formats;     // payload types, or "webrtc-datachannel"

  std::vector<Line> other_lines;  // i= and k= lines
  std::optional<Connection> connection;
  std::vector<Bandwidth> bandwidths;

  std::string mid;  // a=mid (RFC 5888 section 4); "" when absent
  std::string ice_ufrag;
  std::string ice_pwd;
  std::vector<std::string> ice_options;  // a=ice-options:trickle (RFC 8840 section 4.1.1)
  std::vector<Fingerprint> fingerprints;
  std::optional<Setup> setup;
  std::optional<Direction> direction;
  bool bundle_only = false;         // RFC 8843 section 6
  bool rtcp_mux = false;            // RFC 5761 section 5.1.3
  bool rtcp_rsize = false;          // RFC 5506 section 5
  bool extmap_allow_mixed = false;  // RFC 8285 section 6 (also valid at session level)
  std::optional<Rtcp> rtcp;
  // Each entry is the attribute text "candidate:..." exactly as received, which is the
  // shape of RTCIceCandidateInit.candidate; see candidate.hpp to interpret it.
  std::vector<std::string> candidates;
  bool end_of_candidates = false;  // RFC 8840 section 8.2

  std::optional<uint16_t> sctp_port;         // RFC 8841 section 5
  std::optional<uint64_t> max_message_size;  // RFC 8841 section 6; see effective_*

  // rtpmaps, fmtps and rtcp_fbs are kept in the order of `formats` (stable within a payload
  // type; entries for payload types not in `formats`, and '*', after them), which is the
  // order write() uses.
  std::vector<RtpMap> rtpmaps;
  std::vector<Fmtp> fmtps;
  std::vector<RtcpFb> rtcp_fbs;
  std::vector<Extmap> extmaps;
  std::vector<Msid> msids;
  std::vector<SsrcGroup> ssrc_groups;
  std::vector<Ssrc> ssrcs;

  std::vector<Attribute> attributes;  // everything else, in input order

  bool operator==(const Media&) const = default;
};

struct Description {
  Origin origin;
  std::string session_name = "-";  // s=
  std::vector<Line> other_lines;   // i= u= e= p= (before c=) and extra t=, r= z= k= (after t=)
  std::optional<Connection> connection;
  std::vector<Bandwidth> bandwidths;
  Timing timing;

  std::vector<Group> groups;  // a=group:BUNDLE 0 1 2
  std::optional<MsidSemantic> msid_semantic;
  bool extmap_allow_mixed = false;
  bool ice_lite = false;  // RFC 8839 section 5.3
  // Session-level defaults for every m= section that lacks its own (RFC 8839 section 5.4,
  // RFC 8122 section 5, RFC 4145 section 4). Firefox writes fingerprint and ice-options here.
  std::string ice_ufrag;
  std::string ice_pwd;
  std::vector<std::string> ice_options;
  std::vector<Fingerprint> fingerprints;
  std::optional<Setup> setup;
  std::optional<Direction> direction;

  std::vector<Attribute> attributes;  // everything else at session level, in input order
  std::vector<Media> media;

  bool operator==(const Description&) const = default;
};

// Parses a session description. Accepts LF or CRLF line ends, a missing final line end,
// blank lines and trailing blanks on a line; rejects anything else RFC 8866 does not allow
// (see parse.cpp for the exact rules). Zero m= sections are accepted: JSEP 5.2.1 lets
// createOffer() run with no transceivers or channels, and browsers produce such offers.
// Throws peer::Error(Errc::bad_sdp).
Description parse(std::string_view text);

// Writes CRLF lines in Chrome's order. A default-constructed field is not written (no
// a=mid when mid is empty, no a=sendrecv when direction is nullopt, ...).
std::string write(const Description& description);

// Inputs larger than this are rejected before parsing (a real description is < 20 KiB).
inline constexpr std::size_t kMaxDescriptionSize = 256 * 1024;

// RFC 8841 section 6: an absent a=max-message-size means 64 KiB. 0 means "no limit".
inline constexpr uint64_t kDefaultMaxMessageSize = 65536;
uint64_t effective_max_message_size(const Media& media) noexcept;

// RFC 3264 section 5.1: a media direction defaults to the session's, which defaults to
// sendrecv.
Direction effective_direction(const Description& description, const Media& media) noexcept;
// Media-level value, else session-level value (RFC 8839 5.4, RFC 8122 5, RFC 4145 4).
const std::string& effective_ice_ufrag(const Description& description, const Media& media);
const std::string& effective_ice_pwd(const Description& description, const Media& media);
const std::vector<std::string>& effective_ice_options(const Description& description,
                                                      const Media& media);
const std::vector<Fingerprint>& effective_fingerprints(const Description& description,
                                                       const Media& media);
std::optional<Setup> effective_setup(const Description& description, const Media& media);

// Lookups; nullptr when absent.
const Media* find_media(const Description& description, std::string_view mid);
const Group* find_group(const Description& description, std::string_view semantics);
const RtpMap* find_rtpmap(const Media& media, int payload_type);
const Fmtp* find_fmtp(const Media& media, int payload_type);

// Splits fmtp parameters "a=1;b=2; c" into {{"a","1"},{"b","2"},{"c",""}}, trimming blanks.
// An item without '=' (telephone-event's "0-15") comes back as {"0-15", ""}. Empty items are
// skipped.
std::vector<std::pair<std::string, std::string>> fmtp_parameters(std::string_view parameters);

}  // namespace peer::sdp
