// RTCP reader, per-kind parsers and writer (RFC 3550 section 6, RFC 4585, RFC 5104, REMB,
// transport-wide congestion control feedback).
//
// Rules, and why:
// - The reader checks only the common header (version 2, the length in 32-bit words minus
//   one within the bytes left, the padding count within the packet; RFC 3550 section
//   6.4.1) and stops at the first bad one: the packets before it are good and are given,
//   the rest of the compound cannot be delimited any more.
// - A compound need not start with SR or RR (reduced-size RTCP, RFC 5506 section 3.4.2),
//   and unknown packet types are given like the others (the caller skips them).
// - Each parser checks that every count in its packet (RC, SC, items, FCI entries, status
//   chunks, receive deltas) fits in the body before the view is made, so reading a view
//   needs no further checks. Bytes after what the counts cover are ignored: RFC 3550
//   allows profile-specific extensions after SR/RR report blocks, and feedback messages
//   may be padded.

#include "core/rtp/rtcp.hpp"

#include <algorithm>
#include <cstring>

namespace peer::rtp {

using detail::u16;
using detail::u24;
using detail::u32;
using detail::u8;

namespace {

constexpr Error err(ErrorCode code, std::size_t offset, const char* message) noexcept {
  return Error{code, offset, message};
}

int32_t sign_extend_24(uint32_t v) noexcept {
  return (v & 0x800000) ? static_cast<int32_t>(v) - 0x1000000 : static_cast<int32_t>(v);
}

// Offset in the compound of byte `at` of a packet's body.
std::size_t body_offset(const RtcpPacket& p, std::size_t at) noexcept {
  return p.offset + kRtcpHeaderSize + at;
}

// The common part of RFC 4585 section 6.1 feedback messages: type, FMT and both SSRCs.
std::optional<Error> check_feedback(const RtcpPacket& p, uint8_t type, uint8_t fmt,
                                    const char* wrong, const char* short_body) noexcept {
  if (p.type != type || p.count != fmt) return err(ErrorCode::wrong_type, p.offset, wrong);
  if (p.body.size() < 8) return err(ErrorCode::truncated, body_offset(p, 0), short_body);
  return std::nullopt;
}

// The FCI of a feedback message (after both SSRCs) when it is one or more entries of
// `entry` bytes, else the error `message`.
Result<std::span<const std::byte>> entries_fci(const RtcpPacket& p, std::size_t entry,
                                               const char* message) noexcept {
  const auto fci = p.body.subspan(8);
  if (fci.empty() || fci.size() % entry != 0) {
    return err(ErrorCode::bad_field, body_offset(p, 8), message);
  }
  return fci;
}

}  // namespace

// --- RtcpReader -----------------------------------------------------------------------

bool RtcpReader::next(RtcpPacket& packet) noexcept {
  if (rest_.empty() || error_) return false;
  const auto fail = [&](ErrorCode code, std::size_t at, const char* message) {
    error_ = err(code, offset_ + at, message);
    rest_ = {};
    return false;
  };
  if (rest_.size() < kRtcpHeaderSize) {
    return fail(ErrorCode::truncated, 0,
                "RTCP: fewer than 4 bytes left for a common header (RFC 3550 section 6.4.1)");
  }
  const uint8_t b0 = u8(rest_, 0);
  if ((b0 >> 6) != 2) {
    return fail(ErrorCode::bad_version, 0, "RTCP: version field is not 2 (RFC 3550 section 6.4.1)");
  }
  const std::size_t length = (static_cast<std::size_t>(u16(rest_, 2)) + 1) * 4;
  if (length > rest_.size()) {
    return fail(ErrorCode::truncated, 2,
                "RTCP: length field runs past the end of the compound packet "
                "(RFC 3550 section 6.4.1)");
  }
  std::size_t padding = 0;
  if (b0 & 0x20) {
    padding = u8(rest_, length - 1);
    if (padding == 0 || padding > length - kRtcpHeaderSize) {
      return fail(ErrorCode::bad_padding, length - 1,
                  "RTCP: padding bit (P) set with a padding count of 0 or larger than the "
                  "packet body (RFC 3550 section 6.4.1)");
    }
  }
  packet.count = b0 & 0x1f;
  packet.type = u8(rest_, 1);
  packet.offset = offset_;
  packet.bytes = rest_.first(length);
  packet.body = rest_.subspan(kRtcpHeaderSize, length - kRtcpHeaderSize - padding);
  rest_ = rest_.subspan(length);
  offset_ += length;
  return true;
}

RtcpKind kind_of(const RtcpPacket& p) noexcept {
  switch (p.type) {
    case kRtcpSenderReport:
      return RtcpKind::sender_report;
    case kRtcpReceiverReport:
      return RtcpKind::receiver_report;
    case kRtcpSdes:
      return RtcpKind::sdes;
    case kRtcpBye:
      return RtcpKind::bye;
    case kRtcpRtpFeedback:
      if (p.count == kFmtNack) return RtcpKind::nack;
      if (p.count == kFmtTransportCc) return RtcpKind::transport_cc;
      return RtcpKind::other;
    case kRtcpPayloadFeedback:
      if (p.count == kFmtPli) return RtcpKind::pli;
      if (p.count == kFmtFir) return RtcpKind::fir;
      if (p.count == kFmtAfb && p.body.size() >= 12 &&
          std::memcmp(p.body.data() + 8, "REMB", 4) == 0) {
        return RtcpKind::remb;
      }
      return RtcpKind::other;
    default:
      return RtcpKind::other;
  }
}

// --- SR, RR ---------------------------------------------------------------------------

ReportBlock ReportBlocks::operator[](std::size_t i) const noexcept {
  const std::size_t at = 24 * i;
  ReportBlock r;
  r.ssrc = u32(bytes_, at);
  r.fraction_lost = u8(bytes_, at + 4);
  r.cumulative_lost = sign_extend_24(u24(bytes_, at + 5));
  r.highest_sequence = u32(bytes_, at + 8);
  r.jitter = u32(bytes_, at + 12);
  r.last_sr = u32(bytes_, at + 16);
  r.delay_since_last_sr = u32(bytes_, at + 20);
  return r;
}

Result<SenderReportView> parse_sender_report(const RtcpPacket& p) noexcept {
  if (p.type != kRtcpSenderReport) {
    return err(ErrorCode::wrong_type, p.offset, "RTCP SR: packet type is not 200");
  }
  if (p.body.size() < 24) {
    return err(ErrorCode::truncated, body_offset(p, 0),
               "RTCP SR: body shorter than the SSRC and 20-byte sender info "
               "(RFC 3550 section 6.4.1)");
  }
  if (p.body.size() - 24 < 24 * std::size_t{p.count}) {
    return err(ErrorCode::truncated, p.offset,
               "RTCP SR: reception report count (RC) needs more bytes than the packet has "
               "(RFC 3550 section 6.4.1)");
  }
  SenderReportView v;
  v.ssrc = u32(p.body, 0);
  v.info.ntp_time = (uint64_t{u32(p.body, 4)} << 32) | u32(p.body, 8);
  v.info.rtp_timestamp = u32(p.body, 12);
  v.info.packet_count = u32(p.body, 16);
  v.info.octet_count = u32(p.body, 20);
  v.reports = ReportBlocks(p.body.subspan(24, 24 * std::size_t{p.count}));
  return v;
}

Result<ReceiverReportView> parse_receiver_report(const RtcpPacket& p) noexcept {
  if (p.type != kRtcpReceiverReport) {
    return err(ErrorCode::wrong_type, p.offset, "RTCP RR: packet type is not 201");
  }
  if (p.body.size() < 4) {
    return err(ErrorCode::truncated, body_offset(p, 0),
               "RTCP RR: body shorter than the reporter's SSRC (RFC 3550 section 6.4.2)");
  }
  if (p.body.size() - 4 < 24 * std::size_t{p.count}) {
    return err(ErrorCode::truncated, p.offset,
               "RTCP RR: reception report count (RC) needs more bytes than the packet has "
               "(RFC 3550 section 6.4.2)");
  }
  return ReceiverReportView{u32(p.body, 0),
                            ReportBlocks(p.body.subspan(4, 24 * std::size_t{p.count}))};
}

// --- SDES -----------------------------------------------------------------------------

Result<SdesView> parse_sdes(const RtcpPacket& p) noexcept {
  if (p.type != kRtcpSdes)
    return err(ErrorCode::wrong_type, p.offset, "RTCP SDES: packet type is not 202");
  const auto& b = p.body;
  std::size_t at = 0;
  for (std::size_t c = 0; c < p.count; ++c) {
    if (at > b.size() || b.size() - at < 4) {
      return err(ErrorCode::truncated, body_offset(p, std::min(at, b.size())),
                 "RTCP SDES: source count (SC) needs more chunks than the packet has "
                 "(RFC 3550 section 6.5)");
    }
    at += 4;
    while (true) {
      if (at >= b.size()) {
        return err(ErrorCode::truncated, body_offset(p, at),
                   "RTCP SDES: chunk without its terminating null item (RFC 3550 section 6.5)");
      }
      if (u8(b, at) == 0) break;
      if (b.size() - at < 2 || b.size() - at - 2 < u8(b, at + 1)) {
        return err(ErrorCode::truncated, body_offset(p, at),
                   "RTCP SDES: item length runs past the end of the packet "
                   "(RFC 3550 section 6.5)");
      }
      at += 2 + std::size_t{u8(b, at + 1)};
    }
    at = (at + 4) & ~std::size_t{3};
  }
  SdesView v;
  v.body_ = b;
  v.chunks_ = p.count;
  return v;
}

std::optional<std::string_view> SdesView::cname(std::optional<uint32_t> ssrc) const {
  std::optional<std::string_view> found;
  for_each([&](const SdesItem& item) {
    if (!found && item.type == kSdesCname && (!ssrc || *ssrc == item.ssrc)) found = item.text;
  });
  return found;
}

// --- BYE ------------------------------------------------------------------------------

Result<ByeView> parse_bye(const RtcpPacket& p) noexcept {
  if (p.type != kRtcpBye)
    return err(ErrorCode::wrong_type, p.offset, "RTCP BYE: packet type is not 203");
  const std::size_t ssrcs = 4 * std::size_t{p.count};
  if (p.body.size() < ssrcs) {
    return err(ErrorCode::truncated, p.offset,
               "RTCP BYE: source count (SC) needs more bytes than the packet has "
               "(RFC 3550 section 6.6)");
  }
  ByeView v;
  v.ssrc_bytes = p.body.first(ssrcs);
  if (p.body.size() > ssrcs) {
    const std::size_t length = u8(p.body, ssrcs);
    if (p.body.size() - ssrcs - 1 < length) {
      return err(ErrorCode::truncated, body_offset(p, ssrcs),
                 "RTCP BYE: reason length runs past the end of the packet "
                 "(RFC 3550 section 6.6)");
    }
    v.reason = {reinterpret_cast<const char*>(p.body.data() + ssrcs + 1), length};
  }
  return v;
}

// --- Feedback -------------------------------------------------------------------------

Result<NackView> parse_nack(const RtcpPacket& p) noexcept {
  if (auto bad = check_feedback(p, kRtcpRtpFeedback, kFmtNack,
                                "RTCP NACK: not an RTPFB (205) packet with FMT 1",
                                "RTCP NACK: body shorter than the two SSRCs "
                                "(RFC 4585 section 6.1)")) {
    return *bad;
  }
  const auto fci = entries_fci(p, 4,
                               "RTCP NACK: FCI is not one or more 4-byte PID+BLP entries "
                               "(RFC 4585 section 6.2.1)");
  if (!fci) return fci.error();
  return NackView{u32(p.body, 0), u32(p.body, 4), *fci};
}

Result<PliView> parse_pli(const RtcpPacket& p) noexcept {
  if (auto bad = check_feedback(p, kRtcpPayloadFeedback, kFmtPli,
                                "RTCP PLI: not a PSFB (206) packet with FMT 1",
                                "RTCP PLI: body shorter than the two SSRCs "
                                "(RFC 4585 section 6.3.1)")) {
    return *bad;
  }
  return PliView{u32(p.body, 0), u32(p.body, 4)};
}

Result<FirView> parse_fir(const RtcpPacket& p) noexcept {
  if (auto bad = check_feedback(p, kRtcpPayloadFeedback, kFmtFir,
                                "RTCP FIR: not a PSFB (206) packet with FMT 4",
                                "RTCP FIR: body shorter than the two SSRCs "
                                "(RFC 5104 section 4.3.1)")) {
    return *bad;
  }
  const auto fci = entries_fci(
      p, 8, "RTCP FIR: FCI is not one or more 8-byte entries (RFC 5104 section 4.3.1.1)");
  if (!fci) return fci.error();
  return FirView{u32(p.body, 0), *fci};
}

Result<RembView> parse_remb(const RtcpPacket& p) noexcept {
  if (auto bad = check_feedback(p, kRtcpPayloadFeedback, kFmtAfb,
                                "RTCP REMB: not a PSFB (206) packet with FMT 15",
                                "RTCP REMB: body shorter than the two SSRCs "
                                "(draft-alvestrand-rmcat-remb section 2.2)")) {
    return *bad;
  }
  const auto fci = p.body.subspan(8);
  if (fci.size() < 8 || std::memcmp(fci.data(), "REMB", 4) != 0) {
    return err(ErrorCode::wrong_type, body_offset(p, 8),
               "RTCP REMB: application layer feedback without the \"REMB\" identifier "
               "(draft-alvestrand-rmcat-remb section 2.2)");
  }
  const std::size_t count = u8(fci, 4);
  const unsigned exponent = u8(fci, 5) >> 2;
  const uint64_t mantissa = u24(fci, 5) & 0x3ffff;
  const uint64_t bitrate = mantissa << exponent;
  if ((bitrate >> exponent) != mantissa) {
    return err(ErrorCode::bad_field, body_offset(p, 13),
               "RTCP REMB: BR Mantissa << BR Exp does not fit in 64 bits "
               "(draft-alvestrand-rmcat-remb section 2.2)");
  }
  if (fci.size() - 8 < 4 * count) {
    return err(ErrorCode::truncated, body_offset(p, 12),
               "RTCP REMB: Num SSRC needs more bytes than the packet has "
               "(draft-alvestrand-rmcat-remb section 2.2)");
  }
  return RembView{u32(p.body, 0), bitrate, fci.subspan(8, 4 * count)};
}

// Transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1):
//
//    |     SSRC of packet sender     |      SSRC of media source     |
//    |      base sequence number     |      packet status count      |
//    |                 reference time                | fb pkt. count |
//    |          packet chunk         |         packet chunk          |  ...
//    |         recv delta            |  recv delta   | zero padding  |
Result<TransportCcView> parse_transport_cc(const RtcpPacket& p) noexcept {
  if (auto bad = check_feedback(p, kRtcpRtpFeedback, kFmtTransportCc,
                                "RTCP transport-cc: not an RTPFB (205) packet with FMT 15",
                                "RTCP transport-cc: body shorter than the two SSRCs "
                                "(draft-holmer-rmcat-transport-wide-cc-extensions-01 "
                                "section 3.1)")) {
    return *bad;
  }
  const auto& b = p.body;
  if (b.size() < 16) {
    return err(ErrorCode::truncated, body_offset(p, 8),
               "RTCP transport-cc: body shorter than the 8-byte feedback header "
               "(base sequence, status count, reference time, fb count; section 3.1)");
  }
  TransportCcView v;
  v.sender_ssrc = u32(b, 0);
  v.media_ssrc = u32(b, 4);
  v.base_sequence = u16(b, 8);
  v.status_count = u16(b, 10);
  v.reference_time = sign_extend_24(u24(b, 12));
  v.feedback_count = u8(b, 15);
  if (v.status_count == 0) {
    return err(ErrorCode::bad_field, body_offset(p, 10),
               "RTCP transport-cc: packet status count is 0 (section 3.1)");
  }
  std::size_t at = 16, deltas = 0;
  uint32_t seen = 0;
  while (seen < v.status_count) {
    if (b.size() - at < 2) {
      return err(ErrorCode::truncated, body_offset(p, at),
                 "RTCP transport-cc: the packet chunks end before the packet status count "
                 "is covered (section 3.1.2)");
    }
    const uint16_t chunk = u16(b, at);
    const uint32_t n = std::min(detail::tcc_chunk_length(chunk), v.status_count - seen);
    if ((chunk & 0x8000) == 0) {  // run length: one symbol n times (section 3.1.3)
      const uint8_t symbol = detail::tcc_symbol(chunk, 0);
      if (symbol == 3 && n > 0) {
        return err(ErrorCode::bad_field, body_offset(p, at),
                   "RTCP transport-cc: run length chunk with the reserved status symbol 11 "
                   "(section 3.1.1)");
      }
      deltas += std::size_t{n} * symbol;  // 1 or 2 bytes per packet, 0 for not received
    } else {
      for (uint32_t i = 0; i < n; ++i) {
        const uint8_t symbol = detail::tcc_symbol(chunk, i);
        if (symbol == 3) {
          return err(ErrorCode::bad_field, body_offset(p, at),
                     "RTCP transport-cc: status vector chunk with the reserved symbol 11 "
                     "(section 3.1.4)");
        }
        deltas += symbol;
      }
    }
    seen += n;
    at += 2;
  }
  if (b.size() - at < deltas) {
    return err(ErrorCode::truncated, body_offset(p, at),
               "RTCP transport-cc: the receive deltas of the received packets run past the "
               "end of the packet (section 3.1.5)");
  }
  v.chunks = b.subspan(16, at - 16);
  v.deltas = b.subspan(at, deltas);
  return v;
}

std::vector<TransportCcPacket> TransportCcView::packets() const {
  std::vector<TransportCcPacket> out;
  out.reserve(status_count);
  for_each([&](uint16_t seq, bool received, int64_t delta_us) {
    out.push_back({seq, received, delta_us});
  });
  return out;
}

// --- RtcpWriter -----------------------------------------------------------------------

namespace {

void put_report(std::span<std::byte> out, std::size_t at, const ReportBlock& r) noexcept {
  using namespace detail;
  const int32_t lost = std::clamp<int32_t>(r.cumulative_lost, -0x800000, 0x7fffff);
  put32(out, at, r.ssrc);
  put8(out, at + 4, r.fraction_lost);
  put24(out, at + 5, static_cast<uint32_t>(lost) & 0xffffff);
  put32(out, at + 8, r.highest_sequence);
  put32(out, at + 12, r.jitter);
  put32(out, at + 16, r.last_sr);
  put32(out, at + 20, r.delay_since_last_sr);
}

constexpr std::size_t round4(std::size_t n) noexcept {
  return (n + 3) & ~std::size_t{3};
}

// Groups sequence numbers into NACK entries (RFC 4585 section 6.2.1) and calls
// emit(pid, blp) for each, in order.
template <class F>
void nack_entries(std::span<const uint16_t> sequences, F&& emit) {
  bool open = false;
  uint16_t pid = 0, blp = 0;
  for (const uint16_t seq : sequences) {
    const uint16_t diff = static_cast<uint16_t>(seq - pid);
    if (open && diff >= 1 && diff <= 16) {
      blp = static_cast<uint16_t>(blp | (1u << (diff - 1)));
      continue;
    }
    if (open && diff == 0) continue;  // a repeat of the PID
    if (open) emit(pid, blp);
    open = true;
    pid = seq;
    blp = 0;
  }
  if (open) emit(pid, blp);
}

}  // namespace

bool RtcpWriter::fail(ErrorCode code, const char* message) noexcept {
  if (!error_) error_ = err(code, size_, message);
  return false;
}

bool RtcpWriter::begin(uint8_t count, uint8_t type, std::size_t size,
                       std::span<std::byte>& body) noexcept {
  if (error_) return false;
  if (size / 4 > 0xffff) {
    return fail(ErrorCode::invalid_argument,
                "RTCP writer: packet over the 65536 words of the length field");
  }
  if (out_.size() - size_ < kRtcpHeaderSize + size) {
    return fail(ErrorCode::buffer_too_small,
                "RTCP writer: the buffer is smaller than the compound");
  }
  auto packet = out_.subspan(size_, kRtcpHeaderSize + size);
  std::memset(packet.data(), 0, packet.size());
  detail::put8(packet, 0, 0x80u | count);
  detail::put8(packet, 1, type);
  detail::put16(packet, 2, static_cast<uint32_t>(size / 4));
  size_ += packet.size();
  body = packet.subspan(kRtcpHeaderSize);
  return true;
}

bool RtcpWriter::sender_report(uint32_t ssrc, const SenderInfo& info,
                               std::span<const ReportBlock> reports) noexcept {
  using namespace detail;
  if (reports.size() > kMaxReportBlocks) {
    return fail(ErrorCode::invalid_argument, "RTCP writer: SR with more than 31 report blocks");
  }
  std::span<std::byte> b;
  if (!begin(static_cast<uint8_t>(reports.size()), kRtcpSenderReport, 24 + 24 * reports.size(), b))
    return false;
  put32(b, 0, ssrc);
  put32(b, 4, static_cast<uint32_t>(info.ntp_time >> 32));
  put32(b, 8, static_cast<uint32_t>(info.ntp_time));
  put32(b, 12, info.rtp_timestamp);
  put32(b, 16, info.packet_count);
  put32(b, 20, info.octet_count);
  for (std::size_t i = 0; i < reports.size(); ++i) put_report(b, 24 + 24 * i, reports[i]);
  return true;
}

bool RtcpWriter::receiver_report(uint32_t ssrc, std::span<const ReportBlock> reports) noexcept {
  if (reports.size() > kMaxReportBlocks) {
    return fail(ErrorCode::invalid_argument, "RTCP writer: RR with more than 31 report blocks");
  }
  std::span<std::byte> b;
  if (!begin(static_cast<uint8_t>(reports.size()), kRtcpReceiverReport, 4 + 24 * reports.size(), b))
    return false;
  detail::put32(b, 0, ssrc);
  for (std::size_t i = 0; i < reports.size(); ++i) put_report(b, 4 + 24 * i, reports[i]);
  return true;
}

bool RtcpWriter::sdes_cname(uint32_t ssrc, std::string_view cname) noexcept {
  if (cname.empty() || cname.size() > 255) {
    return fail(ErrorCode::invalid_argument, "RTCP writer: SDES CNAME must be 1..255 bytes");
  }
  // SSRC, CNAME item (type, length, text), at least one null octet (RFC 3550 section 6.5).
  std::span<std::byte> b;
  if (!begin(1, kRtcpSdes, round4(4 + 2 + cname.size() + 1), b)) return false;
  detail::put32(b, 0, ssrc);
  detail::put8(b, 4, kSdesCname);
  detail::put8(b, 5, static_cast<uint32_t>(cname.size()));
  std::memcpy(b.data() + 6, cname.data(), cname.size());
  return true;
}

bool RtcpWriter::bye(std::span<const uint32_t> ssrcs, std::string_view reason) noexcept {
  if (ssrcs.size() > 31 || reason.size() > 255) {
    return fail(ErrorCode::invalid_argument,
                "RTCP writer: BYE with more than 31 SSRCs or a reason over 255 bytes");
  }
  const std::size_t reason_size = reason.empty() ? 0 : round4(1 + reason.size());
  std::span<std::byte> b;
  if (!begin(static_cast<uint8_t>(ssrcs.size()), kRtcpBye, 4 * ssrcs.size() + reason_size, b))
    return false;
  for (std::size_t i = 0; i < ssrcs.size(); ++i) detail::put32(b, 4 * i, ssrcs[i]);
  if (!reason.empty()) {
    detail::put8(b, 4 * ssrcs.size(), static_cast<uint32_t>(reason.size()));
    std::memcpy(b.data() + 4 * ssrcs.size() + 1, reason.data(), reason.size());
  }
  return true;
}

bool RtcpWriter::nack(uint32_t sender_ssrc, uint32_t media_ssrc,
                      std::span<const uint16_t> sequences) noexcept {
  if (sequences.empty())
    return fail(ErrorCode::invalid_argument, "RTCP writer: NACK of no packets");
  std::size_t entries = 0;
  nack_entries(sequences, [&](uint16_t, uint16_t) { ++entries; });
  std::span<std::byte> b;
  if (!begin(kFmtNack, kRtcpRtpFeedback, 8 + 4 * entries, b)) return false;
  detail::put32(b, 0, sender_ssrc);
  detail::put32(b, 4, media_ssrc);
  std::size_t at = 8;
  nack_entries(sequences, [&](uint16_t pid, uint16_t blp) {
    detail::put16(b, at, pid);
    detail::put16(b, at + 2, blp);
    at += 4;
  });
  return true;
}

bool RtcpWriter::pli(uint32_t sender_ssrc, uint32_t media_ssrc) noexcept {
  std::span<std::byte> b;
  if (!begin(kFmtPli, kRtcpPayloadFeedback, 8, b)) return false;
  detail::put32(b, 0, sender_ssrc);
  detail::put32(b, 4, media_ssrc);
  return true;
}

bool RtcpWriter::fir(uint32_t sender_ssrc, std::span<const FirEntry> entries) noexcept {
  if (entries.empty()) return fail(ErrorCode::invalid_argument, "RTCP writer: FIR without entries");
  std::span<std::byte> b;
  if (!begin(kFmtFir, kRtcpPayloadFeedback, 8 + 8 * entries.size(), b)) return false;
  detail::put32(b, 0, sender_ssrc);  // media source SSRC 0 (RFC 5104 section 4.3.1.2)
  for (std::size_t i = 0; i < entries.size(); ++i) {
    detail::put32(b, 8 + 8 * i, entries[i].ssrc);
    detail::put8(b, 12 + 8 * i, entries[i].sequence);
  }
  return true;
}

bool RtcpWriter::remb(uint32_t sender_ssrc, uint64_t bitrate_bps,
                      std::span<const uint32_t> ssrcs) noexcept {
  if (ssrcs.size() > 255)
    return fail(ErrorCode::invalid_argument, "RTCP writer: REMB with over 255 SSRCs");
  unsigned exponent = 0;
  while ((bitrate_bps >> exponent) > 0x3ffff) ++exponent;
  const auto mantissa = static_cast<uint32_t>(bitrate_bps >> exponent);
  std::span<std::byte> b;
  if (!begin(kFmtAfb, kRtcpPayloadFeedback, 16 + 4 * ssrcs.size(), b)) return false;
  detail::put32(b, 0, sender_ssrc);  // media source SSRC 0
  std::memcpy(b.data() + 8, "REMB", 4);
  detail::put8(b, 12, static_cast<uint32_t>(ssrcs.size()));
  detail::put24(b, 13, (exponent << 18) | mantissa);
  for (std::size_t i = 0; i < ssrcs.size(); ++i) detail::put32(b, 16 + 4 * i, ssrcs[i]);
  return true;
}

}  // namespace peer::rtp
