#pragma once
// peer::test::TurnServer: a real coturn `turnserver` for tests, on 127.0.0.1 only.
//
//   peer::test::TurnServer turn;                      // throws if it cannot start
//   auto servers = turn.ice_servers_json();            // [{"urls": [...], "username", ...}]
//   turn.url("tcp")                                    // "turn:127.0.0.1:PORT?transport=tcp"
//   TurnServer tls({.tls = true}); tls.tls_url()      // "turns:127.0.0.1:PORT2" (self-signed)
//
// It runs in its own temporary directory (sqlite db, pid file and log live there; nothing
// is written to /var), listens on a free loopback port (UDP and TCP; with `tls`, TLS on a
// second port, with a fresh self-signed certificate for IP 127.0.0.1), relays from 127.0.0.1
// and allows loopback peers (coturn refuses them by default). The constructor returns once
// the server answers a STUN Binding request; the destructor stops it (SIGTERM, then SIGKILL)
// and reaps it, and removes the directory. If the test process dies, the kernel kills the
// server too (PR_SET_PDEATHSIG). TurnServer::available() says whether the binary exists;
// PEER_TURNSERVER overrides its path. Debugging: PEER_TURN_VERBOSE=1 makes coturn log every
// session, PEER_TURN_LOG=1 prints its log to stderr when the server stops.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace peer::test {

class TurnServer {
 public:
  struct Options {
    std::string user = "peer";
    std::string password = "peer-secret";
    std::string realm = "peer.test";
    bool tls = false;
  };

  static std::string binary() {
    if (const char* env = std::getenv("PEER_TURNSERVER"); env != nullptr && *env != '\0') {
      return env;
    }
    for (const char* path : {"/usr/bin/turnserver", "/usr/local/bin/turnserver"}) {
      if (::access(path, X_OK) == 0) return path;
    }
    return {};
  }
  static bool available() { return !binary().empty(); }

  TurnServer() : TurnServer(Options{}) {}
  explicit TurnServer(Options options) : options_(std::move(options)) {
    auto path = binary();
    if (path.empty()) throw std::runtime_error("TurnServer: turnserver (coturn) not found");
    char dir_template[] = "/tmp/peer-turn-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) throw std::runtime_error("TurnServer: mkdtemp failed");
    dir_ = dir_template;
    // A free port can be taken by someone else between probing and coturn's bind: retry.
    std::string last_error;
    if (options_.tls && !make_certificate(last_error)) {
      std::filesystem::remove_all(dir_);
      throw std::runtime_error("TurnServer: " + last_error);
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      tls_port_ = options_.tls ? free_port() : 0;
      if (port_ == 0 || (options_.tls && (tls_port_ == 0 || tls_port_ == port_))) continue;
      if (start(path, last_error)) return;
      stop();
    }
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("TurnServer: could not start turnserver: " + last_error);
  }

  ~TurnServer() {
    stop();
    if (std::getenv("PEER_TURN_LOG")) std::fprintf(stderr, "%s\n", log().c_str());
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  TurnServer(const TurnServer&) = delete;
  TurnServer& operator=(const TurnServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  const std::string& certificate_file() const { return certificate_; }
  const std::string& host() const { return host_; }
  const std::string& user() const { return options_.user; }
  const std::string& password() const { return options_.password; }
  const std::string& realm() const { return options_.realm; }
  pid_t pid() const { return pid_; }

  // "turn:127.0.0.1:PORT?transport=udp" (or tcp).
  std::string url(const std::string& transport = "udp") const {
    return "turn:" + host_ + ":" + std::to_string(port_) + "?transport=" + transport;
  }
  // "turns:127.0.0.1:TLS_PORT" (Options::tls).
  std::string tls_url() const { return "turns:" + host_ + ":" + std::to_string(tls_port_); }
  // An RTCIceServer array, as a browser (or peer::Store's ice_servers) takes it.
  nlohmann::json ice_servers_json(const std::string& transport = "udp",
                                  const std::string& password_override = {}) const {
    return nlohmann::json::array(
        {{{"urls", nlohmann::json::array({url(transport)})},
          {"username", options_.user},
          {"credential", password_override.empty() ? options_.password : password_override}}});
  }

  // coturn's log so far, for failure messages.
  std::string log() const {
    std::ifstream in(dir_ + "/turn.log");
    std::stringstream text;
    text << in.rdbuf();
    std::ifstream out(dir_ + "/stdout.log");
    text << out.rdbuf();
    return text.str();
  }

 private:
  // A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both).
  static std::uint16_t free_port() {
    int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::uint16_t port = 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (udp >= 0 && tcp >= 0 && ::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        ::bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      port = ntohs(addr.sin_port);
    }
    if (udp >= 0) ::close(udp);
    if (tcp >= 0) ::close(tcp);
    return port;
  }

  // A self-signed P-256 certificate naming IP 127.0.0.1 (subjectAltName), by the openssl
  // command line tool.
  bool make_certificate(std::string& error) {
    certificate_ = dir_ + "/turn.crt";
    key_ = dir_ + "/turn.key";
    const std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                                "-subj /CN=" + host_ + " -addext subjectAltName=IP:" + host_ + " -keyout " + key_ +
                                " -out " + certificate_ + " >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) {
      error = "openssl could not make a certificate";
      return false;
    }
    return true;
  }

  bool start(const std::string& path, std::string& error) {
    std::vector<std::string> args = {
        path,
        "-n",  // no configuration file
        "--no-cli",
        "--no-dtls",
        "--no-rfc5780",
        "--listening-ip",
        host_,
        "--relay-ip",
        host_,
        "--listening-port",
        std::to_string(port_),
        "--allow-loopback-peers",
        "--lt-cred-mech",
        "--user",
        options_.user + ":" + options_.password,
        "--realm",
        options_.realm,
        "--relay-threads",
        "1",
        "--db",
        dir_ + "/turndb",
        "--pidfile",
        dir_ + "/turnserver.pid",
        "--log-file",
        dir_ + "/turn.log",
        "--simple-log",
        "--no-stdout-log",
    };
    if (options_.tls) {
      for (const auto& arg : {std::string("--tls-listening-port"), std::to_string(tls_port_),
                              std::string("--cert"), certificate_, std::string("--pkey"), key_}) {
        args.push_back(arg);
      }
    } else {
      args.push_back("--no-tls");
    }
    if (std::getenv("PEER_TURN_VERBOSE")) args.push_back("--verbose");  // per-session log
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::string out_path = dir_ + "/stdout.log";
    pid_t parent = ::getpid();

    pid_t pid = ::fork();
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    if (pid == 0) {
      // Child: only async-signal-safe calls until exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (out >= 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
      }
      int null_in = ::open("/dev/null", O_RDONLY);
      if (null_in >= 0) ::dup2(null_in, STDIN_FILENO);
      ::close_range(3, ~0U, 0);  // do not keep the test's sockets open in the server
      if (::chdir(dir_.c_str()) != 0) ::_exit(127);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    if (wait_ready(error)) return true;
    error += "\n--- turnserver log ---\n" + log();
    return false;
  }

  // Ready once a STUN Binding request (RFC 8489 section 5) gets any answer.
  bool wait_ready(std::string& error) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    ::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    std::array<unsigned char, 20> request = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42};
    std::mt19937 rng(std::random_device{}());
    for (std::size_t i = 8; i < request.size(); ++i) request[i] = static_cast<unsigned char>(rng());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool ready = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error = "turnserver exited early (status " + std::to_string(status) + ")";
        break;
      }
      ::sendto(fd, request.data(), request.size(), 0, reinterpret_cast<sockaddr*>(&addr),
               sizeof addr);
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) == 1) {
        std::array<unsigned char, 1500> reply{};
        auto n = ::recv(fd, reply.data(), reply.size(), 0);
        if (n >= 20 && reply[0] == 0x01 && reply[1] == 0x01) {
          ready = true;
          break;
        }
        if (n < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // ICMP refused
      }
    }
    ::close(fd);
    if (!ready && error.empty()) error = "turnserver did not answer STUN within 10 s";
    return ready;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  Options options_;
  std::string host_ = "127.0.0.1";
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::string certificate_, key_;
  pid_t pid_ = -1;
};

}  // namespace peer::test
