#pragma once
// Room tokens: a server secret grants entry to one room until an expiry time.
//
//   token = ROOM "." EXPIRY "." HEX(HMAC-SHA256(secret, ROOM "." EXPIRY))
//
// EXPIRY is Unix seconds in decimal. The room is inside the token so that a token names
// what it grants when read in a log; the server still checks it against the joined room.
// Rooms may contain '.', so the token is split at its last two dots.

#include <cstdint>
#include <string>
#include <string_view>

namespace peer::signaling {

enum class TokenStatus { ok, malformed, wrong_room, expired, bad_signature };

std::string_view to_string(TokenStatus status) noexcept;

std::string mint_token(std::string_view room, std::int64_t expires_unix, std::string_view secret);

// Checks a token for `room` at time `now_unix` (signature compared in constant time).
TokenStatus verify_token(std::string_view token, std::string_view room, std::int64_t now_unix,
                         std::string_view secret);

// Reads a secret file: its content without trailing white space. Throws
// std::runtime_error when the file cannot be read or the secret is empty.
std::string read_secret_file(const std::string& path);

}  // namespace peer::signaling
