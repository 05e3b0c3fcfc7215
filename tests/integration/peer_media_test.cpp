// Media between two real Peers over loopback (include/peer/media.hpp): VP8 video and Opus
// audio with a data channel at once over one BUNDLE transport, SRTP keyed by DTLS-SRTP,
// with the sending side offering and with it answering.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "../support/eventually.hpp"
#include "media/analysis.hpp"
#include "media/vp8_encoder.hpp"
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
  // Records the text of every message on `channel`.
  [[nodiscard]] peer::Subscription record(peer::Channel& channel) {
    return channel.on_message([this](const peer::Message& msg) {
      std::lock_guard lock(m);
      messages.emplace_back(msg.text());
      cv.notify_all();
    });
  }
};

// `sender` adds VP8 + Opus and a channel; `receiver` asks for both (source "none" when it
// is the offerer: a recvonly section, as a browser's recvonly transceiver).
void run_case(bool sender_offers) {
  Received got;  // before the peers: destroyed after them, so no callback outlives it
  peer::Peer sender = loopback_peer(), receiver = loopback_peer();
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
  auto s3 = got.record(chat_in);
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
  // Parsed and checked at the call, never later in the media tick (where "tone:abc" used to
  // throw from std::stod and silently stop the peer's media).
  auto refused = [&](auto plugin, const std::string& names) {
    try {
      p.use(plugin);
      ADD_FAILURE() << "accepted, wanted an error naming " << names;
    } catch (const peer::Error& e) {
      EXPECT_EQ(e.code(), peer::Errc::invalid_argument) << e.what();
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
  };
  refused(peer::audio({.source = "tone:abc"}), "\"tone:abc\": the frequency must be a number");
  refused(peer::audio({.source = "tone:440Hz"}), "tone:440Hz");
  refused(peer::audio({.source = "tone:0"}), "tone:0");
  refused(peer::audio({.source = "tone:1e9"}), "tone:1e9");
  refused(peer::audio({.source = "wav:/nonexistent/a.wav"}), "wav:/nonexistent/a.wav");
  refused(peer::audio({.bitrate_kbps = 1000}), "bitrate_kbps 1000");
  refused(peer::video({.source = "y4m:/nonexistent/v.y4m"}), "y4m:/nonexistent/v.y4m");
  EXPECT_NO_THROW(p.use(peer::audio({.source = "tone:261.63", .bitrate_kbps = 64})));
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
  Received at_a, at_b;  // before the peers: destroyed after them
  std::atomic<int> needed{0};
  peer::Peer a = loopback_peer(), b = loopback_peer();
  auto s1 = b.on_track([&](peer::Track t) { at_b.attach(t); });
  auto s2 = a.on_track([&](peer::Track t) { at_a.attach(t); });
  auto s3 = a.on("negotiationneeded", [&] { ++needed; });
  auto chat_a = a.use(peer::channel("chat"));
  auto chat_b = b.use(peer::channel("chat"));
  auto s4 = at_b.record(chat_b);
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

// Peer::remove: a's camera stops (its BYE mutes b's track at once); a offers again: the
// section stays, recvonly (a would still take what b sends), and b's track ends; the data
// channel goes on, and a track added afterwards gets a new section (a new mid) and arrives.
TEST(PeerMedia, ARemovedTrackEndsOnBothSidesAndItsSectionStays) {
  Received at_b;
  std::atomic<int> ended_local{0}, ended_remote{0}, muted_remote{0}, needed{0};
  std::vector<peer::Track> remote_tracks;  // guarded by at_b.m
  peer::Peer a = loopback_peer(), b = loopback_peer();
  auto s1 = b.on_track([&](peer::Track t) {
    at_b.attach(t);
    std::lock_guard lock(at_b.m);
    remote_tracks.push_back(t);
  });
  auto camera = a.use(peer::video());
  auto s2 = camera.on("ended", [&] { ++ended_local; });
  auto s3 = a.on("negotiationneeded", [&] { ++needed; });
  auto chat_a = a.use(peer::channel("chat"));
  auto chat_b = b.use(peer::channel("chat"));
  auto s4 = at_b.record(chat_b);
  a.use(peer::connect(b));
  ASSERT_TRUE(at_b.wait([](Received& r) { return r.video_frames >= 15; }));
  peer::Track first = [&] {
    std::lock_guard lock(at_b.m);
    return remote_tracks.at(0);
  }();
  auto s5 = first.on("ended", [&] { ++ended_remote; });
  auto s6 = first.on("mute", [&] { ++muted_remote; });
  const std::string first_mid = camera.get("mid");

  // Conditions nothing notifies at_b.cv about (once the video stops, nothing does): polled.
  auto eventually = [](auto pred) {
    for (int i = 0; i < 2000 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  };
  a.remove(camera);
  EXPECT_EQ(camera.get("state"), "ended");
  EXPECT_THROW(a.remove(camera), peer::Error);  // removed already
  // The BYE mutes b's track before any renegotiation; it is not ended yet.
  ASSERT_TRUE(eventually([&] { return muted_remote.load() == 1; })) << "no \"mute\" at b";
  EXPECT_EQ(first.get("muted"), true);
  EXPECT_EQ(first.get("state"), "live");
  EXPECT_TRUE(eventually([&] { return needed.load() == 1 && ended_local.load() == 1; }));

  a.offer();  // the connect plugin carries it to b and the answer back
  // Stable on both sides, with a's new description in place (its first mid recvonly).
  ASSERT_TRUE(eventually([&] {
    return a.get("signaling") == "stable" && b.get("signaling") == "stable" &&
           a.get("local").value("sdp", "").find("a=recvonly") != std::string::npos;
  }));
  const json local = a.get("local");
  ASSERT_TRUE(local.is_object()) << local.dump();
  const std::string sdp = local.value("sdp", "");
  // The m= section holding our first mid (up to the next m= line).
  const auto at = sdp.find("a=mid:" + first_mid + "\r\n");
  ASSERT_NE(at, std::string::npos) << sdp;
  const auto begin = sdp.rfind("m=", at);
  const std::string section = sdp.substr(begin, sdp.find("\r\nm=", at) - begin);
  EXPECT_NE(section.find("a=recvonly"), std::string::npos) << section;
  EXPECT_EQ(section.find("a=ssrc:"), std::string::npos) << section;
  // The description ends b's track.
  ASSERT_TRUE(eventually([&] { return ended_remote.load() == 1; })) << "no \"ended\" at b";
  EXPECT_EQ(first.get("state"), "ended");
  const int frames_then = [&] {
    std::lock_guard lock(at_b.m);
    return at_b.video_frames;
  }();

  // The channel goes on; a new track gets a new section (mids are not reused) and arrives.
  chat_a.send("after");
  ASSERT_TRUE(at_b.wait([](Received& r) { return r.messages.size() == 1; }));
  auto second = a.use(peer::video());
  a.offer();
  ASSERT_TRUE(at_b.wait([&](Received& r) { return r.video_frames >= frames_then + 15; }));
  EXPECT_NE(second.get("mid"), first_mid);
  peer::Track second_at_b = [&] {
    std::lock_guard lock(at_b.m);
    EXPECT_EQ(remote_tracks.size(), 2u);
    return remote_tracks.back();
  }();
  EXPECT_EQ(ended_remote.load(), 1);

  // A listener may close its peer from a track's event: b closes when a's second camera says
  // BYE (the event runs from the top of b's loop, not inside its packet handling).
  std::atomic<bool> closed_from_listener{false};
  auto s7 = second_at_b.on("mute", [&] {
    b.close();
    closed_from_listener = true;
  });
  a.remove(second);
  ASSERT_TRUE(eventually([&] { return closed_from_listener.load(); }));
  EXPECT_EQ(b.get("connection"), "closed");
  EXPECT_EQ(second_at_b.get("state"), "ended");
}

// The remote removes its track and the other side offers next: the answerer's removal
// travels in its answer (its section no longer sends) and the offerer's remote track ends.
TEST(PeerMedia, ATrackRemovedByTheAnswererEndsWhenTheOffererOffersAgain) {
  std::atomic<int> ended{0};
  std::atomic<int> frames{0};
  std::vector<peer::Subscription> subs;  // guarded by the test's sequence (set before the end)
  std::mutex m;
  peer::Peer a = loopback_peer(), b = loopback_peer();
  auto s1 = a.on_track([&](peer::Track t) {
    std::lock_guard lock(m);
    subs.push_back(t.on_video([&](const peer::VideoFrame&) { ++frames; }));
    subs.push_back(t.on("ended", [&] { ++ended; }));  // the Track handle itself is not kept
  });
  a.use(peer::video({.source = "none"}));  // a asks to receive video
  auto camera = b.use(peer::video());
  a.use(peer::connect(b));  // a offers, b answers with its camera
  auto eventually = [](auto pred) {
    for (int i = 0; i < 2000 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  };
  ASSERT_TRUE(eventually([&] { return frames.load() >= 15; }));
  b.remove(camera);
  a.offer();  // a offers again; b's answer says its section no longer sends
  ASSERT_TRUE(eventually([&] { return ended.load() == 1; })) << "a's remote track did not end";
  const std::string answer = b.get("local").value("sdp", "");
  EXPECT_EQ(answer.find("a=sendonly"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("a=sendrecv"), std::string::npos) << answer;
  std::lock_guard lock(m);
  subs.clear();
}

}  // namespace

namespace {

// A synthetic H264 access unit (Annex B, 4-byte start codes): SPS + PPS + an IDR slice for
// a keyframe, else one non-IDR slice; the slice bytes carry the frame number and are big
// enough (6,000 bytes for keyframes) to need FU-A fragments. Not decodable video: peer
// carries H264 without decoding it, which is what is checked.
std::vector<std::byte> h264_access_unit(std::uint32_t n, bool keyframe) {
  std::vector<std::byte> out;
  auto nal = [&](std::uint8_t header, std::size_t size) {
    for (std::uint8_t b : {0, 0, 0, 1}) out.push_back(std::byte{b});
    out.push_back(std::byte{header});
    for (std::size_t i = 0; i < size; ++i) out.push_back(std::byte(static_cast<std::uint8_t>((n * 7 + i) % 251 + 1)));
  };
  if (keyframe) {
    nal(0x67, 12);    // SPS (type 7)
    nal(0x68, 4);     // PPS (type 8)
    nal(0x65, 6000);  // IDR slice (type 5)
  } else {
    nal(0x41, 300 + n * 37 % 2500);  // non-IDR slice (type 1)
  }
  return out;
}

}  // namespace

// Pre-encoded frames (source "encoded"): H264 packetization-mode 1 (RFC 6184, STAP-A and
// FU-A) and VP8, each arriving byte for byte through the remote track's on_encoded; the
// VP8 one is decoded too.
TEST(PeerMedia, PreEncodedH264AndVp8FramesArriveByteForByte) {
  std::mutex m;  // all the callbacks use: declared before the peers, destroyed after them
  std::condition_variable cv;
  std::map<std::string, std::vector<std::vector<std::byte>>> got;  // by codec
  std::map<std::string, int> keyframes;
  int decoded = 0;
  std::vector<peer::Subscription> subs;
  std::atomic<int> keyframe_requests{0};
  peer::Peer a = loopback_peer(), b = loopback_peer();
  auto s1 = b.on_track([&](peer::Track t) {
    std::lock_guard lock(m);
    subs.push_back(t.on_encoded([&](const peer::EncodedFrame& f) {
      std::lock_guard lock(m);
      got[std::string(f.codec)].emplace_back(f.data.begin(), f.data.end());
      if (f.keyframe) ++keyframes[std::string(f.codec)];
      cv.notify_all();
    }));
    subs.push_back(t.on_video([&](const peer::VideoFrame&) {
      std::lock_guard lock(m);
      ++decoded;
    }));
  });
  auto h264 = a.use(peer::video({.source = "encoded", .codec = "H264"}));
  auto vp8 = a.use(peer::video({.source = "encoded"}));
  auto s2 = h264.on("keyframe request", [&] { ++keyframe_requests; });
  a.use(peer::connect(b));
  for (int i = 0; i < 1000 && a.get("connection") != "connected"; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(a.get("connection"), "connected");
  EXPECT_EQ(h264.get("codec"), "H264/90000");
  EXPECT_EQ(vp8.get("codec"), "VP8/90000");

  // VP8 frames from libvpx, the H264 ones made up; 30 of each, 30 per second.
  peer::media::Vp8Encoder encoder({.width = 320, .height = 240, .bitrate_kbps = 500, .fps = 30});
  peer::media::TestPattern pattern(320, 240, 30);
  peer::media::VideoFrame picture(320, 240);
  peer::media::EncodedFrame encoded;
  std::vector<std::vector<std::byte>> sent_h264, sent_vp8;
  for (std::uint32_t n = 0; n < 30; ++n) {
    sent_h264.push_back(h264_access_unit(n, n % 10 == 0));
    h264.push_encoded(sent_h264.back(), n % 10 == 0, n * 33333);
    pattern.next(picture);
    ASSERT_TRUE(encoder.encode(picture, encoded).ok());
    sent_vp8.emplace_back(reinterpret_cast<const std::byte*>(encoded.data.data()),
                          reinterpret_cast<const std::byte*>(encoded.data.data()) + encoded.data.size());
    vp8.push_encoded(sent_vp8.back(), encoded.keyframe, n * 33333);
    std::this_thread::sleep_for(33ms);
  }
  std::unique_lock wait_lock(m);
  ASSERT_TRUE(cv.wait_for(wait_lock, 10s, [&] { return got["H264"].size() >= 30 && got["VP8"].size() >= 30; }))
      << "H264 frames " << got["H264"].size() << ", VP8 frames " << got["VP8"].size();
  EXPECT_EQ(got["H264"], sent_h264);
  EXPECT_EQ(got["VP8"], sent_vp8);
  EXPECT_EQ(keyframes["H264"], 3);
  EXPECT_GE(keyframes["VP8"], 1);
  EXPECT_GE(decoded, 29);  // the VP8 track decodes (the H264 one is handed on only)
  EXPECT_EQ(keyframe_requests.load(), 0);  // nothing was lost
}

TEST(PeerMedia, H264NeedsEncodedFramesAndPushEncodedItsSource) {
  peer::Peer p = loopback_peer();
  EXPECT_THROW(p.use(peer::video({.codec = "H264"})), peer::Error);  // pattern: no H264 encoder
  EXPECT_THROW(p.use(peer::video({.codec = "VP9"})), peer::Error);
  auto pattern = p.use(peer::video());
  const std::byte frame[4]{};
  EXPECT_THROW(pattern.push_encoded(frame, true, 0), peer::Error);  // not an "encoded" track
}

// The seed's stream(s) as forwarding: a -> b with the test pattern; b2 (a second peer of
// b's process) streams b's remote track on to c without decoding. c starts mid-stream with no
// keyframe: its PLI goes to b2, which asks b's receiver, whose PLI reaches a's encoder; then
// c decodes the pattern (bars and frame numbers intact).
TEST(PeerMedia, StreamForwardsARemoteTrackWithoutReencodingAndKeyframesFlowBack) {
  std::mutex m;  // all the callbacks use: declared before the peers, destroyed after them
  std::condition_variable cv;
  std::optional<peer::Track> at_b;
  Received at_c;
  peer::Peer a = loopback_peer(), b = loopback_peer(), b2 = loopback_peer(), c = loopback_peer();
  auto s1 = b.on_track([&](peer::Track t) {
    std::lock_guard lock(m);
    at_b = t;
    cv.notify_all();
  });
  auto s2 = c.on_track([&](peer::Track t) { at_c.attach(t); });
  auto camera = a.use(peer::video());
  a.use(peer::connect(b));
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return at_b.has_value(); }));
  }
  std::this_thread::sleep_for(500ms);  // let a's keyframe go by: c must ask for one
  auto forwarded = b2.stream(*at_b);
  EXPECT_EQ(forwarded.get("stream"), at_b->get("stream"));
  b2.use(peer::connect(c));
  ASSERT_TRUE(at_c.wait([](Received& r) { return r.video_frames >= 60; })) << "frames at c: " << at_c.video_frames;
  {
    std::lock_guard lock(at_c.m);  // c's frame callback takes it on the loop: not held below
    EXPECT_EQ(at_c.width, 640);
    EXPECT_TRUE(at_c.bars_ok);
    EXPECT_GE(at_c.numbers.size(), 55u);
  }
  EXPECT_GE(camera.get("stats").value("pliCount", 0), 1);  // the keyframe came from a's encoder

  // b forwards without looking at pictures: its receiver decodes nothing (the scale issue)
  // until someone listens, and then starts at a keyframe it asks for.
  const auto before = at_b->get("stats");
  EXPECT_GT(before.value("packetsReceived", 0), 30) << before.dump();
  EXPECT_EQ(before.value("framesDecoded", -1), 0) << "decoded with nobody listening: " << before.dump();
  std::atomic<int> pictures{0};
  auto listening = at_b->on_video([&](const peer::VideoFrame&) { ++pictures; });
  EXPECT_TRUE(peer::test::eventually([&] { return pictures.load() >= 10; }, 10s))
      << pictures.load() << " pictures; b receiver: " << at_b->get("stats").dump() << " a sender: " << camera.get("stats").dump();
}
