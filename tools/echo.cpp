// `peer echo`: a test partner that sends back every message it receives, on every channel.
//
// Signaling: `--signal stdio` prints our description and candidates as JSON lines in the
// browser's shapes on stdout and reads the remote's from stdin (one JSON object per line; a
// bad line is reported on stderr and skipped); `--signal ws://...` uses the signal plugin.
// The offerer (--role offer) opens a channel named "echo". With `--probe N` it sends N
// messages (text and binary, 1 byte to 64 KiB) on it instead of echoing, and exits 0 once
// all came back intact and in order. Logs go to stderr.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
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
  std::string address = "127.0.0.1";
  double timeout = 30;
  std::size_t probe = 0;
};

// The probe's i-th message: text for even i, binary for odd, sizes up to 64 KiB.
std::pair<bool, std::string> probe_message(std::size_t i) {
  std::mt19937 rng(static_cast<unsigned>(i));
  const std::size_t size = 1 + (i * 7919) % 65536;
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
          std::fprintf(stderr, "peer echo: stdin line %zu: unexpected type \"%s\" for the %s, skipped\n", line_no,
                       type.c_str(), answerer ? "answerer" : "offerer");
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
  Session session("echo", o.address);
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
    subs.push_back(p.on("offer", [print](const json& d) { print({{"type", "offer"}, {"sdp", d["sdp"]}}); }));
    subs.push_back(p.on("answer", [print](const json& d) { print({{"type", "answer"}, {"sdp", d["sdp"]}}); }));
    auto mid = std::make_shared<json>(json::array({"0", 0}));
    subs.push_back(p.on("candidate", [print, mid](const json& c) {
      *mid = json::array({c.value("sdpMid", json("0")), c.value("sdpMLineIndex", json(0))});
      print({{"type", "candidate"}, {"candidate", c["candidate"]}, {"sdpMid", (*mid)[0]}, {"sdpMLineIndex", (*mid)[1]}});
    }));
    subs.push_back(p.on("ready", [print, mid] {
      print({{"type", "candidate"}, {"candidate", ""}, {"sdpMid", (*mid)[0]}, {"sdpMLineIndex", (*mid)[1]}});
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

  // The probe: what came back, compared in order.
  std::size_t returned = 0;
  bool mismatch = false;
  std::optional<Channel> own;
  if (offerer) {
    own = p.use(channel("echo"));
    if (o.probe == 0) {
      subs.push_back(echo(*own));
    } else {
      subs.push_back(own->on_message([&](const Message& m) {
        session.waiter.update([&] {
          const auto [binary, data] = probe_message(returned);
          if (m.binary() != binary || m.text() != data) {
            if (!mismatch)
              std::fprintf(stderr, "peer echo: probe message %zu came back different (%zu bytes)\n", returned,
                           m.bytes().size());
            mismatch = true;
          }
          ++returned;
        });
      }));
    }
  }

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

  if (const int rc = session.wait_connected(o.timeout); rc != kExitOk) return rc;
  std::fprintf(stderr, "peer echo: connected (%s)\n", p.get("pair").dump().c_str());

  if (offerer && o.probe > 0) {
    for (std::size_t i = 0; i < o.probe; ++i) {
      const auto [binary, data] = probe_message(i);
      if (binary) {
        own->send(std::span(reinterpret_cast<const std::byte*>(data.data()), data.size()));
      } else {
        own->send(data);
      }
    }
    const bool done = session.waiter.wait(
        [&] { return returned >= o.probe || mismatch || session.connection() != "connected"; },
        o.timeout > 0 ? o.timeout + 60 : 0);
    std::lock_guard lock(session.waiter.mutex);
    if (!done || returned < o.probe) {
      std::fprintf(stderr, "peer echo: %zu of %zu probe messages came back\n", returned, o.probe);
      return kExitFailed;
    }
    if (mismatch) return kExitFailed;
    std::fprintf(stderr, "peer echo: all %zu probe messages came back intact\n", o.probe);
    return kExitOk;
  }
  // A partner: until the remote closes (0) or the connection fails (1).
  session.waiter.wait([&] { return session.connection() != "connected"; }, 0);
  std::lock_guard lock(session.waiter.mutex);
  std::fprintf(stderr, "peer echo: connection %s\n", session.connection().c_str());
  return session.connection() == "closed" ? kExitOk : kExitFailed;
}

}  // namespace

void add_echo(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("echo", "a test partner: sends back every message it receives on every channel");
  static EchoOptions o;
  cmd->add_option("--role", o.role, "offer: make the offer (stdio) and open the \"echo\" channel; answer: wait")
      ->check(CLI::IsMember({"offer", "answer"}))
      ->capture_default_str();
  cmd->add_option("--signal", o.signal,
                  "stdio: descriptions and candidates as JSON lines on stdout/stdin; or a ws:// url of "
                  "`peer signal` (then who offers follows the room order)")
      ->capture_default_str();
  cmd->add_option("--room", o.room, "room on the signaling server")->capture_default_str();
  cmd->add_option("--address", o.address, "local address ICE gathers on (\"any\": every interface but loopback)")
      ->capture_default_str();
  cmd->add_option("--timeout", o.timeout, "seconds to get connected (exit 3 after); 0 waits forever")
      ->capture_default_str();
  cmd->add_option("--probe", o.probe,
                  "offerer: send N messages on \"echo\" and exit 0 when all came back intact (instead of echoing)");
  cmd->footer("Exit codes: 0 done (probe intact, or the remote closed), 1 failed or mismatch, 2 bad argument,\n"
              "3 not connected in time, 4 refused by the signaling server.");
  cmd->callback([&exit_code] { exit_code = run_echo(o); });
}

}  // namespace peer::tools
