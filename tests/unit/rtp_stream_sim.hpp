#pragma once
// A sender and a receiver of one RTP stream over tests/support/sim_link.hpp with a virtual
// clock: side 0 is the sender (RTP, retransmissions, SR), side 1 the receiver (RR, NACK,
// PLI). The "encoder" makes frames of 1..5 packets every frame interval; the first payload
// byte says start (bit 0) and keyframe (bit 1); the marker ends a frame. It makes a
// keyframe first and whenever the sender reports a keyframe request.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "core/demux.hpp"
#include "core/rtp/rtp_receiver.hpp"
#include "core/rtp/rtp_sender.hpp"
#include "../support/sim_link.hpp"

namespace peer::rtp::test {

inline FrameFormat test_format() {
  FrameFormat f;
  f.is_frame_start = [](const RtpView& p) {
    return !p.payload().empty() && (std::to_integer<int>(p.payload()[0]) & 1);
  };
  f.is_keyframe = [](const RtpView& p) {
    return !p.payload().empty() && (std::to_integer<int>(p.payload()[0]) & 2);
  };
  return f;
}

struct SimOptions {
  uint64_t seed = 1;
  peer::test::Impairments media;     // sender -> receiver
  peer::test::Impairments feedback;  // receiver -> sender
  int frames = 300;
  Duration frame_interval = std::chrono::microseconds(33333);
  RtpSenderConfig sender;
  RtpReceiverConfig receiver;
  bool feed_rtt = true;  // receiver.set_rtt(sender's measured RTT), as the glue would
};

struct ReleasedFrame {
  TimePoint at;
  uint32_t timestamp;
  bool keyframe;
  std::size_t packets;
};

class StreamSim {
 public:
  explicit StreamSim(SimOptions o)
      : o_(std::move(o)),
        link_(o_.seed, o_.media, o_.feedback),
        sender_(o_.sender),
        receiver_(o_.receiver),
        rng_(o_.seed * 7919 + 1) {}

  // Runs until every frame was sent and `tail` more has passed. `at_step` is called at every
  // step (to change impairments, watch stats).
  template <class F>
  void run(Duration tail, F&& at_step) {
    next_frame_ = now_;
    const TimePoint none = TimePoint::max();
    for (;;) {
      at_step(*this);
      if (sent_frames_ < o_.frames && now_ >= next_frame_) {
        encode_frame();
        next_frame_ += o_.frame_interval;
      }
      link_.deliver(1, now_, [&](std::span<const std::byte> d) {
        if (peer::is_rtcp(d)) receiver_.handle_rtcp(now_, d);
        else receiver_.handle_rtp(now_, d);
      });
      link_.deliver(0, now_, [&](std::span<const std::byte> d) { sender_.handle_rtcp(now_, d); });
      if (o_.feed_rtt && sender_.stats().rtt) receiver_.set_rtt(*sender_.stats().rtt);
      if (auto t = sender_.next_timeout(); t && *t <= now_) sender_.handle_timeout(now_);
      if (auto t = receiver_.next_timeout(); t && *t <= now_) receiver_.handle_timeout(now_);
      while (auto f = receiver_.poll_frame()) {
        released_.push_back({now_, f->timestamp, f->keyframe, f->packets.size()});
      }
      flush();
      if (sent_frames_ >= o_.frames && now_ >= last_frame_at_ + tail) break;
      // The next event.
      TimePoint next = sent_frames_ < o_.frames ? next_frame_ : last_frame_at_ + tail;
      auto consider = [&](std::optional<TimePoint> t) {
        if (t) next = std::min(next, *t);
      };
      consider(link_.next_due());
      consider(sender_.next_timeout());
      consider(receiver_.next_timeout());
      if (next <= now_) next = now_ + std::chrono::microseconds(100);  // never stall
      if (next == none) break;
      now_ = next;
    }
  }
  void run(Duration tail) {
    run(tail, [](StreamSim&) {});
  }

  TimePoint now() const { return now_; }
  peer::test::SimLink& link() { return link_; }
  RtpSender& sender() { return sender_; }
  RtpReceiver& receiver() { return receiver_; }
  const std::vector<ReleasedFrame>& released() const { return released_; }
  int sent_frames() const { return sent_frames_; }
  uint64_t rtp_sent() const { return rtp_sent_; }
  // When each keyframe was encoded (the first included).
  const std::vector<TimePoint>& keyframes_sent() const { return keyframes_sent_; }
  // Fraction-lost values (0..255) of every report block the sender got, with the time.
  const std::vector<std::pair<TimePoint, uint8_t>>& fractions() const { return fractions_; }
  uint32_t timestamp_of(int frame) const { return static_cast<uint32_t>(1000 + 3000 * frame); }

 private:
  void encode_frame() {
    const bool key = sent_frames_ == 0 || sender_.take_keyframe_request();
    if (key) keyframes_sent_.push_back(now_);
    const int packets = std::uniform_int_distribution<int>(1, 5)(rng_);
    const uint32_t ts = timestamp_of(sent_frames_);
    for (int i = 0; i < packets; ++i) {
      std::array<std::byte, 1000> payload{};
      payload[0] = std::byte(static_cast<uint8_t>((i == 0 ? 1 : 0) | (key ? 2 : 0)));
      payload[1] = std::byte(static_cast<uint8_t>(sent_frames_));
      auto p = sender_.send(payload, i == packets - 1, ts, now_, buf_);
      ASSERT_TRUE(p.ok());
      link_.send(0, now_, *p);
      ++rtp_sent_;
    }
    ++sent_frames_;
    last_frame_at_ = now_;
  }
  void flush() {
    while (auto p = sender_.poll_retransmission(now_)) link_.send(0, now_, *p);
    while (auto n = sender_.poll_rtcp(now_, buf_)) link_.send(0, now_, std::span(buf_).first(n));
    while (auto n = receiver_.poll_rtcp(now_, buf_)) {
      // Watch what the sender will read: the fraction lost of each report block.
      RtcpReader reader{std::span<const std::byte>(buf_.data(), n)};
      RtcpPacket packet;
      while (reader.next(packet)) {
        if (kind_of(packet) != RtcpKind::receiver_report) continue;
        auto rr = parse_receiver_report(packet);
        if (rr && rr->reports.size() == 1) fractions_.emplace_back(now_, rr->reports[0].fraction_lost);
      }
      link_.send(1, now_, std::span(buf_).first(n));
    }
  }

  SimOptions o_;
  peer::test::SimLink link_;
  RtpSender sender_;
  RtpReceiver receiver_;
  std::mt19937 rng_;
  TimePoint now_ = TimePoint(std::chrono::seconds(1000));
  TimePoint next_frame_{};
  TimePoint last_frame_at_{};
  int sent_frames_ = 0;
  uint64_t rtp_sent_ = 0;
  std::array<std::byte, 1500> buf_{};
  std::vector<ReleasedFrame> released_;
  std::vector<TimePoint> keyframes_sent_;
  std::vector<std::pair<TimePoint, uint8_t>> fractions_;
};

inline SimOptions default_options() {
  SimOptions o;
  o.sender.ssrc = 0x11111111;
  o.sender.payload_type = 96;
  o.sender.cname = "sender";
  o.receiver.remote_ssrc = 0x11111111;
  o.receiver.local_ssrc = 0x22222222;
  o.receiver.format = test_format();
  o.media.delay = std::chrono::milliseconds(10);
  o.feedback.delay = std::chrono::milliseconds(10);
  return o;
}

}  // namespace peer::rtp::test
