#include "core/session/transport_description.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "peer/error.hpp"

namespace peer::session {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The one m=application section we carry data channels on (RFC 8841 section 4).
sdp::Media application_section(const LocalTransport& local, std::string mid) {
  sdp::Media m;
  m.kind = "application";
  m.port = 9;  // JSEP 5.2.1: the discard port until candidates are known
  m.proto = "UDP/DTLS/SCTP";
  m.formats = {"webrtc-datachannel"};
  m.connection = sdp::Connection{};
  m.mid = std::move(mid);
  m.ice_ufrag = local.ice_ufrag;
  m.ice_pwd = local.ice_pwd;
  m.ice_options = {"trickle"};  // RFC 8840 section 4.1.1
  m.fingerprints = {sdp::Fingerprint{"sha-256", local.fingerprint}};
  m.setup = sdp::setup_from_string(local.setup);
  m.sctp_port = local.sctp_port;
  m.max_message_size = local.max_message_size;
  m.candidates = local.candidates;
  m.end_of_candidates = local.end_of_candidates;
  return m;
}

sdp::Description session_skeleton(const LocalTransport& local) {
  sdp::Description d;
  d.origin.session_id = local.session_id;
  d.origin.session_version = local.session_version;
  d.msid_semantic = sdp::MsidSemantic{"WMS", {}};
  return d;
}

}  // namespace

sdp::Description make_offer(const LocalTransport& local) {
  sdp::Description d = session_skeleton(local);
  d.media.push_back(application_section(local, "0"));
  d.groups.push_back(sdp::Group{"BUNDLE", {"0"}});  // RFC 8843 section 7.2
  return d;
}

sdp::Description make_answer(const sdp::Description& offer, const LocalTransport& local) {
  sdp::Description d = session_skeleton(local);
  bool accepted = false;
  for (const auto& m : offer.media) {
    const bool data = m.kind == "application" && m.proto.find("SCTP") != std::string::npos &&
                      m.port != 0 && !accepted;
    if (data) {
      d.media.push_back(application_section(local, m.mid));
      d.groups.push_back(sdp::Group{"BUNDLE", {m.mid}});
      accepted = true;
      continue;
    }
    // RFC 8829 section 5.3.1: a section we do not take is answered with port 0 and the
    // same kind, protocol and mid; media sections come with the media issue.
    sdp::Media rejected;
    rejected.kind = m.kind;
    rejected.port = 0;
    rejected.proto = m.proto;
    rejected.formats = m.formats;
    rejected.connection = sdp::Connection{};
    rejected.mid = m.mid;
    rejected.direction = sdp::Direction::inactive;
    d.media.push_back(std::move(rejected));
  }
  if (!accepted) {
    throw Error(
        Errc::bad_sdp,
        "the offer has no m=application UDP/DTLS/SCTP section (peer carries data only for now)");
  }
  return d;
}

RemoteTransport remote_transport(const sdp::Description& description) {
  // The transport is the one of the first section that is not rejected; with BUNDLE every
  // section shares it (RFC 8843 section 7.1: the "offerer tagged" section).
  const sdp::Media* chosen = nullptr;
  int index = 0;
  for (std::size_t i = 0; i < description.media.size(); ++i) {
    if (description.media[i].port != 0 || description.media[i].bundle_only) {
      chosen = &description.media[i];
      index = static_cast<int>(i);
      break;
    }
  }
  if (chosen == nullptr) throw Error(Errc::bad_sdp, "no m= section that is not rejected (port 0)");
  if (const sdp::Group* bundle = sdp::find_group(description, "BUNDLE");
      bundle != nullptr && !bundle->mids.empty()) {
    if (const sdp::Media* tagged = sdp::find_media(description, bundle->mids.front())) {
      chosen = tagged;
      index = static_cast<int>(tagged - description.media.data());
    }
  }
  const sdp::Media& m = *chosen;
  RemoteTransport t;
  t.mid = m.mid.empty() ? std::to_string(index) : m.mid;
  t.mline_index = index;
  t.ice_ufrag = sdp::effective_ice_ufrag(description, m);
  t.ice_pwd = sdp::effective_ice_pwd(description, m);
  const std::string where = fmt::format("m= section {} (mid \"{}\")", index, m.mid);
  if (t.ice_ufrag.empty())
    throw Error(Errc::bad_sdp, fmt::format("{} has no a=ice-ufrag (RFC 8839 section 5.4)", where));
  if (t.ice_pwd.empty())
    throw Error(Errc::bad_sdp, fmt::format("{} has no a=ice-pwd (RFC 8839 section 5.4)", where));
  // RFC 8839 section 5.4: ufrag 4-256 and pwd 22-256 ice-chars.
  if (t.ice_ufrag.size() < 4 || t.ice_ufrag.size() > 256) {
    throw Error(Errc::bad_sdp, fmt::format("{}: a=ice-ufrag must be 4 to 256 characters", where));
  }
  if (t.ice_pwd.size() < 22 || t.ice_pwd.size() > 256) {
    throw Error(Errc::bad_sdp, fmt::format("{}: a=ice-pwd must be 22 to 256 characters", where));
  }
  const auto& fingerprints = sdp::effective_fingerprints(description, m);
  if (fingerprints.empty()) {
    throw Error(Errc::bad_sdp, fmt::format("{} has no a=fingerprint (RFC 8122 section 5)", where));
  }
  // Prefer sha-256 when several are given (RFC 8122 section 5).
  const sdp::Fingerprint* fp = &fingerprints.front();
  for (const auto& f : fingerprints) {
    if (lower(f.algorithm) == "sha-256") fp = &f;
  }
  t.fingerprint_algorithm = lower(fp->algorithm);
  t.fingerprint = fp->value;
  if (const auto setup = sdp::effective_setup(description, m)) {
    if (*setup == sdp::Setup::holdconn) {
      throw Error(
          Errc::bad_sdp,
          fmt::format("{}: a=setup:holdconn cannot start DTLS (RFC 8842 section 5.1)", where));
    }
    t.setup = std::string(sdp::to_string(*setup));
  }
  t.candidates = m.candidates;
  t.end_of_candidates = m.end_of_candidates;
  t.max_message_size = sdp::effective_max_message_size(m);
  return t;
}

void add_candidates(sdp::Description& description, const std::vector<std::string>& candidates) {
  for (auto& m : description.media) {
    if (m.port == 0) continue;
    m.candidates.insert(m.candidates.end(), candidates.begin(), candidates.end());
    m.end_of_candidates = true;
    break;  // BUNDLE: candidates go with the first (tagged) section (RFC 8843 section 7.1)
  }
}

dtls::Role offerer_role(const RemoteTransport& answer) {
  // RFC 8842 section 5.3: an answer says active (it is the client) or passive (server).
  return answer.setup == "passive" ? dtls::Role::client : dtls::Role::server;
}

}  // namespace peer::session
