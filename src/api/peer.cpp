#include "peer/peer.hpp"

#include "api/peer_impl.hpp"
#include "runtime/worker_pool.hpp"
#include "peer/media.hpp"

namespace peer {

Peer::Peer(json servers) {
  set("servers", std::move(servers));
  // The state keys exist from the start, so get("connection") is never null.
  set(json{{"signaling", "stable"},
           {"gathering", "new"},
           {"ice", "new"},
           {"dtls", "new"},
           {"connection", "new"}});
  handle_ = std::make_shared<detail::PeerHandle>(std::make_shared<detail::PeerImpl>(Store(*this)));
}

Peer::~Peer() = default;

detail::PeerImpl& Peer::impl() const {
  return handle_->impl();
}

void Peer::create() {
  auto& i = impl();
  i.call([&] { i.create(); });
}

void Peer::offer(DescriptionCallback fn, json options) {
  auto& i = impl();
  i.call([&i, fn = std::move(fn), options = std::move(options)] { i.offer(fn, options); });
}

void Peer::restart() { offer({}, json{{"iceRestart", true}}); }

void Peer::answer(DescriptionCallback fn, json options) {
  auto& i = impl();
  i.call([&i, fn = std::move(fn), options = std::move(options)] { i.answer(fn, options); });
}

void Peer::local(const json& description) {
  auto& i = impl();
  i.call([&i, description] { i.local(description); });
}

void Peer::remote(const json& description) {
  auto& i = impl();
  i.call([&i, description] { i.remote(description); });
}

void Peer::ice(const json& candidate) {
  auto& i = impl();
  i.call([&i, candidate] { i.ice(candidate); });
}

void Peer::codec(SdpFilter filter) {
  auto& i = impl();
  i.call([&i, filter = std::move(filter)] { i.codec(filter); });
}

void Peer::close() {
  silence();  // at once, from any thread: no listener runs after close() returns
  auto& i = impl();
  i.call([&i] { i.close(); });
}

void Peer::set_loops(std::size_t n) {
  runtime::EventLoop::set_pool_size(n);
}

void Peer::set_media_workers(std::size_t n) {
  runtime::WorkerPool::set_inline(n == 0);
  if (n > 0) runtime::WorkerPool::set_size(n);
}

Subscription Peer::on_channel(std::function<void(Channel)> fn) {
  return impl().on_channel(std::move(fn));
}

Subscription Peer::on_track(std::function<void(Track)> fn) {
  return impl().on_track(std::move(fn));
}

Peer::Peer(std::shared_ptr<detail::StoreState> state, std::shared_ptr<detail::PeerHandle> handle)
    : Store(std::move(state)), handle_(std::move(handle)) {}

Peer::Weak Peer::weak() const {
  Weak w;
  w.state_ = state_;
  w.handle_ = handle_;
  return w;
}

std::optional<Peer> Peer::Weak::lock() const {
  auto state = state_.lock();
  auto handle = handle_.lock();
  if (!state || !handle) return std::nullopt;
  return Peer(std::move(state), std::move(handle));
}

}  // namespace peer
