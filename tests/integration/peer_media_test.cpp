// Media between two real Peers over loopback (include/peer/media.hpp): VP8 video and Opus
// audio with a data channel at once over one BUNDLE transport, SRTP keyed by DTLS-SRTP,
// with the sending side offering and with it answering.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <atomic>
#include <set>

#include "media/analysis.hpp"
#include "media/test_pattern.hpp"
#include "media/video_frame.hpp"
#include "peer/channel.hpp"
#include "peer/connect.hpp"
#include "peer/media.hpp"
#include "peer/peer.hpp"

namespace {

using peer::json;
using namespace std::chrono_literals;

peer::Peer loopback_peer() {
  peer::Peer p;
  p.set("addresses", json::array({"127.0.0.1"}));
  return p;
}

// What one side received: frames and audio, checked as they come.
struct Received {
  std::mutex m;
  std::condition_variable cv;
  int video_frames = 0;
  int width = 0, height = 0;
  std::set<std::uint32_t> numbers;  // frame numbers read back from the test pattern
  bool bars_ok = true;              // the colour bars survived (checked on every 10th frame)
  int audio_packets = 0;
  int loud_packets = 0;             // not silence
  std::vector<json> streams;        // "remote stream" events
  std::vector<std::string> messages;
  std::vector<peer::Subscription> subs;

  void attach(peer::Track t) {
    std::lock_guard lock(m);
    subs.push_back(t.on_video([this](const peer::VideoFrame& f) {
      // Rebuild a media::VideoFrame to reuse the pattern's readers.
      peer::media::VideoFrame copy(f.width, f.height);
      for (int y = 0; y < f.height; ++y) std::copy_n(f.y + y * f.stride_y, f.width, copy.row(0, y));
      for (int y = 0; y < (f.height + 1) / 2; ++y) {
        std::copy_n(f.u + y * f.stride_u, (f.width + 1) / 2, copy.row(1, y));
        std::copy_n(f.v + y * f.stride_v, (f.width + 1) / 2, copy.row(2, y));
      }
      std::lock_guard lock(m);
      ++video_frames;
      width = f.width;
      height = f.height;
      if (auto n = peer::media::read_frame_number(copy)) numbers.insert(*n);
      if (video_frames % 10 == 0) {
        for (int bar = 0; bar < 8; ++bar) {
          const auto rect = peer::media::TestPattern::bar_rect(f.width, f.height, bar);
          if (peer::media::dominant_colour(copy, rect) != peer::media::kBarColours[bar]) bars_ok = false;
        }
      }
      cv.notify_all();
    }));
    subs.push_back(t.on_audio([this](const peer::AudioFrame& a) {
      std::lock_guard lock(m);
      ++audio_packets;
      if (!peer::media::is_silence(a.samples)) ++loud_packets;
      cv.notify_all();
    }));
  }
  template <class P>
  bool wait(P pred, std::chrono::seconds s = 20s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, s, [&] { return pred(*this); });
  }
};

// `sender` adds VP8 + Opus and a channel; `receiver` asks for both (source "none" when it
// is the offerer: a recvonly section, as a browser's recvonly transceiver).
void run_case(bool sender_offers) {
  peer::Peer sender = loopback_peer(), receiver = loopback_peer();
  Received got;
  auto s1 = receiver.on_track([&](peer::Track t) { got.attach(t); });
  auto s2 = receiver.on("remote stream", [&](const json& d) {
    std::lock_guard lock(got.m);
    got.streams.push_back(d);
  });
  auto camera = sender.use(peer::video());
  auto microphone = sender.use(peer::audio());
  if (!sender_offers) {
    receiver.use(peer::video({.source = "none"}));
    receiver.use(peer::audio({.source = "none"}));
  }
  auto chat_out = sender.use(peer::channel("chat"));
  auto chat_in = receiver.use(peer::channel("chat"));
  auto s3 = chat_in.on_message([&](const peer::Message& m) {
    std::lock_guard lock(got.m);
    got.messages.emplace_back(m.text());
    got.cv.notify_all();
  });
  if (sender_offers) {
    sender.use(peer::connect(receiver));
  } else {
    receiver.use(peer::connect(sender));
  }
  chat_out.send("hello with media");
  // 90 frames is 3 s at 30 fps.
  ASSERT_TRUE(got.wait([](Received& r) { return r.video_frames >= 90 && r.loud_packets >= 100 && !r.messages.empty(); }))
      << "video frames " << got.video_frames << ", audio packets " << got.audio_packets << " (" << got.loud_packets
      << " not silent), messages " << got.messages.size();
  std::lock_guard lock(got.m);
  EXPECT_EQ(got.width, 640);
  EXPECT_EQ(got.height, 480);
  EXPECT_TRUE(got.bars_ok);
  EXPECT_GE(got.numbers.size(), 85u);  // distinct frames read back from the pictures
  EXPECT_EQ(got.messages.front(), "hello with media");
  ASSERT_EQ(got.streams.size(), 2u);  // video and audio
  EXPECT_EQ(camera.get("codec"), "VP8/90000");
  EXPECT_EQ(microphone.get("codec"), "opus/48000/2");
  EXPECT_EQ(camera.get("direction"), "sendonly");  // the receiver sends nothing back
}

TEST(PeerMedia, VideoAudioAndDataAtOnceWhenTheSenderOffers) { run_case(true); }

TEST(PeerMedia, VideoAudioAndDataAtOnceWhenTheSenderAnswers) { run_case(false); }

TEST(PeerMedia, BadSourcesAndTracksDuringAnExchangeAreRefusedByName) {
  peer::Peer p = loopback_peer();
  EXPECT_THROW(p.use(peer::video({.source = "camera"})), peer::Error);
  EXPECT_THROW(p.use(peer::video({.width = 641})), peer::Error);
  EXPECT_THROW(p.use(peer::audio({.source = "mic", .channels = 1})), peer::Error);
  p.offer();  // an offer is pending: a track now would be in neither description
  try {
    p.use(peer::video());
    FAIL();
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_state);
    EXPECT_NE(std::string(e.what()).find("stable"), std::string::npos) << e.what();
  }
}

// Renegotiation (JSEP 5.2.2, 5.3.2): connected with a data channel only, then each side in
// turn adds a track and offers again. The channel keeps working, ICE and DTLS are not
// restarted (the pair and the DTLS role stay), and each new track's frames arrive.
TEST(PeerMedia, TracksAddedAfterConnectingArriveByRenegotiationFromEitherSide) {
  peer::Peer a = loopback_peer(), b = loopback_peer();
  Received at_a, at_b;
  auto s1 = b.on_track([&](peer::Track t) { at_b.attach(t); });
  auto s2 = a.on_track([&](peer::Track t) { at_a.attach(t); });
  std::atomic<int> needed{0};
  auto s3 = a.on("negotiationneeded", [&] { ++needed; });
  auto chat_a = a.use(peer::channel("chat"));
  auto chat_b = b.use(peer::channel("chat"));
  auto s4 = chat_b.on_message([&](const peer::Message& m) {
    std::lock_guard lock(at_b.m);
    at_b.messages.emplace_back(m.text());
    at_b.cv.notify_all();
  });
  a.use(peer::connect(b));
  chat_a.send("before");
  ASSERT_TRUE(at_b.wait([](Received& r) { return r.messages.size() == 1; }));
  const json pair = a.get("pair");
  const json role = a.get("role");

  // a adds video and offers again.
  auto camera = a.use(peer::video());
  a.offer();
  ASSERT_TRUE(at_b.wait([](Received& r) { return r.video_frames >= 30; })) << "frames at b: " << at_b.video_frames;
  EXPECT_EQ(needed.load(), 1);
  EXPECT_EQ(camera.get("direction"), "sendonly");

  // b adds audio and offers: a answers, the video going a -> b is not disturbed.
  auto tone = b.use(peer::audio());
  b.offer();
  ASSERT_TRUE(at_a.wait([](Received& r) { return r.loud_packets >= 25; })) << "audio at a: " << at_a.audio_packets;
  const int frames_then = [&] {
    std::lock_guard lock(at_b.m);
    return at_b.video_frames;
  }();
  ASSERT_TRUE(at_b.wait([&](Received& r) { return r.video_frames >= frames_then + 15; }));

  chat_a.send("after");
  ASSERT_TRUE(at_b.wait([](Received& r) { return r.messages.size() == 2; }));
  EXPECT_EQ(a.get("pair"), pair);
  EXPECT_EQ(a.get("role"), role);
  EXPECT_EQ(a.get("signaling"), "stable");
  EXPECT_EQ(b.get("signaling"), "stable");
  std::lock_guard lock(at_b.m);
  EXPECT_EQ(at_b.width, 640);
  EXPECT_TRUE(at_b.bars_ok);
}

}  // namespace
