#pragma once
// Media tracks: the `video` and `audio` plugins, and the remote side's tracks.
//
//   peer::Peer a, b;
//   auto camera = a.use(peer::video());                 // a VP8 test pattern, 640x480 @ 30
//   auto sub = b.on_track([](peer::Track t) {            // the seed's "remote stream"
//     t.on_video([](const peer::VideoFrame& f) { /* I420, valid during the call */ });
//   });
//   a.use(peer::connect(b));
//
// A Track is a Store (as the seed's objects are): keys `kind` ("video" | "audio"), `id`,
// `stream` (the MediaStream id), `mid`, `direction`, `codec` ("VP8/90000", "opus/48000/2"),
// `state` ("live" | "ended", with the event "ended"), `muted` (remote tracks: true after
// the sender's RTCP BYE until its next packet, events "mute" / "unmute") and `stats`
// (updated once a second: packets, bytes, frames, lost, NACKs, PLIs, RTT, bitrates). The
// peer emits the queued event "remote stream" with {"id": stream id, "tracks": [{"kind",
// "id", "mid"}]} when a remote track appears. Peer::remove(track) stops a local one; a
// remote one ends when a description stops it (or the peer closes). A track's events run
// from the top of the peer's loop, like the peer's, so a listener may close the peer.
//
// Negotiation: tracks added before offer()/answer() go into that description; one added
// later emits "negotiationneeded" on the peer and goes into the next offer() (either side
// may offer again: the transport and the streams already there stay). Codecs: VP8 (libvpx), H264 packetization-mode 1
// for pre-encoded frames pushed by the application, Opus (libopus). Feedback: NACK and
// retransmission, PLI/FIR answered with a keyframe, RTCP SR/RR with RTT.
//
// Threads: as Peer (docs/architecture.md section 3). Frame callbacks run on the peer's
// loop; push() may be called from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <peer/store.hpp>

namespace peer {
class Peer;
namespace detail {
class TrackImpl;
}

// An I420 picture, valid only during the callback that hands it over.
struct VideoFrame {
  int width = 0;
  int height = 0;
  const std::uint8_t* y = nullptr;
  const std::uint8_t* u = nullptr;
  const std::uint8_t* v = nullptr;
  int stride_y = 0;
  int stride_u = 0;
  int stride_v = 0;
  std::int64_t timestamp_us = 0;
};

// Interleaved 16-bit PCM, valid only during the callback.
struct AudioFrame {
  std::span<const std::int16_t> samples;  // samples_per_channel * channels
  int channels = 1;
  int sample_rate = 48000;
  std::int64_t timestamp_us = 0;
};

// An encoded video frame, valid only during the callback: VP8 (RFC 7741's frame) or H264
// as an Annex B byte stream (4-byte start codes).
struct EncodedFrame {
  std::span<const std::byte> data;
  bool keyframe = false;
  std::string_view codec;  // "VP8" or "H264"
  std::int64_t timestamp_us = 0;
};

class Track : public Store {
 public:
  using VideoCallback = std::function<void(const VideoFrame&)>;
  using AudioCallback = std::function<void(const AudioFrame&)>;
  using EncodedCallback = std::function<void(const EncodedFrame&)>;

  std::string kind() const;
  std::string id() const;
  // Decoded frames of a remote track (and, for a local track, what it sends before encoding).
  [[nodiscard]] Subscription on_video(VideoCallback fn);
  [[nodiscard]] Subscription on_audio(AudioCallback fn);
  // A remote video track's frames as they arrived, before decoding (H264 is not decoded:
  // this is the only way to get it). Recording or forwarding without re-encoding.
  [[nodiscard]] Subscription on_encoded(EncodedCallback fn);
  // A local track whose source is "push": the application's frames (copied).
  void push(const VideoFrame& frame);
  void push(const AudioFrame& frame);
  // A local video track whose source is "encoded": a frame the application encoded itself
  // (VP8, or H264 Annex B with SPS and PPS before each IDR), sent as it is (copied). When the
  // remote asks for a keyframe (PLI, FIR) the track emits "keyframe request".
  void push_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us);
  // A remote video track: asks its sender for a keyframe (RTCP PLI, RFC 4585 section 6.3.1).
  void request_keyframe();
  using Store::on;

 private:
  friend class detail::TrackImpl;
  friend class Peer;  // stream()
  explicit Track(std::shared_ptr<detail::TrackImpl> impl);
  std::shared_ptr<detail::TrackImpl> impl_;
};

struct VideoOptions {
  // "pattern" (colour bars, a moving box and the frame number), "y4m:PATH" (looped),
  // "push" (Track::push), "encoded" (Track::push_encoded: frames encoded by the application,
  // in `codec`), or "none": send nothing, only ask the remote for its video (a recvonly
  // section, as a browser's addTransceiver("video", {direction: "recvonly"})).
  std::string source = "pattern";
  // "VP8" or "H264" (packetization-mode 1, RFC 6184; source "encoded" only: peer has no
  // H264 encoder). Offered first; sent when the remote takes it.
  std::string codec = "VP8";
  int width = 640;
  int height = 480;
  int fps = 30;
  int bitrate_kbps = 1000;
  std::string stream = "peer";  // the MediaStream id the track belongs to (a=msid)
};

struct AudioOptions {
  std::string source = "tone:440";  // "tone:HZ", "wav:PATH" (48 kHz, looped), "push" or "none"
  int channels = 1;
  int bitrate_kbps = 32;
  std::string stream = "peer";
};

// The plugins: `peer.use(peer::video(options))` returns the local Track.
struct video {
  explicit video(VideoOptions options = {}) : options(std::move(options)) {}
  Track operator()(Peer& peer) const;
  VideoOptions options;
};
struct audio {
  explicit audio(AudioOptions options = {}) : options(std::move(options)) {}
  Track operator()(Peer& peer) const;
  AudioOptions options;
};

}  // namespace peer
