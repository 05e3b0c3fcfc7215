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

sdp::Description make_offer(const LocalTransport& local, const std::vector<sdp::Media>& media,
                            const std::string& data_mid) {
  sdp::Description d = session_skeleton(local);
  sdp::Group bundle{"BUNDLE", {}};  // RFC 8843 section 7.2
  for (const auto& m : media) {
    d.media.push_back(m);
    bundle.mids.push_back(m.mid);
  }
  d.media.push_back(application_section(local, data_mid));
  bundle.mids.push_back(data_mid);
  d.groups.push_back(std::move(bundle));
  return d;
}

int data_section(const sdp::Description& description) {
  for (std::size_t i = 0; i < description.media.size(); ++i) {
    const sdp::Media& m = description.media[i];
    if (m.kind == "application" && m.proto.find("SCTP") != std::string::npos &&
        (m.port != 0 || m.bundle_only)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int transport_section(const sdp::Description& description) {
  if (const int data = data_section(description); data >= 0) return data;
  for (std::size_t i = 0; i < description.media.size(); ++i) {
    const sdp::Media& m = description.media[i];
    if (m.proto.find("RTP/SAVPF") != std::string::npos && (m.port != 0 || m.bundle_only)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

sdp::Description make_answer(const sdp::Description& offer, const LocalTransport& local,
                             const std::vector<std::pair<int, sdp::Media>>& accepted) {
  const int data = data_section(offer);
  if (data < 0 && accepted.empty()) {
    throw Error(Errc::bad_sdp,
                "the offer has no m=application UDP/DTLS/SCTP section and no audio or video "
                "section peer can take");
  }
  sdp::Description d = session_skeleton(local);
  sdp::Group bundle{"BUNDLE", {}};  // RFC 8843 section 7.3
  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    const sdp::Media& m = offer.media[i];
    if (static_cast<int>(i) == data) {
      d.media.push_back(application_section(local, m.mid));
      bundle.mids.push_back(m.mid);
      continue;
    }
    const auto taken = std::find_if(accepted.begin(), accepted.end(),
                                    [&](const auto& a) { return a.first == static_cast<int>(i); });
    if (taken != accepted.end()) {
      d.media.push_back(taken->second);
      bundle.mids.push_back(m.mid);
      continue;
    }
    // RFC 8829 section 5.3.1: a section we do not take is answered with port 0 and the
    // same kind, protocol and mid.
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
  d.groups.push_back(std::move(bundle));
  return d;
}

RemoteTransport remote_transport(const sdp::Description& description, bool is_offer) {
  const int index = transport_section(description);
  if (index < 0) {
    throw Error(Errc::bad_sdp,
                "no m=application UDP/DTLS/SCTP or RTP/SAVPF section that is not rejected (port 0)");
  }
  const sdp::Media& m = description.media[static_cast<std::size_t>(index)];
  RemoteTransport t;
  t.mid = m.mid.empty() ? std::to_string(index) : m.mid;
  t.mline_index = index;
  t.bundle_mids = {t.mid};
  const sdp::Media* tagged = nullptr;
  for (const auto& group : description.groups) {
    if (group.semantics != "BUNDLE" ||
        std::find(group.mids.begin(), group.mids.end(), m.mid) == group.mids.end()) {
      continue;
    }
    t.bundle_mids = group.mids;
    // RFC 8843 section 7.1: a bundle's transport is that of its tagged (first) section;
    // browsers put their candidates there.
    if (!group.mids.empty()) tagged = sdp::find_media(description, group.mids.front());
  }
  t.ice_ufrag = sdp::effective_ice_ufrag(description, m);
  t.ice_pwd = sdp::effective_ice_pwd(description, m);
  const std::string where = fmt::format("m= section {} (mid \"{}\")", index, m.mid);
  if (t.ice_ufrag.empty()) {
    throw Error(Errc::bad_sdp, fmt::format("{} has no a=ice-ufrag (RFC 8839 section 5.4)", where));
  }
  if (t.ice_pwd.empty()) {
    throw Error(Errc::bad_sdp, fmt::format("{} has no a=ice-pwd (RFC 8839 section 5.4)", where));
  }
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
  } else {
    t.setup = is_offer ? "active" : "passive";  // RFC 4145 section 4 defaults
  }
  t.candidates = m.candidates;
  if (tagged != nullptr && tagged != &m) {
    for (const auto& c : tagged->candidates) {
      if (std::find(t.candidates.begin(), t.candidates.end(), c) == t.candidates.end()) {
        t.candidates.push_back(c);
      }
    }
  }
  t.end_of_candidates = m.end_of_candidates || (tagged != nullptr && tagged->end_of_candidates);
  t.has_data = index == data_section(description);
  if (t.has_data) {
    t.max_message_size = sdp::effective_max_message_size(m);
    if (m.sctp_port) t.sctp_port = *m.sctp_port;
  }
  return t;
}

void add_candidates(sdp::Description& description, const std::vector<std::string>& candidates) {
  const int index = transport_section(description);
  if (index < 0) return;
  sdp::Media& m = description.media[static_cast<std::size_t>(index)];
  m.candidates.insert(m.candidates.end(), candidates.begin(), candidates.end());
  m.end_of_candidates = true;
}

dtls::Role offerer_role(const RemoteTransport& answer) {
  // An answer says active (it is the client) or passive (it is the server); remote_transport
  // already applied RFC 4145's default ("passive") when the line is absent.
  return answer.setup == "active" ? dtls::Role::server : dtls::Role::client;
}

}  // namespace peer::session
