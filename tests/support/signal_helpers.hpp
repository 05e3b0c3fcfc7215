#pragma once
// Helpers for the signaling tests: a recorder for peer::signaling::Client callbacks, a raw
// WebSocket client (to send what Client never would: forged "from", oversized or binary
// frames, an abrupt TCP close), a one-shot HTTP GET, and a real redis-server on a free
// loopback port. Every wait has a generous timeout and no test sleeps to let time pass.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <nlohmann/json.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "signal/client.hpp"

namespace peer::test {

using json = nlohmann::json;
inline constexpr auto kWait = std::chrono::seconds(15);

// Collects what a Client reports; wait_* return once a match arrives (or the timeout).
// Declare it before the Client: "closed" is reported from the Client's destructor.
class Recorder {
 public:
  void attach(signaling::Client& client) {
    client.on_message([this](const json& m) {
      std::lock_guard lock(mutex_);
      messages_.push_back(m);
      changed_.notify_all();
    });
    client.on_state([this](const std::string& s) {
      std::lock_guard lock(mutex_);
      states_.push_back(s);
      changed_.notify_all();
    });
  }
  // The first not yet taken message matching `pred`; null json on timeout.
  json take(const std::function<bool(const json&)>& pred, std::chrono::seconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    json found;
    changed_.wait_for(lock, timeout, [&] {
      for (auto it = messages_.begin(); it != messages_.end(); ++it) {
        if (pred(*it)) {
          found = *it;
          messages_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }
  json take_type(const std::string& type) {
    return take([&](const json& m) { return m.value("type", "") == type; });
  }
  // Waits until `state` was reported `count` times.
  bool wait_state(const std::string& state, int count = 1, std::chrono::seconds timeout = kWait) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return std::count(states_.begin(), states_.end(), state) >= count; });
  }
  std::vector<std::string> states() {
    std::lock_guard lock(mutex_);
    return states_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<json> messages_;
  std::vector<std::string> states_;
};

// A bare WebSocket client on its own io_context, driven from the test thread.
class RawWs {
 public:
  explicit RawWs(unsigned short port) : ws_(io_) {
    namespace asio = boost::asio;
    asio::ip::tcp::resolver resolver(io_);
    boost::beast::get_lowest_layer(ws_).connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/");
  }
  void send(const std::string& text) { ws_.write(boost::asio::buffer(text)); }
  void send(const json& message) { send(message.dump()); }
  void send_binary(const std::string& data) {
    ws_.binary(true);
    ws_.write(boost::asio::buffer(data));
    ws_.text(true);
  }
  // The next message, or null json on timeout or a closed connection.
  json recv(std::chrono::seconds timeout = kWait) {
    boost::beast::flat_buffer buffer;
    bool done = false;
    boost::system::error_code error;
    ws_.async_read(buffer, [&](boost::system::error_code ec, std::size_t) {
      done = true;
      error = ec;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      boost::beast::get_lowest_layer(ws_).cancel();
      io_.restart();
      io_.run();
      return {};
    }
    if (error) return {};
    return json::parse(boost::beast::buffers_to_string(buffer.data()), nullptr, false);
  }
  // The next message of `type`, skipping others.
  json recv_type(const std::string& type) {
    for (int i = 0; i < 1000; ++i) {
      json m = recv();
      if (m.is_null() || m.value("type", "") == type) return m;
    }
    return {};
  }
  std::string join(const std::string& room, const std::string& token = {}) {
    json j{{"type", "join"}, {"room", room}};
    if (!token.empty()) j["token"] = token;
    send(j);
    json joined = recv_type("joined");
    last_joined_ = joined;
    return joined.is_null() ? std::string() : joined.value("id", "");
  }
  const json& last_joined() const { return last_joined_; }
  // Drops the TCP connection without a close frame.
  void drop() {
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  json last_joined_;
};

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

inline HttpResult http_get(unsigned short port, const std::string& target) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  stream.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::content_type]), response.body()};
}

// A loopback TCP port that was free a moment ago. Only a probe: another process may take it
// before the caller binds it, so callers that can should bind port 0 instead.
inline unsigned short free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A child process, killed (SIGTERM then SIGKILL) and reaped on destruction; the kernel
// kills it too if the test dies (PR_SET_PDEATHSIG). With `capture_stdout` its standard
// output goes to a temporary file that read_line() reads (a file, not a pipe: a child that
// keeps logging after the lines we wait for can never block on a full pipe).
class Child {
 public:
  explicit Child(std::vector<std::string> argv, bool capture_stdout = false) {
    int out = -1;
    if (capture_stdout) {
      char path[] = "/tmp/peer-test-stdout-XXXXXX";
      out = ::mkstemp(path);
      if (out < 0) throw std::runtime_error("mkstemp failed");
      ::unlink(path);  // gone when both ends close
      stdout_ = ::open(("/proc/self/fd/" + std::to_string(out)).c_str(), O_RDONLY | O_CLOEXEC);
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (capture_stdout) ::dup2(out, 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (out >= 0) ::close(out);
    if (pid_ < 0) throw std::runtime_error("fork failed");
  }
  ~Child() {
    if (stdout_ >= 0) ::close(stdout_);  // a file: the child may go on writing to it
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {  // up to 5 s, then SIGKILL
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  // The next line of the child's standard output (without the newline), or nothing when
  // the child exited without writing one or `timeout` passed.
  std::optional<std::string> read_line(std::chrono::seconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto newline = pending_.find('\n'); newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        return line;
      }
      if (stdout_ < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      char chunk[512];
      const ssize_t n = ::read(stdout_, chunk, sizeof chunk);  // at the end of the file: 0
      if (n > 0) {
        pending_.append(chunk, static_cast<std::size_t>(n));
      } else {
        if (pid_ <= 0) return std::nullopt;  // exited, and all it wrote has been read
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
          pid_ = 0;
          reaped_ = true;
          continue;  // one more read for what it wrote last
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  // Sends `signal` and returns the exit status (-1 if it did not exit within `timeout`).
  int stop(int signal_number, std::chrono::seconds timeout = kWait) {
    if (reaped_) return exit_code(status_);  // it had exited already (seen by read_line)
    if (pid_ <= 0) return -1;  // never kill(0, ...): that is our own process group
    ::kill(pid_, signal_number);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return exit_code(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

 private:
  static int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }
  pid_t pid_ = 0;
  int stdout_ = -1;
  std::string pending_;
  int status_ = 0;
  bool reaped_ = false;
};

// A real `peer signal` process on a port the kernel chose (--listen 127.0.0.1:0): the port
// comes from the "listening on HOST:PORT" line it prints. Probing a free port first and
// passing it on races with every other test running at the same time (ctest -j): two
// probes can even return the same port.
class SignalProcess {
 public:
  explicit SignalProcess(const std::string& binary, std::vector<std::string> extra_args = {})
      : child_(arguments(binary, std::move(extra_args)), /*capture_stdout=*/true) {
    const auto line = child_.read_line();
    const std::string prefix = "listening on ";
    if (!line || line->rfind(prefix, 0) != 0) throw std::runtime_error("peer signal did not start: " + line.value_or("(no output)"));
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
  }
  unsigned short port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_) + "/"; }
  int stop(int signal_number) { return child_.stop(signal_number); }

 private:
  static std::vector<std::string> arguments(const std::string& binary, std::vector<std::string> extra) {
    std::vector<std::string> argv{binary, "signal", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  Child child_;
  unsigned short port_ = 0;
};

// Polls `ready` until it holds (10 ms steps) or `timeout` passes.
inline bool eventually(const std::function<bool()>& ready, std::chrono::seconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ready();
}

// Waits until a server (e.g. a `peer signal` child just started) answers GET /healthz.
inline bool wait_healthz(unsigned short port) {
  return eventually([&] {
    try {
      return http_get(port, "/healthz").status == 200;
    } catch (const std::exception&) {
      return false;  // not listening yet
    }
  });
}

// A real redis-server on a free loopback port, no persistence.
class RedisServer {
 public:
  static std::string binary() {
    for (const char* path : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
      if (::access(path, X_OK) == 0) return path;
    }
    return {};
  }
  // redis-server cannot be told to pick its own port, so a probed port may be taken by a
  // test running alongside; a PING could then reach that other server. The server is ours
  // only when its INFO names our child's pid; otherwise try another port.
  RedisServer() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      child_.emplace(std::vector<std::string>{binary(), "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                                              "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
                                              "--logfile", "/dev/null"});
      if (eventually([&] { return serves_pid(child_->pid()); }, std::chrono::seconds(5))) return;
      child_.reset();
    }
    throw std::runtime_error("redis-server did not start on a free port in 5 attempts");
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  unsigned short port() const { return port_; }
  // Runs one command (for tests that reach into Redis): its integer reply; for a string
  // reply 1, for nil 0.
  long long command(const std::vector<std::string>& args) {
    timeval tv{2, 0};
    redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
    long long result = -1;
    if (ctx != nullptr && ctx->err == 0) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lengths.data()));
      if (reply != nullptr) {
        result = reply->type == REDIS_REPLY_NIL ? 0 : reply->type == REDIS_REPLY_STRING ? 1 : reply->integer;
        freeReplyObject(reply);
      }
    }
    if (ctx != nullptr) redisFree(ctx);
    return result;
  }

 private:
  // True when the server on port_ answers INFO with process_id equal to `pid`.
  bool serves_pid(pid_t pid) {
    timeval tv{0, 200000};
    redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
    bool ours = false;
    if (ctx != nullptr && ctx->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(ctx, "INFO server"));
      if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
        const std::string info(reply->str, reply->len);
        ours = info.find("process_id:" + std::to_string(pid) + "\r\n") != std::string::npos;
      }
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (ctx != nullptr) redisFree(ctx);
    return ours;
  }
  unsigned short port_ = 0;
  std::optional<Child> child_;
};

}  // namespace peer::test
