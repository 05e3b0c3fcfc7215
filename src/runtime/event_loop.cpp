#include "runtime/event_loop.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace peer::runtime {

namespace detail {

struct LoopState {
  explicit LoopState(std::string loop_name)
      : name(std::move(loop_name)), ctx(g_main_context_new()) {}
  ~LoopState() { g_main_context_unref(ctx); }
  LoopState(const LoopState&) = delete;
  LoopState& operator=(const LoopState&) = delete;

  std::string name;
  GMainContext* ctx;
  GSource* post_source = nullptr;  // drains `queue`; owned by the loop thread
  std::mutex mu;
  std::deque<std::function<void()>> queue;  // guarded by mu
  // Set once by ~EventLoop. A shared flag (not a pointer to this state) so that timer sources,
  // which the context owns, do not keep the state (and thus the context) alive in a cycle.
  std::shared_ptr<std::atomic<bool>> quitting = std::make_shared<std::atomic<bool>>(false);
  std::atomic<int> lingering{0};  // live linger() tokens
  // Set as the last thing the loop thread does with this state (see Reaper).
  std::shared_ptr<std::atomic<bool>> exited = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace detail

namespace {

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

// Callbacks run from C (GLib) dispatch functions: nothing may escape (docs/architecture.md section 4).
void run_guarded(const std::string& loop_name, std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("event loop {}: task threw: {}", loop_name, e.what());
  } catch (...) {
    spdlog::error("event loop {}: task threw a non-std exception", loop_name);
  }
}

// ---- the post queue: one GSource that is ready while the queue is non-empty ----
//
// post() appends under a mutex and wakes the context (g_main_context_wakeup is thread-safe);
// prepare/check then see a non-empty queue. One source for all posts keeps FIFO order and
// costs no allocation per post beyond the std::function itself.

struct PostSource {
  GSource base;
  LoopState* state;
};

gboolean post_prepare(GSource* source, gint* timeout) {
  *timeout = -1;
  auto* state = reinterpret_cast<PostSource*>(source)->state;
  std::lock_guard lock(state->mu);
  return !state->queue.empty();
}

gboolean post_check(GSource* source) {
  auto* state = reinterpret_cast<PostSource*>(source)->state;
  std::lock_guard lock(state->mu);
  return !state->queue.empty();
}

gboolean post_dispatch(GSource* source, GSourceFunc, gpointer) {
  auto* state = reinterpret_cast<PostSource*>(source)->state;
  // Run only what was queued before this dispatch; work posted meanwhile waits for the next
  // iteration so that a task re-posting itself cannot starve socket I/O.
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(state->mu);
    batch.swap(state->queue);
  }
  while (!batch.empty() && !state->quitting->load(std::memory_order_acquire)) {
    auto fn = std::move(batch.front());
    batch.pop_front();
    run_guarded(state->name, fn);
    // `fn` (and what it captured) is destroyed here, on the loop thread.
  }
  // If the loop was destroyed by one of the tasks, the rest are dropped here (on this thread).
  return G_SOURCE_CONTINUE;
}

GSourceFuncs kPostFuncs = {post_prepare, post_check, post_dispatch, nullptr, nullptr, nullptr};

// ---- timers: a GSource with a ready time in microseconds ----

struct TimerPayload {
  std::function<void()> fn;
  std::shared_ptr<std::atomic<bool>> quitting;
  std::string loop_name;
};

struct TimerSource {
  GSource base;
  TimerPayload* payload;
};

gboolean timer_dispatch(GSource* source, GSourceFunc, gpointer) {
  auto* payload = reinterpret_cast<TimerSource*>(source)->payload;
  if (!payload->quitting->load(std::memory_order_acquire)) {
    // Move the callback out so that what it captured dies at the end of this dispatch (on the
    // loop thread), not whenever the last Timer handle lets go of the source.
    auto fn = std::move(payload->fn);
    payload->fn = nullptr;
    run_guarded(payload->loop_name, fn);
  }
  return G_SOURCE_REMOVE;  // one-shot
}

void timer_finalize(GSource* source) {
  auto* timer = reinterpret_cast<TimerSource*>(source);
  delete timer->payload;
  timer->payload = nullptr;
}

GSourceFuncs kTimerFuncs = {nullptr, nullptr, timer_dispatch, timer_finalize, nullptr, nullptr};

void loop_thread_main(std::shared_ptr<LoopState> state) {
  // Linux limits thread names to 15 bytes plus the terminator.
  pthread_setname_np(pthread_self(), state->name.substr(0, 15).c_str());
  t_current_loop = state.get();
  // Also make it the thread-default context, so GIO async calls made from callbacks land here.
  g_main_context_push_thread_default(state->ctx);

  // Not g_main_loop_run(): a quit requested before the thread reaches g_main_loop_run() would
  // be lost. The flag plus g_main_context_wakeup() (whose eventfd stays signalled until the
  // next poll) cannot miss a quit.
  while (!state->quitting->load(std::memory_order_acquire)) {
    g_main_context_iteration(state->ctx, TRUE);
  }
  if (state->lingering.load(std::memory_order_acquire) > 0) {
    // Let libraries finish what they started (see EventLoop::linger). A timeout source bounds
    // the blocking iteration; token release wakes the context.
    GSource* bound = g_timeout_source_new_seconds(EventLoop::kMaxLinger.count());
    g_source_set_callback(
        bound, [](gpointer) { return gboolean(G_SOURCE_REMOVE); }, nullptr, nullptr);
    g_source_attach(bound, state->ctx);
    while (state->lingering.load(std::memory_order_acquire) > 0 && !g_source_is_destroyed(bound)) {
      g_main_context_iteration(state->ctx, TRUE);
    }
    g_source_destroy(bound);
    g_source_unref(bound);
  }

  // Drop whatever is still queued, destroying it on this thread. Destructors may post more.
  for (;;) {
    std::deque<std::function<void()>> rest;
    {
      std::lock_guard lock(state->mu);
      if (state->queue.empty()) break;
      rest.swap(state->queue);
    }
  }
  g_source_destroy(state->post_source);
  g_source_unref(state->post_source);
  state->post_source = nullptr;
  g_main_context_pop_thread_default(state->ctx);
  t_current_loop = nullptr;
  auto exited = state->exited;
  state.reset();
  exited->store(true, std::memory_order_release);
  // `state` is released here: if the EventLoop handle is already gone, the context goes too
  // (sources of objects still alive, e.g. a libnice agent, keep their own context reference).
}

}  // namespace

// ---- EventLoop ----

EventLoop::EventLoop(std::string name) : state_(std::make_shared<LoopState>(std::move(name))) {
  auto* post = reinterpret_cast<PostSource*>(g_source_new(&kPostFuncs, sizeof(PostSource)));
  post->state = state_.get();
  g_source_set_name(&post->base, "peer-post");
  g_source_attach(&post->base, state_->ctx);
  state_->post_source = &post->base;
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
  state_->quitting->store(true, std::memory_order_release);
  g_main_context_wakeup(state_->ctx);
  if (in_loop_thread()) {
    // Called from a callback on the loop thread: joining would deadlock. The thread sees the
    // flag once the current callback returns, cleans up and exits on its own; the Reaper
    // joins it later.
    Reaper::instance().adopt(std::move(thread_), state_->exited);
  } else {
    thread_.join();
  }
}

std::shared_ptr<void> EventLoop::linger() {
  state_->lingering.fetch_add(1, std::memory_order_acq_rel);
  // The token owns the state, so releasing it late (even after the loop is gone) is safe.
  return std::shared_ptr<void>(nullptr, [state = state_](void*) {
    state->lingering.fetch_sub(1, std::memory_order_acq_rel);
    g_main_context_wakeup(state->ctx);
  });
}

GMainContext* EventLoop::context() const {
  return state_->ctx;
}

bool EventLoop::on_any_loop_thread() {
  return t_current_loop != nullptr;
}

bool EventLoop::in_loop_thread() const {
  return t_current_loop == state_.get();
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(std::move(fn));
  }
  g_main_context_wakeup(state_->ctx);
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
  using namespace std::chrono;
  auto* source = reinterpret_cast<TimerSource*>(g_source_new(&kTimerFuncs, sizeof(TimerSource)));
  source->payload = new TimerPayload{std::move(fn), state_->quitting, state_->name};
  // steady_clock and g_get_monotonic_time() are both CLOCK_MONOTONIC on Linux, but convert
  // through a delta rather than rely on that; round up so a timer never fires early.
  auto delay = ceil<microseconds>(when - steady_clock::now());
  gint64 ready = g_get_monotonic_time() + std::max<gint64>(0, delay.count());
  g_source_set_ready_time(&source->base, ready);
  g_source_set_name(&source->base, "peer-timer");
  g_source_attach(&source->base, state_->ctx);
  return Timer(&source->base);
}

EventLoop::Timer EventLoop::call_after(std::chrono::microseconds delay, std::function<void()> fn) {
  return call_at(std::chrono::steady_clock::now() + delay, std::move(fn));
}

// ---- Timer ----

EventLoop::Timer& EventLoop::Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    cancel();
    source_ = std::exchange(other.source_, nullptr);
  }
  return *this;
}

void EventLoop::Timer::cancel() noexcept {
  if (source_ == nullptr) return;
  // Safe even after the source fired, and after its context is gone (GLib then only marks it).
  g_source_destroy(source_);
  g_source_unref(source_);
  source_ = nullptr;
}

bool EventLoop::Timer::pending() const noexcept {
  return source_ != nullptr && !g_source_is_destroyed(source_);
}

}  // namespace peer::runtime
