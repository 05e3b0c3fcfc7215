#pragma once
// Errors of the SRTP layer. Like the RTP layer's (core/rtp/result.hpp), they sit on the
// media hot path: nothing throws or allocates, an Error names what failed in a static
// message, and describe() formats it for a log line (allocating; only on failure).

#include <cstdint>
#include <string>
#include <string_view>

namespace peer::srtp {

enum class ErrorCode : uint8_t {
  bad_length,        // shorter than its header (and trailer), or longer than the buffer
  bad_header,        // not version 2, or the CSRCs / header extension run past the packet
  buffer_too_small,  // protect: no room after `length` for the trailer (rtp_overhead())
  auth_failed,       // the authentication tag does not verify: tampered, wrong key, not SRTP
  replayed,          // this index was seen already (protect: this sequence was sent already)
  too_old,           // the index lies behind the replay window
  too_many_streams,  // a new SSRC while SrtpOptions::max_streams streams exist
  key_expired,       // the key's packet limit is reached (2^48 SRTP, 2^31 SRTCP): rekey
  no_session,        // the session was moved from
  internal,          // libsrtp failed otherwise (Error::status says how)
};

// The stable name of a code ("auth_failed", "replayed", ...).
std::string_view to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::internal;
  int status = 0;            // libsrtp's srtp_err_status_t; 0 when the check was ours
  const char* message = "";  // static: what was checked, with the RFC section
  bool operator==(const Error&) const = default;
};

// "auth_failed (libsrtp status 7): ..." for logs and counters' labels.
std::string describe(const Error& error);

}  // namespace peer::srtp
