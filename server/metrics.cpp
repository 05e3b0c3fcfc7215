#include "server/metrics.hpp"

#include <fmt/format.h>

namespace peer::server {

std::string Metrics::render() const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const auto& value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value.load());
  };
  metric("peer_signal_connections", "gauge", "Open WebSocket connections.", connections);
  metric("peer_signal_rooms", "gauge", "Rooms with members on this server.", rooms);
  metric("peer_signal_messages_relayed_total", "counter", "Messages relayed to a member.", messages_relayed);
  metric("peer_signal_joins_total", "counter", "Successful joins.", joins);
  out += "# HELP peer_signal_errors_total Error messages sent to clients, by code.\n"
         "# TYPE peer_signal_errors_total counter\n";
  for (auto code : signaling::kAllErrorCodes) {
    out += fmt::format("peer_signal_errors_total{{code=\"{}\"}} {}\n", signaling::to_string(code),
                       errors[static_cast<std::size_t>(code)].load());
  }
  return out;
}

}  // namespace peer::server
