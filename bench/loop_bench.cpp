// peer-loop-bench: the cost of runtime::EventLoop's primitives, which every packet and timer
// of every peer goes through. Run it before and after a change to the loop (docs/performance.md).
//
//   peer-loop-bench [--seconds N]      (default 1 per measurement)
//
// Prints one JSON object on stdout:
// - post_per_s:        tasks posted from another thread and run, per second;
// - run_sync_us:       median round trip of run_sync() from another thread;
// - timer_arm_cancel_ns: arming and cancelling one timer on the loop thread;
// - timer_late_us:     how late 2,000 timers spread over 200 ms fire (median, p99);
// - watch_round_trips_per_s: one byte bounced between the two ends of a socketpair by two
//   watches on the loop (two wakeups, two reads and two writes per round trip);
// - idle_cpu_ms_per_s: loop thread CPU per second with 4,000 timers armed 10 s ahead and
//   4,000 idle watched sockets (what a process of idle peers costs the loop itself).

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/event_loop.hpp"

namespace {

using peer::runtime::EventLoop;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double thread_cpu_seconds(EventLoop& loop) {
  double cpu = 0;
  loop.run_sync([&] {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
          static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  });
  return cpu;
}

double posts_per_second(EventLoop& loop, double seconds) {
  std::atomic<uint64_t> ran{0};
  uint64_t posted = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    for (int i = 0; i < 1000; ++i, ++posted) loop.post([&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  }
  loop.run_sync([] {});
  return static_cast<double>(ran.load()) / seconds_since(start);
}

double run_sync_median_us(EventLoop& loop, double seconds) {
  std::vector<double> samples;
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    const auto t = Clock::now();
    loop.run_sync([] {});
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  return percentile(samples, 0.5);
}

double timer_arm_cancel_ns(EventLoop& loop, double seconds) {
  uint64_t count = 0;
  double elapsed = 0;
  loop.run_sync([&] {
    const auto start = Clock::now();
    while (seconds_since(start) < seconds) {
      for (int i = 0; i < 1000; ++i, ++count) {
        auto timer = loop.call_after(10ms, [] {});
        timer.cancel();
      }
    }
    elapsed = seconds_since(start);
  });
  return elapsed * 1e9 / static_cast<double>(count);
}

nlohmann::ordered_json timer_lateness(EventLoop& loop) {
  constexpr int kTimers = 2000;
  std::vector<double> late(kTimers);
  std::vector<EventLoop::Timer> timers(kTimers);
  std::promise<void> done;
  std::atomic<int> left{kTimers};
  loop.run_sync([&] {
    const auto now = Clock::now();
    for (int i = 0; i < kTimers; ++i) {
      const auto due = now + std::chrono::microseconds((i * 7919) % 200000);
      timers[i] = loop.call_at(due, [&, i, due] {
        late[i] = std::chrono::duration<double, std::micro>(Clock::now() - due).count();
        if (--left == 0) done.set_value();
      });
    }
  });
  done.get_future().wait();
  loop.run_sync([&] { timers.clear(); });
  return {{"median", percentile(late, 0.5)}, {"p99", percentile(late, 0.99)}};
}

double watch_round_trips(EventLoop& loop, double seconds) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return 0;
  std::atomic<uint64_t> trips{0};
  std::atomic<bool> stop{false};
  EventLoop::Watch a, b;
  loop.run_sync([&] {
    auto bounce = [&](int fd, bool count) {
      return [&, fd, count](unsigned) {
        char byte;
        if (::read(fd, &byte, 1) != 1) return;
        if (count) trips.fetch_add(1, std::memory_order_relaxed);
        if (!stop.load(std::memory_order_relaxed)) (void)!::write(fd, &byte, 1);
      };
    };
    a = loop.watch(fds[0], EventLoop::kReadable, bounce(fds[0], true));
    b = loop.watch(fds[1], EventLoop::kReadable, bounce(fds[1], false));
    (void)!::write(fds[1], "x", 1);
  });
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double rate = static_cast<double>(trips.load()) / seconds_since(start);
  stop = true;
  loop.run_sync([&] {
    a.cancel();
    b.cancel();
  });
  ::close(fds[0]);
  ::close(fds[1]);
  return rate;
}

double idle_cpu_ms_per_second(EventLoop& loop, double seconds) {
  constexpr int kIdle = 4000;
  std::vector<EventLoop::Timer> timers(kIdle);
  std::vector<EventLoop::Watch> watches(kIdle);
  std::vector<int> fds;
  loop.run_sync([&] {
    for (int i = 0; i < kIdle; ++i) {
      timers[i] = loop.call_after(10s, [] {});
      const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) break;
      fds.push_back(fd);
      watches[i] = loop.watch(fd, EventLoop::kReadable, [](unsigned) {});
    }
  });
  const double before = thread_cpu_seconds(loop);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double used = thread_cpu_seconds(loop) - before;
  loop.run_sync([&] {
    timers.clear();
    watches.clear();
  });
  for (int fd : fds) ::close(fd);
  return used * 1000 / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: peer-loop-bench [--seconds N]\n");
      return 2;
    }
  }
  auto loop = EventLoop::create("bench-loop");
  nlohmann::ordered_json out;
  out["post_per_s"] = posts_per_second(*loop, seconds);
  out["run_sync_us"] = run_sync_median_us(*loop, seconds);
  out["timer_arm_cancel_ns"] = timer_arm_cancel_ns(*loop, seconds);
  out["timer_late_us"] = timer_lateness(*loop);
  out["watch_round_trips_per_s"] = watch_round_trips(*loop, seconds);
  out["idle_cpu_ms_per_s"] = idle_cpu_ms_per_second(*loop, seconds);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
