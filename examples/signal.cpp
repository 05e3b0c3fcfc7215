// The `signal` plugin: one peer per process, meeting another through a signaling server.
//
//   c++ -std=c++20 signal.cpp -o signal $(pkg-config --cflags --libs peer)
//   peer signal &                     # ws://127.0.0.1:8787/
//   ./signal myroom & ./signal myroom # two processes, one room
//
// Usage: signal ROOM [URL [TOKEN]]. The member that was in the room first offers to the
// newcomer; the plugin carries descriptions and candidates through the server. Each side
// says hello on the channel "chat" and, once it has the other's hello, closes the channel:
// the close goes out after every message sent before it, so neither hello is lost, and
// both sides see "channel close". A server started with --secret-file wants a token
// (`peer token ROOM`).
#include <peer/channel.hpp>
#include <peer/peer.hpp>
#include <peer/signal.hpp>

#include <chrono>
#include <cstdio>
#include <future>
#include <string>

#include <unistd.h>  // getpid

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s ROOM [URL [TOKEN]]\n", argv[0]);
    return 2;
  }
  const std::string room = argv[1];
  const std::string url = argc > 2 ? argv[2] : "ws://127.0.0.1:8787/";
  peer::SignalOptions options;
  if (argc > 3) options.token = argv[3];

  peer::Peer p;
  // Loopback only, as the server is on this machine; leave "addresses" unset to gather on
  // every interface when the other member is elsewhere.
  p.set("addresses", peer::json::array({"127.0.0.1"}));

  auto chat = p.use(peer::channel("chat"));
  std::promise<void> finished;
  bool heard = false;  // touched only on the peer's loop thread
  auto on_message = chat.on_message([&](const peer::Message& m) {
    std::printf("received: %.*s\n", static_cast<int>(m.text().size()), m.text().data());
    heard = true;
    chat.close();
  });
  auto on_close = chat.on("channel close", [&] {
    if (heard) finished.set_value();
  });
  auto on_error = p.on("error", [](const peer::json& e) { std::fprintf(stderr, "error: %s\n", e.dump().c_str()); });
  auto on_joined = p.on("change signal-id", [](const peer::json& id) {
    std::printf("joined as %s\n", id.dump().c_str());
  });

  p.use(peer::signal(room, url, options));  // joins the room; pairs with the other member
  chat.send("hello from process " + std::to_string(::getpid()));

  if (finished.get_future().wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "signal: no hello and close within 20 s\n");
    return 1;
  }
  p.close();
  return 0;
}
