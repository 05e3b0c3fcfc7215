// libFuzzer target for STUN messages (RFC 8489) and TURN ChannelData (RFC 8656 section 12.4).
//
// Invariants checked on every input:
// - Message::parse() accepts or gives a non-empty reason at an offset within the input; what
//   it accepts, looks_like_stun() accepts too;
// - on an accepted message every typed reader returns, for the attribute types ICE and TURN
//   use and for every type present, and what find() returns lies inside the message;
// - the attributes before MESSAGE-INTEGRITY, re-encoded one by one with Writer::add(), parse
//   back to the same list of types and values, with the same class, method and transaction
//   ID; with MESSAGE-INTEGRITY and FINGERPRINT added, that message checks with its key;
// - check_integrity() with a fixed key returns, and unknown_required() gives each
//   comprehension-required type at most once;
// - parse_channel_data() returns; what it accepts has a channel in 0x4000-0x4FFF and data
//   inside the input, and write_channel_data() of it (padded or not) parses back the same;
// - the input as text: what Address::parse() accepts prints (ip_string()) to text that parses
//   back to the same address, and survives a round trip through a sockaddr.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <utility>
#include <vector>

#include "core/net_address.hpp"
#include "core/stun/message.hpp"

namespace {

using namespace peer::stun;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_stun: %s\n", what);
  std::abort();
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

uint16_t read16(std::span<const std::byte> s, std::size_t at) {
  return static_cast<uint16_t>(std::to_integer<unsigned>(s[at]) << 8 |
                               std::to_integer<unsigned>(s[at + 1]));
}

// The attributes before MESSAGE-INTEGRITY (or FINGERPRINT), walked here independently of the
// parser, over a message the parser accepted.
std::vector<std::pair<uint16_t, std::span<const std::byte>>> counted(std::span<const std::byte> m) {
  std::vector<std::pair<uint16_t, std::span<const std::byte>>> out;
  std::size_t at = kHeaderSize;
  while (at < m.size()) {
    if (m.size() - at < 4) die("accepted message with a cut attribute header");
    const uint16_t type = read16(m, at);
    const std::size_t length = read16(m, at + 2);
    const std::size_t padded = (length + 3) & ~std::size_t{3};
    if (m.size() - at - 4 < padded) die("accepted message with an attribute past the end");
    if (type == attr::message_integrity || type == attr::fingerprint) break;
    out.emplace_back(type, m.subspan(at + 4, length));
    at += 4 + padded;
  }
  return out;
}

constexpr uint16_t kTypes[] = {attr::mapped_address,
                               attr::username,
                               attr::message_integrity,
                               attr::error_code,
                               attr::unknown_attributes,
                               attr::channel_number,
                               attr::lifetime,
                               attr::xor_peer_address,
                               attr::data,
                               attr::realm,
                               attr::nonce,
                               attr::xor_relayed_address,
                               attr::requested_transport,
                               attr::xor_mapped_address,
                               attr::priority,
                               attr::use_candidate,
                               attr::software,
                               attr::alternate_server,
                               attr::fingerprint,
                               attr::ice_controlled,
                               attr::ice_controlling};

void read_everything(const Message& m, uint16_t type) {
  if (const auto v = m.find(type); v && !inside(*v, m.bytes())) die("find() outside the message");
  if (m.has(type) != m.find(type).has_value()) die("has() disagrees with find()");
  (void)m.address(type);
  (void)m.xor_address(type);
  if (const auto s = m.string(type); s && s->size() != m.find(type)->size()) {
    die("string() of another size than the value");
  }
  (void)m.u32(type);
  (void)m.u64(type);
}

const std::array<std::byte, 6> kKey{std::byte{'s'}, std::byte{'e'}, std::byte{'c'},
                                    std::byte{'r'}, std::byte{'e'}, std::byte{'t'}};

void check_message(std::span<const std::byte> input, const Message& m) {
  if (!looks_like_stun(input)) die("parse() accepts what looks_like_stun() refuses");
  if (!same(m.bytes(), input) || m.bytes().data() != input.data()) die("bytes() is not the input");
  for (const uint16_t type : kTypes) read_everything(m, type);
  const auto list = counted(input);
  for (const auto& [type, value] : list) read_everything(m, type);
  if (const auto e = m.error_code(); e && (e->code < 300 || e->code > 699)) {
    die("error code out of range");
  }
  (void)m.channel_number();
  if (m.has_integrity() != m.has(attr::message_integrity)) die("has_integrity() disagrees");
  if (m.has_fingerprint() != m.has(attr::fingerprint)) die("has_fingerprint() disagrees");
  if (m.has_integrity() && m.find(attr::message_integrity)->size() != 20) die("MI not 20 bytes");
  (void)m.check_integrity(kKey);
  (void)m.check_integrity({});

  const auto unknown = m.unknown_required({});
  for (std::size_t i = 0; i < unknown.size(); ++i) {
    if (unknown[i] >= 0x8000) die("unknown_required() gives an optional type");
    if (std::count(unknown.begin(), unknown.end(), unknown[i]) != 1) {
      die("unknown_required() gives a type twice");
    }
  }

  // Re-encode what counts and parse it back.
  Writer w(m.message_class(), m.method(), m.transaction_id());
  for (const auto& [type, value] : list) w.add(type, value);
  const auto again = Message::parse(w.bytes());
  if (!again) die("Writer output does not parse");
  if (again->message_class() != m.message_class() || again->method_bits() != m.method_bits() ||
      again->transaction_id() != m.transaction_id()) {
    die("header changed in the round trip");
  }
  const auto list_again = counted(w.bytes());
  if (list_again.size() != list.size()) die("attribute count changed in the round trip");
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (list[i].first != list_again[i].first || !same(list[i].second, list_again[i].second)) {
      die("attribute changed in the round trip");
    }
  }
  for (const auto& [type, value] : list) {
    if (!same(*m.find(type), *again->find(type))) die("find() differs after the round trip");
  }

  // Sealed with integrity and a fingerprint, if the attributes leave room for them.
  if (w.bytes().size() - kHeaderSize + 24 + 8 <= 0xfffc) {
    w.add_message_integrity(kKey);
    w.add_fingerprint();
    const auto sealed = Message::parse(w.bytes());
    if (!sealed) die("Writer output with MESSAGE-INTEGRITY and FINGERPRINT does not parse");
    if (!sealed->check_integrity(kKey)) die("Writer's MESSAGE-INTEGRITY does not check");
    if (sealed->check_integrity({})) die("MESSAGE-INTEGRITY checks with another key");
  }
}

void check_channel_data(std::span<const std::byte> input) {
  const auto c = parse_channel_data(input);
  if (!c) return;
  if (c->channel < 0x4000 || c->channel > 0x4fff) die("ChannelData channel out of range");
  if (!inside(c->data, input) || c->data.size() + 4 > input.size()) die("ChannelData data outside");
  for (const bool pad : {false, true}) {
    std::vector<std::byte> out;
    write_channel_data(c->channel, c->data, pad, out);
    if (pad && out.size() % 4 != 0) die("padded ChannelData not a multiple of 4");
    const auto back = parse_channel_data(out);
    if (!back || back->channel != c->channel || !same(back->data, c->data)) {
      die("ChannelData round trip differs");
    }
  }
}

void check_address(std::span<const std::byte> input) {
  if (input.size() > 64) return;
  const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  const auto a = peer::Address::parse(text, 3478);
  if (!a) return;
  if (a->empty()) die("Address::parse() gave an empty address");
  if (peer::Address::parse(a->ip_string(), 3478) != a) die("Address text round trip differs");
  sockaddr_storage ss{};
  const std::size_t length = a->to_sockaddr(ss);
  if (peer::Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), length) != a) {
    die("Address sockaddr round trip differs");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  check_channel_data(input);
  check_address(input);
  ParseError error;
  const auto m = Message::parse(input, &error);
  if (!m) {
    if (error.message == nullptr || error.message[0] == '\0') die("refusal without a reason");
    if (error.offset > size) die("error offset past the input");
    return 0;
  }
  check_message(input, *m);
  return 0;
}
