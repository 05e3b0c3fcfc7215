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
  // `path`: the request target the WebSocket was opened on ("/" for most clients); the hub
  // passes it to ServerOptions::on_membership so an embedding program can tell its own
  // clients (peer serve's bots) from visitors.
  explicit Member(std::string id, std::string path = "/") : id_(std::move(id)), path_(std::move(path)) {}
  virtual ~Member() = default;
  const std::string& id() const { return id_; }
  const std::string& path() const { return path_; }
  // Queues `text` for the client. Any thread; must not block or call back into the hub.
  virtual void deliver(Text text) = 0;

 private:
  const std::string id_;
  const std::string path_;
};

}  // namespace peer::server
