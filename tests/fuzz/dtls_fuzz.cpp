// libFuzzer target for what the network hands the DTLS layer: datagrams that reach a DTLS
// endpoint (first byte 20..63 after the RFC 7983 demux), in either role.
//
// Input: a role byte, then datagrams as [u16 big-endian length][bytes]. Invariants: no
// crash, no sanitizer report, no exception except peer::Error, and an endpoint fed garbage
// never reports "connected" (the fingerprint below matches no certificate).
//
// Seeds: with PEER_DTLS_FUZZ_WRITE_SEEDS=<dir> the target writes real first flights of a
// client and of a server into <dir> (tests/fuzz/corpus/dtls was made so).

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "core/dtls/certificate.hpp"
#include "core/dtls/dtls_endpoint.hpp"
#include "peer/error.hpp"

namespace {

using peer::dtls::Certificate;
using peer::dtls::DtlsEndpoint;
using peer::dtls::Role;

const Certificate& certificate() {
  static const Certificate cert = Certificate::generate();
  return cert;
}

constexpr const char* kNoMatch =
    "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:"
    "00";

std::vector<std::byte> drain(DtlsEndpoint& e) {
  std::vector<std::byte> framed;
  e.drain_transmit([&](std::span<const std::byte> d) {
    framed.push_back(std::byte(d.size() >> 8));
    framed.push_back(std::byte(d.size() & 0xff));
    framed.insert(framed.end(), d.begin(), d.end());
  });
  return framed;
}

void write_seed(const std::string& path, std::byte role, const std::vector<std::byte>& framed) {
  std::ofstream out(path, std::ios::binary);
  out.put(static_cast<char>(role));
  out.write(reinterpret_cast<const char*>(framed.data()),
            static_cast<std::streamsize>(framed.size()));
}

// A real exchange up to the server's first flight, saved as inputs for each role.
void write_seeds(const std::string& dir) {
  const auto now = DtlsEndpoint::Clock::now();
  DtlsEndpoint client(certificate(), Role::client, "sha-256", certificate().fingerprint());
  DtlsEndpoint server(certificate(), Role::server, "sha-256", certificate().fingerprint());
  client.start(now);
  server.start(now);
  auto hello = drain(client);
  write_seed(dir + "/client_hello", std::byte{1}, hello);  // role 1: we are the server
  std::size_t at = 0;
  while (at + 2 <= hello.size()) {
    const std::size_t n = (std::size_t(hello[at]) << 8) | std::size_t(hello[at + 1]);
    server.handle_receive(now, std::span(hello).subspan(at + 2, n));
    at += 2 + n;
  }
  write_seed(dir + "/server_flight", std::byte{0}, drain(server));  // role 0: we are the client
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("PEER_DTLS_FUZZ_WRITE_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Role role = (data[0] & 1) ? Role::server : Role::client;
  const auto now = DtlsEndpoint::Clock::now();
  DtlsEndpoint endpoint(certificate(), role, "sha-256", kNoMatch);
  endpoint.start(now);
  drain(endpoint);
  std::size_t at = 1;
  while (at + 2 <= size) {
    const std::size_t n = (std::size_t(data[at]) << 8) | data[at + 1];
    at += 2;
    if (n > size - at) break;
    endpoint.handle_receive(now, std::span(reinterpret_cast<const std::byte*>(data + at), n));
    drain(endpoint);
    endpoint.drain_application_data([](std::span<const std::byte>) { std::abort(); });
    at += n;
  }
  if (endpoint.state() == peer::dtls::DtlsState::connected) std::abort();
  return 0;
}
