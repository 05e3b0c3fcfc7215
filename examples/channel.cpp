// The `channel` plugin: data channel messages between two peers in one process.
//
//   c++ -std=c++20 channel.cpp -o channel $(pkg-config --cflags --libs peer)
//   ./channel
//
// Both sides ask for a channel labelled "chat" and get one handle each. Messages sent
// before the channel opens are kept and go out in order when it does. Text, JSON and
// binary messages are shown; b answers every message, a waits for the three answers.
#include <peer/channel.hpp>
#include <peer/connect.hpp>
#include <peer/peer.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <future>
#include <string>

int main() {
  peer::Peer a, b;
  for (auto* p : {&a, &b}) p->set("addresses", peer::json::array({"127.0.0.1"}));

  auto a_chat = a.use(peer::channel("chat"));
  auto b_chat = b.use(peer::channel("chat"));

  // b answers each message on its own channel handle. Callbacks run on the peer's loop
  // thread; a Message is valid only during the call.
  auto b_sub = b_chat.on_message([&](const peer::Message& m) {
    if (m.binary()) {
      b_chat.send("got " + std::to_string(m.bytes().size()) + " bytes");
    } else {
      b_chat.send("got: " + std::string(m.text()));
    }
  });

  std::promise<void> answered;
  std::atomic<int> answers = 0;
  auto a_sub = a_chat.on_message([&](const peer::Message& m) {
    std::printf("a received: %.*s\n", static_cast<int>(m.text().size()), m.text().data());
    if (++answers == 3) answered.set_value();
  });

  a.use(peer::connect(b));

  a_chat.send("hello");                                         // text (kept until open)
  a_chat.send(peer::json{{"type", "greeting"}, {"n", 1}});      // JSON, sent as text
  std::array<std::byte, 1000> bytes{};                          // binary
  a_chat.send(std::span<const std::byte>(bytes));

  if (answered.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "channel: %d of 3 answers within 10 s\n", answers.load());
    return 1;
  }
  a.close();
  b.close();
  return 0;
}
