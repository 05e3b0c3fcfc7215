// The `video` plugin: a media track from one peer to another in the same process.
//
//   c++ -std=c++20 video.cpp -o video $(pkg-config --cflags --libs peer)
//   ./video [FRAMES]
//
// a sends its test pattern (VP8, here 320x240 at 15 frames a second); b gets the remote
// track through on_track and its decoded I420 frames through on_video. The program exits
// after FRAMES decoded frames (default 30), printing the size and the first luma sample.
#include <peer/connect.hpp>
#include <peer/media.hpp>
#include <peer/peer.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <vector>

int main(int argc, char** argv) {
  const int wanted = argc > 1 ? std::atoi(argv[1]) : 30;
  peer::Peer a, b;
  for (auto* p : {&a, &b}) p->set("addresses", peer::json::array({"127.0.0.1"}));

  peer::VideoOptions options;  // source "pattern"; "y4m:PATH" or "push" for your own frames
  options.width = 320;
  options.height = 240;
  options.fps = 15;
  options.bitrate_kbps = 300;
  auto camera = a.use(peer::video(options));

  std::promise<void> enough;
  std::atomic<int> frames = 0;
  std::vector<peer::Subscription> subs;  // the frame listeners live as long as main()
  auto on_track = b.on_track([&](peer::Track track) {
    std::printf("b: remote %s track %s\n", track.kind().c_str(), track.id().c_str());
    subs.push_back(track.on_video([&](const peer::VideoFrame& f) {  // valid during the call
      const int n = ++frames;
      if (n == 1) std::printf("b: first frame %dx%d, y[0] = %d\n", f.width, f.height, f.y[0]);
      if (n == wanted) enough.set_value();
    }));
  });

  a.use(peer::connect(b));

  if (enough.get_future().wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "video: %d of %d frames within 20 s\n", frames.load(), wanted);
    return 1;
  }
  std::printf("b: %d frames decoded\n", wanted);
  a.close();
  b.close();
  return 0;
}
