// libFuzzer target fuzz_mdns: DNS messages as mDNS answers them (core/mdns/message.hpp; RFC
// 1035 section 4.1, RFC 6762), untrusted input from any host on the link.
//
// Invariants checked on every input:
// - Message::parse() accepts or gives a non-empty reason at an offset within the input;
// - on an accepted message next_question()/next_record() give exactly the header's counts,
//   every record's data lies inside the input, every name prints (to_string()) and, when it
//   has no escaped byte, equals() its own text; A and AAAA records of class IN give an
//   address of their family;
// - addresses_for() with each name found returns addresses of A/AAAA records only, once each;
//   a response written by write_response() for such a name and address parses back to it;
// - the input as a dotted name: what write_query() accepts parses back as one question equal
//   to it, and what it refuses, it refuses with a reason.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "core/mdns/message.hpp"

namespace {

using namespace peer::mdns;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_mdns: %s\n", what);
  std::abort();
}

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_name(const Name& name, std::vector<std::string>& names) {
  const std::string text = name.to_string();
  if (text.empty()) die("a name printed as nothing");
  if (text.find('\\') == std::string::npos && !name.equals(text))
    die("a name does not equal its own text");
  if (names.size() < 8) names.push_back(text);
}

void check_message(std::span<const std::byte> input, const Message& m) {
  if (m.bytes().data() != input.data()) die("bytes() is not the input");
  std::vector<std::string> names;
  std::size_t at = 0;
  std::size_t questions = 0;
  while (auto q = m.next_question(at)) {
    ++questions;
    check_name(q->name, names);
    if (q->klass & 0x8000) die("QU bit left in the class");
  }
  if (questions != m.question_count()) die("question count differs from QDCOUNT");
  std::size_t records = 0;
  at = 0;
  while (auto r = m.next_record(at)) {
    ++records;
    check_name(r->name, names);
    if (!inside(r->data, input)) die("record data outside the message");
    const auto address = r->address();
    if (address) {
      const bool v4 = r->type == static_cast<uint16_t>(Type::a);
      if (r->klass != kClassIn) die("an address from a class other than IN");
      if (address->family != (v4 ? peer::AddressFamily::v4 : peer::AddressFamily::v6))
        die("address family");
    }
  }
  if (records != m.record_count()) die("record count differs from the header's");
  for (const auto& name : names) {
    std::vector<peer::Address> found;
    addresses_for(m, name, found);
    for (std::size_t i = 0; i < found.size(); ++i) {
      if (std::count(found.begin(), found.end(), found[i]) != 1)
        die("addresses_for gave an address twice");
    }
    if (found.empty() || name.find('\\') != std::string::npos) continue;
    std::vector<std::byte> out;
    if (!write_response(m.id(), name, Type::a, found, 120, out)) continue;  // e.g. a 64-byte label
    const auto again = Message::parse(out);
    if (!again) die("write_response output does not parse");
    std::vector<peer::Address> back;
    addresses_for(*again, name, back);
    if (back != found) die("write_response round trip differs");
  }
}

void check_query(std::span<const std::byte> input) {
  if (input.size() > 300) return;
  const std::string name(reinterpret_cast<const char*>(input.data()), input.size());
  std::vector<std::byte> out;
  Error error;
  if (!write_query(name, Type::aaaa, out, &error)) {
    if (error.message == nullptr || error.message[0] == '\0')
      die("write_query refused without a reason");
    return;
  }
  const auto m = Message::parse(out);
  if (!m || m->question_count() != 1) die("write_query output does not parse as one question");
  std::size_t at = 0;
  const auto q = m->next_question(at);
  if (!q || !q->unicast_response || q->type != static_cast<uint16_t>(Type::aaaa))
    die("question fields");
  if (!q->name.equals(name)) die("the question's name does not equal what was written");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check_query(input);
  Error error;
  const auto m = Message::parse(input, &error);
  if (!m) {
    if (error.message == nullptr || error.message[0] == '\0') die("refusal without a reason");
    if (error.offset > size) die("error offset past the input");
    return 0;
  }
  check_message(input, *m);
  return 0;
}
