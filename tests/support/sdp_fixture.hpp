#pragma once
// Browser descriptions from tests/fixtures/sdp and a made-up local transport, for the
// JSEP tests (peer_session_test.cpp, peer_media_sdp_test.cpp).
#include <fstream>
#include <sstream>
#include <string>

#include "core/session/transport_description.hpp"

namespace peer::test {

inline std::string sdp_fixture(const std::string& name) {
  std::ifstream in(std::string(PEER_FIXTURES) + "/sdp/" + name, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline session::LocalTransport local_transport(std::string setup) {
  session::LocalTransport t;
  t.ice_ufrag = "abcd";
  t.ice_pwd = "0123456789012345678901";
  t.fingerprint = "AA:BB";
  t.setup = std::move(setup);
  return t;
}

}  // namespace peer::test
