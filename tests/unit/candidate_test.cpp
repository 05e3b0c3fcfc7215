#include "core/sdp/candidate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "peer/error.hpp"

namespace peer::sdp {
namespace {

// Round trip at the model level: parse(write(parse(x))) == parse(x).
Candidate round_trip(std::string_view line) {
  Candidate c = parse_candidate(line);
  EXPECT_EQ(parse_candidate(write_candidate(c)), c) << line;
  return c;
}

// Expects bad_candidate with a message containing every one of `parts`.
void expect_bad(std::string_view line, std::initializer_list<std::string_view> parts) {
  try {
    parse_candidate(line);
    ADD_FAILURE() << "accepted: " << line;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::bad_candidate) << line;
    std::string msg = e.what();
    for (auto p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(Candidate, HostUdpChrome) {
  auto c = round_trip(
      "candidate:1467250027 1 udp 2122260223 192.168.1.10 54321 typ host generation 0 ufrag EsAw "
      "network-id 1 network-cost 10");
  EXPECT_EQ(c.foundation, "1467250027");
  EXPECT_EQ(c.component, 1);
  EXPECT_EQ(c.transport, "udp");
  EXPECT_EQ(c.priority, 2122260223u);
  EXPECT_EQ(c.address, "192.168.1.10");
  EXPECT_EQ(c.port, 54321);
  EXPECT_EQ(c.type, "host");
  EXPECT_EQ(c.related_address, "");
  EXPECT_EQ(c.related_port, 0);
  EXPECT_EQ(c.tcp_type, "");
  using P = std::pair<std::string, std::string>;
  std::vector<P> ext = {P{"generation", "0"}, P{"ufrag", "EsAw"}, P{"network-id", "1"},
                        P{"network-cost", "10"}};
  EXPECT_EQ(c.extensions, ext);
}

TEST(Candidate, ChromeShapeIsWrittenBackVerbatim) {
  std::string line =
      "candidate:842163049 1 udp 1677729535 203.0.113.7 54321 typ srflx raddr 192.168.1.10 rport "
      "54321 generation 0 ufrag EsAw network-id 1 network-cost 10";
  EXPECT_EQ(write_candidate(parse_candidate(line)), line);
}

TEST(Candidate, AcceptsAttributePrefixAndLineEnd) {
  auto a = parse_candidate("a=candidate:0 1 UDP 2122252543 10.0.0.2 5000 typ host\r\n");
  auto b = parse_candidate("candidate:0 1 udp 2122252543 10.0.0.2 5000 typ host");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.transport, "udp");  // Firefox writes UDP; lowercased
}

TEST(Candidate, SrflxWithRelatedAddress) {
  auto c = round_trip(
      "candidate:842163049 1 udp 1686052607 203.0.113.7 54321 typ srflx raddr 192.168.1.10 rport "
      "54321 generation 0 network-id 1");
  EXPECT_EQ(c.type, "srflx");
  EXPECT_EQ(c.related_address, "192.168.1.10");
  EXPECT_EQ(c.related_port, 54321);
  EXPECT_EQ(c.extensions.size(), 2u);
}

TEST(Candidate, RelayFirefox) {
  auto c = round_trip(
      "candidate:3 1 UDP 92217343 198.51.100.20 52723 typ relay raddr 203.0.113.5 rport 52716");
  EXPECT_EQ(c.type, "relay");
  EXPECT_EQ(c.priority, 92217343u);
  EXPECT_EQ(c.related_address, "203.0.113.5");
  EXPECT_EQ(c.related_port, 52716);
  EXPECT_TRUE(c.extensions.empty());
}

TEST(Candidate, PrflxAndZeroedRelated) {
  auto c =
      round_trip("candidate:1 1 UDP 1686052863 203.0.113.5 52716 typ prflx raddr 0.0.0.0 rport 0");
  EXPECT_EQ(c.type, "prflx");
  EXPECT_EQ(c.related_address, "0.0.0.0");
  EXPECT_NE(write_candidate(c).find("raddr 0.0.0.0 rport 0"), std::string::npos);
}

TEST(Candidate, TcpWithTcpType) {
  for (std::string t : {"active", "passive", "so"}) {
    auto c = round_trip("candidate:435653019 1 tcp 1518280447 192.168.1.10 9 typ host tcptype " +
                        t + " generation 0 network-id 1");
    EXPECT_EQ(c.transport, "tcp");
    EXPECT_EQ(c.port, 9);
    EXPECT_EQ(c.tcp_type, t);
    ASSERT_EQ(c.extensions.size(), 2u);
    EXPECT_EQ(c.extensions[0].first, "generation");
  }
  // tcptype is written right after typ / raddr / rport, as Chrome does.
  auto c = parse_candidate("candidate:2 1 TCP 2105524479 10.0.0.2 9 typ host tcptype active");
  EXPECT_EQ(write_candidate(c), "candidate:2 1 tcp 2105524479 10.0.0.2 9 typ host tcptype active");
}

TEST(Candidate, Ipv6) {
  auto c = round_trip(
      "candidate:3951581907 1 udp 2122194687 2001:db8:85a3::8a2e:370:7334 50123 typ host "
      "generation 0 network-id 2");
  EXPECT_EQ(c.address, "2001:db8:85a3::8a2e:370:7334");
  auto r = round_trip("candidate:7 1 udp 41885439 2001:db8::20 3478 typ relay raddr ::1 rport 9");
  EXPECT_EQ(r.related_address, "::1");
}

TEST(Candidate, MdnsAddress) {
  auto c = round_trip(
      "candidate:3797419549 1 udp 2113937151 4f5e6d7c-1a2b-4c3d-9e8f-0a1b2c3d4e5f.local 54321 typ "
      "host generation 0 ufrag Xk2f network-cost 999");
  EXPECT_EQ(c.address, "4f5e6d7c-1a2b-4c3d-9e8f-0a1b2c3d4e5f.local");
  EXPECT_EQ(c.extensions.back(), (std::pair<std::string, std::string>{"network-cost", "999"}));
}

TEST(Candidate, ToleratesDoubleBlanks) {
  auto c = parse_candidate("candidate:1  1 udp 100 10.0.0.1 1 typ  host");
  EXPECT_EQ(c.type, "host");
}

TEST(Candidate, RejectsMissingFields) {
  expect_bad("candidate:", {"missing foundation"});
  expect_bad("candidate:1 1 udp 2122260223 192.168.1.10", {"missing port"});
  expect_bad("candidate:1 1 udp 2122260223 192.168.1.10 5000", {"missing 'typ'"});
  expect_bad("candidate:1 1 udp 2122260223 192.168.1.10 5000 typ", {"missing type"});
  expect_bad("candidate:1 1", {"missing transport"});
}

TEST(Candidate, RejectsBadPort) {
  expect_bad("candidate:1 1 udp 100 10.0.0.1 65536 typ host", {"bad port", "65536", "0 to 65535"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 -1 typ host", {"bad port"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 50x typ host", {"bad port", "50x"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ srflx raddr 10.0.0.2 rport 99999",
             {"bad rport", "99999"});
}

TEST(Candidate, RejectsBadPriority) {
  expect_bad("candidate:1 1 udp -5 10.0.0.1 1 typ host", {"bad priority", "-5"});
  expect_bad("candidate:1 1 udp 4294967296 10.0.0.1 1 typ host", {"bad priority"});
  expect_bad("candidate:1 1 udp high 10.0.0.1 1 typ host", {"bad priority", "high"});
}

TEST(Candidate, RejectsUnknownTransport) {
  expect_bad("candidate:1 1 sctp 100 10.0.0.1 1 typ host", {"bad transport", "sctp", "udp or tcp"});
}

TEST(Candidate, RejectsOtherBadFields) {
  expect_bad("candidate:1 0 udp 100 10.0.0.1 1 typ host", {"bad component"});
  expect_bad("candidate:1 257 udp 100 10.0.0.1 1 typ host", {"bad component"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 type host", {"bad 'typ'"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ bogus", {"bad type", "bogus"});
  expect_bad("candidate:a-b 1 udp 100 10.0.0.1 1 typ host", {"bad foundation"});
  expect_bad("candidate:" + std::string(33, 'a') + " 1 udp 100 10.0.0.1 1 typ host",
             {"bad foundation"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1;rm 1 typ host", {"bad address"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ host raddr", {"extension", "raddr", "no value"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ host generation", {"generation", "no value"});
  expect_bad("candidate:1 1 tcp 100 10.0.0.1 1 typ host tcptype sideways", {"bad tcptype"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ host raddr 1.1.1.1 raddr 1.1.1.2",
             {"duplicate raddr"});
  expect_bad("1 1 udp 100 10.0.0.1 1 typ host", {"does not start with 'candidate:'"});
  expect_bad("", {"empty"});
  expect_bad("candidate:1 1 udp 100 10.0.0.1 1 typ host x\x01y z", {"control character"});
  expect_bad("candidate:" + std::string(5000, '1'), {"more than"});
}

}  // namespace
}  // namespace peer::sdp
