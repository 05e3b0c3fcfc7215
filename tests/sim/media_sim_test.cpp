// VP8 video between session::VideoSender and session::VideoReceiver (the pipelines a Peer
// runs per m= section: libvpx, RFC 7741 packetization, the RTP sender's retransmission
// cache and SR, the receiver's jitter buffer, NACK, PLI and RR) over the seeded in-memory
// link of tests/support/sim_link.hpp, on a virtual clock: 10 s of the 640x480 test pattern
// at 30 fps, 10 ms each way. SRTP is left out here (unit_srtp and the Peer tests cover it).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "../support/sim_link.hpp"
#include "core/demux.hpp"
#include "core/rtp/rtp.hpp"
#include "core/session/media_streams.hpp"
#include "media/analysis.hpp"
#include "media/test_pattern.hpp"

namespace {

using namespace std::chrono_literals;
using peer::session::TimePoint;

struct VideoSimResult {
  int sent = 0;
  int decoded = 0;
  bool numbers_in_order = true;  // the frame numbers read back from the pictures rise
  nlohmann::json sender, receiver;
  std::vector<TimePoint> plis;            // when the receiver's PLI counter rose
  std::vector<TimePoint> keyframes_in;    // when a keyframe was decoded
};

struct VideoSim {
  std::uint64_t seed = 1;
  peer::test::Impairments media, feedback;
  int frames = 300;
  // Called at each 1 ms step with the time since the start: may change the link.
  std::function<void(std::chrono::milliseconds, peer::test::SimLink&)> at_step;

  VideoSimResult run() {
    media.delay = feedback.delay = 10ms;
    peer::test::SimLink link(seed, media, feedback);
    peer::session::SenderConfig sc;
    sc.ssrc = 1111;
    sc.cname = "sim";
    sc.mid = "0";
    sc.mid_extension = 1;
    peer::session::VideoSender sender(sc);
    peer::session::VideoReceiver receiver({.remote_ssrc = 1111, .local_ssrc = 2222, .cname = "sim"});
    peer::media::TestPattern pattern(640, 480, 30);
    peer::media::VideoFrame frame(640, 480);
    VideoSimResult r;
    std::optional<std::uint32_t> last_number;
    std::uint32_t noise_seed = static_cast<std::uint32_t>(seed);
    const TimePoint start{};
    TimePoint now = start;
    auto to_receiver = [&](std::span<std::byte> b, std::size_t n, bool) { link.send(0, now, b.first(n)); };
    auto to_sender = [&](std::span<std::byte> b, std::size_t n, bool) { link.send(1, now, b.first(n)); };
    auto on_frame = [&](const peer::media::VideoFrame& f) {
      ++r.decoded;
      const auto number = peer::media::read_frame_number(f);
      if (!number || (last_number && *number <= *last_number)) r.numbers_in_order = false;
      if (number) last_number = number;
    };
    std::uint64_t plis = 0, keyframes = 0;
    const auto frame_interval = std::chrono::microseconds(1000000 / 30);
    TimePoint next_frame = start;
    const TimePoint end = start + frames * frame_interval + 500ms;
    for (; now < end; now += 1ms) {
      if (at_step) at_step(std::chrono::duration_cast<std::chrono::milliseconds>(now - start), link);
      if (r.sent < frames && now >= next_frame) {
        pattern.next(frame);
        peer::media::add_noise(frame, noise_seed);  // a camera-like rate: frames of several packets
        frame.timestamp_us = std::chrono::duration_cast<std::chrono::microseconds>(now - start).count();
        sender.send_frame(frame, now, to_receiver);
        ++r.sent;
        next_frame += frame_interval;
      }
      link.deliver(1, now, [&](std::span<const std::byte> d) {
        if (peer::is_rtcp(d)) {
          receiver.handle_rtcp(now, d);
        } else if (auto packet = peer::rtp::parse_rtp(d); packet.ok()) {
          receiver.handle_rtp(now, *packet, on_frame);
        }
      });
      link.deliver(0, now, [&](std::span<const std::byte> d) { sender.handle_rtcp(now, d); });
      if (auto rtt = sender.rtt()) receiver.set_rtt(*rtt);
      if (auto t = sender.next_timeout(); t && *t <= now) sender.handle_timeout(now);
      if (auto t = receiver.next_timeout(); t && *t <= now) receiver.handle_timeout(now, on_frame);
      sender.poll(now, to_receiver);
      receiver.poll(now, to_sender);
      const auto stats = receiver.stats();
      if (stats["pliCount"].get<std::uint64_t>() > plis) r.plis.push_back(now);
      plis = stats["pliCount"].get<std::uint64_t>();
      if (stats["keyFramesDecoded"].get<std::uint64_t>() > keyframes) r.keyframes_in.push_back(now);
      keyframes = stats["keyFramesDecoded"].get<std::uint64_t>();
    }
    r.sender = sender.stats();
    r.receiver = receiver.stats();
    std::printf("sent %d decoded %d\n  sender %s\n  receiver %s\n", r.sent, r.decoded, r.sender.dump().c_str(),
                r.receiver.dump().c_str());
    return r;
  }
};

TEST(MediaSim, TenSecondsOfVp8At640x480Decode) {
  const auto r = VideoSim{}.run();
  EXPECT_EQ(r.sent, 300);
  EXPECT_GE(r.decoded, 285);  // 95%
  EXPECT_TRUE(r.numbers_in_order);
  EXPECT_EQ(r.receiver["frameWidth"], 640);
  EXPECT_EQ(r.receiver["frameHeight"], 480);
  EXPECT_EQ(r.receiver["nackCount"], 0);
}

TEST(MediaSim, FivePercentLossIsRecoveredByNack) {
  VideoSim sim;
  sim.seed = 20261127;
  sim.media.loss = 0.05;
  sim.feedback.loss = 0.05;
  const auto r = sim.run();
  EXPECT_GE(r.decoded, 270);  // 90%
  EXPECT_TRUE(r.numbers_in_order);
  EXPECT_GT(r.receiver["nackCount"].get<int>(), 0);
  EXPECT_GT(r.sender["retransmittedPacketsSent"].get<int>(), 0);
}

TEST(MediaSim, AnUnrecoverableFrameBringsAPliAndAKeyframeWithinOneRttAndOneFrame) {
  VideoSim sim;
  sim.seed = 7;
  // Two seconds in, the link drops everything for 1.5 s: longer than the NACK give-up
  // (1 s), so the frames of the outage cannot be recovered.
  sim.at_step = [](std::chrono::milliseconds t, peer::test::SimLink& link) {
    link.impairments(0).loss = (t >= 2000ms && t < 3500ms) ? 1.0 : 0.0;
  };
  const auto r = sim.run();
  ASSERT_FALSE(r.plis.empty());
  // PLIs sent during the outage bring keyframes that are lost too; the receiver repeats its
  // PLI (every max(200 ms, RTT)) until one comes. The answer to the PLI that got through:
  // the first keyframe decoded after the outage, against the last PLI before it.
  std::optional<TimePoint> keyframe_after;
  for (auto t : r.keyframes_in) {
    if (t >= TimePoint{} + 3500ms) {
      keyframe_after = t;
      break;
    }
  }
  ASSERT_TRUE(keyframe_after);
  std::optional<TimePoint> pli;
  for (auto t : r.plis) {
    if (t <= *keyframe_after) pli = t;
  }
  ASSERT_TRUE(pli);
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(*keyframe_after - *pli);
  std::printf("%zu PLIs; the last at %.1f ms, its keyframe decoded %.1f ms later\n", r.plis.size(),
              std::chrono::duration<double, std::milli>(pli->time_since_epoch()).count(), latency.count() / 1000.0);
  EXPECT_LE(latency, 20ms + std::chrono::microseconds(33334) + 1ms);
  EXPECT_TRUE(r.numbers_in_order);
  // Video goes on after the outage: most frames outside it are decoded.
  EXPECT_GE(r.decoded, 300 - 45 - 30);
}

}  // namespace
