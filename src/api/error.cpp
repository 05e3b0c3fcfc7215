#include "peer/error.hpp"

namespace peer {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_state:
      return "invalid_state";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::bad_sdp:
      return "bad_sdp";
    case Errc::bad_candidate:
      return "bad_candidate";
    case Errc::bad_dcep:
      return "bad_dcep";
    case Errc::bad_certificate:
      return "bad_certificate";
    case Errc::ice_failed:
      return "ice_failed";
    case Errc::dtls_failed:
      return "dtls_failed";
    case Errc::fingerprint_mismatch:
      return "fingerprint_mismatch";
    case Errc::closed:
      return "closed";
    case Errc::internal:
      return "internal";
  }
  return "unknown";
}

}  // namespace peer
