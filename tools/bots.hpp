#pragma once
// The bots of `peer serve`: each room with a visitor gets one native peer that answers the
// visitor's offer and echoes chat back with a prefix.
//
// The server tells Bots of every join and leave (ServerOptions::on_membership). Bots
// connect to the server on the path "/.bot", which is how their own joins are told apart
// from visitors'. Per room:
//   - a visitor joins and the room has no bot: a bot is started. It joins as the newcomer,
//     so the visitor (the earlier member) offers, as the protocol's roles say;
//   - the visitor the bot is paired with leaves (page closed or reloaded), or the room has
//     no visitor left, or the bot's connection fails or closes: the bot is closed, and a
//     new one is started when a visitor is still in the room (the next visitor is served).
// Events are handled in order on one thread of Bots' own, so a slow peer setup never
// holds the server's lock.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "network_options.hpp"
#include "peer/store.hpp"
#include "server/options.hpp"

namespace peer::tools {

struct BotOptions {
  // Where the bots' ICE gathers (addresses null: every interface) and their STUN/TURN servers.
  NetworkConfig network;
  std::size_t max_bots = 100;  // rooms served at once; more wait for a free bot
  std::string chat_prefix = "bot: ";
  // The test pattern each bot offers to send ("WxH", 0x0: none) and a 440 Hz tone; a page
  // gets them when it asks to receive video or audio.
  int video_width = 640;
  int video_height = 480;
};

class Bots {
 public:
  explicit Bots(BotOptions options);
  ~Bots();  // closes every bot
  // Starts serving, bots joining the server at `signal_url` (known once the server listens);
  // events that came before are handled then.
  void start(std::string signal_url);
  Bots(const Bots&) = delete;
  Bots& operator=(const Bots&) = delete;

  // Hook for ServerOptions::on_membership: copies the event and returns at once.
  void on_membership(const server::MembershipEvent& event);
  // Closes every bot and stops the thread; nothing starts afterwards.
  void stop();
  std::size_t count() const;

 private:
  struct Bot;
  struct Event {
    enum Kind { join, leave, bot_done } kind;
    std::string room, id;
    bool bot = false;          // join/leave: the member is one of our bots
    std::uint64_t serial = 0;  // bot_done: which bot
    std::string reason;
  };
  struct Room {
    std::set<std::string> visitors;
    std::unique_ptr<Bot> bot;
  };

  void post(Event event);
  void run();
  void handle(const Event& event);
  void start_bot(const std::string& room_name, Room& room);
  void stop_bot(const std::string& room_name, Room& room, const std::string& reason);
  // Starts bots for rooms that waited for one (--max-bots was reached when they came).
  void serve_waiting();

  const BotOptions options_;
  std::string signal_url_;  // ws://host:port of the server, without a path
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  bool stopping_ = false;
  std::map<std::string, Room> rooms_;  // only the worker thread touches rooms_
  std::size_t bots_ = 0;               // guarded by mutex_
  std::uint64_t next_serial_ = 0;
  std::thread thread_;
};

}  // namespace peer::tools
