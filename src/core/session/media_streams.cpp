#include "core/session/media_streams.hpp"

#include <algorithm>
#include <array>
#include <random>

#include "core/rtp/payload_h264.hpp"
#include "core/rtp/payload_opus.hpp"
#include "core/rtp/payload_vp8.hpp"
#include "core/rtp/rtp.hpp"

namespace peer::session {
namespace {

constexpr std::uint32_t kVideoClock = 90000;

// RFC 3550 section 5.1: initial sequence number and timestamp are random.
std::uint32_t random32() {
  static thread_local std::mt19937 rng{std::random_device{}()};
  return rng();
}

rtp::RtpSenderConfig sender_config(const SenderConfig& c, std::uint32_t clock_rate) {
  rtp::RtpSenderConfig r;
  r.ssrc = c.ssrc;
  r.payload_type = c.payload_type;
  r.clock_rate = clock_rate;
  r.initial_sequence = static_cast<std::uint16_t>(random32());
  r.cname = c.cname;
  r.max_packet_size = kPacketRoom - kSrtpRoom;
  return r;
}

// Copies a packet the sender holds into `room` (the sink protects it in place there).
void emit(std::span<const std::byte> packet, std::vector<std::byte>& room, bool rtcp, const PacketSink& sink) {
  if (packet.size() + kSrtpRoom > room.size()) return;
  std::copy(packet.begin(), packet.end(), room.begin());
  sink(room, packet.size(), rtcp);
}

std::uint32_t abs_send_time_at(TimePoint now) {
  return rtp::abs_send_time_from_us(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count()));
}

// Rewrites the abs-send-time element of the RTP packet in `packet` (when it has one).
void stamp_abs_send_time(std::span<std::byte> packet, int id, TimePoint now) {
  auto view = rtp::parse_rtp(packet);
  if (!view.ok()) return;
  auto element = view->find_extension(static_cast<std::uint8_t>(id));
  if (!element || element->size() != 3) return;
  const auto value = rtp::abs_send_time_data(abs_send_time_at(now));
  std::copy(value.begin(), value.end(), packet.begin() + (element->data() - packet.data()));
}

std::span<const std::uint8_t> as_u8(std::span<const std::byte> b) {
  return {reinterpret_cast<const std::uint8_t*>(b.data()), b.size()};
}

nlohmann::json sender_stats(const rtp::RtpSenderStats& s) {
  nlohmann::json j = {{"packetsSent", s.packets_sent},
                      {"bytesSent", s.bytes_sent},
                      {"retransmittedPacketsSent", s.packets_retransmitted},
                      {"nackCount", s.nacks_received},
                      {"pliCount", s.plis_received},
                      {"firCount", s.firs_received},
                      {"fractionLost", s.fraction_lost / 256.0}};
  if (s.rtt) j["roundTripTime"] = std::chrono::duration<double>(*s.rtt).count();
  return j;
}

nlohmann::json receiver_stats(const rtp::RtpReceiverStats& s) {
  return {{"packetsReceived", s.packets_received}, {"bytesReceived", s.bytes_received},
          {"packetsLost", s.packets_lost},         {"retransmittedPacketsReceived", s.retransmitted_received},
          {"nackCount", s.nacks_sent},             {"pliCount", s.plis_sent},
          {"framesComplete", s.frames_complete},   {"framesDropped", s.frames_dropped},
          {"jitter", s.jitter}};
}

}  // namespace

// --- video send ----------------------------------------------------------------------------

VideoSender::VideoSender(const SenderConfig& config)
    : config_(config),
      sender_(sender_config(config, kVideoClock)),
      rate_({.start_bps = static_cast<std::uint64_t>(config.bitrate_kbps) * 1000,
             .max_bps = static_cast<std::uint64_t>(config.bitrate_kbps) * 1000}),
      encoder_bps_(rate_.target_bps()),
      picture_id_(static_cast<std::uint16_t>(random32() & 0x7fff)),
      timestamp_base_(random32()),
      payload_(kMaxRtpPayload),
      packet_(kPacketRoom) {
  if (!config.encoded) {
    encoder_.emplace(media::Vp8Config{
        .width = config.width, .height = config.height, .bitrate_kbps = config.bitrate_kbps, .fps = config.fps});
  }
}

void VideoSender::send_frame(const media::VideoFrame& frame, TimePoint now, const PacketSink& sink) {
  if (!encoder_) return;
  if (sender_.take_keyframe_request()) encoder_->request_keyframe();
  if (!encoder_->encode(frame, encoded_).ok() || encoded_.data.empty()) return;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(encoded_.data.data()), encoded_.data.size());
  send_payloads(bytes, frame.timestamp_us, now, sink);
  if (encoded_.keyframe) ++keyframes_sent_;
}

void VideoSender::send_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us,
                               TimePoint now, const PacketSink& sink) {
  send_payloads(frame, timestamp_us, now, sink);
  if (keyframe) ++keyframes_sent_;
}

// Packetizes one encoded frame (RFC 7741 for VP8, RFC 6184 mode 1 for H264) and sends its
// packets, the marker on the last, all with the frame's 90 kHz timestamp.
void VideoSender::send_payloads(std::span<const std::byte> frame, std::int64_t timestamp_us, TimePoint now,
                                const PacketSink& sink) {
  if (first_us_ < 0) first_us_ = timestamp_us;
  const auto timestamp = timestamp_base_ + static_cast<std::uint32_t>((timestamp_us - first_us_) * 9 / 100);
  // abs-send-time: all of a frame's packets leave now (there is no pacer).
  const auto send_time = rtp::abs_send_time_data(abs_send_time_at(now));
  std::array<rtp::ExtensionElement, 2> elements;
  std::size_t count = 0;
  if (config_.mid_extension != 0) elements[count++] = {static_cast<std::uint8_t>(config_.mid_extension), rtp::mid_data(config_.mid)};
  if (config_.abs_send_time_extension != 0) {
    elements[count++] = {static_cast<std::uint8_t>(config_.abs_send_time_extension), send_time};
  }
  const std::span<const rtp::ExtensionElement> extensions(elements.data(), count);
  auto send_all = [&](auto& p) {
    while (!p.done()) {
      auto piece = p.next(payload_);
      if (!piece.ok()) return false;
      auto packet = sender_.send(std::span<const std::byte>(payload_.data(), piece->size), piece->marker, timestamp,
                                 now, std::span<std::byte>(packet_.data(), packet_.size() - kSrtpRoom), extensions);
      if (!packet.ok()) return false;
      sink(packet_, packet->size(), false);
    }
    return true;
  };
  bool sent = false;
  if (config_.codec == "H264") {
    auto packetizer = rtp::H264Packetizer::create(frame, kMaxRtpPayload);
    if (!packetizer.ok()) return;  // not Annex B, or a NAL unit type mode 1 cannot carry
    rtp::H264Packetizer p = *packetizer;
    sent = send_all(p);
  } else {
    auto packetizer = rtp::Vp8Packetizer::create(frame, kMaxRtpPayload, picture_id_);
    if (!packetizer.ok()) return;
    picture_id_ = (picture_id_ + 1) & 0x7fff;
    rtp::Vp8Packetizer p = *packetizer;
    sent = send_all(p);
  }
  if (sent) ++frames_sent_;
}

void VideoSender::handle_rtcp(TimePoint now, std::span<const std::byte> compound) {
  const std::uint64_t reports = sender_.stats().reports_received;
  const std::uint64_t rembs = sender_.stats().rembs_received;
  sender_.handle_rtcp(now, compound);
  const auto& after = sender_.stats();
  if (after.reports_received != reports) {
    // The loss GCC's loss-based control sees: the report's fraction lost, or, when more,
    // the share of packets sent since the last report that the receiver NACKed (loss
    // before retransmission, which the report's count hides).
    const std::uint64_t sent = after.packets_sent - loss_mark_.packets_sent;
    const std::uint64_t nacked = after.packets_nacked - loss_mark_.packets_nacked;
    std::uint64_t fraction = after.fraction_lost;
    if (sent >= 10) fraction = std::max<std::uint64_t>(fraction, std::min<std::uint64_t>(255, nacked * 256 / sent));
    loss_mark_ = {after.packets_sent, after.packets_nacked};
    rate_.on_loss_report(static_cast<std::uint8_t>(fraction), now);
  }
  if (after.rembs_received != rembs && after.remb_bps) rate_.on_remb(*after.remb_bps);
  // The encoder follows the target; moves under 3% are not worth a rate-control update.
  const std::uint64_t target = rate_.target_bps();
  if (encoder_ && (target * 100 < encoder_bps_ * 97 || target * 100 > encoder_bps_ * 103)) {
    if (encoder_->set_bitrate(static_cast<int>(target / 1000)).ok()) encoder_bps_ = target;
  }
}

void VideoSender::poll(TimePoint now, const PacketSink& sink) {
  while (auto packet = sender_.poll_retransmission(now)) {
    if (packet->size() + kSrtpRoom > packet_.size()) continue;
    std::copy(packet->begin(), packet->end(), packet_.begin());
    // A retransmission leaves now: its abs-send-time says so, or the receiver's estimator
    // would read the round trip it spent as queueing delay (libwebrtc stamps it again too).
    if (config_.abs_send_time_extension != 0) {
      stamp_abs_send_time(std::span<std::byte>(packet_.data(), packet->size()), config_.abs_send_time_extension, now);
    }
    sink(packet_, packet->size(), false);
  }
  if (const std::size_t n = sender_.poll_rtcp(now, std::span<std::byte>(packet_.data(), packet_.size() - kSrtpRoom))) {
    sink(packet_, n, true);
  }
}

nlohmann::json VideoSender::stats() const {
  auto j = sender_stats(sender_.stats());
  j["framesEncoded"] = frames_sent_;
  j["keyFramesEncoded"] = keyframes_sent_;
  j["targetBitrate"] = rate_.target_bps();
  if (rate_.remb_bps()) j["rembBitrate"] = *rate_.remb_bps();
  return j;
}

// --- audio send ----------------------------------------------------------------------------

AudioSender::AudioSender(const SenderConfig& config)
    : config_(config),
      encoder_(media::OpusConfig{.channels = config.channels, .bitrate_bps = config.bitrate_kbps * 1000}),
      sender_(sender_config(config, rtp::kOpusClockRate)),
      timestamp_(random32()),
      opus_(media::kMaxOpusPacket),
      packet_(kPacketRoom) {}

void AudioSender::send_pcm(std::span<const std::int16_t> pcm, TimePoint now, const PacketSink& sink) {
  auto size = encoder_.encode(pcm, opus_);
  if (!size.ok()) return;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(opus_.data()), *size);
  auto payload = rtp::packetize_opus(bytes, marker_next_);
  if (!payload.ok()) return;
  const rtp::ExtensionElement mid{static_cast<std::uint8_t>(config_.mid_extension), rtp::mid_data(config_.mid)};
  const std::span<const rtp::ExtensionElement> extensions(&mid, config_.mid_extension != 0 ? 1 : 0);
  auto packet = sender_.send(payload->payload, payload->marker, timestamp_, now,
                             std::span<std::byte>(packet_.data(), packet_.size() - kSrtpRoom), extensions);
  marker_next_ = false;
  timestamp_ += payload->samples;  // RFC 7587 section 4.1: the 48 kHz clock whatever the rate
  if (packet.ok()) sink(packet_, packet->size(), false);
}

void AudioSender::poll(TimePoint now, const PacketSink& sink) {
  while (auto packet = sender_.poll_retransmission(now)) emit(*packet, packet_, false, sink);
  if (const std::size_t n = sender_.poll_rtcp(now, std::span<std::byte>(packet_.data(), packet_.size() - kSrtpRoom))) {
    sink(packet_, n, true);
  }
}

nlohmann::json AudioSender::stats() const { return sender_stats(sender_.stats()); }

// --- video receive -------------------------------------------------------------------------

namespace {

rtp::RtpReceiverConfig video_receiver_config(const ReceiverConfig& c) {
  rtp::RtpReceiverConfig r;
  r.remote_ssrc = c.remote_ssrc;
  r.local_ssrc = c.local_ssrc;
  r.clock_rate = kVideoClock;
  r.cname = c.cname;
  if (c.codec == "H264") {
    // RFC 6184 section 5.1: the marker ends an access unit; it starts with anything but the
    // middle or end of a FU-A. A keyframe carries an IDR slice or an SPS.
    r.format.is_frame_start = [](const rtp::RtpView& p) {
      auto h = rtp::parse_h264(p.payload());
      return h.ok() && (h->kind != rtp::H264PacketKind::fu_a || h->fu_start);
    };
    r.format.is_keyframe = [](const rtp::RtpView& p) {
      auto h = rtp::parse_h264(p.payload());
      return h.ok() && h->keyframe;
    };
  } else {
    // RFC 7741 section 4.4: a frame starts with S=1 and PID=0 and ends with the marker; a
    // keyframe is told by the P bit of the VP8 payload header (section 4.3).
    r.format.is_frame_start = [](const rtp::RtpView& p) {
      auto vp8 = rtp::parse_vp8(p.payload());
      return vp8.ok() && vp8->begins_frame();
    };
    r.format.is_keyframe = [](const rtp::RtpView& p) {
      auto vp8 = rtp::parse_vp8(p.payload());
      return vp8.ok() && vp8->begins_frame() && vp8->keyframe;
    };
  }
  r.buffer.max_packet_size = kPacketRoom;
  return r;
}

rtp::RtpReceiverConfig audio_receiver_config(const ReceiverConfig& c) {
  rtp::RtpReceiverConfig r;
  r.remote_ssrc = c.remote_ssrc;
  r.local_ssrc = c.local_ssrc;
  r.clock_rate = rtp::kOpusClockRate;
  r.cname = c.cname;
  // One Opus packet is one frame (RFC 7587 section 4.2); a lost one is concealed, not
  // asked for again (no NACK is negotiated for audio).
  r.format.is_frame_start = [](const rtp::RtpView&) { return true; };
  r.format.is_frame_end = [](const rtp::RtpView&) { return true; };
  r.nack_enabled = false;
  r.buffer.max_packet_size = kPacketRoom;
  return r;
}

}  // namespace

VideoReceiver::VideoReceiver(const ReceiverConfig& config)
    : config_(config), receiver_(video_receiver_config(config)), packet_(kPacketRoom) {}

void VideoReceiver::handle_rtp(TimePoint now, const rtp::RtpView& packet, const FrameSink& on_frame,
                               const EncodedSink& on_encoded) {
  if (packet.ssrc() == config_.remote_ssrc) {
    std::optional<std::uint32_t> send_time;
    if (config_.abs_send_time_extension != 0) {
      if (auto data = packet.find_extension(static_cast<std::uint8_t>(config_.abs_send_time_extension))) {
        send_time = rtp::read_abs_send_time(*data);
      }
    }
    if (send_time) {
      estimator_.on_packet(now, *send_time, packet.bytes().size());
    } else {
      estimator_.on_packet_without_send_time(now, packet.bytes().size());
    }
  }
  receiver_.handle_rtp(now, packet);
  drain(now, on_frame, on_encoded);
}

void VideoReceiver::handle_timeout(TimePoint now, const FrameSink& on_frame, const EncodedSink& on_encoded) {
  receiver_.handle_timeout(now);
  drain(now, on_frame, on_encoded);
}

void VideoReceiver::drain(TimePoint now, const FrameSink& on_frame, const EncodedSink& on_encoded) {
  while (auto frame = receiver_.poll_frame()) {
    payloads_.clear();
    std::size_t total = 0;
    for (const auto& p : frame->packets) {
      payloads_.push_back(p.payload());
      total += p.payload().size();
    }
    const auto timestamp_us = static_cast<std::int64_t>(frame->timestamp) * 100 / 9;
    if (config_.codec == "H264") {
      // Annex B grows each NAL unit by a 4-byte start code (less the 2-byte FU-A and STAP-A
      // headers it replaces): twice the payload bytes and 8 per packet always hold it.
      const std::size_t room = total * 2 + 8 * frame->packets.size();
      if (assembled_.size() < room) assembled_.resize(room);
      auto h264 = rtp::assemble_h264(payloads_, assembled_);
      if (!h264.ok()) {
        ++decode_errors_;
        receiver_.request_keyframe(now);
        continue;
      }
      ++frames_decoded_;  // handed on: peer does not decode H264
      if (h264->keyframe) ++keyframes_decoded_;
      if (on_encoded) on_encoded(std::span<const std::byte>(assembled_.data(), h264->size), h264->keyframe, timestamp_us);
      continue;
    }
    if (assembled_.size() < total) assembled_.resize(total);
    auto vp8 = rtp::assemble_vp8(payloads_, assembled_);
    if (vp8.ok() && on_encoded) on_encoded(std::span<const std::byte>(assembled_.data(), vp8->size), vp8->keyframe, timestamp_us);
    if (vp8.ok() && !on_frame) {  // nobody wants pictures: no decoding (a relay, a recorder)
      decoder_idle_ = true;
      continue;
    }
    if (vp8.ok() && decoder_idle_) {
      // The decoder missed the frames this one refers to: wait for a keyframe, asked for by
      // PLI (RFC 4585 section 6.3.1; the receiver spaces its PLIs).
      if (!vp8->keyframe) {
        receiver_.request_keyframe(now);
        continue;
      }
      decoder_idle_ = false;
    }
    if (!vp8.ok() ||
        !decoder_.decode(as_u8(std::span<const std::byte>(assembled_.data(), vp8->size)), timestamp_us, frame_).ok()) {
      ++decode_errors_;
      receiver_.request_keyframe(now);  // RFC 4585 section 6.3.1: PLI
      continue;
    }
    ++frames_decoded_;
    if (vp8->keyframe) ++keyframes_decoded_;
    width_ = frame_.width();
    height_ = frame_.height();
    if (on_frame) on_frame(frame_);
  }
}

void VideoReceiver::poll(TimePoint now, const PacketSink& sink) {
  const std::span<std::byte> room(packet_.data(), packet_.size() - kSrtpRoom);
  std::size_t n = receiver_.poll_rtcp(now, room);
  // The delay-based estimate (congestion.hpp) rides on every compound we send as a REMB
  // (draft-alvestrand-rmcat-remb-03); a fall of 3% or more goes out at once, in a compound
  // of its own (an RR without report blocks first, RFC 3550 section 6.1). Without
  // abs-send-time there is no estimate and no REMB: the sender's own control decides.
  const auto estimate = estimator_.estimate_bps();
  if (n == 0 && !estimator_.decrease_pending()) return;
  if (n == 0) {
    rtp::RtcpWriter rr(room);
    rr.receiver_report(config_.local_ssrc);
    if (rr.error()) return;
    n = rr.size();
  }
  if (estimate) {
    rtp::RtcpWriter remb(room.subspan(n));
    const std::uint32_t ssrc = config_.remote_ssrc;
    if (remb.remb(config_.local_ssrc, *estimate, std::span<const std::uint32_t>(&ssrc, 1))) {
      n += remb.size();
      estimator_.reported();
    }
  }
  sink(packet_, n, true);
}

nlohmann::json VideoReceiver::stats() const {
  auto j = receiver_stats(receiver_.stats());
  j["framesDecoded"] = frames_decoded_;
  j["keyFramesDecoded"] = keyframes_decoded_;
  j["decodeErrors"] = decode_errors_;
  j["frameWidth"] = width_;
  j["frameHeight"] = height_;
  if (auto estimate = estimator_.estimate_bps()) j["estimatedBitrate"] = *estimate;
  return j;
}

// --- audio receive -------------------------------------------------------------------------

AudioReceiver::AudioReceiver(const ReceiverConfig& config)
    : config_(config),
      receiver_(audio_receiver_config(config)),
      decoder_(48000, config.channels),
      pcm_(5760 * 2),  // 120 ms at 48 kHz, stereo: the longest Opus packet (RFC 6716 3.2.1)
      packet_(kPacketRoom) {}

void AudioReceiver::handle_rtp(TimePoint now, const rtp::RtpView& packet, const PcmSink& on_pcm) {
  receiver_.handle_rtp(now, packet);
  while (auto frame = receiver_.poll_frame()) {
    for (const auto& p : frame->packets) {
      auto n = decoder_.decode(as_u8(p.payload()), pcm_);
      if (!n.ok()) {
        ++decode_errors_;
        continue;
      }
      ++frames_decoded_;
      const auto samples = *n * static_cast<std::size_t>(decoder_.channels());
      if (on_pcm) on_pcm(std::span<const std::int16_t>(pcm_.data(), samples), decoder_.channels(), frame->timestamp);
    }
  }
}

void AudioReceiver::poll(TimePoint now, const PacketSink& sink) {
  if (const std::size_t n = receiver_.poll_rtcp(now, std::span<std::byte>(packet_.data(), packet_.size() - kSrtpRoom))) {
    sink(packet_, n, true);
  }
}

nlohmann::json AudioReceiver::stats() const {
  auto j = receiver_stats(receiver_.stats());
  j["framesDecoded"] = frames_decoded_;
  j["decodeErrors"] = decode_errors_;
  return j;
}

}  // namespace peer::session
