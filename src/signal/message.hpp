#pragma once
// Parsing and validating one signaling message (docs/signaling.md).
//
// A message is a JSON object with a string "type". The server understands "join" and
// "leave"; any other type must carry "to" and is relayed. Known relayed types are checked
// for the browser's JSON shapes so that a peer never receives a description without "sdp"
// or a candidate without "candidate". A client's "from" is never trusted: parse() removes
// it and the server writes its own.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "signal/error_code.hpp"

namespace peer::signaling {

// Limits on identifiers, so that a room or peer id can be used as a Redis key part, a log
// field and a token field without escaping.
inline constexpr std::size_t kMaxRoomLength = 64;
inline constexpr std::size_t kMaxPeerIdLength = 64;

// Room ids: 1..64 of [A-Za-z0-9_.-]. Peer ids (server-assigned): 1..64 of [A-Za-z0-9_-].
bool valid_room(std::string_view room) noexcept;
bool valid_peer_id(std::string_view id) noexcept;

struct Join {
  std::string room;
  std::string token;  // empty when absent
};
struct Leave {};
// A message for another member. `body` is the whole message minus any "from".
struct Relay {
  std::string to;
  nlohmann::json body;
};
using Message = std::variant<Join, Leave, Relay>;

struct ProtocolError {
  ErrorCode code;
  std::string message;  // names what was wrong, e.g. "\"room\" must be a string"
};

using ParseResult = std::variant<Message, ProtocolError>;

// Parses one text frame from a client. Never throws.
ParseResult parse_client_message(std::string_view text);

// Checks an already parsed JSON value (the fuzzer and parse_client_message share this).
ParseResult validate_client_message(nlohmann::json value);

// Server -> client messages, serialised once.
std::string make_error(ErrorCode code, std::string_view message, bool closed = false);
std::string make_joined(std::string_view room, std::string_view id, const nlohmann::json& peers);
std::string make_peer_event(std::string_view type, std::string_view id);  // peer-joined/left

}  // namespace peer::signaling
