#pragma once
// Helpers shared by the RTP and RTCP tests of unit_rtp.

#include <cstddef>
#include <initializer_list>
#include <span>
#include <vector>

namespace peer::rtp::test {

inline std::vector<std::byte> bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// Calls check(prefix) for every proper prefix of `packet`, each in its own heap buffer of
// exactly that size, so that ASan catches a read past the end.
template <class F>
void for_each_prefix(std::span<const std::byte> packet, F&& check) {
  for (std::size_t n = 0; n < packet.size(); ++n) {
    const std::vector<std::byte> prefix(packet.begin(),
                                        packet.begin() + static_cast<std::ptrdiff_t>(n));
    check(std::span<const std::byte>(prefix), n);
  }
}

}  // namespace peer::rtp::test
