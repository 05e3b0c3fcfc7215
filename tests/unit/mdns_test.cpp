// core/mdns: one-shot mDNS queries (RFC 6762 section 5.1) and their answers (RFC 1035 wire
// format) on hand-built packets: compression, truncation, loops, bad lengths, what is ignored.

#include "core/mdns/message.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace {

using peer::Address;
using peer::mdns::addresses_for;
using peer::mdns::Error;
using peer::mdns::Message;
using peer::mdns::Type;

// A message being built by hand.
struct Packet {
  std::vector<std::byte> b;
  Packet(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    for (uint16_t v : {uint16_t{0}, flags, qd, an, ns, ar}) u16(v);
  }
  Packet& u8(int v) {
    b.push_back(static_cast<std::byte>(v));
    return *this;
  }
  Packet& u16(int v) { return u8(v >> 8).u8(v & 0xff); }
  Packet& u32(uint32_t v) {
    return u16(static_cast<int>(v >> 16)).u16(static_cast<int>(v & 0xffff));
  }
  Packet& label(const std::string& l) {
    u8(static_cast<int>(l.size()));
    for (char c : l) u8(static_cast<unsigned char>(c));
    return *this;
  }
  Packet& end() { return u8(0); }
  Packet& pointer(int offset) { return u16(0xc000 | offset); }
  // TYPE CLASS TTL RDLENGTH RDATA after a name.
  Packet& rr(int type, int klass, uint32_t ttl, std::initializer_list<int> data) {
    u16(type).u16(klass).u32(ttl).u16(static_cast<int>(data.size()));
    for (int v : data) u8(v);
    return *this;
  }
  std::size_t size() const { return b.size(); }
};

Address v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return Address::v4({a, b, c, d}, 0);
}

std::vector<Address> resolve(std::span<const std::byte> packet, std::string_view name) {
  std::vector<Address> out;
  Error error;
  auto m = Message::parse(packet, &error);
  EXPECT_TRUE(m) << peer::mdns::describe(error);
  if (m) addresses_for(*m, name, out);
  return out;
}

std::string refusal(std::span<const std::byte> packet) {
  Error error;
  auto m = Message::parse(packet, &error);
  if (m) return "accepted";
  EXPECT_LE(error.offset, packet.size());
  EXPECT_STRNE(error.message, "");
  return error.message;
}

constexpr int kA = 1, kAaaa = 28, kIn = 1, kFlush = 0x8000, kResponse = 0x8400;

TEST(Mdns, QueryIsOneQuestionOfTheTypeWithTheQuBit) {
  std::vector<std::byte> out{std::byte{0xee}};  // replaced, not appended to
  ASSERT_TRUE(peer::mdns::write_query("AbC-1.local.", Type::a, out));
  const auto expected =
      Packet(0, 1, 0, 0, 0).label("AbC-1").label("local").end().u16(kA).u16(0x8001).b;
  EXPECT_EQ(out, expected);
  auto m = Message::parse(out);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->is_response());
  EXPECT_EQ(m->id(), 0);
  std::size_t at = 0;
  auto q = m->next_question(at);
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->name.equals("abc-1.LOCAL"));
  EXPECT_TRUE(q->name.equals("abc-1.local."));
  EXPECT_FALSE(q->name.equals("abc-1"));
  EXPECT_FALSE(q->name.equals("abc-1.local.x"));
  EXPECT_FALSE(q->name.equals("abc-2.local"));
  EXPECT_EQ(q->name.to_string(), "AbC-1.local");
  EXPECT_EQ(q->type, kA);
  EXPECT_EQ(q->klass, kIn);
  EXPECT_TRUE(q->unicast_response);
  EXPECT_FALSE(m->next_question(at));
  ASSERT_TRUE(peer::mdns::write_query("x.local", Type::aaaa, out));
  EXPECT_EQ(out[out.size() - 3], std::byte{kAaaa});
}

TEST(Mdns, WritersRefuseNamesThatCannotGoOnTheWire) {
  std::vector<std::byte> out;
  const auto refused = [&](const std::string& name, const std::string& why) {
    Error error;
    EXPECT_FALSE(peer::mdns::write_query(name, Type::a, out, &error)) << name;
    EXPECT_NE(std::string(error.message).find(why), std::string::npos) << error.message;
    EXPECT_FALSE(peer::mdns::write_response(0, name, std::nullopt, {}, 120, out, &error)) << name;
  };
  refused("", "empty name");
  refused(".", "empty name");
  refused("a..local", "empty label");
  refused(".local", "empty label");
  refused(std::string(64, 'a') + ".local", "longer than 63");
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(50, 'a') + ".";
  long_name += "local";  // 5 * 51 + 6 + 1 = 262 bytes on the wire
  refused(long_name, "longer than 255");
  EXPECT_TRUE(peer::mdns::write_query(std::string(63, 'a') + ".local", Type::a, out));
  const Address none;
  Error error;
  EXPECT_FALSE(peer::mdns::write_response(0, "x.local", std::nullopt, std::span(&none, 1), 120, out,
                                          &error));
  EXPECT_STREQ(error.message, "empty address for an answer");
}

// Answers with compressed names (RFC 1035 section 4.1.4): a whole name as a pointer, a label
// followed by a pointer to another name's suffix, matched case-insensitively, in any section.
TEST(Mdns, ResolvesCompressedAnswersInEverySection) {
  Packet p(kResponse, 1, 2, 1, 1);
  p.label("Host-1").label("local").end().u16(kA).u16(0x8001);  // question at 12
  p.pointer(12).rr(kA, kFlush | kIn, 120, {10, 0, 0, 1});
  p.pointer(12).rr(kAaaa, kFlush | kIn, 120, {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
  p.label("other").pointer(12 + 7).rr(kA, kIn, 120, {10, 0, 0, 2});   // authority: other.local
  p.label("host-1").pointer(12 + 7).rr(kA, kIn, 120, {10, 0, 0, 3});  // additional
  Address six;
  six.family = peer::AddressFamily::v6;
  six.ip = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
  EXPECT_EQ(resolve(p.b, "HOST-1.local"),
            (std::vector<Address>{v4(10, 0, 0, 1), six, v4(10, 0, 0, 3)}));
  EXPECT_EQ(resolve(p.b, "other.local"), std::vector<Address>{v4(10, 0, 0, 2)});
  EXPECT_TRUE(resolve(p.b, "local").empty());
  EXPECT_TRUE(resolve(p.b, "host-1").empty());

  auto m = Message::parse(p.b);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->record_count(), 4u);
  std::size_t at = 0;
  std::vector<std::string> names;
  while (auto r = m->next_record(at)) names.push_back(r->name.to_string());
  EXPECT_EQ(names, (std::vector<std::string>{"Host-1.local", "Host-1.local", "other.local",
                                             "host-1.local"}));
  at = 0;
  auto first = m->next_record(at);
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->cache_flush);
  EXPECT_EQ(first->klass, kIn);
  EXPECT_EQ(first->ttl, 120u);
  EXPECT_EQ(first->name.offset(), 12u + 14 + 4);  // after the question
}

TEST(Mdns, OurResponseParsesBackWithItsQuestion) {
  std::vector<std::byte> out;
  const std::vector<Address> addresses{v4(192, 0, 2, 1), v4(192, 0, 2, 1).with_port(9),
                                       v4(192, 0, 2, 2)};
  ASSERT_TRUE(peer::mdns::write_response(0x1234, "4e1f.local", Type::a, addresses, 10, out));
  auto m = Message::parse(out);
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->is_response());
  EXPECT_EQ(m->id(), 0x1234);
  EXPECT_EQ(m->question_count(), 1);
  std::vector<Address> got;
  addresses_for(*m, "4E1F.local", got);
  EXPECT_EQ(got, (std::vector<Address>{v4(192, 0, 2, 1), v4(192, 0, 2, 2)}));  // port 0, once each
  std::size_t at = 0;
  (void)m->next_question(at);
  const auto legacy = m->next_record(at);
  ASSERT_TRUE(legacy);
  EXPECT_FALSE(legacy->cache_flush) << "a legacy unicast answer sets no cache-flush bit (RFC 6762 10.2)";
  // Without the question the first answer carries the name itself.
  ASSERT_TRUE(peer::mdns::write_response(0, "4e1f.local", std::nullopt, addresses, 10, out));
  EXPECT_EQ(resolve(out, "4e1f.local"), (std::vector<Address>{v4(192, 0, 2, 1), v4(192, 0, 2, 2)}));
  ASSERT_TRUE(peer::mdns::write_response(0, "4e1f.local", std::nullopt, {}, 10, out));
  EXPECT_EQ(out.size(), peer::mdns::kHeaderSize);
}

TEST(Mdns, IgnoresQueriesErrorsGoodbyesAndOtherRecords) {
  const auto answer = [](int flags, int type, int klass, uint32_t ttl,
                         std::initializer_list<int> data) {
    Packet p(flags, 0, 1, 0, 0);
    p.label("x").label("local").end().rr(type, klass, ttl, data);
    return p.b;
  };
  EXPECT_EQ(resolve(answer(kResponse, kA, kIn, 1, {1, 2, 3, 4}), "x.local").size(), 1u);
  EXPECT_TRUE(resolve(answer(0x0000, kA, kIn, 1, {1, 2, 3, 4}), "x.local").empty());     // a query
  EXPECT_TRUE(resolve(answer(0x8403, kA, kIn, 1, {1, 2, 3, 4}), "x.local").empty());     // NXDOMAIN
  EXPECT_TRUE(resolve(answer(0x8800, kA, kIn, 1, {1, 2, 3, 4}), "x.local").empty());     // opcode 1
  EXPECT_TRUE(resolve(answer(kResponse, kA, kIn, 0, {1, 2, 3, 4}), "x.local").empty());  // goodbye
  EXPECT_TRUE(
      resolve(answer(kResponse, kA, 3, 1, {1, 2, 3, 4, 5}), "x.local").empty());  // class CH
  EXPECT_TRUE(
      resolve(answer(kResponse, 16, kIn, 1, {3, 'a', 'b', 'c'}), "x.local").empty());  // TXT
  // One label "x.local" (a dot inside) is not the two labels x and local.
  Packet dotted(kResponse, 0, 1, 0, 0);
  dotted.label("x.local").end().rr(kA, kIn, 1, {1, 2, 3, 4});
  EXPECT_TRUE(resolve(dotted.b, "x.local").empty());
  auto m = Message::parse(dotted.b);
  ASSERT_TRUE(m);
  std::size_t at = 0;
  EXPECT_EQ(m->next_record(at)->name.to_string(), "x\\046local");
}

TEST(Mdns, EveryCutOfAValidResponseIsRefusedSayingWhat) {
  Packet p(kResponse, 1, 1, 0, 1);
  p.label("abc").label("local").end().u16(kA).u16(1);
  p.pointer(12).rr(kA, kIn, 120, {10, 0, 0, 1});
  p.label("v6").pointer(16).rr(kAaaa, kIn, 120,
                               {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  ASSERT_EQ(refusal(p.b), "accepted");
  for (std::size_t n = 0; n < p.size(); ++n) {
    const std::span<const std::byte> cut(p.b.data(), n);
    EXPECT_NE(refusal(cut), "accepted") << n << " bytes";
  }
  EXPECT_EQ(refusal(std::span(p.b.data(), 11)),
            "shorter than the 12-byte DNS header (RFC 1035 section 4.1.1)");
  EXPECT_EQ(refusal(std::span(p.b.data(), 14)), "label runs past the end of the message");
  EXPECT_EQ(refusal(std::span(p.b.data(), 22)),
            "name runs past the end of the message (RFC 1035 section 4.1.4)");
  EXPECT_EQ(refusal(std::span(p.b.data(), 24)),
            "question cut before its QTYPE and QCLASS (RFC 1035 section 4.1.2)");
  EXPECT_EQ(refusal(std::span(p.b.data(), 28)),
            "compression pointer cut by the end of the message");
  EXPECT_NE(refusal(std::span(p.b.data(), 31)).find("record cut before its TYPE"),
            std::string::npos);
  EXPECT_NE(refusal(std::span(p.b.data(), 42)).find("RDLENGTH) runs past the end"),
            std::string::npos);
  // Trailing bytes after the last record are ignored.
  auto longer = p.b;
  longer.push_back(std::byte{0});
  EXPECT_EQ(resolve(longer, "abc.local"), std::vector<Address>{v4(10, 0, 0, 1)});
}

TEST(Mdns, CompressionLoopsAndBadPointersAreRefused) {
  const std::string backwards = "compression pointer does not point before its name";
  // A name that is a pointer to itself.
  EXPECT_NE(refusal(Packet(kResponse, 1, 0, 0, 0).pointer(12).u32(0).b).find(backwards),
            std::string::npos);
  // Two names pointing at each other: the first points forward.
  EXPECT_NE(refusal(Packet(kResponse, 2, 0, 0, 0).pointer(18).u32(0).pointer(12).u32(0).b)
                .find(backwards),
            std::string::npos);
  // A label, then a pointer back to that label: the run would repeat forever.
  EXPECT_NE(refusal(Packet(kResponse, 1, 0, 0, 0).label("a").pointer(12).u32(0).b).find(backwards),
            std::string::npos);
  // A pointer into a later part of its own name's run.
  EXPECT_NE(refusal(Packet(kResponse, 1, 0, 0, 0).label("a").label("b").pointer(14).u32(0).b)
                .find(backwards),
            std::string::npos);
  // Into the header.
  EXPECT_EQ(refusal(Packet(kResponse, 1, 0, 0, 0).pointer(4).u32(0).b),
            "compression pointer into the DNS header");
  // Reserved label types 01 and 10.
  for (int type : {0x40, 0x80}) {
    EXPECT_NE(refusal(Packet(kResponse, 1, 0, 0, 0).u8(type | 1).u8('a').end().u32(0).b)
                  .find("label type"),
              std::string::npos);
  }
  // Pointers chained backwards, each adding a 60-byte label: fine until 255 bytes, then refused.
  Packet chain(kResponse, 5, 0, 0, 0);
  chain.label(std::string(60, 'a')).end().u32(0);
  int previous = 12;
  for (int i = 0; i < 4; ++i) {
    const int here = static_cast<int>(chain.size());
    chain.label(std::string(60, 'b')).pointer(previous).u32(0);
    previous = here;
  }
  EXPECT_EQ(refusal(chain.b), "name longer than 255 bytes (RFC 1035 section 3.1)");
  Packet fits(kResponse, 4, 0, 0, 0);
  fits.label(std::string(60, 'a')).end().u32(0);
  previous = 12;
  for (int i = 0; i < 3; ++i) {
    const int here = static_cast<int>(fits.size());
    fits.label(std::string(60, 'b')).pointer(previous).u32(0);
    previous = here;
  }
  EXPECT_EQ(refusal(fits.b), "accepted");  // 4 * 61 + 1 = 245 bytes
}

TEST(Mdns, AddressRecordsOfTheWrongSizeAreRefused) {
  Packet a(kResponse, 0, 1, 0, 0);
  a.label("x").end().rr(kA, kFlush | kIn, 1, {1, 2, 3, 4, 5});
  EXPECT_EQ(refusal(a.b), "A record data is not 4 bytes (RFC 1035 section 3.4.1)");
  Packet aaaa(kResponse, 0, 0, 0, 1);
  aaaa.label("x").end().rr(kAaaa, kIn, 1, {1, 2, 3, 4});
  EXPECT_EQ(refusal(aaaa.b), "AAAA record data is not 16 bytes (RFC 3596 section 2.2)");
  // Other classes may carry what they like.
  Packet chaos(kResponse, 0, 1, 0, 0);
  chaos.label("x").end().rr(kA, 3, 1, {1, 2});
  EXPECT_EQ(refusal(chaos.b), "accepted");
  EXPECT_EQ(peer::mdns::describe(Error{"what", 7}), "at byte 7: what");
}

}  // namespace
