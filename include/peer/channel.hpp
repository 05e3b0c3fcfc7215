#pragma once
// peer::Channel — a WebRTC data channel (RFC 8831), and the `channel` plugin.
//
//   peer::Peer a, b;
//   auto chat = a.use(peer::channel("chat"));                  // opens when connected
//   auto sub = b.use(peer::channel("chat")).on_message([](const peer::Message& m) {
//     std::cout << m.text() << "\n";
//   });
//   a.use(peer::connect(b));
//   chat.send("hello");                                         // kept until open
//
// A channel of the same label opened by the remote side is delivered to the matching
// `channel(label)` handle; other remote channels arrive as the peer's on_channel().
// A Channel is a Store (as the seed's objects are): its keys `label`, `protocol`, `id`,
// `ordered`, `state` ("connecting" | "open" | "closing" | "closed") can be observed, and it
// emits the seed's events "channel open", "channel close" (both queued: a listener added
// after the fact still gets them once) and "error" ({"code","message"});
// the peer emits them too, with {"label","id"}. Messages go through on_message(): typed,
// with no string lookup or allocation per message.
//
// Threads: as Peer (docs/architecture.md section 3). Callbacks run on the peer's loop.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <peer/store.hpp>

namespace peer {

class Peer;

namespace detail {
class ChannelImpl;
}

// RTCDataChannelInit, by the W3C names.
struct ChannelOptions {
  bool ordered = true;
  // Partial reliability (RFC 8831 section 6.1): at most one of the two.
  std::optional<std::uint32_t> max_retransmits;
  std::optional<std::uint32_t> max_packet_life_time;  // milliseconds
  std::string protocol;
  // Negotiated out of band: both sides create the channel with the same id and no DCEP
  // handshake takes place (RFC 8832 section 6 still applies to ids chosen by the stack).
  std::optional<std::uint16_t> id;
  std::uint16_t priority = 256;  // RFC 8831 section 6.4 ("low" in the W3C API)
};

// One received message. Valid only during the callback; copy what you keep.
class Message {
 public:
  Message(bool binary, std::span<const std::byte> data) : binary_(binary), data_(data) {}
  bool binary() const { return binary_; }
  std::span<const std::byte> bytes() const { return data_; }
  std::string_view text() const {
    return {reinterpret_cast<const char*>(data_.data()), data_.size()};
  }
  // Parses the text as JSON (throws nlohmann::json::parse_error if it is not).
  json to_json() const { return json::parse(text()); }

 private:
  bool binary_;
  std::span<const std::byte> data_;
};

class Channel : public Store {
 public:
  using MessageCallback = std::function<void(const Message&)>;

  const std::string& label() const;
  std::optional<std::uint16_t> id() const;  // known once the DTLS role is
  std::string_view state() const;

  // Sends a message: text (PPID 51), bytes (PPID 53), or JSON as text. Before the channel
  // is open, messages are kept and sent in order when it opens. Throws Error(invalid_state)
  // on a closed channel and Error(invalid_argument) for a message larger than the remote
  // accepts (a=max-message-size). Never blocks: see buffered_amount().
  void send(std::string_view text);
  void send(const char* text) { send(std::string_view(text)); }
  void send(const std::string& text) { send(std::string_view(text)); }
  void send(std::span<const std::byte> bytes);
  void send(const json& value);

  // Bytes accepted by send() and not yet handed to the network (W3C bufferedAmount).
  std::size_t buffered_amount() const;
  // "bufferedamountlow" is emitted when buffered_amount() falls to or below this.
  void buffered_amount_low_threshold(std::size_t bytes);

  // Closes the channel on both sides (an SCTP stream reset, RFC 8831 section 6.7) after
  // every message send() has accepted has gone out; "channel close" follows on both sides.
  void close();

  [[nodiscard]] Subscription on_message(MessageCallback fn);
  using Store::on;

 private:
  friend class detail::ChannelImpl;
  explicit Channel(std::shared_ptr<detail::ChannelImpl> impl);
  std::shared_ptr<detail::ChannelImpl> impl_;
};

// The plugin: `peer.use(peer::channel("chat", options))` returns the Channel.
struct channel {
  explicit channel(std::string label, ChannelOptions options = {})
      : label(std::move(label)), options(std::move(options)) {}
  Channel operator()(Peer& peer) const;

  std::string label;
  ChannelOptions options;
};

}  // namespace peer
