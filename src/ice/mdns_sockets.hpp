#pragma once
// The sockets of Multicast DNS (RFC 6762), shared by the resolver of remote `.local` names
// (mdns_resolver.hpp) and the responder for our own (mdns_responder.hpp).

#include <vector>

#include "core/net_address.hpp"

namespace peer::ice {

// The interface holding `address` (by index; 0 when none does) and the address's netmask
// there (port 0; empty when unknown), from one walk of the interface list.
struct MdnsLink {
  unsigned interface = 0;
  Address netmask;
};
MdnsLink mdns_link_of(const Address& address);

// A socket bound to `local` (an ephemeral port) that sends its multicast out of `interface`
// with IP TTL / hop limit 255 (RFC 6762 section 11), or -1.
int open_mdns_sender(const Address& local, unsigned interface);

// A socket on 0.0.0.0:5353 in the IPv4 group on each of `interfaces`, sharing the port with
// the host's mDNS daemon and other such sockets (SO_REUSEADDR, SO_REUSEPORT: every one gets
// each multicast datagram), or -1.
int open_mdns_group_listener(const std::vector<unsigned>& interfaces);

}  // namespace peer::ice
