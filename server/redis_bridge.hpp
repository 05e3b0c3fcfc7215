#pragma once
// Shares rooms between server processes (nodes) through Redis (docs/signaling.md,
// "Several nodes").
//
// Keys: `peer:room:<room>` is a sorted set of member ids scored by join order (INCR of
// `peer:joins`, one counter for all nodes); ids are "<node>-<n>", so the node that holds a
// member is part of its id. `peer:node:<node>` exists while that node lives: each
// heartbeat sets it with a TTL of three heartbeats, so a node that dies disappears from
// Redis within 3 heartbeats, and its members are removed (and announced as "peer-left")
// by the first live node that sees the room afterwards (at a join or its own heartbeat).
// Messages for a node are PUBLISHed on channel `peer:to:<node>`; each node SUBSCRIBEs to
// its own channel only.
//
// Two hiredis connections: commands (synchronous, one mutex, used from the I/O threads;
// loopback Redis answers in tens of microseconds) and the subscriber (its own thread,
// blocking reads; stop() shuts its socket to wake it). A failed command connection is
// reconnected on the next command; the subscriber reconnects every 500 ms until it can.

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace peer::server {

class RedisBridge {
 public:
  using Handler = std::function<void(std::string_view payload)>;

  // `url` is redis://host[:port]. Throws std::invalid_argument on a bad url.
  RedisBridge(const std::string& url, std::string node, std::chrono::milliseconds heartbeat, Handler on_message);
  ~RedisBridge();
  RedisBridge(const RedisBridge&) = delete;
  RedisBridge& operator=(const RedisBridge&) = delete;

  // Connects, marks the node alive and starts the subscriber. Throws std::runtime_error.
  void start();
  // Stops the subscriber and deletes the node's liveness key (its members have left).
  void stop();

  // All of these throw std::runtime_error when Redis fails.
  // The members of `room` on live nodes. Members of dead nodes are removed from the set;
  // those this call removed (and so must announce) are appended to `departed`.
  std::vector<std::string> live_members(const std::string& room, std::vector<std::string>& departed);
  // Adds `id` after everyone there and returns the members that joined before it (on any
  // node). Of two joins on two nodes at the same moment, the later one sees the earlier
  // one, and the earlier one never sees the later: each pair meets once, in one order.
  std::vector<std::string> add(const std::string& room, const std::string& id);
  void remove(const std::string& room, const std::string& id);
  bool is_member(const std::string& room, const std::string& id);
  void publish(const std::string& node, std::string_view payload);
  // Refreshes the node's liveness key and the TTL of `rooms` (a day: sets of rooms whose
  // nodes all died do not stay forever).
  void beat(const std::vector<std::string>& rooms);

 private:
  using Reply = std::unique_ptr<redisReply, void (*)(void*)>;
  Reply command_locked(const char* format, ...);
  void ensure_connected_locked();
  void subscribe_loop();

  std::string host_;
  int port_ = 6379;
  const std::string node_;
  const std::chrono::milliseconds heartbeat_;
  Handler on_message_;
  std::mutex mutex_;  // guards commands_
  redisContext* commands_ = nullptr;
  std::mutex subscriber_mutex_;  // guards subscriber_ between the thread and stop()
  redisContext* subscriber_ = nullptr;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace peer::server
