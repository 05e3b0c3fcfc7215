#include "server/server.hpp"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include <future>
#include <random>

namespace peer::server {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// 8 hex digits: enough to tell apart the nodes sharing one Redis.
std::string random_node_id() {
  std::random_device random;
  return fmt::format("{:08x}", random());
}

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      node_(random_node_id()),
      hub_(options_, metrics_, node_),
      context_{options_, metrics_, hub_, sessions_},
      strand_(asio::make_strand(io_)),
      acceptor_(strand_),
      heartbeat_(strand_) {}

Server::~Server() { stop(); }

void Server::start() {
  if (started_) return;
  started_ = true;
  if (!options_.redis_url.empty()) {
    bridge_ = std::make_unique<RedisBridge>(options_.redis_url, node_, options_.heartbeat,
                                            [this](std::string_view payload) { hub_.on_bus_message(payload); });
    bridge_->start();
    hub_.set_bridge(bridge_.get());
  }
  const tcp::endpoint endpoint(asio::ip::make_address(options_.address), options_.port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));  // restart on the same port
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  work_.emplace(io_.get_executor());
  asio::post(strand_, [this] {
    accept();
    if (bridge_) schedule_heartbeat();
  });
  const unsigned threads = options_.threads != 0 ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "peer-signal-io");
      io_.run();
    });
  }
  spdlog::info("event=listen address={} port={} threads={} node={} redis={} tokens={} static={}", options_.address,
               port_, threads, node_, options_.redis_url.empty() ? "off" : options_.redis_url,
               options_.secret.empty() ? "off" : "on", options_.static_dir.empty() ? "off" : options_.static_dir);
}

void Server::accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) std::make_shared<HttpSession>(std::move(socket), context_)->start();
    accept();
  });
}

void Server::schedule_heartbeat() {
  heartbeat_.expires_after(options_.heartbeat);
  heartbeat_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    hub_.heartbeat();
    schedule_heartbeat();
  });
}

void Server::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  if (threads_.empty()) {  // start() failed before running anything
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    if (bridge_) bridge_->stop();
    return;
  }
  std::promise<void> closed;
  asio::post(strand_, [this, &closed] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    heartbeat_.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  const auto sessions = sessions_.all();
  spdlog::info("event=shutdown connections={}", sessions.size());
  for (const auto& session : sessions) session->shutdown();
  if (!sessions_.wait_empty(options_.shutdown_grace)) spdlog::warn("event=shutdown-timeout");
  // Each session left its room when told to shut down; whoever is still listed (a session
  // accepted in the last moment) leaves here, while Redis is still there to hear it, so
  // the other nodes announce "peer-left" now rather than when this node's key expires.
  for (const auto& member : hub_.members()) hub_.leave(*member);
  if (bridge_) bridge_->stop();
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  spdlog::info("event=stopped");
}

}  // namespace peer::server
