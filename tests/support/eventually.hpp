#pragma once
// Polls a condition until it holds or a timeout passes: the tests' one way to wait for
// something another thread (a peer's loop) does. No timing is asserted with it.

#include <chrono>
#include <thread>

namespace peer::test {

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

}  // namespace peer::test
