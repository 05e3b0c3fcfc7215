// `peer recv-video ROOM -o out.y4m`: joins ROOM through the signaling server, asks the
// member there for its video (a recvonly section: we are the newcomer only if someone is
// there first; roles follow the room's order either way), and writes every decoded frame to
// a Y4M file until --frames N were written, --seconds passed, or the connection ends.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include "commands.hpp"
#include "media/video_frame.hpp"
#include "media/y4m.hpp"
#include "peer/media.hpp"
#include "session.hpp"

namespace peer::tools {
namespace {

struct RecvVideoOptions {
  std::string room;
  std::string server = "ws://127.0.0.1:8787/";
  std::string output = "out.y4m";
  NetworkOptions net;
  int frames = 0;        // 0: no limit
  double seconds = 0;    // 0: no limit
  double timeout = 30;
};

int run_recv_video(const RecvVideoOptions& o) {
  const auto network = network_or_report("recv-video", o.net, o.server);
  if (!network) return kExitUsage;
  Session session("recv-video", *network);
  Peer& p = session.peer;
  p.use(video({.source = "none"}));  // ask for video, send none
  std::mutex m;
  std::optional<media::Y4mWriter> writer;
  media::VideoFrame frame;
  int written = 0;
  std::string error;
  std::vector<Subscription> subs;
  subs.push_back(p.on_track([&](Track t) {
    if (t.kind() != "video") return;
    std::lock_guard lock(m);
    subs.push_back(t.on_video([&](const VideoFrame& f) {
      std::lock_guard lock(m);
      if (!error.empty() || (o.frames > 0 && written >= o.frames)) return;
      if (!writer) {
        auto opened = media::Y4mWriter::open(o.output, f.width, f.height);
        if (!opened.ok()) {
          error = opened.message();
          session.waiter.update([] {});
          return;
        }
        writer.emplace(std::move(opened).value());
      }
      frame.resize(f.width, f.height);
      for (int y = 0; y < f.height; ++y) std::copy_n(f.y + y * f.stride_y, f.width, frame.row(0, y));
      for (int y = 0; y < (f.height + 1) / 2; ++y) {
        std::copy_n(f.u + y * f.stride_u, (f.width + 1) / 2, frame.row(1, y));
        std::copy_n(f.v + y * f.stride_v, (f.width + 1) / 2, frame.row(2, y));
      }
      // A size change mid-stream cannot go into one Y4M file: such frames are skipped.
      if (writer->write(frame).ok()) ++written;
      session.waiter.update([] {});
    }));
  }));
  CloseOnExit closer{p};
  if (!session.signal(o.room, o.server)) return kExitUsage;
  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  std::fprintf(stderr, "peer recv-video: connected, writing %s\n", o.output.c_str());
  const auto done = [&] {
    std::lock_guard lock(m);
    return !error.empty() || (o.frames > 0 && written >= o.frames);
  };
  session.waiter.wait([&] { return done() || session.connection() != "connected"; }, o.seconds);
  p.close();
  std::lock_guard lock(m);
  if (!error.empty()) {
    std::fprintf(stderr, "peer recv-video: %s\n", error.c_str());
    return kExitFailed;
  }
  if (writer && !writer->close().ok()) return kExitFailed;
  std::printf("wrote %d frames to %s\n", written, o.output.c_str());
  return written > 0 && (o.frames == 0 || written >= o.frames) ? kExitOk : kExitFailed;
}

}  // namespace

void add_recv_video(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("recv-video", "join a room and record the video the other member sends (Y4M)");
  static RecvVideoOptions o;
  cmd->add_option("room", o.room, "room on the signaling server")->required();
  cmd->add_option("--server", o.server, "the signaling server (peer signal or peer serve)")->capture_default_str();
  cmd->add_option("-o,--output", o.output, "the Y4M file to write")->capture_default_str();
  cmd->add_option("--frames", o.frames, "stop after N frames (0: no limit)")->capture_default_str();
  cmd->add_option("--seconds", o.seconds, "stop after S seconds once connected (0: no limit)")->capture_default_str();
  add_network_options(cmd, o.net);
  cmd->add_option("--timeout", o.timeout, "seconds to get connected")->capture_default_str();
  cmd->footer("Exit codes: 0 frames written, 1 failed or no frame, 2 bad argument, 3 not connected in time,\n"
              "4 refused by the signaling server.");
  cmd->callback([&exit_code] { exit_code = run_recv_video(o); });
}

}  // namespace peer::tools
