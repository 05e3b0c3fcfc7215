#include "peer/channel.hpp"

#include "api/channel_impl.hpp"
#include "api/peer_impl.hpp"
#include "peer/peer.hpp"

namespace peer {

Channel::Channel(std::shared_ptr<detail::ChannelImpl> impl)
    : Store(impl->store), impl_(std::move(impl)) {}

const std::string& Channel::label() const {
  return impl_->label;
}

std::optional<std::uint16_t> Channel::id() const {
  const int id = impl_->id.load();
  if (id < 0) return std::nullopt;
  return static_cast<std::uint16_t>(id);
}

std::string_view Channel::state() const {
  return detail::to_string(impl_->state.load());
}

void Channel::send(std::string_view text) {
  impl_->send(false, std::as_bytes(std::span(text.data(), text.size())));
}

void Channel::send(std::span<const std::byte> bytes) {
  impl_->send(true, bytes);
}

void Channel::send(const json& value) {
  send(std::string_view(value.dump()));
}

std::size_t Channel::buffered_amount() const {
  return impl_->pending_post.load(std::memory_order_relaxed) +
         impl_->buffered_loop_.load(std::memory_order_relaxed);
}

void Channel::buffered_amount_low_threshold(std::size_t bytes) {
  if (auto peer = impl_->peer()) peer->channel_threshold(impl_, bytes);
}

void Channel::close() {
  impl_->close();
}

Subscription Channel::on_message(MessageCallback fn) {
  return impl_->on_message(std::move(fn));
}

Channel channel::operator()(Peer& peer) const {
  return peer.impl().channel_from_any_thread(label, options);
}

}  // namespace peer
