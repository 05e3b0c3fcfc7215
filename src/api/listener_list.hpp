#pragma once
// A copy-on-write list of callbacks: adding and removing (any thread) copy the list under a
// mutex; calling them (the loop thread, per frame or message) takes a reference to the
// current list without allocating. Removal through the returned Subscription, which
// waits for a call in progress on another thread (call_guard.hpp).
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "call_guard.hpp"
#include "peer/store.hpp"

namespace peer::detail {

template <class Fn>
class ListenerList {
 public:
  Subscription add(Fn fn) {
    auto listener = std::make_shared<Listener>();
    listener->fn = std::move(fn);
    {
      std::lock_guard lock(state_->mutex);
      auto next = std::make_shared<Listeners>(*state_->listeners);
      next->push_back(listener);
      state_->listeners = std::move(next);
    }
    std::weak_ptr<State> weak = state_;
    return Subscription::from([weak, listener] {
      listener->guard.mark_removed();
      if (auto state = weak.lock()) {
        std::lock_guard lock(state->mutex);
        auto next = std::make_shared<Listeners>();
        for (const auto& l : *state->listeners) {
          if (l != listener) next->push_back(l);
        }
        state->listeners = std::move(next);
      }
      listener->guard.wait_idle();  // no lock held
    });
  }

  bool empty() const {
    std::lock_guard lock(state_->mutex);
    return state_->listeners->empty();
  }

  template <class... Args>
  void call(const Args&... args) const {
    std::shared_ptr<const Listeners> current;
    {
      std::lock_guard lock(state_->mutex);
      current = state_->listeners;
    }
    for (const auto& l : *current) l->guard.call(l->fn, args...);
  }

 private:
  struct Listener {
    Fn fn;
    CallGuard guard;
  };
  using Listeners = std::vector<std::shared_ptr<Listener>>;
  struct State {
    mutable std::mutex mutex;
    std::shared_ptr<const Listeners> listeners = std::make_shared<Listeners>();
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace peer::detail
