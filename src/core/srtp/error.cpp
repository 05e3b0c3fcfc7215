#include "core/srtp/error.hpp"

#include <fmt/format.h>

namespace peer::srtp {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::bad_length:
      return "bad_length";
    case ErrorCode::bad_header:
      return "bad_header";
    case ErrorCode::buffer_too_small:
      return "buffer_too_small";
    case ErrorCode::auth_failed:
      return "auth_failed";
    case ErrorCode::replayed:
      return "replayed";
    case ErrorCode::too_old:
      return "too_old";
    case ErrorCode::too_many_streams:
      return "too_many_streams";
    case ErrorCode::key_expired:
      return "key_expired";
    case ErrorCode::no_session:
      return "no_session";
    case ErrorCode::internal:
      return "internal";
  }
  return "unknown";
}

std::string describe(const Error& error) {
  if (error.status == 0) return fmt::format("{}: {}", to_string(error.code), error.message);
  return fmt::format("{} (libsrtp status {}): {}", to_string(error.code), error.status,
                     error.message);
}

}  // namespace peer::srtp
