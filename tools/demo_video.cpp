// `peer demo --video`: two local peers, one sending the VP8 test pattern (640x480, 30 fps)
// and a 440 Hz Opus tone for a few seconds, the other decoding; prints frames sent,
// decoded, lost and recovered (by NACK), and exits 0 when at least 95% of the frames came.
#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "commands.hpp"
#include "media/test_pattern.hpp"
#include "media/video_frame.hpp"
#include "peer/connect.hpp"
#include "peer/media.hpp"
#include "peer/peer.hpp"
#include "util.hpp"

namespace peer::tools {

int run_video_demo(const std::string& address, double seconds, double timeout_s) {
  Peer sender, receiver;
  for (Peer* p : {&sender, &receiver}) p->set("addresses", json::array({address}));
  std::mutex m;
  std::condition_variable cv;
  std::string connection = "new";
  int frames = 0, audio_packets = 0;
  std::set<std::uint32_t> numbers;  // frame numbers read back from the decoded pictures
  int width = 0, height = 0;
  std::vector<Subscription> subs;
  std::vector<Track> remote;
  media::VideoFrame copy;
  subs.push_back(receiver.on_track([&](Track t) {
    std::lock_guard lock(m);
    remote.push_back(t);
    subs.push_back(t.on_video([&](const VideoFrame& f) {
      copy.resize(f.width, f.height);
      for (int y = 0; y < f.height; ++y) std::copy_n(f.y + y * f.stride_y, f.width, copy.row(0, y));
      const auto n = media::read_frame_number(copy);  // the code band is in luma
      std::lock_guard lock(m);
      ++frames;
      width = f.width;
      height = f.height;
      if (n) numbers.insert(*n);
    }));
    subs.push_back(t.on_audio([&](const AudioFrame&) {
      std::lock_guard lock(m);
      ++audio_packets;
    }));
  }));
  subs.push_back(receiver.on("change connection", [&](const json& v) {
    std::lock_guard lock(m);
    connection = v.get<std::string>();
    cv.notify_all();
  }));
  auto camera = sender.use(video());
  auto tone = sender.use(audio());
  const auto start = std::chrono::steady_clock::now();
  sender.use(connect(receiver));
  {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] { return connection == "connected"; })) {
      std::fprintf(stderr, "peer demo: not connected after %.0f s (connection %s)\n", timeout_s, connection.c_str());
      return kExitTimeout;
    }
  }
  const double setup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("connected in %.1f ms; sending %.0f s of 640x480 VP8 at 30 fps and Opus\n", setup_ms, seconds);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the last stats tick
  const json sent = camera.get("stats");
  json received = json::object();
  {
    std::lock_guard lock(m);
    for (auto& t : remote) {
      if (t.kind() == "video") received = t.get("stats");
    }
  }
  sender.close();
  receiver.close();
  std::lock_guard lock(m);
  // The pattern numbers its frames 0, 1, 2...: the highest number read back bounds what was
  // sent before the end, and a number missing below it is a frame lost (the stats are up
  // to a second old).
  const int encoded = numbers.empty() ? 0 : static_cast<int>(*numbers.rbegin()) + 1;
  const int lost = encoded - static_cast<int>(numbers.size());
  std::printf("video: %d frames sent, %d decoded at %dx%d, %d lost\n", encoded, frames, width, height, lost);
  std::printf("       (stats a second old) %d packets sent, %d retransmitted on %d NACKs, %d PLIs, %d keyframes, RTT %s ms\n",
              sent.value("packetsSent", 0), sent.value("retransmittedPacketsSent", 0), sent.value("nackCount", 0),
              received.value("pliCount", 0), sent.value("keyFramesEncoded", 0),
              sent.contains("roundTripTime") ? fmt::format("{:.2f}", sent["roundTripTime"].get<double>() * 1000).c_str()
                                             : "-");
  // Congestion control: the receiver's delay-based estimate (sent as REMB) and the target
  // the encoder was given (at most the configured bitrate).
  auto kbps = [](const json& stats, const char* key) {
    return stats.contains(key) ? fmt::format("{} kbit/s", stats[key].get<std::uint64_t>() / 1000) : std::string("-");
  };
  std::printf("       bandwidth estimate %s, encoder target %s\n", kbps(received, "estimatedBitrate").c_str(),
              kbps(sent, "targetBitrate").c_str());
  std::printf("audio: %d Opus packets decoded\n", audio_packets);
  const bool ok = encoded > 0 && static_cast<int>(numbers.size()) >= encoded * 95 / 100 && audio_packets > 0;
  std::printf("%s\n", ok ? "ok (at least 95% of the frames decoded)" : "FAILED (fewer than 95% of the frames decoded)");
  return ok ? kExitOk : kExitFailed;
}

}  // namespace peer::tools
