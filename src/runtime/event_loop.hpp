#pragma once
// peer::runtime::EventLoop: one thread running an epoll loop of our own.
//
// docs/architecture.md section 3: a peer lives on exactly one loop, and all its protocol state is
// touched only on that loop's thread, so protocol code takes no locks. The loop waits in
// epoll_pwait2 (nanosecond timeouts; epoll_wait's milliseconds, rounded up, before Linux
// 5.11) on the descriptors being watched and an eventfd that post() signals; timers are a
// binary heap of deadlines, so an idle loop holding thousands of peers sleeps until the
// soonest one (docs/architecture.md section 3 says why not GLib or Boost.Asio, with numbers).
//
// Lifetime: the loop is held by std::shared_ptr. Destroying it from another thread quits and
// joins the thread. Destroying the last reference on the loop thread itself (from a callback)
// cannot join: the thread is detached, finishes the callback it is in, drops whatever work
// was still queued (destroying it on the loop thread) and exits. Timer and Watch handles may
// outlive the loop: they then do nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace peer::runtime {

namespace detail {
struct LoopState;   // shared by an EventLoop handle, its thread, and Timer/Watch handles
struct TimerEntry;  // one armed timer, in the loop's heap (event_loop.cpp)
struct WatchEntry;  // one watched descriptor (event_loop.cpp)
}

class EventLoop {
 public:
  // Starts a new loop thread named `name` (truncated to 15 bytes, the kernel's limit).
  static std::shared_ptr<EventLoop> create(std::string name = "peer-loop");
  // The process-wide loop, created on first use. Only a weak_ptr is kept inside: when the
  // last holder drops it, its thread ends, and the next call creates a new one.
  static std::shared_ptr<EventLoop> shared_default();
  // A pool of `n` process-wide loops (default 1: the shared default loop is loop 0).
  // pooled() hands them out round-robin, creating each on first use; like the default loop,
  // each lives only while someone holds it. For many peers, or two busy peers in one
  // process, on more than one core.
  static void set_pool_size(std::size_t n);
  static std::shared_ptr<EventLoop> pooled();

  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool in_loop_thread() const;
  // True on the thread of any EventLoop (used to avoid blocking one loop on another).
  static bool on_any_loop_thread();

  // What the loop has run so far (thread-safe reads): timer callbacks, watch callbacks and
  // posted tasks. Tests count wakeups of idle peers with it.
  struct Stats {
    std::uint64_t timers = 0, watches = 0, posts = 0;
  };
  Stats stats() const noexcept;

  // Thread-safe; runs `fn` on the loop thread after everything posted before it (FIFO).
  // Never runs inline. Exceptions escaping `fn` are logged and swallowed.
  void post(std::function<void()> fn);
  // Inline when called on the loop thread; else posts and blocks until `fn` has run.
  // An exception thrown by `fn` is rethrown to the caller. If the loop is destroyed before
  // `fn` runs, throws std::future_error (broken_promise) instead of blocking forever.
  void run_sync(std::function<void()> fn);

  // A one-shot timer. RAII: destroying it or cancel() removes it, and its callback will not
  // run afterwards. Create, cancel and destroy it on the loop thread. Assigning a new timer
  // to a Timer (even from inside its own callback) cancels the old one.
  class Timer {
   public:
    Timer() = default;
    ~Timer() { cancel(); }
    Timer(Timer&& other) noexcept = default;
    Timer& operator=(Timer&& other) noexcept;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void cancel() noexcept;
    // True until the timer has fired or been cancelled.
    bool pending() const noexcept;

   private:
    friend class EventLoop;
    Timer(std::shared_ptr<detail::LoopState> state, std::shared_ptr<detail::TimerEntry> entry)
        : state_(std::move(state)), entry_(std::move(entry)) {}
    std::shared_ptr<detail::LoopState> state_;
    std::shared_ptr<detail::TimerEntry> entry_;
  };

  // Readiness of a file descriptor, level-triggered (as poll(2)): the callback runs on the
  // loop thread as long as the descriptor is ready for what is wanted. `ready` carries
  // kReadable also for an error or hang-up, so that the read which follows finds out which.
  // One Watch per descriptor; want() changes what it waits for (a stream socket wants
  // kWritable only while it has bytes queued). The descriptor stays the caller's: the Watch
  // never closes it. RAII like Timer: after cancel() or destruction (also from inside its own
  // callback) the callback does not run again. Create, change and destroy it on the loop
  // thread. watch() throws std::runtime_error when epoll refuses the descriptor (one watched
  // already, or a regular file).
  static constexpr unsigned kReadable = 1;
  static constexpr unsigned kWritable = 2;
  class Watch {
   public:
    Watch() = default;
    ~Watch() { cancel(); }
    Watch(Watch&& other) noexcept = default;
    Watch& operator=(Watch&& other) noexcept;
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;

    void want(unsigned io);
    void cancel() noexcept;
    bool active() const noexcept { return entry_ != nullptr; }

   private:
    friend class EventLoop;
    Watch(std::shared_ptr<detail::LoopState> state, std::shared_ptr<detail::WatchEntry> entry)
        : state_(std::move(state)), entry_(std::move(entry)) {}
    std::shared_ptr<detail::LoopState> state_;
    std::shared_ptr<detail::WatchEntry> entry_;
  };
  [[nodiscard]] Watch watch(int fd, unsigned io, std::function<void(unsigned ready)> fn);

  // Fine-grained deadlines (epoll_pwait2 takes a timespec): a timer never fires early, and
  // late only by the wakeup latency (up to 1 ms more where epoll_wait stands in for it).
  // Timers due at the same time fire in the order armed.
  [[nodiscard]] Timer call_at(std::chrono::steady_clock::time_point when, std::function<void()> fn);
  [[nodiscard]] Timer call_after(std::chrono::microseconds delay, std::function<void()> fn);

 private:
  explicit EventLoop(std::string name);

  std::shared_ptr<detail::LoopState> state_;
  std::thread thread_;
};

}  // namespace peer::runtime
