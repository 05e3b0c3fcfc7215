#pragma once
// Settings of the signaling server; `peer signal` maps its flags onto these one to one.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace peer::server {

// A member entered or left a room on this node (ServerOptions::on_membership).
struct MembershipEvent {
  std::string_view room;
  std::string_view id;
  std::string_view path;  // the request target its WebSocket was opened on
  bool joined;            // false: it left, closed or lost its connection
};

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 8787;             // 0: any free port (Server::port() tells which)
  unsigned threads = 0;                   // 0: one per core
  std::size_t max_message_bytes = 65536;  // a WebSocket message from a client
  double messages_per_second = 50;        // per client; bursts up to one second's worth
  std::size_t max_room_members = 16;
  std::size_t max_rooms = 10000;          // rooms with members on this server
  std::size_t max_queued_messages = 1024; // outgoing, per client; a slower client is dropped
  std::chrono::seconds idle_timeout{60};  // ping after half of it, close after all of it
  std::string secret;                     // non-empty: "join" needs a valid token
  std::string static_dir;                 // non-empty: served over plain HTTP GET
  // Files held in memory (peer serve's built-in page), by request path ("/index.html");
  // "/" is "/index.html". Looked up before static_dir.
  std::map<std::string, std::string_view, std::less<>> files;
  // Told of every join and leave of a member of this node, in order, under the hub's
  // lock: it must return quickly and must not call back into the server.
  std::function<void(const MembershipEvent&)> on_membership;
  std::string redis_url;                  // non-empty: share rooms with other nodes
  std::chrono::milliseconds heartbeat{2000};  // node liveness in Redis; expires after 3x
  std::chrono::milliseconds shutdown_grace{5000};  // for clients to answer the close frame
};

}  // namespace peer::server
