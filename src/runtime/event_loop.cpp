#include "runtime/event_loop.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace peer::runtime {

namespace detail {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kNotInHeap = std::numeric_limits<std::size_t>::max();

struct TimerEntry {
  Clock::time_point due;
  uint64_t sequence = 0;  // arming order: ties fire first-armed first
  std::function<void()> fn;
  std::size_t index = kNotInHeap;  // position in LoopState::timers
};

struct WatchEntry {
  int fd = -1;
  unsigned io = 0;
  bool cancelled = false;
  std::function<void(unsigned)> fn;
};

// What the loop thread owns. Everything but the post queue (mu, queue, woken) and the flags is
// touched only on the loop thread; handles that outlive the thread find `running` false.
struct LoopState {
  explicit LoopState(std::string loop_name) : name(std::move(loop_name)) {
    epoll = ::epoll_create1(EPOLL_CLOEXEC);
    wakeup = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll < 0 || wakeup < 0) {
      const std::string why = std::strerror(errno);
      if (epoll >= 0) ::close(epoll);
      if (wakeup >= 0) ::close(wakeup);
      throw std::runtime_error("event loop: epoll/eventfd: " + why);
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;  // the wakeup eventfd
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event);
  }
  ~LoopState() {
    ::close(wakeup);
    ::close(epoll);
  }
  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;

  void wake() const noexcept {
    const uint64_t one = 1;
    (void)!::write(wakeup, &one, sizeof one);
  }

  // ---- timers: a binary min-heap on (due, sequence), each entry knowing its index ----
  bool before(std::size_t a, std::size_t b) const noexcept {
    const auto& x = *timers[a];
    const auto& y = *timers[b];
    return x.due < y.due || (x.due == y.due && x.sequence < y.sequence);
  }
  void swap_timers(std::size_t a, std::size_t b) noexcept {
    std::swap(timers[a], timers[b]);
    timers[a]->index = a;
    timers[b]->index = b;
  }
  void sift_up(std::size_t i) noexcept {
    while (i > 0 && before(i, (i - 1) / 2)) {
      swap_timers(i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
  }
  void sift_down(std::size_t i) noexcept {
    for (;;) {
      std::size_t least = i;
      for (std::size_t child : {2 * i + 1, 2 * i + 2}) {
        if (child < timers.size() && before(child, least)) least = child;
      }
      if (least == i) return;
      swap_timers(i, least);
      i = least;
    }
  }
  void push_timer(std::shared_ptr<TimerEntry> entry) {
    entry->index = timers.size();
    timers.push_back(std::move(entry));
    sift_up(timers.size() - 1);
  }
  std::shared_ptr<TimerEntry> remove_timer(std::size_t i) noexcept {
    const std::size_t last = timers.size() - 1;
    if (i != last) swap_timers(i, last);
    auto entry = std::move(timers.back());
    timers.pop_back();
    entry->index = kNotInHeap;
    if (i < timers.size()) {
      sift_down(i);
      sift_up(i);
    }
    return entry;
  }

  std::string name;
  int epoll = -1;
  int wakeup = -1;  // eventfd: post() and ~EventLoop signal it
  std::mutex mu;
  std::deque<std::function<void()>> queue;  // guarded by mu
  bool woken = false;                       // guarded by mu: a wakeup is pending
  std::atomic<bool> quitting{false};        // set once by ~EventLoop
  std::atomic<bool> running{true};          // false once the thread dropped its work
  std::vector<std::shared_ptr<TimerEntry>> timers;
  uint64_t next_sequence = 0;
  // EventLoop::stats(): written by the loop thread only, read from anywhere.
  std::atomic<std::uint64_t> timers_run{0}, watches_run{0}, posts_run{0};
  std::vector<std::shared_ptr<TimerEntry>> due;  // run_due_timers' scratch
  // Watches cancelled during a dispatch round: epoll may still have handed out their entry
  // in this round's events, so they are kept until the round ends.
  std::vector<std::shared_ptr<WatchEntry>> cancelled;
  // Set as the last thing the loop thread does with this state (see Reaper).
  std::shared_ptr<std::atomic<bool>> exited = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace detail

namespace {

using detail::Clock;
using detail::LoopState;

// Loop threads that could not be joined because their last handle died on the loop thread
// itself. A detached thread would still be running when the process exits, while atexit
// handlers tear down libraries under it (OpenSSL frees its thread-local error state in an
// atexit handler; LeakSanitizer then reports the thread's state as leaked). So such threads
// are kept here, joined by the next adopt() once they have finished, and all joined by an
// atexit handler. That handler is registered at the first adopt(), after any library the
// loop used was initialised, so it runs before their handlers (atexit is LIFO).
class Reaper {
 public:
  static Reaper& instance() {
    static auto* reaper = new Reaper;  // leaked on purpose: used from atexit
    return *reaper;
  }
  void adopt(std::thread thread, std::shared_ptr<std::atomic<bool>> exited) {
    std::vector<std::thread> finished;
    {
      std::lock_guard lock(mu_);
      if (!registered_) {
        registered_ = true;
        std::atexit([] { instance().join_all(); });
      }
      for (auto it = threads_.begin(); it != threads_.end();) {
        if (it->exited->load(std::memory_order_acquire)) {
          finished.push_back(std::move(it->thread));
          it = threads_.erase(it);
        } else {
          ++it;
        }
      }
      threads_.push_back({std::move(thread), std::move(exited)});
    }
    for (auto& t : finished) t.join();  // they are past their last statement
  }
  void join_all() {
    std::vector<Entry> all;
    {
      std::lock_guard lock(mu_);
      all.swap(threads_);
    }
    for (auto& e : all) {
      if (e.thread.get_id() == std::this_thread::get_id()) {
        e.thread.detach();  // exit() called from a loop callback: cannot join ourselves
      } else {
        e.thread.join();
      }
    }
  }

 private:
  struct Entry {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> exited;
  };
  std::mutex mu_;
  std::vector<Entry> threads_;
  bool registered_ = false;
};

// The loop whose thread this is; lets in_loop_thread() work without racing thread start-up.
thread_local const LoopState* t_current_loop = nullptr;

// Nothing may escape a callback into the loop (docs/architecture.md section 4).
template <typename Fn>
void run_guarded(const std::string& loop_name, Fn& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("event loop {}: task threw: {}", loop_name, e.what());
  } catch (...) {
    spdlog::error("event loop {}: task threw a non-std exception", loop_name);
  }
}

uint32_t epoll_events_for(unsigned io) {
  uint32_t events = 0;
  if (io & EventLoop::kReadable) events |= EPOLLIN;
  if (io & EventLoop::kWritable) events |= EPOLLOUT;
  return events;  // EPOLLERR and EPOLLHUP are always reported
}

// How long epoll may sleep: until the soonest timer, rounded up (a timer never fires early).
timespec wait_for(const LoopState& state) {
  if (state.timers.empty()) return {-1, 0};
  const auto left = state.timers.front()->due - Clock::now();
  if (left <= Clock::duration::zero()) return {0, 0};
  const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(left).count();
  return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

int wait(LoopState& state, epoll_event* events, int capacity) {
  const timespec timeout = wait_for(state);
  // epoll_pwait2 (Linux 5.11) takes nanoseconds; epoll_wait only whole milliseconds.
  static std::atomic<bool> have_pwait2{true};
  if (have_pwait2.load(std::memory_order_relaxed)) {
    const int n = ::epoll_pwait2(state.epoll, events, capacity, timeout.tv_sec < 0 ? nullptr : &timeout, nullptr);
    // ENOSYS before Linux 5.11; EPERM where a seccomp filter does not know the call.
    if (n >= 0 || (errno != ENOSYS && errno != EPERM)) return n;
    have_pwait2 = false;
  }
  int ms = -1;
  if (timeout.tv_sec >= 0) {
    ms = static_cast<int>(std::min<long long>(timeout.tv_sec * 1000LL + (timeout.tv_nsec + 999999) / 1000000,
                                              std::numeric_limits<int>::max()));
  }
  return ::epoll_wait(state.epoll, events, capacity, ms);
}

void run_ready_watches(LoopState& state, const epoll_event* events, int n) {
  for (int i = 0; i < n && !state.quitting.load(std::memory_order_acquire); ++i) {
    auto* entry = static_cast<detail::WatchEntry*>(events[i].data.ptr);
    if (entry == nullptr) {  // the wakeup eventfd
      uint64_t count;
      (void)!::read(state.wakeup, &count, sizeof count);
      continue;
    }
    if (entry->cancelled) continue;
    unsigned ready = 0;
    if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ready |= EventLoop::kReadable;
    if (events[i].events & EPOLLOUT) ready |= EventLoop::kWritable;
    ready &= entry->io | EventLoop::kReadable;  // an error on a write-only watch: a read says which
    if (ready == 0) continue;
    auto call = [entry, ready] { entry->fn(ready); };
    state.watches_run.store(state.watches_run.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    run_guarded(state.name, call);
  }
  // Swapped out first: a callback destroyed here may cancel another watch (push_back).
  std::vector<std::shared_ptr<detail::WatchEntry>> cancelled;
  cancelled.swap(state.cancelled);
  cancelled.clear();
  if (state.cancelled.empty()) state.cancelled.swap(cancelled);  // keep the capacity
}

void run_due_timers(LoopState& state) {
  const auto now = Clock::now();
  // Only timers due now: one a callback arms for "now" waits for the next round, after I/O.
  auto& due = state.due;  // reused: no allocation per round once grown
  while (!state.timers.empty() && state.timers.front()->due <= now) due.push_back(state.remove_timer(0));
  for (auto& entry : due) {
    if (state.quitting.load(std::memory_order_acquire)) break;
    // Moved out, so what it captured dies here (on the loop thread) even if a handle lives on;
    // an entry a previous callback in this round cancelled has no fn any more.
    auto fn = std::move(entry->fn);
    entry->fn = nullptr;
    if (!fn) continue;
    state.timers_run.store(state.timers_run.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    run_guarded(state.name, fn);
  }
  // Quitting mid-round: the callbacks not run die here, on the loop thread, too.
  for (auto& entry : due) entry->fn = nullptr;
  due.clear();
}

void run_posted(LoopState& state) {
  // Run only what was queued before this round; work posted meanwhile waits for the next
  // round so that a task re-posting itself cannot starve socket I/O.
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(state.mu);
    batch.swap(state.queue);
    state.woken = false;
  }
  while (!batch.empty() && !state.quitting.load(std::memory_order_acquire)) {
    auto fn = std::move(batch.front());
    batch.pop_front();
    state.posts_run.store(state.posts_run.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    run_guarded(state.name, fn);
    // `fn` (and what it captured) is destroyed here, on the loop thread.
  }
  // If the loop was destroyed by one of the tasks, the rest are dropped here (on this thread).
}

void loop_thread_main(std::shared_ptr<LoopState> state) {
  // Linux limits thread names to 15 bytes plus the terminator.
  pthread_setname_np(pthread_self(), state->name.substr(0, 15).c_str());
  t_current_loop = state.get();
  constexpr int kEvents = 64;
  epoll_event events[kEvents];
  while (!state->quitting.load(std::memory_order_acquire)) {
    const int n = wait(*state, events, kEvents);
    if (n < 0 && errno != EINTR) {
      // Never leave the loop while it is wanted: posted work (run_sync callers) would wait
      // forever. Log once, back off a little, go on.
      static std::atomic<bool> logged{false};
      if (!logged.exchange(true)) spdlog::error("event loop {}: epoll_wait: {}", state->name, std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    run_ready_watches(*state, events, std::max(n, 0));
    run_due_timers(*state);
    run_posted(*state);
  }
  // Drop whatever is still queued or armed, destroying it on this thread. Destructors may
  // post or arm more.
  state->running.store(false, std::memory_order_release);
  for (;;) {
    std::deque<std::function<void()>> rest;
    std::vector<std::shared_ptr<detail::TimerEntry>> timers;
    {
      std::lock_guard lock(state->mu);
      rest.swap(state->queue);
    }
    timers.swap(state->timers);
    // Out of the heap first, all of them: a callback destroyed next may cancel another timer.
    for (auto& t : timers) t->index = detail::kNotInHeap;
    for (auto& t : timers) t->fn = nullptr;
    if (rest.empty() && timers.empty()) break;
  }
  std::vector<std::shared_ptr<detail::WatchEntry>> cancelled;
  cancelled.swap(state->cancelled);
  cancelled.clear();
  t_current_loop = nullptr;
  auto exited = state->exited;
  state.reset();
  exited->store(true, std::memory_order_release);
}

}  // namespace

// ---- EventLoop ----

EventLoop::EventLoop(std::string name) : state_(std::make_shared<LoopState>(std::move(name))) {
  thread_ = std::thread(loop_thread_main, state_);
  // Named from here too, so the name is visible as soon as create() returns.
  pthread_setname_np(thread_.native_handle(), state_->name.substr(0, 15).c_str());
}

std::shared_ptr<EventLoop> EventLoop::create(std::string name) {
  return std::shared_ptr<EventLoop>(new EventLoop(std::move(name)));
}

namespace {
// The process-wide loops: weak, so a loop lives only while some peer holds it.
struct Pool {
  std::mutex mu;
  std::vector<std::weak_ptr<EventLoop>> loops = std::vector<std::weak_ptr<EventLoop>>(1);
  std::size_t next = 0;
};
Pool& pool() {
  static auto* p = new Pool;  // leaked on purpose: no static destruction order issues at exit
  return *p;
}
}  // namespace

std::shared_ptr<EventLoop> EventLoop::shared_default() {
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  if (auto loop = p.loops[0].lock()) return loop;
  auto loop = create("peer-loop");
  p.loops[0] = loop;
  return loop;
}

void EventLoop::set_pool_size(std::size_t n) {
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  p.loops.resize(std::max<std::size_t>(n, 1));
  p.next = 0;
}

std::shared_ptr<EventLoop> EventLoop::pooled() {
  Pool& p = pool();
  std::lock_guard lock(p.mu);
  const std::size_t i = p.next++ % p.loops.size();
  if (auto loop = p.loops[i].lock()) return loop;
  auto loop = create("peer-loop");
  p.loops[i] = loop;
  return loop;
}

EventLoop::~EventLoop() {
  state_->quitting.store(true, std::memory_order_release);
  state_->wake();
  if (in_loop_thread()) {
    // Called from a callback on the loop thread: joining would deadlock. The thread sees the
    // flag once the current callback returns, cleans up and exits on its own; the Reaper
    // joins it later.
    Reaper::instance().adopt(std::move(thread_), state_->exited);
  } else {
    thread_.join();
  }
}

EventLoop::Stats EventLoop::stats() const noexcept {
  return {state_->timers_run.load(std::memory_order_relaxed), state_->watches_run.load(std::memory_order_relaxed),
          state_->posts_run.load(std::memory_order_relaxed)};
}

bool EventLoop::on_any_loop_thread() {
  return t_current_loop != nullptr;
}

bool EventLoop::in_loop_thread() const {
  return t_current_loop == state_.get();
}

void EventLoop::post(std::function<void()> fn) {
  bool wake = false;
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(std::move(fn));
    wake = !std::exchange(state_->woken, true);
  }
  if (wake) state_->wake();  // one eventfd write per batch of posts, not per post
}

void EventLoop::run_sync(std::function<void()> fn) {
  if (in_loop_thread()) {
    fn();
    return;
  }
  // If the task is dropped unrun (loop destroyed), the promise dies with it and get() throws
  // broken_promise rather than blocking forever.
  auto done = std::make_shared<std::promise<void>>();
  auto result = done->get_future();
  post([done = std::move(done), fn = std::move(fn)] {
    try {
      fn();
      done->set_value();
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  result.get();
}

EventLoop::Timer EventLoop::call_at(std::chrono::steady_clock::time_point when,
                                    std::function<void()> fn) {
  auto entry = std::make_shared<detail::TimerEntry>();
  entry->due = when;
  entry->sequence = state_->next_sequence++;
  entry->fn = std::move(fn);
  if (state_->running.load(std::memory_order_acquire)) state_->push_timer(entry);
  return Timer(state_, std::move(entry));
}

EventLoop::Timer EventLoop::call_after(std::chrono::microseconds delay, std::function<void()> fn) {
  return call_at(std::chrono::steady_clock::now() + delay, std::move(fn));
}

EventLoop::Watch EventLoop::watch(int fd, unsigned io, std::function<void(unsigned ready)> fn) {
  auto entry = std::make_shared<detail::WatchEntry>();
  entry->fd = fd;
  entry->io = io;
  entry->fn = std::move(fn);
  epoll_event event{};
  event.events = epoll_events_for(io);
  event.data.ptr = entry.get();
  if (::epoll_ctl(state_->epoll, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw std::runtime_error(std::string("event loop: cannot watch descriptor: ") + std::strerror(errno));
  }
  return Watch(state_, std::move(entry));
}

// ---- Timer ----

EventLoop::Timer& EventLoop::Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
    entry_ = std::move(other.entry_);
  }
  return *this;
}

void EventLoop::Timer::cancel() noexcept {
  if (entry_ == nullptr) return;
  if (entry_->index != detail::kNotInHeap) state_->remove_timer(entry_->index);
  // The callback dies last: what it captured may own this handle.
  auto fn = std::move(entry_->fn);
  entry_->fn = nullptr;
  entry_.reset();
  state_.reset();
}

bool EventLoop::Timer::pending() const noexcept {
  return entry_ != nullptr && entry_->index != detail::kNotInHeap;
}

// ---- Watch ----

EventLoop::Watch& EventLoop::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    cancel();
    state_ = std::move(other.state_);
    entry_ = std::move(other.entry_);
  }
  return *this;
}

void EventLoop::Watch::want(unsigned io) {
  if (entry_ == nullptr || entry_->io == io) return;
  entry_->io = io;
  epoll_event event{};
  event.events = epoll_events_for(io);
  event.data.ptr = entry_.get();
  ::epoll_ctl(state_->epoll, EPOLL_CTL_MOD, entry_->fd, &event);
}

void EventLoop::Watch::cancel() noexcept {
  if (entry_ == nullptr) return;
  // EBADF when the caller closed the descriptor first: the kernel dropped it already.
  ::epoll_ctl(state_->epoll, EPOLL_CTL_DEL, entry_->fd, nullptr);
  entry_->cancelled = true;
  auto entry = std::move(entry_);
  auto state = std::move(state_);
  if (state->running.load(std::memory_order_acquire)) {
    try {
      state->cancelled.push_back(std::move(entry));  // freed after this dispatch round
    } catch (...) {
      new std::shared_ptr<detail::WatchEntry>(std::move(entry));  // out of memory: kept (leaked) rather than freed under epoll
    }
  }
}

}  // namespace peer::runtime
