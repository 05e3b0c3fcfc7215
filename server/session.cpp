#include "server/session.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace peer::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using signaling::ErrorCode;

namespace {

// Past this many bytes in one message the connection is closed (docs/signaling.md, Limits).
std::size_t hard_message_limit(const ServerOptions& options) {
  return std::max<std::size_t>(options.max_message_bytes * 16, 1 << 20);
}

}  // namespace

void Sessions::add(const std::shared_ptr<WsSession>& session) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(session.get(), session);
}

void Sessions::remove(const WsSession* session) {
  std::lock_guard lock(mutex_);
  sessions_.erase(session);
  if (sessions_.empty()) empty_.notify_all();
}

std::vector<std::shared_ptr<WsSession>> Sessions::all() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<WsSession>> out;
  for (const auto& [key, weak] : sessions_) {
    if (auto s = weak.lock()) out.push_back(std::move(s));
  }
  return out;
}

bool Sessions::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return empty_.wait_for(lock, timeout, [&] { return sessions_.empty(); });
}

// ---- HttpSession

HttpSession::HttpSession(asio::ip::tcp::socket&& socket, ServerContext& context)
    : stream_(std::move(socket)), context_(context) {}

void HttpSession::start() {
  parser_.emplace();
  parser_->header_limit(16 * 1024);
  parser_->body_limit(4 * 1024);  // GETs and upgrades carry no body worth reading
  stream_.expires_after(std::chrono::seconds(10));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
}

void HttpSession::on_request(beast::error_code ec) {
  if (ec) return;  // closed, timed out or not HTTP: nothing to answer
  HttpRequest request = parser_->release();
  if (websocket::is_upgrade(request)) {
    stream_.expires_never();  // the WebSocket's own timeouts take over (Beast's rule)
    auto session = std::make_shared<WsSession>(std::move(stream_), context_, context_.hub.next_peer_id(),
                                               std::string(request.target()));
    session->start(std::move(request));
    return;
  }
  response_ = handle_http(request, context_.options, context_.metrics);
  spdlog::debug("event=http target={} status={}", std::string(request.target()), response_.result_int());
  http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
    beast::error_code ignored;
    self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  });
}

// ---- WsSession

WsSession::WsSession(beast::tcp_stream&& stream, ServerContext& context, std::string id, std::string path)
    : Member(std::move(id), std::move(path)), ws_(std::move(stream)), context_(context), limiter_(context.options.messages_per_second) {}

void WsSession::start(HttpRequest request) {
  const auto& options = context_.options;
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::seconds(5);  // opening and closing handshakes
  // Beast pings after half the idle time without a frame from the client and closes the
  // connection after the whole of it (RFC 6455 section 5.5.2: pings as keep-alive).
  timeouts.idle_timeout = options.idle_timeout;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  // Messages over the limit are read in pieces and discarded (answered with too-large).
  // The hard ceiling (hard_message_limit) that stops a client streaming without end is
  // counted in on_read rather than left to Beast's read_message_max: Beast would close
  // with 1009 without a word, and the client is owed its "too-large" error first.
  ws_.read_message_max(0);
  ws_.text(true);
  context_.sessions.add(shared_from_this());
  context_.metrics.connections.fetch_add(1);
  ws_.async_accept(request, [self = shared_from_this()](beast::error_code ec) {
    if (ec) return self->finish(ec);
    self->accepted_ = true;
    beast::error_code ignored;
    const auto remote = beast::get_lowest_layer(self->ws_).socket().remote_endpoint(ignored);
    spdlog::info("event=connect id={} remote={}:{}", self->id(), remote.address().to_string(), remote.port());
    if (self->closing_) return self->write_next();  // shutdown() came first
    self->read();
  });
}

void WsSession::read() {
  ws_.async_read_some(buffer_, 16 * 1024,
                      [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                        self->on_read(ec, bytes);
                      });
}

void WsSession::on_read(beast::error_code ec, std::size_t bytes) {
  if (ec) return finish(ec);
  const auto& options = context_.options;
  message_bytes_ += bytes;
  if (discarding_ || buffer_.size() > options.max_message_bytes) {
    discarding_ = true;
    buffer_.consume(buffer_.size());
  }
  if (!ws_.is_message_done()) {
    if (!closing_ && message_bytes_ > hard_message_limit(options)) {
      close_with(ErrorCode::too_large,
                 "a message went past " + std::to_string(hard_message_limit(options)) +
                     " bytes; the connection is closed (1009)",
                 websocket::close_code::too_big);
    }
    return read();  // also while closing: what follows is discarded until the close frame
  }
  message_bytes_ = 0;
  if (closing_) {
    discarding_ = false;  // shutting down: what the client still sends is ignored
  } else if (discarding_) {
    discarding_ = false;
    send_error(ErrorCode::too_large, "a message may have at most " + std::to_string(options.max_message_bytes) +
                                         " bytes; it was discarded");
  } else if (!limiter_.allow()) {
    send_error(ErrorCode::rate_limited, "more than " + fmt::format("{:g}", options.messages_per_second) +
                                            " messages per second; it was dropped");
  } else if (!ws_.got_text()) {
    send_error(ErrorCode::bad_message, "binary messages are not accepted; send JSON text");
  } else {
    const auto data = buffer_.cdata();
    handle(std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  buffer_.consume(buffer_.size());
  read();  // also while closing: the read ends when the close handshake does
}

void WsSession::handle(std::string_view text) {
  auto parsed = signaling::parse_client_message(text);
  if (auto* error = std::get_if<signaling::ProtocolError>(&parsed)) return send_error(error->code, error->message);
  auto& message = std::get<signaling::Message>(parsed);
  std::optional<signaling::ProtocolError> error;
  if (auto* join = std::get_if<signaling::Join>(&message)) {
    error = context_.hub.join(shared_from_this(), *join);
  } else if (std::holds_alternative<signaling::Leave>(message)) {
    context_.hub.leave(*this);
  } else {
    error = context_.hub.relay(*this, std::move(std::get<signaling::Relay>(message)));
  }
  if (error) send_error(error->code, error->message);
}

void WsSession::send_error(ErrorCode code, std::string_view message, bool closed) {
  context_.metrics.count_error(code);
  spdlog::info("event=error id={} code={} message=\"{}\"", id(), signaling::to_string(code), message);
  queue(std::make_shared<const std::string>(signaling::make_error(code, message, closed)));
}

void WsSession::deliver(Text text) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), text = std::move(text)]() mutable {
    self->queue(std::move(text));
  });
}

void WsSession::shutdown() {
  asio::post(ws_.get_executor(), [self = shared_from_this()] {
    if (self->finished_) return;
    if (!self->closing_) {
      self->close_with(ErrorCode::shutdown, "the server is shutting down", websocket::close_code::going_away);
    }
    // Out of the room now: with Redis the other nodes announce "peer-left" at once instead
    // of after the close handshake (or the grace period, for a client that never answers).
    self->context_.hub.leave(*self);
  });
}

void WsSession::close_with(ErrorCode error, std::string_view message, websocket::close_code code) {
  send_error(error, message, /*closed=*/true);
  closing_ = true;  // queue() takes nothing more; write_next() sends the close frame last
  close_code_ = code;
  if (!writing_ && accepted_) write_next();
}

void WsSession::queue(Text text) {
  if (finished_ || closing_) return;
  if (out_.size() >= context_.options.max_queued_messages) {
    // A client that does not read would make us hold its messages without end.
    spdlog::warn("event=drop id={} reason=slow-consumer queued={}", id(), out_.size());
    beast::get_lowest_layer(ws_).socket().close();
    return;
  }
  out_.push_back(std::move(text));
  if (!writing_ && accepted_) write_next();
}

void WsSession::write_next() {
  if (out_.empty()) {
    writing_ = false;
    if (closing_ && accepted_) {
      writing_ = true;  // nothing may be written after the close frame
      ws_.async_close(websocket::close_reason(close_code_, close_code_ == websocket::close_code::going_away
                                                              ? "server shutdown"
                                                              : "message too big"),
                      [self = shared_from_this()](beast::error_code ec) { self->finish(ec); });
    }
    return;
  }
  writing_ = true;
  ws_.async_write(asio::buffer(*out_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
    if (ec) return;  // the read side sees the error and finishes
    self->out_.pop_front();
    self->write_next();
  });
}

void WsSession::finish(beast::error_code ec) {
  if (finished_) return;
  finished_ = true;
  context_.hub.leave(*this);
  context_.metrics.connections.fetch_sub(1);
  spdlog::info("event=disconnect id={} reason=\"{}\"", id(), ec.message());
  out_.clear();
  context_.sessions.remove(this);
}

}  // namespace peer::server
