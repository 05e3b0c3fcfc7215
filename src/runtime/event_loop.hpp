#pragma once
// peer::runtime::EventLoop: one thread running its own GLib GMainContext.
//
// docs/architecture.md section 3: a peer lives on exactly one loop, and all its protocol state is
// touched only on that loop's thread, so protocol code takes no locks. libnice needs a
// GMainContext for its sockets and timers, so the loop *is* a GMainContext iterated by one
// thread; everything else (posted work, our timers) are GSources on that same context.
//
// Lifetime: the loop is held by std::shared_ptr. Destroying it from another thread quits and
// joins the thread. Destroying the last reference on the loop thread itself (from a callback)
// cannot join: the thread is detached, finishes the callback it is in, drops whatever work
// was still queued (destroying it on the loop thread) and exits.

#include <glib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>

namespace peer::runtime {

namespace detail {
struct LoopState;  // shared by an EventLoop handle and its thread (event_loop.cpp)
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

  GMainContext* context() const;
  bool in_loop_thread() const;
  // True on the thread of any EventLoop (used to avoid blocking one loop on another).
  static bool on_any_loop_thread();

  // Thread-safe; runs `fn` on the loop thread after everything posted before it (FIFO).
  // Never runs inline. Exceptions escaping `fn` are logged and swallowed.
  void post(std::function<void()> fn);
  // Inline when called on the loop thread; else posts and blocks until `fn` has run.
  // An exception thrown by `fn` is rethrown to the caller. If the loop is destroyed before
  // `fn` runs, throws std::future_error (broken_promise) instead of blocking forever.
  void run_sync(std::function<void()> fn);

  // Keeps the loop thread alive after ~EventLoop asked it to quit, while the token lives (at
  // most kMaxLinger): it then still dispatches GLib sources (not posted tasks, not Timers), so
  // that a library can finish a goodbye it started, e.g. libnice's TURN deallocations
  // (nice_agent_close_async). A destructor called from another thread waits for that.
  static constexpr std::chrono::seconds kMaxLinger{5};
  [[nodiscard]] std::shared_ptr<void> linger();

  // A one-shot timer. RAII: destroying it or cancel() removes it, and its callback will not
  // run afterwards. Create, cancel and destroy it on the loop thread. Assigning a new timer
  // to a Timer (even from inside its own callback) cancels the old one.
  class Timer {
   public:
    Timer() = default;
    ~Timer() { cancel(); }
    Timer(Timer&& other) noexcept : source_(std::exchange(other.source_, nullptr)) {}
    Timer& operator=(Timer&& other) noexcept;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    void cancel() noexcept;
    // True until the timer has fired or been cancelled.
    bool pending() const noexcept;

   private:
    friend class EventLoop;
    explicit Timer(GSource* source) : source_(source) {}
    GSource* source_ = nullptr;  // one reference owned by this handle
  };

  // Microsecond deadlines: a custom GSource armed with g_source_set_ready_time(), not the
  // millisecond-rounded g_timeout_source (GLib still polls with a millisecond timeout, rounded
  // up, so a timer fires at most ~1 ms late, never early).
  [[nodiscard]] Timer call_at(std::chrono::steady_clock::time_point when, std::function<void()> fn);
  [[nodiscard]] Timer call_after(std::chrono::microseconds delay, std::function<void()> fn);

 private:
  explicit EventLoop(std::string name);

  std::shared_ptr<detail::LoopState> state_;
  std::thread thread_;
};

}  // namespace peer::runtime
