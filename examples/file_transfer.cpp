// A file over a data channel, with flow control: two peers in one process.
//
//   c++ -std=c++20 file_transfer.cpp -o file_transfer $(pkg-config --cflags --libs peer)
//   ./file_transfer INPUT OUTPUT
//
// a reads INPUT and sends it on the channel "file": first a JSON header {"name", "size"},
// then binary messages of 64 KiB. send() never blocks, so the sender watches
// buffered_amount() and, above 4 MiB, waits for "bufferedamountlow" (threshold 1 MiB).
// b writes what arrives to OUTPUT and is done when `size` bytes are there. Across two
// processes the same code runs with the signal plugin instead of connect (see signal.cpp).
#include <peer/channel.hpp>
#include <peer/connect.hpp>
#include <peer/peer.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <span>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s INPUT OUTPUT\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  if (!in || !out) {
    std::fprintf(stderr, "file_transfer: cannot open %s or %s\n", argv[1], argv[2]);
    return 1;
  }
  in.seekg(0, std::ios::end);
  const std::uint64_t size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);

  peer::Peer a, b;
  for (auto* p : {&a, &b}) p->set("addresses", peer::json::array({"127.0.0.1"}));
  auto tx = a.use(peer::channel("file"));
  auto rx = b.use(peer::channel("file"));

  std::mutex m;
  std::condition_variable cv;  // woken by the receiver's progress and by "bufferedamountlow"
  std::uint64_t expected = 0, received = 0;
  bool header = false, failed = false;

  // Receiver (runs on b's loop thread): the header first, then the bytes.
  auto on_message = rx.on_message([&](const peer::Message& msg) {
    std::lock_guard lock(m);
    if (!msg.binary()) {
      const auto h = msg.to_json();
      expected = h.at("size").get<std::uint64_t>();
      header = true;
      std::printf("b: receiving %s, %llu bytes\n", h.at("name").get<std::string>().c_str(),
                  static_cast<unsigned long long>(expected));
    } else {
      out.write(reinterpret_cast<const char*>(msg.bytes().data()), static_cast<std::streamsize>(msg.bytes().size()));
      received += msg.bytes().size();
      failed = failed || !out;
    }
    cv.notify_all();
  });

  constexpr std::size_t kChunk = 64 * 1024, kHigh = 4 << 20, kLow = 1 << 20;
  tx.buffered_amount_low_threshold(kLow);
  auto on_low = tx.on("bufferedamountlow", [&] {
    std::lock_guard lock(m);
    cv.notify_all();
  });

  a.use(peer::connect(b));
  const auto start = std::chrono::steady_clock::now();
  tx.send(peer::json{{"name", argv[1]}, {"size", size}});
  std::vector<char> chunk(kChunk);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0) break;
    tx.send(std::as_bytes(std::span(chunk.data(), n)));  // copied: the buffer can be reused
    if (tx.buffered_amount() > kHigh) {
      std::unique_lock lock(m);
      // The event may come before we wait: the timeout re-reads buffered_amount().
      while (tx.buffered_amount() > kLow) cv.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  std::unique_lock lock(m);
  const bool done = cv.wait_for(lock, std::chrono::seconds(30), [&] {
    return failed || (header && received == expected);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  lock.unlock();
  a.close();
  b.close();
  out.close();
  if (!done || failed || !out) {
    std::fprintf(stderr, "file_transfer: %llu of %llu bytes arrived\n", static_cast<unsigned long long>(received),
                 static_cast<unsigned long long>(size));
    return 1;
  }
  std::printf("a: sent %llu bytes in %.2f s\n", static_cast<unsigned long long>(size), seconds);
  return 0;
}
