#include "peer/signal.hpp"

#include <spdlog/spdlog.h>

#include <deque>
#include <map>
#include <memory>
#include <stdexcept>

#include "api/peer_impl.hpp"
#include "runtime/event_loop.hpp"
#include "signal/client.hpp"
#include "signal/message.hpp"

namespace peer {
namespace {

// Candidates kept before the description they belong to, per sender (a newcomer does not
// know yet which member it will pair with). Bounded: the server relays anything a member
// sends.
constexpr std::size_t kMaxEarlyCandidates = 256;
constexpr std::size_t kMaxEarlySenders = 16;

// The plugin's state. Owned by the peer's listeners (so Peer::close(), which removes them,
// or the last handle going, destroys it and with it the Client); the Client's callbacks
// hold it weakly and only post to the peer's loop. Everything but `client` is touched on
// the loop thread only.
//
// Why post to the loop directly instead of emitting on the store: the store's listeners
// are destroyed under the store's mutex (Store::off in close()); our destructor joins the
// client's thread, which therefore must never wait for that mutex.
struct SignalState {
  Peer::Weak peer;
  std::unique_ptr<signaling::Client> client;

  std::string remote;     // the member we paired with
  bool described = false; // the remote description is applied
  bool connected = false; // the connection has been up
  bool remote_left = false;
  std::map<std::string, std::deque<json>> early;  // sender -> candidates before the description
  json last_mid = "0";
  json last_mline_index = 0;

  ~SignalState() {
    // Closes and joins the client's thread (its callbacks never block on us).
    client.reset();
  }

  void send(json message) {
    if (remote.empty()) return;
    message["to"] = remote;
    client->send(std::move(message));
  }

  void report(Peer& p, const std::string& code, const std::string& message) {
    p.emit("error", {json{{"code", "signal_" + code}, {"message", message}}});
  }

  void pair(Peer& p, const std::string& id) {
    remote = id;
    p.set("signal-remote", id);
    // Candidates of other members will never be needed.
    for (auto it = early.begin(); it != early.end();) it = it->first == id ? std::next(it) : early.erase(it);
  }

  void apply_remote(Peer& p, const json& m) {
    p.remote(json{{"type", m["type"]}, {"sdp", m["sdp"]}});
    described = true;
    auto it = early.find(remote);
    if (it != early.end()) {
      auto kept = std::move(it->second);
      early.erase(it);
      for (const auto& c : kept) p.ice(c);
    }
  }

  void on_state(Peer& p, const std::string& state) {
    if (state == "connecting" || state == "joined" || state == "closed") p.set("signal", state);
  }

  void on_message(Peer& p, const json& m) {
    p.emit("signal message", {m});
    const std::string type = m.value("type", "");
    const std::string from = m.value("from", "");
    try {
      if (type == "joined") {
        p.set("signal-id", m.value("id", ""));
      } else if (type == "peer-joined") {
        const std::string id = m.value("id", "");
        if (remote.empty()) {
          // We were there first: we offer to the newcomer (docs/signaling.md, roles).
          pair(p, id);
          p.offer();
        } else {
          spdlog::info("signal: member {} joined; this peer is paired with {} (one Peer per remote)", id,
                       remote);
        }
      } else if (type == "peer-left") {
        const std::string id = m.value("id", "");
        if (id == remote && !connected && !remote_left) {
          remote_left = true;
          report(p, "peer_left", "the paired member " + id + " left before the connection was up");
        }
        early.erase(id);
      } else if (type == "offer") {
        if (remote.empty()) pair(p, from);
        if (from != remote) {
          spdlog::info("signal: offer from {} ignored (paired with {})", from, remote);
          return;
        }
        // A later offer of the paired member is a renegotiation (a track added): answered
        // the same way.
        apply_remote(p, m);
        p.answer();
      } else if (type == "answer") {
        if (from != remote) {
          spdlog::info("signal: answer from {} ignored (paired with {})", from, remote);
          return;
        }
        apply_remote(p, m);
      } else if (type == "candidate") {
        json c{{"candidate", m.value("candidate", json())},
               {"sdpMid", m.value("sdpMid", json())},
               {"sdpMLineIndex", m.value("sdpMLineIndex", json())}};
        if (from == remote && described) {
          p.ice(c);
        } else if (remote.empty() || from == remote) {
          // Before the description: kept, applied in order right after it.
          auto& kept = early[from];
          if (kept.size() < kMaxEarlyCandidates && early.size() <= kMaxEarlySenders) kept.push_back(std::move(c));
        }
      } else if (type == "error") {
        const std::string code = m.value("code", "internal");
        if (code == "unknown-peer" && connected) return;  // late trickle to an old id
        if (code == "shutdown") {  // the client reconnects by itself
          spdlog::info("signal: the server is shutting down; reconnecting");
          return;
        }
        report(p, code, m.value("message", ""));
      }
    } catch (const std::exception& e) {
      // The peer is closed, or refused the call in its state: tell the application.
      report(p, "failed", std::string("signal: ") + type + " from " + from + ": " + e.what());
    }
  }
};

}  // namespace

signal::signal(std::string room, std::string url, SignalOptions options)
    : room(std::move(room)), url(std::move(url)), options(std::move(options)) {
  if (!signaling::valid_room(this->room))
    throw Error(Errc::invalid_argument,
                "signal(): room \"" + this->room + "\" must be 1-64 of A-Z a-z 0-9 _ . -");
  try {
    signaling::parse_ws_url(this->url);
  } catch (const std::invalid_argument& e) {
    throw Error(Errc::invalid_argument, std::string("signal(): ") + e.what());
  }
}

void signal::operator()(Peer& self) const {
  signaling::ClientOptions client_options;
  client_options.backoff_initial = options.backoff_initial;
  client_options.backoff_max = options.backoff_max;
  client_options.max_queue = options.max_queue;
  auto state = std::make_shared<SignalState>();
  state->peer = self.weak();
  state->client = std::make_unique<signaling::Client>(url, client_options);

  // Client thread -> the peer's loop. Held weakly: the loop lives while the peer does.
  std::weak_ptr<runtime::EventLoop> loop = self.impl().loop();
  std::weak_ptr<SignalState> weak = state;
  auto post = [loop, weak](auto fn) {
    if (auto l = loop.lock()) {
      l->post([weak, fn = std::move(fn)] {
        auto s = weak.lock();
        if (!s) return;
        if (auto p = s->peer.lock()) fn(*s, *p);
      });
    }
  };
  state->client->on_message([post](const json& m) {
    post([m](SignalState& s, Peer& p) { s.on_message(p, m); });
  });
  state->client->on_state([post](const std::string& st) {
    post([st](SignalState& s, Peer& p) { s.on_state(p, st); });
  });

  // Peer -> server. These listeners own the state (detached: they go with close()).
  self.on("offer", [state](const json& d) { state->send({{"type", "offer"}, {"sdp", d["sdp"]}}); }).detach();
  self.on("answer", [state](const json& d) { state->send({{"type", "answer"}, {"sdp", d["sdp"]}}); }).detach();
  self.on("candidate", [state](const json& c) {
        state->last_mid = c.value("sdpMid", json("0"));
        state->last_mline_index = c.value("sdpMLineIndex", json(0));
        state->send({{"type", "candidate"},
                     {"candidate", c["candidate"]},
                     {"sdpMid", state->last_mid},
                     {"sdpMLineIndex", state->last_mline_index}});
      })
      .detach();
  self.on("ready", [state] {  // gathering complete: end-of-candidates
        state->send({{"type", "candidate"},
                     {"candidate", ""},
                     {"sdpMid", state->last_mid},
                     {"sdpMLineIndex", state->last_mline_index}});
      })
      .detach();
  self.on("change connection", [state](const json& value) {
        if (value == "connected") state->connected = true;
      })
      .detach();

  self.set("signal", "connecting");
  state->client->join(room, options.token);
}

}  // namespace peer
