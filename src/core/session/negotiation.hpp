#pragma once
// peer::session::Negotiation: the JSEP (RFC 8829) state of one peer's offer/answer exchange,
// as a pure unit: no I/O, no clock, no ICE or DTLS objects. It holds the signaling state
// (section 3.2: stable, have-local-offer, have-remote-offer, closed), the descriptions
// applied and what the remote's says about the transport, and decides what each verb may do
// in each state and what a description changes. The caller (src/api/peer_impl.cpp) carries
// the decisions out on the transports.
//
// Every check runs before anything changes: a refused call or description leaves the state,
// the descriptions and the remote transport as they were (nothing accepted is lost).
// Errors are peer::Error: invalid_state for a verb in the wrong state, bad_sdp for a
// description that cannot be applied, invalid_argument for a bad option. The core's other
// layers throw the same type (docs/architecture.md section 2 says why one error type).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/dtls/dtls_endpoint.hpp"
#include "core/sdp/description.hpp"
#include "core/session/transport_description.hpp"

namespace peer::session {

enum class SignalingState : std::uint8_t { stable, have_local_offer, have_remote_offer, closed };
// "stable", "have-local-offer", "have-remote-offer", "closed" (W3C RTCSignalingState).
std::string_view to_string(SignalingState state) noexcept;

enum class DescriptionType : std::uint8_t { offer, answer };
std::string_view to_string(DescriptionType type) noexcept;
// "offer" or "answer"; nullopt for anything else (pranswer and rollback are not supported).
std::optional<DescriptionType> description_type(std::string_view name) noexcept;

// What applying a remote description means for the transports.
struct RemoteChange {
  bool first = false;  // the first remote description: ICE, DTLS and SCTP start from it
  // A subsequent description with new ICE credentials: the remote restarts ICE (RFC 8445
  // section 9.2). The DTLS association and SCTP are not touched.
  bool ice_restart = false;
  // Give the ICE agent the remote's credentials and candidates (first or ice_restart).
  bool new_credentials = false;
  // A remote restart offer we did not start: our agent restarts too, with new local
  // credentials for the answer (JSEP section 5.3.1).
  bool join_restart = false;
  // An answer: our DTLS role as offerer (RFC 8842 section 5.3).
  std::optional<dtls::Role> offerer_dtls_role;
};

class Negotiation {
 public:
  SignalingState state() const noexcept { return state_; }
  bool closed() const noexcept { return state_ == SignalingState::closed; }

  // The checks of the verbs, by state. Each throws Error(invalid_state) naming the verb.
  void check_offer() const;                   // offer(): not while a remote offer waits
  void check_answer() const;                  // answer(): only while a remote offer waits
  void check_local(DescriptionType type) const;
  void check_remote(DescriptionType type) const;
  // Adding or removing a track: only in stable (no exchange half done).
  void check_stable_for_tracks() const;

  // ICE restart: offer({iceRestart: true}) needs a connection to restart.
  void check_restart() const;
  // Our restart offer is out (the agent restarted for it): the answer joins it.
  void begin_restart() noexcept { restarting_ = true; }
  bool restarting() const noexcept { return restarting_; }

  // The a=setup of our answer (RFC 8842 section 5.3). `requested`: the caller's "active" or
  // "passive" (none: active, which RFC 8842 recommends). The offerer's own active or
  // passive wins over it, and in a renegotiation the running association's role does
  // (`running`). Throws Error(invalid_argument) for any other `requested`.
  std::string answer_setup(std::optional<std::string_view> requested, std::optional<dtls::Role> running) const;

  // Our description was applied (offer(), answer(), local()): the state moves and the
  // session version counts up. Throws Error(bad_sdp), changing nothing, when the description
  // has no usable transport section. Returns what our description says about the transport.
  RemoteTransport apply_local(const sdp::Description& description, DescriptionType type);

  // The remote's description (remote()), after check_remote(type). Throws Error(bad_sdp),
  // changing nothing, when it cannot be applied: no usable section or credentials,
  // a=setup:actpass in an answer, a new certificate in a renegotiation.
  RemoteChange apply_remote(sdp::Description description, DescriptionType type);

  void close() noexcept { state_ = SignalingState::closed; }

  // What was applied.
  const std::optional<RemoteTransport>& remote() const noexcept { return remote_; }
  // The remote offer being answered (have-remote-offer), to build the answer from.
  const std::optional<sdp::Description>& remote_offer() const noexcept { return remote_offer_; }
  // The pending remote offer is a subsequent one (a renegotiation of a running session).
  bool renegotiation() const noexcept { return renegotiation_; }
  const std::optional<sdp::Description>& local_description() const noexcept { return local_; }
  DescriptionType local_type() const noexcept { return local_type_; }
  // Our bundled section's mid and index, for the candidates we signal.
  const std::string& local_mid() const noexcept { return local_mid_; }
  int local_mline_index() const noexcept { return local_mline_index_; }
  // The o= line's session version for the next description we build (RFC 8866 section 5.2).
  std::uint64_t session_version() const noexcept { return session_version_; }

 private:
  SignalingState state_ = SignalingState::stable;
  std::optional<RemoteTransport> remote_;
  std::optional<sdp::Description> remote_offer_;
  bool renegotiation_ = false;
  bool restarting_ = false;
  std::optional<sdp::Description> local_;
  DescriptionType local_type_ = DescriptionType::offer;
  std::string local_mid_ = "0";
  int local_mline_index_ = 0;
  std::uint64_t session_version_ = 1;
};

}  // namespace peer::session
