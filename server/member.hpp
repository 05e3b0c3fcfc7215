#pragma once
// What the hub knows of a connected client: its id and a way to hand it a message.
// The WebSocket session implements it; tests can too.

#include <memory>
#include <string>

namespace peer::server {

// A message serialised once and shared by every recipient's write queue.
using Text = std::shared_ptr<const std::string>;

class Member {
 public:
  explicit Member(std::string id) : id_(std::move(id)) {}
  virtual ~Member() = default;
  const std::string& id() const { return id_; }
  // Queues `text` for the client. Any thread; must not block or call back into the hub.
  virtual void deliver(Text text) = 0;

 private:
  const std::string id_;
};

}  // namespace peer::server
