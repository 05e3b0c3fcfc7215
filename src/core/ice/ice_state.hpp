#pragma once
// RTCIceTransportState (W3C webrtc-pc section 5.6.1), shared by the agent (core/ice) and the
// transport that runs it. `closed` is never reported: nothing is said after destruction.

#include <string_view>

namespace peer::ice {

// `completed` follows `connected` once the checks are done and a pair is nominated; data
// flows in both. `disconnected` recovers by itself; `failed` does not (without a restart).
enum class IceState { new_, checking, connected, completed, failed, disconnected, closed };
std::string_view to_string(IceState state) noexcept;

}  // namespace peer::ice
