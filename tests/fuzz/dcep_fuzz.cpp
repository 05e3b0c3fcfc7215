// libFuzzer target for the DCEP parser and writer (RFC 8832).
//
// Invariants checked on every input:
// - parse() either succeeds or throws peer::Error(bad_dcep); anything else is a bug;
// - whatever parses round trips: parse(write(m)) == m, and write() is a fixed point;
// - parse() is strict (no trailing bytes), so write(parse(x)) is x itself, except the
//   Reliability Parameter of a reliable channel type, which is read and written as 0.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "core/dcep/dcep.hpp"
#include "peer/error.hpp"

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_dcep: %s\n", what);
  std::abort();
}

std::vector<std::byte> encode(const std::variant<peer::dcep::Open, peer::dcep::Ack>& m) {
  std::vector<std::byte> out;
  try {
    if (const auto* open = std::get_if<peer::dcep::Open>(&m)) {
      peer::dcep::write(*open, out);
    } else {
      peer::dcep::write_ack(out);
    }
  } catch (const peer::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    die("write() refused a parsed message");
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peer::dcep;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  std::variant<Open, Ack> m;
  try {
    m = parse(input);
  } catch (const peer::Error& e) {
    if (e.code() != peer::Errc::bad_dcep) die("parse threw a code other than bad_dcep");
    return 0;
  }
  const std::vector<std::byte> out = encode(m);
  std::variant<Open, Ack> again;
  try {
    again = parse(out);
  } catch (const peer::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    die("write() produced bytes parse() rejects");
  }
  if (!(again == m)) die("parse(write(m)) != m");
  if (encode(again) != out) die("write() is not a fixed point");

  if (out.size() != input.size()) die("write(parse(x)) differs in size from x");
  const auto* open = std::get_if<Open>(&m);
  const bool zeroed = open != nullptr && reliable(open->channel_type);
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (zeroed && i >= 4 && i < 8) continue;  // Reliability Parameter, section 5.1
    if (out[i] != input[i]) die("write(parse(x)) != x");
  }
  return 0;
}
