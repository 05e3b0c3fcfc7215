// libFuzzer target for the SDP parser and writer.
//
// Invariants checked on every input:
// - parse() either succeeds or throws peer::Error(bad_sdp); anything else is a bug;
// - whatever parses round trips: parse(write(d)) == d, and write() is a fixed point;
// - every a=candidate kept in the model is accepted by parse_candidate().
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/sdp/candidate.hpp"
#include "core/sdp/description.hpp"
#include "peer/error.hpp"

namespace {

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_sdp: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peer::sdp;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Description d;
  try {
    d = parse(text);
  } catch (const peer::Error& e) {
    if (e.code() != peer::Errc::bad_sdp) die("parse threw a code other than bad_sdp", e.what());
    return 0;
  }
  const std::string out = write(d);
  Description again;
  try {
    again = parse(out);
  } catch (const peer::Error& e) {
    die("write() produced text parse() rejects", std::string(e.what()) + "\n" + out);
  }
  if (!(again == d)) die("parse(write(d)) != d", out);
  if (write(again) != out) die("write() is not a fixed point", out);
  for (const auto& m : d.media) {
    for (const auto& c : m.candidates) {
      try {
        (void)parse_candidate(c);
      } catch (const peer::Error& e) {
        die("kept a candidate parse_candidate() rejects", c);
      }
    }
  }
  return 0;
}
