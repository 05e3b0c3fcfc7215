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

Track video::operator()(Peer& peer) const { return peer.impl().add_track(session::MediaKind::video, &options, nullptr); }
Track audio::operator()(Peer& peer) const { return peer.impl().add_track(session::MediaKind::audio, nullptr, &options); }

}  // namespace peer
