#pragma once
// The sending side of one RTP stream (one SSRC): numbers and writes the packets a
// packetizer produces, keeps the last packets for retransmission, answers generic NACKs
// (RFC 4585 section 6.2.1) by sending them again, writes sender reports (RFC 3550 section
// 6.4.1) on the section 6.3 timer, and reads what the remote receiver reports: RTT and loss
// from its report blocks, keyframe requests from PLI (RFC 4585 section 6.3.1) and FIR
// (RFC 5104 section 4.3.1), and the receiver's bandwidth estimate from REMB.
//
//   RtpSender s(config);
//   auto pkt = s.send(payload, marker, rtp_ts, now, buffer);   // -> the packet's bytes
//   s.handle_rtcp(now, compound);                              // RR, NACK, PLI, FIR
//   while (auto p = s.poll_retransmission(now)) transmit(*p);
//   if (now >= s.next_timeout()) s.handle_timeout(now);
//   if (auto n = s.poll_rtcp(now, out)) transmit(out.first(n)); // SR (+ SDES)
//   if (s.take_keyframe_request()) encoder.force_keyframe();
//
// Retransmission is plain (same SSRC, same sequence number), what Chromium accepts when
// RTX (RFC 4588) was not negotiated; RTX is later work. Pure: no I/O, no clock reads, no
// threads; after the first packets (the cache slab) nothing is allocated per packet.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/rtp/result.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp.hpp"
#include "core/rtp/rtp_stream.hpp"

namespace peer::rtp {

struct RtpSenderConfig {
  uint32_t ssrc = 0;
  uint8_t payload_type = 96;
  uint32_t clock_rate = 90000;
  uint16_t initial_sequence = 0;  // RFC 3550 section 5.1 wants it random: the caller's pick
  std::string cname;              // SDES CNAME sent with each SR when not empty
  // Retransmission cache: the last `cache_packets` packets, none older than `cache_age`,
  // each at most `max_packet_size` bytes (a larger one is sent but not cached).
  std::size_t cache_packets = 512;
  Duration cache_age = std::chrono::seconds(1);
  std::size_t max_packet_size = 1500;
  Duration rtcp_interval = std::chrono::seconds(1);
  uint64_t ntp_offset = 0;  // NTP time of the steady clock's epoch (see ntp_time())
};

struct RtpSenderStats {
  uint64_t packets_sent = 0;  // first transmissions
  uint64_t bytes_sent = 0;    // whole packets, first transmissions
  uint64_t payload_bytes_sent = 0;  // the SR octet count (section 6.4.1)
  uint64_t packets_retransmitted = 0;
  uint64_t bytes_retransmitted = 0;
  uint64_t nacks_received = 0;       // NACK messages
  uint64_t nacked_packets = 0;       // sequence numbers asked for
  uint64_t nack_misses = 0;          // asked for but no longer (or never) in the cache
  // Distinct cached packets asked for: lost at least once on the way. Against packets_sent
  // this is the loss before retransmission, which the report blocks' fraction lost hides
  // (a retransmission on the same SSRC counts as received, RFC 3550 appendix A.3).
  uint64_t packets_nacked = 0;
  uint64_t plis_received = 0;
  uint64_t firs_received = 0;
  uint64_t srs_sent = 0;
  uint64_t reports_received = 0;  // report blocks about this SSRC
  uint64_t rembs_received = 0;    // REMBs listing this SSRC
  std::optional<uint64_t> remb_bps;  // the latest of them
  // From the latest report block about this SSRC:
  uint8_t fraction_lost = 0;  // 1/256 units
  int32_t cumulative_lost = 0;
  uint32_t remote_jitter = 0;  // RTP timestamp units
  std::optional<Duration> rtt;  // RFC 3550 section 6.4.1: A - LSR - DLSR
};

class RtpSender {
 public:
  explicit RtpSender(RtpSenderConfig config);

  // Writes the next packet (next sequence number, this SSRC and payload type) into `out`
  // and returns its bytes (a prefix of `out`), or buffer_too_small/invalid_argument.
  // `rtp_timestamp` is the frame's media time in clock_rate units (the caller's encoder
  // clock); the SR maps `now` onto it.
  Result<std::span<const std::byte>> send(std::span<const std::byte> payload, bool marker,
                                          uint32_t rtp_timestamp, TimePoint now,
                                          std::span<std::byte> out,
                                          std::span<const ExtensionElement> extensions = {}) noexcept;

  // An RTCP compound from the remote side. Unknown packets and other SSRCs are ignored;
  // a malformed packet ends the walk (the ones before it count).
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound) noexcept;

  // The next packet to send again because of a NACK, as cached (same bytes). The bytes stay
  // valid until the next call of a non-const method.
  std::optional<std::span<const std::byte>> poll_retransmission(TimePoint now) noexcept;

  // The SR timer: nullopt until the first packet is sent.
  std::optional<TimePoint> next_timeout() const noexcept;
  void handle_timeout(TimePoint now) noexcept;
  // Writes a due SR (+ SDES CNAME) compound, stamped `now`, into `out`; returns its size,
  // 0 for none (or when `out` is too small: the SR then waits).
  std::size_t poll_rtcp(TimePoint now, std::span<std::byte> out) noexcept;

  // Set by a PLI or a new FIR for this SSRC; take_ clears it.
  bool keyframe_requested() const noexcept { return keyframe_requested_; }
  bool take_keyframe_request() noexcept {
    const bool r = keyframe_requested_;
    keyframe_requested_ = false;
    return r;
  }

  const RtpSenderStats& stats() const noexcept { return stats_; }
  uint32_t ssrc() const noexcept { return config_.ssrc; }
  uint16_t next_sequence() const noexcept { return static_cast<uint16_t>(next_seq_); }

 private:
  struct Slot {
    int64_t seq = -1;  // extended sequence number held, -1 for none
    TimePoint sent_at{};
    TimePoint resent_at{};
    bool resent = false;
    bool pending = false;  // queued for retransmission
    bool nacked = false;   // asked for at least once (counted in packets_nacked)
    std::size_t size = 0;
  };
  std::span<std::byte> slot_bytes(std::size_t index) noexcept {
    return {slab_.data() + index * config_.max_packet_size, config_.max_packet_size};
  }
  void on_nack(TimePoint now, uint16_t seq) noexcept;
  void on_report_block(TimePoint now, const ReportBlock& block) noexcept;

  RtpSenderConfig config_;
  int64_t next_seq_;  // extended sequence number of the next packet
  std::vector<Slot> slots_;
  std::vector<std::byte> slab_;  // slots_.size() x max_packet_size, allocated on first send
  Ring<int64_t> pending_;        // sequence numbers to retransmit, in NACK order
  RtcpTimer timer_;
  bool sent_any_ = false;
  uint32_t last_rtp_timestamp_ = 0;
  TimePoint last_send_time_{};
  bool sr_due_ = false;
  int fir_sequence_ = -1;  // the last FIR command sequence number seen (RFC 5104 4.3.1.2)
  bool keyframe_requested_ = false;
  RtpSenderStats stats_;
};

}  // namespace peer::rtp
