#pragma once
// The error codes of the signaling protocol (docs/signaling.md lists each with its meaning).
// An enum so that counting errors (server metrics) is an array index, not a string lookup.

#include <array>
#include <cstddef>
#include <string_view>

namespace peer::signaling {

enum class ErrorCode {
  bad_json,      // the frame is not JSON text
  bad_message,   // JSON, but not a valid message (the text says which field)
  not_joined,    // a message that needs a room before "join"
  unknown_peer,  // "to" names nobody in the sender's room
  room_full,     // the room has its maximum number of members
  server_full,   // the server has its maximum number of rooms
  unauthorized,  // a token is required and was missing, expired, for another room or forged
  too_large,     // the message exceeds the server's size limit (it was discarded)
  rate_limited,  // the client sent more messages per second than allowed (it was dropped)
  shutdown,      // the server is going away (sent with "closed": true)
  internal,      // the server could not do it (e.g. Redis unreachable)
};

inline constexpr std::size_t kErrorCodeCount = static_cast<std::size_t>(ErrorCode::internal) + 1;

// The wire name: "bad-json", "room-full", ...
std::string_view to_string(ErrorCode code) noexcept;

inline constexpr std::array<ErrorCode, kErrorCodeCount> kAllErrorCodes = {
    ErrorCode::bad_json,     ErrorCode::bad_message, ErrorCode::not_joined,
    ErrorCode::unknown_peer, ErrorCode::room_full,   ErrorCode::server_full,
    ErrorCode::unauthorized, ErrorCode::too_large,   ErrorCode::rate_limited,
    ErrorCode::shutdown,     ErrorCode::internal,
};

}  // namespace peer::signaling
