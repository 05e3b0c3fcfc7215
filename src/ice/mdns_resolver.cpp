#include "ice/mdns_resolver.hpp"

#include <arpa/inet.h>
#include <glib-unix.h>
#include <glib.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "core/mdns/message.hpp"

namespace peer::ice {
namespace {

// The interface holding `address`, by index; 0 when none does.
unsigned interface_of(const Address& address) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return 0;
  unsigned index = 0;
  for (ifaddrs* i = list; i != nullptr && index == 0; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const std::size_t length =
        i->ifa_addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    auto a = Address::from_sockaddr(i->ifa_addr, length);
    if (a && a->with_port(0) == address.with_port(0)) index = if_nametoindex(i->ifa_name);
  }
  freeifaddrs(list);
  return index;
}

// A socket on `local` that sends its multicast out of `interface` (RFC 6762 section 11: IP
// TTL 255), or -1.
int open_socket(const Address& local, unsigned interface) {
  const bool v6 = local.family == AddressFamily::v6;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int on = 1, ttl = 255;
  bool ok = true;
  if (v6) {
    const int index = static_cast<int>(interface);
    ok = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) == 0 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl) == 0;
  } else {
    ip_mreqn request{};
    std::memcpy(&request.imr_address, local.ip.data(), 4);
    request.imr_ifindex = static_cast<int>(interface);
    const unsigned char ttl8 = 255;
    ok = setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &request, sizeof request) == 0 &&
         setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl8, sizeof ttl8) == 0;
  }
  sockaddr_storage bind_to{};
  const auto length = static_cast<socklen_t>(local.with_port(0).to_sockaddr(bind_to));
  if (!ok || ::bind(fd, reinterpret_cast<sockaddr*>(&bind_to), length) != 0) {
    spdlog::debug("mdns: no query socket on {}: {}", local.ip_string(), std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

// A socket on 0.0.0.0:5353 in the IPv4 group on each of `interfaces`, or -1. Browsers'
// responders (Firefox's, at least) multicast their answers to the group even to a query from
// another port, where RFC 6762 section 6.7 asks for a unicast reply: this is where those
// arrive. SO_REUSEADDR and SO_REUSEPORT share the port with the host's mDNS daemon.
int open_group_listener(const std::vector<unsigned>& interfaces) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int on = 1;
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(mdns::kPort);
  bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == 0 &&
            ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
  bool joined = false;
  for (unsigned interface : interfaces) {
    ip_mreqn request{};
    std::memcpy(&request.imr_multiaddr, mdns::kGroupV4.data(), 4);
    request.imr_ifindex = static_cast<int>(interface);
    joined |= ok && setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request) == 0;
  }
  if (!ok || !joined) {
    spdlog::debug("mdns: no listener on the group: {}", std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

MdnsResolver::MdnsResolver(runtime::EventLoop& loop, const std::vector<Address>& locals,
                           OnDone on_done)
    : loop_(loop), on_done_(std::move(on_done)) {
  std::vector<Address> seen;
  for (const auto& l : locals) {
    const Address local = l.with_port(0);
    if (local.empty() || local.is_loopback()) continue;
    if (std::find(seen.begin(), seen.end(), local) != seen.end()) continue;
    seen.push_back(local);
    const unsigned interface = interface_of(local);
    const int fd = open_socket(local, interface);
    if (fd < 0) continue;
    watch(fd, local, interface);
  }
  std::vector<unsigned> v4_interfaces;
  for (const auto& s : sockets_) {
    if (s->local.family == AddressFamily::v4 && s->interface != 0) v4_interfaces.push_back(s->interface);
  }
  if (!v4_interfaces.empty()) {
    if (const int fd = open_group_listener(v4_interfaces); fd >= 0) {
      watch(fd, Address::v4({0, 0, 0, 0}, mdns::kPort), 0);
      listener_ = sockets_.back().get();
    }
  }
}

void MdnsResolver::watch(int fd, const Address& local, unsigned interface) {
  auto socket = std::make_unique<Socket>();
  socket->fd = fd;
  socket->local = local;
  socket->interface = interface;
  socket->owner = this;
  socket->source = g_unix_fd_source_new(fd, G_IO_IN);
  g_source_set_callback(socket->source,
                        reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(&on_readable)),
                        socket.get(), nullptr);
  g_source_attach(socket->source, loop_.context());
  sockets_.push_back(std::move(socket));
}

MdnsResolver::~MdnsResolver() {
  for (auto& s : sockets_) {
    g_source_destroy(s->source);
    g_source_unref(s->source);
    ::close(s->fd);
  }
}

bool MdnsResolver::resolving(const std::string& name) const {
  return std::any_of(queries_.begin(), queries_.end(),
                     [&](const Query& q) { return q.name == name; });
}

void MdnsResolver::resolve(const std::string& name) {
  if (resolving(name)) return;
  queries_.push_back(Query{name, Clock::now(), 0});
  arm();  // the first send goes from the timer at once: never from inside the caller
}

void MdnsResolver::send(const Query& query) {
  std::vector<std::byte> message;
  for (const auto& s : sockets_) {
    if (s.get() == listener_) continue;  // it only listens
    const bool v6 = s->local.family == AddressFamily::v6;
    mdns::Error error;
    if (!mdns::write_query(query.name, v6 ? mdns::Type::aaaa : mdns::Type::a, message, &error)) {
      spdlog::debug("mdns: cannot ask for '{}': {}", query.name, mdns::describe(error));
      return;
    }
    sockaddr_storage to{};
    Address group =
        v6 ? Address::v6(mdns::kGroupV6, mdns::kPort) : Address::v4(mdns::kGroupV4, mdns::kPort);
    const auto length = static_cast<socklen_t>(group.to_sockaddr(to));
    if (v6) reinterpret_cast<sockaddr_in6*>(&to)->sin6_scope_id = s->interface;  // link-scope group
    if (::sendto(s->fd, message.data(), message.size(), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&to), length) < 0) {
      spdlog::debug("mdns: query for {} from {}: {}", query.name, s->local.ip_string(),
                    std::strerror(errno));
    }
  }
}

void MdnsResolver::arm() {
  std::optional<Clock::time_point> next;
  for (const auto& q : queries_) {
    // With no socket to ask from, a query has nothing to wait for.
    const auto at = sockets_.empty()              ? q.started
                    : q.sent < std::size(kSendAt) ? q.started + kSendAt[q.sent]
                                                  : q.started + kTimeout;
    if (!next || at < *next) next = at;
  }
  if (!next) {
    timer_.cancel();
    return;
  }
  std::weak_ptr<int> alive = alive_;
  timer_ = loop_.call_at(*next, [this, alive] {
    if (!alive.expired()) on_timer();
  });
}

void MdnsResolver::on_timer() {
  const auto now = Clock::now();
  std::vector<std::string> expired;
  for (auto it = queries_.begin(); it != queries_.end();) {
    bool due = false;  // a late timer sends once, not each send it missed
    while (!sockets_.empty() && it->sent < std::size(kSendAt) &&
           it->started + kSendAt[it->sent] <= now) {
      ++it->sent;
      due = true;
    }
    if (due) send(*it);
    if (sockets_.empty() || it->started + kTimeout <= now) {
      expired.push_back(it->name);
      it = queries_.erase(it);
    } else {
      ++it;
    }
  }
  arm();
  std::weak_ptr<int> alive = alive_;
  for (const auto& name : expired) {
    on_done_(name, {});
    if (alive.expired()) return;
  }
}

int MdnsResolver::on_readable(int, unsigned, void* data) {
  auto* socket = static_cast<Socket*>(data);
  socket->owner->receive(*socket);
  return G_SOURCE_CONTINUE;  // the source is destroyed with the resolver, never here
}

void MdnsResolver::receive(Socket& socket) {
  // mDNS messages may be up to 9000 bytes (RFC 6762 section 17); a larger one is cut, and
  // parsing then refuses it unless what it needs came first.
  std::array<std::byte, 9000> buffer;
  std::weak_ptr<int> alive = alive_;
  for (;;) {
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(socket.fd, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) return;
    mdns::Error error;
    const auto message =
        mdns::Message::parse(std::span(buffer.data(), static_cast<std::size_t>(n)), &error);
    if (!message) {
      auto sender = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&from), from_length);
      spdlog::debug("mdns: answer from {} dropped: {}", sender ? sender->to_string() : "?",
                    mdns::describe(error));
      continue;
    }
    std::vector<std::pair<std::string, std::vector<Address>>> done;
    for (auto it = queries_.begin(); it != queries_.end();) {
      std::vector<Address> addresses;
      mdns::addresses_for(*message, it->name, addresses);
      if (addresses.empty()) {
        ++it;
        continue;
      }
      done.emplace_back(it->name, std::move(addresses));
      it = queries_.erase(it);
    }
    if (done.empty()) continue;
    arm();
    for (const auto& [name, addresses] : done) {
      on_done_(name, addresses);
      if (alive.expired()) return;
    }
  }
}

}  // namespace peer::ice
