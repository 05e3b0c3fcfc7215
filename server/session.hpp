#pragma once
// The connections of the server. Every accepted socket starts as an HttpSession that reads
// one request: a WebSocket upgrade becomes a WsSession, anything else gets its HTTP answer
// (http.hpp) and the connection is closed.
//
// A WsSession runs on its own strand: reads, writes and its state are never touched by two
// threads at once; other threads reach it through deliver()/shutdown(), which post.

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "server/http.hpp"
#include "server/hub.hpp"
#include "server/member.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"
#include "server/rate_limiter.hpp"

namespace peer::server {

class WsSession;

// Every open WebSocket session, so that shutdown can tell each of them.
class Sessions {
 public:
  void add(const std::shared_ptr<WsSession>& session);
  void remove(const WsSession* session);
  std::vector<std::shared_ptr<WsSession>> all() const;
  // Waits until none is left or `timeout` passed; true when none is left.
  bool wait_empty(std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mutex_;
  std::condition_variable empty_;
  std::unordered_map<const WsSession*, std::weak_ptr<WsSession>> sessions_;
};

struct ServerContext {
  const ServerOptions& options;
  Metrics& metrics;
  Hub& hub;
  Sessions& sessions;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket&& socket, ServerContext& context);
  void start();

 private:
  void on_request(boost::beast::error_code ec);

  boost::beast::tcp_stream stream_;
  ServerContext& context_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  HttpResponse response_;
};

class WsSession : public Member, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(boost::beast::tcp_stream&& stream, ServerContext& context, std::string id, std::string path);
  void start(HttpRequest request);
  void deliver(Text text) override;
  // Tells the client the server is going away (an error with "closed": true), leaves the
  // room at once (so other nodes see "peer-left" now, not when the client answers), then
  // closes with status 1001 "going away" (RFC 6455 section 7.4.1).
  void shutdown();

 private:
  void read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(std::string_view text);
  void send_error(signaling::ErrorCode code, std::string_view message, bool closed = false);
  // Sends an error with "closed": true, then the close frame with `code` once it is written.
  void close_with(signaling::ErrorCode error, std::string_view message, boost::beast::websocket::close_code code);
  void queue(Text text);
  void write_next();
  void finish(boost::beast::error_code ec);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  ServerContext& context_;
  boost::beast::flat_buffer buffer_;
  RateLimiter limiter_;
  std::deque<Text> out_;
  std::size_t message_bytes_ = 0;  // read so far of the current message
  boost::beast::websocket::close_code close_code_ = boost::beast::websocket::close_code::going_away;
  bool accepted_ = false;
  bool discarding_ = false;  // the current message is over the size limit
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

}  // namespace peer::server
