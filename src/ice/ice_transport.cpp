#include "ice/ice_transport.hpp"

#include "ice/agent_transport.hpp"

namespace peer::ice {

std::string_view candidate_line(std::string_view line) noexcept {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (line.starts_with("a=")) line.remove_prefix(2);
  return line;
}

std::unique_ptr<IceTransport> IceTransport::create(runtime::EventLoop& loop, IceConfig config,
                                                   IceCallbacks callbacks) {
  return std::make_unique<AgentTransport>(loop, std::move(config), std::move(callbacks));
}

}  // namespace peer::ice
