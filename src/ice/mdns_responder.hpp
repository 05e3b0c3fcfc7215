#pragma once
// peer::ice::MdnsResponder: hides our host addresses behind `<uuid>.local` names, as browsers
// do (draft-ietf-mmusic-mdns-ice-candidates), and answers Multicast DNS questions for those
// names (RFC 6762 section 6) so that the remote can resolve them. AgentTransport makes one
// only with IceConfig::mdns_names ("ice-mdns": true); docs/architecture.md section 6.1.
//
// - Names: one random version-4 UUID per IPv4 host address (RFC 4122 section 4.4), lower
//   case, ".local"; fixed for the transport's lifetime. IPv6 and loopback addresses get no
//   name (there is no IPv6 listener yet; lo has no multicast): their candidates keep the IP.
// - One socket on 0.0.0.0:5353 in the IPv4 group on the named addresses' interfaces (shared
//   with the host's mDNS daemon and other transports: every socket gets each query).
// - A question of type A (or ANY) and class IN for one of our names gets a response with
//   that name's address, from port 5353: by unicast to the asker when it asked from another
//   port (a legacy unicast query, section 6.7: the ID and the question repeated, no
//   cache-flush bit, a 10 s TTL) or set the QU bit (section 5.4), else multicast to
//   224.0.0.251 on the interface of the address (cache-flush, 120 s TTL: section 10), at
//   most once a second per name (section 6). AAAA questions for our names go unanswered (no
//   IPv6 address is named). Nothing is announced unasked.
// - Only the link is answered (section 5.5, 11; the point of the names is that the remote
//   of a call, which knows our public address, cannot learn the private one): a name is
//   answered only for a query that came in on its address's interface (IP_PKTINFO;
//   IP_MULTICAST_ALL off), and a query sent to us by unicast only from inside that
//   address's subnet.
// - Queries are untrusted input: core/mdns parses them (fuzzed) and whatever it refuses is
//   dropped with a debug log.

#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/net_address.hpp"
#include "runtime/event_loop.hpp"

namespace peer::ice {

class MdnsResponder {
 public:
  // `locals`: the transport's host addresses (ports ignored). `random` fills bytes (the
  // UUIDs); empty: OpenSSL's RAND_bytes. Opens the socket now; with none (no IPv4 address
  // that is not loopback, or the port cannot be shared) nothing is named.
  MdnsResponder(runtime::EventLoop& loop, const std::vector<Address>& locals,
                std::function<void(std::span<std::byte>)> random = {});
  ~MdnsResponder();
  MdnsResponder(const MdnsResponder&) = delete;
  MdnsResponder& operator=(const MdnsResponder&) = delete;

  // The name standing for `address` (its IP; the port is ignored), if it has one.
  std::optional<std::string> name_of(const Address& address) const;
  std::size_t answered() const noexcept { return answered_; }

 private:
  struct Named {
    std::string name;  // "<uuid>.local"
    Address address;   // port 0
    Address netmask;   // of `address` on its interface
    unsigned interface = 0;
    std::chrono::steady_clock::time_point multicast_at{};  // the last multicast answer
  };
  // The sender is inside the subnet of the named address.
  static bool on_link(const Address& sender, const Named& named);
  void receive();
  void answer(Named& named, uint16_t id, uint16_t question_type, bool legacy, bool unicast,
              const sockaddr_storage& to, socklen_t to_length);

  runtime::EventLoop& loop_;
  std::vector<Named> names_;
  int fd_ = -1;
  runtime::EventLoop::Watch watch_;
  std::vector<std::byte> message_;  // reused for each response
  std::size_t answered_ = 0;
};

}  // namespace peer::ice
