// Unsubscribing is final (src/api/call_guard.hpp): once Subscription::reset() returns, the
// listener is not running on another thread, so the caller may destroy what it uses. A
// listener may unsubscribe itself without waiting for itself. The same holds for the
// copy-on-write listener lists behind tracks and channels (api/listener_list.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "api/listener_list.hpp"
#include "peer/store.hpp"

namespace peer {
namespace {

using namespace std::chrono_literals;

// Waits (polling) for `flag`; gives up after 10 s so a broken build fails rather than hangs.
bool wait_for(const std::atomic<bool>& flag) {
  for (int i = 0; i < 10000 && !flag.load(); ++i) std::this_thread::sleep_for(1ms);
  return flag.load();
}

// A listener blocks inside its call on thread E; thread R unsubscribes meanwhile. R's
// reset() must return only after the call ended: the order of the two events is recorded.
template <class Emit, class Subscribe>
void reset_waits_for_a_call_in_progress(Subscribe subscribe, Emit emit) {
  std::atomic<bool> inside{false}, release{false}, resetting{false};
  std::atomic<int> sequence{0};
  int call_ended = -1, reset_returned = -1;
  Subscription sub = subscribe([&] {
    inside = true;
    wait_for(release);
    call_ended = sequence++;
  });
  std::thread emitter(emit);
  const bool entered = wait_for(inside);
  EXPECT_TRUE(entered) << "the listener was never called";
  std::thread resetter([&] {
    resetting = true;
    sub.reset();
    reset_returned = sequence++;
  });
  // The resetter is running; give a broken reset() time to return while the call is open.
  EXPECT_TRUE(wait_for(resetting));
  std::this_thread::sleep_for(50ms);
  release = true;
  resetter.join();
  emitter.join();
  EXPECT_EQ(call_ended, 0);
  EXPECT_EQ(reset_returned, 1) << "reset() returned while the listener was still running";
  EXPECT_FALSE(sub.active());
}

TEST(StoreUnsubscribe, ResetFromAnotherThreadWaitsForTheCallInProgress) {
  Store store;
  reset_waits_for_a_call_in_progress(
      [&](std::function<void()> body) { return store.on("ping", [body](std::span<const json>) { body(); }); },
      [&] { store.emit("ping"); });
}

TEST(StoreUnsubscribe, ResetOfAOnceListenerWaitsToo) {
  Store store;
  reset_waits_for_a_call_in_progress(
      [&](std::function<void()> body) { return store.once("ping", [body](std::span<const json>) { body(); }); },
      [&] { store.emit("ping"); });
}

TEST(StoreUnsubscribe, ListenerListResetWaitsForTheCallInProgress) {
  detail::ListenerList<std::function<void(int)>> list;
  reset_waits_for_a_call_in_progress([&](std::function<void()> body) { return list.add([body](int) { body(); }); },
                                     [&] { list.call(1); });
}

TEST(StoreUnsubscribe, AListenerMayUnsubscribeItselfAndIsNotCalledAgain) {
  Store store;
  int calls = 0;
  Subscription sub;
  sub = store.on("ping", [&](std::span<const json>) {
    ++calls;
    sub.reset();  // inside its own call: must not wait for itself
  });
  store.emit("ping");
  store.emit("ping");
  EXPECT_EQ(calls, 1);

  detail::ListenerList<std::function<void()>> list;
  int list_calls = 0;
  Subscription list_sub;
  list_sub = list.add([&] {
    ++list_calls;
    list_sub.reset();
  });
  list.call();
  list.call();
  EXPECT_EQ(list_calls, 1);
}

TEST(StoreUnsubscribe, AListenerThatThrowsDoesNotBlockALaterReset) {
  detail::ListenerList<std::function<void()>> list;
  Subscription sub = list.add([] { throw std::runtime_error("listener failed"); });
  EXPECT_THROW(list.call(), std::runtime_error);
  std::thread other([&] { sub.reset(); });  // would wait forever if the throw left the call open
  other.join();
  EXPECT_FALSE(sub.active());
}

}  // namespace
}  // namespace peer
