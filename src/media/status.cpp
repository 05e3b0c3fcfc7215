#include "media/status.hpp"

namespace peer::media {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::io: return "io";
    case ErrorCode::bad_format: return "bad_format";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::truncated: return "truncated";
    case ErrorCode::end_of_stream: return "end_of_stream";
    case ErrorCode::need_keyframe: return "need_keyframe";
    case ErrorCode::corrupt: return "corrupt";
    case ErrorCode::codec: return "codec";
    case ErrorCode::no_picture: return "no_picture";
  }
  return "unknown";
}

}  // namespace peer::media
