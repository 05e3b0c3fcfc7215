#include "signal/message.hpp"

#include <algorithm>

namespace peer::signaling {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_json: return "bad-json";
    case ErrorCode::bad_message: return "bad-message";
    case ErrorCode::not_joined: return "not-joined";
    case ErrorCode::unknown_peer: return "unknown-peer";
    case ErrorCode::room_full: return "room-full";
    case ErrorCode::server_full: return "server-full";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::too_large: return "too-large";
    case ErrorCode::rate_limited: return "rate-limited";
    case ErrorCode::shutdown: return "shutdown";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

namespace {

bool id_char(char c, bool allow_dot) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || (allow_dot && c == '.');
}

bool valid_id(std::string_view s, std::size_t max, bool allow_dot) {
  return !s.empty() && s.size() <= max &&
         std::all_of(s.begin(), s.end(), [&](char c) { return id_char(c, allow_dot); });
}

ProtocolError bad(std::string message) { return {ErrorCode::bad_message, std::move(message)}; }

// Checks that `key`, when required or present, is a string.
std::optional<ProtocolError> need_string(const nlohmann::json& v, const char* key,
                                         std::string_view type, bool required = true) {
  auto it = v.find(key);
  if (it == v.end()) {
    if (!required) return std::nullopt;
    return bad(std::string("\"") + std::string(type) + "\" needs a string \"" + key + "\"");
  }
  if (!it->is_string()) {
    return bad(std::string("\"") + key + "\" of \"" + std::string(type) + "\" must be a string");
  }
  return std::nullopt;
}

// The browser's RTCIceCandidateInit: candidate (string, "" = end of candidates), sdpMid
// (string or null), sdpMLineIndex (unsigned 16-bit integer or null), usernameFragment.
std::optional<ProtocolError> check_candidate(const nlohmann::json& v) {
  if (auto e = need_string(v, "candidate", "candidate")) return e;
  if (auto it = v.find("sdpMid"); it != v.end() && !it->is_string() && !it->is_null()) {
    return bad("\"sdpMid\" of \"candidate\" must be a string or null");
  }
  if (auto it = v.find("sdpMLineIndex"); it != v.end() && !it->is_null()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 65535) {
      return bad("\"sdpMLineIndex\" of \"candidate\" must be an integer 0..65535 or null");
    }
  }
  if (auto e = need_string(v, "usernameFragment", "candidate", false)) return e;
  return std::nullopt;
}

}  // namespace

bool valid_room(std::string_view room) noexcept { return valid_id(room, kMaxRoomLength, true); }
bool valid_peer_id(std::string_view id) noexcept { return valid_id(id, kMaxPeerIdLength, false); }

ParseResult parse_client_message(std::string_view text) {
  nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return ProtocolError{ErrorCode::bad_json, "the message is not valid JSON"};
  return validate_client_message(std::move(value));
}

ParseResult validate_client_message(nlohmann::json value) {
  if (!value.is_object()) return bad("a message must be a JSON object");
  auto type_it = value.find("type");
  if (type_it == value.end()) return bad("a message needs a string \"type\"");
  if (!type_it->is_string()) return bad("\"type\" must be a string");
  const std::string type = type_it->get<std::string>();
  if (type.empty()) return bad("\"type\" must not be empty");

  if (type == "join") {
    if (auto e = need_string(value, "room", type)) return *e;
    if (auto e = need_string(value, "token", type, false)) return *e;
    Join join{value["room"].get<std::string>(), {}};
    if (!valid_room(join.room)) {
      return bad("\"room\" must be 1 to 64 characters of A-Z a-z 0-9 _ . -");
    }
    if (auto it = value.find("token"); it != value.end()) join.token = it->get<std::string>();
    return Message{std::move(join)};
  }
  if (type == "leave") return Message{Leave{}};
  if (type == "joined" || type == "peer-joined" || type == "peer-left" || type == "error") {
    return bad("\"" + type + "\" is sent by the server only");
  }

  if (auto e = need_string(value, "to", type)) return *e;
  std::string to = value["to"].get<std::string>();
  if (!valid_peer_id(to)) return bad("\"to\" is not a valid peer id");
  if (type == "offer" || type == "answer") {
    if (auto e = need_string(value, "sdp", type)) return *e;
  } else if (type == "candidate") {
    if (auto e = check_candidate(value)) return *e;
  }
  value.erase("from");  // never forwarded as the client wrote it
  return Message{Relay{std::move(to), std::move(value)}};
}

std::string make_error(ErrorCode code, std::string_view message, bool closed) {
  nlohmann::json j{{"type", "error"}, {"code", to_string(code)}, {"message", message}};
  if (closed) j["closed"] = true;
  return j.dump();
}

std::string make_joined(std::string_view room, std::string_view id, const nlohmann::json& peers) {
  return nlohmann::json{{"type", "joined"}, {"room", room}, {"id", id}, {"peers", peers}}.dump();
}

std::string make_peer_event(std::string_view type, std::string_view id) {
  return nlohmann::json{{"type", type}, {"id", id}}.dump();
}

}  // namespace peer::signaling
