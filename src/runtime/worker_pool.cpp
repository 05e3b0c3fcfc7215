#include "runtime/worker_pool.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace peer::runtime {

struct WorkerPool::State {
  std::mutex mu;
  std::condition_variable work;
  std::deque<std::function<void()>> queue;  // guarded by mu
  std::size_t threads = 0;
};

namespace {
std::atomic<std::size_t> g_wanted{0};  // set_size(); 0: the core count
std::atomic<bool> g_inline{false};

void work(WorkerPool::State* s);
}  // namespace

WorkerPool::WorkerPool(std::size_t threads) : state_(new State) {
  state_->threads = threads;
  for (std::size_t i = 0; i < threads; ++i) std::thread(work, state_).detach();
}

WorkerPool& WorkerPool::shared() {
  static WorkerPool* pool = [] {
    std::size_t n = g_wanted.load();
    if (n == 0) n = std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 4);
    return new WorkerPool(n);  // leaked on purpose, as its threads are detached
  }();
  return *pool;
}

void WorkerPool::set_size(std::size_t threads) {
  g_wanted.store(std::max<std::size_t>(threads, 1));
}

std::size_t WorkerPool::size() const noexcept {
  return state_->threads;
}

void WorkerPool::set_inline(bool on) noexcept {
  g_inline.store(on);
}

void WorkerPool::run(std::function<void()> job) {
  if (g_inline.load()) {
    job();
    return;
  }
  shared().submit(std::move(job));
}

void WorkerPool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(state_->mu);
    state_->queue.push_back(std::move(job));
  }
  state_->work.notify_one();
}

namespace {
void work(WorkerPool::State* s) {
  pthread_setname_np(pthread_self(), "peer-worker");
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(s->mu);
      s->work.wait(lock, [&] { return !s->queue.empty(); });
      job = std::move(s->queue.front());
      s->queue.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      spdlog::error("worker: job threw: {}", e.what());
    } catch (...) {
      spdlog::error("worker: job threw a non-std exception");
    }
  }
}
}  // namespace

}  // namespace peer::runtime
