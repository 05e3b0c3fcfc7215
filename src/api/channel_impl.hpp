#pragma once
// ChannelImpl: what a Channel handle shares. Protocol state lives in the peer's
// session::DataChannels (loop thread only); this keeps what a handle needs from any thread:
// the label, listeners, and atomics for state and buffered amount.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/listener_list.hpp"
#include "core/session/data_channels.hpp"
#include "peer/channel.hpp"

namespace peer::detail {

class PeerImpl;

class ChannelImpl : public std::enable_shared_from_this<ChannelImpl> {
 public:
  enum class State { connecting, open, closing, closed };

  ChannelImpl(std::weak_ptr<PeerImpl> peer, std::string label, ChannelOptions options,
              session::ChannelKey key);

  Channel handle() { return Channel(shared_from_this()); }

  // Loop thread: the peer reports what happened to one of this channel's streams.
  void opened(std::uint16_t id);
  void closed(session::ChannelKey key);
  void deliver(bool binary, std::span<const std::byte> data);
  void buffered_low();
  void failed(const std::string& message);
  void set_buffered(std::size_t bytes) { buffered_loop_.store(bytes, std::memory_order_relaxed); }

  std::shared_ptr<PeerImpl> peer() const { return peer_.lock(); }

  // Any thread.
  void send(bool binary, std::span<const std::byte> data);
  void close();
  Subscription on_message(Channel::MessageCallback fn);

  const std::string label;
  const ChannelOptions options;
  const session::ChannelKey key;  // the stream we send on
  Store store;
  std::atomic<State> state{State::connecting};
  std::atomic<int> id{-1};
  std::atomic<std::size_t> pending_post{0};      // bytes posted from other threads, not yet sent
  std::atomic<std::size_t> buffered_loop_{0};    // DataChannels' view, updated on the loop
  std::vector<session::ChannelKey> remote_keys;  // remote-opened streams of the same label
  bool announce = false;  // remote-opened: to be handed to the peer's on_channel listeners

 private:
  void set_state(State s);

  std::weak_ptr<PeerImpl> peer_;
  ListenerList<Channel::MessageCallback> listeners_;  // delivering takes no allocation
};

std::string_view to_string(ChannelImpl::State s);

}  // namespace peer::detail
