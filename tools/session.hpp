#pragma once
// One Peer for the networked subcommands (echo, pipe, send, recv): ICE pinned to an
// address, optionally signaled through a server (the `signal` plugin), and a wait for the
// connection that maps what went wrong to an exit code.
#include <spdlog/sinks/stdout_color_sinks.h>  // also declares the stderr sinks
#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "network_options.hpp"
#include "peer/peer.hpp"
#include "peer/signal.hpp"
#include <spdlog/cfg/env.h>
#include "util.hpp"

namespace peer::tools {

// Library logs go to stderr: stdout carries data (pipe) or signaling (echo --signal stdio).
inline void log_to_stderr() {
  static bool done = false;
  if (done) return;
  done = true;
  spdlog::set_default_logger(spdlog::stderr_color_mt("peer-cli"));
  spdlog::set_level(spdlog::level::warn);
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=info (spdlog's own variable) shows more
}

// Server refusals after which waiting is pointless.
inline bool fatal_signal_error(const std::string& code) {
  return code == "signal_unauthorized" || code == "signal_room-full" ||
         code == "signal_server-full" || code == "signal_peer_left" || code == "signal_bad-message";
}

// The network config of a subcommand's flags, or nullopt after a message naming the bad flag
// and value (the caller exits with kExitUsage).
inline std::optional<NetworkConfig> network_or_report(const std::string& command,
                                                      const NetworkOptions& options,
                                                      const std::string& signal_url) {
  try {
    return resolve_network(options, signal_url);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "peer %s: %s\n", command.c_str(), e.what());
    return std::nullopt;
  }
}

// Closes the peer when it goes out of scope, so that no callback runs afterwards. Declare it
// after the subscriptions and everything the peer's callbacks use (those go after it).
struct CloseOnExit {
  Peer& peer;
  ~CloseOnExit() { peer.close(); }
};

class Session {
 public:
  // `network`: where ICE gathers and which STUN/TURN servers it uses (network_options.hpp).
  Session(const std::string& command, const NetworkConfig& network) : command_(command) {
    log_to_stderr();
    apply_network(peer, network);
    subs_.push_back(peer.on("change connection", [this](const json& v) {
      waiter.update([&] { connection_ = v.get<std::string>(); });
    }));
    subs_.push_back(peer.on("error", [this](const json& e) {
      const std::string code = e.value("code", "");
      std::fprintf(stderr, "peer %s: %s: %s\n", command_.c_str(), code.c_str(),
                   e.value("message", "").c_str());
      if (fatal_signal_error(code)) waiter.update([&] { signal_failure_ = code; });
    }));
    // The signal plugin restarting ICE by itself (include/peer/signal.hpp): worth a line.
    subs_.push_back(peer.on("change signal-restart", [this](const json& v) {
      std::fprintf(stderr, "peer %s: ICE restart: %s (ice %s)\n", command_.c_str(),
                   v.is_string() ? v.get<std::string>().c_str() : "?", peer.get("ice").dump().c_str());
    }));
  }
  ~Session() {
    subs_.clear();
    peer.close();
  }

  // Joins `room` on the server at `url`; false (after a message) for a bad room or url.
  bool signal(const std::string& room, const std::string& url) {
    try {
      peer.use(peer::signal(room, url));
      return true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "peer %s: %s\n", command_.c_str(), e.what());
      return false;
    }
  }

  // Waits until connected: kExitOk, kExitTimeout, kExitFailed or kExitSignaling (with a
  // message on stderr). `seconds` <= 0 waits forever.
  int wait_connected(double seconds) {
    const bool done = waiter.wait(
        [&] {
          return connection_ == "connected" || connection_ == "failed" || connection_ == "closed" ||
                 !signal_failure_.empty();
        },
        seconds);
    if (!done) {
      std::fprintf(stderr, "peer %s: not connected after %.0f s (signal: %s, connection: %s)\n",
                   command_.c_str(), seconds, peer.get("signal").dump().c_str(),
                   peer.get("connection").dump().c_str());
      return kExitTimeout;
    }
    if (!signal_failure_.empty()) return kExitSignaling;
    if (connection_ != "connected") {
      std::fprintf(stderr, "peer %s: the connection %s\n", command_.c_str(), connection_.c_str());
      return kExitFailed;
    }
    // The selected pair with its candidate types, e.g. "srflx udp 198.51.100.7:40000".
    const json pair = peer.get("pair");
    auto side = [&](const char* key) {
      return pair.is_object() ? pair.value(key, std::string("?")) : "?";
    };
    std::fprintf(stderr, "peer %s: connected: local %s, remote %s\n", command_.c_str(),
                 side("local").c_str(), side("remote").c_str());
    return kExitOk;
  }

  // The connection state, read under the waiter's mutex (use inside waiter.wait predicates).
  const std::string& connection() const { return connection_; }

  Peer peer;
  Waiter waiter;

 private:
  std::string command_;
  std::string connection_ = "new";
  std::string signal_failure_;
  std::vector<Subscription> subs_;
};

}  // namespace peer::tools
