#pragma once
// The receiving side of one RTP stream (one remote SSRC): sequence numbers unwrapped to 64
// bits (RFC 3550 appendix A.1), frames assembled and released in order (JitterBuffer),
// missing packets asked for with generic NACK (RFC 4585 section 6.2.1, NackTracker),
// keyframes asked for with PLI (RFC 4585 section 6.3.1) when a frame is lost for good,
// interarrival jitter (appendix A.8), and receiver reports (section 6.4.2, appendix A.3)
// on the section 6.3 timer.
//
//   RtpReceiver r(config);
//   r.handle_rtp(now, bytes);                 r.handle_rtcp(now, compound);  // SR -> LSR
//   while (auto f = r.poll_frame()) decode(*f);
//   if (now >= r.next_timeout()) r.handle_timeout(now);
//   while (auto n = r.poll_rtcp(now, out)) transmit(out.first(n));         // RR, NACK, PLI
//
// Feedback goes out at once (RFC 4585 early feedback, no T_rr_interval wait): a compound of
// an RR without report blocks plus the NACK and/or PLI; report blocks go only in the
// periodic RR, so each covers about one interval (fraction lost). The receiver cannot
// measure RTT on its own (that would need RTCP XR DLRR, RFC 3611): set_rtt() gives it the
// RTT the local sender measured; until then default_rtt is used.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/rtp/jitter_buffer.hpp"
#include "core/rtp/nack_tracker.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp_stream.hpp"

namespace peer::rtp {

struct RtpReceiverConfig {
  uint32_t remote_ssrc = 0;  // the media SSRC received
  uint32_t local_ssrc = 1;   // the SSRC our RTCP is sent as
  uint32_t clock_rate = 90000;
  std::string cname;         // SDES CNAME with each periodic RR when not empty
  FrameFormat format;
  JitterBufferConfig buffer;
  NackConfig nack;
  bool nack_enabled = true;  // off: a gap is given up at once
  Duration default_rtt = std::chrono::milliseconds(100);
  // PLIs are at least max(this, RTT) apart, repeated while no keyframe came.
  Duration min_pli_interval = std::chrono::milliseconds(200);
  Duration rtcp_interval = std::chrono::seconds(1);
  std::size_t max_nack_per_message = 128;  // the rest go in the next compound
};

struct RtpReceiverStats {
  uint64_t packets_received = 0;  // every valid packet of this SSRC, duplicates included
  uint64_t bytes_received = 0;
  uint64_t duplicates = 0;
  uint64_t packets_lost = 0;  // RFC 3550 A.3 cumulative: expected - received
  uint64_t retransmitted_received = 0;  // packets that arrived after a NACK for them
  uint64_t nacks_sent = 0;              // NACK messages
  uint64_t nacked_packets = 0;          // sequence numbers in them (retries included)
  uint64_t packets_given_up = 0;
  uint64_t plis_sent = 0;
  uint64_t frames_complete = 0;
  uint64_t frames_dropped = 0;
  uint64_t rrs_sent = 0;
  uint32_t jitter = 0;  // RTP timestamp units (A.8)
  Duration rtt{};       // what NACK timing uses
  std::optional<TimePoint> last_give_up;  // when a packet was last given up
  std::optional<TimePoint> last_pli;      // when a PLI last went out
};

class RtpReceiver {
 public:
  explicit RtpReceiver(RtpReceiverConfig config);

  // An RTP packet (parsed or not). Packets of other SSRCs and malformed ones are ignored
  // (false).
  bool handle_rtp(TimePoint now, std::span<const std::byte> packet);
  bool handle_rtp(TimePoint now, const RtpView& packet);
  // RTCP from the remote sender: its SR (for LSR/DLSR). Other packets are ignored.
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound) noexcept;

  // The next complete frame, in order; its views are valid until the next non-const call.
  std::optional<Frame> poll_frame();

  std::optional<TimePoint> next_timeout() const;
  void handle_timeout(TimePoint now);
  // Writes the next RTCP compound due at `now` (RR; NACK; PLI) into `out`, returns its
  // size, 0 when nothing is due. `out` should hold at least 100 bytes.
  std::size_t poll_rtcp(TimePoint now, std::span<std::byte> out);

  // Asks for a keyframe (PLI), e.g. when the decoder failed; rate-limited.
  void request_keyframe(TimePoint now) noexcept;
  void set_rtt(Duration rtt) noexcept { rtt_ = rtt; }
  Duration rtt() const noexcept { return rtt_.value_or(config_.default_rtt); }

  // The report block about the remote SSRC as of `now` (without touching the interval
  // counters when `peek`).
  ReportBlock report_block(TimePoint now, bool peek = true);
  const RtpReceiverStats& stats() const;

 private:
  void after_change(TimePoint now);
  Duration pli_interval() const noexcept { return std::max(config_.min_pli_interval, rtt()); }

  RtpReceiverConfig config_;
  SequenceUnwrapper unwrapper_;
  JitterBuffer buffer_;
  NackTracker nack_;
  RtcpTimer timer_;
  std::optional<Duration> rtt_;
  std::vector<uint16_t> nack_scratch_;
  // Statistics (RFC 3550 appendix A.3).
  bool started_ = false;
  int64_t base_seq_ = 0;
  int64_t highest_seq_ = 0;
  uint64_t received_ = 0;  // distinct or not, as A.3 counts them
  uint64_t expected_prior_ = 0;
  uint64_t received_prior_ = 0;
  TimePoint first_arrival_{};
  int64_t last_transit_ = 0;
  bool have_transit_ = false;
  int64_t jitter_q4_ = 0;  // jitter x 16 (A.8)
  // LSR / DLSR.
  uint32_t last_sr_ = 0;
  TimePoint last_sr_arrival_{};
  bool rr_due_ = false;
  bool pli_pending_ = false;
  std::optional<TimePoint> pli_retry_at_;
  mutable RtpReceiverStats stats_;
};

}  // namespace peer::rtp
