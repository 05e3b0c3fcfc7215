#pragma once
// Makes unsubscribing final. A listener may be running on one thread (the peer's loop,
// a dispatcher) while the application unsubscribes it on another and then destroys what
// the listener uses. Marking it removed is not enough: a call that already started would
// still be touching that state. CallGuard counts the calls in progress; after
// remove_and_wait() returns, the listener is not running on any other thread and never
// starts again.
//
// Calls from the unsubscribing thread itself are not waited for (a listener may unsubscribe
// itself, or another listener up its own call stack): a thread-local stack of the guards
// whose calls are open on this thread tells them apart.
//
// Cost per call: two atomic increments, one load, a push and pop on a thread-local vector
// (no allocation once it has grown), and no syscall unless someone waits.
//
// Do not unsubscribe while holding a lock the listener takes: the wait would deadlock,
// as with any "wait for the callback to finish" API.

#include <algorithm>
#include <atomic>
#include <vector>

namespace peer::detail {

class CallGuard {
 public:
  // Before a call: false when the listener was removed (do not call it). A true must be
  // matched by leave(); Call below does both.
  bool enter() noexcept {
    calls_.fetch_add(1);  // before the removed_ check: pairs with remove_and_wait's order
    if (removed_.load()) {
      release();
      return false;
    }
    open_here().push_back(this);
    return true;
  }
  // enter() for a listener that runs once: the first caller claims it, and it is removed.
  bool enter_once() noexcept {
    calls_.fetch_add(1);
    if (removed_.exchange(true)) {
      release();
      return false;
    }
    open_here().push_back(this);
    return true;
  }
  void leave() noexcept {
    auto& open = open_here();
    if (auto it = std::find(open.rbegin(), open.rend(), this); it != open.rend()) open.erase(std::next(it).base());
    release();
  }

  bool removed() const noexcept { return removed_.load(); }
  // Marks it removed without waiting (under a lock the listener might need); wait_idle()
  // afterwards, with no lock held.
  void mark_removed() noexcept { removed_.store(true); }
  // Waits until no call is in progress on another thread (after mark_removed()).
  void wait_idle() noexcept {
    const auto& open = open_here();
    const int own = static_cast<int>(std::count(open.begin(), open.end(), this));
    for (int now = calls_.load(); now > own; now = calls_.load()) {
      waiting_.store(true);
      calls_.wait(now);  // returns at once when calls_ already moved on
    }
  }

  // Closes a call that enter() opened, also when the listener throws.
  class Leave {
   public:
    explicit Leave(CallGuard& guard) noexcept : guard_(guard) {}
    ~Leave() { guard_.leave(); }
    Leave(const Leave&) = delete;
    Leave& operator=(const Leave&) = delete;

   private:
    CallGuard& guard_;
  };

  // Runs `fn(args...)` if not removed, between enter() and leave().
  template <class Fn, class... Args>
  void call(Fn& fn, const Args&... args) {
    if (!enter()) return;
    Leave leave(*this);
    fn(args...);
  }

 private:
  void release() noexcept {
    calls_.fetch_sub(1);
    if (waiting_.load()) calls_.notify_all();
  }
  static std::vector<const CallGuard*>& open_here() noexcept {
    thread_local std::vector<const CallGuard*> open;
    return open;
  }

  std::atomic<int> calls_{0};
  std::atomic<bool> removed_{false};
  std::atomic<bool> waiting_{false};
};

}  // namespace peer::detail
