#include "api/sctp_clock.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/sctp/association.hpp"
#include "core/sctp/sctp_stack.hpp"

namespace peer {
namespace {

using Clock = sctp::Association::Clock;

// While packets move, usrsctp's timers (delayed SACK, retransmission) need its 10 ms
// granularity; once every association has been quiet for kIdleAfter, only heartbeats
// (30 s) and the like are left, and a tick every kIdleTick serves them. The first packet
// either way wakes the clock at once (sctp::stack::wake_on_activity).
constexpr auto kBusyTick = sctp::Association::timer_interval;
constexpr auto kIdleTick = std::chrono::milliseconds(250);
constexpr auto kIdleAfter = std::chrono::seconds(1);

struct ClockState {
  std::mutex mu;
  std::condition_variable changed;  // holders went from 0 to 1, or a packet moved
  int holders = 0;                  // guarded by mu
  bool started = false;             // guarded by mu
  bool woken = false;               // guarded by mu: a packet moved while idle
  std::atomic<unsigned long> ticks{0};
};

// Leaked on purpose: the thread is detached and may still wait on it while the process exits.
ClockState& state() {
  static auto* s = new ClockState;
  return *s;
}

void on_activity() {
  ClockState& s = state();
  {
    std::lock_guard lock(s.mu);
    s.woken = true;
  }
  s.changed.notify_all();
}

void run(ClockState& s) {
  pthread_setname_np(pthread_self(), "peer-sctp-clock");
  std::uint64_t seen = sctp::stack::activity();
  auto active_at = Clock::now();
  for (;;) {
    {
      std::unique_lock lock(s.mu);
      if (s.holders == 0) s.changed.wait(lock, [&] { return s.holders > 0; });  // no wakeups
    }
    // The waker is armed before activity is read: a packet in between wakes the wait below
    // (it may also cut a busy tick short, which only ticks a little early).
    {
      std::lock_guard lock(s.mu);
      s.woken = false;
    }
    sctp::stack::wake_on_activity(&on_activity);
    const auto now = Clock::now();
    if (const auto activity = sctp::stack::activity(); activity != seen) {
      seen = activity;
      active_at = now;
    }
    if (now - active_at < kIdleAfter) {
      std::this_thread::sleep_until(now + kBusyTick);
    } else {
      std::unique_lock lock(s.mu);
      s.changed.wait_until(lock, now + kIdleTick, [&] { return s.woken || s.holders == 0; });
    }
    // usrsctp is told the whole elapsed time in one call (sctp::stack::handle_timers).
    sctp::Association::advance_timers(Clock::now());
    s.ticks.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

std::shared_ptr<void> SctpClock::hold() {
  ClockState& s = state();
  {
    std::lock_guard lock(s.mu);
    if (!s.started) {
      s.started = true;
      std::thread(run, std::ref(s)).detach();
    }
    if (s.holders++ == 0) s.changed.notify_all();
  }
  return std::shared_ptr<void>(nullptr, [](void*) {
    ClockState& st = state();
    std::lock_guard lock(st.mu);
    --st.holders;
  });
}

unsigned long SctpClock::ticks() {
  return state().ticks.load(std::memory_order_relaxed);
}

}  // namespace peer
