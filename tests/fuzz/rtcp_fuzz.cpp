// libFuzzer target for the RTCP reader, parsers and writer (RFC 3550 section 6, RFC 4585,
// RFC 5104, REMB, transport-wide congestion control feedback).
//
// Invariants checked on every input:
// - the reader gives packets that tile the input from its start, each inside it, and
//   stops either at the end or with an error whose offset lies within the input;
// - each packet's parser accepts or refuses; a transport-cc view visits exactly
//   status_count packets and consumes exactly its receive deltas;
// - what parses and has a builder (SR, RR, BYE, NACK, PLI, FIR, REMB) is rewritten by
//   RtcpWriter, and parsing that gives back the same content (NACK: the same set of
//   sequence numbers, since the writer regroups them).
// ASan/UBSan catch out-of-bounds reads and undefined behaviour along the way.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/rtp/rtcp.hpp"

namespace {

using namespace peer::rtp;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "fuzz_rtcp: %s\n", what);
  std::abort();
}

// Writes one packet with `build` and reads it back as the only packet.
template <class Build>
RtcpPacket rewrite(std::vector<std::byte>& buffer, Build&& build) {
  RtcpWriter w(buffer);
  if (!build(w)) die("the writer refused a parsed packet");
  RtcpReader r(w.bytes());
  RtcpPacket p;
  if (!r.next(p) || p.bytes.size() != w.size()) die("the reader refused a written packet");
  return p;
}

std::vector<ReportBlock> blocks_of(const ReportBlocks& reports) {
  std::vector<ReportBlock> out;
  for (std::size_t i = 0; i < reports.size(); ++i) out.push_back(reports[i]);
  return out;
}

std::vector<uint16_t> nack_set(const NackView& v) {
  std::vector<uint16_t> seqs;
  v.for_each_sequence([&](uint16_t s) { seqs.push_back(s); });
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  return seqs;
}

void check(const RtcpPacket& p) {
  std::vector<std::byte> buffer(p.bytes.size() * 2 + 64);
  switch (kind_of(p)) {
    case RtcpKind::sender_report: {
      const auto v = parse_sender_report(p);
      if (!v) return;
      const auto blocks = blocks_of(v->reports);
      const auto again = parse_sender_report(rewrite(
          buffer, [&](RtcpWriter& w) { return w.sender_report(v->ssrc, v->info, blocks); }));
      if (!again || again->ssrc != v->ssrc || !(again->info == v->info) ||
          blocks_of(again->reports) != blocks) {
        die("SR round trip");
      }
      return;
    }
    case RtcpKind::receiver_report: {
      const auto v = parse_receiver_report(p);
      if (!v) return;
      const auto blocks = blocks_of(v->reports);
      const auto again = parse_receiver_report(
          rewrite(buffer, [&](RtcpWriter& w) { return w.receiver_report(v->ssrc, blocks); }));
      if (!again || again->ssrc != v->ssrc || blocks_of(again->reports) != blocks) {
        die("RR round trip");
      }
      return;
    }
    case RtcpKind::sdes: {
      const auto v = parse_sdes(p);
      if (!v) return;
      std::size_t items = 0;
      v->for_each([&](const SdesItem& item) {
        if (item.type == 0) die("SDES end item visited");
        ++items;
      });
      // The writer takes 1..255 bytes; an empty CNAME parses but is not written.
      if (const auto cname = v->cname(); cname && !cname->empty()) {
        const auto again =
            parse_sdes(rewrite(buffer, [&](RtcpWriter& w) { return w.sdes_cname(1, *cname); }));
        if (!again || again->cname(1) != cname) die("SDES CNAME round trip");
      }
      return;
    }
    case RtcpKind::bye: {
      const auto v = parse_bye(p);
      if (!v) return;
      std::vector<uint32_t> ssrcs;
      for (std::size_t i = 0; i < v->size(); ++i) ssrcs.push_back(v->ssrc(i));
      const auto again =
          parse_bye(rewrite(buffer, [&](RtcpWriter& w) { return w.bye(ssrcs, v->reason); }));
      if (!again || again->size() != ssrcs.size() || again->reason != v->reason)
        die("BYE round trip");
      return;
    }
    case RtcpKind::nack: {
      const auto v = parse_nack(p);
      if (!v) return;
      std::vector<uint16_t> seqs;
      v->for_each_sequence([&](uint16_t s) { seqs.push_back(s); });
      const auto again = parse_nack(rewrite(
          buffer, [&](RtcpWriter& w) { return w.nack(v->sender_ssrc, v->media_ssrc, seqs); }));
      if (!again || nack_set(*again) != nack_set(*v)) die("NACK round trip");
      return;
    }
    case RtcpKind::transport_cc: {
      const auto v = parse_transport_cc(p);
      if (!v) return;
      uint32_t count = 0;
      std::size_t delta_bytes = 0;
      v->for_each([&](uint16_t, bool received, int64_t delta_us) {
        ++count;
        if (received) delta_bytes += (delta_us >= 0 && delta_us <= 255 * 250) ? 1 : 2;
      });
      if (count != v->status_count) die("transport-cc visited a count other than status_count");
      // A large delta may hold a small value, so the byte count is only bounded.
      if (delta_bytes > v->deltas.size()) die("transport-cc consumed more deltas than it has");
      return;
    }
    case RtcpKind::pli: {
      const auto v = parse_pli(p);
      if (!v) return;
      const auto again = parse_pli(
          rewrite(buffer, [&](RtcpWriter& w) { return w.pli(v->sender_ssrc, v->media_ssrc); }));
      if (!again || again->sender_ssrc != v->sender_ssrc || again->media_ssrc != v->media_ssrc) {
        die("PLI round trip");
      }
      return;
    }
    case RtcpKind::fir: {
      const auto v = parse_fir(p);
      if (!v) return;
      std::vector<FirEntry> entries;
      for (std::size_t i = 0; i < v->size(); ++i) entries.push_back((*v)[i]);
      const auto again =
          parse_fir(rewrite(buffer, [&](RtcpWriter& w) { return w.fir(v->sender_ssrc, entries); }));
      if (!again || again->size() != entries.size()) die("FIR round trip");
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (!((*again)[i] == entries[i])) die("FIR entry round trip");
      }
      return;
    }
    case RtcpKind::remb: {
      const auto v = parse_remb(p);
      if (!v) return;
      std::vector<uint32_t> ssrcs;
      for (std::size_t i = 0; i < v->size(); ++i) ssrcs.push_back(v->ssrc(i));
      const auto again = parse_remb(rewrite(
          buffer, [&](RtcpWriter& w) { return w.remb(v->sender_ssrc, v->bitrate_bps, ssrcs); }));
      if (!again || again->bitrate_bps != v->bitrate_bps || again->size() != ssrcs.size()) {
        die("REMB round trip");
      }
      return;
    }
    case RtcpKind::other:
      return;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  RtcpReader reader(input);
  RtcpPacket p;
  std::size_t end = 0;
  while (reader.next(p)) {
    if (p.offset != end || p.bytes.data() != input.data() + end)
      die("packets do not tile the input");
    if (p.bytes.size() < kRtcpHeaderSize || p.bytes.size() % 4 != 0) die("bad packet size");
    end += p.bytes.size();
    if (end > size) die("packet past the input");
    check(p);
  }
  if (reader.error()) {
    if (reader.error()->offset > size) die("error offset past the input");
  } else if (end != size) {
    die("the reader stopped early without an error");
  }
  return 0;
}
