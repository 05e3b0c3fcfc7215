#include "api/channel_impl.hpp"

#include <fmt/format.h>

#include "api/peer_impl.hpp"

namespace peer::detail {

std::string_view to_string(ChannelImpl::State s) {
  switch (s) {
    case ChannelImpl::State::connecting:
      return "connecting";
    case ChannelImpl::State::open:
      return "open";
    case ChannelImpl::State::closing:
      return "closing";
    case ChannelImpl::State::closed:
      return "closed";
  }
  return "closed";
}

ChannelImpl::ChannelImpl(std::weak_ptr<PeerImpl> peer, std::string label_, ChannelOptions options_,
                         session::ChannelKey key_)
    : label(std::move(label_)), options(std::move(options_)), key(key_), peer_(std::move(peer)) {
  store.set(json{{"label", label},
                 {"protocol", options.protocol},
                 {"ordered", options.ordered},
                 {"state", "connecting"}});
}

void ChannelImpl::set_state(State s) {
  state.store(s);
  store.set("state", std::string(to_string(s)));
}

void ChannelImpl::opened(std::uint16_t stream_id) {
  if (state.load() != State::connecting) return;  // a second stream of the same label
  id.store(stream_id);
  store.set("id", stream_id);
  set_state(State::open);
  // Queued: a channel made on a connected peer opens before use() returns, so the first
  // listener must still get it.
  store.queue("channel open");
}

void ChannelImpl::closed(session::ChannelKey closed_key) {
  if (closed_key != key) return;  // a remote stream of the same label: ours stays
  if (state.load() == State::closed) return;
  set_state(State::closed);
  store.queue("channel close");
}

void ChannelImpl::deliver(bool binary, std::span<const std::byte> data) {
  listeners_.call(Message(binary, data));
}

void ChannelImpl::buffered_low() {
  store.emit("bufferedamountlow");
}

void ChannelImpl::failed(const std::string& message) {
  store.emit("error", {json{{"code", "dtls_failed"}, {"message", message}}});
}

Subscription ChannelImpl::on_message(Channel::MessageCallback fn) {
  return listeners_.add(std::move(fn));
}

void ChannelImpl::send(bool binary, std::span<const std::byte> data) {
  const State s = state.load();
  if (s == State::closing || s == State::closed) {
    throw Error(Errc::invalid_state, fmt::format("send(): data channel \"{}\" is closed", label));
  }
  auto peer = peer_.lock();
  if (!peer) throw Error(Errc::closed, "send(): the peer is gone");
  peer->channel_send(shared_from_this(), binary, data);
}

void ChannelImpl::close() {
  if (auto peer = peer_.lock()) {
    peer->channel_close(shared_from_this());
  }
}

}  // namespace peer::detail
