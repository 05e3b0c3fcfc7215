#pragma once
// JSEP (RFC 8829) for audio and video m= sections: what peer offers, how it answers an
// offered section, and what an answer to our offer agreed. Pure functions over the SDP
// model: no I/O. The transport parts (ICE, DTLS, BUNDLE) are transport_description.hpp's.
//
// Codecs: VP8 (RFC 7741), H264 packetization-mode 1 (RFC 6184, constrained baseline),
// Opus (RFC 7587). RTX (RFC 4588), FEC and simulcast are not offered or accepted, so a
// browser neither sends nor expects them. Feedback: nack, nack pli, ccm fir (RFC 4585,
// RFC 5104) and goog-remb, which obliges the receiver to send REMB. transport-cc is not
// accepted: a browser that negotiates it expects transport feedback, and its send-side
// bandwidth estimate collapses without it.
// Header extensions (RFC 8285): mid (RFC 8843 section 15.2, to route BUNDLEd packets) and
// abs-send-time.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sdp/description.hpp"
#include "core/session/transport_description.hpp"

namespace peer::session {

enum class MediaKind { audio, video };
std::string_view to_string(MediaKind kind) noexcept;
std::optional<MediaKind> media_kind(std::string_view kind) noexcept;

struct Codec {
  std::string name;  // "VP8", "H264", "opus" (as written by the side whose payload type it is)
  int payload_type = 0;
  std::uint32_t clock_rate = 0;
  std::optional<std::uint32_t> channels;  // Opus: 2 (RFC 7587 section 7)
  std::string fmtp;                       // "" when none
  std::vector<std::string> feedback;      // "nack", "nack pli", "ccm fir", "goog-remb"
  bool operator==(const Codec&) const = default;
};

// The codec's encoding name is `name` (case-insensitive, as SDP writes it: RFC 8866 6.6).
bool named(const Codec& codec, std::string_view name) noexcept;

// What peer sends and receives, best first, with the payload types it offers.
const std::vector<Codec>& supported_codecs(MediaKind kind);

inline constexpr std::string_view kMidExtension = "urn:ietf:params:rtp-hdrext:sdes:mid";
inline constexpr std::string_view kAbsSendTimeExtension = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";

// Negotiated header extension ids; 0 = not negotiated.
struct Extensions {
  int mid = 0;
  int abs_send_time = 0;
  bool operator==(const Extensions&) const = default;
};

// Our side of one audio or video m= section.
struct LocalMedia {
  std::string mid;
  MediaKind kind = MediaKind::video;
  sdp::Direction direction = sdp::Direction::sendrecv;
  // When we send (direction sendrecv or sendonly): a=msid and a=ssrc (RFC 8830, RFC 5576).
  std::string stream_id;
  std::string track_id;
  std::string cname;
  std::uint32_t ssrc = 0;
  std::vector<Codec> codecs;  // an offer: supported_codecs(kind); an answer: the agreed ones
  Extensions extensions{1, 2};
};

// The m= section for `media` with our transport attributes (bundled: every section carries
// the same ufrag, pwd and fingerprint, RFC 8843 section 7.1.3).
sdp::Media media_section(const LocalTransport& local, const LocalMedia& media);

// What one side and the other agreed for one section.
struct NegotiatedMedia {
  std::string mid;
  int mline_index = 0;
  MediaKind kind = MediaKind::video;
  sdp::Direction direction = sdp::Direction::inactive;  // ours
  // Agreed codecs, in the offerer's order of preference, with the payload types both use
  // (an answer reuses the offer's, RFC 3264 section 6.1).
  std::vector<Codec> codecs;
  Extensions extensions;
  // The remote's sender, when it sends: its primary SSRCs (a=ssrc, without those that are
  // only the second of an FID group) and a=msid.
  std::vector<std::uint32_t> remote_ssrcs;
  std::string remote_stream_id;
  std::string remote_track_id;
  bool rtcp_rsize = false;  // reduced-size RTCP both ways (RFC 5506 section 5)
  bool sends() const { return direction == sdp::Direction::sendrecv || direction == sdp::Direction::sendonly; }
  bool receives() const { return direction == sdp::Direction::sendrecv || direction == sdp::Direction::recvonly; }
};

// Answers an offered audio/video section (RFC 3264 section 6.1, JSEP 5.3.1): codecs we
// support in the offer's order and payload types, feedback both support, extensions we use
// with the offer's ids, and our direction from the offered one and whether we send and
// receive. nullopt, with `why` set, when the section cannot be accepted (not RTP/SAVPF, no
// common codec, rejected by the offerer): answer it with port 0.
std::optional<NegotiatedMedia> negotiate_offered(const sdp::Media& offered, int mline_index, bool we_send,
                                                 bool we_receive, std::string* why);

// What the remote's answer agreed to our offered section. nullopt, with `why`, when the
// answer rejected it (port 0) or named no codec we offered.
std::optional<NegotiatedMedia> negotiate_answered(const sdp::Media& offered, const sdp::Media& answer,
                                                  int mline_index, std::string* why);

// `negotiated` as our side of the answer section.
LocalMedia answer_media(const NegotiatedMedia& negotiated, const LocalMedia& sender);

}  // namespace peer::session
