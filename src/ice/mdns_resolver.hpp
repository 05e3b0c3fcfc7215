#pragma once
// peer::ice::MdnsResolver: resolves the `<uuid>.local` names browsers put in their host ICE
// candidates (draft-ietf-mmusic-mdns-ice-candidates) with one-shot Multicast DNS queries
// (RFC 6762 section 5.1), on the transport's EventLoop. AgentTransport makes one only when
// a .local candidate arrives, so native peers pay nothing; docs/architecture.md section 6.1.
//
// - Sockets: one UDP socket per local host address the transport gathered on, bound to that
//   address and an ephemeral port, with IP_MULTICAST_IF / IPV6_MULTICAST_IF on its
//   interface, so the query leaves on every interface a candidate of ours can pair from, and
//   the responder's unicast answer (RFC 6762 section 6.7: a query from a port other than
//   5353 is answered by unicast to it) comes back to that socket. Loopback addresses are
//   skipped (lo has no multicast). IP TTL / hop limit 255 (RFC 6762 section 11).
// - One more socket listens on 0.0.0.0:5353 in the IPv4 group on those interfaces, sharing
//   the port (SO_REUSEADDR, SO_REUSEPORT) with the host's mDNS daemon: Firefox's responder
//   multicasts its answer to the group even to a query from another port, and without the
//   listener the name was never resolved (interop.firefox-offers showed prflx pairs). It
//   sends nothing. IPv6 has no such listener yet.
// - Query: an A question on IPv4 sockets (to 224.0.0.251:5353), an AAAA question on IPv6
//   ones (to ff02::fb:5353): an address of the other family could not pair with that
//   socket's candidates anyway. Answers of either family are taken from any socket.
// - Retransmits at 0, 250 ms and 1 s after the start; given up at 3 s. A name being resolved
//   is asked once however many candidates carry it.
// - Results go to `on_done(name, addresses)`, called from the loop (a socket or the timer),
//   with no address when the time ran out. The caller keeps the cache.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/net_address.hpp"
#include "runtime/event_loop.hpp"


namespace peer::ice {

class MdnsResolver {
 public:
  using Clock = std::chrono::steady_clock;
  // `name` as given to resolve(); `addresses` empty when nobody answered in time. May
  // destroy the resolver.
  using OnDone =
      std::function<void(const std::string& name, const std::vector<Address>& addresses)>;

  // The send times after the start of a query, and when it is given up.
  static constexpr std::chrono::milliseconds kSendAt[] = {std::chrono::milliseconds(0),
                                                          std::chrono::milliseconds(250),
                                                          std::chrono::milliseconds(1000)};
  static constexpr std::chrono::milliseconds kTimeout{3000};

  // `locals`: the transport's host addresses (ports ignored). Opens the sockets now.
  MdnsResolver(runtime::EventLoop& loop, const std::vector<Address>& locals, OnDone on_done);
  ~MdnsResolver();
  MdnsResolver(const MdnsResolver&) = delete;
  MdnsResolver& operator=(const MdnsResolver&) = delete;

  // Starts resolving `name` (a lowercased "<x>.local"), unless that is already running.
  // Never calls on_done from inside: a name no socket can ask about fails from the loop.
  void resolve(const std::string& name);
  bool resolving(const std::string& name) const;
  std::size_t socket_count() const { return sockets_.size(); }

 private:
  struct Socket {
    int fd = -1;
    Address local;
    unsigned interface = 0;  // index
    runtime::EventLoop::Watch watch;
  };
  struct Query {
    std::string name;
    Clock::time_point started;
    std::size_t sent = 0;  // how many of kSendAt are done
  };

  void watch(int fd, const Address& local, unsigned interface);
  void receive(Socket& socket);
  void send(const Query& query);
  void on_timer();
  void arm();

  runtime::EventLoop& loop_;
  OnDone on_done_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  const Socket* listener_ = nullptr;  // 0.0.0.0:5353 in the IPv4 group: hears multicast answers
  std::vector<Query> queries_;
  runtime::EventLoop::Timer timer_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace peer::ice
