#include "core/session/negotiation.hpp"

#include <utility>

#include <fmt/format.h>

#include "peer/error.hpp"

namespace peer::session {

std::string_view to_string(SignalingState state) noexcept {
  switch (state) {
    case SignalingState::stable: return "stable";
    case SignalingState::have_local_offer: return "have-local-offer";
    case SignalingState::have_remote_offer: return "have-remote-offer";
    case SignalingState::closed: return "closed";
  }
  return "closed";
}

std::string_view to_string(DescriptionType type) noexcept {
  return type == DescriptionType::offer ? "offer" : "answer";
}

std::optional<DescriptionType> description_type(std::string_view name) noexcept {
  if (name == "offer") return DescriptionType::offer;
  if (name == "answer") return DescriptionType::answer;
  return std::nullopt;
}

// The peer's verbs check closed() themselves (Errc::closed, before anything else); the checks
// here are about the exchange (JSEP section 3.2's state machine).

void Negotiation::check_offer() const {
  if (state_ == SignalingState::have_remote_offer) {
    throw Error(Errc::invalid_state, "offer(): a remote offer is pending; call answer() to answer it first");
  }
}

void Negotiation::check_answer() const {
  if (state_ != SignalingState::have_remote_offer) {
    throw Error(Errc::invalid_state, "answer(): there is no remote offer to answer; call remote(offer) first");
  }
}

void Negotiation::check_local(DescriptionType type) const {
  if (type == DescriptionType::answer && state_ != SignalingState::have_remote_offer) {
    throw Error(Errc::invalid_state, "local(answer): there is no remote offer; call remote(offer) first");
  }
  if (type == DescriptionType::offer && state_ == SignalingState::have_remote_offer) {
    throw Error(Errc::invalid_state, "local(offer): a remote offer is pending; answer it first");
  }
}

void Negotiation::check_remote(DescriptionType type) const {
  if (type == DescriptionType::offer && state_ == SignalingState::have_local_offer) {
    throw Error(Errc::invalid_state,
                "remote(offer): we have a local offer pending (glare); roll back or wait for the answer");
  }
  if (type == DescriptionType::answer && state_ != SignalingState::have_local_offer) {
    throw Error(Errc::invalid_state, "remote(answer): there is no local offer to answer; call offer() first");
  }
}

void Negotiation::check_stable_for_tracks() const {
  if (state_ != SignalingState::stable) {
    throw Error(Errc::invalid_state,
                "a track can be added or removed while no offer is pending (signaling stable); answer or "
                "finish the current exchange first");
  }
}

void Negotiation::check_restart() const {
  if (!remote_) {
    throw Error(Errc::invalid_state,
                "restart(): there is no connection to restart yet; exchange descriptions first");
  }
}

std::string Negotiation::answer_setup(std::optional<std::string_view> requested,
                                      std::optional<dtls::Role> running) const {
  std::string setup = "active";  // RFC 8842 section 5.3: the answerer should be the client
  if (requested) {
    if (*requested != "active" && *requested != "passive") {
      throw Error(Errc::invalid_argument,
                  fmt::format("answer(): setup must be \"active\" or \"passive\", not \"{}\"", *requested));
    }
    setup = std::string(*requested);
  }
  // The offerer may have fixed the roles already (RFC 8842 section 5.2).
  if (remote_ && remote_->setup == "active") setup = "passive";
  if (remote_ && remote_->setup == "passive") setup = "active";
  // In a renegotiation the DTLS association stays: our role is what it already is.
  if (renegotiation_ && running) setup = *running == dtls::Role::client ? "active" : "passive";
  return setup;
}

RemoteTransport Negotiation::apply_local(const sdp::Description& description, DescriptionType type) {
  // Read everything that can fail before changing any state.
  RemoteTransport ours = remote_transport(description, type == DescriptionType::offer);
  local_ = description;
  local_type_ = type;
  local_mid_ = ours.mid;
  local_mline_index_ = ours.mline_index;
  ++session_version_;
  state_ = type == DescriptionType::offer ? SignalingState::have_local_offer : SignalingState::stable;
  return ours;
}

RemoteChange Negotiation::apply_remote(sdp::Description description, DescriptionType type) {
  const bool is_offer = type == DescriptionType::offer;
  RemoteTransport transport = remote_transport(description, is_offer);
  if (!is_offer && transport.setup == "actpass") {
    throw Error(Errc::bad_sdp, "a=setup:actpass is not allowed in an answer (RFC 8842 section 5.3)");
  }
  // A renegotiation (JSEP sections 5.10, 5.11) keeps the DTLS certificate and the roles.
  const bool again = remote_.has_value();
  if (again && transport.fingerprint != remote_->fingerprint) {
    throw Error(Errc::bad_sdp,
                "a new certificate in a renegotiation is not supported (the DTLS association would have to "
                "start over)");
  }

  RemoteChange change;
  change.first = !again;
  // New ICE credentials are the remote's ICE restart (RFC 8445 section 9.2).
  change.ice_restart =
      again && (transport.ice_ufrag != remote_->ice_ufrag || transport.ice_pwd != remote_->ice_pwd);
  change.new_credentials = change.first || change.ice_restart;
  change.join_restart = change.ice_restart && is_offer && !restarting_;
  if (!is_offer) change.offerer_dtls_role = offerer_role(transport);

  if (again) {
    remote_->bundle_mids = std::move(transport.bundle_mids);  // new sections join the bundle
    remote_->ice_ufrag = std::move(transport.ice_ufrag);
    remote_->ice_pwd = std::move(transport.ice_pwd);
    remote_->candidates = std::move(transport.candidates);
    remote_->end_of_candidates = transport.end_of_candidates;
  } else {
    remote_ = std::move(transport);
  }
  if (is_offer) {
    remote_offer_ = std::move(description);
    renegotiation_ = again;
    state_ = SignalingState::have_remote_offer;
  } else {
    state_ = SignalingState::stable;
  }
  // The restart we started ends with the remote's answer to it (new credentials or not).
  if (change.new_credentials) restarting_ = false;
  return change;
}

}  // namespace peer::session
