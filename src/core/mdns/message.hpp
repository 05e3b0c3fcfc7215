#pragma once
// peer::mdns: the DNS messages of a one-shot Multicast DNS query (RFC 6762 section 5.1) for
// the `<uuid>.local` names browsers put in ICE candidates instead of host addresses
// (draft-ietf-mmusic-mdns-ice-candidates), and the responses to it. Sans-I/O: bytes in and
// out; ice/mdns_resolver.cpp does the sockets (docs/architecture.md section 6.1).
//
// A DNS message (RFC 1035 section 4.1.1), every field big-endian:
//
//    0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   |                      ID                       |
//   |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//   |                    QDCOUNT                    |
//   |                    ANCOUNT                    |
//   |                    NSCOUNT                    |
//   |                    ARCOUNT                    |
//   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//   QDCOUNT questions:   QNAME  QTYPE(16)  QCLASS(16)      (section 4.1.2)
//   AN+NS+AR records:    NAME TYPE(16) CLASS(16) TTL(32) RDLENGTH(16) RDATA  (section 4.1.3)
//
// A name is a run of labels, each a length byte (0-63) and that many bytes, ended by a zero
// byte or by a compression pointer (two bytes, top bits 11, a 14-bit offset into the message,
// section 4.1.4). In mDNS the top bit of QCLASS asks for a unicast response (QU, RFC 6762
// section 5.4) and that of a record's CLASS is the cache-flush bit (section 10.2).
//
// Parsing takes untrusted bytes: every length is checked before it is read, a compression
// pointer must point before itself (so no loop can form: each jump goes strictly backwards)
// and a name may not pass 255 bytes (RFC 1035 section 3.1). Nothing is thrown and nothing is
// allocated: parse() checks the whole message once and gives a view whose names are read in
// place; a refusal names what was wrong and the byte offset.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.hpp"

namespace peer::mdns {

inline constexpr uint16_t kPort = 5353;  // RFC 6762 section 3
inline constexpr std::array<uint8_t, 4> kGroupV4{224, 0, 0, 251};
inline constexpr std::array<uint8_t, 16> kGroupV6{0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                  0,    0,    0, 0, 0, 0, 0, 0xfb};  // ff02::fb

enum class Type : uint16_t { a = 1, aaaa = 28 };  // RFC 1035 section 3.2.2, RFC 3596
inline constexpr uint16_t kClassIn = 1;
inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxName = 255;  // wire bytes, RFC 1035 section 3.1

struct Error {
  const char* message = "";  // static: names the field and the RFC section
  std::size_t offset = 0;    // where in the message (or the name, for the writers)
};
// "at byte 14: ..." for logs.
std::string describe(const Error& error);

// A name as it stands in a parsed message: read through its compression pointers on demand.
// Only made by Message, over a message whose every name parse() has already walked.
class Name {
 public:
  // Case-insensitive (ASCII, RFC 1035 section 2.3.3; RFC 6762 section 16) comparison with a
  // dotted name ("abc.local" or "abc.local."). A label holding a '.' byte matches nothing.
  bool equals(std::string_view dotted) const noexcept;
  // Dotted, for logs and tests; bytes outside printable ASCII and '.' inside a label as \DDD.
  std::string to_string() const;
  std::size_t offset() const noexcept { return offset_; }

 private:
  friend class Message;
  Name(std::span<const std::byte> message, std::size_t offset)
      : message_(message), offset_(offset) {}
  std::span<const std::byte> message_;
  std::size_t offset_ = 0;
};

struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;             // without the QU bit
  bool unicast_response = false;  // QU (RFC 6762 section 5.4)
};

struct Record {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;        // without the cache-flush bit
  bool cache_flush = false;  // RFC 6762 section 10.2
  uint32_t ttl = 0;
  std::span<const std::byte> data;  // RDATA, inside the message
  // For an IN A (4 bytes) or IN AAAA (16 bytes) record, the address (port 0); else nullopt.
  std::optional<Address> address() const noexcept;
};

class Message {
 public:
  // Checks the header, every question and every record (names, lengths; A and AAAA data
  // sizes) and gives a view of `bytes`, which must outlive it. Bytes after the last record
  // are ignored (as other resolvers do), not refused.
  static std::optional<Message> parse(std::span<const std::byte> bytes,
                                      Error* error = nullptr) noexcept;

  uint16_t id() const noexcept;
  uint16_t flags() const noexcept;
  bool is_response() const noexcept { return (flags() & 0x8000) != 0; }  // QR
  unsigned opcode() const noexcept { return (flags() >> 11) & 0xf; }
  unsigned rcode() const noexcept { return flags() & 0xf; }
  uint16_t question_count() const noexcept;
  // Answer, authority and additional records together, in that order.
  uint32_t record_count() const noexcept;

  // Walks the questions (then the records) in order: `at` starts at 0 and is moved on by
  // each call; nullopt after the last. Never fails on a message parse() accepted.
  std::optional<Question> next_question(std::size_t& at) const noexcept;
  std::optional<Record> next_record(std::size_t& at) const noexcept;

  std::span<const std::byte> bytes() const noexcept { return bytes_; }

 private:
  Message(std::span<const std::byte> bytes, std::size_t records_at, std::size_t end)
      : bytes_(bytes), records_at_(records_at), end_(end) {}
  std::span<const std::byte> bytes_;
  std::size_t records_at_ = kHeaderSize;  // offset of the first record
  std::size_t end_ = kHeaderSize;         // just after the last record
};

// The addresses a response gives for `name`: IN A and IN AAAA records (any section) whose
// name matches case-insensitively and whose TTL is not 0 (a goodbye, RFC 6762 section 10.1),
// each address once, in message order; appended to `out`. Nothing for a query, an opcode or
// a response code other than 0 (RFC 6762 section 18.3, 18.11: such messages are ignored).
void addresses_for(const Message& message, std::string_view name, std::vector<Address>& out);

// A one-shot query (RFC 6762 section 5.1): ID 0, no flags, one question for `name` of
// `type`, class IN with the QU bit set (section 5.4). Sent from an ephemeral port, which
// already makes a responder answer by unicast to that port (section 6.7); the QU bit asks the
// same of responders that only look at it. `out` is replaced. False (and `error`) for a name
// that cannot go on the wire: empty, an empty label, a label over 63 bytes, over 255 bytes.
bool write_query(std::string_view name, Type type, std::vector<std::byte>& out,
                 Error* error = nullptr);

// A response (QR and AA set, RFC 6762 section 18) with the given ID: when `question` is
// given it is repeated in the question section (a legacy unicast answer must, section 6.7),
// then one answer per address (A for IPv4, AAAA for IPv6) with `ttl` and, unless the
// question is repeated (a legacy unicast answer, section 6.7), the cache-flush bit. Names after the first are compression pointers to it. `out` is replaced. False for
// a name write_query() would refuse, or an empty address.
bool write_response(uint16_t id, std::string_view name, std::optional<Type> question,
                    std::span<const Address> addresses, uint32_t ttl, std::vector<std::byte>& out,
                    Error* error = nullptr);

}  // namespace peer::mdns
