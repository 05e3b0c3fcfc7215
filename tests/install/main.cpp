// Uses the installed headers and library: a store, a peer, and an offer.
#include <peer/peer.hpp>

#include <cstdio>

int main() {
  peer::Peer p;
  p.set("addresses", peer::json::array({"127.0.0.1"}));
  std::string sdp;
  p.offer([&](const peer::json& offer) { sdp = offer["sdp"]; });
  p.close();
  const bool ok = sdp.find("a=fingerprint:sha-256") != std::string::npos;
  std::printf("consumer: offer %s\n", ok ? "has a fingerprint" : "is wrong");
  return ok ? 0 : 1;
}
