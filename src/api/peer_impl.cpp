#include "api/peer_impl.hpp"

#include "api/sctp_clock.hpp"

#include <openssl/rand.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "core/demux.hpp"
#include "core/sdp/candidate.hpp"
#include "ice/ice_server.hpp"

namespace peer::detail {
namespace {

using Clock = std::chrono::steady_clock;

// Early DTLS datagrams are few (a first flight); more than this is not a handshake.
constexpr std::size_t kMaxEarlyDatagrams = 32;
constexpr std::size_t kMaxEarlyCandidates = 1000;

std::uint64_t random_session_id() {
  std::uint64_t id = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id);
  return id & 0x3fffffffffffffffULL;  // RFC 8866 section 5.2 suggests a 63-bit NTP-like value
}

std::string_view dtls_state_name(dtls::DtlsState s) {
  switch (s) {
    case dtls::DtlsState::new_:
      return "new";
    case dtls::DtlsState::connecting:
      return "connecting";
    case dtls::DtlsState::connected:
      return "connected";
    case dtls::DtlsState::failed:
      return "failed";
    case dtls::DtlsState::closed:
      return "closed";
  }
  return "new";
}

// The largest message we accept (store key "optional": {"max-message-size": N}, announced as
// a=max-message-size, RFC 8841 section 6), read in one place for the description and SCTP.
// Absent: nullopt (the defaults apply). Anything but a positive integer is the caller's error.
std::optional<std::uint64_t> local_max_message_size(const json& optional) {
  if (!optional.is_object()) return std::nullopt;
  const auto it = optional.find("max-message-size");
  if (it == optional.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() <= 0) {
    throw Error(Errc::invalid_argument,
                fmt::format("optional.max-message-size must be a positive integer, not {}", it->dump()));
  }
  return it->get<std::uint64_t>();
}

}  // namespace

PeerImpl::PeerImpl(Store store) : store_(std::move(store)), loop_(runtime::EventLoop::pooled()) {
  session_id_ = random_session_id();
  channels_ = session::DataChannels(channel_callbacks());
  dispatch_on_loop(store_);
}

PeerImpl::~PeerImpl() = default;

void PeerImpl::dispatch_on_loop(Store& store) {
  // Weak: a store outliving the loop (a handle kept after the last peer) drops events.
  std::weak_ptr<runtime::EventLoop> weak_loop = loop_;
  store.set_dispatcher([weak_loop](std::function<void()> fn) {
    if (auto loop = weak_loop.lock()) loop->post(std::move(fn));
  });
}

void PeerImpl::call(std::function<void()> fn) {
  if (loop_->in_loop_thread()) {
    // User code runs inside the verbs (hooks, filters, callbacks) and may drop the last
    // handle: keep this alive until the verb returns.
    auto self = shared_from_this();
    fn();
  } else if (runtime::EventLoop::on_any_loop_thread()) {
    // Blocking one loop on another could deadlock both; post and report errors as events.
    loop_->post([self = shared_from_this(), fn = std::move(fn)] {
      try {
        fn();
      } catch (const Error& e) {
        self->report_error(e.code(), e.what());
      } catch (const std::exception& e) {
        self->report_error(Errc::internal, e.what());
      }
    });
  } else {
    loop_->run_sync(std::move(fn));
  }
}

void PeerImpl::require_open(const char* verb) const {
  if (closed_) throw Error(Errc::closed, fmt::format("{}(): the peer is closed", verb));
}

void PeerImpl::set_state(const char* key, std::string_view value) {
  if (store_.get(key) != value) store_.set(key, std::string(value));
}

void PeerImpl::publish_signaling() { set_state("signaling", session::to_string(jsep_.state())); }

void PeerImpl::report_error(Errc code, const std::string& message) {
  if (closed_) return;
  store_.emit("error", {json{{"code", std::string(to_string(code))}, {"message", message}}});
}

// --- create ------------------------------------------------------------------------------

void PeerImpl::create() {
  require_open("create");
  if (created_) return;

  ice::IceConfig config;
  config.servers = ice::parse_ice_servers(store_.get("servers"));
  const json policy = store_.get("iceTransportPolicy");
  if (!policy.is_null()) {
    if (policy == "relay") {
      config.relay_only = true;
    } else if (policy != "all") {
      throw Error(
          Errc::invalid_argument,
          fmt::format("iceTransportPolicy must be \"all\" or \"relay\", not {}", policy.dump()));
    }
  }
  const json addresses = store_.get("addresses");
  if (!addresses.is_null()) {
    if (!addresses.is_array()) {
      throw Error(Errc::invalid_argument, "addresses must be a list of local IP addresses");
    }
    for (const auto& a : addresses) {
      if (!a.is_string()) {
        throw Error(Errc::invalid_argument,
                    fmt::format("addresses: {} is not an IP address string", a.dump()));
      }
      config.local_addresses.push_back(a.get<std::string>());
    }
  }

  // ICE-TCP (RFC 6544) is opt-in ("ice-tcp": true), as in Pion and libdatachannel: TCP
  // candidates only help where UDP is blocked, and there TURN over TCP/TLS (a "servers"
  // entry) is the usual answer. "ice-udp": false leaves UDP out (with ICE-TCP, a peer that
  // connects over TCP only).
  auto flag = [&](const char* key, bool otherwise) {
    const json value = store_.get(key);
    if (!value.is_null() && !value.is_boolean()) {
      throw Error(Errc::invalid_argument, fmt::format("{} must be true or false", key));
    }
    return value.is_boolean() ? value.get<bool>() : otherwise;
  };
  config.tcp = flag("ice-tcp", false);
  config.udp = flag("ice-udp", true);
  // Host addresses behind mDNS names, as browsers (draft-ietf-mmusic-mdns-ice-candidates):
  // privacy for a peer in a page-like role; off by default, since a native peer talking to
  // a server across networks gains nothing and the remote must resolve the names.
  config.mdns_names = flag("ice-mdns", false);
  if (!config.udp && !config.tcp) {
    throw Error(Errc::invalid_argument,
                "ice-udp is false and ice-tcp is not true: no ICE transport is left");
  }

  // SCTP streams offered each way (the association uses the smaller of both offers).
  // usrsctp allocates per-stream state for the whole count at setup, ~100 bytes a stream:
  // 256 keeps an idle peer small (the scale issue) and still lets each side open 128
  // channels (its ids are every other one, RFC 8832 section 6); more costs memory.
  const json streams = store_.get("sctp-streams");
  if (!streams.is_null()) {
    if (!streams.is_number_integer() || streams.get<std::int64_t>() < 2 || streams.get<std::int64_t>() > 65535) {
      throw Error(Errc::invalid_argument,
                  fmt::format("sctp-streams must be an integer within 2-65535, not {}", streams.dump()));
    }
    sctp_streams_ = static_cast<std::uint16_t>(streams.get<std::int64_t>());
  }

  const json certificate = store_.get("certificate");
  if (certificate.is_object() && certificate.contains("cert") && certificate.contains("key")) {
    certificate_ = dtls::Certificate::from_pem(certificate["cert"].get<std::string>(),
                                               certificate["key"].get<std::string>());
  } else if (certificate == "new") {
    certificate_ = dtls::Certificate::generate();
  } else if (!certificate.is_null()) {
    throw Error(Errc::bad_certificate,
                "certificate must be {\"cert\": PEM, \"key\": PEM} or \"new\"");
  } else {
    certificate_ = dtls::Certificate::process_default();
  }

  // The transport calls these from the loop: nothing may throw through them (store
  // formatters and compute functions are user code), so each is guarded.
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  auto guarded = [weak](auto&& body) {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    try {
      body(*self);
    } catch (const std::exception& e) {
      self->report_error(Errc::internal, e.what());
    }
  };
  ice::IceCallbacks callbacks;
  callbacks.on_candidate = [guarded](const std::string& c) {
    guarded([&](PeerImpl& self) { self.on_candidate(c); });
  };
  callbacks.on_gathering_done = [guarded] {
    guarded([](PeerImpl& self) { self.on_gathering_done(); });
  };
  callbacks.on_state = [guarded](ice::IceState st) {
    guarded([&](PeerImpl& self) { self.on_ice_state(st); });
  };
  callbacks.on_selected_pair = [guarded](const std::string& local, const std::string& remote) {
    guarded([&](PeerImpl& self) {
      self.store_.set("pair", {{"local", local}, {"remote", remote}});
      self.on_new_pair();
    });
  };
  callbacks.on_receive = [guarded](std::span<const std::byte> datagram) {
    guarded([&](PeerImpl& self) { self.on_receive(datagram); });
  };
  // Informational (a STUN server that does not answer while others do): kept in the store;
  // it becomes part of the error event if ICE fails.
  callbacks.on_error = [guarded](const std::string& message) {
    guarded([&](PeerImpl& self) {
      self.last_ice_error_ = message;
      self.store_.set("ice-error", message);
    });
  };
  ice_ = ice::IceTransport::create(*loop_, std::move(config), std::move(callbacks));
  created_ = true;
  store_.set("fingerprint", "sha-256 " + certificate_->fingerprint());
  store_.emit("create");
}

// --- offer / answer ------------------------------------------------------------------------

session::LocalTransport PeerImpl::local_transport(std::string setup) const {
  session::LocalTransport t;
  t.ice_ufrag = ice_->local_ufrag();
  t.ice_pwd = ice_->local_pwd();
  t.fingerprint = certificate_->fingerprint();
  t.setup = std::move(setup);
  t.session_id = session_id_;
  t.session_version = jsep_.session_version();
  if (const auto mms = local_max_message_size(store_.get("optional"))) t.max_message_size = *mms;
  return t;
}

json PeerImpl::describe(std::string_view type, const sdp::Description& description) const {
  return {{"type", std::string(type)}, {"sdp", sdp::write(description)}};
}

sdp::Description PeerImpl::filtered(const sdp::Description& description) const {
  if (filters_.empty()) return description;
  std::string text = sdp::write(description);
  for (const auto& filter : filters_) text = filter(std::move(text));
  try {
    return sdp::parse(text);
  } catch (const Error& e) {
    throw Error(Errc::invalid_argument,
                fmt::format("a codec() filter produced an invalid description: {}", e.what()));
  }
}

void PeerImpl::offer(const Peer::DescriptionCallback& fn, const json& options) {
  require_open("offer");
  jsep_.check_offer();
  create();
  const bool ice_restart = options.is_object() && options.value("iceRestart", false) == true;
  if (ice_restart) jsep_.check_restart();
  store_.emit_now("before offer", {options});
  require_open("offer");  // a hook may have closed the peer
  if (ice_restart) {
    restart_ice();
    jsep_.begin_restart();  // ours: the answer ends it (a restart we join is not ours)
  }
  sdp::Description built;
  if (jsep_.remote()) {
    // A subsequent offer (renegotiation): same transport, same ICE roles (RFC 8445 section
    // 7.1.2: no role change without an ICE restart), sections kept in place, new ones after.
    built = reoffer_description();
  } else {
    ice_->set_controlling(true);  // the offerer is the controlling agent (RFC 8829 section 3.5.1)
    const auto media = offer_media_sections();  // audio/video first, then data (mid N)
    built = session::make_offer(local_transport("actpass"), media, std::to_string(media.size()));
  }
  const sdp::Description description = filtered(built);
  require_open("offer");
  apply_local(description, session::DescriptionType::offer);
  const json out = describe("offer", description);
  if (fn) fn(out);
  store_.queue("offer", {out});
}

void PeerImpl::answer(const Peer::DescriptionCallback& fn, const json& options) {
  require_open("answer");
  jsep_.check_answer();
  std::optional<std::string> requested;  // "setup": "active" | "passive"
  if (options.is_object() && options.contains("setup")) {
    const json& s = options["setup"];
    requested = s.is_string() ? s.get<std::string>() : s.dump();
  }
  const std::string setup =
      jsep_.answer_setup(requested, dtls_ ? std::optional(dtls_->role()) : std::nullopt);
  store_.emit_now("before answer", {options});
  require_open("answer");  // a hook may have closed the peer
  if (jsep_.state() != session::SignalingState::have_remote_offer) {
    throw Error(Errc::invalid_state, "answer(): a \"before answer\" hook changed the state");
  }
  // The remote offer was parsed and checked by remote(); rebuild its model for the answer.
  const auto transport = local_transport(setup);
  if (!jsep_.renegotiation()) media_.clear();
  const sdp::Description& offer = *jsep_.remote_offer();
  const auto accepted = answer_media_sections(offer, transport);
  const sdp::Description description = filtered(session::make_answer(offer, transport, accepted));
  require_open("answer");
  apply_local(description, session::DescriptionType::answer);
  media_negotiated();
  const json out = describe("answer", description);
  if (fn) fn(out);
  store_.queue("answer", {out});
}

void PeerImpl::local(const json& description) {
  require_open("local");
  if (!description.is_object() || !description.contains("sdp") || !description["sdp"].is_string() ||
      !description.contains("type") || !description["type"].is_string()) {
    throw Error(Errc::invalid_argument,
                "local(): expected {\"type\": \"offer\"|\"answer\", \"sdp\": \"...\"}");
  }
  const std::string name = description["type"].get<std::string>();
  const auto type = session::description_type(name);
  if (!type) throw Error(Errc::invalid_argument, fmt::format("local(): unknown type \"{}\"", name));
  jsep_.check_local(*type);
  create();
  if (*type == session::DescriptionType::offer) ice_->set_controlling(true);
  apply_local(sdp::parse(description["sdp"].get<std::string>()), *type);
}

void PeerImpl::apply_local(const sdp::Description& description, session::DescriptionType type) {
  const session::RemoteTransport ours = jsep_.apply_local(description, type);  // throws before any change
  publish_signaling();
  // As answerer our role is what our answer says (RFC 8842 section 5.3).
  if (type == session::DescriptionType::answer) {
    start_dtls_endpoint(ours.setup == "passive" ? dtls::Role::server : dtls::Role::client);
  }
  store_.set("local", describe(session::to_string(type), description));
  if (!gathering_started_) {
    gathering_started_ = true;
    set_state("gathering", "gathering");
    ice_->gather();
  }
}

// --- remote --------------------------------------------------------------------------------

void PeerImpl::remote(const json& description) {
  require_open("remote");
  if (!description.is_object() || !description.contains("type") ||
      !description["type"].is_string() || !description.contains("sdp") ||
      !description["sdp"].is_string()) {
    report_error(Errc::bad_sdp,
                 "remote(): expected {\"type\": \"offer\"|\"answer\", \"sdp\": \"...\"}, got " +
                     description.dump().substr(0, 120));
    return;
  }
  const std::string name = description["type"].get<std::string>();
  const auto type = session::description_type(name);
  if (!type) {
    report_error(Errc::bad_sdp, fmt::format("remote(): unknown description type \"{}\"", name));
    return;
  }
  jsep_.check_remote(*type);

  session::RemoteChange change;
  sdp::Description parsed;
  try {
    parsed = sdp::parse(description["sdp"].get<std::string>());
  } catch (const Error& e) {
    report_error(e.code(), fmt::format("remote {}: {}", name, e.what()));
    return;
  }
  create();  // before the description is applied: what it can throw leaves nothing half done
  try {
    // A renegotiation (JSEP 5.10/5.11) keeps the DTLS certificate and the roles as they are;
    // new ICE credentials are the remote's ICE restart (RFC 8445 section 9.2): the agent
    // restarts (an answerer with new credentials of its own, JSEP 5.3.1), the rest stays.
    // An answer is kept (parsed) for its media sections; an offer moves into jsep_.
    change = jsep_.apply_remote(*type == session::DescriptionType::offer ? std::move(parsed) : parsed, *type);
  } catch (const Error& e) {
    report_error(e.code(), fmt::format("remote {}: {}", name, e.what()));
    return;
  }
  publish_signaling();
  const session::RemoteTransport& transport = *jsep_.remote();
  if (change.first) {
    data_ = transport.has_data;
    remote_max_message_size_.store(transport.max_message_size);
  }
  if (*type == session::DescriptionType::offer) {
    if (change.first) ice_->set_controlling(false);
  } else {
    read_media_answer(parsed);
    media_negotiated();
    start_dtls_endpoint(*change.offerer_dtls_role);  // a no-op when DTLS runs already
  }
  store_.set("remote", description);
  if (!change.new_credentials) return;
  ice_->set_remote_credentials(transport.ice_ufrag, transport.ice_pwd);
  // Answering a restart: new credentials of our own for the answer (the agent joins the
  // restart the remote credentials began).
  if (change.join_restart) restart_ice();
  for (const auto& c : transport.candidates) apply_remote_candidate(json{{"candidate", c}});
  auto early = std::move(early_candidates_);
  early_candidates_.clear();
  for (const auto& c : early) apply_remote_candidate(c);
  if (transport.end_of_candidates) ice_->remote_gathering_done();
}

void PeerImpl::ice(const json& candidate) {
  require_open("ice");
  if (!jsep_.remote()) {
    if (early_candidates_.size() >= kMaxEarlyCandidates) {
      report_error(Errc::bad_candidate, "ice(): too many candidates before the remote description");
      return;
    }
    early_candidates_.push_back(candidate);
    return;
  }
  apply_remote_candidate(candidate);
}

void PeerImpl::apply_remote_candidate(const json& candidate) {
  std::string line;
  if (candidate.is_string()) {
    line = candidate.get<std::string>();
  } else if (candidate.is_object()) {
    const json c = candidate.value("candidate", json());
    if (!c.is_null() && !c.is_string()) {
      report_error(Errc::bad_candidate, "ice(): \"candidate\" must be a string, got " + c.dump());
      return;
    }
    if (c.is_string()) line = c.get<std::string>();
    const json mid = candidate.value("sdpMid", json());
    const auto& mids = jsep_.remote()->bundle_mids;
    if (mid.is_string() &&
        std::find(mids.begin(), mids.end(), mid.get<std::string>()) == mids.end()) {
      report_error(Errc::bad_candidate,
                   fmt::format("ice(): candidate for sdpMid \"{}\", which is not in the "
                               "transport's BUNDLE group (mid \"{}\")",
                               mid.get<std::string>(), jsep_.remote()->mid));
      return;
    }
  } else if (!candidate.is_null()) {
    report_error(Errc::bad_candidate,
                 "ice(): expected {\"candidate\": \"candidate:...\", \"sdpMid\": ...}, got " +
                     candidate.dump().substr(0, 120));
    return;
  }
  if (line.empty() || line == "a=end-of-candidates" || line == "end-of-candidates") {
    ice_->remote_gathering_done();
    return;
  }
  try {
    const sdp::Candidate parsed = sdp::parse_candidate(line);  // names the bad field
    // An mDNS name (draft-ietf-mmusic-mdns-ice-candidates) hides a browser's host address:
    // the transport resolves it (docs/architecture.md section 6.1).
    ice_->add_remote_candidate(line);
  } catch (const Error& e) {
    report_error(Errc::bad_candidate, e.what());
  }
}

void PeerImpl::codec(Peer::SdpFilter filter) {
  require_open("codec");
  if (!filter) throw Error(Errc::invalid_argument, "codec(): the filter is empty");
  filters_.push_back(std::move(filter));
}

// --- ICE -----------------------------------------------------------------------------------

// New local ICE credentials and candidates (RFC 8445 section 9), before the description that
// carries them is built.
void PeerImpl::restart_ice() {
  ice_->restart();
  gathered_.clear();  // a new generation of candidates
  gathering_done_ = false;
  set_state("gathering", "gathering");
}

void PeerImpl::on_candidate(const std::string& candidate) {
  gathered_.push_back(candidate);
  // The mid and index of our data section: what a browser's addIceCandidate expects.
  store_.queue("candidate", {json{{"candidate", candidate},
                                  {"sdpMid", jsep_.local_mid()},
                                  {"sdpMLineIndex", jsep_.local_mline_index()}}});
}

void PeerImpl::on_gathering_done() {
  gathering_done_ = true;
  set_state("gathering", "complete");
  json ready = json::object();
  if (jsep_.local_description()) {
    sdp::Description full = *jsep_.local_description();
    session::add_candidates(full, gathered_);
    ready = describe(session::to_string(jsep_.local_type()), full);
  }
  store_.queue("ready", {ready});
}

void PeerImpl::on_ice_state(ice::IceState state) {
  const bool back = ice_state_ == ice::IceState::disconnected &&
                    (state == ice::IceState::connected || state == ice::IceState::completed);
  ice_state_ = state;
  // Consent came back on the same pair after an outage: data sent meanwhile may have made
  // usrsctp mark the path unreachable, and it would wait for its next own heartbeat (up to
  // 30 s) before sending again. Probe it now, as after a new pair.
  if (back) on_new_pair();
  set_state("ice", ice::to_string(state));
  if (state == ice::IceState::failed) {
    report_error(Errc::ice_failed, last_ice_error_.empty()
                                       ? "ICE failed: no candidate pair works"
                                       : "ICE failed: no candidate pair works; " + last_ice_error_);
  }
  if ((state == ice::IceState::connected || state == ice::IceState::completed) && dtls_ &&
      dtls_->role() == dtls::Role::client && dtls_->state() == dtls::DtlsState::new_) {
    dtls_->start(Clock::now());
    after_dtls();
  }
  update_connection();
}

// A pair selected after the first (an ICE restart, or a better pair): SCTP heartbeats on
// the new path (Association::probe_path says why). Three: now, after 250 ms and after 1 s,
// because the first may go out before the remote has selected the new pair too, and its
// answer then takes the remote's old, dead route.
void PeerImpl::on_new_pair() {
  path_probes_ = 3;
  probe_path();
}

void PeerImpl::probe_path() {
  if (!sctp_ || closed_ || path_probes_ <= 0) return;
  --path_probes_;
  if (!processing_sctp_) {  // never inside usrsctp's own processing
    if (!sctp_->probe_path()) spdlog::debug("peer: usrsctp refused a heartbeat: {}", std::strerror(errno));
    process_sctp();
  }
  if (path_probes_ == 0) return;
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  path_probe_timer_ = loop_->call_after(path_probes_ == 2 ? std::chrono::milliseconds(250) : std::chrono::milliseconds(750),
                                        [weak] {
                                          if (auto self = weak.lock()) self->probe_path();
                                        });
}

void PeerImpl::on_receive(std::span<const std::byte> datagram) {
  ++datagrams_;
  const PacketKind kind = classify(datagram);
  if (kind == PacketKind::rtp_rtcp) {  // RFC 7983: SRTP/SRTCP
    on_srtp(datagram);
    return;
  }
  if (kind != PacketKind::dtls) return;
  if (!dtls_) {
    if (early_datagrams_.size() < kMaxEarlyDatagrams) {
      early_datagrams_.emplace_back(datagram.begin(), datagram.end());
    }
    return;
  }
  dtls_->handle_receive(Clock::now(), datagram);
  after_dtls();
}

// --- DTLS ----------------------------------------------------------------------------------

void PeerImpl::start_dtls_endpoint(dtls::Role role) {
  if (dtls_) return;
  dtls_ = std::make_unique<dtls::DtlsEndpoint>(*certificate_, role, jsep_.remote()->fingerprint_algorithm,
                                               jsep_.remote()->fingerprint);
  store_.set("role", role == dtls::Role::client ? "client" : "server");
  const auto now = Clock::now();
  // The server accepts at once; the client starts when ICE has a working pair.
  if (role == dtls::Role::server || ice_state_ == ice::IceState::connected ||
      ice_state_ == ice::IceState::completed) {
    dtls_->start(now);
  }
  for (const auto& d : early_datagrams_) dtls_->handle_receive(now, d);
  early_datagrams_.clear();
  after_dtls();
}

void PeerImpl::after_dtls() {
  if (!dtls_ || closed_) return;
  dtls_->drain_transmit([this](std::span<const std::byte> d) { ice_->send(d); });
  // The state first: the record that completes the handshake can arrive in the same buffer
  // as the peer's first SCTP packet (its INIT, sent the moment its side connected), and
  // that packet must reach the association created here, not be dropped for lack of one.
  if (dtls_->state_changed()) {
    const auto state = dtls_->state();
    set_state("dtls", dtls_state_name(state));
    if (state == dtls::DtlsState::failed) report_error(dtls_->error_code(), dtls_->error_message());
    if (state == dtls::DtlsState::connected) {
      if (data_) start_sctp();
      start_media();
    }
    update_connection();
    if (closed_ || !dtls_) return;
  }
  if (sctp_) {
    // DTLS application data is SCTP (RFC 8261): one record, one SCTP packet.
    bool any = false;
    dtls_->drain_application_data([&](std::span<const std::byte> packet) {
      sctp_->handle_receive(packet);
      any = true;
    });
    if (any) process_sctp();
    if (closed_ || !dtls_) return;
  } else {
    dtls_->drain_application_data([](std::span<const std::byte>) {});
  }
  if (auto deadline = dtls_->next_timeout()) {
    std::weak_ptr<PeerImpl> weak = weak_from_this();
    dtls_timer_ = loop_->call_at(*deadline, [weak] {
      auto self = weak.lock();
      if (!self || !self->dtls_) return;
      self->dtls_->handle_timeout(Clock::now());
      self->after_dtls();
    });
  } else {
    dtls_timer_.cancel();
  }
}

// RTCPeerConnectionState, from the ICE and DTLS states (W3C webrtc-pc section 4.3.3).
void PeerImpl::update_connection() {
  if (closed_) return;
  const auto d = dtls_ ? dtls_->state() : dtls::DtlsState::new_;
  std::string_view state = "new";
  if (ice_state_ == ice::IceState::failed || d == dtls::DtlsState::failed) {
    state = "failed";
  } else if (d == dtls::DtlsState::closed) {
    state = "closed";
  } else if (ice_state_ == ice::IceState::disconnected) {
    state = "disconnected";
  } else if (d == dtls::DtlsState::connected) {
    state = "connected";
  } else if (ice_state_ != ice::IceState::new_ || d == dtls::DtlsState::connecting) {
    state = "connecting";
  }
  set_state("connection", state);
}

// --- close ---------------------------------------------------------------------------------

void PeerImpl::close() {
  if (closed_) return;
  // Silence first: whatever happens below, no listener runs once close() returns.
  store_.silence();
  store_.off();
  closed_ = true;
  dtls_timer_.cancel();
  sctp_timer_.cancel();
  trim_timer_.cancel();
  path_probe_timer_.cancel();
  stop_media();
  for (auto& [key, channel] : channel_by_key_) {
    channel->store.silence();
    channel->store.off();  // listeners that hold their own Channel would keep it alive
    channel->state.store(ChannelImpl::State::closed);
  }
  // Unmapped at once: a message still being decoded finds no channel to deliver to.
  channel_by_key_.clear();
  sending_.clear();
  local_by_label_.clear();
  remote_by_label_.clear();
  jsep_.close();
  store_.set("signaling", "closed");
  store_.set("connection", "closed");
  if (processing_sctp_) {
    // Called from a message or channel callback while the association is being drained:
    // the transports go once that returns, from the top of the loop.
    loop_->post([self = shared_from_this()] { self->teardown(); });
    return;
  }
  teardown();
}

void PeerImpl::teardown() {
  if (sctp_ && dtls_ && dtls_->state() == dtls::DtlsState::connected && ice_) {
    sctp_->abort();  // tells the remote's channels at once (an SCTP ABORT)
    sctp_->drain_transmit([this](std::span<const std::byte> packet) { dtls_->send(packet); });
    flush_dtls();
  }
  sctp_.reset();
  sctp_clock_.reset();
  channels_ = session::DataChannels(session::DataChannels::Callbacks{});
  if (dtls_ && dtls_->state() == dtls::DtlsState::connected && ice_) {
    dtls_->close();  // close_notify, so the other side learns at once
    flush_dtls();
  }
  dtls_.reset();
  ice_.reset();
  early_datagrams_.clear();
}

// --- data channels -----------------------------------------------------------------------

std::shared_ptr<ChannelImpl> PeerImpl::make_channel(const std::string& label,
                                                    const ChannelOptions& options,
                                                    session::ChannelKey key) {
  auto channel = std::make_shared<ChannelImpl>(weak_from_this(), label, options, key);
  dispatch_on_loop(channel->store);
  channel_by_key_[key] = channel;
  return channel;
}

Channel PeerImpl::channel(const std::string& label, const ChannelOptions& options) {
  require_open("channel");
  if (auto it = local_by_label_.find(label); it != local_by_label_.end()) {
    return it->second->handle();
  }
  // The remote opened it first: this handle is that channel (one stream, both directions).
  if (auto it = remote_by_label_.find(label); it != remote_by_label_.end()) {
    auto channel = it->second;
    remote_by_label_.erase(it);
    local_by_label_[label] = channel;
    channel->announce = false;
    return channel->handle();
  }
  if (options.max_retransmits && options.max_packet_life_time) {
    throw Error(Errc::invalid_argument,
                "channel(): set max_retransmits or max_packet_life_time, not both");
  }
  session::ChannelConfig config;
  config.label = label;
  config.protocol = options.protocol;
  config.ordered = options.ordered;
  config.priority = options.priority;
  config.negotiated_id = options.id;
  if (options.max_retransmits) {
    config.reliability = sctp::Reliability::rexmit;
    config.reliability_parameter = *options.max_retransmits;
  } else if (options.max_packet_life_time) {
    config.reliability = sctp::Reliability::timed;
    config.reliability_parameter = *options.max_packet_life_time;
  }
  const session::ChannelKey key = next_key_++;
  // Known before add(): on a connected association add() opens it, and on_open looks it up.
  auto channel = make_channel(label, options, key);
  try {
    channels_.add(key, config);
  } catch (...) {
    channel_by_key_.erase(key);  // a bad negotiated id: nothing is kept
    throw;
  }
  local_by_label_[label] = channel;
  process_sctp();
  return channel->handle();
}

Channel PeerImpl::channel_from_any_thread(const std::string& label, const ChannelOptions& options) {
  if (!loop_->in_loop_thread() && runtime::EventLoop::on_any_loop_thread()) {
    throw Error(Errc::invalid_state,
                "channel(): call it from this peer's own callbacks or from a thread of yours, not "
                "from another peer's loop");
  }
  std::optional<Channel> result;
  call([&] { result = channel(label, options); });
  return std::move(*result);
}

void PeerImpl::channel_send(const std::shared_ptr<ChannelImpl>& channel, bool binary,
                            std::span<const std::byte> data) {
  // Checked here, in the caller's thread, so that a message the remote would refuse throws
  // right away (RFC 8841 section 6: never send more than a=max-message-size).
  const std::uint64_t limit = remote_max_message_size_.load(std::memory_order_relaxed);
  if (limit != 0 && data.size() > limit) {
    throw Error(Errc::invalid_argument,
                fmt::format("send(): a {}-byte message is larger than the remote accepts "
                            "(a=max-message-size:{})",
                            data.size(), limit));
  }
  if (loop_->in_loop_thread()) {
    require_open("send");
    channels_.send(channel->key, binary, data);
    sending_.insert(channel);
    process_sctp();
    return;
  }
  // From another thread: one copy, sent in order on the loop. Errors found there (the
  // channel closed meanwhile) become the channel's error event.
  channel->pending_post.fetch_add(data.size(), std::memory_order_relaxed);
  loop_->post([self = shared_from_this(), channel, binary,
               bytes = std::vector<std::byte>(data.begin(), data.end())] {
    channel->pending_post.fetch_sub(bytes.size(), std::memory_order_relaxed);
    if (self->closed_) return;
    try {
      self->channels_.send(channel->key, binary, bytes);
      self->sending_.insert(channel);
      self->process_sctp();
    } catch (const Error& e) {
      channel->store.emit(
          "error", {json{{"code", std::string(to_string(e.code()))}, {"message", e.what()}}});
    }
  });
}

void PeerImpl::channel_close(const std::shared_ptr<ChannelImpl>& channel) {
  call([this, channel] {
    if (closed_) return;
    if (channel->state.load() == ChannelImpl::State::open) {
      channel->state.store(ChannelImpl::State::closing);
      channel->store.set("state", "closing");
    }
    channels_.close(channel->key);
    for (auto key : channel->remote_keys) channels_.close(key);
    process_sctp();
  });
}

void PeerImpl::channel_threshold(const std::shared_ptr<ChannelImpl>& channel, std::size_t bytes) {
  call([this, channel, bytes] {
    if (!closed_) channels_.set_buffered_amount_low_threshold(channel->key, bytes);
  });
}

Subscription PeerImpl::on_channel(std::function<void(Channel)> fn) {
  auto listener = std::make_shared<ChannelListener>();
  listener->fn = std::move(fn);
  {
    std::lock_guard lock(channel_listeners_mutex_);
    channel_listeners_.push_back(listener);
  }
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  return Subscription::from([weak, listener] {
    listener->guard.mark_removed();
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->channel_listeners_mutex_);
      std::erase(self->channel_listeners_, listener);
    }
    listener->guard.wait_idle();  // no lock held (call_guard.hpp)
  });
}

session::DataChannels::Callbacks PeerImpl::channel_callbacks() {
  // DataChannels is a member and calls these only from our own methods on the loop thread,
  // so `this` outlives every call.
  session::DataChannels::Callbacks cb;
  cb.on_open = [this](session::ChannelKey key, std::uint16_t id) {
    auto it = channel_by_key_.find(key);
    if (it == channel_by_key_.end()) return;
    auto channel = it->second;
    channel->opened(id);
    store_.emit("channel open", {json{{"label", channel->label}, {"id", id}}});
    if (channel->announce) {
      // Synchronously, in the same context that delivers messages: a message that follows
      // the remote's OPEN must find the listeners this callback adds.
      channel->announce = false;
      std::vector<std::shared_ptr<ChannelListener>> listeners;
      {
        std::lock_guard lock(channel_listeners_mutex_);
        listeners = channel_listeners_;
      }
      for (const auto& l : listeners) {
        if (closed_) break;  // a listener closed the peer
        l->guard.call(l->fn, channel->handle());
      }
    }
  };
  cb.on_remote_open = [this](std::uint16_t id, const dcep::Open& open) {
    const session::ChannelKey key = next_key_++;
    // A remote channel with the label of one of ours is delivered to that handle.
    if (auto it = local_by_label_.find(open.label); it != local_by_label_.end()) {
      it->second->remote_keys.push_back(key);
      channel_by_key_[key] = it->second;
      return key;
    }
    ChannelOptions options;
    options.protocol = open.protocol;
    options.ordered = dcep::ordered(open.channel_type);
    options.priority = open.priority;
    auto channel = make_channel(open.label, options, key);
    channel->announce = true;  // in on_open, once DataChannels knows the channel
    remote_by_label_.try_emplace(open.label, channel);  // a later channel(label) adopts it
    (void)id;
    return key;
  };
  cb.on_message = [this](session::ChannelKey key, bool binary, std::span<const std::byte> data) {
    auto it = channel_by_key_.find(key);
    if (it != channel_by_key_.end()) it->second->deliver(binary, data);
  };
  cb.on_close = [this](session::ChannelKey key) {
    auto it = channel_by_key_.find(key);
    if (it == channel_by_key_.end()) return;
    auto channel = it->second;
    channel->closed(key);
    std::erase(channel->remote_keys, key);  // a remote stream of the same label went away
    if (key == channel->key) {
      store_.emit("channel close", {json{{"label", channel->label}}});
      if (auto l = local_by_label_.find(channel->label);
          l != local_by_label_.end() && l->second == channel) {
        local_by_label_.erase(l);
      }
      if (auto r = remote_by_label_.find(channel->label);
          r != remote_by_label_.end() && r->second == channel) {
        remote_by_label_.erase(r);
      }
    }
    channel_by_key_.erase(it);
  };
  cb.on_error = [this](session::ChannelKey key, const std::string& message) {
    auto it = channel_by_key_.find(key);
    if (it != channel_by_key_.end()) it->second->failed(message);
  };
  cb.on_buffered_low = [this](session::ChannelKey key) {
    auto it = channel_by_key_.find(key);
    if (it != channel_by_key_.end()) it->second->buffered_low();
  };
  return cb;
}

void PeerImpl::start_sctp() {
  if (sctp_ || !jsep_.remote()) return;
  sctp::SctpOptions options;
  options.remote_port = jsep_.remote()->sctp_port;
  options.local_port = 5000;
  options.mtu = dtls_->max_send_size();
  options.max_streams = sctp_streams_;
  if (const auto mms = local_max_message_size(store_.get("optional"))) options.max_message_size = *mms;
  sctp_ = std::make_unique<sctp::Association>(dtls_->role() == dtls::Role::client, options);
  sctp_->set_remote_max_message_size(jsep_.remote()->max_message_size);
  // Output for this association produced while another one was being driven (usrsctp is
  // process-wide) is flushed from our loop.
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  std::weak_ptr<runtime::EventLoop> weak_loop = loop_;
  sctp_->set_wakeup([weak, weak_loop] {
    if (auto loop = weak_loop.lock()) {
      loop->post([weak] {
        if (auto self = weak.lock()) self->process_sctp();
      });
    }
  });
  // usrsctp's timers run on the process's one SCTP clock (api/sctp_clock.hpp), not per peer.
  sctp_clock_ = SctpClock::hold();
  channels_.start(*sctp_);
  sctp_->connect();
  process_sctp();
}

// Only while a stream reset waits for usrsctp to take it (Association::wants_timers): the
// association's own retry, every timer_interval, until it went in.
void PeerImpl::arm_sctp_timer() {
  if (sctp_timer_.pending() || !sctp_ || closed_ || !sctp_->wants_timers()) return;
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  sctp_timer_ = loop_->call_after(sctp::Association::timer_interval, [weak] {
    auto self = weak.lock();
    if (!self || !self->sctp_ || self->closed_) return;
    self->sctp_->handle_timers(std::chrono::steady_clock::now());
    self->process_sctp();
  });
}

// A connection with no datagram either way for a second gives back the buffers its burst
// of traffic grew (DTLS and SCTP queues): idle peers are the many, and a busy one never
// gets here, so the data path still allocates nothing. The check runs once a second while
// datagrams flow and stops with them, so an idle peer has no timer for it.
void PeerImpl::arm_trim_timer() {
  if (trim_timer_.pending() || closed_) return;
  datagrams_at_check_ = datagrams_;
  std::weak_ptr<PeerImpl> weak = weak_from_this();
  trim_timer_ = loop_->call_after(std::chrono::seconds(1), [weak] {
    auto self = weak.lock();
    if (!self || self->closed_) return;
    if (self->datagrams_ != self->datagrams_at_check_) {
      self->arm_trim_timer();  // still busy
      return;
    }
    if (self->dtls_) self->dtls_->release_idle_buffers();
    if (self->sctp_) self->sctp_->release_idle_buffers();
  });
}

void PeerImpl::flush_dtls() {
  if (!dtls_ || !ice_) return;
  // One sendmmsg per batch (docs/performance.md lever 3). What the socket refuses is dropped,
  // as the network would: SCTP retransmits.
  dtls_->drain_transmit_batch([this](std::span<const std::span<const std::byte>> datagrams) {
    datagrams_ += datagrams.size();
    arm_trim_timer();
    constexpr std::size_t kBatch = 64;
    for (std::size_t at = 0; at < datagrams.size();) {
      const std::size_t n = std::min(kBatch, datagrams.size() - at);
      const std::size_t sent = ice_->send_batch(datagrams.subspan(at, n));
      at += sent == 0 ? n : sent;
    }
  });
}

void PeerImpl::process_sctp() {
  if (!sctp_ || processing_sctp_ || closed_) return;
  processing_sctp_ = true;  // channel callbacks may send, which lands here again
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{processing_sctp_};
  // Message and channel callbacks are user code, run here: one that throws must not stop
  // the association (the rest of the batch is still delivered).
  auto handle = [this](const sctp::Event& e) {
    try {
      channels_.handle_event(e);
    } catch (const std::exception& ex) {
      report_error(Errc::internal, fmt::format("a data channel callback threw: {}", ex.what()));
    }
  };
  // Events may make channels send (a DCEP ACK, queued messages on `writable`), and sending
  // may produce more output; a few rounds settle it.
  for (int round = 0; round < 8 && !closed_; ++round) {
    sctp_->drain_events([&handle](const sctp::Event& e) { handle(e); });
    if (closed_) return;  // a callback closed the peer: teardown is posted
    if (dtls_ && dtls_->state() == dtls::DtlsState::connected) {
      sctp_->drain_transmit([this](std::span<const std::byte> packet) { dtls_->send(packet); });
      flush_dtls();
    }
    if (!sctp_->has_output()) break;
  }
  channels_.poll_buffered();
  // Publish buffered amounts for channels that sent since they were last empty: not a walk
  // over every channel per packet.
  for (auto it = sending_.begin(); it != sending_.end();) {
    const std::size_t amount = channels_.buffered_amount((*it)->key);
    (*it)->set_buffered(amount);
    it = amount == 0 ? sending_.erase(it) : std::next(it);
  }
  arm_sctp_timer();  // only while a stream reset waits
}

PeerHandle::~PeerHandle() {
  try {
    // A raw pointer, not a copy of impl_: the closure may be destroyed on the loop thread
    // after call() returned, and must not hold the last reference there. Then the peer (and,
    // for the last peer, the loop thread, which is joined) is released here, before the
    // handle's destructor returns: a program can exit right after without a loop thread
    // still running under its atexit handlers. call() keeps impl_ alive while it runs.
    PeerImpl* impl = impl_.get();
    impl->call([impl] { impl->close(); });
  } catch (...) {
    // The loop is gone (process exit): nothing left to close.
  }
}

}  // namespace peer::detail
