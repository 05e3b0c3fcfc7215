#include "ice/agent_transport.hpp"

#include <fmt/format.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <peer/error.hpp>

#include <array>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "core/bytes.hpp"
#include "core/sdp/candidate.hpp"

namespace peer::ice {
namespace {

constexpr int kReceiveBufferBytes = 4 * 1024 * 1024;  // docs/performance.md lever 4 (rmem_max caps)
constexpr std::size_t kReceiveBatch = 16;
constexpr std::size_t kMaxDatagram = 65536;
constexpr std::size_t kMaxMdnsWaiting = 64;  // browsers send a handful of names

// recvmmsg scratch, one per loop thread (not per transport: thousands of idle peers share a
// loop, and a megabyte each would be their largest cost).
struct ReceiveScratch {
  std::array<std::array<std::byte, kMaxDatagram>, kReceiveBatch> buffers;
  std::array<iovec, kReceiveBatch> iov;
  std::array<sockaddr_storage, kReceiveBatch> from;
  std::array<mmsghdr, kReceiveBatch> messages;
  // UDP_GRO's control message: the segment size of a coalesced buffer.
  alignas(cmsghdr) std::array<std::array<char, CMSG_SPACE(sizeof(int))>, kReceiveBatch> control;
};

// The segment size the kernel reports for a buffer it coalesced (UDP_GRO), or 0.
int gro_segment(const msghdr& header) {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&header), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int segment = 0;
      std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
      return segment;
    }
  }
  return 0;
}
ReceiveScratch& receive_scratch() {
  thread_local auto scratch = std::make_unique<ReceiveScratch>();
  return *scratch;
}

// Every usable local address when none is configured: interfaces that are up, not loopback
// (tests pin 127.0.0.1 explicitly), IPv4 and global or ULA IPv6.
std::vector<Address> interface_addresses() {
  std::vector<Address> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    const std::size_t length = i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    auto a = Address::from_sockaddr(i->ifa_addr, length);
    if (!a || a->is_loopback() || a->is_link_local()) continue;
    a->port = 0;
    if (std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  freeifaddrs(list);
  return out;
}

// Every address of this machine's interfaces that are up, loopback included: what a socket
// may still be bound to.
std::vector<Address> machine_addresses() {
  std::vector<Address> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || !(i->ifa_flags & IFF_UP)) continue;
    const std::size_t length = i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (auto a = Address::from_sockaddr(i->ifa_addr, length)) out.push_back(a->with_port(0));
  }
  freeifaddrs(list);
  return out;
}

// The server's address: numeric as is, else the first getaddrinfo answer (blocking, as
// IceTransport::gather() says).
std::optional<Address> resolve(const IceServer& server, std::string& error) {
  if (auto a = Address::parse(server.host, server.port)) return a;
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(server.host.c_str(), nullptr, &hints, &result);
  if (rc != 0 || result == nullptr) {
    error = gai_strerror(rc);
    return std::nullopt;
  }
  auto a = Address::from_sockaddr(result->ai_addr, result->ai_addrlen);
  freeaddrinfo(result);
  if (!a) {
    error = "no IPv4 or IPv6 address";
    return std::nullopt;
  }
  return a->with_port(server.port);
}

std::string describe(const Candidate& c) {
  return fmt::format("{} {} {}", to_string(c.type), to_string(c.transport), c.address.to_string());
}

// --- TCP, shared by TURN streams and ICE-TCP connections ------------------------------------

using runtime::EventLoop;

// A stream (AgentTransport::TcpStream) waits for writable only while it must.
template <class Stream>
void want_write(Stream& s, bool on) {
  if (on == s.wants_write || !s.watch.active()) return;
  s.wants_write = on;
  s.watch.want(EventLoop::kReadable | (on ? EventLoop::kWritable : 0));
}

// Stops watching it and closes it; its buffers stay (a caller may be reading `in`).
template <class Stream>
void close_tcp(Stream& s) {
  s.watch.cancel();
  s.wants_write = false;
  if (s.fd >= 0) ::close(s.fd);
  s.fd = -1;
  s.connected = false;
}

void set_nodelay(int fd) {
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// A non-blocking TCP socket from `from`'s IP (any port) connecting to `to`, TCP_NODELAY;
// -1 (errno set) when it cannot even start.
int connect_tcp(const Address& from, const Address& to) {
  const int fd = ::socket(to.family == AddressFamily::v6 ? AF_INET6 : AF_INET,
                          SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_storage local{};
  const auto local_length = static_cast<socklen_t>(from.with_port(0).to_sockaddr(local));
  sockaddr_storage remote{};
  const auto remote_length = static_cast<socklen_t>(to.to_sockaddr(remote));
  set_nodelay(fd);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), local_length) != 0 ||
      (::connect(fd, reinterpret_cast<sockaddr*>(&remote), remote_length) != 0 &&
       errno != EINPROGRESS)) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return -1;
  }
  return fd;
}

// The outcome of a non-blocking connect once the socket is writable: 0 or an errno value.
int connect_error(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error;
}

// Writes what the socket takes of `out`; false when the connection is broken.
bool write_out(int fd, std::vector<std::byte>& out) {
  std::size_t at = 0;
  bool ok = true;
  while (at < out.size()) {
    const ssize_t sent = ::send(fd, out.data() + at, out.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
      ok = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      break;
    }
    at += static_cast<std::size_t>(sent);
  }
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(at));
  return ok;
}

// One RFC 4571 frame (2-byte big-endian length, then the datagram) at the end of `out`. No
// allocation once `out` has grown to its working size.
void append_frame(std::vector<std::byte>& out, std::span<const std::byte> datagram) {
  const std::size_t at = out.size();
  out.resize(at + 2);
  bytes::put16(out, at, static_cast<uint32_t>(datagram.size()));
  out.insert(out.end(), datagram.begin(), datagram.end());
}

// Appends what can be read now to `in`; false when the peer closed or the connection broke.
bool read_in(int fd, std::vector<std::byte>& in) {
  std::array<std::byte, 16384> chunk;
  for (;;) {
    const ssize_t got = ::recv(fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (got == 0) return false;
    if (got < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    in.insert(in.end(), chunk.begin(), chunk.begin() + got);
  }
}

}  // namespace

AgentTransport::AgentTransport(runtime::EventLoop& loop, IceConfig config, IceCallbacks callbacks)
    : loop_(loop),
      config_(std::move(config)),
      callbacks_(std::move(callbacks)),
      agent_([&] {
        AgentConfig c;
        c.controlling = config_.controlling;
        c.relay_only = config_.relay_only;
        return c;
      }()) {
  if (!loop_.in_loop_thread()) {
    throw Error(Errc::invalid_state, "AgentTransport must be created on its event loop's thread");
  }
}

AgentTransport::~AgentTransport() {
  mdns_.reset();  // its sockets close with the transport
  gso_.detach();
  // Releases the TURN allocations: one Refresh with lifetime 0 each, sent now and not waited
  // for (a lost one leaves the allocation to expire on the server).
  agent_.close(Clock::now());
  while (auto t = agent_.poll_transmit()) send_transmit(*t);
  for (auto& stream : streams_) close_stream(*stream);
  for (auto& c : ice_tcp_) close_ice_tcp(*c, false);
  for (auto& l : listeners_) close_listener(*l);
  for (auto& s : sockets_) {
    s->watch.cancel();
    if (s->fd >= 0) ::close(s->fd);
  }
}

void AgentTransport::gather() {
  if (gathered_) return;
  gathered_ = true;
  const Time now = Clock::now();
  // Names are resolved only now (gather() may block, the constructor may not).
  for (const auto& server : config_.servers) {
    const bool tcp = server.transport == IceServer::Transport::tcp;
    std::string error;
    auto address = resolve(server, error);
    if (!address) {
      pending_.push_back([this, message = fmt::format("cannot resolve {} server {}: {}",
                                                      server.type == IceServer::Type::stun ? "STUN" : "TURN",
                                                      server.host, error)] {
        if (callbacks_.on_error) callbacks_.on_error(message);
      });
      continue;
    }
    if (server.type == IceServer::Type::stun) {
      agent_.add_stun_server(*address);
    } else {
      if (server.type == IceServer::Type::turns) tls_servers_.emplace_back(*address, &server);
      agent_.add_turn_server(TurnServer{*address, server.username, server.credential, tcp});
    }
  }

  const auto wanted = wanted_addresses();
  // Named before the first host candidate goes out.
  if (config_.mdns_names) responder_ = std::make_unique<MdnsResponder>(loop_, wanted);
  for (const auto& address : wanted) open_host(now, address);
  if (sockets_.empty() && listeners_.empty()) {
    pending_.push_back([this] {
      state_ = IceState::failed;
      if (callbacks_.on_error) callbacks_.on_error("no usable local address to gather on");
      if (callbacks_.on_state) callbacks_.on_state(IceState::failed);
    });
  }
  agent_.end_of_hosts(now);
  // .local candidates that came before gathering are resolved from the hosts' interfaces.
  for (const auto& [name, candidate] : mdns_waiting_) resolve_mdns(name);
  flush(false);
}

// The addresses to gather on now: the configured ones, or every usable interface's.
std::vector<Address> AgentTransport::wanted_addresses() const {
  if (config_.local_addresses.empty()) return interface_addresses();
  std::vector<Address> addresses;
  for (const auto& text : config_.local_addresses) {
    if (auto a = Address::parse(text, 0)) addresses.push_back(*a);
  }
  return addresses;
}

// A UDP socket on `address` (port 0) and a host of the agent for it, and with `tcp` a
// listening TCP socket there too (the same local preference); false when neither can be bound
// (the address is not on this machine).
bool AgentTransport::open_host(Time now, const Address& address) {
  bool opened = false;
  if (config_.udp) opened = open_udp_host(now, address);
  if (config_.tcp) opened = open_tcp_host(now, address, preference_) || opened;
  if (opened) preference_ = preference_ > 1000 ? preference_ - 1000 : 1;
  return opened;
}

bool AgentTransport::open_udp_host(Time now, const Address& address) {
  const int family = address.family == AddressFamily::v6 ? AF_INET6 : AF_INET;
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_storage bind_to{};
  const std::size_t length = address.to_sockaddr(bind_to);
  if (family == AF_INET6) {
    const int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&bind_to), static_cast<socklen_t>(length)) != 0) {
    spdlog::debug("ice: cannot bind {}: {}", address.ip_string(), std::strerror(errno));
    ::close(fd);
    return false;
  }
  // SO_*BUFFORCE goes past net.core.rmem_max/wmem_max (a default of 208 KiB, which a burst
  // of 64 KiB messages overflows) where the process may (CAP_NET_ADMIN); else what the
  // limit allows.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBufferBytes, sizeof kReceiveBufferBytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBufferBytes, sizeof kReceiveBufferBytes);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kReceiveBufferBytes, sizeof kReceiveBufferBytes) != 0) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kReceiveBufferBytes, sizeof kReceiveBufferBytes);
  }
  // GRO: the kernel may hand several datagrams of a flow over as one buffer; receive()
  // cuts it back at the segment size it reports, so a STUN packet behind DTLS datagrams
  // stays a packet of its own (docs/architecture.md section 5). Without
  // kernel support the option fails and every datagram comes alone.
  const int gro = 1;
  setsockopt(fd, SOL_UDP, UDP_GRO, &gro, sizeof gro);
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
  auto base = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), bound_length);
  if (!base) {
    ::close(fd);
    return false;
  }
  auto socket = std::make_unique<Socket>();
  socket->fd = fd;
  socket->base = *base;
  socket->watch = loop_.watch(fd, EventLoop::kReadable,
                              [this, raw = socket.get()](unsigned) { receive(*raw); });
  agent_.add_host(now, *base, preference_);
  sockets_.push_back(std::move(socket));
  return true;
}

void AgentTransport::set_remote_credentials(const std::string& ufrag, const std::string& pwd) {
  // New credentials are a restart: candidates of the old generation still being resolved are
  // not added to the new one (the names stay cached).
  if (!remote_ufrag_.empty() && ufrag != remote_ufrag_) forget_mdns_candidates();
  remote_ufrag_ = ufrag;
  agent_.set_remote_credentials(Clock::now(), ufrag, pwd);
  flush(false);
}

void AgentTransport::add_remote_candidate(const std::string& candidate) {
  const std::string_view line = candidate_line(candidate);
  if (line.empty()) {  // end-of-candidates (W3C webrtc-pc: an empty candidate string)
    remote_gathering_done();
    return;
  }
  if (!line.starts_with("candidate:")) {
    throw Error(Errc::bad_candidate,
                fmt::format("ICE candidate '{}' does not start with 'candidate:'", candidate));
  }
  sdp::Candidate parsed;
  try {
    parsed = sdp::parse_candidate(line);
  } catch (const Error& e) {
    throw Error(Errc::bad_candidate, fmt::format("cannot parse ICE candidate '{}': {}", line, e.what()));
  }
  if (parsed.component != 1) {
    throw Error(Errc::bad_candidate,
                fmt::format("ICE candidate '{}' is for component {}; only component 1 is used "
                            "(rtcp-mux, RFC 5761)",
                            line, parsed.component));
  }
  if (is_mdns_name(parsed.address)) {
    add_mdns_candidate(std::move(parsed));
    return;
  }
  std::string why;
  auto c = from_sdp(parsed, &why);
  if (c && (is_tcp(c->transport) ? !config_.tcp : !config_.udp)) {
    why = is_tcp(c->transport) ? "ICE-TCP is off" : "UDP is off";  // it could never pair
    c.reset();
  }
  if (!c) {
    spdlog::debug("ice: remote candidate ignored ({}): {}", why, line);
    return;
  }
  agent_.add_remote_candidate(Clock::now(), *c);
  flush(false);
}

// A restart after a network change gathers again (RFC 8445 section 9 leaves it to the
// agent; browsers do the same): sockets whose address left the machine are closed and their
// candidates dropped, and addresses that appeared get sockets and host candidates in the new
// generation. Pinned addresses (`addresses`) are looked at again too: one that was missing
// at first can be bound now.
void AgentTransport::restart() {
  forget_mdns_candidates();
  const Time now = Clock::now();
  const std::vector<Address> present = machine_addresses();
  const std::vector<Address> wanted = wanted_addresses();
  auto has_ip = [](const std::vector<Address>& list, const Address& a) {
    return std::any_of(list.begin(), list.end(), [&](const Address& b) { return b.with_port(0) == a.with_port(0); });
  };
  auto unspecified = [](const Address& a) {
    const auto ip = a.ip_bytes();
    return std::all_of(ip.begin(), ip.end(), [](auto x) { return x == 0; });
  };
  for (auto it = sockets_.begin(); it != sockets_.end();) {
    if (has_ip(present, (*it)->base) || unspecified((*it)->base)) {
      ++it;
      continue;
    }
    spdlog::info("ice: {} is gone: its candidates are dropped", (*it)->base.ip_string());
    agent_.remove_host(now, (*it)->base);
    // Closed from the loop's next turn: we may be inside this socket's own receive().
    Socket* gone = it->release();
    it = sockets_.erase(it);
    gone->watch.cancel();
    loop_.post([gone] {
      if (gone->fd >= 0) ::close(gone->fd);
      delete gone;
    });
  }
  // ICE-TCP listeners likewise; their connections close with them (remove_host failed the
  // pairs already). Not inside a listener's callback: accepting calls nothing outside.
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    const Address listen = (*it)->address;
    if (has_ip(present, listen) || unspecified(listen)) {
      ++it;
      continue;
    }
    agent_.remove_host(now, listen);
    agent_.remove_host(now, listen.with_port(0));
    for (auto& c : ice_tcp_) {
      if (c->base.with_port(0) == listen.with_port(0)) close_ice_tcp(*c, false);
    }
    close_listener(**it);
    it = listeners_.erase(it);
  }
  std::vector<Address> added;
  for (const auto& address : wanted) {
    const bool open =
        std::any_of(sockets_.begin(), sockets_.end(),
                    [&](const auto& s) { return s->base.with_port(0) == address.with_port(0); }) ||
        std::any_of(listeners_.begin(), listeners_.end(),
                    [&](const auto& l) { return l->address.with_port(0) == address.with_port(0); });
    if (!open && has_ip(present, address)) added.push_back(address);
  }
  route_.reset();  // re-resolved by flush(): the route's socket may be gone
  route_fd_ = -1;
  gso_.detach();
  agent_.restart(now, !added.empty());
  for (const auto& address : added) {
    if (open_host(now, address)) spdlog::info("ice: gathering on {} (new since the last gathering)", address.ip_string());
  }
  if (!added.empty()) agent_.end_of_hosts(now);
  flush(false);
}

void AgentTransport::remote_gathering_done() {
  // While a name is being resolved the agent must not think it has every remote candidate:
  // it could fail with every pair failed before the resolved one arrives. It hears the end
  // when the last name is resolved or given up (mdns_done).
  if (!mdns_waiting_.empty()) {
    remote_done_deferred_ = true;
    return;
  }
  agent_.remote_gathering_done(Clock::now());
  flush(false);
}

// --- mDNS (.local) remote candidates --------------------------------------------------------

bool AgentTransport::is_mdns_name(std::string_view address) {
  // draft-ietf-mmusic-mdns-ice-candidates section 3.2.1: an address ending in ".local".
  constexpr std::string_view kSuffix = ".local";
  if (address.ends_with('.')) address.remove_suffix(1);
  if (address.size() <= kSuffix.size()) return false;
  const auto tail = address.substr(address.size() - kSuffix.size());
  return std::equal(tail.begin(), tail.end(), kSuffix.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

void AgentTransport::add_mdns_candidate(sdp::Candidate candidate) {
  // An ICE-TCP candidate behind a name (browsers hide those too) is resolved like a UDP one;
  // one of a transport we do not run could never pair, so it costs no query.
  const bool tcp = candidate.transport == "tcp";
  if (tcp ? !config_.tcp : (candidate.transport != "udp" || !config_.udp)) {
    spdlog::debug("ice: remote candidate ignored ({}): {}", tcp ? "ICE-TCP is off" : "not UDP, or UDP is off",
                  sdp::write_candidate(candidate));
    return;
  }
  // A remote cannot make us query without end: names beyond this many waiting are dropped.
  if (mdns_waiting_.size() >= kMaxMdnsWaiting) {
    spdlog::debug("ice: {} candidates already wait for mDNS names; {} dropped", kMaxMdnsWaiting,
                  candidate.address);
    return;
  }
  std::string name = candidate.address;
  if (name.ends_with('.')) name.pop_back();
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (auto known = mdns_cache_.find(name); known != mdns_cache_.end()) {
    add_resolved(candidate, known->second);
    flush(false);
    return;
  }
  mdns_waiting_.emplace_back(name, std::move(candidate));
  if (gathered_) resolve_mdns(name);  // else gather() starts it: the sockets depend on the hosts
}

void AgentTransport::resolve_mdns(const std::string& name) {
  if (!mdns_) {
    // The query goes out on the links of our hosts: UDP sockets and, with UDP off, the
    // ICE-TCP listeners (only their IPs matter to the resolver).
    std::vector<Address> locals;
    for (const auto& s : sockets_) locals.push_back(s->base);
    for (const auto& l : listeners_) locals.push_back(l->address);
    mdns_ = std::make_unique<MdnsResolver>(
        loop_, locals, [this](const std::string& n, const std::vector<Address>& a) { mdns_done(n, a); });
  }
  mdns_->resolve(name);
}

void AgentTransport::add_resolved(const sdp::Candidate& candidate, const std::vector<Address>& addresses) {
  for (const auto& address : addresses) {
    sdp::Candidate resolved = candidate;  // same foundation, priority, component, port
    resolved.address = address.ip_string();
    std::string why;
    auto c = from_sdp(resolved, &why);
    if (!c) {
      spdlog::debug("ice: resolved remote candidate ignored ({}): {} -> {}", why, candidate.address,
                    resolved.address);
      continue;
    }
    agent_.add_remote_candidate(Clock::now(), *c);
  }
}

// From the loop (a resolver socket or its timer).
void AgentTransport::mdns_done(const std::string& name, const std::vector<Address>& addresses) {
  if (addresses.empty()) {
    // Not an error: the remote's checks still reach us as peer-reflexive candidates.
    spdlog::debug("ice: no mDNS answer for {} within {} ms; its candidates are dropped", name,
                  MdnsResolver::kTimeout.count());
  } else {
    mdns_cache_[name] = addresses;
    spdlog::debug("ice: {} is {}", name, addresses.front().ip_string());
  }
  for (auto it = mdns_waiting_.begin(); it != mdns_waiting_.end();) {
    if (it->first != name) {
      ++it;
      continue;
    }
    add_resolved(it->second, addresses);
    it = mdns_waiting_.erase(it);
  }
  if (mdns_waiting_.empty() && remote_done_deferred_) {
    remote_done_deferred_ = false;
    agent_.remote_gathering_done(Clock::now());
  }
  flush(true);
}

void AgentTransport::forget_mdns_candidates() {
  mdns_waiting_.clear();
  remote_done_deferred_ = false;
}

void AgentTransport::send_transmit(const Transmit& t) {
  if (t.tcp) {
    if (IceTcpConnection* c = ice_tcp_connection(t.from, t.to, true)) {
      append_frame(c->out, t.bytes);
      write_ice_tcp(*c);
    }
    return;
  }
  if (t.stream) {
    if (TurnStream* stream = stream_for(t.from, t.to)) {
      stream->out.insert(stream->out.end(), t.bytes.begin(), t.bytes.end());
      write_stream(*stream);
    }
    return;
  }
  const Socket* s = socket_for(t.from);
  if (!s) return;
  sockaddr_storage to{};
  const auto length = static_cast<socklen_t>(t.to.to_sockaddr(to));
  ::sendto(s->fd, t.bytes.data(), t.bytes.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&to),
           length);
}

const AgentTransport::Socket* AgentTransport::socket_for(const Address& base) const {
  for (const auto& s : sockets_) {
    if (s->base == base) return s.get();
  }
  return nullptr;
}

bool AgentTransport::update_route() {
  auto route = agent_.route();
  if (route == route_) return route_fd_ >= 0;
  route_ = route;
  route_fd_ = -1;
  route_tcp_ = nullptr;
  gso_.detach();
  if (!route) return false;
  if (route->tcp) {  // send_batch writes frames on the ICE-TCP connection
    route_tcp_ = ice_tcp_connection(route->from, route->to, false);
    if (route_tcp_ == nullptr) return false;
    route_fd_ = route_tcp_->fd;
    return true;
  }
  const Socket* s = socket_for(route->from);
  if (!s) return false;
  route_fd_ = s->fd;
  if (route->stream) return true;  // send_batch writes on the TURN stream
  route_to_length_ = static_cast<socklen_t>(route->to.to_sockaddr(route_to_));
  // TURN frames each datagram (ChannelData): no UDP_SEGMENT on a relayed route.
  if (config_.udp_gso && route->channel == 0) {
    gso_.attach(route_fd_, reinterpret_cast<const sockaddr*>(&route_to_), route_to_length_);
  }
  return true;
}

bool AgentTransport::send(std::span<const std::byte> datagram) {
  return send_batch(std::span(&datagram, 1)) == 1;
}

std::size_t AgentTransport::send_batch(std::span<const std::span<const std::byte>> datagrams) {
  if (route_fd_ < 0 || datagrams.empty()) return 0;
  if (route_->stream) return send_on_stream(datagrams);
  if (route_->tcp) return send_on_ice_tcp(datagrams);
  if (gso_.active()) {
    const std::size_t sent = gso_.send(datagrams);
    if (gso_.active()) return sent;  // else the kernel refused UDP_SEGMENT: plain sendmmsg
  }
  // Relayed: each datagram behind its 4-byte ChannelData header (RFC 8656 section 12.4),
  // gathered by the kernel from two iovecs, so the payload is never copied.
  const uint16_t channel = route_ ? route_->channel : 0;
  const std::size_t parts = channel != 0 ? 2 : 1;
  batch_.resize(datagrams.size());
  batch_iov_.resize(datagrams.size() * parts);
  if (channel != 0) batch_headers_.resize(datagrams.size());
  for (std::size_t i = 0; i < datagrams.size(); ++i) {
    iovec* iov = &batch_iov_[i * parts];
    if (channel != 0) {
      auto& h = batch_headers_[i];
      bytes::put16(h, 0, channel);
      bytes::put16(h, 2, static_cast<uint32_t>(datagrams[i].size()));
      iov[0] = iovec{h.data(), h.size()};
    }
    iov[parts - 1] = iovec{const_cast<std::byte*>(datagrams[i].data()), datagrams[i].size()};
    batch_[i] = mmsghdr{};
    batch_[i].msg_hdr.msg_name = &route_to_;
    batch_[i].msg_hdr.msg_namelen = route_to_length_;
    batch_[i].msg_hdr.msg_iov = iov;
    batch_[i].msg_hdr.msg_iovlen = parts;
  }
  std::size_t sent = 0;
  while (sent < datagrams.size()) {
    const int n = ::sendmmsg(route_fd_, batch_.data() + sent,
                             static_cast<unsigned>(datagrams.size() - sent), MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  return sent;
}

// --- TURN over TCP ----------------------------------------------------------------------

AgentTransport::TurnStream* AgentTransport::stream_for(const Address& base, const Address& server) {
  for (auto& s : streams_) {
    if (s->base == base && s->server == server) return s->fd >= 0 ? s.get() : nullptr;
  }
  auto stream = std::make_unique<TurnStream>();
  stream->base = base;
  stream->server = server;
  TurnStream& s = *stream;
  streams_.push_back(std::move(stream));
  for (const auto& [address, entry] : tls_servers_) {
    if (address == server) s.tls_server = entry;
  }
  // From the host address the agent means (its interface), any port.
  s.fd = connect_tcp(base, server);
  if (s.fd < 0) {
    spdlog::debug("ice: cannot connect to TURN {} over TCP: {}", server.to_string(),
                  std::strerror(errno));
    return nullptr;
  }
  s.watch = loop_.watch(s.fd, EventLoop::kReadable,
                        [this, &s](unsigned ready) { on_stream_event(s, ready); });
  return &s;
}

// Writes what it can of `out`; while the connection or the TLS handshake is pending or the
// socket is full, a writable source finishes the job.
void AgentTransport::write_stream(TurnStream& s) {
  const auto ready = [&s] { return s.connected && (!s.tls || s.tls->established()); };
  while (ready() && !s.out.empty() && !s.write_waits_for_read) {
    std::size_t n = 0;
    if (s.tls) {
      const auto status = s.tls->write(s.out, n);
      if (status == TlsClient::Status::failed || status == TlsClient::Status::closed) {
        fail_stream(s, s.tls->error());
        return;
      }
      s.write_waits_for_read = status == TlsClient::Status::want_read;
      if (status != TlsClient::Status::done) break;
    } else {
      write_out(s.fd, s.out);  // a broken connection shows on the readable side
      break;
    }
    s.out.erase(s.out.begin(), s.out.begin() + static_cast<std::ptrdiff_t>(n));
  }
  bool waiting = !s.connected;
  if (s.connected && s.tls && !s.tls->established()) {
    waiting = s.tls->wants_write();  // else the readable source moves the handshake on
  } else if (s.connected) {
    waiting = !s.out.empty() && !s.write_waits_for_read;
  }
  want_write(s, waiting);
}

void AgentTransport::start_tls(TurnStream& s) {
  try {
    s.tls = std::make_unique<TlsClient>(s.fd, s.tls_server->host, s.tls_server->verify_certificate);
  } catch (const Error& e) {
    fail_stream(s, e.what());
    return;
  }
  continue_handshake(s);
}

void AgentTransport::continue_handshake(TurnStream& s) {
  const auto status = s.tls->handshake();
  if (status == TlsClient::Status::failed || status == TlsClient::Status::closed) {
    fail_stream(s, "TLS handshake failed: " + s.tls->error());
    return;
  }
  if (status == TlsClient::Status::done) spdlog::debug("ice: TLS up to TURN {}", to_string(*s.tls_server));
  write_stream(s);  // the agent's first request waits in `out` until the handshake is done
}

void AgentTransport::fail_stream(TurnStream& s, const std::string& why) {
  const std::string name = s.tls_server != nullptr ? to_string(*s.tls_server) : "TURN " + s.server.to_string();
  spdlog::debug("ice: {}: {}", name, why);
  close_stream(s);
  pending_.push_back([this, message = fmt::format("{}: {}", name, why)] {
    if (callbacks_.on_error) callbacks_.on_error(message);
  });  // delivered by the next flush (never from here: write_stream runs inside flush)
}

// Splits the byte stream into STUN messages (20 + length) and ChannelData (4 + length,
// padded to 4 over TCP, RFC 8656 section 12.5), each handed to the agent as a datagram from
// the server.
void AgentTransport::read_stream(TurnStream& s) {
  std::weak_ptr<int> alive = alive_;
  if (s.tls && !s.tls->established()) {
    continue_handshake(s);
    if (s.fd < 0 || !s.tls || !s.tls->established()) {
      flush(true);  // reports a failed handshake
      return;
    }
  }
  if (s.tls) {
    std::array<std::byte, 16384> chunk;
    for (;;) {
      std::size_t n = 0;
      const auto status = s.tls->read(chunk, n);
      if (status == TlsClient::Status::want_read || status == TlsClient::Status::want_write) break;
      if (status != TlsClient::Status::done) {
        close_stream(s);  // the server went away: the agent's requests time out
        break;
      }
      s.in.insert(s.in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    }
  } else if (!read_in(s.fd, s.in)) {
    close_stream(s);  // the server went away: the agent's requests time out
  }
  if (s.write_waits_for_read && s.fd >= 0) {
    s.write_waits_for_read = false;
    write_stream(s);
  }
  const Time now = Clock::now();
  std::size_t at = 0;
  while (s.in.size() - at >= 4) {
    const std::span<const std::byte> rest(s.in.data() + at, s.in.size() - at);
    const auto first = std::to_integer<unsigned>(rest[0]);
    const std::size_t length = bytes::u16(rest, 2);
    const std::size_t total = first >= 0x40 && first <= 0x4f ? 4 + ((length + 3) & ~std::size_t{3})
                                                                : stun::kHeaderSize + length;
    if (rest.size() < total) break;
    at += total;
    const auto data = agent_.handle_receive(now, s.base, s.server, rest.first(total), true);
    if (!data.empty() && callbacks_.on_receive) callbacks_.on_receive(data);
    if (alive.expired()) return;
  }
  s.in.erase(s.in.begin(), s.in.begin() + static_cast<std::ptrdiff_t>(at));
  update_route();
  flush(true);
}

void AgentTransport::close_stream(TurnStream& s) {
  s.tls.reset();
  close_tcp(s);
}

void AgentTransport::on_stream_event(TurnStream& s, unsigned ready) {
  if (ready & EventLoop::kWritable) {
    std::weak_ptr<int> alive = alive_;
    if (!s.connected) {
      if (const int error = connect_error(s.fd); error != 0) {
        spdlog::debug("ice: TURN {} over TCP: {}", s.server.to_string(), std::strerror(error));
        close_stream(s);
        return;
      }
      s.connected = true;
      if (s.tls_server != nullptr) {
        start_tls(s);
        flush(true);  // a failed start is reported now
        return;
      }
    }
    if (s.tls && !s.tls->established()) {
      continue_handshake(s);
      flush(true);
    } else {
      write_stream(s);  // stops wanting kWritable once everything is written
    }
    if (alive.expired() || s.fd < 0) return;
  }
  if (ready & EventLoop::kReadable) read_stream(s);
}

// ChannelData on the stream, padded (RFC 8656 section 12.5). Copies: TCP needs the bytes in
// one buffer anyway. Stops at 4 MiB waiting, like a full socket buffer.
std::size_t AgentTransport::send_on_stream(std::span<const std::span<const std::byte>> datagrams) {
  TurnStream* s = stream_for(route_->from, route_->to);
  if (s == nullptr) return 0;
  std::size_t sent = 0;
  for (const auto& d : datagrams) {
    if (s->out.size() > 4 * 1024 * 1024) break;
    stun::write_channel_data(route_->channel, d, true, s->out);
    ++sent;
  }
  write_stream(*s);
  return sent;
}

// --- ICE-TCP (RFC 6544) -----------------------------------------------------------------------

// A listening socket on `address` (any port): the agent's passive candidate there, and its
// active one on the same IP. False when it cannot be bound.
bool AgentTransport::open_tcp_host(Time now, const Address& address, uint16_t preference) {
  const int family = address.family == AddressFamily::v6 ? AF_INET6 : AF_INET;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  if (family == AF_INET6) {
    const int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  sockaddr_storage bind_to{};
  const auto length = static_cast<socklen_t>(address.with_port(0).to_sockaddr(bind_to));
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&bind_to), length) != 0 || ::listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    spdlog::debug("ice: cannot listen on {} (TCP): {}", address.ip_string(), std::strerror(errno));
    ::close(fd);
    return false;
  }
  auto listen_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), bound_length);
  if (!listen_address) {
    ::close(fd);
    return false;
  }
  auto listener = std::make_unique<TcpListener>();
  listener->fd = fd;
  listener->address = *listen_address;
  listener->watch = loop_.watch(fd, EventLoop::kReadable, [this, raw = listener.get()](unsigned) {
    accept_connections(*raw);
  });
  agent_.add_tcp_host(now, *listen_address, preference);
  listeners_.push_back(std::move(listener));
  return true;
}

// The remote's active candidate connecting: the connection waits for its first check, which
// makes the pair (Agent::handle_tcp_receive). Beyond kMaxIceTcpConnections open ones, refused.
void AgentTransport::accept_connections(TcpListener& listener) {
  for (;;) {
    sockaddr_storage from{};
    socklen_t length = sizeof from;
    const int fd = ::accept4(listener.fd, reinterpret_cast<sockaddr*>(&from), &length,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // nothing more waits (or a transient error: the next readable retries)
    auto remote = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&from), length);
    const auto open =
        std::count_if(ice_tcp_.begin(), ice_tcp_.end(), [](const auto& c) { return c->fd >= 0; });
    if (!remote || static_cast<std::size_t>(open) >= kMaxIceTcpConnections) {
      spdlog::debug("ice: ICE-TCP connection on {} refused ({} open)", listener.address.to_string(),
                    open);
      ::close(fd);
      continue;
    }
    set_nodelay(fd);
    add_ice_tcp(fd, listener.address, *remote, true);
  }
}

// A connection on `fd` (accepted, or connecting while not `connected`), watched from now on.
AgentTransport::IceTcpConnection& AgentTransport::add_ice_tcp(int fd, const Address& base,
                                                              const Address& remote,
                                                              bool connected) {
  auto c = std::make_unique<IceTcpConnection>();
  c->fd = fd;
  c->connected = connected;
  c->base = base;
  c->remote = remote;
  c->watch = loop_.watch(fd, EventLoop::kReadable,
                         [this, raw = c.get()](unsigned ready) { on_ice_tcp_event(*raw, ready); });
  ice_tcp_.push_back(std::move(c));
  return *ice_tcp_.back();
}

// The open connection (base, remote); with `open`, one is connected from an active
// candidate's base (port 0) if there is none. Nullptr when there is none and cannot be one:
// the agent is then told that it closed, and its pairs on it fail.
AgentTransport::IceTcpConnection* AgentTransport::ice_tcp_connection(const Address& base,
                                                                     const Address& remote,
                                                                     bool open) {
  for (auto& c : ice_tcp_) {
    if (c->fd >= 0 && c->base == base && c->remote == remote) return c.get();
  }
  if (!open || base.port != 0) return nullptr;  // an accepted connection that is gone
  const auto count =
      std::count_if(ice_tcp_.begin(), ice_tcp_.end(), [](const auto& c) { return c->fd >= 0; });
  const int fd =
      static_cast<std::size_t>(count) < kMaxIceTcpConnections ? connect_tcp(base, remote) : -1;
  if (fd < 0) {
    spdlog::debug("ice: cannot connect to {} (ICE-TCP): {}", remote.to_string(),
                  static_cast<std::size_t>(count) < kMaxIceTcpConnections ? std::strerror(errno)
                                                                          : "too many");
    agent_.tcp_closed(Clock::now(), base, remote);
    return nullptr;
  }
  return &add_ice_tcp(fd, base, remote, false);  // write_ice_tcp waits for writable (the connect)
}

// Writes what it can of `out`; while connecting or while `out` waits, the watch waits for
// writable too and finishes the job.
void AgentTransport::write_ice_tcp(IceTcpConnection& c) {
  if (c.fd < 0) return;
  if (c.connected && !write_out(c.fd, c.out)) {
    close_ice_tcp(c, true);
    return;
  }
  want_write(c, !c.connected || !c.out.empty());
}

// Cuts what arrived into RFC 4571 frames: STUN for the agent, anything else (DTLS, SRTP) for
// on_receive, as a UDP datagram would be.
void AgentTransport::read_ice_tcp(IceTcpConnection& c) {
  std::weak_ptr<int> alive = alive_;
  const bool open = read_in(c.fd, c.in);
  const Time now = Clock::now();
  std::size_t at = 0;
  while (c.fd >= 0 && c.in.size() - at >= 2) {
    const std::size_t length = bytes::u16(c.in, at);
    if (c.in.size() - at - 2 < length) break;
    const std::span<const std::byte> frame(c.in.data() + at + 2, length);
    at += 2 + length;
    if (frame.empty()) continue;
    const auto data = agent_.handle_tcp_receive(now, c.base, c.remote, frame);
    if (data.empty()) {
      update_route();  // data later in this read may need the route at once
      continue;
    }
    if (callbacks_.on_receive) callbacks_.on_receive(data);
    if (alive.expired()) return;  // the callback destroyed the transport
  }
  // (a closed connection keeps its buffers until it is reaped, so `in` is still there)
  c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(at));
  if (!open) {
    spdlog::debug("ice: ICE-TCP connection {} - {} closed", c.base.to_string(),
                  c.remote.to_string());
    close_ice_tcp(c, true);
  }
  update_route();
  flush(true);
}

void AgentTransport::close_ice_tcp(IceTcpConnection& c, bool tell_agent) {
  if (c.fd < 0) return;
  close_tcp(c);
  if (route_tcp_ == &c) {
    route_tcp_ = nullptr;
    route_fd_ = -1;
    route_.reset();  // update_route() looks again
  }
  if (tell_agent) agent_.tcp_closed(Clock::now(), c.base, c.remote);
  // Freed from the loop's next turn: we may be inside this connection's own callback.
  post_once(reap_posted_, &AgentTransport::reap_ice_tcp);
}

void AgentTransport::reap_ice_tcp() {
  std::erase_if(ice_tcp_, [](const auto& c) { return c->fd < 0; });
}

void AgentTransport::close_listener(TcpListener& listener) {
  listener.watch.cancel();
  if (listener.fd >= 0) ::close(listener.fd);
  listener.fd = -1;
}

void AgentTransport::on_ice_tcp_event(IceTcpConnection& c, unsigned ready) {
  if (ready & EventLoop::kWritable) {
    if (!c.connected) {
      if (const int error = connect_error(c.fd); error != 0) {
        spdlog::debug("ice: cannot connect to {} (ICE-TCP): {}", c.remote.to_string(),
                      std::strerror(error));
        close_ice_tcp(c, true);
        flush(true);
        return;
      }
      c.connected = true;
    }
    std::weak_ptr<int> alive = alive_;
    write_ice_tcp(c);  // stops wanting kWritable once everything is written
    flush(true);       // reports a connection that broke
    if (alive.expired() || c.fd < 0) return;
  }
  if (ready & EventLoop::kReadable) read_ice_tcp(c);
}

// The selected pair's datagrams as frames on its connection. Copies into `out` (TCP wants one
// buffer anyway); stops at 4 MiB waiting, like a full socket buffer.
std::size_t AgentTransport::send_on_ice_tcp(std::span<const std::span<const std::byte>> datagrams) {
  IceTcpConnection* c = route_tcp_;
  if (c == nullptr || c->fd < 0) return 0;
  std::size_t sent = 0;
  for (const auto& d : datagrams) {
    if (c->out.size() > 4 * 1024 * 1024 || d.size() > 0xffff) break;
    append_frame(c->out, d);
    ++sent;
  }
  write_ice_tcp(*c);
  if (c->fd < 0) flush(false);  // it broke: the agent moves to another pair or fails
  return sent;
}

void AgentTransport::receive(Socket& socket) {
  std::weak_ptr<int> alive = alive_;
  ReceiveScratch& s = receive_scratch();
  for (;;) {
    for (std::size_t i = 0; i < kReceiveBatch; ++i) {
      s.iov[i] = iovec{s.buffers[i].data(), kMaxDatagram};
      s.messages[i] = mmsghdr{};
      s.messages[i].msg_hdr.msg_name = &s.from[i];
      s.messages[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      s.messages[i].msg_hdr.msg_iov = &s.iov[i];
      s.messages[i].msg_hdr.msg_iovlen = 1;
      s.messages[i].msg_hdr.msg_control = s.control[i].data();
      s.messages[i].msg_hdr.msg_controllen = s.control[i].size();
    }
    const int n = ::recvmmsg(socket.fd, s.messages.data(), kReceiveBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) break;
    const Time now = Clock::now();
    const Address base = socket.base;
    for (int i = 0; i < n; ++i) {
      const auto& header = s.messages[i].msg_hdr;
      if (header.msg_flags & MSG_TRUNC) continue;  // larger than any datagram we take
      auto from = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&s.from[i]), header.msg_namelen);
      if (!from) continue;
      const std::span<const std::byte> buffer(s.buffers[i].data(), s.messages[i].msg_len);
      const int gro = gro_segment(header);
      const std::size_t segment = gro > 0 ? static_cast<std::size_t>(gro) : buffer.size();
      for (std::size_t at = 0; at < buffer.size(); at += segment) {
        const auto bytes = buffer.subspan(at, std::min(segment, buffer.size() - at));
        const auto data = agent_.handle_receive(now, base, *from, bytes);
        if (data.empty()) {
          update_route();  // data later in this batch may need the route at once
          continue;
        }
        if (callbacks_.on_receive) callbacks_.on_receive(data);
        if (alive.expired()) return;  // the callback destroyed the transport
      }
    }
    flush(true);
    if (alive.expired()) return;
    if (static_cast<std::size_t>(n) < kReceiveBatch) break;
  }
}

std::string AgentTransport::signalled_line(const Candidate& candidate) const {
  sdp::Candidate line = to_sdp(candidate);
  if (responder_) {
    if (candidate.type == CandidateType::host) {
      if (auto name = responder_->name_of(candidate.address)) line.address = *name;
    } else if (!candidate.related.empty() && responder_->name_of(candidate.related)) {
      line.related_address = "0.0.0.0";  // draft-ietf-mmusic-mdns-ice-candidates section 3.1.2.2
      line.related_port = 0;
    }
  }
  return sdp::write_candidate(line);
}

void AgentTransport::flush(bool from_loop) {
  while (auto t = agent_.poll_transmit()) send_transmit(*t);
  while (auto e = agent_.poll_event()) {
    std::visit(
        [this](auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          if constexpr (std::is_same_v<T, event::LocalCandidate>) {
            pending_.push_back([this, line = signalled_line(ev.candidate)] {
              if (callbacks_.on_candidate) callbacks_.on_candidate(line);
            });
          } else if constexpr (std::is_same_v<T, event::GatheringDone>) {
            pending_.push_back([this] {
              if (callbacks_.on_gathering_done) callbacks_.on_gathering_done();
            });
          } else if constexpr (std::is_same_v<T, event::StateChanged>) {
            pending_.push_back([this, st = ev.state] {
              state_ = st;
              if (callbacks_.on_state) callbacks_.on_state(st);
            });
          } else if constexpr (std::is_same_v<T, event::SelectedPair>) {
            pending_.push_back([this, local = describe(ev.local), remote = describe(ev.remote)] {
              if (callbacks_.on_selected_pair) callbacks_.on_selected_pair(local, remote);
            });
          } else if constexpr (std::is_same_v<T, event::Problem>) {
            pending_.push_back([this, message = ev.message] {
              if (callbacks_.on_error) callbacks_.on_error(message);
            });
          }
        },
        *e);
  }
  update_route();
  // One timer at the agent's next deadline.
  const auto deadline = agent_.next_deadline();
  if (!deadline) {
    timer_.cancel();
    timer_at_.reset();
  } else if (!timer_.pending() || timer_at_ != deadline) {
    timer_at_ = deadline;
    std::weak_ptr<int> alive = alive_;
    timer_ = loop_.call_at(*deadline, [this, alive] {
      if (alive.expired()) return;
      timer_at_.reset();
      agent_.handle_timeout(Clock::now());
      flush(true);
    });
  }
  if (pending_.empty()) return;
  if (from_loop) {
    deliver_events();
  } else {
    post_once(delivery_posted_, &AgentTransport::deliver_events);
  }
}

// Runs `fn` from the loop's next turn (unless the transport is gone by then), once however
// often it is asked for before that; `posted` says whether it is on its way.
void AgentTransport::post_once(bool& posted, void (AgentTransport::*fn)()) {
  if (posted) return;
  posted = true;
  std::weak_ptr<int> alive = alive_;
  loop_.post([this, alive, &posted, fn] {
    if (alive.expired()) return;
    posted = false;
    (this->*fn)();
  });
}

void AgentTransport::deliver_events() {
  std::weak_ptr<int> alive = alive_;
  while (!pending_.empty()) {
    auto event = std::move(pending_.front());
    pending_.pop_front();
    event();
    if (alive.expired()) return;  // the callback destroyed the transport
  }
}

}  // namespace peer::ice
