#pragma once
// peer::runtime::WorkerPool: a few threads for CPU work that must not hold up an event loop,
// the media codecs above all (a 640x480 VP8 frame takes ~2.7 ms to encode, during which no
// peer on that loop would move a packet: the scale issue). Jobs run in FIFO order on whichever
// worker is free; a job hands its result back to its loop with EventLoop::post.
//
// One pool per process, made on first use with set_size()'s count or, by default, the core
// count (at most 4). Its threads wait on a condition variable while there is no work (no
// wakeups) and live until the process exits.

#include <cstddef>
#include <functional>

namespace peer::runtime {

class WorkerPool {
 public:
  static WorkerPool& shared();
  // The number of threads of the shared pool; only before its first use (later: ignored).
  static void set_size(std::size_t threads);
  // While set, run() runs the job at once on the caller's thread (no pool: the way to
  // compare, or to keep a process at one thread per loop).
  static void set_inline(bool on) noexcept;
  std::size_t size() const noexcept;

  // run(): on the shared pool, or inline while set_inline. Static: inline, no pool is made.
  static void run(std::function<void()> job);
  // Thread-safe. `job` must not throw (an exception is logged and dropped).
  void submit(std::function<void()> job);

  struct State;  // the queue its threads share (worker_pool.cpp)

 private:
  explicit WorkerPool(std::size_t threads);
  State* state_;  // leaked with the pool: its threads may still wait on it at exit
};

}  // namespace peer::runtime
