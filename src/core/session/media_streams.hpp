#pragma once
// The media pipelines of one negotiated m= section, between frames and plain RTP/RTCP:
//   send:    frame -> encoder (VP8, Opus) -> packetizer -> RtpSender (cache, SR)
//   receive: RtpReceiver (jitter buffer, NACK, PLI, RR) -> frame assembly -> decoder -> frame
// SRTP is the caller's (PeerImpl protects what comes out and unprotects what goes in).
// No I/O and no clock reads: `now` comes in, packets go out through a sink. One thread.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rtp/congestion.hpp"
#include "core/rtp/rtp_receiver.hpp"
#include "core/rtp/rtp_sender.hpp"
#include "core/rtp/rtp_stream.hpp"
#include "media/opus.hpp"
#include "media/video_frame.hpp"
#include "media/vp8_decoder.hpp"
#include "media/vp8_encoder.hpp"

namespace peer::session {

using rtp::TimePoint;

// A plain RTP or RTCP packet in a buffer with room behind it for the SRTP trailer: the
// sink may protect it in place (`buffer` is the whole room, `length` the packet).
using PacketSink = std::function<void(std::span<std::byte> buffer, std::size_t length, bool rtcp)>;

// Room behind a packet for SRTP's tag (srtp::kMaxOverhead is 20).
inline constexpr std::size_t kSrtpRoom = 32;
// RTP payload budget: 1200 bytes keeps a packet with headers, extensions and the SRTP tag
// well under a 1280-byte IPv6 path MTU (what libwebrtc uses too).
inline constexpr std::size_t kMaxRtpPayload = 1200;
inline constexpr std::size_t kPacketRoom = 1500;

struct SenderConfig {
  std::uint32_t ssrc = 0;
  std::uint8_t payload_type = 96;
  std::string cname;
  std::string mid;          // sent in the mid header extension when mid_extension != 0
  int mid_extension = 0;
  int abs_send_time_extension = 0;  // video: stamped on each packet when != 0 (for the receiver's estimate)
  // video
  std::string codec = "VP8";  // "VP8" or "H264" (H264: pre-encoded frames only)
  bool encoded = false;       // frames come encoded (send_encoded), no encoder is made
  int width = 640;
  int height = 480;
  int fps = 30;
  // Video: the most the encoder is given; congestion control may give less. Audio: Opus's
  // target (AudioOptions::bitrate_kbps).
  int bitrate_kbps = 1000;
  // audio
  int channels = 1;
};

class VideoSender {
 public:
  explicit VideoSender(const SenderConfig& config);
  // Encodes `frame` (a keyframe if one was asked for by PLI/FIR) and sends its packets.
  void send_frame(const media::VideoFrame& frame, TimePoint now, const PacketSink& sink);
  // Sends a frame encoded elsewhere (VP8 frame or H264 Annex B), packetized by the codec.
  void send_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us, TimePoint now,
                    const PacketSink& sink);
  // A PLI or FIR came since the last call (for encoded sources: the application's encoder).
  bool take_keyframe_request() { return sender_.take_keyframe_request(); }
  // RTCP from the remote: its receiver reports, NACKs (answered by poll), PLI and FIR, and
  // REMB. The loss in the reports and the REMB set the encoder's target (congestion.hpp).
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound);
  // What congestion control allows now, bit/s (at most the configured bitrate).
  std::uint64_t target_bps() const { return rate_.target_bps(); }
  // Retransmissions the remote asked for, and our sender reports when due.
  void poll(TimePoint now, const PacketSink& sink);
  std::optional<TimePoint> next_timeout() const { return sender_.next_timeout(); }
  void handle_timeout(TimePoint now) { sender_.handle_timeout(now); }
  std::optional<rtp::Duration> rtt() const { return sender_.stats().rtt; }
  std::uint32_t ssrc() const { return sender_.ssrc(); }
  nlohmann::json stats() const;

 private:
  void send_payloads(std::span<const std::byte> frame, std::int64_t timestamp_us, TimePoint now,
                     const PacketSink& sink);
  SenderConfig config_;
  std::optional<media::Vp8Encoder> encoder_;  // raw sources only
  media::EncodedFrame encoded_;
  rtp::RtpSender sender_;
  rtp::SendRateController rate_;
  std::uint64_t encoder_bps_;  // what the encoder was last given
  struct LossMark {
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_nacked = 0;
  } loss_mark_;  // the sender's counts at the last report block
  std::uint16_t picture_id_;
  std::uint32_t timestamp_base_;
  std::int64_t first_us_ = -1;
  std::uint64_t frames_sent_ = 0;
  std::uint64_t keyframes_sent_ = 0;
  std::vector<std::byte> payload_;
  std::vector<std::byte> packet_;
};

class AudioSender {
 public:
  explicit AudioSender(const SenderConfig& config);
  // 20 ms of interleaved PCM at 48 kHz (frame_samples() per channel).
  void send_pcm(std::span<const std::int16_t> pcm, TimePoint now, const PacketSink& sink);
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound) { sender_.handle_rtcp(now, compound); }
  void poll(TimePoint now, const PacketSink& sink);
  std::optional<TimePoint> next_timeout() const { return sender_.next_timeout(); }
  void handle_timeout(TimePoint now) { sender_.handle_timeout(now); }
  std::size_t frame_samples() const { return encoder_.frame_samples(); }
  std::uint32_t ssrc() const { return sender_.ssrc(); }
  nlohmann::json stats() const;

 private:
  SenderConfig config_;
  media::OpusEncoder encoder_;
  rtp::RtpSender sender_;
  std::uint32_t timestamp_;
  bool marker_next_ = true;  // RFC 7587 section 4.2: the first packet of a talkspurt
  std::vector<std::uint8_t> opus_;
  std::vector<std::byte> packet_;
};

struct ReceiverConfig {
  std::string codec = "VP8";  // video: "VP8" (decoded) or "H264" (handed on encoded only)
  std::uint32_t remote_ssrc = 0;
  std::uint32_t local_ssrc = 1;  // our RTCP's sender SSRC
  std::string cname;
  int abs_send_time_extension = 0;  // video: when != 0 the delay-based estimate is sent as REMB
  int channels = 2;  // audio: what the decoder outputs (Opus decodes to any count)
};

class VideoReceiver {
 public:
  using FrameSink = std::function<void(const media::VideoFrame&)>;
  // A complete frame before decoding: bytes, keyframe, RTP timestamp in microseconds.
  using EncodedSink = std::function<void(std::span<const std::byte>, bool keyframe, std::int64_t timestamp_us)>;
  explicit VideoReceiver(const ReceiverConfig& config);
  // One RTP packet of this stream; complete frames go to `on_encoded` (when set) and, VP8,
  // are decoded and handed to `on_frame` while it is set: with no `on_frame` nothing is
  // decoded, and decoding resumes at the next keyframe (asked for by PLI). A frame that cannot be assembled or decoded makes
  // the receiver ask for a keyframe (PLI).
  void handle_rtp(TimePoint now, const rtp::RtpView& packet, const FrameSink& on_frame,
                  const EncodedSink& on_encoded = {});
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound) { receiver_.handle_rtcp(now, compound); }
  // Our receiver reports, NACKs and PLIs.
  void poll(TimePoint now, const PacketSink& sink);
  std::optional<TimePoint> next_timeout() const { return receiver_.next_timeout(); }
  void handle_timeout(TimePoint now, const FrameSink& on_frame, const EncodedSink& on_encoded = {});
  void set_rtt(rtp::Duration rtt) { receiver_.set_rtt(rtt); }
  void request_keyframe(TimePoint now) { receiver_.request_keyframe(now); }
  std::uint32_t remote_ssrc() const { return config_.remote_ssrc; }
  // The delay-based bandwidth estimate sent as REMB (estimator().estimate_bps()).
  const rtp::DelayBasedEstimator& estimator() const { return estimator_; }
  nlohmann::json stats() const;

 private:
  void drain(TimePoint now, const FrameSink& on_frame, const EncodedSink& on_encoded);
  ReceiverConfig config_;
  rtp::RtpReceiver receiver_;
  rtp::DelayBasedEstimator estimator_;
  media::Vp8Decoder decoder_;
  media::VideoFrame frame_;
  std::vector<std::byte> assembled_;
  std::vector<std::span<const std::byte>> payloads_;
  std::vector<std::byte> packet_;
  std::uint64_t frames_decoded_ = 0;
  std::uint64_t decode_errors_ = 0;
  std::uint64_t keyframes_decoded_ = 0;
  bool decoder_idle_ = false;  // frames went undecoded: the next decode needs a keyframe
  int width_ = 0;
  int height_ = 0;
};

class AudioReceiver {
 public:
  using PcmSink = std::function<void(std::span<const std::int16_t> pcm, int channels, std::uint32_t timestamp)>;
  explicit AudioReceiver(const ReceiverConfig& config);
  void handle_rtp(TimePoint now, const rtp::RtpView& packet, const PcmSink& on_pcm);
  void handle_rtcp(TimePoint now, std::span<const std::byte> compound) { receiver_.handle_rtcp(now, compound); }
  void poll(TimePoint now, const PacketSink& sink);
  std::optional<TimePoint> next_timeout() const { return receiver_.next_timeout(); }
  void handle_timeout(TimePoint now) { receiver_.handle_timeout(now); }
  std::uint32_t remote_ssrc() const { return config_.remote_ssrc; }
  nlohmann::json stats() const;

 private:
  ReceiverConfig config_;
  rtp::RtpReceiver receiver_;
  media::OpusDecoder decoder_;
  std::vector<std::int16_t> pcm_;
  std::vector<std::byte> packet_;
  std::uint64_t frames_decoded_ = 0;
  std::uint64_t decode_errors_ = 0;
};

}  // namespace peer::session
