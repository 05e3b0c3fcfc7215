// libFuzzer target for the ICE candidate parser and writer.
//
// Invariants: parse_candidate() succeeds or throws peer::Error(bad_candidate); whatever
// parses round trips (parse(write(c)) == c) and write_candidate() is a fixed point.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/sdp/candidate.hpp"
#include "peer/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace peer::sdp;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  Candidate c;
  try {
    c = parse_candidate(line);
  } catch (const peer::Error& e) {
    if (e.code() != peer::Errc::bad_candidate) std::abort();
    return 0;
  }
  const std::string out = write_candidate(c);
  Candidate again;
  try {
    again = parse_candidate(out);
  } catch (const peer::Error& e) {
    std::fprintf(stderr, "fuzz_candidate: re-parse failed: %s\n%s\n", e.what(), out.c_str());
    std::abort();
  }
  if (!(again == c) || write_candidate(again) != out) {
    std::fprintf(stderr, "fuzz_candidate: round trip mismatch\n%s\n", out.c_str());
    std::abort();
  }
  return 0;
}
