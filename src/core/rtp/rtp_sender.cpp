#include "core/rtp/rtp_sender.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/rtp/rtcp.hpp"

namespace peer::rtp {

RtpSender::RtpSender(RtpSenderConfig config)
    : config_(std::move(config)),
      next_seq_(config_.initial_sequence),
      slots_(std::max<std::size_t>(config_.cache_packets, 1)),
      pending_(std::max<std::size_t>(config_.cache_packets, 1)),
      timer_(config_.rtcp_interval, 0x9E3779B97F4A7C15ull ^ config_.ssrc) {}

Result<std::span<const std::byte>> RtpSender::send(std::span<const std::byte> payload, bool marker,
                                                   uint32_t rtp_timestamp, TimePoint now,
                                                   std::span<std::byte> out,
                                                   std::span<const ExtensionElement> extensions) noexcept {
  RtpHeader header;
  header.marker = marker;
  header.payload_type = config_.payload_type;
  header.sequence = static_cast<uint16_t>(next_seq_);
  header.timestamp = rtp_timestamp;
  header.ssrc = config_.ssrc;
  const auto written = write_rtp(out, header, extensions, payload);
  if (!written) return written.error();
  const std::size_t size = *written;

  if (slab_.empty()) slab_.resize(slots_.size() * config_.max_packet_size);  // warm-up, once
  const std::size_t index = static_cast<std::size_t>(next_seq_) % slots_.size();
  Slot& slot = slots_[index];
  if (size <= config_.max_packet_size) {
    std::memcpy(slot_bytes(index).data(), out.data(), size);
    slot = Slot{next_seq_, now, {}, false, false, false, size};
  } else {
    slot = Slot{};  // too large to cache: a NACK for it will miss
  }
  ++next_seq_;
  ++stats_.packets_sent;
  stats_.bytes_sent += size;
  stats_.payload_bytes_sent += payload.size();
  last_rtp_timestamp_ = rtp_timestamp;
  last_send_time_ = now;
  sent_any_ = true;
  timer_.start(now);
  return std::span<const std::byte>(out.data(), size);
}

void RtpSender::on_nack(TimePoint now, uint16_t seq) noexcept {
  ++stats_.nacked_packets;
  // The extended number nearest to the last one sent (the NACK names recent packets).
  const int64_t last = next_seq_ - 1;
  const int64_t ext = last - static_cast<uint16_t>(static_cast<uint16_t>(last) - seq);
  Slot& slot = slots_[static_cast<std::size_t>(ext < 0 ? 0 : ext) % slots_.size()];
  if (ext < 0 || slot.seq != ext || now - slot.sent_at > config_.cache_age) {
    ++stats_.nack_misses;
    return;
  }
  if (!slot.nacked) {
    slot.nacked = true;
    ++stats_.packets_nacked;
  }
  if (slot.pending) return;
  // The same packet again within half an RTT is a NACK that crossed our retransmission.
  if (slot.resent && stats_.rtt && now - slot.resent_at < *stats_.rtt / 2) return;
  if (pending_.push_back(ext)) slot.pending = true;
}

void RtpSender::on_report_block(TimePoint now, const ReportBlock& block) noexcept {
  if (block.ssrc != config_.ssrc) return;
  ++stats_.reports_received;
  stats_.fraction_lost = block.fraction_lost;
  stats_.cumulative_lost = block.cumulative_lost;
  stats_.remote_jitter = block.jitter;
  // RFC 3550 section 6.4.1: RTT = A - LSR - DLSR in 1/65536 s; LSR 0 means no SR yet.
  if (block.last_sr != 0) {
    const uint32_t a = ntp_mid32(ntp_time(now, config_.ntp_offset));
    const uint32_t rtt = a - block.last_sr - block.delay_since_last_sr;
    if (rtt < 0x80000000u) stats_.rtt = from_q16(rtt);  // a negative one is a clock mishap
  }
}

void RtpSender::handle_rtcp(TimePoint now, std::span<const std::byte> compound) noexcept {
  RtcpReader reader(compound);
  RtcpPacket packet;
  while (reader.next(packet)) {
    switch (kind_of(packet)) {
      case RtcpKind::receiver_report:
        if (auto rr = parse_receiver_report(packet)) {
          for (std::size_t i = 0; i < rr->reports.size(); ++i) on_report_block(now, rr->reports[i]);
        }
        break;
      case RtcpKind::sender_report:
        if (auto sr = parse_sender_report(packet)) {
          for (std::size_t i = 0; i < sr->reports.size(); ++i) on_report_block(now, sr->reports[i]);
        }
        break;
      case RtcpKind::nack:
        if (auto nack = parse_nack(packet); nack && nack->media_ssrc == config_.ssrc) {
          ++stats_.nacks_received;
          nack->for_each_sequence([&](uint16_t seq) { on_nack(now, seq); });
        }
        break;
      case RtcpKind::pli:
        if (auto pli = parse_pli(packet); pli && pli->media_ssrc == config_.ssrc) {
          ++stats_.plis_received;
          keyframe_requested_ = true;
        }
        break;
      case RtcpKind::fir:
        if (auto fir = parse_fir(packet)) {
          for (std::size_t i = 0; i < fir->size(); ++i) {
            const FirEntry entry = (*fir)[i];
            // RFC 5104 section 4.3.1.2: a repeated sequence number is the same request.
            if (entry.ssrc != config_.ssrc || entry.sequence == fir_sequence_) continue;
            fir_sequence_ = entry.sequence;
            ++stats_.firs_received;
            keyframe_requested_ = true;
          }
        }
        break;
      case RtcpKind::remb:
        // draft-alvestrand-rmcat-remb-03 section 2.2: the estimate covers the SSRCs listed.
        if (auto remb = parse_remb(packet)) {
          for (std::size_t i = 0; i < remb->size(); ++i) {
            if (remb->ssrc(i) != config_.ssrc) continue;
            ++stats_.rembs_received;
            stats_.remb_bps = remb->bitrate_bps;
            break;
          }
        }
        break;
      default:
        break;
    }
  }
}

std::optional<std::span<const std::byte>> RtpSender::poll_retransmission(TimePoint now) noexcept {
  while (!pending_.empty()) {
    const int64_t ext = pending_.front();
    pending_.pop_front();
    const std::size_t index = static_cast<std::size_t>(ext) % slots_.size();
    Slot& slot = slots_[index];
    if (slot.seq != ext || !slot.pending) continue;  // overwritten meanwhile
    slot.pending = false;
    slot.resent = true;
    slot.resent_at = now;
    ++stats_.packets_retransmitted;
    stats_.bytes_retransmitted += slot.size;
    return std::span<const std::byte>(slot_bytes(index).data(), slot.size);
  }
  return std::nullopt;
}

std::optional<TimePoint> RtpSender::next_timeout() const noexcept {
  if (!timer_.running()) return std::nullopt;
  return timer_.next();
}

void RtpSender::handle_timeout(TimePoint now) noexcept {
  if (timer_.due(now)) sr_due_ = true;
}

std::size_t RtpSender::poll_rtcp(TimePoint now, std::span<std::byte> out) noexcept {
  if (!sr_due_) return 0;
  SenderInfo info;
  info.ntp_time = ntp_time(now, config_.ntp_offset);
  // The RTP time of `now` on the media clock of the last packet (section 6.4.1): the
  // caller stamps packets when it sends them, so the clock ran on since.
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(now - last_send_time_).count();
  info.rtp_timestamp = last_rtp_timestamp_ +
                       static_cast<uint32_t>(static_cast<uint64_t>(std::max<int64_t>(elapsed, 0)) *
                                             config_.clock_rate / 1000000);
  info.packet_count = static_cast<uint32_t>(stats_.packets_sent);
  info.octet_count = static_cast<uint32_t>(stats_.payload_bytes_sent);
  RtcpWriter writer(out);
  writer.sender_report(config_.ssrc, info);
  if (!config_.cname.empty()) writer.sdes_cname(config_.ssrc, config_.cname);
  if (writer.error()) return 0;
  sr_due_ = false;
  ++stats_.srs_sent;
  return writer.size();
}

}  // namespace peer::rtp
