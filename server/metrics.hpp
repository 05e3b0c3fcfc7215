#pragma once
// Counters of the server, rendered as Prometheus text for GET /metrics. Atomics: every
// I/O thread updates them without a lock.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "signal/error_code.hpp"

namespace peer::server {

struct Metrics {
  std::atomic<std::int64_t> connections{0};  // open WebSocket connections
  std::atomic<std::int64_t> rooms{0};        // rooms with members on this server
  std::atomic<std::uint64_t> messages_relayed{0};
  std::atomic<std::uint64_t> joins{0};
  std::array<std::atomic<std::uint64_t>, signaling::kErrorCodeCount> errors{};

  void count_error(signaling::ErrorCode code) {
    errors[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  }
  // Prometheus text exposition format 0.0.4.
  std::string render() const;
};

}  // namespace peer::server
