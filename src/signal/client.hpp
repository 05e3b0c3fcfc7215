#pragma once
// peer::signaling::Client: one signaling connection (docs/signaling.md), for the `signal`
// plugin and the command line.
//
//   peer::signaling::Client client("ws://127.0.0.1:8787/");
//   client.on_message([](const nlohmann::json& m) { ... });   // set callbacks first
//   client.on_state([](const std::string& s) { ... });
//   client.join("room", token);                                 // connects
//   client.send({{"type", "offer"}, {"sdp", sdp}, {"to", id}});
//
// Threads: each Client owns one asio io_context run by one background thread
// ("peer-signal"). Callbacks run there, one at a time, in order; the plugin posts them on
// to its peer's loop. A thread per client keeps a client independent of any other event
// loop; a process has few signaling connections, so the cost is small.
//
// States: "connecting" (resolving, connecting, or waiting to retry), "open" (connected,
// no room asked for), "joined" (the server answered "joined"), "closed" (after close();
// the last callback).
//
// Reconnects: when the connection drops or cannot be made, the client retries after
// 100 ms, doubling up to 5 s, each delay drawn from [d/2, d] (jitter spreads clients that
// lost the same server), and joins its room again once connected. The server gives it a
// new id: the others see "peer-left" for the old one and "peer-joined" for the new one.
//
// Queue: send() while not joined keeps the message (up to `max_queue`) and sends it after
// the next "joined"; beyond that the message is dropped and on_message receives
// {"type":"error","code":"queue-full","local":true,...}. Messages already handed to a
// connection that then drops are lost (the server may or may not have relayed them).

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace peer::signaling {

struct ClientOptions {
  std::size_t max_queue = 256;
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds connect_timeout{5000};  // TCP connect + WebSocket handshake
};

class Client {
 public:
  using MessageHandler = std::function<void(const nlohmann::json&)>;
  using StateHandler = std::function<void(const std::string&)>;

  // `url` is ws://host:port/path (host may be [v6]); throws std::invalid_argument if not.
  explicit Client(std::string url, ClientOptions options = {});
  // close(), then joins the thread; from inside a callback it detaches instead.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Set before connect()/join(): they are not synchronised with the client's thread.
  void on_message(MessageHandler handler);
  void on_state(StateHandler handler);

  // Starts connecting (join() does too). Any thread.
  void connect();
  // Joins `room` (leaving the current one first), now or once connected, and again after
  // every reconnect. Any thread.
  void join(std::string room, std::string token = {});
  // Leaves the room; the connection stays open. Any thread.
  void leave();
  // Sends a message (its "from" is set by the server). Any thread.
  void send(nlohmann::json message);
  // Asks the server for a sign of life (a WebSocket ping) and takes the connection as lost,
  // closing it and reconnecting as after any drop, when nothing arrives within `within`.
  // For a caller with reason to think the network changed (a TCP connection whose local
  // address is gone would otherwise hang until TCP gives up, many minutes). No-op while
  // not connected or while a check is out. Any thread.
  void check(std::chrono::milliseconds within);
  // Closes the connection and stops reconnecting. Any thread, also inside a callback;
  // from another thread it returns after the "closed" callback, and no callback runs
  // afterwards. Idempotent.
  void close();

  // The id the server gave on the last "joined" (empty before). Any thread.
  std::string id() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

struct WsUrl {
  std::string host;  // without brackets
  std::string port;
  std::string path;  // starts with '/'
};
// Parses ws://host[:port][/path]; port defaults to 80. Throws std::invalid_argument.
WsUrl parse_ws_url(const std::string& url);

}  // namespace peer::signaling
