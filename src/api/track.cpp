#include "api/peer_impl.hpp"
#include "api/track_impl.hpp"
#include "peer/media.hpp"

namespace peer {

Track::Track(std::shared_ptr<detail::TrackImpl> impl) : Store(impl->store), impl_(std::move(impl)) {}

std::string Track::kind() const { return std::string(session::to_string(impl_->kind)); }
std::string Track::id() const { return impl_->id; }
Subscription Track::on_video(VideoCallback fn) { return impl_->on_video(std::move(fn)); }
Subscription Track::on_audio(AudioCallback fn) { return impl_->on_audio(std::move(fn)); }
Subscription Track::on_encoded(EncodedCallback fn) { return impl_->on_encoded(std::move(fn)); }

void Track::push_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us) {
  if (!impl_->local || impl_->kind != session::MediaKind::video || impl_->video.source != "encoded") {
    throw Error(Errc::invalid_state, "Track::push_encoded: only a local video track with source \"encoded\"");
  }
  if (frame.empty()) throw Error(Errc::invalid_argument, "Track::push_encoded: an empty frame");
  impl_->push_encoded(frame, keyframe, timestamp_us);
}

void Track::push(const VideoFrame& frame) {
  if (!impl_->local || impl_->kind != session::MediaKind::video || impl_->video.source != "push") {
    throw Error(Errc::invalid_state, "Track::push(VideoFrame): only a local video track with source \"push\"");
  }
  impl_->push(frame);
}

void Track::push(const AudioFrame& frame) {
  if (!impl_->local || impl_->kind != session::MediaKind::audio || impl_->audio.source != "push") {
    throw Error(Errc::invalid_state, "Track::push(AudioFrame): only a local audio track with source \"push\"");
  }
  impl_->push(frame);
}

void Track::request_keyframe() {
  if (impl_->local || !impl_->keyframe_requester) {
    throw Error(Errc::invalid_state, "Track::request_keyframe: only a remote track asks its sender for keyframes");
  }
  impl_->keyframe_requester();
}

Track Peer::stream(const Track& source) {
  const auto& from = source.impl_;
  if (from->local || from->kind != session::MediaKind::video) {
    throw Error(Errc::invalid_argument, "stream(): pass a remote video track of another peer (Peer::on_track)");
  }
  VideoOptions options;
  options.source = "encoded";
  options.codec = from->store.get("codec").get<std::string>().starts_with("H264") ? "H264" : "VP8";
  options.stream = from->stream;
  Track out = impl().add_track(session::MediaKind::video, &options, nullptr);
  std::weak_ptr<detail::TrackImpl> to = out.impl_;
  std::weak_ptr<detail::TrackImpl> back = from;
  out.impl_->feeds.push_back(from->on_encoded([to](const EncodedFrame& f) {
    if (auto t = to.lock()) t->push_encoded(f.data, f.keyframe, f.timestamp_us);
  }));
  // Downstream asks for a keyframe: ask upstream (the forwarded stream has none of its own).
  out.impl_->feeds.push_back(out.on("keyframe request", [back] {
    if (auto t = back.lock(); t && t->keyframe_requester) t->keyframe_requester();
  }));
  return out;
}

void Peer::remove(const Track& track) { impl().remove_track(track.impl_); }

Track video::operator()(Peer& peer) const { return peer.impl().add_track(session::MediaKind::video, &options, nullptr); }
Track audio::operator()(Peer& peer) const { return peer.impl().add_track(session::MediaKind::audio, nullptr, &options); }

}  // namespace peer
