#include "api/track_impl.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace peer::detail {

namespace {
// Pushed PCM beyond this (one second of 48 kHz stereo) is dropped: an application that
// pushes faster than real time must not grow the queue without bound.
constexpr std::size_t kMaxPushedSamples = 48000 * 2;

void copy_plane(const std::uint8_t* from, int from_stride, std::uint8_t* to, int to_stride, int width, int height) {
  for (int y = 0; y < height; ++y) std::memcpy(to + std::ptrdiff_t(y) * to_stride, from + std::ptrdiff_t(y) * from_stride, width);
}
}  // namespace

TrackImpl::TrackImpl(session::MediaKind kind, std::string id, std::string stream, bool local)
    : kind(kind), id(std::move(id)), stream(std::move(stream)), local(local) {
  store.set("kind", std::string(session::to_string(kind)));
  store.set("id", this->id);
  store.set("stream", this->stream);
  store.set("state", "live");
}

void TrackImpl::push(const VideoFrame& frame) {
  if (frame.width <= 0 || frame.height <= 0 || frame.y == nullptr || frame.u == nullptr || frame.v == nullptr) {
    throw Error(Errc::invalid_argument, "Track::push: a video frame needs a size and three planes");
  }
  std::lock_guard lock(mutex_);
  pushed_.resize(frame.width, frame.height);
  copy_plane(frame.y, frame.stride_y, pushed_.data(0), pushed_.stride(0), frame.width, frame.height);
  copy_plane(frame.u, frame.stride_u, pushed_.data(1), pushed_.stride(1), pushed_.plane_width(1), pushed_.plane_height(1));
  copy_plane(frame.v, frame.stride_v, pushed_.data(2), pushed_.stride(2), pushed_.plane_width(2), pushed_.plane_height(2));
  pushed_.timestamp_us = frame.timestamp_us;
  pushed_new_ = true;
}

void TrackImpl::push(const AudioFrame& frame) {
  std::lock_guard lock(mutex_);
  const std::size_t room = kMaxPushedSamples - std::min(kMaxPushedSamples, pushed_pcm_.size());
  const std::size_t n = std::min(room, frame.samples.size());
  pushed_pcm_.insert(pushed_pcm_.end(), frame.samples.begin(), frame.samples.begin() + static_cast<std::ptrdiff_t>(n));
}

void TrackImpl::push_encoded(std::span<const std::byte> frame, bool keyframe, std::int64_t timestamp_us) {
  // At most a second of 30 fps queued: an application pushing faster than the loop sends
  // loses its oldest frames rather than growing memory.
  constexpr std::size_t kMaxQueued = 30;
  std::lock_guard lock(mutex_);
  if (pushed_encoded_.size() >= kMaxQueued) pushed_encoded_.erase(pushed_encoded_.begin());
  pushed_encoded_.push_back({std::vector<std::byte>(frame.begin(), frame.end()), keyframe, timestamp_us});
}

std::vector<TrackImpl::Encoded> TrackImpl::take_encoded() {
  std::lock_guard lock(mutex_);
  return std::exchange(pushed_encoded_, {});
}

bool TrackImpl::take_pushed(media::VideoFrame& out) {
  std::lock_guard lock(mutex_);
  if (!pushed_new_) return false;
  out.copy_from(pushed_);
  pushed_new_ = false;
  return true;
}

void TrackImpl::take_pushed(std::span<std::int16_t> out) {
  std::lock_guard lock(mutex_);
  const std::size_t n = std::min(out.size(), pushed_pcm_.size());
  std::copy_n(pushed_pcm_.begin(), n, out.begin());
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), std::int16_t{0});
  pushed_pcm_.erase(pushed_pcm_.begin(), pushed_pcm_.begin() + static_cast<std::ptrdiff_t>(n));
}

void TrackImpl::deliver(const media::VideoFrame& frame) {
  VideoFrame view;
  view.width = frame.width();
  view.height = frame.height();
  view.y = frame.data(0);
  view.u = frame.data(1);
  view.v = frame.data(2);
  view.stride_y = frame.stride(0);
  view.stride_u = frame.stride(1);
  view.stride_v = frame.stride(2);
  view.timestamp_us = frame.timestamp_us;
  video_listeners_.call(view);
}

void TrackImpl::deliver(std::span<const std::int16_t> pcm, int channels, int sample_rate, std::int64_t timestamp_us) {
  AudioFrame view;
  view.samples = pcm;
  view.channels = channels;
  view.sample_rate = sample_rate;
  view.timestamp_us = timestamp_us;
  audio_listeners_.call(view);
}

}  // namespace peer::detail
