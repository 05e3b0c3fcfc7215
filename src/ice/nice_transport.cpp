#include "ice/nice_transport.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/udp.h>
#include <nice/agent.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <peer/error.hpp>

#include <cassert>
#include <optional>

namespace peer::ice {

// ---- libnice settings (the reasons) ----
//
// Measured on loopback (two agents, 127.0.0.1, gather() to connected, both sides), ms:
//                                     UDP    ICE-TCP
//   libnice defaults (Ta 20, aggressive)  22     85
//   Ta 5, regular nomination               18     24
//   Ta 5, aggressive nomination (chosen)    7     23
//   Ta 1 (below the RFC floor, not used)    4      8
//
// - nice_agent_new_full(ctx, NICE_COMPATIBILITY_RFC5245, ICE_TRICKLE): WebRTC always
//   trickles (RFC 8838): with the option libnice does not declare failure before
//   remote_gathering_done().
// - No NICE_AGENT_OPTION_CONSENT_FRESHNESS; keepalive-conncheck instead. libnice 0.1.21's
//   consent (RFC 7675) is not what the RFC says: its timeout is 10 s, not 30 s (raised
//   upstream in 0.1.22), and its requests, one every 4-6 s, are never retransmitted, so a
//   single lost request or response fails the component about half the time. Measured in
//   tests/field (5% loss each way, 30 +- 10 ms): the connection failed after 79-94 s.
//   keepalive-conncheck sends authenticated binding requests as keepalives, retransmitted
//   on libnice's default STUN timer (200 ms doubling, 7 retransmissions; not our settings
//   below), and declares failure only after ~50 s without an answer: the field suite's
//   lossy (5%) and hostile (20% + reordering) cells then stay up. Measured on an idle
//   connection: a 20 s outage is survived, a 60 s one fails 49.5 s in. A remote that goes
//   away is still noticed, after ~50 s instead of RFC 7675's 30 s. Our own agent
//   (docs/architecture.md section 2) brings real consent.
// - Aggressive nomination (no NICE_AGENT_OPTION_REGULAR_NOMINATION): the controlling agent
//   puts USE-CANDIDATE on every check, so the first pair that works is selected without a
//   second round of checks (table above). Controlled browsers accept it (RFC 5245 8.1.1.2).
// - stun-pacing-timer (Ta) 5 ms instead of 20: checks are paced one per Ta, which dominates
//   setup time on a LAN. RFC 8445 section 14.2 allows no less than 5 ms.
// - upnp off: libnice's UPnP IGD probe sends SSDP multicast and holds candidate-gathering-done
//   back by its 200 ms upnp-timeout (gathering took 201 ms with it, 1 ms without). A
//   non-trickle peer waits for gathering-done before sending its offer.
// - stun-initial-timeout 100 ms, 5 retransmissions (libnice: 200 ms, 7): a STUN/TURN server
//   that does not answer is given up after ~2 s (measured 1.9 s) instead of ~25 s, so
//   a relay_only transport with an unreachable TURN server fails in seconds.
//   stun-reliable-timeout (TCP) 3 s instead of 7.9 s for the same reason.
// - force-relay for relay_only: libnice then announces and pairs only relay candidates.
constexpr unsigned kStunPacingMs = 5;
constexpr unsigned kStunInitialTimeoutMs = 100;
constexpr unsigned kStunMaxRetransmissions = 5;
constexpr unsigned kStunReliableTimeoutMs = 3000;
constexpr int kReceiveBufferBytes = 4 * 1024 * 1024;  // docs/performance.md lever 4
constexpr guint kComponent = 1;                       // BUNDLE + rtcp-mux: one component

namespace {

// A numeric IP for `host`: as is when already numeric, else the first getaddrinfo answer.
std::optional<std::string> resolve(const std::string& host, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  char text[NI_MAXHOST] = {};
  rc = getnameinfo(result->ai_addr, result->ai_addrlen, text, sizeof text, nullptr, 0,
                   NI_NUMERICHOST);
  freeaddrinfo(result);
  if (rc != 0) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  return std::string(text);
}

std::string describe(const NiceCandidate* candidate) {
  const char* type = "host";
  switch (candidate->type) {
    case NICE_CANDIDATE_TYPE_HOST:
      type = "host";
      break;
    case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE:
      type = "srflx";
      break;
    case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE:
      type = "prflx";
      break;
    case NICE_CANDIDATE_TYPE_RELAYED:
      type = "relay";
      break;
  }
  const char* transport = "udp";
  switch (candidate->transport) {
    case NICE_CANDIDATE_TRANSPORT_UDP:
      transport = "udp";
      break;
    case NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE:
      transport = "tcp-active";
      break;
    case NICE_CANDIDATE_TRANSPORT_TCP_PASSIVE:
      transport = "tcp-passive";
      break;
    case NICE_CANDIDATE_TRANSPORT_TCP_SO:
      transport = "tcp-so";
      break;
  }
  char ip[NICE_ADDRESS_STRING_LEN] = {};
  nice_address_to_string(&candidate->addr, ip);
  unsigned port = nice_address_get_port(&candidate->addr);
  bool v6 = nice_address_ip_version(&candidate->addr) == 6;
  return fmt::format("{} {} {}{}{}:{}", type, transport, v6 ? "[" : "", ip, v6 ? "]" : "", port);
}

}  // namespace

// While > 0, events raised by libnice are queued instead of calling user code, so a callback
// never runs inside one of our methods (the caller may hold locks or be half-way through).
struct NiceTransport::ApiScope {
  explicit ApiScope(NiceTransport& t) : transport(t) {
    assert(transport.loop_.in_loop_thread() && "NiceTransport used off its loop thread");
    ++transport.api_depth_;
  }
  ~ApiScope() {
    if (--transport.api_depth_ == 0 && !transport.pending_events_.empty() &&
        !transport.flush_posted_) {
      transport.flush_posted_ = true;
      transport.loop_.post([alive = std::weak_ptr<int>(transport.alive_), self = &transport] {
        if (alive.expired()) return;
        self->flush_posted_ = false;
        self->flush_events();
      });
    }
  }
  ApiScope(const ApiScope&) = delete;
  ApiScope& operator=(const ApiScope&) = delete;
  NiceTransport& transport;
};

NiceTransport::NiceTransport(runtime::EventLoop& loop, IceConfig config, IceCallbacks callbacks)
    : loop_(loop), config_(std::move(config)), callbacks_(std::move(callbacks)) {
  if (!loop_.in_loop_thread()) {
    throw Error(Errc::invalid_state, "NiceTransport must be created on its event loop's thread");
  }
  if (!config_.udp && !config_.tcp) {
    throw Error(Errc::invalid_argument, "IceConfig: udp and tcp are both disabled");
  }
  auto options = static_cast<NiceAgentOption>(NICE_AGENT_OPTION_ICE_TRICKLE);
  agent_ = nice_agent_new_full(loop_.context(), NICE_COMPATIBILITY_RFC5245, options);
  if (agent_ == nullptr) throw Error(Errc::internal, "libnice: nice_agent_new_full failed");
  g_object_set(agent_,                                                //
               "controlling-mode", gboolean(config_.controlling),     //
               "ice-udp", gboolean(config_.udp),                      //
               "ice-tcp", gboolean(config_.tcp),                      //
               "force-relay", gboolean(config_.relay_only),           //
               "stun-pacing-timer", guint(kStunPacingMs),             //
               "stun-initial-timeout", guint(kStunInitialTimeoutMs),  //
               "stun-max-retransmissions", guint(kStunMaxRetransmissions), "stun-reliable-timeout",
               guint(kStunReliableTimeoutMs),  //
               "keepalive-conncheck", TRUE,    //
               "upnp", FALSE, nullptr);

  for (const auto& ip : config_.local_addresses) {
    NiceAddress address;
    nice_address_init(&address);
    if (!nice_address_set_from_string(&address, ip.c_str())) {
      g_object_unref(agent_);
      throw Error(Errc::invalid_argument, fmt::format("local address '{}' is not an IP", ip));
    }
    nice_agent_add_local_address(agent_, &address);
  }

  stream_id_ = nice_agent_add_stream(agent_, 1);
  if (stream_id_ == 0) {
    g_object_unref(agent_);
    throw Error(Errc::internal, "libnice: nice_agent_add_stream failed");
  }
  gchar* ufrag = nullptr;
  gchar* pwd = nullptr;
  nice_agent_get_local_credentials(agent_, stream_id_, &ufrag, &pwd);
  local_ufrag_ = ufrag ? ufrag : "";
  local_pwd_ = pwd ? pwd : "";
  g_free(ufrag);
  g_free(pwd);

  g_signal_connect(agent_, "new-candidate-full", G_CALLBACK(handle_new_candidate), this);
  g_signal_connect(agent_, "candidate-gathering-done", G_CALLBACK(handle_gathering_done), this);
  g_signal_connect(agent_, "component-state-changed", G_CALLBACK(handle_component_state), this);
  g_signal_connect(agent_, "new-selected-pair-full", G_CALLBACK(handle_selected_pair), this);
  nice_agent_attach_recv(agent_, stream_id_, kComponent, loop_.context(), handle_receive, this);
}

NiceTransport::~NiceTransport() {
  gso_.detach();   // our reference on the selected socket goes before libnice's
  alive_.reset();  // queued events and posted flushes become no-ops
  pending_events_.clear();
  if (agent_ == nullptr) return;
  // No callback after this: disconnect our handlers and replace the receive callback with a
  // no-op (not NULL: without a receive callback libnice stops reading its sockets, and would
  // never see the answers to the TURN deallocations below). If we are inside a libnice signal
  // emission, libnice holds its own reference and disposes the agent as the emission unwinds.
  g_signal_handlers_disconnect_by_data(agent_, this);
  nice_agent_attach_recv(
      agent_, stream_id_, kComponent, loop_.context(),
      +[](NiceAgent*, guint, guint, guint, gchar*, gpointer) {}, nullptr);
  if (relay_candidates_ > 0) {
    // Release TURN allocations (RFC 8656 section 7: Refresh with lifetime 0) instead of leaving
    // them to expire on the server (10 minutes). nice_agent_close_async keeps the agent, and so
    // its sockets, alive until the answers arrive (one RTT; ~3 s if the server is gone); a
    // linger token keeps the loop thread running that long even if the loop is dropped now.
    auto* linger = new std::shared_ptr<void>(loop_.linger());
    nice_agent_close_async(
        agent_,
        +[](GObject*, GAsyncResult*, gpointer token) {
          delete static_cast<std::shared_ptr<void>*>(token);
        },
        linger);
  }
  g_object_unref(agent_);  // host-only: disposed now, sockets closed before we return
  agent_ = nullptr;
}

void NiceTransport::configure_servers() {
  bool stun_set = false;
  for (const auto& server : config_.servers) {
    std::string error;
    auto ip = resolve(server.host, error);
    if (!ip) {
      auto message = fmt::format("cannot resolve ICE server {}: {}", to_string(server), error);
      spdlog::warn("ice: {}", message);
      emit([this, message] {
        if (callbacks_.on_error) callbacks_.on_error(message);
      });
      continue;
    }
    if (server.type == IceServer::Type::stun) {
      // libnice takes a single STUN server; server-reflexive candidates are useless with
      // force-relay, so skip it then.
      if (stun_set || config_.relay_only) continue;
      g_object_set(agent_, "stun-server", ip->c_str(), "stun-server-port", guint(server.port),
                   nullptr);
      stun_set = true;
      continue;
    }
    if (server.type == IceServer::Type::turns) {
      // libnice 0.1.21 speaks TLS to a TURN server only in its Google and MSOC modes; in
      // RFC 5245 mode NICE_RELAY_TYPE_TURN_TLS is plain TCP (seen on the wire in the field
      // suite). A server asked for with turns: expects TLS: skip it rather than send the
      // credentials' MESSAGE-INTEGRITY and every relayed packet in the clear.
      auto message = fmt::format(
          "skipped TURN server {}: TURN over TLS (turns:) needs our own ICE agent (libnice "
          "would send it without TLS; unset PEER_ICE_AGENT=libnice)",
          to_string(server));
      spdlog::warn("ice: {}", message);
      emit([this, message] {
        if (callbacks_.on_error) callbacks_.on_error(message);
      });
      continue;
    }
    NiceRelayType type = server.transport == IceServer::Transport::tcp ? NICE_RELAY_TYPE_TURN_TCP
                                                                       : NICE_RELAY_TYPE_TURN_UDP;
    if (!nice_agent_set_relay_info(agent_, stream_id_, kComponent, ip->c_str(), server.port,
                                   server.username.c_str(), server.credential.c_str(), type)) {
      auto message = fmt::format("libnice refused TURN server {}", to_string(server));
      emit([this, message] {
        if (callbacks_.on_error) callbacks_.on_error(message);
      });
      continue;
    }
    ++relay_servers_;
    bool v6 = ip->find(':') != std::string::npos;
    relay_names_.push_back(
        fmt::format("{}{}{}:{}", v6 ? "[" : "", *ip, v6 ? "]" : "", server.port));
  }
}

void NiceTransport::gather() {
  if (gathering_started_ || failed_for_good_) return;
  gathering_started_ = true;
  ApiScope scope(*this);
  configure_servers();
  if (config_.relay_only && relay_servers_ == 0) {
    fail("relay-only ICE needs a usable TURN server, and none is configured");
    return;
  }
  if (!nice_agent_gather_candidates(agent_, stream_id_)) {
    fail("libnice could not gather candidates (no usable local address or port)");
  }
}

void NiceTransport::set_remote_credentials(const std::string& ufrag, const std::string& pwd) {
  ApiScope scope(*this);
  nice_agent_set_remote_credentials(agent_, stream_id_, ufrag.c_str(), pwd.c_str());
}

void NiceTransport::add_remote_candidate(const std::string& candidate) {
  const std::string_view line = candidate_line(candidate);
  if (line.empty()) {  // end-of-candidates (W3C webrtc-pc: an empty candidate string)
    remote_gathering_done();
    return;
  }
  if (!line.starts_with("candidate:")) {
    throw Error(Errc::bad_candidate,
                fmt::format("ICE candidate '{}' does not start with 'candidate:'", candidate));
  }
  ApiScope scope(*this);
  // libnice's parser wants the SDP attribute form.
  std::string sdp = fmt::format("a={}", line);
  NiceCandidate* parsed = nice_agent_parse_remote_candidate_sdp(agent_, stream_id_, sdp.c_str());
  if (parsed == nullptr) {
    bool mdns = line.find(".local ") != std::string_view::npos;
    throw Error(Errc::bad_candidate,
                fmt::format("cannot parse ICE candidate '{}'{}", line,
                            mdns ? " (mDNS .local addresses are not resolved)" : ""));
  }
  if (parsed->component_id != kComponent) {
    unsigned component = parsed->component_id;
    nice_candidate_free(parsed);
    throw Error(Errc::bad_candidate,
                fmt::format("ICE candidate '{}' is for component {}; only component 1 is used "
                            "(rtcp-mux, RFC 5761)",
                            line, component));
  }
  // Without local TCP candidates a remote TCP candidate can never form a pair, yet its mere
  // presence makes libnice fall back to regular nomination (slower setup): skip it.
  if (!config_.tcp && parsed->transport != NICE_CANDIDATE_TRANSPORT_UDP) {
    nice_candidate_free(parsed);
    spdlog::debug("ice: remote TCP candidate ignored (ice-tcp is off): {}", line);
    return;
  }
  GSList list = {parsed, nullptr};
  int added = nice_agent_set_remote_candidates(agent_, stream_id_, kComponent, &list);
  nice_candidate_free(parsed);
  if (added <= 0) {
    spdlog::debug("ice: remote candidate ignored by libnice: {}", line);
    return;
  }
  have_remote_candidates_ = true;
}

void NiceTransport::restart() {
  throw Error(Errc::invalid_state, "ICE restart needs our own ICE agent (not PEER_ICE_AGENT=libnice)");
}

void NiceTransport::remote_gathering_done() {
  ApiScope scope(*this);
  nice_agent_peer_candidate_gathering_done(agent_, stream_id_);
}

bool NiceTransport::send(std::span<const std::byte> datagram) {
  if (failed_for_good_) return false;
  int sent = nice_agent_send(agent_, stream_id_, kComponent, guint(datagram.size()),
                             reinterpret_cast<const gchar*>(datagram.data()));
  return sent >= 0 && std::size_t(sent) == datagram.size();
}

std::size_t NiceTransport::send_batch(std::span<const std::span<const std::byte>> datagrams) {
  if (failed_for_good_ || datagrams.empty()) return 0;
  if (gso_.active()) {
    const std::size_t sent = gso_.send(datagrams);
    if (gso_.active()) return sent;  // else the kernel refused UDP_SEGMENT: libnice sends
  }
  // Reused between calls: no allocation per batch once they have grown.
  batch_buffers_.resize(datagrams.size());
  batch_messages_.resize(datagrams.size());
  for (std::size_t i = 0; i < datagrams.size(); ++i) {
    batch_buffers_[i] = {datagrams[i].data(), datagrams[i].size()};
    batch_messages_[i] = {&batch_buffers_[i], 1};
  }
  static_assert(sizeof(OutputVector) == sizeof(GOutputVector) &&
                offsetof(OutputVector, size) == offsetof(GOutputVector, size));
  static_assert(sizeof(OutputMessage) == sizeof(NiceOutputMessage) &&
                offsetof(OutputMessage, n_buffers) == offsetof(NiceOutputMessage, n_buffers));
  GError* error = nullptr;
  int sent = nice_agent_send_messages_nonblocking(
      agent_, stream_id_, kComponent, reinterpret_cast<NiceOutputMessage*>(batch_messages_.data()),
      guint(batch_messages_.size()), nullptr, &error);
  if (error != nullptr) g_error_free(error);
  return sent > 0 ? std::size_t(sent) : 0;
}

void NiceTransport::set_controlling(bool controlling) {
  config_.controlling = controlling;
  g_object_set(agent_, "controlling-mode", gboolean(controlling), nullptr);
}

// ---- events ----

bool NiceTransport::emit(std::function<void()> event) {
  if (api_depth_ == 0 && pending_events_.empty()) {
    std::weak_ptr<int> alive = alive_;
    event();
    return !alive.expired();  // false: the callback destroyed us, touch nothing
  }
  pending_events_.push_back(std::move(event));
  if (api_depth_ == 0 && !flush_posted_) {
    flush_posted_ = true;
    loop_.post([alive = std::weak_ptr<int>(alive_), this] {
      if (alive.expired()) return;
      flush_posted_ = false;
      flush_events();
    });
  }
  return true;
}

void NiceTransport::flush_events() {
  std::weak_ptr<int> alive = alive_;
  while (!pending_events_.empty() && api_depth_ == 0) {
    auto event = std::move(pending_events_.front());
    pending_events_.pop_front();
    event();
    if (alive.expired()) return;  // a callback destroyed us
  }
}

bool NiceTransport::set_state(IceState state) {
  if (failed_for_good_ && state != IceState::failed) return true;
  if (state == state_) return true;
  // RTCIceTransportState never skips "connected" on the way to "completed".
  if (state == IceState::completed && state_ != IceState::connected &&
      !set_state(IceState::connected)) {
    return false;
  }
  state_ = state;
  return emit([this, state] {
    if (callbacks_.on_state) callbacks_.on_state(state);
  });
}

bool NiceTransport::fail(const std::string& message) {
  spdlog::warn("ice: {}", message);
  failed_for_good_ = true;  // later libnice states cannot take us out of failed
  if (!emit([this, message] {
        if (callbacks_.on_error) callbacks_.on_error(message);
      })) {
    return false;
  }
  return set_state(IceState::failed);
}

// The selected pair's socket, fetched once per selection: a bigger receive buffer for any
// datagram socket; UDP_SEGMENT sends for a direct UDP pair only.
//
// Never UDP_GRO: libnice reads this socket with plain recvmsg and no UDP_GRO control
// message, so it cannot split what the kernel merged. On an interface that does GRO (every
// physical NIC) a small STUN packet that arrives right after full-size DTLS datagrams of the
// same flow is merged as the last segment of one buffer; libnice hands that buffer to DTLS
// and the STUN packet (a keepalive, a consent answer) is lost, so ICE fails under bulk
// traffic. GRO is for a socket we read ourselves (IcePair.SendBatchKeepsEveryDatagram).
void NiceTransport::configure_selected_socket(NiceCandidate* local, NiceCandidate* remote) {
  gso_.detach();
  GSocket* socket = nice_agent_get_selected_socket(agent_, stream_id_, kComponent);
  if (socket == nullptr) return;
  if (g_socket_get_socket_type(socket) != G_SOCKET_TYPE_DATAGRAM) {
    g_object_unref(socket);
    return;
  }
  const int fd = g_socket_get_fd(socket);
  int size = kReceiveBufferBytes;
  // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is capped.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  // TURN wraps every datagram (ChannelData, RFC 8656 section 12) and ICE-TCP frames them
  // (RFC 6544 section 3): only libnice can send those, and only it can take them apart.
  const bool direct = local->transport == NICE_CANDIDATE_TRANSPORT_UDP &&
                      local->type != NICE_CANDIDATE_TYPE_RELAYED &&
                      remote->type != NICE_CANDIDATE_TYPE_RELAYED;
  if (direct && config_.udp_gso) {
    sockaddr_storage address{};
    nice_address_copy_to_sockaddr(&remote->addr, reinterpret_cast<sockaddr*>(&address));
    const socklen_t length =
        address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    gso_.attach(socket, reinterpret_cast<sockaddr*>(&address), length);
  }
  g_object_unref(socket);
}

void NiceTransport::handle_new_candidate(NiceAgent* agent, NiceCandidate* candidate, void* data) {
  auto* self = static_cast<NiceTransport*>(data);
  if (candidate->stream_id != self->stream_id_ || candidate->component_id != kComponent) return;
  if (candidate->type == NICE_CANDIDATE_TYPE_RELAYED) ++self->relay_candidates_;
  gchar* sdp = nice_agent_generate_local_candidate_sdp(agent, candidate);
  if (sdp == nullptr) return;
  std::string line = sdp;
  g_free(sdp);
  if (line.starts_with("a=")) line.erase(0, 2);
  self->emit([self, line = std::move(line)] {
    if (self->callbacks_.on_candidate) self->callbacks_.on_candidate(line);
  });
}

void NiceTransport::handle_gathering_done(NiceAgent*, unsigned stream_id, void* data) {
  auto* self = static_cast<NiceTransport*>(data);
  if (stream_id != self->stream_id_) return;
  if (self->relay_servers_ > 0 && self->relay_candidates_ == 0) {
    std::string servers;
    for (const auto& name : self->relay_names_) servers += (servers.empty() ? "" : ", ") + name;
    auto message =
        fmt::format("no relay candidate from TURN {} (wrong credentials or unreachable)", servers);
    if (self->config_.relay_only) {
      if (!self->fail(message)) return;
    } else {
      spdlog::warn("ice: {}", message);
      if (!self->emit([self, message] {
            if (self->callbacks_.on_error) self->callbacks_.on_error(message);
          })) {
        return;
      }
    }
  }
  self->emit([self] {
    if (self->callbacks_.on_gathering_done) self->callbacks_.on_gathering_done();
  });
}

void NiceTransport::handle_component_state(NiceAgent*, unsigned stream_id, unsigned component_id,
                                          unsigned state, void* data) {
  auto* self = static_cast<NiceTransport*>(data);
  if (stream_id != self->stream_id_ || component_id != kComponent) return;
  switch (static_cast<NiceComponentState>(state)) {
    case NICE_COMPONENT_STATE_DISCONNECTED:
      if (self->state_ == IceState::connected || self->state_ == IceState::completed) {
        self->set_state(IceState::disconnected);
      }
      break;
    case NICE_COMPONENT_STATE_GATHERING:
      // libnice re-enters "gathering" while checks may already run (trickle).
      if (self->have_remote_candidates_) self->set_state(IceState::checking);
      break;
    case NICE_COMPONENT_STATE_CONNECTING:
      self->set_state(IceState::checking);
      break;
    case NICE_COMPONENT_STATE_CONNECTED:
      self->set_state(IceState::connected);
      break;
    case NICE_COMPONENT_STATE_READY:
      self->set_state(IceState::completed);
      break;
    case NICE_COMPONENT_STATE_FAILED:
      self->set_state(IceState::failed);
      break;
    default:
      break;
  }
}

void NiceTransport::handle_selected_pair(NiceAgent*, unsigned stream_id, unsigned component_id,
                                        NiceCandidate* local, NiceCandidate* remote, void* data) {
  auto* self = static_cast<NiceTransport*>(data);
  if (stream_id != self->stream_id_ || component_id != kComponent) return;
  self->configure_selected_socket(local, remote);
  self->emit([self, l = describe(local), r = describe(remote)] {
    if (self->callbacks_.on_selected_pair) self->callbacks_.on_selected_pair(l, r);
  });
}

void NiceTransport::handle_receive(NiceAgent*, unsigned, unsigned, unsigned length, char* bytes,
                                  void* data) {
  auto* self = static_cast<NiceTransport*>(data);
  if (!self->callbacks_.on_receive) return;
  std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(bytes), length);
  if (self->api_depth_ == 0 && self->pending_events_.empty()) {
    self->callbacks_.on_receive(datagram);  // the hot path: no copy
    return;
  }
  std::vector<std::byte> copy(datagram.begin(), datagram.end());
  self->emit([self, copy = std::move(copy)] {
    if (self->callbacks_.on_receive) self->callbacks_.on_receive(copy);
  });
}

}  // namespace peer::ice
