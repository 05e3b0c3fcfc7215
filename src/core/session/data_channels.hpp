#pragma once
// Data channels over one SCTP association (RFC 8831), opened in-band with DCEP (RFC 8832)
// or negotiated out of band. Sans-I/O: it drives an sctp::Association and turns its events
// into channel events; the owner moves packets and time.
//
// Ids: the DTLS client uses even stream ids, the server odd ones (RFC 8832 section 6), so
// both sides can open channels at any time without renegotiation and without collisions.
// A channel created before the DTLS role is known has no id yet; it gets one at start().

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/dcep/dcep.hpp"
#include "core/sctp/association.hpp"

namespace peer::session {

struct ChannelConfig {
  std::string label;
  std::string protocol;
  bool ordered = true;
  sctp::Reliability reliability = sctp::Reliability::reliable;
  std::uint32_t reliability_parameter = 0;
  std::uint16_t priority = dcep::kPriorityNormal;
  std::optional<std::uint16_t> negotiated_id;  // set: no DCEP, both sides use this id
};

// A handle the owner picks for each channel (stable before the stream id is known).
using ChannelKey = std::uint64_t;

class DataChannels {
 public:
  struct Callbacks {
    std::function<void(ChannelKey, std::uint16_t id)> on_open;
    // The remote opened a channel with DCEP; the owner maps it (by label) to a key.
    std::function<ChannelKey(std::uint16_t id, const dcep::Open&)> on_remote_open;
    std::function<void(ChannelKey, bool binary, std::span<const std::byte>)> on_message;
    std::function<void(ChannelKey)> on_close;
    std::function<void(ChannelKey, const std::string& message)> on_error;
    std::function<void(ChannelKey)> on_buffered_low;  // its threshold was crossed downwards
  };

  explicit DataChannels(Callbacks callbacks);

  // The association exists and the DTLS role is known: assign ids, start sending OPENs
  // once connected. Channels added before are kept until then.
  void start(sctp::Association& association);

  // Adds a channel; with a started association and a known role it gets its id now.
  // Throws Error(invalid_argument) for an id the remote side owns or one already in use.
  void add(ChannelKey key, ChannelConfig config);
  std::optional<std::uint16_t> id(ChannelKey key) const;

  // Sends, or keeps the message until the channel is open. Throws Error(invalid_state) on
  // a closed or unknown channel, Error(invalid_argument) when larger than the remote
  // accepts.
  void send(ChannelKey key, bool binary, std::span<const std::byte> data);
  void close(ChannelKey key);

  // Bytes kept or buffered for this channel, not yet on the network (approximate: usrsctp
  // counts per association; we count our own queue plus a share of the association's).
  std::size_t buffered_amount(ChannelKey key) const;
  void set_buffered_amount_low_threshold(ChannelKey key, std::size_t bytes);

  // Feed every event of the association here.
  void handle_event(const sctp::Event& event);
  // After packets went out or acknowledgements came in: fire on_buffered_low for channels
  // whose buffered amount fell to their threshold (only those above it are looked at).
  void poll_buffered();

  std::size_t size() const { return channels_.size(); }

 private:
  enum class State { pending, opening, open, closing, closed };
  struct Channel {
    ChannelConfig config;
    std::optional<std::uint16_t> id;
    State state = State::pending;
    bool acked = false;  // DCEP ACK received (until then our messages go ordered)
    bool remote_initiated = false;
    // Before open, or while usrsctp's buffer is full; a DCEP OPEN/ACK that could not go
    // out at once waits at the front.
    struct Pending {
      sctp::Ppid ppid;
      std::vector<std::byte> data;
    };
    std::deque<Pending> queued;
    std::size_t queued_bytes = 0;
    std::size_t low_threshold = 0;
    bool above_threshold = false;
    // Closing with messages still queued: our stream reset goes out once they have (RFC 8831
    // section 6.7), and the channel counts as closed then if the remote reset first.
    bool reset_when_flushed = false;
    bool closed_when_reset = false;
  };

  void assign_id(ChannelKey key, Channel& channel);
  void open_on_wire(ChannelKey key, Channel& channel);
  bool send_now(Channel& channel, sctp::Ppid ppid, std::span<const std::byte> data);
  void send_dcep(Channel& channel, std::span<const std::byte> message);
  void purge_closed();
  void flush_queued();
  void mark_closed(ChannelKey key, Channel& channel);
  // Resets our outgoing stream now, or after the queue has gone out.
  void reset_after_queue(ChannelKey key, Channel& channel);
  void check_low(ChannelKey key, Channel& channel);
  std::uint16_t next_free_id();

  Callbacks callbacks_;
  sctp::Association* association_ = nullptr;
  bool connected_ = false;
  std::map<ChannelKey, Channel> channels_;
  std::map<std::uint16_t, ChannelKey> by_id_;
  std::set<ChannelKey> above_threshold_;  // channels waiting for their low event
  std::set<ChannelKey> awaiting_dry_;  // closing, queue sent, reset waits for the acks
  std::vector<ChannelKey> closed_keys_;   // to erase once no loop walks channels_
  std::uint16_t next_id_ = 0;             // next candidate of our parity
  std::vector<std::byte> scratch_;
};

}  // namespace peer::session
