#include "server/redis_bridge.hpp"

#include <pthread.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <cstdarg>
#include <set>
#include <stdexcept>

#include "server/hub.hpp"

namespace peer::server {

namespace {

constexpr int kRoomTtlSeconds = 86400;

std::string room_key(const std::string& room) { return "peer:room:" + room; }
std::string node_key(std::string_view node) { return "peer:node:" + std::string(node); }
std::string channel(std::string_view node) { return "peer:to:" + std::string(node); }
constexpr const char* kJoinCounter = "peer:joins";  // INCR: the order of joins over all nodes

redisContext* connect(const std::string& host, int port) {
  timeval timeout{2, 0};
  redisContext* c = redisConnectWithTimeout(host.c_str(), port, timeout);
  if (c == nullptr) throw std::runtime_error("cannot allocate a Redis context");
  if (c->err != 0) {
    std::string error = c->errstr;
    redisFree(c);
    throw std::runtime_error("cannot connect to Redis at " + host + ":" + std::to_string(port) + ": " + error);
  }
  return c;
}

}  // namespace

RedisBridge::RedisBridge(const std::string& url, std::string node, std::chrono::milliseconds heartbeat, Handler on_message)
    : node_(std::move(node)), heartbeat_(heartbeat), on_message_(std::move(on_message)) {
  constexpr std::string_view kScheme = "redis://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) throw std::invalid_argument("redis url must start with redis://");
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  const auto colon = rest.rfind(':');
  host_ = rest.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      port_ = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      throw std::invalid_argument("bad port in redis url " + url);
    }
  }
  if (host_.empty()) throw std::invalid_argument("no host in redis url " + url);
}

RedisBridge::~RedisBridge() {
  stop();
  if (commands_ != nullptr) redisFree(commands_);
}

void RedisBridge::start() {
  {
    std::lock_guard lock(mutex_);
    ensure_connected_locked();
  }
  beat({});
  {
    std::lock_guard lock(subscriber_mutex_);
    subscriber_ = connect(host_, port_);
    Reply reply(static_cast<redisReply*>(redisCommand(subscriber_, "SUBSCRIBE %s", channel(node_).c_str())),
                freeReplyObject);
    if (!reply || reply->type == REDIS_REPLY_ERROR) throw std::runtime_error("SUBSCRIBE failed");
  }
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "peer-redis-sub");
    subscribe_loop();
  });
}

void RedisBridge::stop() {
  if (stopping_.exchange(true)) return;
  {
    std::lock_guard lock(subscriber_mutex_);
    // Wakes the blocking read in subscribe_loop (the fd stays owned by the context).
    if (subscriber_ != nullptr) ::shutdown(subscriber_->fd, SHUT_RDWR);
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(subscriber_mutex_);
    if (subscriber_ != nullptr) redisFree(subscriber_);
    subscriber_ = nullptr;
  }
  try {
    std::lock_guard lock(mutex_);
    command_locked("DEL %s", node_key(node_).c_str());
  } catch (const std::runtime_error&) {
  }
}

void RedisBridge::subscribe_loop() {
  while (!stopping_) {
    redisContext* c = nullptr;
    {
      std::lock_guard lock(subscriber_mutex_);
      c = subscriber_;
    }
    if (c != nullptr) {
      void* raw = nullptr;
      while (!stopping_ && redisGetReply(c, &raw) == REDIS_OK) {
        Reply reply(static_cast<redisReply*>(raw), freeReplyObject);
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 && reply->element[2]->type == REDIS_REPLY_STRING) {
          on_message_(std::string_view(reply->element[2]->str, reply->element[2]->len));
        }
      }
      if (stopping_) return;
      spdlog::error("event=redis-error op=subscribe error=\"{}\"", c->errstr);
      std::lock_guard lock(subscriber_mutex_);
      redisFree(subscriber_);
      subscriber_ = nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    if (stopping_) return;
    try {
      redisContext* fresh = connect(host_, port_);
      Reply reply(static_cast<redisReply*>(redisCommand(fresh, "SUBSCRIBE %s", channel(node_).c_str())), freeReplyObject);
      std::lock_guard lock(subscriber_mutex_);
      subscriber_ = fresh;
      if (stopping_) ::shutdown(fresh->fd, SHUT_RDWR);
    } catch (const std::runtime_error& e) {
      spdlog::error("event=redis-error op=subscribe error=\"{}\"", e.what());
    }
  }
}

void RedisBridge::ensure_connected_locked() {
  if (commands_ != nullptr && commands_->err == 0) return;
  if (commands_ != nullptr) redisFree(commands_);
  commands_ = nullptr;
  commands_ = connect(host_, port_);
}

RedisBridge::Reply RedisBridge::command_locked(const char* format, ...) {
  ensure_connected_locked();
  va_list args;
  va_start(args, format);
  void* raw = redisvCommand(commands_, format, args);
  va_end(args);
  Reply reply(static_cast<redisReply*>(raw), freeReplyObject);
  if (!reply) throw std::runtime_error(std::string("Redis: ") + commands_->errstr);
  if (reply->type == REDIS_REPLY_ERROR) throw std::runtime_error(std::string("Redis: ") + reply->str);
  return reply;
}

std::vector<std::string> RedisBridge::live_members(const std::string& room, std::vector<std::string>& departed) {
  std::lock_guard lock(mutex_);
  Reply reply = command_locked("ZRANGE %s 0 -1", room_key(room).c_str());  // in join order
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < reply->elements; ++i) ids.emplace_back(reply->element[i]->str, reply->element[i]->len);
  std::set<std::string, std::less<>> dead;
  std::set<std::string, std::less<>> checked;
  for (const auto& id : ids) {
    const auto node = node_of(id);
    if (node == node_ || !checked.emplace(node).second) continue;
    if (command_locked("EXISTS %s", node_key(node).c_str())->integer == 0) dead.emplace(node);
  }
  std::vector<std::string> live;
  for (auto& id : ids) {
    if (!dead.contains(node_of(id))) {
      live.push_back(std::move(id));
    } else if (command_locked("ZREM %s %s", room_key(room).c_str(), id.c_str())->integer == 1) {
      departed.push_back(std::move(id));  // we removed it, so we announce it
    }
  }
  return live;
}

std::vector<std::string> RedisBridge::add(const std::string& room, const std::string& id) {
  // One script, so one atomic step in Redis: numbering the join, adding it and reading who
  // came before. As separate commands, two joins on two nodes could interleave as
  // INCR(A) INCR(B) ZADD(B) READ(B) ZADD(A) READ(A): B reads before A is in the set, A
  // sees B as later, and neither learns of the other (2 of 1,000 pairs in a CI run).
  static constexpr const char* kJoinScript =
      "local order = redis.call('INCR', KEYS[1]) "
      "redis.call('ZADD', KEYS[2], order, ARGV[1]) "
      "redis.call('EXPIRE', KEYS[2], ARGV[2]) "
      "return redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. order)";
  std::lock_guard lock(mutex_);
  Reply reply = command_locked("EVAL %s 2 %s %s %s %d", kJoinScript, kJoinCounter,
                               room_key(room).c_str(), id.c_str(), kRoomTtlSeconds);
  std::vector<std::string> earlier;
  for (std::size_t i = 0; i < reply->elements; ++i) earlier.emplace_back(reply->element[i]->str, reply->element[i]->len);
  return earlier;
}

void RedisBridge::remove(const std::string& room, const std::string& id) {
  std::lock_guard lock(mutex_);
  command_locked("ZREM %s %s", room_key(room).c_str(), id.c_str());
}

bool RedisBridge::is_member(const std::string& room, const std::string& id) {
  std::lock_guard lock(mutex_);
  return command_locked("ZSCORE %s %s", room_key(room).c_str(), id.c_str())->type != REDIS_REPLY_NIL;
}

void RedisBridge::publish(const std::string& node, std::string_view payload) {
  std::lock_guard lock(mutex_);
  command_locked("PUBLISH %s %b", channel(node).c_str(), payload.data(), payload.size());
}

void RedisBridge::beat(const std::vector<std::string>& rooms) {
  std::lock_guard lock(mutex_);
  const long long ttl_ms = 3 * heartbeat_.count();
  command_locked("SET %s 1 PX %lld", node_key(node_).c_str(), ttl_ms);
  for (const auto& room : rooms) command_locked("EXPIRE %s %d", room_key(room).c_str(), kRoomTtlSeconds);
}

}  // namespace peer::server
