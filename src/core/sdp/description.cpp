#include "core/sdp/description.hpp"

#include "core/sdp/text.hpp"

namespace peer::sdp {

std::string_view to_string(Direction d) noexcept {
  switch (d) {
    case Direction::sendrecv:
      return "sendrecv";
    case Direction::sendonly:
      return "sendonly";
    case Direction::recvonly:
      return "recvonly";
    case Direction::inactive:
      return "inactive";
  }
  return "sendrecv";
}

std::string_view to_string(Setup s) noexcept {
  switch (s) {
    case Setup::actpass:
      return "actpass";
    case Setup::active:
      return "active";
    case Setup::passive:
      return "passive";
    case Setup::holdconn:
      return "holdconn";
  }
  return "actpass";
}

std::optional<Direction> direction_from_string(std::string_view s) noexcept {
  if (s == "sendrecv") return Direction::sendrecv;
  if (s == "sendonly") return Direction::sendonly;
  if (s == "recvonly") return Direction::recvonly;
  if (s == "inactive") return Direction::inactive;
  return std::nullopt;
}

std::optional<Setup> setup_from_string(std::string_view s) noexcept {
  if (s == "actpass") return Setup::actpass;
  if (s == "active") return Setup::active;
  if (s == "passive") return Setup::passive;
  if (s == "holdconn") return Setup::holdconn;
  return std::nullopt;
}

uint64_t effective_max_message_size(const Media& media) noexcept {
  return media.max_message_size.value_or(kDefaultMaxMessageSize);
}

Direction effective_direction(const Description& description, const Media& media) noexcept {
  return media.direction.value_or(description.direction.value_or(Direction::sendrecv));
}

const std::string& effective_ice_ufrag(const Description& description, const Media& media) {
  return media.ice_ufrag.empty() ? description.ice_ufrag : media.ice_ufrag;
}

const std::string& effective_ice_pwd(const Description& description, const Media& media) {
  return media.ice_pwd.empty() ? description.ice_pwd : media.ice_pwd;
}

const std::vector<std::string>& effective_ice_options(const Description& description,
                                                      const Media& media) {
  return media.ice_options.empty() ? description.ice_options : media.ice_options;
}

const std::vector<Fingerprint>& effective_fingerprints(const Description& description,
                                                       const Media& media) {
  return media.fingerprints.empty() ? description.fingerprints : media.fingerprints;
}

std::optional<Setup> effective_setup(const Description& description, const Media& media) {
  return media.setup ? media.setup : description.setup;
}

const Media* find_media(const Description& description, std::string_view mid) {
  for (const auto& m : description.media) {
    if (m.mid == mid) return &m;
  }
  return nullptr;
}

const Group* find_group(const Description& description, std::string_view semantics) {
  // RFC 5888 section 5: semantics tokens compare case-insensitively ("BUNDLE").
  for (const auto& g : description.groups) {
    if (detail::iequals(g.semantics, semantics)) return &g;
  }
  return nullptr;
}

const RtpMap* find_rtpmap(const Media& media, int payload_type) {
  for (const auto& r : media.rtpmaps) {
    if (r.payload_type == payload_type) return &r;
  }
  return nullptr;
}

const Fmtp* find_fmtp(const Media& media, int payload_type) {
  for (const auto& f : media.fmtps) {
    if (f.payload_type == payload_type) return &f;
  }
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> fmtp_parameters(std::string_view parameters) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::vector<std::pair<std::string, std::string>> out;
  while (!parameters.empty()) {
    std::size_t semi = parameters.find(';');
    std::string_view item = trim(parameters.substr(0, semi));
    parameters = semi == std::string_view::npos ? std::string_view{} : parameters.substr(semi + 1);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(std::string(item), std::string());
    } else {
      out.emplace_back(std::string(trim(item.substr(0, eq))),
                       std::string(trim(item.substr(eq + 1))));
    }
  }
  return out;
}

}  // namespace peer::sdp
