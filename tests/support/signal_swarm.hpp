#pragma once
// Many WebSocket clients of the signaling server driven by one asio io_context on the
// calling thread (no thread per client): the load test (tests/integration/
// signal_load_test.cpp) and peer-signal-bench use it. Client i connects to
// ports[i % ports.size()] and joins room "r<i/2>", so rooms have two members and, with two
// ports, every pair spans two servers.
//
//   Swarm swarm({port}, 1000);
//   swarm.on_message = [&](Swarm::Peer& p, const json& m) { ... };  // after the joins
//   swarm.connect_all(timeout) && swarm.join_all(timeout);
//   swarm.send(swarm.peers()[0], text);
//   swarm.run_until([&] { return done; }, timeout);
//
// Everything runs inside run_until (and connect_all/join_all, which call it), on the
// caller's thread. A failure (connect, read, an unexpected message) is appended to
// errors() and stops that client.

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace peer::test {

class Swarm {
 public:
  using json = nlohmann::json;
  struct Peer {
    explicit Peer(boost::asio::io_context& io) : ws(io) {}
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws;
    boost::beast::flat_buffer in;
    std::deque<std::string> out;
    bool writing = false;
    bool open = false;
    bool failed = false;
    int index = 0;
    std::string room;
    std::string id;       // given by the server at "joined"
    std::string partner;  // the other member of the room
    // Free for the user of the swarm (sequence numbers, counts).
    std::int64_t sent = 0;
    std::int64_t received = 0;
  };

  Swarm(std::vector<unsigned short> ports, int clients) : ports_(std::move(ports)) {
    peers_.reserve(static_cast<std::size_t>(clients));
    for (int i = 0; i < clients; ++i) {
      peers_.push_back(std::make_unique<Peer>(io_));
      peers_.back()->index = i;
      peers_.back()->room = "r" + std::to_string(i / 2);
    }
  }
  ~Swarm() {
    stopping_ = true;
    for (auto& p : peers_) {
      boost::system::error_code ignored;
      boost::beast::get_lowest_layer(p->ws).socket().close(ignored);
    }
    io_.restart();
    io_.run();  // every handler sees its error and starts nothing new
  }
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  std::vector<std::unique_ptr<Peer>>& peers() { return peers_; }
  std::size_t paired() const { return paired_; }  // clients that know their partner
  const std::vector<std::string>& errors() const { return errors_; }
  // Called for every message a client receives once it knows its partner.
  std::function<void(Peer&, const json&)> on_message;

  // Runs the io_context until `done` holds, the timeout passes or a client failed.
  bool run_until(const std::function<bool()>& done, std::chrono::steady_clock::duration timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    io_.restart();
    while (!done()) {
      if (!errors_.empty() || std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_for(std::chrono::milliseconds(5));  // bounded even while handlers keep coming
      if (io_.stopped()) io_.restart();
    }
    return true;
  }

  // Connects and upgrades every client, at most `parallel` handshakes at a time.
  bool connect_all(std::chrono::steady_clock::duration timeout, int parallel = 200) {
    next_connect_ = 0;
    for (int i = 0; i < parallel; ++i) connect_next();
    return run_until([&] { return open_ == peers_.size(); }, timeout);
  }

  // Every client joins its room and learns its partner (from "joined" or "peer-joined").
  bool join_all(std::chrono::steady_clock::duration timeout) {
    for (auto& p : peers_) {
      send(*p, json{{"type", "join"}, {"room", p->room}}.dump());
      read(*p);
    }
    return run_until([&] { return paired_ == peers_.size(); }, timeout);
  }

  void send(Peer& p, std::string text) {
    p.out.push_back(std::move(text));
    if (!p.writing) write_next(p);
  }

  void fail(Peer& p, std::string what) {
    if (p.failed) return;
    p.failed = true;
    errors_.push_back("client " + std::to_string(p.index) + " (" + p.id + "): " + std::move(what));
  }

 private:
  void connect_next() {
    if (next_connect_ >= peers_.size()) return;
    Peer& p = *peers_[next_connect_++];
    const boost::asio::ip::tcp::endpoint endpoint(boost::asio::ip::address_v4::loopback(),
                                                  ports_[static_cast<std::size_t>(p.index) % ports_.size()]);
    boost::beast::get_lowest_layer(p.ws).async_connect(endpoint, [this, &p](boost::system::error_code ec) {
      if (stopping_) return;
      if (ec) return fail(p, "connect: " + ec.message());
      boost::beast::get_lowest_layer(p.ws).socket().set_option(boost::asio::ip::tcp::no_delay(true));
      p.ws.async_handshake("127.0.0.1", "/", [this, &p](boost::system::error_code ec2) {
        if (stopping_) return;
        if (ec2) return fail(p, "handshake: " + ec2.message());
        p.open = true;
        ++open_;
        connect_next();
      });
    });
  }

  void read(Peer& p) {
    p.ws.async_read(p.in, [this, &p](boost::system::error_code ec, std::size_t) {
      if (stopping_) return;
      if (ec) return fail(p, "read: " + ec.message());
      json m = json::parse(boost::beast::buffers_to_string(p.in.data()), nullptr, false);
      p.in.consume(p.in.size());
      if (!m.is_object()) return fail(p, "not a JSON object");
      const std::string type = m.value("type", "");
      if (type == "joined") {
        p.id = m.value("id", "");
        if (!m["peers"].empty()) paired(p, m["peers"][0].get<std::string>());
      } else if (type == "peer-joined" && p.partner.empty()) {
        paired(p, m.value("id", ""));
      } else if (type == "error" || p.partner.empty() || !on_message) {
        return fail(p, "unexpected " + m.dump());
      } else {
        on_message(p, m);
      }
      if (!p.failed) read(p);
    });
  }

  void paired(Peer& p, std::string partner) {
    p.partner = std::move(partner);
    ++paired_;
  }

  void write_next(Peer& p) {
    if (p.out.empty() || p.failed) {
      p.writing = false;
      return;
    }
    p.writing = true;
    p.ws.async_write(boost::asio::buffer(p.out.front()), [this, &p](boost::system::error_code ec, std::size_t) {
      if (stopping_) return;
      if (ec) return fail(p, "write: " + ec.message());
      p.out.pop_front();
      write_next(p);
    });
  }

  boost::asio::io_context io_;  // first: outlives the streams
  std::vector<unsigned short> ports_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<std::string> errors_;
  std::size_t next_connect_ = 0;
  std::size_t open_ = 0;
  std::size_t paired_ = 0;
  bool stopping_ = false;
};

}  // namespace peer::test
