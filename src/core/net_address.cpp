// peer::Address.
//
// Rules, and why:
// - parse() takes numeric addresses only, through inet_pton: it is strict (four dotted
//   decimal parts for IPv4, so "1.2.3" and "0x7f.1" are refused, unlike inet_aton) and never
//   resolves. An IPv6 scope ("fe80::1%eth0") is refused: Address has no place for it, and
//   dropping it silently would send to the wrong link.
// - from_sockaddr() copies the socket address out with memcpy: the caller's buffer may be a
//   sockaddr_storage or a plain byte array, with no promise of alignment for sockaddr_in6.
//   The IPv6 scope id and flow label are dropped (see above: not part of an Address).
// - The hash mixes all 19 bytes that == compares (the family, the 16 of `ip`, the port),
//   so equal addresses hash equal and addresses that differ only in the port spread apart.

#include "core/net_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace peer {

Address Address::v4(std::array<uint8_t, 4> bytes, uint16_t port) noexcept {
  Address a;
  a.family = AddressFamily::v4;
  std::memcpy(a.ip.data(), bytes.data(), bytes.size());
  a.port = port;
  return a;
}

Address Address::v6(std::array<uint8_t, 16> bytes, uint16_t port) noexcept {
  Address a;
  a.family = AddressFamily::v6;
  a.ip = bytes;
  a.port = port;
  return a;
}

std::optional<Address> Address::parse(std::string_view ip, uint16_t port) {
  // inet_pton wants a NUL-terminated string; the longest numeric form is an IPv6 address
  // with an embedded IPv4 one (45 characters, INET6_ADDRSTRLEN - 1).
  char text[INET6_ADDRSTRLEN];
  if (ip.empty() || ip.size() >= sizeof text) return std::nullopt;
  if (ip.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(text, ip.data(), ip.size());
  text[ip.size()] = '\0';
  if (ip.find(':') != std::string_view::npos) {
    // Refused here rather than left to inet_pton, whose handling of '%' is up to the libc.
    if (ip.find('%') != std::string_view::npos) return std::nullopt;
    std::array<uint8_t, 16> bytes{};
    if (inet_pton(AF_INET6, text, bytes.data()) != 1) return std::nullopt;
    return v6(bytes, port);
  }
  std::array<uint8_t, 4> bytes{};
  if (inet_pton(AF_INET, text, bytes.data()) != 1) return std::nullopt;
  return v4(bytes, port);
}

std::optional<Address> Address::from_sockaddr(const sockaddr* sa, std::size_t length) noexcept {
  if (sa == nullptr || length < offsetof(sockaddr, sa_family) + sizeof(sa_family_t)) {
    return std::nullopt;
  }
  sa_family_t family = 0;
  std::memcpy(&family, reinterpret_cast<const char*>(sa) + offsetof(sockaddr, sa_family),
              sizeof family);
  if (family == AF_INET) {
    if (length < sizeof(sockaddr_in)) return std::nullopt;
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    std::array<uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &in.sin_addr, bytes.size());
    return v4(bytes, ntohs(in.sin_port));
  }
  if (family == AF_INET6) {
    if (length < sizeof(sockaddr_in6)) return std::nullopt;
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    std::array<uint8_t, 16> bytes{};
    std::memcpy(bytes.data(), &in6.sin6_addr, bytes.size());
    return v6(bytes, ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

std::size_t Address::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof out);
  if (family == AddressFamily::v4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, ip.data(), 4);
    std::memcpy(&out, &in, sizeof in);
    return sizeof in;
  }
  if (family == AddressFamily::v6) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    std::memcpy(&in6.sin6_addr, ip.data(), 16);
    std::memcpy(&out, &in6, sizeof in6);
    return sizeof in6;
  }
  return 0;
}

bool Address::is_loopback() const noexcept {
  if (family == AddressFamily::v4) return ip[0] == 127;
  if (family == AddressFamily::v6) {
    for (std::size_t i = 0; i < 15; ++i) {
      if (ip[i] != 0) return false;
    }
    return ip[15] == 1;
  }
  return false;
}

bool Address::is_link_local() const noexcept {
  if (family == AddressFamily::v4) return ip[0] == 169 && ip[1] == 254;             // RFC 3927
  if (family == AddressFamily::v6) return ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80;  // RFC 4291
  return false;
}

bool Address::is_private() const noexcept {
  if (family == AddressFamily::v4) {  // RFC 1918 section 3
    return ip[0] == 10 || (ip[0] == 172 && (ip[1] & 0xf0) == 16) || (ip[0] == 192 && ip[1] == 168);
  }
  if (family == AddressFamily::v6) return (ip[0] & 0xfe) == 0xfc;  // unique local, RFC 4193
  return false;
}

std::string Address::ip_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family == AddressFamily::v4) {
    if (inet_ntop(AF_INET, ip.data(), text, sizeof text) == nullptr) return {};
    return text;
  }
  if (family == AddressFamily::v6) {
    if (inet_ntop(AF_INET6, ip.data(), text, sizeof text) == nullptr) return {};
    return text;
  }
  return {};  // AddressFamily::none
}

std::string Address::to_string() const {
  if (family == AddressFamily::none) return {};
  const std::string host = ip_string();
  const std::string p = std::to_string(port);
  // Brackets keep the port apart from the colons of an IPv6 address (RFC 3986 section 3.2.2).
  return family == AddressFamily::v6 ? "[" + host + "]:" + p : host + ":" + p;
}

std::size_t AddressHash::operator()(const Address& a) const noexcept {
  uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, a.ip.data(), 8);
  std::memcpy(&lo, a.ip.data() + 8, 8);
  // splitmix64's finalizer, chained over the three words: every input bit reaches every
  // output bit, so a table that keeps only some bits of the hash still spreads neighbouring
  // addresses and ports.
  const auto mix = [](uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
  };
  uint64_t h = mix(hi);
  h = mix(h ^ lo);
  h = mix(h ^ (static_cast<uint64_t>(a.port) << 8 | static_cast<uint8_t>(a.family)));
  return static_cast<std::size_t>(h);
}

}  // namespace peer
