// peer-signal-bench: the signaling server's relay rate and latency under many clients.
//
//   peer-signal-bench [--clients N] [--seconds S] [--window W] [--redis] [--redis-url URL]
//
// N WebSocket clients (rooms of two) driven by one io_context on the main thread (the
// Swarm of tests/support/signal_swarm.hpp) talk to an in-process server with one I/O
// thread per core. Each client keeps W messages in flight to its partner: every message
// received is answered with a new one. A message carries its send time (steady clock, same
// process), so its relay latency is taken on arrival. With --redis the same runs again
// against two in-process servers sharing a redis-server (started on a free loopback port,
// or --redis-url), the two clients of each room on different servers, so every message
// goes through Redis. Prints one JSON object on stdout; progress goes to stderr.

#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/server.hpp"
#include "tests/support/signal_helpers.hpp"
#include "tests/support/signal_swarm.hpp"

namespace {

using peer::test::Swarm;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

struct Options {
  int clients = 5000;
  double seconds = 5;
  double warmup = 1;
  int window = 1;
  bool redis = false;
  std::string redis_url;
};

void note(const std::string& what) { std::fprintf(stderr, "peer-signal-bench: %s\n", what.c_str()); }

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// Nearest rank, p in (0, 1]; `sorted` ascending.
double percentile(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]);
}

double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

void raise_fd_limit(int clients) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  const auto needed = static_cast<rlim_t>(2 * clients + 100);
  if (limit.rlim_cur < needed) {
    note("warning: " + std::to_string(needed) + " file descriptors needed, the limit is " +
         std::to_string(limit.rlim_cur));
  }
}

peer::server::ServerOptions server_options(const Options& o, unsigned threads, const std::string& redis_url) {
  peer::server::ServerOptions s;
  s.port = 0;
  s.threads = threads;
  s.messages_per_second = 0;  // the bench is the flood
  s.max_rooms = static_cast<std::size_t>(o.clients);
  s.max_queued_messages = static_cast<std::size_t>(std::max(1024, 4 * o.window));
  s.redis_url = redis_url;
  s.shutdown_grace = std::chrono::milliseconds(1000);
  return s;
}

// One run against the servers listening on `ports`.
ojson run(const Options& o, const std::vector<const peer::server::Server*>& servers, unsigned threads) {
  std::vector<unsigned short> ports;
  for (const auto* s : servers) ports.push_back(s->port());
  const auto timeout = std::chrono::seconds(60);
  Swarm swarm(ports, o.clients);
  const auto setup_start = Clock::now();
  ojson out;
  out["clients"] = o.clients;
  out["rooms"] = o.clients / 2;
  out["nodes"] = servers.size();
  out["server_threads_per_node"] = threads;
  out["window"] = o.window;
  if (!swarm.connect_all(timeout) || !swarm.join_all(timeout)) {
    out["errors"] = swarm.errors();
    out["errors"].push_back("setup did not finish");
    return out;
  }
  out["setup_s"] = round_to(std::chrono::duration<double>(Clock::now() - setup_start).count(), 3);
  note("connected and joined " + std::to_string(o.clients) + " clients");

  bool measuring = false;
  bool sending = true;
  std::int64_t counted = 0;
  std::vector<std::int64_t> latencies;
  latencies.reserve(1 << 20);
  auto message = [](Swarm::Peer& p) {
    return "{\"type\":\"m\",\"to\":\"" + p.partner + "\",\"seq\":" + std::to_string(p.sent++) +
           ",\"t\":" + std::to_string(now_ns()) + "}";
  };
  swarm.on_message = [&](Swarm::Peer& p, const nlohmann::json& m) {
    const std::int64_t arrived = now_ns();
    if (m.value("from", "") != p.partner || m.value("seq", std::int64_t{-1}) != p.received) {
      return swarm.fail(p, "out of order or from a stranger: " + m.dump());
    }
    ++p.received;
    if (measuring) {
      ++counted;
      latencies.push_back(arrived - m.value("t", std::int64_t{0}));
    }
    if (sending) swarm.send(p, message(p));
  };
  for (auto& p : swarm.peers()) {
    for (int i = 0; i < o.window; ++i) swarm.send(*p, message(*p));
  }
  auto run_for = [&](double seconds) {
    const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    swarm.run_until([&] { return Clock::now() >= end; }, std::chrono::hours(1));
  };
  run_for(o.warmup);
  std::uint64_t relayed_before = 0;
  for (const auto* s : servers) relayed_before += s->metrics().messages_relayed.load();
  measuring = true;
  const auto start = Clock::now();
  run_for(o.seconds);
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::uint64_t relayed_after = 0;
  for (const auto* s : servers) relayed_after += s->metrics().messages_relayed.load();
  // Drain: every message in flight must still arrive.
  sending = false;
  std::int64_t in_flight_expected = 0;
  for (auto& p : swarm.peers()) in_flight_expected += p->sent;
  std::int64_t got = 0;
  const bool drained = swarm.run_until(
      [&] {
        got = 0;
        for (auto& p : swarm.peers()) got += p->received;
        return got == in_flight_expected;
      },
      timeout);

  std::sort(latencies.begin(), latencies.end());
  out["seconds"] = round_to(elapsed, 3);
  out["messages"] = counted;
  out["messages_per_s"] = std::llround(static_cast<double>(counted) / elapsed);
  out["server_relayed_per_s"] = std::llround(static_cast<double>(relayed_after - relayed_before) / elapsed);
  out["latency_us"] = {{"median", round_to(percentile(latencies, 0.5) / 1000, 1)},
                       {"p99", round_to(percentile(latencies, 0.99) / 1000, 1)},
                       {"max", round_to(latencies.empty() ? 0 : static_cast<double>(latencies.back()) / 1000, 1)}};
  auto errors = swarm.errors();
  if (!drained) errors.push_back("lost: " + std::to_string(in_flight_expected - got) + " messages never arrived");
  out["errors"] = errors;
  return out;
}

[[noreturn]] void usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: peer-signal-bench [--clients N] [--seconds S] [--window W] [--redis] [--redis-url URL]\n"
               "  --clients N     WebSocket clients, in rooms of two (default 5000)\n"
               "  --seconds S     measured time per run, after 1 s of warm-up (default 5)\n"
               "  --window W      messages each client keeps in flight (default 1)\n"
               "  --redis         also run against two nodes sharing a redis-server on loopback\n"
               "  --redis-url U   use this Redis for --redis instead of starting one\n");
  std::exit(status);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(2);
      return argv[++i];
    };
    try {
      if (arg == "--clients") {
        o.clients = std::stoi(value());
      } else if (arg == "--seconds") {
        o.seconds = std::stod(value());
      } else if (arg == "--window") {
        o.window = std::stoi(value());
      } else if (arg == "--redis") {
        o.redis = true;
      } else if (arg == "--redis-url") {
        o.redis = true;
        o.redis_url = value();
      } else if (arg == "--help" || arg == "-h") {
        usage(0);
      } else {
        usage(2);
      }
    } catch (const std::logic_error&) {
      usage(2);
    }
  }
  if (o.clients < 2 || o.clients % 2 != 0 || o.seconds <= 0 || o.window < 1) {
    std::fprintf(stderr, "peer-signal-bench: --clients must be even and >= 2, --seconds and --window positive\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  raise_fd_limit(o.clients);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  ojson out;
  out["cores"] = cores;
  bool ok = true;
  {
    peer::server::Server server(server_options(o, cores, {}));
    server.start();
    note("single node: " + std::to_string(o.clients) + " clients, " + std::to_string(cores) + " server threads");
    out["single"] = run(o, {&server}, cores);
    ok = ok && out["single"]["errors"].empty();
  }
  if (o.redis) {
    std::unique_ptr<peer::test::RedisServer> redis;
    std::string url = o.redis_url;
    try {
      if (url.empty()) {
        if (peer::test::RedisServer::binary().empty()) throw std::runtime_error("redis-server is not installed");
        redis = std::make_unique<peer::test::RedisServer>();
        url = redis->url();
      }
      peer::server::Server one(server_options(o, cores, url)), two(server_options(o, cores, url));
      one.start();
      two.start();
      note("two nodes over Redis at " + url);
      out["redis"] = run(o, {&one, &two}, cores);
      ok = ok && out["redis"]["errors"].empty();
    } catch (const std::exception& e) {
      out["redis"] = {{"errors", {std::string(e.what())}}};
      ok = false;
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return ok ? 0 : 1;
}
