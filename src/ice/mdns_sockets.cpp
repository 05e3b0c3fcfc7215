#include "ice/mdns_sockets.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/mdns/message.hpp"

namespace peer::ice {


MdnsLink mdns_link_of(const Address& address) {
  MdnsLink link;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return link;
  for (ifaddrs* i = list; i != nullptr && link.interface == 0; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    const bool v6 = i->ifa_addr->sa_family == AF_INET6;
    const std::size_t length = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    auto a = Address::from_sockaddr(i->ifa_addr, length);
    if (!a || a->with_port(0) != address.with_port(0)) continue;
    link.interface = if_nametoindex(i->ifa_name);
    if (i->ifa_netmask != nullptr) {
      if (auto m = Address::from_sockaddr(i->ifa_netmask, length)) link.netmask = m->with_port(0);
    }
  }
  freeifaddrs(list);
  return link;
}

// A socket on `local` that sends its multicast out of `interface` (RFC 6762 section 11: IP
// TTL 255), or -1.
int open_mdns_sender(const Address& local, unsigned interface) {
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
int open_mdns_group_listener(const std::vector<unsigned>& interfaces) {
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

}  // namespace peer::ice
