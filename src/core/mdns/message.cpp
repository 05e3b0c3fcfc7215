#include "core/mdns/message.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/bytes.hpp"

namespace peer::mdns {
namespace {

constexpr uint16_t kQuBit = 0x8000;          // QCLASS top bit (RFC 6762 section 5.4)
constexpr uint16_t kCacheFlushBit = 0x8000;  // record CLASS top bit (RFC 6762 section 10.2)
constexpr std::size_t kMaxLabel = 63;        // RFC 1035 section 2.3.4

bool fail(Error* error, const char* message, std::size_t offset) {
  if (error != nullptr) *error = Error{message, offset};
  return false;
}

char lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Walks the name at `at` (RFC 1035 section 4.1.4): labels, ended by a zero byte or a pointer.
// Sets `end` to the offset just after the name where it stands (after its zero byte or its
// first pointer). A pointer must point before the first byte of the run of labels it ends,
// so the runs start ever earlier and no loop can form; the name's bytes, labels followed
// through pointers, may not pass 255.
bool walk_name(std::span<const std::byte> m, std::size_t at, std::size_t& end, Error* error) {
  std::size_t run_start = at;
  std::size_t length = 0;
  bool jumped = false;
  for (;;) {
    if (at >= m.size())
      return fail(error, "name runs past the end of the message (RFC 1035 section 4.1.4)", at);
    const unsigned b = bytes::u8(m, at);
    if ((b & 0xc0) == 0xc0) {
      if (m.size() - at < 2)
        return fail(error, "compression pointer cut by the end of the message", at);
      const std::size_t target = ((b & 0x3f) << 8) | bytes::u8(m, at + 1);
      if (target < kHeaderSize) return fail(error, "compression pointer into the DNS header", at);
      if (target >= run_start) {
        return fail(error,
                    "compression pointer does not point before its name (a loop or a forward "
                    "reference, RFC 1035 section 4.1.4)",
                    at);
      }
      if (!jumped) end = at + 2;
      jumped = true;
      at = target;
      run_start = target;
      continue;
    }
    if ((b & 0xc0) != 0) {
      return fail(error, "label type 01 or 10 (extended labels, RFC 6891) is not a DNS name label",
                  at);
    }
    length += 1 + b;
    if (length > kMaxName)
      return fail(error, "name longer than 255 bytes (RFC 1035 section 3.1)", at);
    if (b == 0) {
      if (!jumped) end = at + 1;
      return true;
    }
    if (m.size() - at - 1 < b) return fail(error, "label runs past the end of the message", at);
    at += 1 + b;
  }
}

// The next label of a name already walked: its bytes, empty for the end.
std::span<const std::byte> next_label(std::span<const std::byte> m, std::size_t& at) noexcept {
  for (;;) {
    const unsigned b = bytes::u8(m, at);
    if ((b & 0xc0) == 0xc0) {
      at = ((b & 0x3f) << 8) | bytes::u8(m, at + 1);
      continue;
    }
    const auto label = m.subspan(at + 1, b);
    at += 1 + b;
    return label;
  }
}

// The labels of a dotted name for the writers, checked.
bool check_name(std::string_view dotted, Error* error) {
  if (dotted.ends_with('.')) dotted.remove_suffix(1);
  if (dotted.empty()) return fail(error, "empty name", 0);
  std::size_t wire = 1;
  std::size_t start = 0;
  while (start <= dotted.size()) {
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    const std::size_t label = dot - start;
    if (label == 0) return fail(error, "empty label in the name", start);
    if (label > kMaxLabel)
      return fail(error, "label longer than 63 bytes (RFC 1035 section 2.3.4)", start);
    wire += 1 + label;
    start = dot + 1;
  }
  if (wire > kMaxName) return fail(error, "name longer than 255 bytes (RFC 1035 section 3.1)", 0);
  return true;
}

void append_name(std::string_view dotted, std::vector<std::byte>& out) {
  if (dotted.ends_with('.')) dotted.remove_suffix(1);
  std::size_t start = 0;
  while (start <= dotted.size()) {
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    bytes::append8(out, static_cast<uint32_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i)
      bytes::append8(out, static_cast<unsigned char>(dotted[i]));
    start = dot + 1;
  }
  bytes::append8(out, 0);
}

void append_header(std::vector<std::byte>& out, uint16_t id, uint16_t flags, uint16_t questions,
                   uint16_t answers) {
  out.clear();
  bytes::append16(out, id);
  bytes::append16(out, flags);
  bytes::append16(out, questions);
  bytes::append16(out, answers);
  bytes::append16(out, 0);
  bytes::append16(out, 0);
}

}  // namespace

std::string describe(const Error& error) {
  return fmt::format("at byte {}: {}", error.offset, error.message);
}

bool Name::equals(std::string_view dotted) const noexcept {
  if (dotted.ends_with('.')) dotted.remove_suffix(1);
  std::size_t at = offset_;
  std::size_t start = 0;
  for (;;) {
    const auto label = next_label(message_, at);
    if (label.empty())
      return start >= dotted.size() && (dotted.empty() || start == dotted.size() + 1);
    if (start > dotted.size()) return false;
    const std::size_t dot = std::min(dotted.find('.', start), dotted.size());
    if (dot - start != label.size()) return false;
    for (std::size_t i = 0; i < label.size(); ++i) {
      if (lower(static_cast<char>(label[i])) != lower(dotted[start + i])) return false;
    }
    start = dot + 1;
  }
}

std::string Name::to_string() const {
  std::string out;
  std::size_t at = offset_;
  for (;;) {
    const auto label = next_label(message_, at);
    if (label.empty()) break;
    if (!out.empty()) out += '.';
    for (const std::byte b : label) {
      const auto c = std::to_integer<unsigned char>(b);
      if (c > 0x20 && c < 0x7f && c != '.' && c != '\\') {
        out += static_cast<char>(c);
      } else {
        out += fmt::format("\\{:03}", c);
      }
    }
  }
  return out.empty() ? "." : out;
}

std::optional<Address> Record::address() const noexcept {
  if (klass != kClassIn) return std::nullopt;
  Address a;
  if (type == static_cast<uint16_t>(Type::a) && data.size() == 4) {
    a.family = AddressFamily::v4;
  } else if (type == static_cast<uint16_t>(Type::aaaa) && data.size() == 16) {
    a.family = AddressFamily::v6;
  } else {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < data.size(); ++i) a.ip[i] = std::to_integer<uint8_t>(data[i]);
  return a;
}

std::optional<Message> Message::parse(std::span<const std::byte> m, Error* error) noexcept {
  if (m.size() < kHeaderSize) {
    fail(error, "shorter than the 12-byte DNS header (RFC 1035 section 4.1.1)", m.size());
    return std::nullopt;
  }
  std::size_t at = kHeaderSize;
  const std::size_t questions = bytes::u16(m, 4);
  for (std::size_t i = 0; i < questions; ++i) {
    if (!walk_name(m, at, at, error)) return std::nullopt;
    if (m.size() - at < 4) {
      fail(error, "question cut before its QTYPE and QCLASS (RFC 1035 section 4.1.2)", at);
      return std::nullopt;
    }
    at += 4;
  }
  const std::size_t records_at = at;
  const std::size_t records = std::size_t{bytes::u16(m, 6)} + bytes::u16(m, 8) + bytes::u16(m, 10);
  for (std::size_t i = 0; i < records; ++i) {
    if (!walk_name(m, at, at, error)) return std::nullopt;
    if (m.size() - at < 10) {
      fail(error, "record cut before its TYPE, CLASS, TTL and RDLENGTH (RFC 1035 section 4.1.3)",
           at);
      return std::nullopt;
    }
    const uint16_t type = bytes::u16(m, at);
    const uint16_t klass = bytes::u16(m, at + 2) & ~kCacheFlushBit;
    const std::size_t length = bytes::u16(m, at + 8);
    if (m.size() - at - 10 < length) {
      fail(error, "record data (RDLENGTH) runs past the end of the message", at + 8);
      return std::nullopt;
    }
    if (klass == kClassIn && type == static_cast<uint16_t>(Type::a) && length != 4) {
      fail(error, "A record data is not 4 bytes (RFC 1035 section 3.4.1)", at + 8);
      return std::nullopt;
    }
    if (klass == kClassIn && type == static_cast<uint16_t>(Type::aaaa) && length != 16) {
      fail(error, "AAAA record data is not 16 bytes (RFC 3596 section 2.2)", at + 8);
      return std::nullopt;
    }
    at += 10 + length;
  }
  return Message(m, records_at, at);
}

uint16_t Message::id() const noexcept {
  return bytes::u16(bytes_, 0);
}
uint16_t Message::flags() const noexcept {
  return bytes::u16(bytes_, 2);
}
uint16_t Message::question_count() const noexcept {
  return bytes::u16(bytes_, 4);
}
uint32_t Message::record_count() const noexcept {
  return uint32_t{bytes::u16(bytes_, 6)} + bytes::u16(bytes_, 8) + bytes::u16(bytes_, 10);
}

std::optional<Question> Message::next_question(std::size_t& at) const noexcept {
  if (at < kHeaderSize) at = kHeaderSize;
  if (at >= records_at_) return std::nullopt;
  Question q{Name(bytes_, at), 0, 0, false};
  walk_name(bytes_, at, at, nullptr);
  q.type = bytes::u16(bytes_, at);
  const uint16_t klass = bytes::u16(bytes_, at + 2);
  q.klass = klass & ~kQuBit;
  q.unicast_response = (klass & kQuBit) != 0;
  at += 4;
  return q;
}

std::optional<Record> Message::next_record(std::size_t& at) const noexcept {
  if (at < records_at_) at = records_at_;
  if (at >= end_) return std::nullopt;
  Record r{Name(bytes_, at), 0, 0, false, 0, {}};
  walk_name(bytes_, at, at, nullptr);
  r.type = bytes::u16(bytes_, at);
  const uint16_t klass = bytes::u16(bytes_, at + 2);
  r.klass = klass & ~kCacheFlushBit;
  r.cache_flush = (klass & kCacheFlushBit) != 0;
  r.ttl = bytes::u32(bytes_, at + 4);
  const std::size_t length = bytes::u16(bytes_, at + 8);
  r.data = bytes_.subspan(at + 10, length);
  at += 10 + length;
  return r;
}

void addresses_for(const Message& message, std::string_view name, std::vector<Address>& out) {
  if (!message.is_response() || message.opcode() != 0 || message.rcode() != 0) return;
  std::size_t at = 0;
  while (auto r = message.next_record(at)) {
    if (r->ttl == 0) continue;
    const auto address = r->address();
    if (!address || !r->name.equals(name)) continue;
    if (std::find(out.begin(), out.end(), *address) == out.end()) out.push_back(*address);
  }
}

bool write_query(std::string_view name, Type type, std::vector<std::byte>& out, Error* error) {
  if (!check_name(name, error)) return false;
  append_header(out, 0, 0, 1, 0);
  append_name(name, out);
  bytes::append16(out, static_cast<uint16_t>(type));
  bytes::append16(out, kQuBit | kClassIn);
  return true;
}

bool write_response(uint16_t id, std::string_view name, std::optional<Type> question,
                    std::span<const Address> addresses, uint32_t ttl, std::vector<std::byte>& out,
                    Error* error) {
  if (!check_name(name, error)) return false;
  if (addresses.size() > 0xffff) return fail(error, "more answers than ANCOUNT can count", 0);
  for (const auto& a : addresses) {
    if (a.empty()) return fail(error, "empty address for an answer", 0);
  }
  // QR and AA (RFC 6762 section 18.2, 18.4).
  append_header(out, id, 0x8400, question ? 1 : 0, static_cast<uint16_t>(addresses.size()));
  if (!question && addresses.empty()) return true;
  append_name(name, out);  // at kHeaderSize: every later name points there
  if (question) {
    bytes::append16(out, static_cast<uint16_t>(*question));
    bytes::append16(out, kClassIn);
  }
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    // The first answer's name is the one just written, unless a question took it.
    if (i > 0 || question) bytes::append16(out, 0xc000 | kHeaderSize);
    const bool v4 = addresses[i].family == AddressFamily::v4;
    bytes::append16(out, static_cast<uint16_t>(v4 ? Type::a : Type::aaaa));
    // A legacy unicast answer (the one with the question) must not set the cache-flush bit
    // (RFC 6762 section 6.7, 10.2): plain DNS resolvers would not read the class as IN.
    bytes::append16(out, question ? kClassIn : kCacheFlushBit | kClassIn);
    bytes::append32(out, ttl);
    bytes::append16(out, static_cast<uint32_t>(addresses[i].ip_size()));
    for (const uint8_t b : addresses[i].ip_bytes()) bytes::append8(out, b);
  }
  return true;
}

}  // namespace peer::mdns
