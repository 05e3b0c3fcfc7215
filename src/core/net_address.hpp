#pragma once
// peer::Address: an IPv4 or IPv6 address with a port, as a plain value (no sockaddr, no
// allocation), for the sans-I/O layers (STUN, the ICE agent) and the sockets beneath them.
//
// IPv4 addresses keep their 4 bytes at the front of `ip` and zeros after, so == and the hash
// compare exactly what is on the wire. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv6
// here: the sockets open one family per socket and never see mapped addresses.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace peer {

enum class AddressFamily : uint8_t { none, v4, v6 };

struct Address {
  AddressFamily family = AddressFamily::none;
  std::array<uint8_t, 16> ip{};
  uint16_t port = 0;

  static Address v4(std::array<uint8_t, 4> bytes, uint16_t port) noexcept;
  static Address v6(std::array<uint8_t, 16> bytes, uint16_t port) noexcept;
  // A numeric IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1", an IPv6 scope "%eth0" is
  // refused); nullopt for anything else (names included: resolving is I/O).
  static std::optional<Address> parse(std::string_view ip, uint16_t port);
  // From a socket address of either family; nullopt for other families or a short length.
  static std::optional<Address> from_sockaddr(const sockaddr* sa, std::size_t length) noexcept;
  // Fills `out`; returns the length to pass to sendto/bind (0 for AddressFamily::none).
  std::size_t to_sockaddr(sockaddr_storage& out) const noexcept;

  bool empty() const noexcept { return family == AddressFamily::none; }
  std::size_t ip_size() const noexcept { return family == AddressFamily::v4 ? 4 : family == AddressFamily::v6 ? 16 : 0; }
  std::span<const uint8_t> ip_bytes() const noexcept { return {ip.data(), ip_size()}; }
  bool is_loopback() const noexcept;     // 127.0.0.0/8, ::1
  bool is_link_local() const noexcept;   // 169.254.0.0/16, fe80::/10
  bool is_private() const noexcept;      // RFC 1918, fc00::/7
  // The same address with another port.
  Address with_port(uint16_t p) const noexcept {
    Address a = *this;
    a.port = p;
    return a;
  }

  std::string ip_string() const;  // "192.0.2.1", "2001:db8::1"
  std::string to_string() const;  // "192.0.2.1:3478", "[2001:db8::1]:3478"

  bool operator==(const Address&) const = default;
  auto operator<=>(const Address&) const = default;
};

struct AddressHash {
  std::size_t operator()(const Address& a) const noexcept;
};

}  // namespace peer
