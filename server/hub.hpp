#pragma once
// The rooms of one server process: who is in which room, join/leave notifications and
// relaying. With a RedisBridge the rooms are shared with other processes (nodes):
// membership lives in Redis and messages for members of another node go through it.
//
// One mutex guards the maps; a message is serialised once, then only handed to the
// recipient's queue (Member::deliver) under the lock. With Redis, join and leave also talk
// to Redis under the lock, which serialises them per node but keeps membership and
// notifications in one order (joins are rare next to relayed messages).

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/member.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"
#include "signal/message.hpp"

namespace peer::server {

class RedisBridge;

class Hub {
 public:
  Hub(const ServerOptions& options, Metrics& metrics, std::string node);

  void set_bridge(RedisBridge* bridge) { bridge_ = bridge; }
  const std::string& node() const { return node_; }
  // Peer ids are "<node>-<n>": the node part routes a message to the process holding it.
  std::string next_peer_id();

  // On success `member` has been sent "joined" and the others "peer-joined".
  std::optional<signaling::ProtocolError> join(const std::shared_ptr<Member>& member, const signaling::Join& join);
  // Leaves the member's room, if any; the others get "peer-left".
  void leave(const Member& member);
  std::optional<signaling::ProtocolError> relay(const Member& from, signaling::Relay&& relay);

  // A message published to this node by another one (RedisBridge's subscriber thread).
  void on_bus_message(std::string_view payload);
  // Called every heartbeat with Redis: keeps this node alive there and forgets members of
  // nodes that stopped beating.
  void heartbeat();

  std::vector<std::shared_ptr<Member>> members() const;

 private:
  struct Entry {
    std::shared_ptr<Member> member;
    std::string room;
  };
  void broadcast_locked(const std::string& room, const std::string& exclude, const Text& text);
  void broadcast_remote(const std::string& room, const std::string& exclude, const Text& text,
                        const std::vector<std::string>& member_ids);
  void announce_departed(const std::string& room, const std::vector<std::string>& ids);

  const ServerOptions& options_;
  Metrics& metrics_;
  const std::string node_;
  RedisBridge* bridge_ = nullptr;
  mutable std::mutex mutex_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::string, Entry> members_;                      // joined, by id
  std::unordered_map<std::string, std::vector<std::string>> rooms_;     // local member ids
};

// The node part of a peer id ("" when it has none).
std::string_view node_of(std::string_view peer_id);

}  // namespace peer::server
