#pragma once
// TrackImpl: what a Track handle shares. The media pipelines live in the peer (PeerImpl,
// loop thread); this holds the track's identity, its source settings, the frame listeners
// and, for a "push" source, the last frame the application handed in.
#include <cstdint>
#include <memory>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "api/listener_list.hpp"
#include "core/session/media_description.hpp"
#include "media/video_frame.hpp"
#include "peer/media.hpp"

namespace peer::detail {

class TrackImpl : public std::enable_shared_from_this<TrackImpl> {
 public:
  // A local track (a source we send) or a remote one (what arrives).
  TrackImpl(session::MediaKind kind, std::string id, std::string stream, bool local);

  Track handle() { return Track(shared_from_this()); }

  const session::MediaKind kind;
  const std::string id;
  const std::string stream;
  const bool local;
  Store store;
  VideoOptions video;  // a local video track's settings
  AudioOptions audio;  // a local audio track's settings
  // A local track with source "none" only asks to receive (a recvonly section).
  bool sends() const {
    return local && (kind == session::MediaKind::video ? video.source : audio.source) != "none";
  }

  // Any thread.
  Subscription on_video(Track::VideoCallback fn) { return video_listeners_.add(std::move(fn)); }
  Subscription on_audio(Track::AudioCallback fn) { return audio_listeners_.add(std::move(fn)); }
  Subscription on_encoded(Track::EncodedCallback fn) { return encoded_listeners_.add(std::move(fn)); }
  void push(const VideoFrame& frame);  // copies; the next capture tick sends it
  void push(const AudioFrame& frame);  // appended to a bounded queue of PCM
  void push_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us);

  struct Encoded {
    std::vector<std::byte> data;
    bool keyframe = false;
    std::int64_t timestamp_us = 0;
  };

  // Loop thread.
  void deliver(const media::VideoFrame& frame);
  void deliver(std::span<const std::int16_t> pcm, int channels, int sample_rate, std::int64_t timestamp_us);
  void deliver_encoded(const EncodedFrame& frame) { encoded_listeners_.call(frame); }
  bool has_encoded_listeners() const { return !encoded_listeners_.empty(); }
  // The encoded frames pushed since the last call, oldest first.
  std::vector<Encoded> take_encoded();
  // The newest pushed frame, if one came since the last call.
  bool take_pushed(media::VideoFrame& out);
  // `out.size()` samples of pushed PCM (silence where there is not enough).
  void take_pushed(std::span<std::int16_t> out);
  bool has_video_listeners() const { return !video_listeners_.empty(); }

  // A remote track: asks its sender for a keyframe (set by the peer; posts to its loop).
  std::function<void()> keyframe_requester;
  // A forwarded track (Peer::stream): the subscriptions that feed it, kept as long as it is.
  std::vector<Subscription> feeds;

 private:
  ListenerList<Track::VideoCallback> video_listeners_;
  ListenerList<Track::AudioCallback> audio_listeners_;
  ListenerList<Track::EncodedCallback> encoded_listeners_;
  std::vector<Encoded> pushed_encoded_;
  std::mutex mutex_;
  media::VideoFrame pushed_;
  bool pushed_new_ = false;
  std::vector<std::int16_t> pushed_pcm_;
};

}  // namespace peer::detail
