#include "ice/mdns_resolver.hpp"

#include <arpa/inet.h>
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
#include "ice/mdns_sockets.hpp"

namespace peer::ice {

MdnsResolver::MdnsResolver(runtime::EventLoop& loop, const std::vector<Address>& locals,
                           OnDone on_done)
    : loop_(loop), on_done_(std::move(on_done)) {
  std::vector<Address> seen;
  for (const auto& l : locals) {
    const Address local = l.with_port(0);
    if (local.empty() || local.is_loopback()) continue;
    if (std::find(seen.begin(), seen.end(), local) != seen.end()) continue;
    seen.push_back(local);
    const unsigned interface = mdns_link_of(local).interface;
    const int fd = open_mdns_sender(local, interface);
    if (fd < 0) continue;
    watch(fd, local, interface);
  }
  std::vector<unsigned> v4_interfaces;
  for (const auto& s : sockets_) {
    if (s->local.family == AddressFamily::v4 && s->interface != 0) v4_interfaces.push_back(s->interface);
  }
  if (!v4_interfaces.empty()) {
    if (const int fd = open_mdns_group_listener(v4_interfaces); fd >= 0) {
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
  socket->watch = loop_.watch(fd, runtime::EventLoop::kReadable,
                              [this, raw = socket.get()](unsigned) { receive(*raw); });
  sockets_.push_back(std::move(socket));
}

MdnsResolver::~MdnsResolver() {
  for (auto& s : sockets_) {
    s->watch.cancel();
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
