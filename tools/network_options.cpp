#include "network_options.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "ice/ice_server.hpp"

namespace peer::tools {
namespace {

// The host of a ws:// or wss:// url, without brackets; empty for anything else.
std::string url_host(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {};
  std::string rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    return close == std::string::npos ? std::string() : rest.substr(1, close - 1);
  }
  return rest.substr(0, rest.find(':'));
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

// Every address of an interface that is up, as text, with whether it is loopback.
struct LocalAddress {
  std::string ip;
  bool loopback;
};
std::vector<LocalAddress> local_addresses() {
  std::vector<LocalAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) continue;
    char text[INET6_ADDRSTRLEN] = {};
    const int family = i->ifa_addr->sa_family;
    const void* raw = nullptr;
    if (family == AF_INET) {
      raw = &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
    } else if (family == AF_INET6) {
      raw = &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(family, raw, text, sizeof text) == nullptr) continue;
    out.push_back({text, (i->ifa_flags & IFF_LOOPBACK) != 0});
  }
  freeifaddrs(list);
  return out;
}

// `servers_elsewhere`: an ICE server is off loopback, which loopback alone cannot reach.
json resolve_address(const std::string& address, const std::string& signal_url,
                     bool servers_elsewhere) {
  if (address == "any") return nullptr;
  const auto here = local_addresses();
  if (address == "auto") {
    const std::string host = url_host(signal_url);
    if (is_loopback_host(host) && !servers_elsewhere)
      return json::array({host == "::1" ? "::1" : "127.0.0.1"});
    for (const auto& a : here) {
      if (!a.loopback && !a.ip.starts_with("fe80:")) return nullptr;  // every interface
    }
    return json::array({"127.0.0.1"});  // nothing else is up: this machine only
  }
  // Compared as bytes: "2001:DB8::1" and "2001:db8::1" are one address.
  auto parse = [](const std::string& text, in6_addr& out) {
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
      out = in6_addr{};
      out.s6_addr[10] = out.s6_addr[11] = 0xff;  // v4-mapped: both families in one form
      std::memcpy(&out.s6_addr[12], &v4, 4);
      return true;
    }
    return inet_pton(AF_INET6, text.c_str(), &out) == 1;
  };
  in6_addr wanted{};
  if (!parse(address, wanted))
    throw UsageError("--address '" + address + "': not an IP address, auto or any");
  bool mine = false;
  for (const auto& a : here) {
    in6_addr have{};
    mine = mine || (parse(a.ip, have) && std::memcmp(&have, &wanted, sizeof have) == 0);
  }
  if (!mine)
    throw UsageError("--address '" + address +
                     "': not an address of an interface of this machine that is up");
  return json::array({address});
}

}  // namespace

void add_network_options(CLI::App* cmd, NetworkOptions& o, bool with_address) {
  if (with_address) {
    cmd->add_option(
           "--address", o.address,
           "local address ICE gathers on: auto (loopback when the signaling server is on loopback "
           "and no ICE server is elsewhere, else every interface but loopback), any (every "
           "interface but loopback), or an IP of this machine")
        ->capture_default_str();
  }
  cmd->add_option(
      "--ice-server", o.ice_servers,
      "a STUN or TURN server: stun:host[:port], turn:host[:port][?transport=udp|tcp], "
      "turns:host[:port] (TURN over TLS; the certificate is checked, SSL_CERT_FILE adds a CA) "
      "(repeatable; default: $PEER_ICE_SERVERS, a JSON RTCIceServer[])");
  cmd->add_option("--ice-username", o.ice_username, "TURN username for the --ice-server urls");
  cmd->add_option("--ice-credential", o.ice_credential, "TURN password for the --ice-server urls");
  cmd->add_flag("--relay-only", o.relay_only,
                "use only TURN-relayed candidate pairs (iceTransportPolicy relay)");
}

NetworkConfig resolve_network(const NetworkOptions& o, const std::string& signal_url) {
  NetworkConfig config;
  std::vector<ice::IceServer> parsed;  // each server parsed once, for the checks below
  if (!o.ice_servers.empty()) {
    for (const auto& url : o.ice_servers) {
      json server = {{"urls", url}};
      if (!o.ice_username.empty()) server["username"] = o.ice_username;
      if (!o.ice_credential.empty()) server["credential"] = o.ice_credential;
      try {
        parsed.push_back(ice::parse_ice_servers(server).at(0));
      } catch (const std::exception& e) {
        // The parser's message starts with "ice server url '<url>': "; the flag says it here.
        std::string why = e.what();
        if (const auto at = why.find("': ");
            why.starts_with("ice server url '") && at != std::string::npos) {
          why = why.substr(at + 3);
        }
        if (why.find("needs a username") != std::string::npos)
          why += " (--ice-username, --ice-credential)";
        throw UsageError("--ice-server '" + url + "': " + why);
      }
      config.servers.push_back(std::move(server));
    }
  } else if (!o.ice_username.empty() || !o.ice_credential.empty()) {
    throw UsageError(std::string(o.ice_username.empty() ? "--ice-credential" : "--ice-username") +
                     " is given without an --ice-server it belongs to");
  } else if (const char* env = std::getenv("PEER_ICE_SERVERS"); env != nullptr && *env != '\0') {
    const json servers = json::parse(env, nullptr, false);
    if (servers.is_discarded())
      throw UsageError(std::string("PEER_ICE_SERVERS is not JSON: ") + env);
    try {
      parsed = ice::parse_ice_servers(servers);
    } catch (const std::exception& e) {
      throw UsageError(std::string("PEER_ICE_SERVERS: ") + e.what());
    }
    config.servers = servers.is_array() ? servers : json::array({servers});
  }
  config.relay_only = o.relay_only;
  const auto is = [&](auto pred) { return std::any_of(parsed.begin(), parsed.end(), pred); };
  if (o.relay_only && !is([](const auto& s) { return s.type != ice::IceServer::Type::stun; })) {
    throw UsageError("--relay-only needs a turn: server (--ice-server or PEER_ICE_SERVERS)");
  }
  const bool elsewhere = is([](const auto& s) { return !is_loopback_host(s.host); });
  config.addresses = resolve_address(o.address, signal_url, elsewhere);
  return config;
}

void apply_network(Store& peer, const NetworkConfig& config) {
  if (!config.addresses.is_null()) peer.set("addresses", config.addresses);
  if (!config.servers.empty()) peer.set("servers", config.servers);
  if (config.relay_only) peer.set("iceTransportPolicy", "relay");
}

}  // namespace peer::tools
