#include "bots.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "peer/channel.hpp"
#include "peer/media.hpp"
#include "peer/peer.hpp"
#include "peer/signal.hpp"

namespace peer::tools {

// One room's native peer: echoes "chat" with a prefix and every other channel as it is.
struct Bots::Bot {
  Bot(Bots& owner, const std::string& room, std::uint64_t serial) : serial(serial) {
    apply_network(peer, owner.options_.network);
    if (owner.options_.video_width > 0) {
      tracks.push_back(peer.use(
          video({.width = owner.options_.video_width, .height = owner.options_.video_height})));
      tracks.push_back(peer.use(audio()));
    }
    auto chat = peer.use(channel("chat"));
    subs.push_back(chat.on_message([chat, prefix = owner.options_.chat_prefix](
                                       const Message& m) mutable { echo(chat, m, prefix); }));
    subs.push_back(peer.on_channel([this](Channel c) {
      auto sub = c.on_message([c](const Message& m) mutable { echo(c, m, {}); });
      std::lock_guard lock(mutex);
      subs.push_back(std::move(sub));
    }));
    subs.push_back(peer.on("change connection", [&owner, &room, serial, this](const json& state) {
      if (state == "connected") {
        spdlog::info("event=bot-connected room={} pair={}", room, peer.get("pair").dump());
      } else if (state == "failed" || state == "closed") {
        owner.post(
            {Event::bot_done, room, {}, true, serial, "connection-" + state.get<std::string>()});
      }
    }));
    subs.push_back(peer.on("error", [&owner, &room, serial](const json& e) {
      const std::string code = e.value("code", "");
      spdlog::info("event=bot-error room={} code={} message=\"{}\"", room, code,
                   e.value("message", ""));
      // The visitor left before the connection was up: this Peer cannot pair again.
      if (code == "signal_peer_left")
        owner.post({Event::bot_done, room, {}, true, serial, "peer-left"});
    }));
    peer.use(signal(room, owner.signal_url_ + "/.bot"));
  }
  ~Bot() {
    peer.close();  // no callback runs after this, so subs may go
    std::lock_guard lock(mutex);
    subs.clear();
  }

  static void echo(Channel& c, const Message& m, const std::string& prefix) {
    try {
      if (m.binary()) {
        c.send(m.bytes());
      } else {
        c.send(prefix.empty() ? std::string(m.text()) : prefix + std::string(m.text()));
      }
    } catch (const std::exception& e) {  // a message over the remote's limit, a closed channel
      spdlog::info("event=bot-echo-failed label={} error=\"{}\"", c.label(), e.what());
    }
  }

  std::string remote() const {
    const json r = peer.get("signal-remote");
    return r.is_string() ? r.get<std::string>() : std::string();
  }

  const std::uint64_t serial;
  Peer peer;
  std::vector<Track> tracks;  // sent only when the visitor's offer asks for them
  std::mutex mutex;           // subs: on_channel runs on the peer's loop, ~Bot on the worker
  std::vector<Subscription> subs;
};

Bots::Bots(BotOptions options) : options_(std::move(options)) {}

void Bots::start(std::string signal_url) {
  signal_url_ = std::move(signal_url);
  thread_ = std::thread([this] { run(); });
}

Bots::~Bots() {
  stop();
}

void Bots::on_membership(const server::MembershipEvent& e) {
  post({e.joined ? Event::join : Event::leave,
        std::string(e.room),
        std::string(e.id),
        e.path.starts_with("/.bot"),
        0,
        {}});
}

void Bots::post(Event event) {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  queue_.push_back(std::move(event));
  wake_.notify_one();
}

void Bots::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

std::size_t Bots::count() const {
  std::lock_guard lock(mutex_);
  return bots_;
}

void Bots::run() {
  for (;;) {
    Event event;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      event = std::move(queue_.front());
      queue_.pop_front();
    }
    handle(event);
  }
  for (auto& [name, room] : rooms_) {
    if (room.bot) stop_bot(name, room, "shutdown");
  }
  rooms_.clear();
}

void Bots::handle(const Event& event) {
  if (event.kind == Event::join && event.bot) return;  // our own bot arriving
  auto it = rooms_.find(event.room);
  if (event.kind == Event::join) {
    if (it == rooms_.end()) it = rooms_.emplace(event.room, Room{}).first;
    it->second.visitors.insert(event.id);
    if (!it->second.bot) start_bot(it->first, it->second);
    return;
  }
  if (it == rooms_.end()) return;  // a room whose bot was refused and that emptied
  Room& room = it->second;
  if (event.kind == Event::leave) {
    if (event.bot) return;  // the bot's own leave follows its close
    room.visitors.erase(event.id);
    if (room.bot && (room.bot->remote() == event.id || room.visitors.empty())) {
      stop_bot(it->first, room, "peer-left");
      if (!room.visitors.empty()) start_bot(it->first, room);
    }
  } else if (room.bot && room.bot->serial == event.serial) {  // bot_done, for the current bot
    stop_bot(it->first, room, event.reason);
    if (!room.visitors.empty()) start_bot(it->first, room);
  }
  if (!room.bot && room.visitors.empty()) rooms_.erase(it);
  serve_waiting();
}

void Bots::serve_waiting() {
  for (auto& [name, room] : rooms_) {
    if (room.bot || room.visitors.empty()) continue;
    {
      std::lock_guard lock(mutex_);
      if (bots_ >= options_.max_bots) return;
    }
    start_bot(name, room);
  }
}

void Bots::start_bot(const std::string& room_name, Room& room) {
  std::size_t count;
  {
    std::lock_guard lock(mutex_);
    if (bots_ >= options_.max_bots) {
      spdlog::warn("event=bot-refused room={} reason=max-bots bots={}", room_name, bots_);
      return;
    }
    count = ++bots_;
  }
  try {
    // room_name lives in rooms_ as the map's key, which outlives the bot.
    room.bot = std::make_unique<Bot>(*this, room_name, ++next_serial_);
    spdlog::info("event=bot-start room={} bots={}", room_name, count);
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    --bots_;
    spdlog::error("event=bot-failed room={} error=\"{}\"", room_name, e.what());
  }
}

void Bots::stop_bot(const std::string& room_name, Room& room, const std::string& reason) {
  room.bot.reset();
  std::size_t count;
  {
    std::lock_guard lock(mutex_);
    count = --bots_;
  }
  spdlog::info("event=bot-stop room={} reason={} bots={}", room_name, reason, count);
}

}  // namespace peer::tools
