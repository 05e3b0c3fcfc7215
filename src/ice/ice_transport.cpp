#include "ice/ice_transport.hpp"

#include <peer/error.hpp>

#include <cstdlib>
#include <string_view>

#include "ice/agent_transport.hpp"
#include "ice/nice_transport.hpp"

namespace peer::ice {
namespace {

std::string_view agent_variable() {
  const char* value = std::getenv("PEER_ICE_AGENT");
  return value == nullptr ? std::string_view() : std::string_view(value);
}

}  // namespace

std::string_view candidate_line(std::string_view line) noexcept {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (line.starts_with("a=")) line.remove_prefix(2);
  return line;
}

IceConfig::Implementation IceConfig::default_implementation() {
  return agent_variable() == "libnice" ? Implementation::libnice : Implementation::own;
}

std::unique_ptr<IceTransport> IceTransport::create(runtime::EventLoop& loop, IceConfig config,
                                                   IceCallbacks callbacks) {
  const auto variable = agent_variable();
  if (!variable.empty() && variable != "own" && variable != "libnice") {
    throw Error(Errc::invalid_argument,
                "PEER_ICE_AGENT must be \"own\" or \"libnice\", not \"" + std::string(variable) + "\"");
  }
  // ICE-TCP (RFC 6544) is libnice's until our agent has it: asking for it picks libnice.
  if (config.implementation == IceConfig::Implementation::own && !config.tcp) {
    return std::make_unique<AgentTransport>(loop, std::move(config), std::move(callbacks));
  }
  return std::make_unique<NiceTransport>(loop, std::move(config), std::move(callbacks));
}

}  // namespace peer::ice
