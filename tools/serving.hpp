#pragma once
// What `peer signal` and `peer serve` share: the --listen syntax and running until
// SIGTERM/SIGINT.
#include <signal.h>

#include <stdexcept>
#include <string>

#include "server/options.hpp"

namespace peer::tools {

// "host:port", "[v6]:port" or ":port" (every IPv4 address).
inline void parse_listen(const std::string& listen, server::ServerOptions& options) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("--listen needs host:port, got " + listen);
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  options.address = host.empty() ? "0.0.0.0" : host;
  const int port = std::stoi(listen.substr(colon + 1));
  if (port < 0 || port > 65535) throw std::invalid_argument("--listen port out of range");
  options.port = static_cast<unsigned short>(port);
}

// Blocks SIGTERM and SIGINT for the process. Construct it before any thread exists, so that
// only wait() sees them.
class StopSignals {
 public:
  StopSignals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  // Returns "SIGTERM" or "SIGINT" once one arrives.
  const char* wait() {
    int number = 0;
    sigwait(&set_, &number);
    return number == SIGTERM ? "SIGTERM" : "SIGINT";
  }

 private:
  sigset_t set_;
};

}  // namespace peer::tools
