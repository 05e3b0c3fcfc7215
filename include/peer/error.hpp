#pragma once
// peer::Error: the one exception type of the public API.
//
// Misuse of the API (answer() with no remote offer, a remote answer while stable) throws
// peer::Error. Problems with input from the network or from the remote side (a bad
// description or candidate) never throw across the library boundary: they become an
// `error` event carrying the same code and message.

#include <stdexcept>
#include <string>
#include <string_view>

namespace peer {

enum class Errc {
  invalid_state,         // the call does not fit the current state (message says what to do)
  invalid_argument,      // an argument has the wrong shape or value
  bad_sdp,               // a session description could not be parsed or lacks what WebRTC needs
  bad_candidate,         // an ICE candidate could not be parsed
  bad_dcep,              // a data channel establishment (DCEP, RFC 8832) message is malformed
  bad_certificate,       // a PEM certificate or key given in the store is unusable
  ice_failed,            // no candidate pair works (or no candidate could be gathered)
  dtls_failed,           // the DTLS handshake failed or the association broke
  fingerprint_mismatch,  // the remote certificate does not match a=fingerprint
  closed,                // the peer is closed
  internal,              // a dependency failed unexpectedly
};

// The stable, machine-readable name of a code ("invalid_state", "bad_sdp", ...).
std::string_view to_string(Errc code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }
  std::string_view code_name() const noexcept { return to_string(code_); }

 private:
  Errc code_;
};

}  // namespace peer
