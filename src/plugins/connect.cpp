#include "peer/connect.hpp"

namespace peer {
namespace {

// Forwards `event` of `from` into `to`, holding `to` weakly.
template <class Fn>
void forward(Peer from, const char* event, const Peer& to, Fn fn) {
  from.on(event,
          [weak = to.weak(), fn](const json& value) {
            if (auto peer = weak.lock()) fn(*peer, value);
          })
      .detach();  // lives as long as `from` (close() removes it)
}

}  // namespace

void connect::operator()(Peer& self) const {
  forward(self, "candidate", other, [](Peer& to, const json& c) { to.ice(c); });
  forward(other, "candidate", self, [](Peer& to, const json& c) { to.ice(c); });
  forward(self, "offer", other, [](Peer& to, const json& offer) {
    to.remote(offer);
    to.answer();
  });
  forward(other, "answer", self, [](Peer& to, const json& answer) { to.remote(answer); });
  // The reverse direction too, so either side may call offer() later.
  forward(other, "offer", self, [](Peer& to, const json& offer) {
    to.remote(offer);
    to.answer();
  });
  forward(self, "answer", other, [](Peer& to, const json& answer) { to.remote(answer); });
  if (offer) self.offer();
}

}  // namespace peer
