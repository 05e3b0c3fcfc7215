#pragma once
// The network flags every connecting subcommand shares (echo, pipe, send, recv, recv-video,
// and serve's bots): where ICE gathers, which STUN/TURN servers it uses, relay only.
//
//   --address A        auto (default) | any | an IP of this machine
//   --ice-server URL   stun:host[:port], turn:host[:port][?transport=udp|tcp],
//                      turns:host[:port] (TURN over TLS) (repeatable; RFC 7064 and RFC 7065
//                      URLs, as a browser takes them)
//   --ice-username U, --ice-credential C   the TURN long-term credentials for those URLs
//   --relay-only       iceTransportPolicy "relay": only TURN-relayed pairs
//   PEER_ICE_SERVERS   a JSON RTCIceServer[] used when no --ice-server is given
//
// The `auto` address rule: when the signaling server is on a loopback address (127.0.0.0/8,
// ::1, localhost) and no ICE server is elsewhere, both peers are on this machine, so ICE
// stays on loopback; otherwise (a server elsewhere, stdio signaling, or a STUN/TURN server
// off this machine) ICE gathers on every interface but loopback, so two machines connect
// without flags. With no such interface up, loopback is used.
#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>
#include <vector>

#include "peer/store.hpp"

namespace peer::tools {

struct NetworkOptions {
  std::string address = "auto";
  std::vector<std::string> ice_servers;
  std::string ice_username;
  std::string ice_credential;
  bool relay_only = false;
};

// Registers the flags above on `cmd` (without --address for `serve`, whose bots have their own).
void add_network_options(CLI::App* cmd, NetworkOptions& options, bool with_address = true);

// A bad --ice-server, --address or PEER_ICE_SERVERS: what() names the flag and the value.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a Peer is given: "addresses" (null: every interface but loopback), "servers" and
// "iceTransportPolicy".
struct NetworkConfig {
  json addresses;
  json servers = json::array();
  bool relay_only = false;
};

// Resolves the flags and the environment for a peer signaled through `signal_url` (a
// ws:// or wss:// url, or "stdio"). Every server is parsed here, once, so a bad one is a
// usage error before anything connects. Throws UsageError.
NetworkConfig resolve_network(const NetworkOptions& options, const std::string& signal_url);

// Writes the config into a peer's store (before create/offer/answer).
void apply_network(Store& peer, const NetworkConfig& config);

}  // namespace peer::tools
