#pragma once
// peer::server::Server: the signaling server (docs/signaling.md) on one port: WebSocket
// signaling, GET /healthz, GET /metrics and optionally static files.
//
//   Server server(options);
//   server.start();          // binds and runs `threads` I/O threads; throws on failure
//   server.port();           // the bound port (useful with port 0)
//   server.stop();           // tells every member, closes, joins the threads
//
// One io_context run by `threads` threads; each connection is on its own strand. With
// `redis_url` the rooms are shared with other servers (RedisBridge).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "server/hub.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"
#include "server/redis_bridge.hpp"
#include "server/session.hpp"

namespace peer::server {

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  // Idempotent. Members get {"type":"error","code":"shutdown","closed":true} and a close
  // frame; after `shutdown_grace` the rest are cut off.
  void stop();

  unsigned short port() const { return port_; }
  const std::string& node() const { return node_; }
  const Metrics& metrics() const { return metrics_; }

 private:
  void accept();
  void schedule_heartbeat();

  boost::asio::io_context io_;  // first: destroyed last, after everything holding sockets
  ServerOptions options_;
  Metrics metrics_;
  std::string node_;
  Hub hub_;
  Sessions sessions_;
  ServerContext context_;
  std::unique_ptr<RedisBridge> bridge_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;  // acceptor + heartbeat
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer heartbeat_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace peer::server
