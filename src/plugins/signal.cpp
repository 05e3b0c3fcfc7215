#include "peer/signal.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
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

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The `auto-restart` store key (include/peer/signal.hpp): nullopt when off. Throws
// Error(invalid_argument) naming the bad field.
std::optional<RestartPolicy> restart_policy(const json& value) {
  RestartPolicy policy;
  if (value.is_null() || value == true) return policy;
  if (value == false) return std::nullopt;
  if (!value.is_object()) {
    throw Error(Errc::invalid_argument, "auto-restart must be true, false or an object, not " + value.dump());
  }
  auto read = [&](const char* name, auto& field, long long min) {
    if (!value.contains(name)) return;
    const json& v = value[name];
    if (!v.is_number_integer() || v.get<long long>() < min) {
      throw Error(Errc::invalid_argument,
                  fmt::format("auto-restart.{} must be an integer >= {}, not {}", name, min, v.dump()));
    }
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, milliseconds>) {
      field = milliseconds(v.get<long long>());
    } else {
      field = static_cast<T>(v.get<long long>());
    }
  };
  for (const auto& [key, v] : value.items()) {
    if (key != "grace" && key != "backoff" && key != "backoff-max" && key != "tries" && key != "check") {
      throw Error(Errc::invalid_argument, "auto-restart: unknown field \"" + key + "\"");
    }
  }
  read("grace", policy.grace, 0);
  read("backoff", policy.backoff, 1);
  read("backoff-max", policy.backoff_max, 1);
  read("tries", policy.tries, 1);
  read("check", policy.check, 1);
  policy.backoff_max = std::max(policy.backoff_max, policy.backoff);
  return policy;
}

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
  std::weak_ptr<runtime::EventLoop> loop;
  std::weak_ptr<SignalState> self;

  std::string remote;     // the member we paired with
  bool described = false; // the remote description is applied
  bool connected = false; // the connection has been up
  bool remote_left = false;
  std::map<std::string, std::deque<json>> early;  // sender -> candidates before the description
  json last_mid = "0";
  json last_mline_index = 0;
  std::string own_id;  // our member id (a reconnect gives a new one)
  // Our ids since we paired, the last one excepted (a few): a member told them in a
  // "rejoined" message recognises us whichever it knew.
  std::vector<std::string> former_ids;
  // The candidate messages sent since our last offer (end-of-candidates included): sent
  // again with it (resend_offer), as the first ones may have been lost with it.
  std::vector<json> sent_candidates;

  // Restarting by itself (docs/architecture.md section 9): the side that made the first
  // offer restarts ICE when the connection went disconnected (after a grace period) or
  // failed; the other side answers as it answers any offer. One episode runs from the
  // first bad state to the next connected one.
  bool offerer = false;         // we made the first offer: restarts are ours to make
  bool episode = false;         // disconnected or failed, and not back yet
  bool gave_up = false;         // the episode ran out of tries (until the connection is back)
  int tries = 0;                // restarts made (or, answering side, waited for) this episode
  Clock::time_point episode_start;
  runtime::EventLoop::Timer timer;

  ~SignalState() {
    timer.cancel();
    // Closes and joins the client's thread (its callbacks never block on us).
    client.reset();
  }

  void send(json message) {
    if (remote.empty()) return;
    send_to(remote, std::move(message));
  }
  void send_to(const std::string& to, json message) {
    message["to"] = to;
    client->send(std::move(message));
  }
  // Tells `to` which ids we had: if it is our paired member (it may have a new id too, if
  // both reconnected), it takes our new one.
  void announce_rejoin(const std::string& to) {
    if (former_ids.empty() || to == own_id) return;
    send_to(to, {{"type", "rejoined"}, {"was", former_ids}});
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

  // --- restarting by itself -------------------------------------------------------------
  void set_restart(Peer& p, const char* value) {
    if (p.get("signal-restart") != value) p.set("signal-restart", value);
  }

  std::optional<RestartPolicy> policy(Peer& p) {
    try {
      return restart_policy(p.get("auto-restart"));
    } catch (const Error& e) {
      spdlog::warn("signal: {}; using the defaults", e.what());
      return RestartPolicy{};
    }
  }

  void arm(milliseconds delay) {
    auto l = loop.lock();
    if (!l) return;
    timer = l->call_after(delay, [weak = self] {
      auto s = weak.lock();
      if (!s) return;
      if (auto p = s->peer.lock()) s->tick(*p);
    });
  }

  // The ICE state changed ("ice" key).
  void on_ice(Peer& p, const std::string& ice) {
    const bool good = ice == "connected" || ice == "completed";
    const bool bad = ice == "disconnected" || ice == "failed";
    if (good) {
      if (episode || gave_up) {
        const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - episode_start).count();
        spdlog::info("signal: the connection is back after {} ms ({} restart{})", ms, tries, tries == 1 ? "" : "s");
        set_restart(p, "idle");
      }
      episode = false;
      gave_up = false;
      tries = 0;
      timer.cancel();
      return;
    }
    if (!bad || !connected || remote.empty() || gave_up) return;
    const auto pol = policy(p);
    if (!pol) return;
    if (!episode) {
      episode = true;
      tries = 0;
      episode_start = Clock::now();
      // The network may have changed under the signaling connection too: a TCP connection
      // whose local address is gone hangs for many minutes unless asked.
      client->check(pol->check);
      spdlog::info("signal: ICE {}; {}", ice,
                   offerer ? fmt::format("restarting in {} ms unless it comes back", ice == "failed" ? 0 : pol->grace.count())
                           : std::string("waiting for the remote's restart (it made the first offer)"));
      set_restart(p, "waiting");
      arm(ice == "failed" ? milliseconds(0) : pol->grace);
    } else if (ice == "failed" && tries == 0) {
      arm(milliseconds(0));  // no grace once failed
    }
  }

  void tick(Peer& p) {
    if (!episode) return;
    const auto pol = policy(p);
    if (!pol) {
      episode = false;
      set_restart(p, "idle");
      return;
    }
    if (tries >= pol->tries) {
      episode = false;
      gave_up = true;
      set_restart(p, "gave-up");
      report(p, "restart_failed",
             fmt::format("the connection did not come back after {} ICE restart{} in {} ms", tries, tries == 1 ? "" : "s",
                         std::chrono::duration_cast<milliseconds>(Clock::now() - episode_start).count()));
      return;
    }
    ++tries;
    if (offerer) {
      const json signaling = p.get("signaling");
      try {
        if (signaling == "stable") {
          spdlog::info("signal: ICE restart {} of {}", tries, pol->tries);
          set_restart(p, "restarting");
          p.restart();  // the offer goes out through our "offer" listener
        } else if (signaling == "have-local-offer") {
          resend_offer(p);  // the last one or its answer may have been lost
        }  // have-remote-offer: the remote renegotiates; its answer is on its way
      } catch (const Error& e) {
        report(p, "restart_failed", std::string("restart(): ") + e.what());
        episode = false;
        gave_up = true;
        set_restart(p, "gave-up");
        return;
      }
    }
    // 1 s, 2 s, 4 s ... capped: the next try if the connection is not back by then.
    auto delay = pol->backoff;
    for (int i = 1; i < tries && delay < pol->backoff_max; ++i) delay *= 2;
    arm(std::min(delay, pol->backoff_max));
  }

  // Our pending offer again, with its candidates, to the remote's current id.
  void resend_offer(Peer& p) {
    const json local = p.get("local");
    if (!local.is_object() || local.value("type", "") != "offer") return;
    spdlog::info("signal: sending our offer again (to {})", remote);
    send({{"type", "offer"}, {"sdp", local["sdp"]}});
    for (const auto& c : sent_candidates) send(c);
  }

  void send_candidate(json c) {
    if (sent_candidates.size() < kMaxEarlyCandidates) sent_candidates.push_back(c);
    send(std::move(c));
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
        const std::string was = std::exchange(own_id, m.value("id", ""));
        p.set("signal-id", own_id);
        if (!was.empty() && was != own_id && connected && !remote.empty()) {
          // A reconnect gave us a new id: tell the members (the paired one may have a new
          // id too), so that the paired one takes our messages (a restart) from the new
          // one. Members that join later are told too (peer-joined below).
          if (std::find(former_ids.begin(), former_ids.end(), was) == former_ids.end()) former_ids.push_back(was);
          if (former_ids.size() > 8) former_ids.erase(former_ids.begin());
          const json peers = m.value("peers", json::array());
          for (const auto& member : peers) {
            if (member.is_string()) announce_rejoin(member.get<std::string>());
          }
          if (episode && offerer && p.get("signaling") == "have-local-offer") resend_offer(p);
        }
      } else if (type == "rejoined") {
        // The paired member reconnected and has a new id. Any member could claim it; the
        // worst it can do is what it can already do (send us offers), and a restart keeps
        // the DTLS association, whose keys only the real remote has.
        const json was = m.value("was", json::array());
        const bool ours = was.is_array() && std::find(was.begin(), was.end(), json(remote)) != was.end();
        if (!remote.empty() && ours && from != remote) {
          spdlog::info("signal: the paired member {} is now {}", remote, from);
          remote = from;
          p.set("signal-remote", from);
          if (episode && offerer && p.get("signaling") == "have-local-offer") resend_offer(p);
        }
      } else if (type == "peer-joined") {
        const std::string id = m.value("id", "");
        if (remote.empty()) {
          // We were there first: we offer to the newcomer (docs/signaling.md, roles).
          pair(p, id);
          offerer = true;
          p.offer();
        } else {
          spdlog::info("signal: member {} joined; this peer is paired with {} (one Peer per remote)", id,
                       remote);
          announce_rejoin(id);  // it may be our paired member, reconnected
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
        if (p.get("signaling") != "have-local-offer") {
          // A second answer to an offer we sent again (restarting): the first was applied.
          spdlog::info("signal: answer from {} ignored (no offer of ours is pending)", from);
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
  restart_policy(self.get("auto-restart"));  // a bad value throws here, to the caller
  auto state = std::make_shared<SignalState>();
  state->peer = self.weak();
  state->self = state;
  state->loop = self.impl().loop();
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
  self.on("offer", [state](const json& d) {
        state->sent_candidates.clear();
        state->send({{"type", "offer"}, {"sdp", d["sdp"]}});
      })
      .detach();
  self.on("answer", [state](const json& d) { state->send({{"type", "answer"}, {"sdp", d["sdp"]}}); }).detach();
  self.on("candidate", [state](const json& c) {
        state->last_mid = c.value("sdpMid", json("0"));
        state->last_mline_index = c.value("sdpMLineIndex", json(0));
        state->send_candidate({{"type", "candidate"},
                               {"candidate", c["candidate"]},
                               {"sdpMid", state->last_mid},
                               {"sdpMLineIndex", state->last_mline_index}});
      })
      .detach();
  self.on("ready", [state] {  // gathering complete: end-of-candidates
        state->send_candidate({{"type", "candidate"},
                               {"candidate", ""},
                               {"sdpMid", state->last_mid},
                               {"sdpMLineIndex", state->last_mline_index}});
      })
      .detach();
  self.on("change connection", [state](const json& value) {
        if (value == "connected") state->connected = true;
      })
      .detach();
  self.on("change ice", [state](const json& value) {
        if (!value.is_string()) return;
        if (auto p = state->peer.lock()) state->on_ice(*p, value.get<std::string>());
      })
      .detach();

  self.set("signal", "connecting");
  state->client->join(room, options.token);
}

}  // namespace peer
