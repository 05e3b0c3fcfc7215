#include "core/ice/ice_state.hpp"

namespace peer::ice {

std::string_view to_string(IceState state) noexcept {
  switch (state) {
    case IceState::new_: return "new";
    case IceState::checking: return "checking";
    case IceState::connected: return "connected";
    case IceState::completed: return "completed";
    case IceState::failed: return "failed";
    case IceState::disconnected: return "disconnected";
    case IceState::closed: return "closed";
  }
  return "unknown";
}

}  // namespace peer::ice
