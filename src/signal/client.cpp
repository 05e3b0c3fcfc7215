#include "signal/client.hpp"

#include <pthread.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

namespace peer::signaling {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

WsUrl parse_ws_url(const std::string& url) {
  constexpr std::string_view kScheme = "ws://";
  if (url.compare(0, kScheme.size(), kScheme) != 0) {
    throw std::invalid_argument("signaling url must start with ws:// (got \"" + url + "\")");
  }
  std::string rest = url.substr(kScheme.size());
  WsUrl out;
  const auto slash = rest.find('/');
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  std::string port = "80";
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw std::invalid_argument("unclosed [ in url " + url);
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw std::invalid_argument("bad port in url " + url);
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw std::invalid_argument("no host in url " + url);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument("bad port in url " + url);
  }
  out.port = port;
  return out;
}

// One WebSocket connection. Handlers hold it by shared_ptr, so an abandoned connection
// (dropped, replaced by a reconnect) lives until its last operation has completed.
struct Connection {
  explicit Connection(asio::io_context& ioc) : ws(ioc) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buffer;
  std::deque<std::string> out;  // out.front() is being written while `writing`
  bool writing = false;
  // check(): a ping is out, and whether any frame (message, ping or pong) came since.
  bool pinging = false;
  bool heard = false;
};

struct Client::Impl : std::enable_shared_from_this<Impl> {
  enum class Phase { idle, connecting, open, joining, joined, closed };

  Impl(std::string url_text, ClientOptions opts)
      : options(opts), url(parse_ws_url(url_text)), resolver(ioc), retry(ioc), probe(ioc), rng(std::random_device{}()) {}

  ClientOptions options;
  WsUrl url;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work{ioc.get_executor()};
  std::thread thread;
  std::thread::id thread_id;
  tcp::resolver resolver;
  asio::steady_timer retry;
  asio::steady_timer probe;  // check()'s deadline
  std::mt19937 rng;

  // Client-thread state.
  std::shared_ptr<Connection> conn;
  Phase phase = Phase::idle;
  std::string room, token;
  std::deque<std::string> pending;
  int attempt = 0;
  std::string last_state;
  MessageHandler message_handler;
  StateHandler state_handler;

  mutable std::mutex mutex;  // guards id_ and the close handshake between threads
  std::condition_variable closed_cv;
  std::string id_;
  bool close_requested = false;
  bool close_done = false;

  bool on_thread() const { return std::this_thread::get_id() == thread_id; }

  void start_thread() {
    thread = std::thread([self = shared_from_this()] {
      pthread_setname_np(pthread_self(), "peer-signal");
      self->ioc.run();
    });
    thread_id = thread.get_id();
  }

  template <class F>
  void post(F&& f) {
    asio::post(ioc, [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
      if (self->phase != Phase::closed) f(*self);
    });
  }

  void set_state(const std::string& state) {
    if (state == last_state) return;
    last_state = state;
    if (state_handler) state_handler(state);
  }
  void deliver(const nlohmann::json& message) {
    if (message_handler && phase != Phase::closed) message_handler(message);
  }

  void connect() {
    if (phase == Phase::closed) return;
    phase = Phase::connecting;
    set_state("connecting");
    if (phase == Phase::closed) return;  // closed inside the callback
    auto c = std::make_shared<Connection>(ioc);
    conn = c;
    resolver.async_resolve(url.host, url.port, [self = shared_from_this(), c](error_code ec, tcp::resolver::results_type results) {
      if (self->conn != c) return;
      if (ec) return self->dropped(c);
      beast::get_lowest_layer(c->ws).expires_after(self->options.connect_timeout);
      beast::get_lowest_layer(c->ws).async_connect(results, [self, c](error_code ec, const tcp::endpoint&) {
        if (self->conn != c) return;
        if (ec) return self->dropped(c);
        self->handshake(c);
      });
    });
  }

  void handshake(const std::shared_ptr<Connection>& c) {
    // The stream's own timeouts take over from tcp_stream's after connect (Beast's rule).
    beast::get_lowest_layer(c->ws).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = options.connect_timeout;
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;  // the server pings; we answer (RFC 6455 5.5.3)
    c->ws.set_option(timeouts);
    // Raw: the stream holds the callback, and it runs only inside the stream's own reads.
    c->ws.control_callback([raw = c.get()](websocket::frame_type, beast::string_view) { raw->heard = true; });
    c->ws.text(true);
    const std::string host = (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" + url.port;
    c->ws.async_handshake(host, url.path, [self = shared_from_this(), c](error_code ec) {
      if (self->conn != c) return;
      if (ec) return self->dropped(c);
      self->opened(c);
    });
  }

  void opened(const std::shared_ptr<Connection>& c) {
    read(c);
    if (!room.empty()) {
      send_join();
    } else {
      attempt = 0;
      phase = Phase::open;
      set_state("open");
    }
  }

  void send_join() {
    nlohmann::json join{{"type", "join"}, {"room", room}};
    if (!token.empty()) join["token"] = token;
    phase = Phase::joining;
    write(join.dump());
  }

  void read(const std::shared_ptr<Connection>& c) {
    c->ws.async_read(c->buffer, [self = shared_from_this(), c](error_code ec, std::size_t) {
      if (self->conn != c) return;
      if (ec) return self->dropped(c);
      c->heard = true;
      auto message = nlohmann::json::parse(beast::buffers_to_string(c->buffer.data()), nullptr, false);
      c->buffer.consume(c->buffer.size());
      if (message.is_object()) self->received(message);
      if (self->conn == c) self->read(c);
    });
  }

  void received(const nlohmann::json& message) {
    const auto type = message.value("type", "");
    if (type == "joined" && phase == Phase::joining) {
      {
        std::lock_guard lock(mutex);
        id_ = message.value("id", "");
      }
      phase = Phase::joined;
      attempt = 0;
      while (!pending.empty()) {  // before any callback, so order is kept
        write(std::move(pending.front()));
        pending.pop_front();
      }
      set_state("joined");
    } else if (type == "error" && phase == Phase::joining) {
      phase = Phase::open;  // the join was refused; the connection stays usable
      set_state("open");
    }
    deliver(message);
  }

  void write(std::string text) {
    if (!conn) return;
    conn->out.push_back(std::move(text));
    if (!conn->writing) write_next(conn);
  }

  void write_next(const std::shared_ptr<Connection>& c) {
    if (c->out.empty()) {
      c->writing = false;
      return;
    }
    c->writing = true;
    c->ws.async_write(asio::buffer(c->out.front()), [self = shared_from_this(), c](error_code ec, std::size_t) {
      c->out.pop_front();
      if (ec || self->conn != c) {
        c->writing = false;
        return;  // the read side notices the drop
      }
      self->write_next(c);
    });
  }

  void dropped(const std::shared_ptr<Connection>& c) {
    if (conn != c || phase == Phase::closed) return;
    error_code ignored;
    beast::get_lowest_layer(c->ws).socket().close(ignored);
    conn.reset();
    phase = Phase::connecting;
    set_state("connecting");
    if (phase == Phase::closed) return;
    const auto cap = options.backoff_max.count();
    long long delay = options.backoff_initial.count();
    for (int i = 0; i < attempt && delay < cap; ++i) delay *= 2;
    delay = std::min<long long>(delay, cap);
    ++attempt;
    std::uniform_int_distribution<long long> jitter(delay / 2, delay);
    retry.expires_after(std::chrono::milliseconds(jitter(rng)));
    retry.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->phase == Phase::connecting && !self->conn) self->connect();
    });
  }

  // A ping, and the connection taken as lost when nothing at all arrives within `within`.
  void do_check(std::chrono::milliseconds within) {
    auto c = conn;
    if (!c || phase == Phase::connecting || c->pinging) return;
    c->pinging = true;
    c->heard = false;
    c->ws.async_ping({}, [](error_code) {});  // a failed write shows on the read side
    probe.expires_after(within);
    probe.async_wait([self = shared_from_this(), c](error_code ec) {
      c->pinging = false;
      if (ec || self->conn != c || c->heard) return;
      self->dropped(c);
    });
  }

  void do_join(std::string new_room, std::string new_token) {
    const bool in_room = phase == Phase::joined || phase == Phase::joining;
    room = std::move(new_room);
    token = std::move(new_token);
    if (phase == Phase::idle) return connect();
    if (phase == Phase::open || in_room) {
      if (in_room) write(R"({"type":"leave"})");
      send_join();
    }
  }

  void do_leave() {
    room.clear();
    if (phase == Phase::joined || phase == Phase::joining) {
      write(R"({"type":"leave"})");
      phase = Phase::open;
      set_state("open");
    }
  }

  void do_send(nlohmann::json message) {
    if (phase == Phase::joined) return write(message.dump());
    if (pending.size() >= options.max_queue) {
      deliver({{"type", "error"}, {"code", "queue-full"}, {"local", true},
               {"message", "not joined and " + std::to_string(options.max_queue) +
                               " messages already queued: message dropped"}});
      return;
    }
    pending.push_back(message.dump());
  }

  void do_close() {
    phase = Phase::closed;
    retry.cancel();
    probe.cancel();
    resolver.cancel();
    if (auto c = std::exchange(conn, nullptr)) {
      if (c->ws.is_open()) {
        // A polite close (RFC 6455 5.5.1), bounded: the socket is shut after 1 s regardless.
        auto guard = std::make_shared<asio::steady_timer>(ioc, std::chrono::seconds(1));
        guard->async_wait([c](error_code ec) {
          error_code ignored;
          if (!ec) beast::get_lowest_layer(c->ws).socket().close(ignored);
        });
        c->ws.async_close(websocket::close_code::normal, [c, guard](error_code) { guard->cancel(); });
      } else {
        error_code ignored;
        beast::get_lowest_layer(c->ws).socket().close(ignored);
      }
    }
    pending.clear();
    work.reset();
    if (state_handler) state_handler("closed");
    // Releases what the callbacks captured, once the callback we may be inside has returned.
    asio::post(ioc, [self = shared_from_this()] {
      self->state_handler = nullptr;
      self->message_handler = nullptr;
    });
    std::lock_guard lock(mutex);
    close_done = true;
    closed_cv.notify_all();
  }

  void close() {
    std::unique_lock lock(mutex);
    if (!close_requested) {
      close_requested = true;
      lock.unlock();
      if (on_thread()) return do_close();
      asio::post(ioc, [self = shared_from_this()] { self->do_close(); });
      lock.lock();
    }
    if (on_thread()) return;
    closed_cv.wait(lock, [&] { return close_done; });
  }
};

Client::Client(std::string url, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(url), options)) {
  impl_->start_thread();
}

Client::~Client() {
  impl_->close();
  if (impl_->on_thread()) {
    impl_->thread.detach();  // the thread holds the Impl until its io_context runs dry
  } else {
    impl_->thread.join();
  }
}

void Client::on_message(MessageHandler handler) { impl_->message_handler = std::move(handler); }
void Client::on_state(StateHandler handler) { impl_->state_handler = std::move(handler); }

void Client::connect() {
  impl_->post([](Impl& impl) {
    if (impl.phase == Impl::Phase::idle) impl.connect();
  });
}

void Client::join(std::string room, std::string token) {
  impl_->post([room = std::move(room), token = std::move(token)](Impl& impl) mutable {
    impl.do_join(std::move(room), std::move(token));
  });
}

void Client::leave() {
  impl_->post([](Impl& impl) { impl.do_leave(); });
}

void Client::send(nlohmann::json message) {
  impl_->post([message = std::move(message)](Impl& impl) mutable { impl.do_send(std::move(message)); });
}

void Client::check(std::chrono::milliseconds within) {
  impl_->post([within](Impl& impl) { impl.do_check(within); });
}

void Client::close() { impl_->close(); }

std::string Client::id() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->id_;
}

}  // namespace peer::signaling
