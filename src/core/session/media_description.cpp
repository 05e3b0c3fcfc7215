#include "core/session/media_description.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace peer::session {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string fmtp_value(std::string_view parameters, std::string_view key) {
  for (const auto& [k, v] : sdp::fmtp_parameters(parameters)) {
    if (iequals(k, key)) return v;
  }
  return {};
}

const std::vector<std::string> kVideoFeedback = {"goog-remb", "ccm fir", "nack", "nack pli"};

// H264 (RFC 6184 section 8.1): we packetize mode 1 only, and decode nothing ourselves, so
// any profile is carried; the profile-level-id we offer is constrained baseline 3.1, what
// browsers always support.
bool h264_compatible(std::string_view fmtp) {
  const std::string mode = fmtp_value(fmtp, "packetization-mode");
  return mode == "1";
}

// Does an offered/answered codec match one of ours? Name and clock rate, channels for
// audio, and the format parameters that change the bitstream.
bool same_codec(const Codec& ours, const sdp::RtpMap& theirs, std::string_view their_fmtp) {
  if (!iequals(ours.name, theirs.encoding) || ours.clock_rate != theirs.clock_rate) return false;
  if (ours.channels && theirs.channels.value_or(1) != *ours.channels) return false;
  if (iequals(ours.name, "H264")) return h264_compatible(their_fmtp);
  return true;
}

std::vector<std::string> feedback_of(const sdp::Media& m, int payload_type) {
  std::vector<std::string> out;
  for (const auto& fb : m.rtcp_fbs) {
    if (fb.payload_type && *fb.payload_type != payload_type) continue;
    out.push_back(fb.parameter.empty() ? fb.type : fb.type + " " + fb.parameter);
  }
  return out;
}

// The agreed codecs of `m` (the side whose payload types are used), ours in its order.
std::vector<Codec> common_codecs(const sdp::Media& m, MediaKind kind, bool keep_their_fmtp) {
  std::vector<Codec> out;
  for (const auto& format : m.formats) {
    int pt = -1;
    try {
      pt = std::stoi(format);
    } catch (const std::exception&) {
      continue;
    }
    const sdp::RtpMap* map = sdp::find_rtpmap(m, pt);
    if (map == nullptr) continue;  // static payload types (0 PCMU, ...): not ours
    const sdp::Fmtp* fmtp = sdp::find_fmtp(m, pt);
    const std::string their_fmtp = fmtp ? fmtp->parameters : std::string();
    for (const Codec& ours : supported_codecs(kind)) {
      if (!same_codec(ours, *map, their_fmtp)) continue;
      Codec c = ours;
      c.payload_type = pt;
      c.name = map->encoding;
      if (keep_their_fmtp) c.fmtp = their_fmtp;
      const auto theirs = feedback_of(m, pt);
      std::erase_if(c.feedback, [&](const std::string& f) { return std::find(theirs.begin(), theirs.end(), f) == theirs.end(); });
      // Two payload types may map to one of our codecs (H264 profiles): keep the first.
      const bool seen = std::any_of(out.begin(), out.end(), [&](const Codec& o) { return iequals(o.name, c.name); });
      if (!seen || iequals(c.name, "H264")) out.push_back(std::move(c));
      break;
    }
  }
  return out;
}

Extensions common_extensions(const sdp::Media& m) {
  Extensions e{0, 0};
  for (const auto& x : m.extmaps) {
    if (x.direction == sdp::Direction::inactive) continue;
    if (x.uri == kMidExtension && x.id >= 1 && x.id <= 14) e.mid = x.id;
    if (x.uri == kAbsSendTimeExtension && x.id >= 1 && x.id <= 14) e.abs_send_time = x.id;
  }
  return e;
}

void read_remote_sender(const sdp::Media& m, NegotiatedMedia& n) {
  std::vector<std::uint32_t> secondary;  // RTX/FEC: the second SSRC of an FID/FEC-FR group
  for (const auto& g : m.ssrc_groups) {
    if (g.ssrcs.size() >= 2) secondary.insert(secondary.end(), g.ssrcs.begin() + 1, g.ssrcs.end());
  }
  for (const auto& s : m.ssrcs) {
    if (std::find(secondary.begin(), secondary.end(), s.id) != secondary.end()) continue;
    if (std::find(n.remote_ssrcs.begin(), n.remote_ssrcs.end(), s.id) == n.remote_ssrcs.end()) {
      n.remote_ssrcs.push_back(s.id);
    }
  }
  if (!m.msids.empty()) {
    n.remote_stream_id = m.msids.front().stream_id;
    n.remote_track_id = m.msids.front().track_id;
  }
}

bool is_rtp_savpf(const sdp::Media& m) {
  // JSEP 5.1.2: UDP/TLS/RTP/SAVPF, also TCP/DTLS/RTP/SAVPF and the older RTP/SAVPF.
  return m.proto.find("RTP/SAVPF") != std::string::npos;
}

}  // namespace

bool named(const Codec& codec, std::string_view name) noexcept { return iequals(codec.name, name); }

std::string_view to_string(MediaKind kind) noexcept { return kind == MediaKind::audio ? "audio" : "video"; }

std::optional<MediaKind> media_kind(std::string_view kind) noexcept {
  if (kind == "audio") return MediaKind::audio;
  if (kind == "video") return MediaKind::video;
  return std::nullopt;
}

const std::vector<Codec>& supported_codecs(MediaKind kind) {
  static const std::vector<Codec> video = {
      {"VP8", 96, 90000, std::nullopt, "", kVideoFeedback},
      {"H264", 102, 90000, std::nullopt, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
       kVideoFeedback},
  };
  // RFC 7587 section 7: opus/48000/2 whatever is sent; useinbandfec as browsers do.
  static const std::vector<Codec> audio = {
      {"opus", 111, 48000, 2, "minptime=10;useinbandfec=1", {}},
  };
  return kind == MediaKind::audio ? audio : video;
}

sdp::Media media_section(const LocalTransport& local, const LocalMedia& media) {
  sdp::Media m;
  m.kind = std::string(to_string(media.kind));
  m.port = 9;  // JSEP 5.2.1
  m.proto = "UDP/TLS/RTP/SAVPF";
  m.connection = sdp::Connection{};
  m.rtcp = sdp::Rtcp{9, sdp::Connection{}};
  m.mid = media.mid;
  m.ice_ufrag = local.ice_ufrag;
  m.ice_pwd = local.ice_pwd;
  m.ice_options = {"trickle"};
  m.fingerprints = {sdp::Fingerprint{"sha-256", local.fingerprint}};
  m.setup = sdp::setup_from_string(local.setup);
  m.direction = media.direction;
  m.rtcp_mux = true;    // RFC 8829 section 5.2.1: always offered; we require it
  m.rtcp_rsize = true;  // RFC 5506
  if (media.extensions.mid != 0) m.extmaps.push_back({media.extensions.mid, std::nullopt, std::string(kMidExtension), ""});
  if (media.extensions.abs_send_time != 0) {
    m.extmaps.push_back({media.extensions.abs_send_time, std::nullopt, std::string(kAbsSendTimeExtension), ""});
  }
  for (const Codec& c : media.codecs) {
    m.formats.push_back(std::to_string(c.payload_type));
    m.rtpmaps.push_back({c.payload_type, c.name, c.clock_rate, c.channels});
    for (const auto& f : c.feedback) {
      const auto space = f.find(' ');
      m.rtcp_fbs.push_back({c.payload_type, f.substr(0, space), space == std::string::npos ? "" : f.substr(space + 1)});
    }
    if (!c.fmtp.empty()) m.fmtps.push_back({c.payload_type, c.fmtp});
  }
  const bool sends = media.direction == sdp::Direction::sendrecv || media.direction == sdp::Direction::sendonly;
  if (sends && media.ssrc != 0) {
    m.msids.push_back({media.stream_id, media.track_id});
    m.ssrcs.push_back({media.ssrc, "cname", media.cname});
    m.ssrcs.push_back({media.ssrc, "msid", media.stream_id + " " + media.track_id});
  }
  return m;
}

std::optional<NegotiatedMedia> negotiate_offered(const sdp::Media& offered, int mline_index, bool we_send,
                                                 bool we_receive, std::string* why) {
  const auto fail = [&](std::string reason) -> std::optional<NegotiatedMedia> {
    if (why) *why = fmt::format("m= section {} (mid \"{}\"): {}", mline_index, offered.mid, reason);
    return std::nullopt;
  };
  const auto kind = media_kind(offered.kind);
  if (!kind) return fail("not audio or video");
  if (offered.port == 0 && !offered.bundle_only) return fail("rejected by the offerer (port 0)");
  if (!is_rtp_savpf(offered)) return fail("protocol " + offered.proto + " is not RTP/SAVPF (RFC 8829 section 5.1.2)");
  if (!offered.rtcp_mux) return fail("no a=rtcp-mux (RFC 8829 section 5.1.3 requires it)");
  NegotiatedMedia n;
  n.mid = offered.mid;
  n.mline_index = mline_index;
  n.kind = *kind;
  n.codecs = common_codecs(offered, *kind, true);
  if (n.codecs.empty()) return fail("no codec in common (peer takes VP8, H264 packetization-mode 1 and Opus)");
  n.extensions = common_extensions(offered);
  n.rtcp_rsize = offered.rtcp_rsize;
  // RFC 3264 section 6.1: we may send only what the offerer receives, and receive what it sends.
  const auto theirs = offered.direction.value_or(sdp::Direction::sendrecv);
  const bool they_send = theirs == sdp::Direction::sendrecv || theirs == sdp::Direction::sendonly;
  const bool they_receive = theirs == sdp::Direction::sendrecv || theirs == sdp::Direction::recvonly;
  const bool send = we_send && they_receive;
  const bool receive = we_receive && they_send;
  n.direction = send && receive ? sdp::Direction::sendrecv
                : send          ? sdp::Direction::sendonly
                : receive       ? sdp::Direction::recvonly
                                : sdp::Direction::inactive;
  if (they_send) read_remote_sender(offered, n);
  return n;
}

std::optional<NegotiatedMedia> negotiate_answered(const sdp::Media& offered, const sdp::Media& answer,
                                                  int mline_index, std::string* why) {
  const auto fail = [&](std::string reason) -> std::optional<NegotiatedMedia> {
    if (why) *why = fmt::format("m= section {} (mid \"{}\"): {}", mline_index, offered.mid, reason);
    return std::nullopt;
  };
  const auto kind = media_kind(offered.kind);
  if (!kind || answer.kind != offered.kind) return fail("the answer changed the kind to " + answer.kind);
  if (answer.port == 0 && !answer.bundle_only) return fail("rejected by the answerer (port 0)");
  NegotiatedMedia n;
  n.mid = offered.mid;
  n.mline_index = mline_index;
  n.kind = *kind;
  // The answer lists a subset of our payload types (RFC 3264 section 6.1); keep those we
  // offered with the same codec.
  for (Codec& c : common_codecs(answer, *kind, true)) {
    const sdp::RtpMap* ours = sdp::find_rtpmap(offered, c.payload_type);
    if (ours != nullptr && iequals(ours->encoding, c.name)) n.codecs.push_back(std::move(c));
  }
  if (n.codecs.empty()) return fail("the answer names no codec we offered");
  n.extensions = common_extensions(answer);
  const Extensions offered_ext = common_extensions(offered);
  if (n.extensions.mid != offered_ext.mid) n.extensions.mid = 0;  // ids must be the offer's
  if (n.extensions.abs_send_time != offered_ext.abs_send_time) n.extensions.abs_send_time = 0;
  n.rtcp_rsize = offered.rtcp_rsize && answer.rtcp_rsize;
  // Our direction is the mirror of the answer's.
  switch (answer.direction.value_or(sdp::Direction::sendrecv)) {
    case sdp::Direction::sendrecv: n.direction = offered.direction.value_or(sdp::Direction::sendrecv); break;
    case sdp::Direction::sendonly: n.direction = sdp::Direction::recvonly; break;
    case sdp::Direction::recvonly: n.direction = sdp::Direction::sendonly; break;
    case sdp::Direction::inactive: n.direction = sdp::Direction::inactive; break;
  }
  const auto theirs = answer.direction.value_or(sdp::Direction::sendrecv);
  if (theirs == sdp::Direction::sendrecv || theirs == sdp::Direction::sendonly) read_remote_sender(answer, n);
  return n;
}

LocalMedia answer_media(const NegotiatedMedia& negotiated, const LocalMedia& sender) {
  LocalMedia m = sender;
  m.mid = negotiated.mid;
  m.kind = negotiated.kind;
  m.direction = negotiated.direction;
  m.codecs = negotiated.codecs;
  m.extensions = negotiated.extensions;
  return m;
}

}  // namespace peer::session
