#pragma once
// The `connect` plugin: two peers in one process, as the seed's `connect`.
//
//   master.use(peer::connect(slave));          // master offers, slave answers
//
// It forwards candidates both ways, the offer and the answer, and starts negotiation
// (with offer = false it only wires, and whoever calls offer() later starts). The order of
// use() calls does not matter: channels used before or after connect work the same. The
// wiring holds the peers weakly, so it never keeps a peer alive; closing a peer removes its
// side of it.

#include <peer/peer.hpp>

namespace peer {

struct connect {
  explicit connect(Peer other, bool offer = true) : other(std::move(other)), offer(offer) {}
  void operator()(Peer& self) const;

  Peer other;
  bool offer;
};

}  // namespace peer
