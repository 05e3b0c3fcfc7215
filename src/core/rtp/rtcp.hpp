#pragma once
// RTCP (RFC 3550 section 6) and its feedback messages (RFC 4585, RFC 5104, REMB,
// transport-wide congestion control): a reader walking a compound packet, a parser per
// packet kind returning a non-owning view, and a writer of compound packets into a caller's
// buffer. Nothing throws; nothing allocates except TransportCcView::packets(), a
// convenience for tests and cold paths (the hot kinds, NACK and transport-cc, have visitors).
//
// Common header of every RTCP packet (RFC 3550 section 6.4.1):
//
//     0                   1                   2                   3
//     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//    |V=2|P| RC/FMT  |      PT       |  length (32-bit words - 1)    |
//    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Reduced-size RTCP (RFC 5506): the reader does not require a compound to start with an SR
// or RR, nor to hold an SDES CNAME; the writer writes whatever packets it is asked for, in
// that order (RFC 3550 section 6.1 compounds are the caller's to make).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/rtp/result.hpp"

namespace peer::rtp {

// Packet types (RFC 3550 section 12.1, RFC 4585 section 6.1).
inline constexpr uint8_t kRtcpSenderReport = 200;
inline constexpr uint8_t kRtcpReceiverReport = 201;
inline constexpr uint8_t kRtcpSdes = 202;
inline constexpr uint8_t kRtcpBye = 203;
inline constexpr uint8_t kRtcpApp = 204;
inline constexpr uint8_t kRtcpRtpFeedback = 205;      // RTPFB
inline constexpr uint8_t kRtcpPayloadFeedback = 206;  // PSFB
// Feedback message types (FMT).
inline constexpr uint8_t kFmtNack = 1;  // RTPFB, RFC 4585 section 6.2.1
inline constexpr uint8_t kFmtTransportCc =
    15;                                 // RTPFB, draft-holmer-rmcat-transport-wide-cc-extensions-01
inline constexpr uint8_t kFmtPli = 1;   // PSFB, RFC 4585 section 6.3.1
inline constexpr uint8_t kFmtFir = 4;   // PSFB, RFC 5104 section 4.3.1
inline constexpr uint8_t kFmtAfb = 15;  // PSFB application layer feedback (REMB)
inline constexpr uint8_t kSdesCname = 1;  // SDES item type (RFC 3550 section 6.5.1)

inline constexpr std::size_t kRtcpHeaderSize = 4;
inline constexpr std::size_t kMaxReportBlocks = 31;

// One packet of a compound, its common header checked.
struct RtcpPacket {
  uint8_t count = 0;                 // RC, SC or FMT: the 5 bits after P
  uint8_t type = 0;                  // PT
  std::size_t offset = 0;            // of the packet in the compound
  std::span<const std::byte> body;   // after the 4-byte header, padding removed
  std::span<const std::byte> bytes;  // the whole packet as on the wire
};

// Walks a compound packet (RFC 3550 section 6.1). next() gives the packets one by one; it
// returns false at the end, or at the first packet whose header is bad, which error() then
// describes (the packets before it were good and were given).
class RtcpReader {
 public:
  explicit RtcpReader(std::span<const std::byte> compound) noexcept : rest_(compound) {}
  bool next(RtcpPacket& packet) noexcept;
  const std::optional<Error>& error() const noexcept { return error_; }

 private:
  std::span<const std::byte> rest_;
  std::size_t offset_ = 0;
  std::optional<Error> error_;
};

// What a packet is, by its type, FMT and (for application layer feedback) the "REMB"
// identifier: which parser below takes it. `other` is anything this layer does not parse
// (APP, XR, other feedback), to be skipped.
enum class RtcpKind : uint8_t {
  sender_report,
  receiver_report,
  sdes,
  bye,
  nack,
  transport_cc,
  pli,
  fir,
  remb,
  other
};
RtcpKind kind_of(const RtcpPacket& packet) noexcept;

// --- SR, RR (RFC 3550 sections 6.4.1, 6.4.2) ------------------------------------------

struct ReportBlock {
  uint32_t ssrc = 0;
  uint8_t fraction_lost = 0;
  int32_t cumulative_lost = 0;    // 24-bit signed on the wire; the writer clamps
  uint32_t highest_sequence = 0;  // extended highest sequence number received
  uint32_t jitter = 0;
  uint32_t last_sr = 0;              // LSR: middle 32 bits of the last SR's NTP time
  uint32_t delay_since_last_sr = 0;  // DLSR, in 1/65536 s
  bool operator==(const ReportBlock&) const = default;
};

struct SenderInfo {
  uint64_t ntp_time = 0;  // 32.32 fixed point seconds since 1900
  uint32_t rtp_timestamp = 0;
  uint32_t packet_count = 0;
  uint32_t octet_count = 0;
  bool operator==(const SenderInfo&) const = default;
};

// The report blocks of an SR or RR, read on access.
class ReportBlocks {
 public:
  ReportBlocks() = default;
  explicit ReportBlocks(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  std::size_t size() const noexcept { return bytes_.size() / 24; }
  ReportBlock operator[](std::size_t i) const noexcept;

 private:
  std::span<const std::byte> bytes_;
};

struct SenderReportView {
  uint32_t ssrc = 0;
  SenderInfo info;
  ReportBlocks reports;
};
struct ReceiverReportView {
  uint32_t ssrc = 0;
  ReportBlocks reports;
};
Result<SenderReportView> parse_sender_report(const RtcpPacket& packet) noexcept;
Result<ReceiverReportView> parse_receiver_report(const RtcpPacket& packet) noexcept;

// --- SDES (RFC 3550 section 6.5) ------------------------------------------------------

struct SdesItem {
  uint32_t ssrc = 0;
  uint8_t type = 0;  // 1 CNAME, 2 NAME, ... (section 6.5)
  std::string_view text;
};

// Checked chunks; for_each() visits every item of every chunk.
class SdesView {
 public:
  template <class F>
  void for_each(F&& visit) const {
    std::size_t at = 0;
    for (std::size_t c = 0; c < chunks_; ++c) {
      const uint32_t ssrc = detail::u32(body_, at);
      at += 4;
      while (detail::u8(body_, at) != 0) {
        const std::size_t size = detail::u8(body_, at + 1);
        visit(SdesItem{ssrc,
                       detail::u8(body_, at),
                       {reinterpret_cast<const char*>(body_.data() + at + 2), size}});
        at += 2 + size;
      }
      at = (at + 4) & ~std::size_t{3};  // the null item, then to the 32-bit boundary
    }
  }
  std::size_t chunk_count() const noexcept { return chunks_; }
  // The CNAME of `ssrc`, or of the first chunk having one when ssrc is nullopt.
  std::optional<std::string_view> cname(std::optional<uint32_t> ssrc = std::nullopt) const;

 private:
  friend Result<SdesView> parse_sdes(const RtcpPacket& packet) noexcept;
  std::span<const std::byte> body_;
  std::size_t chunks_ = 0;
};
Result<SdesView> parse_sdes(const RtcpPacket& packet) noexcept;

// --- BYE (RFC 3550 section 6.6) -------------------------------------------------------

struct ByeView {
  std::span<const std::byte> ssrc_bytes;
  std::string_view reason;  // empty when absent
  std::size_t size() const noexcept { return ssrc_bytes.size() / 4; }
  uint32_t ssrc(std::size_t i) const noexcept { return detail::u32(ssrc_bytes, 4 * i); }
};
Result<ByeView> parse_bye(const RtcpPacket& packet) noexcept;

// --- Generic NACK (RFC 4585 section 6.2.1) --------------------------------------------

struct NackView {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  std::span<const std::byte> fci;  // PID (16) + BLP (16) entries
  std::size_t entry_count() const noexcept { return fci.size() / 4; }
  // Visits every lost sequence number: each PID, then PID + i + 1 for bit i of its BLP
  // (least significant bit first), in that order, wrapping at 2^16.
  template <class F>
  void for_each_sequence(F&& visit) const {
    for (std::size_t at = 0; at + 4 <= fci.size(); at += 4) {
      const uint16_t pid = detail::u16(fci, at);
      const uint16_t blp = detail::u16(fci, at + 2);
      visit(pid);
      for (unsigned i = 0; i < 16; ++i) {
        if (blp & (1u << i)) visit(static_cast<uint16_t>(pid + i + 1));
      }
    }
  }
};
Result<NackView> parse_nack(const RtcpPacket& packet) noexcept;

// --- PLI (RFC 4585 section 6.3.1), FIR (RFC 5104 section 4.3.1) -----------------------

struct PliView {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
};
Result<PliView> parse_pli(const RtcpPacket& packet) noexcept;

struct FirEntry {
  uint32_t ssrc = 0;
  uint8_t sequence = 0;  // command sequence number
  bool operator==(const FirEntry&) const = default;
};
struct FirView {
  uint32_t sender_ssrc = 0;
  std::span<const std::byte> fci;  // 8-byte entries
  std::size_t size() const noexcept { return fci.size() / 8; }
  FirEntry operator[](std::size_t i) const noexcept {
    return {detail::u32(fci, 8 * i), detail::u8(fci, 8 * i + 4)};
  }
};
Result<FirView> parse_fir(const RtcpPacket& packet) noexcept;

// --- REMB (draft-alvestrand-rmcat-remb-03 section 2.2) --------------------------------

struct RembView {
  uint32_t sender_ssrc = 0;
  uint64_t bitrate_bps = 0;  // mantissa << exponent
  std::span<const std::byte> ssrc_bytes;
  std::size_t size() const noexcept { return ssrc_bytes.size() / 4; }
  uint32_t ssrc(std::size_t i) const noexcept { return detail::u32(ssrc_bytes, 4 * i); }
};
// wrong_type for a PSFB FMT 15 message that is not REMB (no "REMB" identifier).
Result<RembView> parse_remb(const RtcpPacket& packet) noexcept;

// --- Transport-wide congestion control feedback ---------------------------------------
// draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1: RTPFB FMT 15.

namespace detail {
// A packet status chunk (section 3.1.3/3.1.4) holds this many symbols...
constexpr uint32_t tcc_chunk_length(uint16_t chunk) noexcept {
  if ((chunk & 0x8000) == 0) return chunk & 0x1fff;  // run length chunk
  return (chunk & 0x4000) ? 7 : 14;                  // status vector, 2- or 1-bit symbols
}
// ...and symbol i is 0 not received, 1 small delta, 2 large or negative delta, 3 reserved.
constexpr uint8_t tcc_symbol(uint16_t chunk, uint32_t i) noexcept {
  if ((chunk & 0x8000) == 0) return (chunk >> 13) & 3;
  if (chunk & 0x4000) return (chunk >> (12 - 2 * i)) & 3;
  return (chunk >> (13 - i)) & 1;
}
}  // namespace detail

struct TransportCcPacket {
  uint16_t sequence = 0;
  bool received = false;
  int64_t delta_us = 0;  // receive delta (0 when not received), see for_each()
  bool operator==(const TransportCcPacket&) const = default;
};

struct TransportCcView {
  uint32_t sender_ssrc = 0;
  uint32_t media_ssrc = 0;
  uint16_t base_sequence = 0;
  uint16_t status_count = 0;
  int32_t reference_time = 0;  // 24-bit signed, in multiples of 64 ms
  uint8_t feedback_count = 0;
  std::span<const std::byte> chunks;  // exactly the chunks covering status_count
  std::span<const std::byte> deltas;  // exactly the receive deltas

  int64_t reference_time_us() const noexcept { return int64_t{reference_time} * 64000; }
  // Visits (sequence, received, delta_us) for the status_count packets from base_sequence.
  // delta_us is the packet's receive delta in the feedback (multiples of 250 us): the first
  // received packet's is relative to the reference time, each next one's to the previous
  // received packet (section 3.1.5).
  template <class F>
  void for_each(F&& visit) const {
    uint32_t seen = 0;
    std::size_t d = 0;
    uint16_t seq = base_sequence;
    for (std::size_t c = 0; c + 2 <= chunks.size(); c += 2) {
      const uint16_t chunk = detail::u16(chunks, c);
      const uint32_t n = detail::tcc_chunk_length(chunk);
      for (uint32_t i = 0; i < n && seen < status_count; ++i, ++seen, ++seq) {
        const uint8_t symbol = detail::tcc_symbol(chunk, i);
        if (symbol == 1) {
          visit(seq, true, int64_t{detail::u8(deltas, d)} * 250);
          d += 1;
        } else if (symbol == 2) {
          visit(seq, true, int64_t{static_cast<int16_t>(detail::u16(deltas, d))} * 250);
          d += 2;
        } else {
          visit(seq, false, int64_t{0});
        }
      }
    }
  }
  std::vector<TransportCcPacket> packets() const;  // allocates; not for the hot path
};
Result<TransportCcView> parse_transport_cc(const RtcpPacket& packet) noexcept;

// --- Writer ---------------------------------------------------------------------------

// Appends RTCP packets, one per call, to a caller's buffer, making a compound. A call that
// does not fit or has an argument the wire cannot carry writes nothing, returns false and
// sets error(); every later call then does nothing and returns false too.
class RtcpWriter {
 public:
  explicit RtcpWriter(std::span<std::byte> out) noexcept : out_(out) {}

  bool sender_report(uint32_t ssrc, const SenderInfo& info,
                     std::span<const ReportBlock> reports = {}) noexcept;  // <= 31 blocks
  bool receiver_report(uint32_t ssrc, std::span<const ReportBlock> reports = {}) noexcept;
  bool sdes_cname(uint32_t ssrc, std::string_view cname) noexcept;  // 1..255 bytes
  bool bye(std::span<const uint32_t> ssrcs, std::string_view reason = {}) noexcept;
  // Sequence numbers in sending order (wrapping allowed); each one within 16 after the
  // current entry's PID joins its BLP, any other starts a new entry (RFC 4585 6.2.1).
  bool nack(uint32_t sender_ssrc, uint32_t media_ssrc,
            std::span<const uint16_t> sequences) noexcept;
  bool pli(uint32_t sender_ssrc, uint32_t media_ssrc) noexcept;
  bool fir(uint32_t sender_ssrc, std::span<const FirEntry> entries) noexcept;  // >= 1
  // The bitrate goes as an 18-bit mantissa and 6-bit exponent, rounded down.
  bool remb(uint32_t sender_ssrc, uint64_t bitrate_bps, std::span<const uint32_t> ssrcs) noexcept;

  std::size_t size() const noexcept { return size_; }
  std::span<const std::byte> bytes() const noexcept { return {out_.data(), size_}; }
  const std::optional<Error>& error() const noexcept { return error_; }

 private:
  // Reserves a packet of `size` body bytes (a multiple of 4), zeroed, and writes its common
  // header; sets `body` to the part to fill. False (error_ set) when it does not fit.
  bool begin(uint8_t count, uint8_t type, std::size_t size, std::span<std::byte>& body) noexcept;
  bool fail(ErrorCode code, const char* message) noexcept;

  std::span<std::byte> out_;
  std::size_t size_ = 0;
  std::optional<Error> error_;
};

}  // namespace peer::rtp
