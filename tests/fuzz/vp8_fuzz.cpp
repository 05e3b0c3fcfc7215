// libFuzzer target for the VP8 RTP payload format (RFC 7741).
//
// Invariants checked on every input (layout in payload_fuzz_util.hpp):
// - parse_vp8() of each payload accepts, with descriptor + data adding up to the payload,
//   or returns an error whose offset lies within it; an accepted descriptor written back by
//   write_vp8_descriptor() parses to the same descriptor;
// - assemble_vp8() of the payloads either fails or writes exactly the concatenated VP8 data,
//   key frame flag and picture id those of the first payload;
// - the whole input as a frame, packetized under the budget, gives payloads no larger than
//   it, the marker on the last, and assembles back into the same bytes.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <vector>

#include "core/rtp/payload_vp8.hpp"
#include "payload_fuzz_util.hpp"

namespace {

using namespace peer::rtp;

void die(const char* what) { fuzz::die("fuzz_vp8", what); }

void check_payload(std::span<const std::byte> payload) {
  const auto p = parse_vp8(payload);
  if (!p) {
    if (p.error().offset > payload.size()) die("error offset past the payload");
    return;
  }
  if (p->descriptor_size + p->data.size() != payload.size()) die("sizes do not add up");
  if (p->data.empty()) die("accepted a payload without VP8 data");
  std::vector<std::byte> again(6 + p->data.size());
  const auto n = write_vp8_descriptor(again, p->descriptor);
  if (!n || *n != vp8_descriptor_size(p->descriptor)) die("a parsed descriptor does not write");
  std::copy(p->data.begin(), p->data.end(), again.begin() + static_cast<std::ptrdiff_t>(*n));
  again.resize(*n + p->data.size());
  const auto q = parse_vp8(again);
  if (!q || !(q->descriptor == p->descriptor) || !fuzz::same(q->data, p->data) ||
      q->keyframe != p->keyframe) {
    die("parse(write(parse(x))) differs");
  }
}

void check_frame(std::span<const std::span<const std::byte>> payloads) {
  std::size_t total = 0;
  for (const auto& p : payloads) total += p.size();
  std::vector<std::byte> out(total);
  const auto f = assemble_vp8(payloads, out);
  if (!f) {
    if (f.error().offset > total) die("assemble error offset past the payloads");
    return;
  }
  std::vector<std::byte> expected;
  for (const auto& p : payloads) {
    const auto v = parse_vp8(p);
    if (!v) die("assembled a payload parse_vp8 rejects");
    expected.insert(expected.end(), v->data.begin(), v->data.end());
  }
  if (!fuzz::same(std::span(out).first(f->size), expected)) die("assembled bytes differ");
  const auto first = parse_vp8(payloads[0]);
  if (f->keyframe != first->keyframe || f->picture_id != first->descriptor.picture_id)
    die("frame flags differ from the first payload's");
}

void check_round_trip(std::span<const std::byte> frame, std::size_t max_payload,
                      uint16_t picture_id) {
  const auto created = Vp8Packetizer::create(frame, max_payload, picture_id);
  if (!created) {
    if (!frame.empty() && max_payload > Vp8Packetizer::kDescriptorSize)
      die("packetizer refused a valid frame");
    return;
  }
  const auto payloads = fuzz::packetize("fuzz_vp8", *created, max_payload,
                                        [](auto p) { return parse_vp8(p).ok(); });
  const std::vector<std::span<const std::byte>> spans(payloads.begin(), payloads.end());
  std::vector<std::byte> out(frame.size());
  const auto f = assemble_vp8(spans, out);
  if (!f || f->size != frame.size() || !fuzz::same(out, frame) || f->picture_id != picture_id)
    die("round trip differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  if (input.empty()) return 0;
  const auto payloads = fuzz::split_payloads(input.subspan(1));
  for (const auto& p : payloads) check_payload(p);
  if (!payloads.empty()) check_frame(payloads);
  const std::size_t budget = std::to_integer<uint8_t>(input[0]);
  check_round_trip(input.subspan(1), budget, static_cast<uint16_t>(size * 257 & 0x7fff));
  return 0;
}
