// `peer demo`: two peers in one process connect over loopback and print what happened,
// with the time of each step: candidates, ICE checks and pair, DTLS handshake.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "peer/peer.hpp"

namespace peer::tools {
namespace {

using Clock = std::chrono::steady_clock;

struct Timeline {
  Clock::time_point start = Clock::now();
  std::mutex mutex;
  std::condition_variable changed;
  int settled = 0;  // peers whose connection is connected or failed
  bool failed = false;

  void print(std::string_view who, std::string_view what) {
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    std::lock_guard lock(mutex);
    std::printf("%9.3f ms  %-6s %.*s\n", ms, std::string(who).c_str(),
                static_cast<int>(what.size()), what.data());
    std::fflush(stdout);
  }
};

int run_demo(const std::string& address, double timeout_s, bool client_offers) {
  Timeline timeline;
  Peer offerer;
  Peer answerer;
  for (Peer* p : {&offerer, &answerer}) p->set("addresses", json::array({address}));

  std::vector<Subscription> subs;
  auto watch = [&](Peer& p, const char* who) {
    subs.push_back(p.on("change", [&timeline, who](const json& key, const json& value) {
      const std::string k = key.get<std::string>();
      if (k == "local" || k == "remote" || k == "servers" || k == "addresses") return;
      timeline.print(who, fmt::format("{} = {}", k,
                                      value.is_string() ? value.get<std::string>() : value.dump()));
    }));
    subs.push_back(p.on("candidate", [&timeline, who](const json& c) {
      timeline.print(who, fmt::format("candidate {}", c["candidate"].get<std::string>()));
    }));
    subs.push_back(p.on("error", [&timeline, who](const json& e) {
      timeline.print(who, fmt::format("error {}: {}", e["code"].get<std::string>(),
                                      e["message"].get<std::string>()));
    }));
    subs.push_back(p.on("change connection", [&timeline](const json& value) {
      if (value == "connected" || value == "failed") {
        std::lock_guard lock(timeline.mutex);
        ++timeline.settled;
        timeline.failed |= value == "failed";
        timeline.changed.notify_all();
      }
    }));
  };
  watch(offerer, "offer");
  watch(answerer, "answer");

  // Signaling in memory, as the `connect` plugin will do it.
  subs.push_back(offerer.on("candidate", [&](const json& c) { answerer.ice(c); }));
  subs.push_back(answerer.on("candidate", [&](const json& c) { offerer.ice(c); }));
  subs.push_back(offerer.on("offer", [&](const json& offer) {
    timeline.print("offer", "description sent");
    answerer.remote(offer);
    answerer.answer({}, {{"setup", client_offers ? "passive" : "active"}});
  }));
  subs.push_back(answerer.on("answer", [&](const json& answer) {
    timeline.print("answer", "description sent");
    offerer.remote(answer);
  }));
  offerer.offer();

  std::unique_lock lock(timeline.mutex);
  const bool done = timeline.changed.wait_for(lock, std::chrono::duration<double>(timeout_s), [&] {
    return timeline.settled >= 2 || timeline.failed;
  });
  lock.unlock();
  const double total =
      std::chrono::duration<double, std::milli>(Clock::now() - timeline.start).count();
  int code = 0;
  if (!done) {
    std::printf("timed out after %.1f s\n", timeout_s);
    code = 1;
  } else if (timeline.failed) {
    std::printf("failed after %.3f ms\n", total);
    code = 1;
  } else {
    std::printf(
        "connected: ICE pair %s <-> %s, DTLS %s (offerer is the DTLS %s), %.3f ms from offer\n",
        offerer.get("pair").value("local", "?").c_str(),
        offerer.get("pair").value("remote", "?").c_str(),
        offerer.get("fingerprint").get<std::string>().substr(0, 20).c_str(),
        offerer.get("role").get<std::string>().c_str(), total);
  }
  subs.clear();
  offerer.close();
  answerer.close();
  return code;
}

}  // namespace

void add_demo(CLI::App& app, int& exit_code) {
  auto* demo =
      app.add_subcommand("demo", "two local peers connect over loopback and print their timeline");
  static std::string address = "127.0.0.1";
  static double timeout_s = 10;
  static bool client_offers = false;
  demo->add_option("--address", address, "local address both peers gather on")
      ->capture_default_str();
  demo->add_option("--timeout", timeout_s, "seconds to wait for the connection")
      ->capture_default_str();
  demo->add_flag("--offerer-client", client_offers,
                 "make the offerer the DTLS client (answer setup:passive)");
  demo->callback([&exit_code] { exit_code = run_demo(address, timeout_s, client_offers); });
}

}  // namespace peer::tools
