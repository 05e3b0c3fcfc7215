#include "core/session/data_channels.hpp"

#include <fmt/format.h>

#include "peer/error.hpp"

namespace peer::session {
namespace {

dcep::ChannelType channel_type(const ChannelConfig& c) {
  using T = dcep::ChannelType;
  switch (c.reliability) {
    case sctp::Reliability::reliable:
      return c.ordered ? T::reliable : T::reliable_unordered;
    case sctp::Reliability::rexmit:
      return c.ordered ? T::partial_reliable_rexmit : T::partial_reliable_rexmit_unordered;
    case sctp::Reliability::timed:
      return c.ordered ? T::partial_reliable_timed : T::partial_reliable_timed_unordered;
  }
  return T::reliable;
}

ChannelConfig config_from(const dcep::Open& open) {
  ChannelConfig c;
  c.label = open.label;
  c.protocol = open.protocol;
  c.ordered = dcep::ordered(open.channel_type);
  c.priority = open.priority;
  switch (static_cast<std::uint8_t>(open.channel_type) & 0x7f) {
    case 0x01:
      c.reliability = sctp::Reliability::rexmit;
      break;
    case 0x02:
      c.reliability = sctp::Reliability::timed;
      break;
    default:
      c.reliability = sctp::Reliability::reliable;
  }
  c.reliability_parameter = open.reliability_parameter;
  return c;
}

}  // namespace

DataChannels::DataChannels(Callbacks callbacks) : callbacks_(std::move(callbacks)) {}

void DataChannels::start(sctp::Association& association) {
  association_ = &association;
  next_id_ = association.is_client() ? 0 : 1;  // RFC 8832 section 6
  for (auto& [key, channel] : channels_) {
    if (!channel.id) assign_id(key, channel);
  }
}

std::uint16_t DataChannels::next_free_id() {
  // The lowest free id of our parity (RFC 8832 section 6), so that ids of closed channels
  // are reused, below the streams the association negotiated (65535 is reserved).
  const std::uint32_t limit =
      connected_ && association_->outgoing_streams() > 0 ? association_->outgoing_streams() : 65535;
  for (std::uint32_t id = next_id_; id < limit; id += 2) {
    if (!by_id_.contains(static_cast<std::uint16_t>(id))) return static_cast<std::uint16_t>(id);
  }
  throw Error(Errc::invalid_state,
              fmt::format("no free data channel id of our parity below the {} negotiated SCTP "
                          "streams: close channels first, or offer more streams on both sides (the peer key sctp-streams)",
                          limit));
}

void DataChannels::assign_id(ChannelKey key, Channel& channel) {
  const std::uint16_t id = next_free_id();
  channel.id = id;
  by_id_[id] = key;
}

void DataChannels::add(ChannelKey key, ChannelConfig config) {
  Channel channel;
  if (config.negotiated_id) {
    const std::uint16_t id = *config.negotiated_id;
    if (id == 65535) throw Error(Errc::invalid_argument, "data channel id 65535 is reserved");
    if (by_id_.contains(id)) {
      throw Error(Errc::invalid_argument, fmt::format("data channel id {} is already in use", id));
    }
    channel.id = id;
    by_id_[id] = key;
  }
  channel.config = std::move(config);
  auto& stored = channels_[key] = std::move(channel);
  if (association_ != nullptr && !stored.id) assign_id(key, stored);
  if (connected_) open_on_wire(key, stored);
}

std::optional<std::uint16_t> DataChannels::id(ChannelKey key) const {
  auto it = channels_.find(key);
  return it == channels_.end() ? std::nullopt : it->second.id;
}

void DataChannels::open_on_wire(ChannelKey key, Channel& channel) {
  if (channel.state != State::pending || !channel.id) return;
  if (!channel.config.negotiated_id && !channel.remote_initiated) {
    dcep::Open open;
    open.channel_type = channel_type(channel.config);
    open.priority = channel.config.priority;
    open.reliability_parameter = channel.config.reliability_parameter;
    open.label = channel.config.label;
    open.protocol = channel.config.protocol;
    scratch_.clear();
    dcep::write(open, scratch_);
    // RFC 8832 section 6: the OPEN goes reliably and ordered on the channel's stream.
    send_dcep(channel, scratch_);
  } else {
    channel.acked = true;
  }
  // Like browsers, the opener may send at once; until the ACK its messages go ordered so
  // that they cannot overtake the OPEN (RFC 8832 section 6).
  channel.state = State::open;
  if (callbacks_.on_open) callbacks_.on_open(key, *channel.id);
  flush_queued();
}

bool DataChannels::send_now(Channel& channel, sctp::Ppid ppid, std::span<const std::byte> data) {
  sctp::SendOptions options;  // DCEP: reliable and ordered (RFC 8832 section 6)
  if (ppid != sctp::Ppid::dcep) {
    options.ordered = channel.config.ordered || !channel.acked;
    options.reliability = channel.config.reliability;
    options.reliability_parameter = channel.config.reliability_parameter;
  }
  // An empty message goes as PPID 56/57 with one ignored byte (RFC 8831 section 6.6); the
  // association does that for an empty string or binary message.
  return association_->send(*channel.id, ppid, data, options);
}

void DataChannels::send_dcep(Channel& channel, std::span<const std::byte> message) {
  if (channel.queued.empty() && send_now(channel, sctp::Ppid::dcep, message)) return;
  // The buffer is full: it must still precede every message of the channel.
  channel.queued.push_front(
      {sctp::Ppid::dcep, std::vector<std::byte>(message.begin(), message.end())});
}

void DataChannels::send(ChannelKey key, bool binary, std::span<const std::byte> data) {
  auto it = channels_.find(key);
  if (it == channels_.end()) throw Error(Errc::invalid_state, "send(): unknown data channel");
  Channel& channel = it->second;
  if (channel.state == State::closing || channel.state == State::closed) {
    throw Error(Errc::invalid_state,
                fmt::format("send(): data channel \"{}\" is closed", channel.config.label));
  }
  if (association_ != nullptr) {
    const std::uint64_t limit = association_->remote_max_message_size();
    if (limit != 0 && data.size() > limit) {
      throw Error(Errc::invalid_argument,
                  fmt::format("send(): a {}-byte message is larger than the remote accepts "
                              "(a=max-message-size:{})",
                              data.size(), limit));
    }
  }
  const sctp::Ppid ppid = binary ? sctp::Ppid::binary : sctp::Ppid::string;
  if (channel.state == State::open && channel.queued.empty() && send_now(channel, ppid, data)) {
    check_low(key, channel);
    return;
  }
  channel.queued.push_back({ppid, std::vector<std::byte>(data.begin(), data.end())});
  channel.queued_bytes += data.size();
  check_low(key, channel);
}

void DataChannels::flush_queued() {
  if (association_ == nullptr || !connected_) return;
  for (auto& [key, channel] : channels_) {
    const bool closing = channel.state == State::closing && channel.reset_when_flushed;
    if (channel.state != State::open && !closing) continue;
    while (!channel.queued.empty()) {
      auto& pending = channel.queued.front();
      if (!send_now(channel, pending.ppid, pending.data)) return;  // full: wait for `writable`
      if (pending.ppid != sctp::Ppid::dcep) channel.queued_bytes -= pending.data.size();
      channel.queued.pop_front();
    }
    if (closing) {
      reset_after_queue(key, channel);  // may mark it closed: purged after the event
      continue;
    }
    check_low(key, channel);
  }
}

std::size_t DataChannels::buffered_amount(ChannelKey key) const {
  auto it = channels_.find(key);
  if (it == channels_.end()) return 0;
  std::size_t in_sctp = 0;
  if (association_ != nullptr && it->second.state == State::open) {
    in_sctp = association_->buffered_amount();
  }
  return it->second.queued_bytes + in_sctp;
}

void DataChannels::set_buffered_amount_low_threshold(ChannelKey key, std::size_t bytes) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  it->second.low_threshold = bytes;
  it->second.above_threshold = buffered_amount(key) > bytes;
  if (it->second.above_threshold) above_threshold_.insert(key);
}

void DataChannels::check_low(ChannelKey key, Channel& channel) {
  const std::size_t amount = buffered_amount(key);
  if (amount > channel.low_threshold) {
    channel.above_threshold = true;
    above_threshold_.insert(key);
  } else if (channel.above_threshold) {
    channel.above_threshold = false;
    above_threshold_.erase(key);
    if (callbacks_.on_buffered_low) callbacks_.on_buffered_low(key);
  }
}

void DataChannels::poll_buffered() {
  if (!awaiting_dry_.empty() && association_ != nullptr && connected_ &&
      association_->buffered_amount() == 0) {
    const std::vector<ChannelKey> keys(awaiting_dry_.begin(), awaiting_dry_.end());
    for (ChannelKey key : keys) {
      auto it = channels_.find(key);
      if (it == channels_.end() || it->second.state != State::closing) {
        awaiting_dry_.erase(key);
        continue;
      }
      reset_after_queue(key, it->second);
    }
    purge_closed();
  }
  if (above_threshold_.empty()) return;
  const std::vector<ChannelKey> keys(above_threshold_.begin(), above_threshold_.end());
  for (ChannelKey key : keys) {
    auto it = channels_.find(key);
    if (it == channels_.end() || it->second.state != State::open) {
      above_threshold_.erase(key);
      continue;
    }
    check_low(key, it->second);
  }
}

void DataChannels::close(ChannelKey key) {
  auto it = channels_.find(key);
  if (it == channels_.end()) return;
  Channel& channel = it->second;
  if (channel.state == State::closing || channel.state == State::closed) return;
  if (channel.state == State::open && association_ != nullptr && connected_) {
    // RFC 8831 section 6.7: closing is an outgoing stream reset, sent after the messages
    // already accepted by send(); the remote answers with its own, and then the channel
    // is closed on both sides.
    channel.state = State::closing;
    reset_after_queue(key, channel);
    return;
  }
  mark_closed(key, channel);
}

void DataChannels::reset_after_queue(ChannelKey key, Channel& channel) {
  // The reset also waits until usrsctp holds nothing unacknowledged: usrsctp 0.9.5 sends
  // the request with the TSNs assigned so far even while the stream still has messages
  // queued inside it, and the remote then resets the stream after only part of them
  // (seen: 18 of 160 arrived). The send buffer is per association, so a close waits for a
  // moment when it has drained: on an association that never pauses, the close waits.
  if (!channel.queued.empty() || association_->buffered_amount() != 0) {
    channel.reset_when_flushed = true;
    if (channel.queued.empty()) awaiting_dry_.insert(key);
    return;
  }
  channel.reset_when_flushed = false;
  awaiting_dry_.erase(key);
  association_->reset_stream(*channel.id);  // waits inside for a half-sent message
  if (channel.closed_when_reset) mark_closed(key, channel);
}

void DataChannels::mark_closed(ChannelKey key, Channel& channel) {
  if (channel.state == State::closed) return;
  channel.state = State::closed;
  channel.queued.clear();
  channel.queued_bytes = 0;
  if (channel.id) by_id_.erase(*channel.id);
  above_threshold_.erase(key);
  awaiting_dry_.erase(key);
  closed_keys_.push_back(key);
  if (callbacks_.on_close) callbacks_.on_close(key);
}

void DataChannels::purge_closed() {
  for (ChannelKey key : closed_keys_) {
    auto it = channels_.find(key);
    if (it != channels_.end() && it->second.state == State::closed) channels_.erase(it);
  }
  closed_keys_.clear();
}

void DataChannels::handle_event(const sctp::Event& event) {
  using Type = sctp::Event::Type;
  switch (event.type) {
    case Type::connected: {
      connected_ = true;
      for (auto& [key, channel] : channels_) open_on_wire(key, channel);
      break;
    }
    case Type::message: {
      if (event.ppid == sctp::Ppid::dcep) {
        std::variant<dcep::Open, dcep::Ack> message;
        try {
          message = dcep::parse(event.data);
        } catch (const Error& e) {
          auto it = by_id_.find(event.stream);
          if (it != by_id_.end() && callbacks_.on_error) callbacks_.on_error(it->second, e.what());
          break;
        }
        if (const auto* open = std::get_if<dcep::Open>(&message)) {
          if (by_id_.contains(event.stream)) break;  // a duplicate OPEN: ignore
          // RFC 8832 section 6: the remote opens on ids of its parity; accept what it sent.
          const ChannelKey key = callbacks_.on_remote_open(event.stream, *open);
          Channel channel;
          channel.config = config_from(*open);
          channel.id = event.stream;
          channel.remote_initiated = true;
          by_id_[event.stream] = key;
          auto& stored = channels_[key] = std::move(channel);
          scratch_.clear();
          dcep::write_ack(scratch_);
          send_dcep(stored, scratch_);
          open_on_wire(key, stored);
        } else {
          auto it = by_id_.find(event.stream);
          if (it != by_id_.end()) channels_[it->second].acked = true;
        }
        break;
      }
      auto it = by_id_.find(event.stream);
      if (it == by_id_.end()) break;  // no channel on that stream (yet): dropped
      const bool binary = event.ppid == sctp::Ppid::binary ||
                          event.ppid == sctp::Ppid::binary_empty ||
                          static_cast<std::uint32_t>(event.ppid) == dcep::kPpidBinaryPartial;
      const bool empty =
          event.ppid == sctp::Ppid::binary_empty || event.ppid == sctp::Ppid::string_empty;
      if (callbacks_.on_message) {
        callbacks_.on_message(it->second, binary,
                              empty ? std::span<const std::byte>() : event.data);
      }
      break;
    }
    case Type::stream_reset: {
      auto it = by_id_.find(event.stream);
      if (it == by_id_.end()) break;
      const ChannelKey key = it->second;
      Channel& channel = channels_[key];
      if (channel.state == State::open && association_ != nullptr) {
        // Answer the remote's close with ours, after what we still had queued for it.
        channel.state = State::closing;
        channel.closed_when_reset = true;
        reset_after_queue(key, channel);
        break;
      }
      if (channel.reset_when_flushed) {  // both closed at once; ours waits for the queue
        channel.closed_when_reset = true;
        break;
      }
      mark_closed(key, channel);
      break;
    }
    case Type::writable:
      flush_queued();
      break;
    case Type::closed:
      connected_ = false;
      for (auto& [key, channel] : channels_) mark_closed(key, channel);
      break;
  }
  // Here no loop over channels_ is running (callbacks may have closed channels meanwhile).
  purge_closed();
}

}  // namespace peer::session
