#include "core/rtp/rtp_receiver.hpp"

#include <algorithm>
#include <utility>

namespace peer::rtp {

RtpReceiver::RtpReceiver(RtpReceiverConfig config)
    : config_(std::move(config)),
      buffer_(config_.buffer, config_.format),
      nack_(config_.nack),
      timer_(config_.rtcp_interval, 0xD1B54A32D192ED03ull ^ config_.local_ssrc ^ (uint64_t{config_.remote_ssrc} << 32)) {
  nack_scratch_.reserve(config_.max_nack_per_message);
}

bool RtpReceiver::handle_rtp(TimePoint now, std::span<const std::byte> packet) {
  const auto view = parse_rtp(packet);
  return view && handle_rtp(now, *view);
}

bool RtpReceiver::handle_rtp(TimePoint now, const RtpView& packet) {
  if (packet.ssrc() != config_.remote_ssrc) return false;
  const int64_t seq = unwrapper_.unwrap(packet.sequence());
  ++stats_.packets_received;
  stats_.bytes_received += packet.bytes().size();
  ++received_;
  if (!started_) {
    started_ = true;
    base_seq_ = highest_seq_ = seq;
    first_arrival_ = now;
    timer_.start(now);
  }
  const int64_t previous_highest = highest_seq_;
  if (seq > highest_seq_) {
    highest_seq_ = seq;
    // Interarrival jitter (RFC 3550 A.8) over packets in sending order only: a packet that
    // is late because it was lost and sent again says nothing about the path's jitter.
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - first_arrival_).count();
    const auto arrival = static_cast<uint32_t>(static_cast<uint64_t>(us) * config_.clock_rate / 1000000);
    const auto transit = static_cast<int32_t>(arrival - packet.timestamp());
    if (have_transit_) {
      int64_t d = int64_t{transit} - last_transit_;
      if (d < 0) d = -d;
      jitter_q4_ += d - ((jitter_q4_ + 8) >> 4);
    }
    last_transit_ = transit;
    have_transit_ = true;
  }
  if (config_.nack_enabled) {
    if (nack_.on_packet(seq, now)) ++stats_.retransmitted_received;
  } else if (seq > previous_highest + 1) {
    buffer_.give_up_through(seq - 1);  // nobody will send it again
    stats_.packets_given_up += static_cast<uint64_t>(seq - previous_highest - 1);
    stats_.last_give_up = now;
  }
  if (buffer_.insert(packet, seq) == JitterBuffer::Insert::duplicate) ++stats_.duplicates;
  after_change(now);
  return true;
}

void RtpReceiver::after_change(TimePoint now) {
  if (const auto given_up = nack_.take_given_up()) {
    buffer_.give_up_through(*given_up);
    stats_.last_give_up = now;
  }
  if (buffer_.started()) nack_.clear_below(buffer_.head());
  if (buffer_.take_keyframe_wanted()) request_keyframe(now);
}

void RtpReceiver::handle_rtcp(TimePoint now, std::span<const std::byte> compound) noexcept {
  RtcpReader reader(compound);
  RtcpPacket packet;
  while (reader.next(packet)) {
    if (kind_of(packet) != RtcpKind::sender_report) continue;
    if (auto sr = parse_sender_report(packet); sr && sr->ssrc == config_.remote_ssrc) {
      last_sr_ = ntp_mid32(sr->info.ntp_time);  // LSR (RFC 3550 section 6.4.1)
      last_sr_arrival_ = now;
    }
  }
}

std::optional<Frame> RtpReceiver::poll_frame() { return buffer_.pop_frame(); }

void RtpReceiver::request_keyframe(TimePoint now) noexcept {
  if (pli_pending_) return;
  if (!stats_.last_pli || now - *stats_.last_pli >= pli_interval()) {
    pli_pending_ = true;
    pli_retry_at_.reset();
  } else {
    pli_retry_at_ = *stats_.last_pli + pli_interval();
  }
}

std::optional<TimePoint> RtpReceiver::next_timeout() const {
  std::optional<TimePoint> next;
  auto consider = [&](std::optional<TimePoint> t) {
    if (t && (!next || *t < *next)) next = t;
  };
  if (timer_.running()) consider(timer_.next());
  if (config_.nack_enabled) consider(nack_.next_timeout(rtt()));
  if (pli_retry_at_) consider(pli_retry_at_);
  return next;
}

void RtpReceiver::handle_timeout(TimePoint now) {
  if (config_.nack_enabled) nack_.handle_timeout(now, rtt());
  after_change(now);
  if (timer_.due(now)) rr_due_ = true;
  if (pli_retry_at_ && now >= *pli_retry_at_) {
    pli_retry_at_.reset();
    // Still nothing decodable since the last PLI (it or the keyframe was lost): again.
    if (buffer_.waiting_for_keyframe()) request_keyframe(now);
  }
}

ReportBlock RtpReceiver::report_block(TimePoint now, bool peek) {
  // RFC 3550 appendix A.3.
  ReportBlock block;
  block.ssrc = config_.remote_ssrc;
  const auto expected = static_cast<uint64_t>(highest_seq_ - base_seq_ + 1);
  const int64_t lost = static_cast<int64_t>(expected) - static_cast<int64_t>(received_);
  block.cumulative_lost = static_cast<int32_t>(std::clamp<int64_t>(lost, -0x800000, 0x7FFFFF));
  const uint64_t expected_interval = expected - expected_prior_;
  const uint64_t received_interval = received_ - received_prior_;
  const int64_t lost_interval = static_cast<int64_t>(expected_interval) - static_cast<int64_t>(received_interval);
  block.fraction_lost = (expected_interval == 0 || lost_interval <= 0)
                            ? 0
                            : static_cast<uint8_t>((static_cast<uint64_t>(lost_interval) << 8) / expected_interval);
  block.highest_sequence = static_cast<uint32_t>(highest_seq_);
  block.jitter = static_cast<uint32_t>(jitter_q4_ >> 4);
  block.last_sr = last_sr_;
  block.delay_since_last_sr = last_sr_ == 0 ? 0 : to_q16(now - last_sr_arrival_);
  if (!peek) {
    expected_prior_ = expected;
    received_prior_ = received_;
  }
  return block;
}

std::size_t RtpReceiver::poll_rtcp(TimePoint now, std::span<std::byte> out) {
  if (buffer_.take_keyframe_wanted()) request_keyframe(now);  // from poll_frame()
  nack_scratch_.clear();
  if (config_.nack_enabled && out.size() > 64) {
    nack_.collect(now, rtt(), nack_scratch_, std::min(config_.max_nack_per_message, (out.size() - 64) / 8));
  }
  const bool report = rr_due_ && started_;
  if (!report && nack_scratch_.empty() && !pli_pending_) return 0;

  RtcpWriter writer(out);
  if (report) {
    const ReportBlock block = report_block(now, false);
    writer.receiver_report(config_.local_ssrc, std::span<const ReportBlock>(&block, 1));
    if (!config_.cname.empty()) writer.sdes_cname(config_.local_ssrc, config_.cname);
  } else {
    writer.receiver_report(config_.local_ssrc);  // feedback compounds start with an RR
  }
  if (!nack_scratch_.empty()) writer.nack(config_.local_ssrc, config_.remote_ssrc, nack_scratch_);
  if (pli_pending_) writer.pli(config_.local_ssrc, config_.remote_ssrc);
  if (writer.error()) return 0;
  if (report) {
    rr_due_ = false;
    ++stats_.rrs_sent;
  }
  if (!nack_scratch_.empty()) {
    ++stats_.nacks_sent;
    stats_.nacked_packets += nack_scratch_.size();
  }
  if (pli_pending_) {
    pli_pending_ = false;
    ++stats_.plis_sent;
    stats_.last_pli = now;
    pli_retry_at_ = now + pli_interval();
  }
  return writer.size();
}

const RtpReceiverStats& RtpReceiver::stats() const {
  const auto& b = buffer_.stats();
  stats_.frames_complete = b.frames_complete;
  stats_.frames_dropped = b.frames_dropped;
  stats_.jitter = static_cast<uint32_t>(jitter_q4_ >> 4);
  stats_.rtt = rtt();
  if (config_.nack_enabled) stats_.packets_given_up = nack_.given_up_count();
  const auto expected = started_ ? highest_seq_ - base_seq_ + 1 : 0;
  stats_.packets_lost = static_cast<uint64_t>(std::max<int64_t>(expected - static_cast<int64_t>(received_), 0));
  return stats_;
}

}  // namespace peer::rtp
