// libFuzzer target for the H.264 RTP payload format (RFC 6184, mode 1).
//
// Invariants checked on every input (layout in payload_fuzz_util.hpp):
// - parse_h264() of each payload accepts or returns an error whose offset lies within it;
//   depacketize_h264() of an accepted one writes exactly annexb_size bytes, and refuses a
//   buffer one byte short;
// - assemble_h264() of the payloads either fails or writes the depacketized payloads one
//   after another;
// - the input after the budget byte as an Annex B access unit: when the packetizer takes it,
//   every payload fits the budget, parses, the marker is on the last only, and the payloads
//   assemble into a stream with the same NAL units as the input.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <vector>

#include "core/rtp/payload_h264.hpp"
#include "payload_fuzz_util.hpp"

namespace {

using namespace peer::rtp;

void die(const char* what) { fuzz::die("fuzz_h264", what); }

std::vector<std::byte> depacketized(std::span<const std::byte> payload) {
  const auto p = parse_h264(payload);
  if (!p) {
    if (p.error().offset > payload.size()) die("error offset past the payload");
    return {};
  }
  std::vector<std::byte> out(p->annexb_size);
  if (p->annexb_size > 0 && depacketize_h264(payload, std::span(out).first(out.size() - 1)))
    die("depacketize_h264 wrote into a buffer too small");
  const auto n = depacketize_h264(payload, out);
  if (!n || *n != p->annexb_size) die("depacketize_h264 size differs from parse_h264's");
  return out;
}

void check_frame(std::span<const std::span<const std::byte>> payloads) {
  std::size_t total = 0;
  for (const auto& p : payloads) total += p.size();
  std::vector<std::byte> out(total * 5 + 8);  // a 1-byte NAL unit becomes 5 bytes
  const auto f = assemble_h264(payloads, out);
  if (!f) {
    if (f.error().offset > std::max(total, out.size())) die("assemble error offset out of range");
    return;
  }
  std::vector<std::byte> expected;
  bool keyframe = false;
  for (const auto& p : payloads) {
    const auto bytes = depacketized(p);
    expected.insert(expected.end(), bytes.begin(), bytes.end());
    keyframe = keyframe || parse_h264(p)->keyframe;
  }
  if (!fuzz::same(std::span(out).first(f->size), expected) || f->keyframe != keyframe)
    die("assembled bytes differ");
}

std::vector<std::vector<std::byte>> nal_units(std::span<const std::byte> annexb) {
  std::vector<std::vector<std::byte>> out;
  for_each_nal_unit(annexb,
                    [&](std::span<const std::byte> n) { out.emplace_back(n.begin(), n.end()); });
  return out;
}

void check_round_trip(std::span<const std::byte> annexb, std::size_t max_payload) {
  const auto created = H264Packetizer::create(annexb, max_payload);
  if (!created) {
    if (created.error().code != ErrorCode::invalid_argument) die("create: unexpected error");
    return;
  }
  const auto payloads = fuzz::packetize("fuzz_h264", *created, max_payload,
                                        [](auto p) { return parse_h264(p).ok(); });
  const std::vector<std::span<const std::byte>> spans(payloads.begin(), payloads.end());
  std::vector<std::byte> out(annexb.size() * 2 + 8);
  const auto f = assemble_h264(spans, out);
  if (!f) die("the packetizer's payloads do not assemble");
  if (nal_units(std::span(out).first(f->size)) != nal_units(annexb)) die("NAL units differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  if (input.empty()) return 0;
  const auto payloads = fuzz::split_payloads(input.subspan(1));
  for (const auto& p : payloads) (void)depacketized(p);
  if (!payloads.empty()) check_frame(payloads);
  check_round_trip(input.subspan(1), std::to_integer<uint8_t>(input[0]));
  return 0;
}
