#include "server/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <stdexcept>

#include "server/redis_bridge.hpp"
#include "signal/token.hpp"

namespace peer::server {

using signaling::ErrorCode;
using signaling::ProtocolError;

namespace {

Text make_text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Bus payloads: "R <room> <to>\n<json>" (relay to one member) or
// "B <room> <exclude>\n<json>" (to every member of the room but one; "-" excludes nobody).
std::string bus_payload(char kind, std::string_view room, std::string_view who, std::string_view json) {
  std::string out;
  out.reserve(room.size() + who.size() + json.size() + 4);
  out += kind;
  out += ' ';
  out += room;
  out += ' ';
  out += who;
  out += '\n';
  out += json;
  return out;
}

}  // namespace

std::string_view node_of(std::string_view peer_id) {
  const auto dash = peer_id.find('-');
  return dash == std::string_view::npos ? std::string_view{} : peer_id.substr(0, dash);
}

Hub::Hub(const ServerOptions& options, Metrics& metrics, std::string node)
    : options_(options), metrics_(metrics), node_(std::move(node)) {}

std::string Hub::next_peer_id() {
  std::lock_guard lock(mutex_);
  return node_ + "-" + std::to_string(++next_id_);
}

std::optional<ProtocolError> Hub::join(const std::shared_ptr<Member>& member, const signaling::Join& join) {
  if (!options_.secret.empty()) {
    if (join.token.empty()) return ProtocolError{ErrorCode::unauthorized, "this server needs a \"token\" to join"};
    auto status = signaling::verify_token(join.token, join.room, unix_now(), options_.secret);
    if (status != signaling::TokenStatus::ok) {
      return ProtocolError{ErrorCode::unauthorized, "token refused: " + std::string(signaling::to_string(status))};
    }
  }
  std::lock_guard lock(mutex_);
  if (auto it = members_.find(member->id()); it != members_.end()) {
    return ProtocolError{ErrorCode::bad_message, "already in room \"" + it->second.room + "\"; send \"leave\" first"};
  }
  const bool new_room = !rooms_.contains(join.room);
  if (new_room && rooms_.size() >= options_.max_rooms) {
    return ProtocolError{ErrorCode::server_full, "this server has its maximum of " + std::to_string(options_.max_rooms) + " rooms"};
  }
  std::vector<std::string> ids;
  try {
    if (bridge_ != nullptr) {
      std::vector<std::string> departed;
      ids = bridge_->live_members(join.room, departed);
      if (!departed.empty()) announce_departed(join.room, departed);
    } else if (!new_room) {
      ids = rooms_[join.room];
    }
    if (ids.size() >= options_.max_room_members) {
      return ProtocolError{ErrorCode::room_full, "room \"" + join.room + "\" has its maximum of " +
                                                     std::to_string(options_.max_room_members) + " members"};
    }
    // The members before us in Redis's join order, read after adding ourselves: a member
    // joining on another node at this moment is either seen here (it was first) or sees us.
    if (bridge_ != nullptr) ids = bridge_->add(join.room, member->id());
  } catch (const std::runtime_error& e) {
    return ProtocolError{ErrorCode::internal, std::string("membership store failed: ") + e.what()};
  }
  members_[member->id()] = Entry{member, join.room};
  rooms_[join.room].push_back(member->id());
  metrics_.rooms.store(static_cast<std::int64_t>(rooms_.size()));
  metrics_.joins.fetch_add(1, std::memory_order_relaxed);
  member->deliver(make_text(signaling::make_joined(join.room, member->id(), ids)));
  const Text joined = make_text(signaling::make_peer_event("peer-joined", member->id()));
  broadcast_locked(join.room, member->id(), joined);  // local members all joined before
  // Remote ones: only those before us (one that joined after us had us in its "peers"), so
  // one by one rather than to every member of the room on their node.
  if (bridge_ != nullptr) {
    for (const auto& id : ids) {
      const auto node = node_of(id);
      if (node.empty() || node == node_) continue;
      try {
        bridge_->publish(std::string(node), bus_payload('R', join.room, id, *joined));
      } catch (const std::runtime_error& e) {
        spdlog::error("event=redis-error op=publish node={} error=\"{}\"", node, e.what());
      }
    }
  }
  spdlog::info("event=join id={} room={} members={}", member->id(), join.room, ids.size() + 1);
  if (options_.on_membership) options_.on_membership({join.room, member->id(), member->path(), true});
  return std::nullopt;
}

void Hub::leave(const Member& member) {
  std::lock_guard lock(mutex_);
  auto it = members_.find(member.id());
  if (it == members_.end()) return;
  const std::string room = std::move(it->second.room);
  members_.erase(it);
  auto& local = rooms_[room];
  std::erase(local, member.id());
  if (local.empty()) rooms_.erase(room);
  metrics_.rooms.store(static_cast<std::int64_t>(rooms_.size()));
  const Text left = make_text(signaling::make_peer_event("peer-left", member.id()));
  broadcast_locked(room, member.id(), left);
  if (bridge_ != nullptr) {
    try {
      bridge_->remove(room, member.id());
      std::vector<std::string> departed;
      auto ids = bridge_->live_members(room, departed);
      broadcast_remote(room, member.id(), left, ids);
    } catch (const std::runtime_error& e) {
      // Its node's heartbeat lapses only when the whole node dies; until then the others
      // keep seeing this id. Logged so that an operator sees Redis trouble.
      spdlog::error("event=redis-error op=leave id={} room={} error=\"{}\"", member.id(), room, e.what());
    }
  }
  spdlog::info("event=leave id={} room={}", member.id(), room);
  if (options_.on_membership) options_.on_membership({room, member.id(), member.path(), false});
}

std::optional<ProtocolError> Hub::relay(const Member& from, signaling::Relay&& relay) {
  std::unique_lock lock(mutex_);
  auto self = members_.find(from.id());
  if (self == members_.end()) return ProtocolError{ErrorCode::not_joined, "join a room before sending to a peer"};
  const std::string room = self->second.room;
  relay.body["from"] = from.id();  // the server's word, never the client's
  const Text text = make_text(relay.body.dump());
  if (auto target = members_.find(relay.to); target != members_.end() && target->second.room == room) {
    // Counted before it is handed on: the receiver may read it (and a test the counter)
    // before this thread runs again.
    metrics_.messages_relayed.fetch_add(1, std::memory_order_relaxed);
    target->second.member->deliver(text);
    return std::nullopt;
  }
  lock.unlock();
  const auto node = node_of(relay.to);
  if (bridge_ != nullptr && !node.empty() && node != node_) {
    try {
      if (bridge_->is_member(room, relay.to)) {
        bridge_->publish(std::string(node), bus_payload('R', room, relay.to, *text));
        metrics_.messages_relayed.fetch_add(1, std::memory_order_relaxed);
        return std::nullopt;
      }
    } catch (const std::runtime_error& e) {
      return ProtocolError{ErrorCode::internal, std::string("relay through Redis failed: ") + e.what()};
    }
  }
  return ProtocolError{ErrorCode::unknown_peer, "no peer \"" + relay.to + "\" in room \"" + room + "\""};
}

void Hub::on_bus_message(std::string_view payload) {
  const auto newline = payload.find('\n');
  if (newline == std::string_view::npos || newline < 2) return;
  const std::string_view header = payload.substr(2, newline - 2);
  const auto space = header.find(' ');
  if (space == std::string_view::npos) return;
  const std::string room(header.substr(0, space));
  const std::string who(header.substr(space + 1));
  const Text text = make_text(std::string(payload.substr(newline + 1)));
  std::lock_guard lock(mutex_);
  if (payload[0] == 'R') {
    auto target = members_.find(who);
    if (target != members_.end() && target->second.room == room) target->second.member->deliver(text);
  } else if (payload[0] == 'B') {
    broadcast_locked(room, who, text);
  }
}

void Hub::heartbeat() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& entry : rooms_) names.push_back(entry.first);
  try {
    bridge_->beat(names);
  } catch (const std::runtime_error& e) {
    spdlog::error("event=redis-error op=heartbeat error=\"{}\"", e.what());
    return;
  }
  for (const auto& [room, local] : rooms_) {
    try {
      std::vector<std::string> departed;
      bridge_->live_members(room, departed);
      if (!departed.empty()) announce_departed(room, departed);
    } catch (const std::runtime_error& e) {
      spdlog::error("event=redis-error op=sweep room={} error=\"{}\"", room, e.what());
      return;
    }
  }
}

std::vector<std::shared_ptr<Member>> Hub::members() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Member>> out;
  for (const auto& [id, entry] : members_) out.push_back(entry.member);
  return out;
}

void Hub::broadcast_locked(const std::string& room, const std::string& exclude, const Text& text) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  for (const auto& id : it->second) {
    if (id != exclude) members_.at(id).member->deliver(text);
  }
}

void Hub::broadcast_remote(const std::string& room, const std::string& exclude, const Text& text,
                           const std::vector<std::string>& member_ids) {
  if (bridge_ == nullptr) return;
  std::set<std::string, std::less<>> nodes;
  for (const auto& id : member_ids) {
    if (auto node = node_of(id); !node.empty() && node != node_) nodes.emplace(node);
  }
  if (nodes.empty()) return;
  const std::string payload = bus_payload('B', room, exclude.empty() ? "-" : exclude, *text);
  for (const auto& node : nodes) {
    try {
      bridge_->publish(node, payload);
    } catch (const std::runtime_error& e) {
      spdlog::error("event=redis-error op=publish node={} error=\"{}\"", node, e.what());
    }
  }
}

// Members of a dead node, just removed from Redis by us (so exactly one node announces).
void Hub::announce_departed(const std::string& room, const std::vector<std::string>& ids) {
  std::vector<std::string> live;
  std::vector<std::string> ignored;
  try {
    live = bridge_->live_members(room, ignored);
  } catch (const std::runtime_error&) {
  }
  for (const auto& id : ids) {
    const Text left = make_text(signaling::make_peer_event("peer-left", id));
    broadcast_locked(room, id, left);
    broadcast_remote(room, id, left, live);
    spdlog::info("event=leave id={} room={} reason=node-expired", id, room);
  }
}

}  // namespace peer::server
