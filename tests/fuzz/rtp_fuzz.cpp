// libFuzzer target for the RTP parser and writer (RFC 3550 section 5.1, RFC 8285).
//
// Invariants checked on every input:
// - parse_rtp() accepts or returns an error whose offset lies within the input;
// - an accepted packet adds up: header + payload + padding is the whole input, and every
//   extension element lies inside the extension block;
// - what parses is rewritten by write_rtp() from its fields and elements, and parsing that
//   gives back the same fields, elements (for one- and two-byte blocks), payload and padding;
// - the same bytes used as an extension block of either form: check_extensions() returns,
//   and the iterator never leaves the block, whether the block is valid or not.
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/demux.hpp"
#include "core/rtp/rtp.hpp"

namespace {

using namespace peer::rtp;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_rtp: %s\n", what);
  std::abort();
}

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::vector<ExtensionElement> elements(const RtpView& v) {
  std::vector<ExtensionElement> out;
  for (const ExtensionElement& e : v.extensions()) {
    if (e.id == 0) die("an element with id 0");
    if (!inside(e.data, v.extension_block())) die("an element outside its block");
    out.push_back(e);
  }
  return out;
}

void check_blocks(std::span<const std::byte> input) {
  for (const ExtensionForm form : {ExtensionForm::one_byte, ExtensionForm::two_byte}) {
    if (const auto bad = check_extensions(form, input, 0); bad && bad->offset > input.size()) {
      die("extension error offset past the block");
    }
    for (const ExtensionElement& e : ExtensionRange{form, input}) {
      if (!inside(e.data, input)) die("iterator left the block");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  (void)peer::is_rtcp(input);
  check_blocks(input);

  const auto v = parse_rtp(data, size);
  if (!v) {
    if (v.error().offset > size) die("error offset past the input");
    return 0;
  }
  if (v->header_size() + v->payload().size() + v->padding_size() != size)
    die("sizes do not add up");
  const auto ext = elements(*v);
  for (const ExtensionElement& e : ext) {
    (void)read_mid(e.data);
    (void)read_abs_send_time(e.data);
    (void)read_transport_sequence(e.data);
    if (!v->find_extension(e.id)) die("find_extension misses an element the iterator gives");
  }

  std::vector<uint32_t> csrcs;
  for (std::size_t i = 0; i < v->csrc_count(); ++i) csrcs.push_back(v->csrc(i));
  const bool rebuild_ext = v->extension_form() == ExtensionForm::one_byte ||
                           v->extension_form() == ExtensionForm::two_byte;
  const std::span<const ExtensionElement> out_ext =
      rebuild_ext ? std::span<const ExtensionElement>(ext) : std::span<const ExtensionElement>();
  const RtpHeader h{v->marker(),    v->payload_type(), v->sequence(),
                    v->timestamp(), v->ssrc(),         csrcs};
  std::vector<std::byte> out(size + 4 * ext.size() + 16);
  const auto written =
      write_rtp(out, h, out_ext, v->payload(), static_cast<uint8_t>(v->padding_size()));
  if (!written) {
    // Only an extension block too large for one 16-bit length can be refused.
    if (written.error().code != ErrorCode::invalid_argument)
      die("write_rtp refused a parsed packet");
    return 0;
  }
  const auto again = parse_rtp(std::span(out).first(*written));
  if (!again) die("write_rtp produced bytes parse_rtp rejects");
  if (again->marker() != v->marker() || again->payload_type() != v->payload_type() ||
      again->sequence() != v->sequence() || again->timestamp() != v->timestamp() ||
      again->ssrc() != v->ssrc() || again->csrc_count() != v->csrc_count() ||
      again->padding_size() != v->padding_size() || !same(again->payload(), v->payload())) {
    die("parse(write(parse(x))) differs in a field");
  }
  const auto ext2 = elements(*again);
  if (ext2.size() != out_ext.size()) die("element count changed");
  for (std::size_t i = 0; i < ext2.size(); ++i) {
    if (ext2[i].id != out_ext[i].id || !same(ext2[i].data, out_ext[i].data)) die("element changed");
  }
  return 0;
}
