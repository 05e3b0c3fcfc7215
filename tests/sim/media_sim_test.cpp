// VP8 video between session::VideoSender and session::VideoReceiver (the pipelines a Peer
// runs per m= section: libvpx, RFC 7741 packetization, the RTP sender's retransmission
// cache and SR, the receiver's jitter buffer, NACK, PLI and RR) over the seeded in-memory
// link of tests/support/sim_link.hpp, on a virtual clock: 10 s of the 640x480 test pattern
// at 30 fps, 10 ms each way. SRTP is left out here (unit_srtp and the Peer tests cover it).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "../support/sim_link.hpp"
#include "core/demux.hpp"
#include "core/rtp/rtcp.hpp"
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
  // For each decoded frame: when, and how long after its capture (from its frame number).
  std::vector<std::pair<TimePoint, std::chrono::milliseconds>> latency;
};

struct VideoSim {
  std::uint64_t seed = 1;
  peer::test::Impairments media, feedback;
  int frames = 300;
  int bitrate_kbps = 1000;
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
    sc.abs_send_time_extension = 2;
    sc.bitrate_kbps = bitrate_kbps;
    peer::session::VideoSender sender(sc);
    peer::session::VideoReceiver receiver(
        {.remote_ssrc = 1111, .local_ssrc = 2222, .cname = "sim", .abs_send_time_extension = 2});
    peer::media::TestPattern pattern(640, 480, 30);
    peer::media::VideoFrame frame(640, 480);
    VideoSimResult r;
    std::optional<std::uint32_t> last_number;
    std::uint32_t noise_seed = static_cast<std::uint32_t>(seed);
    const TimePoint start{};
    TimePoint now = start;
    const auto frame_interval = std::chrono::microseconds(1000000 / 30);
    auto to_receiver = [&](std::span<std::byte> b, std::size_t n, bool) { link.send(0, now, b.first(n)); };
    auto to_sender = [&](std::span<std::byte> b, std::size_t n, bool) { link.send(1, now, b.first(n)); };
    auto on_frame = [&](const peer::media::VideoFrame& f) {
      ++r.decoded;
      const auto number = peer::media::read_frame_number(f);
      if (!number || (last_number && *number <= *last_number)) r.numbers_in_order = false;
      if (number) last_number = number;
      if (number) {
        const auto captured = start + static_cast<int>(*number) * frame_interval;
        r.latency.emplace_back(now, std::chrono::duration_cast<std::chrono::milliseconds>(now - captured));
      }
    };
    std::uint64_t plis = 0, keyframes = 0;
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
      // SIM_TRACE=1: the congestion control's state every 250 ms, to read how it behaves.
      if (std::getenv("SIM_TRACE") && (now - start) % 250ms == 0ms) {
        const auto ss = sender.stats();
        std::printf("trend=%.2f threshold=%.2f ", receiver.estimator().trend(), receiver.estimator().threshold());
        std::printf("t=%5lld target=%7llu est=%s sent=%llu qdrop=%llu lost=%s\n", static_cast<long long>((now - start) / 1ms),
                    static_cast<unsigned long long>(sender.target_bps()), stats.value("estimatedBitrate", nlohmann::json()).dump().c_str(),
                    static_cast<unsigned long long>(ss["bytesSent"].get<std::uint64_t>()),
                    static_cast<unsigned long long>(link.stats(0).queue_dropped), stats["packetsLost"].dump().c_str());
      }
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

// Congestion control (core/rtp/congestion.hpp): the sender may use 2 Mbit/s; 3 s in, the
// link's capacity drops to 600 kbit/s behind a 45 kB drop-tail queue (600 ms). The
// receiver's delay-based estimate, sent as REMB, and the loss the sender sees must bring
// the encoder under the bottleneck, so that the queue drains: at the end frames arrive
// soon after capture and nearly all decode. Without them the encoder keeps its 2 Mbit/s,
// the queue stays full (600 ms of delay) and two thirds of the packets are dropped.
TEST(MediaSim, TheSenderSettlesUnderABottleneckAndTheQueueDrains) {
  VideoSim sim;
  sim.seed = 3;
  sim.frames = 600;  // 20 s
  sim.bitrate_kbps = 2000;
  // The link is fine for 3 s, then its capacity drops under the sender's rate.
  sim.media.queue_bytes = 45'000;
  std::uint64_t queue_dropped_at_10s = 0, queue_dropped_at_end = 0;
  sim.at_step = [&](std::chrono::milliseconds t, peer::test::SimLink& link) {
    if (t == 3000ms) link.impairments(0).rate_bps = 600'000;
    if (t == 10000ms) queue_dropped_at_10s = link.stats(0).queue_dropped;
    queue_dropped_at_end = link.stats(0).queue_dropped;
  };
  const auto r = sim.run();
  // The delay-based estimate did the work: its REMB reached the sender, and once settled the
  // queue no longer overflows (loss alone would keep filling it before cutting).
  ASSERT_TRUE(r.sender.contains("rembBitrate"));
  EXPECT_LE(r.sender["targetBitrate"].get<std::uint64_t>(), r.sender["rembBitrate"].get<std::uint64_t>());
  EXPECT_EQ(queue_dropped_at_end, queue_dropped_at_10s) << "the queue still overflowed after 10 s";
  const auto target = r.sender["targetBitrate"].get<std::uint64_t>();
  std::printf("target %llu bit/s, estimate %s\n", static_cast<unsigned long long>(target),
              r.receiver.value("estimatedBitrate", nlohmann::json()).dump().c_str());
  // It ends in its sawtooth around the link's rate (decrease to 0.85 x what arrives, 8% a
  // second up), far under the 2 Mbit/s it may use, and not collapsed.
  EXPECT_LE(target, 800'000u);
  EXPECT_GE(target, 300'000u);
  ASSERT_TRUE(r.receiver.contains("estimatedBitrate"));
  // The last 5 s: frames decoded and how late.
  const TimePoint tail = TimePoint{} + 15s;
  int decoded = 0;
  std::chrono::milliseconds worst{0};
  std::vector<std::chrono::milliseconds> late;
  for (const auto& [when, latency] : r.latency) {
    if (when < tail) continue;
    ++decoded;
    late.push_back(latency);
    worst = std::max(worst, latency);
  }
  std::sort(late.begin(), late.end());
  ASSERT_FALSE(late.empty());
  const auto median = late[late.size() / 2];
  std::printf("last 5 s: %d frames decoded, latency median %lld ms, worst %lld ms\n", decoded,
              static_cast<long long>(median.count()), static_cast<long long>(worst.count()));
  EXPECT_GE(decoded, 135);          // 90% of 150
  EXPECT_LE(median, 150ms);         // 10 ms of propagation + a frame's transmission, not 600 ms of queue
  EXPECT_TRUE(r.numbers_in_order);
}

// A retransmission leaves later than the original: its abs-send-time must say when, or the
// receiver's estimator reads the time it spent (a round trip) as queueing delay.
TEST(MediaSim, ARetransmissionCarriesItsOwnSendTime) {
  peer::session::SenderConfig sc;
  sc.ssrc = 1111;
  sc.abs_send_time_extension = 2;
  peer::session::VideoSender sender(sc);
  peer::media::TestPattern pattern(320, 240, 30);
  peer::media::VideoFrame frame(320, 240);
  pattern.next(frame);
  std::vector<std::vector<std::byte>> sent;
  auto keep = [&](std::span<std::byte> b, std::size_t n, bool rtcp) {
    if (!rtcp) sent.emplace_back(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
  };
  const TimePoint t0 = TimePoint{} + 1s;
  sender.send_frame(frame, t0, keep);
  ASSERT_FALSE(sent.empty());
  auto first = peer::rtp::parse_rtp(sent.front());
  ASSERT_TRUE(first.ok());
  auto stamp = [](const peer::rtp::RtpView& p) { return peer::rtp::read_abs_send_time(*p.find_extension(2)); };
  EXPECT_EQ(stamp(*first), peer::rtp::abs_send_time_from_us(1'000'000));

  std::vector<std::byte> nack(64);
  peer::rtp::RtcpWriter w(nack);
  w.receiver_report(2222);
  const std::vector<std::uint16_t> lost = {first->sequence()};
  ASSERT_TRUE(w.nack(2222, 1111, lost));
  const TimePoint t1 = t0 + 50ms;
  sender.handle_rtcp(t1, std::span<const std::byte>(nack.data(), w.size()));
  const std::size_t before = sent.size();
  sender.poll(t1, keep);
  ASSERT_EQ(sent.size(), before + 1);
  auto again = peer::rtp::parse_rtp(sent.back());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->sequence(), first->sequence());
  EXPECT_EQ(stamp(*again), peer::rtp::abs_send_time_from_us(1'050'000));
  EXPECT_TRUE(std::equal(again->payload().begin(), again->payload().end(), first->payload().begin(), first->payload().end()));
}

}  // namespace
