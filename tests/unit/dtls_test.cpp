#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include "core/dtls/certificate.hpp"
#include "core/dtls/datagram_queue.hpp"
#include "core/dtls/dtls_endpoint.hpp"
#include "peer/error.hpp"

namespace {

using namespace peer::dtls;
using namespace std::chrono_literals;
using Clock = DtlsEndpoint::Clock;
using Bytes = std::vector<std::byte>;

Bytes bytes_of(std::string_view s) {
  Bytes out(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = std::byte(static_cast<unsigned char>(s[i]));
  return out;
}

Bytes pattern(std::size_t n, unsigned seed = 1) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = std::byte((i * 31 + std::size_t{seed} * 7 + (i >> 8)) & 0xff);
  return out;
}

std::vector<Bytes> app_data(DtlsEndpoint& ep) {
  std::vector<Bytes> out;
  ep.drain_application_data(
      [&](std::span<const std::byte> d) { out.emplace_back(d.begin(), d.end()); });
  return out;
}

// One direction of the in-memory link, with optional impairments.
struct Direction {
  int sent = 0;        // datagrams offered so far (index for `drop`)
  std::set<int> drop;  // drop the datagrams with these indexes
  std::function<bool(std::span<const std::byte>)>
      drop_if;              // drop matching datagrams (once each call)
  bool reverse = false;     // deliver each batch in reverse order
  bool duplicate = false;   // deliver every datagram twice
  std::size_t largest = 0;  // largest datagram seen
  std::vector<Bytes> log;   // everything offered, before impairments

  std::vector<Bytes> take(DtlsEndpoint& from) {
    std::vector<Bytes> batch;
    from.drain_transmit([&](std::span<const std::byte> d) {
      const int index = sent++;
      largest = std::max(largest, d.size());
      log.emplace_back(d.begin(), d.end());
      if (drop.count(index) != 0) return;
      if (drop_if && drop_if(d)) return;
      batch.emplace_back(d.begin(), d.end());
      if (duplicate) batch.emplace_back(d.begin(), d.end());
    });
    if (reverse) std::reverse(batch.begin(), batch.end());
    return batch;
  }
};

// Shuttles datagrams between a client and a server until both are quiet.
struct Link {
  Direction c2s, s2c;

  // Returns the number of datagrams delivered.
  int pump(DtlsEndpoint& client, DtlsEndpoint& server) {
    int delivered = 0;
    for (int round = 0; round < 100; ++round) {
      auto to_server = c2s.take(client);
      for (auto& d : to_server) server.handle_receive(Clock::now(), d);
      auto to_client = s2c.take(server);
      for (auto& d : to_client) client.handle_receive(Clock::now(), d);
      delivered += static_cast<int>(to_server.size() + to_client.size());
      if (to_server.empty() && to_client.empty()) break;
    }
    return delivered;
  }
};

bool settled(const DtlsEndpoint& ep) {
  return ep.state() != DtlsState::new_ && ep.state() != DtlsState::connecting;
}

// Pumps and, when quiet but not done, sleeps until the earliest real deadline and fires
// the timers. Returns false if `limit` passed first.
bool run(Link& link, DtlsEndpoint& client, DtlsEndpoint& server, Clock::duration limit = 3s) {
  const auto give_up = Clock::now() + limit;
  for (;;) {
    link.pump(client, server);
    if (settled(client) && settled(server)) return true;
    std::optional<Clock::time_point> next;
    for (auto* ep : {&client, &server}) {
      if (auto t = ep->next_timeout(); t && (!next || *t < *next)) next = t;
    }
    if (!next || *next > give_up) return false;
    std::this_thread::sleep_until(*next);
    client.handle_timeout(Clock::now());
    server.handle_timeout(Clock::now());
  }
}

struct Pair {
  explicit Pair(DtlsOptions options = {})
      : client_cert(Certificate::generate()),
        server_cert(Certificate::generate()),
        client(client_cert, Role::client, "sha-256", server_cert.fingerprint(), options),
        server(server_cert, Role::server, "sha-256", client_cert.fingerprint(), options) {}

  void start() {
    client.start(Clock::now());
    server.start(Clock::now());
  }

  Certificate client_cert, server_cert;
  DtlsEndpoint client, server;
  Link link;
};

void expect_connected(Pair& p) {
  ASSERT_EQ(p.client.state(), DtlsState::connected) << p.client.error_message();
  ASSERT_EQ(p.server.state(), DtlsState::connected) << p.server.error_message();
}

// A self-signed RSA-2048 certificate, as some non-browser peers bring.
Certificate rsa_certificate() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  X509_set_version(cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 42);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("rsa"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  auto pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return out;
  };
  const std::string cert_pem = pem([&](BIO* b) { PEM_write_bio_X509(b, cert); });
  const std::string key_pem =
      pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(cert);
  EVP_PKEY_free(key);
  return Certificate::from_pem(cert_pem, key_pem);
}

// ---------------------------------------------------------------------------------------
// Certificates

TEST(DtlsCertificate, FingerprintFormat) {
  const Certificate cert = Certificate::generate();
  const std::string fp = cert.fingerprint();
  EXPECT_EQ(fp.size(), 95u);  // 32 bytes: 64 hex digits + 31 colons
  EXPECT_TRUE(std::regex_match(fp, std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}"))) << fp;
  EXPECT_EQ(cert.fingerprint("SHA-256"), fp);
  EXPECT_EQ(cert.fingerprint("sha-1").size(), 59u);
  EXPECT_EQ(cert.fingerprint("sha-384").size(), 143u);
  EXPECT_EQ(cert.fingerprint("sha-512").size(), 191u);
  try {
    (void)cert.fingerprint("md5");
    FAIL() << "md5 accepted";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_argument);
  }
}

TEST(DtlsCertificate, GenerateIsEcdsaP256SelfSignedAndFresh) {
  const Certificate a = Certificate::generate();
  const Certificate b = Certificate::generate();
  EXPECT_NE(a.fingerprint(), b.fingerprint());
  EXPECT_EQ(EVP_PKEY_get_base_id(a.key()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(a.key()), 256);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.x509()), X509_get0_serialNumber(b.x509())),
            0);
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(a.x509()), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "peer");
  EXPECT_EQ(X509_check_issued(a.x509(), a.x509()), X509_V_OK);  // self-signed
  // Valid from about a day ago to about 30 days ahead.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notBefore(a.x509())), 1);
  EXPECT_EQ(days, -1);
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(a.x509())), 1);
  EXPECT_TRUE(days == 29 || days == 30) << days;
}

TEST(DtlsCertificate, CopiesShareTheSameObjects) {
  const Certificate a = Certificate::generate();
  const Certificate b = a;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(a.x509(), b.x509());
  EXPECT_EQ(a.key(), b.key());
}

TEST(DtlsCertificate, PemRoundTrip) {
  const Certificate original = Certificate::generate();
  const std::string cert_pem = original.cert_pem();
  const std::string key_pem = original.key_pem();
  EXPECT_EQ(cert_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_EQ(key_pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  const Certificate copy = Certificate::from_pem(cert_pem, key_pem);
  EXPECT_EQ(copy.fingerprint(), original.fingerprint());
  EXPECT_EQ(copy.cert_pem(), cert_pem);
  EXPECT_EQ(copy.key_pem(), key_pem);
}

void expect_bad_certificate(std::string_view cert, std::string_view key, std::string_view what) {
  try {
    (void)Certificate::from_pem(cert, key);
    ADD_FAILURE() << "accepted: " << what;
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::bad_certificate) << what;
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

TEST(DtlsCertificate, BadPemIsBadCertificate) {
  const Certificate a = Certificate::generate();
  const Certificate b = Certificate::generate();
  const std::string cert = a.cert_pem();
  const std::string key = a.key_pem();
  expect_bad_certificate("", key, "empty certificate");
  expect_bad_certificate(cert, "", "empty key");
  expect_bad_certificate("hello", key, "not PEM");
  expect_bad_certificate(cert.substr(0, cert.size() / 2), key, "truncated certificate");
  expect_bad_certificate(cert, key.substr(0, key.size() / 2), "truncated key");
  expect_bad_certificate(key, key, "key given as certificate");
  expect_bad_certificate(cert, cert, "certificate given as key");
  std::string corrupt = cert;
  corrupt[cert.size() / 2] = corrupt[cert.size() / 2] == 'A' ? 'B' : 'A';
  expect_bad_certificate(corrupt, key, "corrupted base64");
  try {
    (void)Certificate::from_pem(cert, b.key_pem());
    ADD_FAILURE() << "accepted a key of another certificate";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::bad_certificate);
    EXPECT_NE(std::string(e.what()).find("does not belong"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// Datagram queue

TEST(DtlsDatagramQueue, KeepsBoundariesAndOrderAndAllowsPushDuringDrain) {
  DatagramQueue q;
  q.push(bytes_of("a"));
  q.push(bytes_of(""));
  q.push(pattern(5000));
  std::vector<Bytes> seen;
  q.drain([&](std::span<const std::byte> d) {
    seen.emplace_back(d.begin(), d.end());
    if (seen.size() == 1) q.push(bytes_of("later"));  // lands in the next drain
  });
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], bytes_of("a"));
  EXPECT_TRUE(seen[1].empty());
  EXPECT_EQ(seen[2], pattern(5000));
  seen.clear();
  q.drain([&](std::span<const std::byte> d) { seen.emplace_back(d.begin(), d.end()); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], bytes_of("later"));
  EXPECT_TRUE(q.empty());
}

TEST(DtlsDatagramQueue, ReleasesItsBuffersOnlyWhenEmpty) {
  DatagramQueue q;
  q.push(pattern(9000));
  q.release_if_empty();  // something is queued: kept
  std::vector<Bytes> seen;
  q.drain([&](std::span<const std::byte> d) { seen.emplace_back(d.begin(), d.end()); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], pattern(9000));
  q.release_if_empty();
  q.push(bytes_of("after"));  // grows again
  seen.clear();
  q.drain([&](std::span<const std::byte> d) { seen.emplace_back(d.begin(), d.end()); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], bytes_of("after"));
}

// ---------------------------------------------------------------------------------------
// Handshake

TEST(Dtls, HandshakeCompletesBothRoles) {
  Pair p;
  EXPECT_EQ(p.client.role(), Role::client);
  EXPECT_EQ(p.server.role(), Role::server);
  EXPECT_EQ(p.client.state(), DtlsState::new_);
  EXPECT_FALSE(p.client.state_changed());
  EXPECT_FALSE(p.client.next_timeout());
  p.start();
  EXPECT_EQ(p.client.state(), DtlsState::connecting);
  EXPECT_TRUE(p.client.state_changed());
  EXPECT_FALSE(p.client.state_changed());  // once per transition
  EXPECT_TRUE(p.server.state_changed());
  p.link.pump(p.client, p.server);
  expect_connected(p);
  EXPECT_TRUE(p.client.state_changed());
  EXPECT_TRUE(p.server.state_changed());
  EXPECT_FALSE(p.client.state_changed());
  EXPECT_EQ(p.client.cipher_name(), "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(p.server.cipher_name(), "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_LE(p.link.c2s.largest, 1200u);
  EXPECT_LE(p.link.s2c.largest, 1200u);
  // The client's retransmission timer stops once the server's Finished arrived.
  EXPECT_FALSE(p.client.next_timeout());
  EXPECT_EQ(p.client.max_send_size(), 1200u - 13 - 8 - 16);  // header, explicit nonce, tag
}

TEST(Dtls, SrtpKeysMatchCrosswise) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  const auto& c = p.client.srtp_keys();
  const auto& s = p.server.srtp_keys();
  ASSERT_TRUE(c && s);
  EXPECT_EQ(c->profile, SrtpProfile::aead_aes_128_gcm);  // our first choice
  EXPECT_EQ(s->profile, SrtpProfile::aead_aes_128_gcm);
  EXPECT_EQ(c->local_key.size(), 16u);
  EXPECT_EQ(c->local_salt.size(), 12u);
  EXPECT_EQ(c->local_key, s->remote_key);
  EXPECT_EQ(c->local_salt, s->remote_salt);
  EXPECT_EQ(c->remote_key, s->local_key);
  EXPECT_EQ(c->remote_salt, s->local_salt);
  EXPECT_NE(c->local_key, c->remote_key);
  EXPECT_NE(c->local_salt, c->remote_salt);
}

TEST(Dtls, SrtpKeysAreUnsetBeforeConnected) {
  Pair p;
  EXPECT_FALSE(p.client.srtp_keys());
  p.client.start(Clock::now());
  EXPECT_FALSE(p.client.srtp_keys());
  EXPECT_TRUE(p.client.cipher_name().empty());
  EXPECT_EQ(p.client.max_send_size(), 0u);
}

TEST(Dtls, ApplicationDataBothWaysIntact) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  const Bytes one = bytes_of("x");
  const Bytes big = pattern(1100);
  const Bytes max = pattern(p.client.max_send_size(), 3);
  p.client.send(one);
  p.client.send(big);
  p.client.send(max);
  p.server.send(big);
  p.server.send(one);
  p.link.pump(p.client, p.server);
  EXPECT_LE(p.link.c2s.largest, 1200u);
  EXPECT_LE(p.link.s2c.largest, 1200u);
  const auto at_server = app_data(p.server);
  ASSERT_EQ(at_server.size(), 3u);
  EXPECT_EQ(at_server[0], one);
  EXPECT_EQ(at_server[1], big);
  EXPECT_EQ(at_server[2], max);
  const auto at_client = app_data(p.client);
  ASSERT_EQ(at_client.size(), 2u);
  EXPECT_EQ(at_client[0], big);
  EXPECT_EQ(at_client[1], one);
  EXPECT_TRUE(app_data(p.client).empty());  // drained means gone
}

// With UDP GRO the kernel hands over many datagrams as one buffer. Records delimit
// themselves (RFC 6347 section 4.1.1), so every one must come out, in order; a record cut
// short at the end is dropped alone.
TEST(Dtls, ManyDatagramsInOneBufferAreAllRead) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  std::vector<Bytes> sent;
  for (unsigned i = 0; i < 40; ++i) {
    sent.push_back(pattern(i % 3 == 0 ? 1100 : 10 + i, i));
    p.client.send(sent.back());
  }
  Bytes coalesced;
  p.client.drain_transmit(
      [&](std::span<const std::byte> d) { coalesced.insert(coalesced.end(), d.begin(), d.end()); });
  const Bytes whole = coalesced;
  p.client.send(pattern(500, 99));
  p.client.drain_transmit([&](std::span<const std::byte> d) {
    coalesced.insert(coalesced.end(), d.begin(), d.begin() + 100);  // a truncated record
  });
  p.server.handle_receive(Clock::now(), coalesced);
  EXPECT_EQ(p.server.state(), DtlsState::connected) << p.server.error_message();
  EXPECT_EQ(app_data(p.server), sent);
  // The same buffer again: replays, which DTLS drops (RFC 6347 section 4.1.2.6).
  p.server.handle_receive(Clock::now(), whole);
  EXPECT_TRUE(app_data(p.server).empty());
  EXPECT_EQ(p.server.state(), DtlsState::connected);
}

TEST(Dtls, LargeRecordsAndRecordLimit) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  const Bytes largest = pattern(16384);
  p.client.send(largest);  // above the MTU: one oversized datagram, still delivered
  p.link.pump(p.client, p.server);
  const auto got = app_data(p.server);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], largest);
  try {
    p.client.send(pattern(16385));
    FAIL() << "accepted more than a record";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_argument);
  }
}

TEST(Dtls, SendFromInsideDrainIsAnEcho) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  for (int i = 0; i < 50; ++i) p.client.send(pattern(100 + i, i));
  p.link.pump(p.client, p.server);
  int echoed = 0;
  p.server.drain_application_data([&](std::span<const std::byte> d) {
    p.server.send(d);
    ++echoed;
  });
  EXPECT_EQ(echoed, 50);
  p.link.pump(p.client, p.server);
  const auto back = app_data(p.client);
  ASSERT_EQ(back.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(back[i], pattern(100 + i, i));
}

TEST(Dtls, RsaPeerCertificateNegotiatesEcdheRsa) {
  const Certificate rsa = rsa_certificate();
  const Certificate ec = Certificate::generate();
  DtlsEndpoint client(ec, Role::client, "sha-256", rsa.fingerprint());
  DtlsEndpoint server(rsa, Role::server, "sha-256", ec.fingerprint());
  Link link;
  client.start(Clock::now());
  server.start(Clock::now());
  link.pump(client, server);
  ASSERT_EQ(client.state(), DtlsState::connected) << client.error_message();
  ASSERT_EQ(server.state(), DtlsState::connected) << server.error_message();
  EXPECT_EQ(client.cipher_name(), "ECDHE-RSA-AES128-GCM-SHA256");
}

TEST(Dtls, EndpointsAreMovable) {
  Pair p;
  p.client.start(Clock::now());
  DtlsEndpoint moved = std::move(p.client);
  p.server.start(Clock::now());
  p.link.pump(moved, p.server);
  EXPECT_EQ(moved.state(), DtlsState::connected) << moved.error_message();
  EXPECT_EQ(p.server.state(), DtlsState::connected) << p.server.error_message();
}

// ---------------------------------------------------------------------------------------
// Fingerprints (RFC 8122)

void expect_mismatch_fails_both(bool client_has_wrong_fingerprint) {
  const Certificate client_cert = Certificate::generate();
  const Certificate server_cert = Certificate::generate();
  const Certificate stranger = Certificate::generate();
  const std::string wrong = stranger.fingerprint();
  DtlsEndpoint client(client_cert, Role::client, "sha-256",
                      client_has_wrong_fingerprint ? wrong : server_cert.fingerprint());
  DtlsEndpoint server(server_cert, Role::server, "sha-256",
                      client_has_wrong_fingerprint ? client_cert.fingerprint() : wrong);
  Link link;
  client.start(Clock::now());
  server.start(Clock::now());
  link.pump(client, server);

  DtlsEndpoint& checker = client_has_wrong_fingerprint ? client : server;
  DtlsEndpoint& other = client_has_wrong_fingerprint ? server : client;
  const Certificate& presented = client_has_wrong_fingerprint ? server_cert : client_cert;
  ASSERT_EQ(checker.state(), DtlsState::failed);
  EXPECT_EQ(checker.error_code(), peer::Errc::fingerprint_mismatch);
  const std::string& msg = checker.error_message();
  EXPECT_NE(msg.find("remote certificate fingerprint sha-256 " + presented.fingerprint() +
                     " does not match a=fingerprint sha-256 " + wrong),
            std::string::npos)
      << msg;
  // The checker sent a fatal alert: the other side fails instead of waiting for timeouts.
  ASSERT_EQ(other.state(), DtlsState::failed);
  EXPECT_EQ(other.error_code(), peer::Errc::dtls_failed);
  EXPECT_NE(other.error_message().find("bad certificate"), std::string::npos)
      << other.error_message();
  EXPECT_FALSE(checker.srtp_keys());
  EXPECT_FALSE(other.srtp_keys());
  EXPECT_FALSE(checker.next_timeout());
  EXPECT_FALSE(other.next_timeout());
  // No application data, and none can be sent.
  EXPECT_TRUE(app_data(client).empty());
  EXPECT_TRUE(app_data(server).empty());
  EXPECT_THROW(client.send(bytes_of("hi")), peer::Error);
  EXPECT_THROW(server.send(bytes_of("hi")), peer::Error);
  // Later datagrams (replays of the whole exchange) change nothing.
  for (const auto& d : link.c2s.log) server.handle_receive(Clock::now(), d);
  for (const auto& d : link.s2c.log) client.handle_receive(Clock::now(), d);
  EXPECT_EQ(client.state(), DtlsState::failed);
  EXPECT_EQ(server.state(), DtlsState::failed);
  EXPECT_TRUE(app_data(client).empty());
  EXPECT_TRUE(app_data(server).empty());
  EXPECT_EQ(checker.error_code(), peer::Errc::fingerprint_mismatch);
}

TEST(Dtls, FingerprintMismatchDetectedByClient) {
  expect_mismatch_fails_both(true);
}
TEST(Dtls, FingerprintMismatchDetectedByServer) {
  expect_mismatch_fails_both(false);
}

TEST(Dtls, FingerprintComparisonIsCaseInsensitiveAndOtherHashesWork) {
  const Certificate client_cert = Certificate::generate();
  const Certificate server_cert = Certificate::generate();
  for (const std::string alg : {"sha-256", "SHA-256", "sha-1", "sha-384", "sha-512"}) {
    std::string lower = server_cert.fingerprint(alg);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    DtlsEndpoint client(client_cert, Role::client, alg, lower);
    DtlsEndpoint server(server_cert, Role::server, alg, client_cert.fingerprint(alg));
    Link link;
    client.start(Clock::now());
    server.start(Clock::now());
    link.pump(client, server);
    EXPECT_EQ(client.state(), DtlsState::connected) << alg << ": " << client.error_message();
    EXPECT_EQ(server.state(), DtlsState::connected) << alg << ": " << server.error_message();
  }
}

TEST(Dtls, UnacceptedHashFunctionFailsTheHandshake) {
  const Certificate client_cert = Certificate::generate();
  const Certificate server_cert = Certificate::generate();
  DtlsEndpoint client(client_cert, Role::client, "md5", "AB:CD");
  DtlsEndpoint server(server_cert, Role::server, "sha-256", client_cert.fingerprint());
  Link link;
  client.start(Clock::now());
  server.start(Clock::now());
  link.pump(client, server);
  ASSERT_EQ(client.state(), DtlsState::failed);
  EXPECT_EQ(client.error_code(), peer::Errc::fingerprint_mismatch);
  EXPECT_NE(client.error_message().find("md5"), std::string::npos) << client.error_message();
  EXPECT_EQ(server.state(), DtlsState::failed);
}

// ---------------------------------------------------------------------------------------
// Loss, reordering, duplication, early and bad datagrams

TEST(Dtls, LostClientHelloIsRecoveredByTheShortTimer) {
  Pair p;
  p.link.c2s.drop = {0, 1};  // the first ClientHello and its first retransmission
  const auto t0 = Clock::now();
  p.start();
  const auto first = p.client.next_timeout();
  ASSERT_TRUE(first);
  const auto first_wait = *first - t0;
  EXPECT_GE(first_wait, 50ms);
  EXPECT_LT(first_wait, 1s);              // not OpenSSL's default 1 s
  EXPECT_FALSE(p.server.next_timeout());  // the server has sent nothing yet

  p.link.pump(p.client, p.server);
  std::this_thread::sleep_until(*first);
  p.client.handle_timeout(Clock::now());  // retransmission 1 (dropped too)
  const auto now = Clock::now();
  const auto second = p.client.next_timeout();
  ASSERT_TRUE(second);
  EXPECT_GT(*second - now, first_wait * 3 / 2);  // doubled
  EXPECT_LT(*second - now, 1s);
  EXPECT_EQ(p.link.pump(p.client, p.server), 0);

  ASSERT_TRUE(run(p.link, p.client, p.server));
  expect_connected(p);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(p.link.c2s.sent, 4);  // 3 ClientHellos, then the client's second flight
}

TEST(Dtls, EarlyHandleTimeoutDoesNotRetransmit) {
  Pair p;
  p.link.c2s.drop = {0};
  p.start();
  p.link.pump(p.client, p.server);
  p.client.handle_timeout(Clock::now());  // OpenSSL's timer has not expired
  EXPECT_EQ(p.link.pump(p.client, p.server), 0);
  EXPECT_EQ(p.link.c2s.sent, 1);
  EXPECT_TRUE(p.client.next_timeout());
}

TEST(Dtls, LostServerFlightIsRecovered) {
  Pair p;
  p.link.s2c.drop = {0};
  p.start();
  ASSERT_TRUE(run(p.link, p.client, p.server));
  expect_connected(p);
}

TEST(Dtls, LostFinalFlightIsRecovered) {
  // Drop the server's ChangeCipherSpec + Finished (the first server datagram that starts
  // with a ChangeCipherSpec record, content type 20): the client retransmits its second
  // flight and the server answers it with the final flight again (RFC 6347 4.2.4).
  Pair p;
  bool dropped = false;
  p.link.s2c.drop_if = [&](std::span<const std::byte> d) {
    if (dropped || d.empty() || d[0] != std::byte{20}) return false;
    dropped = true;
    return true;
  };
  p.start();
  p.link.pump(p.client, p.server);
  ASSERT_TRUE(dropped);
  EXPECT_EQ(p.server.state(), DtlsState::connected);
  EXPECT_EQ(p.client.state(), DtlsState::connecting);
  ASSERT_TRUE(run(p.link, p.client, p.server));
  expect_connected(p);
  EXPECT_EQ(p.client.srtp_keys()->local_key, p.server.srtp_keys()->remote_key);
}

TEST(Dtls, SmallMtuReorderedAndDuplicated) {
  DtlsOptions options;
  options.mtu = 300;
  Pair p(options);
  p.link.c2s.reverse = p.link.s2c.reverse = true;
  p.link.c2s.duplicate = p.link.s2c.duplicate = true;
  p.start();
  ASSERT_TRUE(run(p.link, p.client, p.server));
  expect_connected(p);
  EXPECT_LE(p.link.c2s.largest, 300u);
  EXPECT_LE(p.link.s2c.largest, 300u);
  EXPECT_GT(p.link.s2c.sent, 2);  // the certificate flight had to be fragmented
  p.client.send(pattern(200));
  p.link.pump(p.client, p.server);
  const auto got = app_data(p.server);
  ASSERT_EQ(got.size(), 1u);  // RFC 6347 section 4.1.2.6 replay detection drops the copy
  EXPECT_EQ(got[0], pattern(200));
}

// Every datagram of both flights, at every MTU over a window wider than the AEAD
// expansion (24 bytes for AES-GCM), fits the MTU: the packing of the encrypted Finished
// behind the other records of its flight depends on the exact certificate and signature
// sizes, so a single MTU only catches an overshoot by chance.
TEST(Dtls, EveryDatagramFitsTheMtu) {
  for (std::size_t mtu = 256; mtu <= 420; ++mtu) {
    DtlsOptions options;
    options.mtu = mtu;
    Pair p(options);
    p.start();
    ASSERT_TRUE(run(p.link, p.client, p.server)) << "mtu " << mtu;
    expect_connected(p);
    for (const Direction* d : {&p.link.c2s, &p.link.s2c}) {
      for (const Bytes& datagram : d->log) {
        EXPECT_LE(datagram.size(), mtu) << "mtu " << mtu << (d == &p.link.c2s ? " c2s" : " s2c");
      }
    }
  }
}

TEST(Dtls, DatagramsBeforeServerStartAreKept) {
  Pair p;
  p.client.start(Clock::now());
  // The ClientHello reaches the server before the server was started.
  EXPECT_EQ(p.link.pump(p.client, p.server), 1);
  EXPECT_EQ(p.server.state(), DtlsState::new_);
  EXPECT_FALSE(p.server.state_changed());
  p.server.start(Clock::now());  // processes it and answers at once
  p.link.pump(p.client, p.server);
  expect_connected(p);  // without any timer
  EXPECT_EQ(p.link.c2s.sent, 2);
}

TEST(Dtls, GarbageKeptBeforeStartIsHarmless) {
  Pair p;
  p.server.handle_receive(Clock::now(), pattern(50));
  p.client.handle_receive(Clock::now(), pattern(50));
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
}

TEST(Dtls, GarbageAndTruncatedRecordsDoNotBreakTheHandshake) {
  Pair p;
  p.client.start(Clock::now());
  std::vector<Bytes> hello;
  p.client.drain_transmit(
      [&](std::span<const std::byte> d) { hello.emplace_back(d.begin(), d.end()); });
  ASSERT_EQ(hello.size(), 1u);
  p.server.start(Clock::now());

  Bytes garbage = pattern(200, 9);
  garbage[0] = std::byte{22};  // looks like a handshake record
  const Bytes truncated(hello[0].begin(), hello[0].begin() + 40);
  Bytes short_header(hello[0].begin(), hello[0].begin() + 5);
  Bytes bad_length = hello[0];
  bad_length[11] = std::byte{0xff};  // record length far beyond the datagram
  bad_length[12] = std::byte{0xff};
  for (const Bytes& bad :
       {garbage, truncated, short_header, bad_length, bytes_of("\x17"), pattern(1500, 4)}) {
    p.server.handle_receive(Clock::now(), bad);
    p.client.handle_receive(Clock::now(), bad);
  }
  EXPECT_EQ(p.server.state(), DtlsState::connecting) << p.server.error_message();
  EXPECT_EQ(p.client.state(), DtlsState::connecting) << p.client.error_message();
  p.server.handle_receive(Clock::now(), hello[0]);
  p.link.pump(p.client, p.server);
  expect_connected(p);

  // And after the handshake: forged application-data records are dropped.
  Bytes forged = pattern(100, 5);
  forged[0] = std::byte{23};
  forged[1] = std::byte{0xfe};
  forged[2] = std::byte{0xfd};
  for (const Bytes& bad : {forged, garbage, truncated, bytes_of("\x17")}) {
    p.server.handle_receive(Clock::now(), bad);
    p.client.handle_receive(Clock::now(), bad);
  }
  expect_connected(p);
  EXPECT_TRUE(app_data(p.server).empty());
  EXPECT_TRUE(app_data(p.client).empty());
  p.client.send(bytes_of("still fine"));
  p.link.pump(p.client, p.server);
  const auto got = app_data(p.server);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], bytes_of("still fine"));
}

// ---------------------------------------------------------------------------------------
// Close and misuse

TEST(Dtls, CloseIsSeenByTheOtherSide) {
  Pair p;
  p.start();
  p.link.pump(p.client, p.server);
  expect_connected(p);
  (void)p.client.state_changed();
  (void)p.server.state_changed();
  p.client.send(bytes_of("last words"));
  p.client.close();
  EXPECT_EQ(p.client.state(), DtlsState::closed);
  EXPECT_TRUE(p.client.state_changed());
  p.link.pump(p.client, p.server);
  EXPECT_EQ(p.server.state(), DtlsState::closed);
  EXPECT_TRUE(p.server.state_changed());
  const auto got = app_data(p.server);
  ASSERT_EQ(got.size(), 1u);  // data sent before close_notify is still delivered
  EXPECT_EQ(got[0], bytes_of("last words"));
  EXPECT_FALSE(p.client.next_timeout());
  EXPECT_FALSE(p.server.next_timeout());
  p.client.close();  // idempotent
  EXPECT_FALSE(p.client.state_changed());
  EXPECT_THROW(p.server.send(bytes_of("x")), peer::Error);
}

TEST(Dtls, CloseDuringHandshakeAndBeforeStart) {
  Pair p;
  p.server.close();
  EXPECT_EQ(p.server.state(), DtlsState::closed);
  p.client.start(Clock::now());
  p.client.close();
  EXPECT_EQ(p.client.state(), DtlsState::closed);
  EXPECT_FALSE(p.client.next_timeout());
  p.client.start(Clock::now());  // no effect once closed
  EXPECT_EQ(p.client.state(), DtlsState::closed);
}

TEST(Dtls, CloseKeepsAFailure) {
  const Certificate a = Certificate::generate();
  const Certificate b = Certificate::generate();
  DtlsEndpoint client(a, Role::client, "sha-256", a.fingerprint());  // wrong: b is the server
  DtlsEndpoint server(b, Role::server, "sha-256", a.fingerprint());
  Link link;
  client.start(Clock::now());
  server.start(Clock::now());
  link.pump(client, server);
  ASSERT_EQ(client.state(), DtlsState::failed);
  client.close();
  EXPECT_EQ(client.state(), DtlsState::failed);
  EXPECT_EQ(client.error_code(), peer::Errc::fingerprint_mismatch);
}

TEST(Dtls, SendBeforeConnectedThrowsInvalidState) {
  Pair p;
  auto expect_invalid_state = [](DtlsEndpoint& ep) {
    try {
      ep.send(bytes_of("too early"));
      ADD_FAILURE() << "send accepted";
    } catch (const peer::Error& e) {
      EXPECT_EQ(e.code(), peer::Errc::invalid_state);
    }
  };
  expect_invalid_state(p.client);  // new
  p.client.start(Clock::now());
  expect_invalid_state(p.client);  // connecting
  p.client.close();
  expect_invalid_state(p.client);  // closed
}

TEST(Dtls, BadOptionsAreRejected) {
  const Certificate c = Certificate::generate();
  DtlsOptions tiny;
  tiny.mtu = 100;
  try {
    DtlsEndpoint ep(c, Role::client, "sha-256", c.fingerprint(), tiny);
    FAIL() << "mtu 100 accepted";
  } catch (const peer::Error& e) {
    EXPECT_EQ(e.code(), peer::Errc::invalid_argument);
  }
}

}  // namespace
