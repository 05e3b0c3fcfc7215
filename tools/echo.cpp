// `peer echo`: a test partner that sends back every message it receives, on every channel.
//
// Signaling: `--signal stdio` prints our description and candidates as JSON lines in the
// browser's shapes on stdout and reads the remote's from stdin (one JSON object per line; a
// bad line is reported on stderr and skipped); `--signal ws://...` uses the signal plugin.
// Both sides open a channel named "echo". With `--probe N` a side (either role) sends N
// messages (text and binary, 0 to 65535 bytes) on it instead of echoing, and exits 0 once all
// came back intact, in order and once each; the other side echoes. `--interval MS` spaces the
// messages out, `--hold S` then keeps the connection until S seconds after it came up and
// asks that it stays up and still echoes one last message. The prober ends with a line
// `peer echo: result {...}` (JSON: timings, counts, the selected pair) for test harnesses.
// Logs go to stderr.
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "peer/channel.hpp"
#include "session.hpp"

namespace peer::tools {
namespace {

struct EchoOptions {
  std::string role = "answer";
  std::string signal = "stdio";
  std::string room = "echo";
  NetworkOptions net;
  double timeout = 30;
  std::size_t probe = 0;
  std::size_t max_size = 65535;
  double interval_ms = 0;
  double hold_s = 0;
};

// The probe's i-th message: text for even i, binary for odd, 0 to `max_size` bytes (the
// first one empty: RFC 8831 section 6.6 sends those specially).
std::pair<bool, std::string> probe_message(std::size_t i, std::size_t max_size) {
  std::mt19937 rng(static_cast<unsigned>(i));
  const std::size_t size = (i * 7919) % (max_size + 1);
  std::string s(size, '\0');
  if (i % 2 == 0) {
    for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  } else {
    for (auto& c : s) c = static_cast<char>(rng());
  }
  return {i % 2 == 1, s};
}

// Reads JSON lines from stdin and hands them to the peer, until `stop` or EOF.
void read_signals(Peer peer, bool answerer, const std::atomic<bool>& stop) {
  std::string buffer;
  std::size_t line_no = 0;
  char chunk[65536];
  while (!stop.load()) {
    pollfd pfd{0, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = ::read(0, chunk, sizeof chunk);
    if (n <= 0) return;  // EOF: the remote said all it had to say
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const json m = json::parse(line, nullptr, false);
      const std::string type = m.is_object() ? m.value("type", "") : "";
      try {
        if (m.is_discarded() || !m.is_object()) {
          std::fprintf(stderr, "peer echo: stdin line %zu: not a JSON object, skipped\n", line_no);
        } else if ((type == "offer" && answerer) || (type == "answer" && !answerer)) {
          peer.remote({{"type", type}, {"sdp", m.value("sdp", json())}});
          if (answerer) peer.answer();
        } else if (type == "candidate") {
          peer.ice({{"candidate", m.value("candidate", json())},
                    {"sdpMid", m.value("sdpMid", json())},
                    {"sdpMLineIndex", m.value("sdpMLineIndex", json())}});
        } else {
          std::fprintf(stderr,
                       "peer echo: stdin line %zu: unexpected type \"%s\" for the %s, skipped\n",
                       line_no, type.c_str(), answerer ? "answerer" : "offerer");
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "peer echo: stdin line %zu: %s\n", line_no, e.what());
      }
    }
  }
}

int run_echo(const EchoOptions& o) {
  if (o.role != "offer" && o.role != "answer") {
    std::fprintf(stderr, "peer echo: --role must be offer or answer\n");
    return kExitUsage;
  }
  const bool offerer = o.role == "offer";
  const bool stdio = o.signal == "stdio";
  const auto network = network_or_report("echo", o.net, o.signal);
  if (!network) return kExitUsage;
  Session session("echo", *network);
  Peer& p = session.peer;
  std::vector<Subscription> subs;
  std::mutex out_mutex;
  auto print = [&out_mutex](const json& j) {
    std::lock_guard lock(out_mutex);
    const std::string line = j.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  };
  if (stdio) {
    subs.push_back(p.on("offer", [print](const json& d) {
      print({{"type", "offer"}, {"sdp", d["sdp"]}});
    }));
    subs.push_back(p.on("answer", [print](const json& d) {
      print({{"type", "answer"}, {"sdp", d["sdp"]}});
    }));
    auto mid = std::make_shared<json>(json::array({"0", 0}));
    subs.push_back(p.on("candidate", [print, mid](const json& c) {
      *mid = json::array({c.value("sdpMid", json("0")), c.value("sdpMLineIndex", json(0))});
      print({{"type", "candidate"},
             {"candidate", c["candidate"]},
             {"sdpMid", (*mid)[0]},
             {"sdpMLineIndex", (*mid)[1]}});
    }));
    subs.push_back(p.on("ready", [print, mid] {
      print({{"type", "candidate"},
             {"candidate", ""},
             {"sdpMid", (*mid)[0]},
             {"sdpMLineIndex", (*mid)[1]}});
    }));
  }

  // Echo: every message back on the channel it came from, text as text, binary as binary.
  auto echo = [](Channel c) {
    return c.on_message([c](const Message& m) mutable {
      try {
        if (m.binary()) {
          c.send(m.bytes());
        } else {
          c.send(m.text());
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "peer echo: %s: %s\n", c.label().c_str(), e.what());
      }
    });
  };
  std::mutex channels_mutex;
  subs.push_back(p.on_channel([&](Channel c) {
    std::fprintf(stderr, "peer echo: remote channel \"%s\"\n", c.label().c_str());
    auto sub = echo(c);
    std::lock_guard lock(channels_mutex);
    subs.push_back(std::move(sub));
  }));

  // The probe: what came back, compared in order (a duplicate or a loss shows as a mismatch).
  using Clock = std::chrono::steady_clock;
  const bool probing = o.probe > 0;
  const std::size_t expected = o.probe + (o.hold_s > 0 ? 1 : 0);  // + the message after the hold
  std::size_t returned = 0;
  bool mismatch = false;
  bool went_down = false;       // failed or closed at some point after connecting
  std::size_t disconnects = 0;  // "disconnected" episodes (ICE lost and found the path)
  Clock::time_point connected_at{}, open_at{};
  // The longest wait between two probe echoes (an outage, a restart), and changes of the DTLS
  // state after connecting (an ICE restart must leave DTLS alone: none).
  Clock::time_point last_back{};
  Clock::duration longest_gap{};
  std::size_t dtls_changes = 0;
  // The offerer opens "echo" (its offer needs a data section); a probing answerer opens its
  // own "echo" too, whose messages reach the offerer's handle of that label and are echoed on
  // the offerer's stream. A partner that did not open it echoes remote channels as they come.
  std::optional<Channel> own_channel;
  if (offerer || probing) own_channel = p.use(channel("echo"));
  Channel* own = own_channel ? &*own_channel : nullptr;
  if (!probing) {
    if (own != nullptr) subs.push_back(echo(*own));
  } else {
    subs.push_back(own->on_message([&](const Message& m) {
      session.waiter.update([&] {
        const auto [binary, data] = probe_message(returned % o.probe, o.max_size);
        if (m.binary() != binary || m.text() != data) {
          if (!mismatch) {
            std::fprintf(stderr,
                         "peer echo: probe message %zu came back different (%zu bytes, %s)\n",
                         returned, m.bytes().size(),
                         returned > 0 && m.text() == probe_message(returned - 1, o.max_size).second
                             ? "the previous one again: delivered twice"
                             : "not the one sent");
          }
          mismatch = true;
        }
        const auto now = Clock::now();
        // Probe messages only: the one after the hold comes a hold later by design.
        if (last_back != Clock::time_point{} && returned < o.probe)
          longest_gap = std::max(longest_gap, now - last_back);
        last_back = now;
        ++returned;
      });
    }));
    subs.push_back(
        own->on("channel open", [&] { session.waiter.update([&] { open_at = Clock::now(); }); }));
  }
  subs.push_back(p.on("change dtls", [&](const json&) {
    session.waiter.update([&] {
      if (connected_at != Clock::time_point{}) ++dtls_changes;
    });
  }));
  subs.push_back(p.on("change connection", [&](const json& v) {
    session.waiter.update([&] {
      if (connected_at == Clock::time_point{}) return;
      if (v == "disconnected") ++disconnects;
      if (v == "failed" || v == "closed") went_down = true;
    });
  }));

  CloseOnExit closer{p};  // after everything the callbacks use
  std::atomic<bool> stop{false};
  std::thread reader;
  if (stdio) {
    reader = std::thread(read_signals, p, !offerer, std::cref(stop));
    if (offerer) p.offer();
  } else if (!session.signal(o.room, o.signal)) {
    return kExitUsage;
  }
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, reader};

  const auto started = Clock::now();
  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  session.waiter.update([&] { connected_at = Clock::now(); });

  if (probing) {
    std::string send_error;  // the first send that failed (a closed channel throws)
    auto send = [&](std::size_t i) {
      const auto [binary, data] = probe_message(i, o.max_size);
      try {
        if (binary) {
          own->send(std::span(reinterpret_cast<const std::byte*>(data.data()), data.size()));
        } else {
          own->send(data);
        }
        return true;
      } catch (const std::exception& e) {
        send_error = fmt::format("message {}: {}", i, e.what());
        return false;
      }
    };
    // Read under the waiter's mutex (inside wait predicates or a locked scope).
    auto up = [&] {
      return session.connection() == "connected" || session.connection() == "disconnected";
    };
    auto locked = [&](auto read) {
      std::lock_guard lock(session.waiter.mutex);
      return read();
    };
    for (std::size_t i = 0; i < o.probe; ++i) {
      if (!send(i) || !locked([&] { return up() && !went_down; })) break;
      if (o.interval_ms > 0)
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(o.interval_ms));
    }
    const double wait_s = o.timeout > 0 ? o.timeout + 60 + o.probe * o.interval_ms / 1000 : 0;
    if (send_error.empty()) {
      session.waiter.wait([&] { return returned >= o.probe || mismatch || !up(); }, wait_s);
    }
    if (o.hold_s > 0 && send_error.empty() &&
        locked([&] { return returned == o.probe && !mismatch; })) {
      // Stay until hold_s after connecting, then prove the path still carries a message.
      // (Waiter::wait takes <= 0 as "forever": only wait while there is time left.)
      const double left =
          o.hold_s - std::chrono::duration<double>(Clock::now() - connected_at).count();
      if (left > 0) session.waiter.wait([&] { return went_down; }, left);
      if (!locked([&] { return went_down; }) && send(0)) {
        session.waiter.wait([&] { return returned >= expected || mismatch || !up(); }, 60);
      }
    }
    if (!send_error.empty())
      std::fprintf(stderr, "peer echo: send failed: %s\n", send_error.c_str());
    // Before the lock: a loop callback may be waiting for it.
    const json pair = p.get("pair");
    const std::string channel_state(own->state());
    const std::size_t buffered = own->buffered_amount();
    std::lock_guard lock(session.waiter.mutex);
    const auto ms = [](Clock::duration d) {
      return std::chrono::duration<double, std::milli>(d).count();
    };
    const bool ok = returned == expected && !mismatch && !went_down && send_error.empty();
    const json result = {
        {"ok", ok},
        {"role", o.role},
        {"messages", o.probe},
        {"returned", returned},
        {"mismatch", mismatch},
        {"connect_ms", ms(connected_at - started)},
        {"open_after_connected_ms",
         open_at == Clock::time_point{} ? json(nullptr) : json(ms(open_at - connected_at))},
        {"up_s", ms(Clock::now() - connected_at) / 1000},
        {"disconnects", disconnects},
        {"longest_gap_ms", ms(longest_gap)},
        {"dtls_changes", dtls_changes},
        {"restart", p.get("signal-restart")},
        {"went_down", went_down},
        {"pair", pair},
        {"channel", channel_state},
        {"buffered", buffered},
    };
    std::fprintf(stderr, "peer echo: result %s\n", result.dump().c_str());
    if (returned < expected) {
      std::fprintf(stderr, "peer echo: %zu of %zu probe messages came back (connection %s)\n",
                   returned, expected, session.connection().c_str());
    } else if (went_down) {
      std::fprintf(stderr, "peer echo: the connection went down during the hold\n");
    } else if (!mismatch) {
      std::fprintf(stderr, "peer echo: all %zu probe messages came back intact\n", expected);
    }
    return ok ? kExitOk : kExitFailed;
  }
  // A partner: until the remote closes (0) or the connection fails (1).
  session.waiter.wait(
      [&] { return session.connection() != "connected" && session.connection() != "disconnected"; },
      0);
  std::lock_guard lock(session.waiter.mutex);
  std::fprintf(stderr, "peer echo: connection %s\n", session.connection().c_str());
  return session.connection() == "closed" ? kExitOk : kExitFailed;
}

}  // namespace

void add_echo(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "echo", "a test partner: sends back every message it receives on every channel");
  static EchoOptions o;
  cmd->add_option("--role", o.role,
                  "offer: make the offer (stdio) and open the \"echo\" channel; answer: wait")
      ->check(CLI::IsMember({"offer", "answer"}))
      ->capture_default_str();
  cmd->add_option(
         "--signal", o.signal,
         "stdio: descriptions and candidates as JSON lines on stdout/stdin; or a ws:// url of "
         "`peer signal` (then who offers follows the room order)")
      ->capture_default_str();
  cmd->add_option("--room", o.room, "room on the signaling server")->capture_default_str();
  add_network_options(cmd, o.net);
  cmd->add_option("--timeout", o.timeout,
                  "seconds to get connected (exit 3 after); 0 waits forever")
      ->capture_default_str();
  cmd->add_option(
      "--probe", o.probe,
      "send N messages on \"echo\" and exit 0 when all came back intact, in order and once each "
      "(instead of echoing; either role)");
  cmd->add_option("--max-size", o.max_size, "probe: the largest message, in bytes (at most 262144)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{256 * 1024}))
      ->capture_default_str();
  cmd->add_option("--interval", o.interval_ms, "probe: milliseconds between two messages")
      ->check(CLI::Range(0.0, 3600e3))
      ->capture_default_str();
  cmd->add_option("--hold", o.hold_s,
                  "probe: then stay until S seconds after connecting; the connection must stay up "
                  "and echo one "
                  "more message")
      ->check(CLI::Range(0.0, 7 * 86400.0));
  cmd->footer(
      "Exit codes: 0 done (probe intact, or the remote closed), 1 failed or mismatch, 2 bad "
      "argument,\n"
      "3 not connected in time, 4 refused by the signaling server.");
  cmd->callback([&exit_code] { exit_code = run_echo(o); });
}

}  // namespace peer::tools
