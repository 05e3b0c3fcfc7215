// peer::Address: parsing, printing, socket addresses, classification. Lives in the
// unit_stun binary.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <set>
#include <unordered_set>

#include "core/net_address.hpp"

namespace peer {
namespace {

TEST(Address, ParsesIpv4) {
  const auto a = Address::parse("192.0.2.1", 3478);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, AddressFamily::v4);
  EXPECT_EQ(*a, Address::v4({192, 0, 2, 1}, 3478));
  EXPECT_EQ(a->ip_size(), 4u);
  EXPECT_EQ(a->ip_bytes().size(), 4u);
  for (std::size_t i = 4; i < 16; ++i) EXPECT_EQ(a->ip[i], 0) << i;  // == sees only the wire
  EXPECT_EQ(a->ip_string(), "192.0.2.1");
  EXPECT_EQ(a->to_string(), "192.0.2.1:3478");
  EXPECT_FALSE(a->empty());
}

TEST(Address, ParsesIpv6) {
  const auto a = Address::parse("2001:DB8:0:0::1", 443);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family, AddressFamily::v6);
  EXPECT_EQ(a->ip_size(), 16u);
  EXPECT_EQ(a->ip[0], 0x20);
  EXPECT_EQ(a->ip[1], 0x01);
  EXPECT_EQ(a->ip[15], 0x01);
  EXPECT_EQ(a->ip_string(), "2001:db8::1");  // RFC 5952 form
  EXPECT_EQ(a->to_string(), "[2001:db8::1]:443");

  const auto mapped = Address::parse("::ffff:192.0.2.1", 1);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->family, AddressFamily::v6);  // mapped addresses stay IPv6
  EXPECT_NE(*mapped, Address::v4({192, 0, 2, 1}, 1));
  EXPECT_EQ(mapped->ip_string(), "::ffff:192.0.2.1");
}

TEST(Address, RefusesAnythingButNumericAddresses) {
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "0x7f.0.0.1", "::1%eth0",
        "fe80::1%1", "example.com", "localhost", "[::1]", "1.2.3.4:80", ":::", "2001:db8::1::2",
        "1111:2222:3333:4444:5555:6666:7777:8888:9999"}) {
    EXPECT_FALSE(Address::parse(bad, 1)) << bad;
  }
  EXPECT_FALSE(Address::parse(std::string_view("1.2.3.4\0x", 9), 1));  // no cut at the NUL
  EXPECT_FALSE(Address::parse(std::string(100, '1'), 1));
}

TEST(Address, EmptyAddress) {
  const Address a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.ip_size(), 0u);
  EXPECT_TRUE(a.ip_bytes().empty());
  EXPECT_EQ(a.ip_string(), "");
  EXPECT_EQ(a.to_string(), "");
  sockaddr_storage ss{};
  EXPECT_EQ(a.to_sockaddr(ss), 0u);
  EXPECT_FALSE(a.is_loopback());
  EXPECT_FALSE(a.is_link_local());
  EXPECT_FALSE(a.is_private());
}

TEST(Address, SockaddrRoundTripIpv4) {
  const Address a = Address::v4({198, 51, 100, 9}, 65535);
  sockaddr_storage ss{};
  const std::size_t length = a.to_sockaddr(ss);
  ASSERT_EQ(length, sizeof(sockaddr_in));
  sockaddr_in in{};
  std::memcpy(&in, &ss, sizeof in);
  EXPECT_EQ(in.sin_family, AF_INET);
  EXPECT_EQ(ntohs(in.sin_port), 65535);
  char text[INET_ADDRSTRLEN];
  ASSERT_NE(inet_ntop(AF_INET, &in.sin_addr, text, sizeof text), nullptr);
  EXPECT_STREQ(text, "198.51.100.9");
  EXPECT_EQ(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length), a);
  EXPECT_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length - 1));
}

TEST(Address, SockaddrRoundTripIpv6) {
  const Address a = *Address::parse("2001:db8:85a3::8a2e:370:7334", 5349);
  sockaddr_storage ss{};
  const std::size_t length = a.to_sockaddr(ss);
  ASSERT_EQ(length, sizeof(sockaddr_in6));
  sockaddr_in6 in6{};
  std::memcpy(&in6, &ss, sizeof in6);
  EXPECT_EQ(in6.sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(in6.sin6_port), 5349);
  EXPECT_EQ(in6.sin6_scope_id, 0u);
  EXPECT_EQ(std::memcmp(&in6.sin6_addr, a.ip.data(), 16), 0);
  EXPECT_EQ(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length), a);
  EXPECT_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length - 1));
}

TEST(Address, FromSockaddrRefusesOtherFamilies) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof un));
  EXPECT_FALSE(Address::from_sockaddr(nullptr, sizeof(sockaddr_storage)));
  sockaddr_storage ss{};
  EXPECT_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), 0));
  ss.ss_family = AF_UNSPEC;
  EXPECT_FALSE(Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof ss));
}

// The scope id of a link-local socket address has no place in an Address and is dropped.
TEST(Address, FromSockaddrDropsTheScope) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(9);
  in6.sin6_scope_id = 3;
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
  const auto a = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "[fe80::1]:9");
  EXPECT_TRUE(a->is_link_local());
}

TEST(Address, Classification) {
  struct Case {
    const char* ip;
    bool loopback, link_local, is_private;
  };
  const Case cases[] = {
      {"127.0.0.1", true, false, false},    {"127.255.0.9", true, false, false},
      {"::1", true, false, false},          {"::", false, false, false},
      {"169.254.1.1", false, true, false},  {"169.253.1.1", false, false, false},
      {"fe80::1", false, true, false},      {"febf::1", false, true, false},
      {"fec0::1", false, false, false},     {"10.1.2.3", false, false, true},
      {"172.16.0.1", false, false, true},   {"172.31.255.255", false, false, true},
      {"172.32.0.1", false, false, false},  {"172.15.0.1", false, false, false},
      {"192.168.1.1", false, false, true},  {"192.169.1.1", false, false, false},
      {"fc00::1", false, false, true},      {"fdff::1", false, false, true},
      {"fe00::1", false, false, false},     {"8.8.8.8", false, false, false},
      {"2001:db8::1", false, false, false},
  };
  for (const Case& c : cases) {
    const auto a = Address::parse(c.ip, 1);
    ASSERT_TRUE(a) << c.ip;
    EXPECT_EQ(a->is_loopback(), c.loopback) << c.ip;
    EXPECT_EQ(a->is_link_local(), c.link_local) << c.ip;
    EXPECT_EQ(a->is_private(), c.is_private) << c.ip;
  }
}

TEST(Address, ComparesAndHashes) {
  const Address a = Address::v4({10, 0, 0, 1}, 1000);
  const Address b = a.with_port(1001);
  EXPECT_EQ(b.port, 1001);
  EXPECT_EQ(b.with_port(1000), a);
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);
  std::set<Address> ordered{b, a};
  EXPECT_EQ(*ordered.begin(), a);

  std::unordered_set<Address, AddressHash> set;
  set.insert(a);
  set.insert(b);
  set.insert(*Address::parse("10.0.0.1", 1000));
  set.insert(*Address::parse("a00:1::", 1000));  // the same 16 bytes, the other family
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(AddressHash{}(a), AddressHash{}(*Address::parse("10.0.0.1", 1000)));
  EXPECT_NE(AddressHash{}(a), AddressHash{}(b));
}

}  // namespace
}  // namespace peer
