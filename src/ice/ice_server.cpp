#include "ice/ice_server.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <peer/error.hpp>

#include <cctype>
#include <string_view>

namespace peer::ice {
namespace {

[[noreturn]] void fail(std::string_view url, std::string_view why) {
  throw Error(Errc::invalid_argument, fmt::format("ice server url '{}': {}", url, why));
}

std::uint16_t parse_port(std::string_view url, std::string_view text) {
  if (text.empty() || text.size() > 5) fail(url, fmt::format("bad port '{}'", text));
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') fail(url, fmt::format("bad port '{}'", text));
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) fail(url, fmt::format("port {} out of range 1..65535", value));
  return static_cast<std::uint16_t>(value);
}

// RFC 7064 section 3.1 / RFC 7065 section 3.1:
//   stunURI = scheme ":" host [ ":" port ]
//   turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ]
//   host    = IP-literal / IPv4address / reg-name   (IP-literal is "[" IPv6 "]")
IceServer parse_url(std::string_view url, const std::string* username,
                    const std::string* credential) {
  IceServer server;
  auto colon = url.find(':');
  if (colon == std::string_view::npos) fail(url, "missing scheme (stun:, turn: or turns:)");
  std::string scheme;
  for (char c : url.substr(0, colon)) scheme += static_cast<char>(std::tolower(c));
  if (scheme == "stun") {
    server.type = IceServer::Type::stun;
    server.port = 3478;
  } else if (scheme == "turn") {
    server.type = IceServer::Type::turn;
    server.port = 3478;
  } else if (scheme == "turns") {
    server.type = IceServer::Type::turns;
    server.port = 5349;
    server.transport = IceServer::Transport::tcp;
  } else if (scheme == "stuns") {
    fail(url, "stuns (STUN over TLS) is not supported");
  } else {
    fail(url, fmt::format("unknown scheme '{}' (expected stun, turn or turns)", scheme));
  }

  std::string_view rest = url.substr(colon + 1);
  if (rest.starts_with("//")) fail(url, "no '//' after the scheme (RFC 7064: stun:host[:port])");
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }

  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) fail(url, "unterminated '[' in IPv6 host");
    host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') fail(url, "expected ':port' after ']'");
      port = after.substr(1);
      if (port.empty()) fail(url, "empty port");
    }
    if (host.find(':') == std::string_view::npos) fail(url, "brackets are only for IPv6 hosts");
  } else {
    auto c = rest.find(':');
    host = rest.substr(0, c);
    if (c != std::string_view::npos) {
      port = rest.substr(c + 1);
      if (port.empty()) fail(url, "empty port");
      if (port.find(':') != std::string_view::npos) fail(url, "IPv6 hosts need brackets");
    }
  }
  if (host.empty()) fail(url, "missing host");
  for (char c : host) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ||
              c == ':' || c == '%';
    if (!ok) fail(url, fmt::format("invalid character '{}' in host", c));
  }
  server.host = std::string(host);
  if (!port.empty()) server.port = parse_port(url, port);

  if (!query.empty()) {
    if (server.type == IceServer::Type::stun) fail(url, "stun urls take no '?' parameters");
    constexpr std::string_view kTransport = "transport=";
    if (!query.starts_with(kTransport)) {
      fail(url, fmt::format("unknown parameter '{}' (only transport=udp|tcp)", query));
    }
    auto value = query.substr(kTransport.size());
    if (value == "udp") {
      if (server.type == IceServer::Type::turns) {
        fail(url, "turns over udp (DTLS) is not supported; use transport=tcp");
      }
      server.transport = IceServer::Transport::udp;
    } else if (value == "tcp") {
      server.transport = IceServer::Transport::tcp;
    } else {
      fail(url, fmt::format("unknown transport '{}' (expected udp or tcp)", value));
    }
  }

  if (server.type != IceServer::Type::stun) {
    // W3C webrtc-pc 4.2.1 step "If scheme is turn or turns and either username or credential
    // are omitted, throw InvalidAccessError".
    if (username == nullptr || credential == nullptr) {
      fail(url, fmt::format("{} needs a username and a credential", scheme));
    }
    server.username = *username;
    server.credential = *credential;
  }
  return server;
}

const std::string* optional_string(const nlohmann::json& object, const char* key,
                                   std::string_view url_for_errors) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  if (!it->is_string()) fail(url_for_errors, fmt::format("'{}' must be a string", key));
  return it->get_ptr<const std::string*>();
}

// The entry for an error message, its credential hidden (messages reach logs and stderr).
std::string shown(const nlohmann::json& entry) {
  if (!entry.is_object() || !entry.contains("credential")) return entry.dump();
  nlohmann::json copy = entry;
  copy["credential"] = "***";
  return copy.dump();
}

void parse_entry(const nlohmann::json& entry, std::vector<IceServer>& out) {
  if (entry.is_string()) {
    out.push_back(parse_url(entry.get_ref<const std::string&>(), nullptr, nullptr));
    return;
  }
  if (!entry.is_object()) {
    throw Error(
        Errc::invalid_argument,
        fmt::format("ice server {}: expected a url string or an object with 'urls'", shown(entry)));
  }
  // "url" is the pre-standard spelling some applications still send.
  auto urls = entry.find("urls");
  if (urls == entry.end()) urls = entry.find("url");
  if (urls == entry.end()) {
    throw Error(Errc::invalid_argument, fmt::format("ice server {}: missing 'urls'", shown(entry)));
  }
  std::vector<std::string_view> list;
  if (urls->is_string()) {
    list.push_back(urls->get_ref<const std::string&>());
  } else if (urls->is_array()) {
    if (urls->empty()) {
      throw Error(Errc::invalid_argument,
                  fmt::format("ice server {}: 'urls' is empty", shown(entry)));
    }
    for (const auto& u : *urls) {
      if (!u.is_string()) {
        throw Error(Errc::invalid_argument,
                    fmt::format("ice server {}: 'urls' entries must be strings", shown(entry)));
      }
      list.push_back(u.get_ref<const std::string&>());
    }
  } else {
    throw Error(
        Errc::invalid_argument,
        fmt::format("ice server {}: 'urls' must be a string or an array of strings", shown(entry)));
  }
  bool verify_certificate = true;
  if (const auto* policy = optional_string(entry, "tlsCertPolicy", list.front())) {
    if (*policy == "insecureNoCheck") {
      verify_certificate = false;
    } else if (*policy != "secure") {
      throw Error(Errc::invalid_argument,
                  fmt::format("ice server {}: unknown tlsCertPolicy '{}' (expected secure or "
                              "insecureNoCheck)",
                              shown(entry), *policy));
    }
  }
  for (auto url : list) {
    const auto* username = optional_string(entry, "username", url);
    const auto* credential = optional_string(entry, "credential", url);
    out.push_back(parse_url(url, username, credential));
    out.back().verify_certificate = verify_certificate;
  }
}

}  // namespace

std::vector<IceServer> parse_ice_servers(const nlohmann::json& servers) {
  std::vector<IceServer> out;
  if (servers.is_null()) return out;
  if (servers.is_array()) {
    for (const auto& entry : servers) parse_entry(entry, out);
  } else if (servers.is_object() || servers.is_string()) {
    parse_entry(servers, out);
  } else {
    throw Error(Errc::invalid_argument,
                fmt::format("ice servers {}: expected an array, an object or a url string",
                            servers.dump()));
  }
  return out;
}

std::string to_string(const IceServer& server) {
  const char* scheme = server.type == IceServer::Type::stun   ? "stun"
                       : server.type == IceServer::Type::turn ? "turn"
                                                              : "turns";
  bool v6 = server.host.find(':') != std::string::npos;
  std::string out =
      fmt::format("{}:{}{}{}:{}", scheme, v6 ? "[" : "", server.host, v6 ? "]" : "", server.port);
  if (server.type != IceServer::Type::stun) {
    out += server.transport == IceServer::Transport::udp ? "?transport=udp" : "?transport=tcp";
  }
  return out;
}

}  // namespace peer::ice
