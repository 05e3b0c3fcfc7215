// The `connect` plugin: two peers in one process connect over loopback.
//
//   c++ -std=c++20 connect.cpp -o connect $(pkg-config --cflags --libs peer)
//   ./connect
//
// connect(b) wires a's candidates and descriptions to b and back, and makes the offer.
// Connection state lives in the store: "change connection" tells when it is "connected",
// and the key "pair" holds the selected ICE candidate pair.
#include <peer/connect.hpp>
#include <peer/peer.hpp>

#include <chrono>
#include <cstdio>
#include <future>

int main() {
  peer::Peer a, b;
  for (auto* p : {&a, &b}) p->set("addresses", peer::json::array({"127.0.0.1"}));  // loopback only

  std::promise<void> connected;
  auto sub = a.on("change connection", [&, done = false](const peer::json& state) mutable {
    std::printf("a: connection %s\n", state.get<std::string>().c_str());
    if (state == "connected" && !done) {
      done = true;
      connected.set_value();
    }
  });
  a.use(peer::connect(b));  // a offers, b answers

  if (connected.get_future().wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "connect: not connected within 10 s\n");
    return 1;
  }
  std::printf("pair: %s\n", a.get("pair").dump().c_str());
  a.close();
  b.close();
  return 0;
}
