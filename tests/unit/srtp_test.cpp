// SRTP/SRTCP over libsrtp2 (core/srtp): both profiles, both directions, tampering, replay,
// wrong keys, truncation, the sequence-number wrap and the SRTCP index; the last test keys
// SRTP from a real DTLS handshake.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/demux.hpp"
#include "core/dtls/certificate.hpp"
#include "core/dtls/dtls_endpoint.hpp"
#include "core/rtp/rtcp.hpp"
#include "core/rtp/rtp.hpp"
#include "core/srtp/srtp_session.hpp"
#include "peer/error.hpp"

namespace {

using namespace peer::srtp;
using peer::dtls::SrtpKeys;
using Bytes = std::vector<std::byte>;

constexpr uint32_t kSsrc = 0x11223344;

// Key material as DTLS exports it (RFC 5764 section 4.2), seen from one side: the client's
// local keys are the server's remote keys.
SrtpKeys keys_for(SrtpProfile profile, bool client, unsigned seed = 0) {
  const std::size_t salt = profile == SrtpProfile::aead_aes_128_gcm ? 12 : 14;
  auto fill = [&](std::size_t n, unsigned base) {
    std::vector<uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(base + seed * 13 + i * 7);
    return v;
  };
  const auto client_key = fill(16, 1), server_key = fill(16, 101);
  const auto client_salt = fill(salt, 51), server_salt = fill(salt, 151);
  SrtpKeys k;
  k.profile = profile;
  k.local_key = client ? client_key : server_key;
  k.local_salt = client ? client_salt : server_salt;
  k.remote_key = client ? server_key : client_key;
  k.remote_salt = client ? server_salt : client_salt;
  return k;
}

// A packet in a buffer of exactly its length plus `room`, so ASan sees any write past it.
struct Packet {
  Bytes buffer;
  std::size_t length = 0;
  std::span<const std::byte> bytes() const { return {buffer.data(), length}; }
  bool operator==(const Packet& o) const {
    return std::ranges::equal(bytes(), o.bytes());
  }
};

Bytes pattern(std::size_t n, unsigned seed) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::byte((i * 31 + seed * 7 + (i >> 8)) & 0xff);
  return out;
}

Packet rtp(uint16_t seq, std::size_t room, uint32_t ssrc = kSsrc, std::size_t payload = 160,
           std::span<const uint32_t> csrcs = {},
           std::span<const peer::rtp::ExtensionElement> ext = {}) {
  const Bytes body = pattern(payload, seq);
  Bytes scratch(payload + 400);
  const peer::rtp::RtpHeader h{seq % 7 == 0, 111, seq, 90000u * seq, ssrc, csrcs};
  const auto n = peer::rtp::write_rtp(scratch, h, ext, body);
  EXPECT_TRUE(n.ok());
  Packet p;
  p.length = *n;
  p.buffer.assign(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(*n));
  p.buffer.resize(*n + room);
  return p;
}

// A compound SR + SDES CNAME (RFC 3550 section 6.1), as a sender reports.
Packet rtcp(uint32_t packets_sent, std::size_t room, uint32_t ssrc = kSsrc) {
  Bytes scratch(200);
  peer::rtp::RtcpWriter w(scratch);
  EXPECT_TRUE(w.sender_report(ssrc, {0x0123456789abcdefULL, 1234, packets_sent, 160 * packets_sent}));
  EXPECT_TRUE(w.sdes_cname(ssrc, "peer-test"));
  Packet p;
  p.length = w.size();
  p.buffer.assign(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(w.size()));
  p.buffer.resize(w.size() + room);
  return p;
}

::testing::AssertionResult ok(const std::optional<Error>& e) {
  if (!e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe(*e);
}

ErrorCode code(const std::optional<Error>& e) { return e ? e->code : static_cast<ErrorCode>(255); }

class Srtp : public ::testing::TestWithParam<SrtpProfile> {
 protected:
  SrtpProfile profile() const { return GetParam(); }
  SrtpSession make(bool client, SrtpOptions options = {}, unsigned seed = 0) const {
    return SrtpSession(keys_for(profile(), client, seed), options);
  }
  std::size_t tag() const { return rtp_overhead(profile()); }

  SrtpSession client = make(true);
  SrtpSession server = make(false);
};

// Protects `p` with `from`, checks the size and that the header stayed in the clear.
Packet protect(SrtpSession& from, Packet p) {
  const Packet original = p;
  EXPECT_TRUE(ok(from.protect_rtp(p.buffer, p.length)));
  EXPECT_EQ(p.length, original.length + from.rtp_overhead());
  EXPECT_TRUE(std::equal(p.buffer.begin(), p.buffer.begin() + 12, original.buffer.begin()));
  return p;
}

Packet protect_rtcp(SrtpSession& from, Packet p) {
  const std::size_t before = p.length;
  EXPECT_TRUE(ok(from.protect_rtcp(p.buffer, p.length)));
  EXPECT_EQ(p.length, before + from.rtcp_overhead());
  return p;
}

TEST_P(Srtp, RtpRoundTripsBothWays) {
  for (uint16_t seq = 1; seq <= 20; ++seq) {
    for (const bool from_client : {true, false}) {
      SrtpSession& from = from_client ? client : server;
      SrtpSession& to = from_client ? server : client;
      const Packet original = rtp(seq, from.rtp_overhead(), from_client ? kSsrc : kSsrc + 1);
      Packet p = protect(from, original);
      // The payload is encrypted: its last 32 bytes differ from the plaintext's.
      EXPECT_FALSE(std::equal(p.buffer.begin() + 140, p.buffer.begin() + 172,
                              original.buffer.begin() + 140));
      EXPECT_EQ(peer::classify(p.bytes()), peer::PacketKind::rtp_rtcp);
      EXPECT_FALSE(peer::is_rtcp(p.bytes()));
      ASSERT_TRUE(ok(to.unprotect_rtp(p.buffer, p.length))) << "seq " << seq;
      EXPECT_EQ(p, original);
    }
  }
  EXPECT_EQ(client.outbound_streams(), 1u);
  EXPECT_EQ(client.inbound_streams(), 1u);
  EXPECT_EQ(server.inbound_streams(), 1u);
}

TEST_P(Srtp, RtcpRoundTripsBothWays) {
  for (uint32_t n = 1; n <= 10; ++n) {
    for (const bool from_client : {true, false}) {
      SrtpSession& from = from_client ? client : server;
      SrtpSession& to = from_client ? server : client;
      const Packet original = rtcp(n, from.rtcp_overhead(), from_client ? kSsrc : kSsrc + 1);
      Packet p = protect_rtcp(from, original);
      EXPECT_TRUE(peer::is_rtcp(p.bytes()));
      // The first 8 bytes (header and SSRC) stay in the clear (RFC 3711 section 3.4).
      EXPECT_TRUE(std::equal(p.buffer.begin(), p.buffer.begin() + 8, original.buffer.begin()));
      EXPECT_FALSE(std::equal(p.buffer.begin() + 8, p.buffer.begin() + 28,
                              original.buffer.begin() + 8));
      ASSERT_TRUE(ok(to.unprotect_rtcp(p.buffer, p.length))) << n;
      EXPECT_EQ(p, original);
    }
  }
}

TEST_P(Srtp, CsrcsAndHeaderExtensionsRoundTrip) {
  const std::array<uint32_t, 3> csrcs{0xa, 0xb, 0xc};
  const Bytes mid = {std::byte{'0'}};
  const Bytes abs = {std::byte{1}, std::byte{2}, std::byte{3}};
  const Bytes big(20, std::byte{0x5a});  // longer than 16 bytes: the two-byte form
  const std::array<peer::rtp::ExtensionElement, 2> one{{{1, mid}, {3, abs}}};
  const std::array<peer::rtp::ExtensionElement, 2> two{{{1, mid}, {200, big}}};
  uint16_t seq = 100;
  for (const auto ext : {std::span<const peer::rtp::ExtensionElement>(one),
                         std::span<const peer::rtp::ExtensionElement>(two)}) {
    const Packet original = rtp(seq++, tag(), kSsrc, 1000, csrcs, ext);
    Packet p = protect(client, original);
    const auto header = peer::rtp::parse_rtp(original.bytes());
    ASSERT_TRUE(header.ok());
    // Header, CSRCs and extension stay in the clear; the payload does not.
    EXPECT_TRUE(std::equal(p.buffer.begin(),
                           p.buffer.begin() + static_cast<std::ptrdiff_t>(header->header_size()),
                           original.buffer.begin()));
    ASSERT_TRUE(ok(server.unprotect_rtp(p.buffer, p.length)));
    EXPECT_EQ(p, original);
    const auto v = peer::rtp::parse_rtp(p.bytes());
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->csrc_count(), 3u);
    EXPECT_EQ(v->csrc(2), 0xcu);
    ASSERT_TRUE(v->find_extension(1));
    EXPECT_TRUE(std::ranges::equal(*v->find_extension(1), mid));
  }
}

TEST_P(Srtp, AFlippedBitFailsAuthAndChangesNothing) {
  const Packet original = rtp(7, tag());
  const Packet sealed = protect(client, original);
  // A bit in the header (sequence number), in the payload, in the tag.
  for (const std::size_t at : {std::size_t{3}, std::size_t{50}, sealed.length - 1}) {
    Packet p = sealed;
    p.buffer[at] ^= std::byte{0x10};
    EXPECT_EQ(code(server.unprotect_rtp(p.buffer, p.length)), ErrorCode::auth_failed) << at;
    EXPECT_EQ(p.length, sealed.length);
  }
  EXPECT_EQ(server.inbound_streams(), 0u);  // nothing authenticated yet: no stream made
  Packet p = sealed;
  ASSERT_TRUE(ok(server.unprotect_rtp(p.buffer, p.length)));
  EXPECT_EQ(p, original);

  // SRTCP: the body, the index, the tag.
  const Packet rtcp_original = rtcp(1, client.rtcp_overhead());
  const Packet rtcp_sealed = protect_rtcp(client, rtcp_original);
  const std::size_t index_at = profile() == SrtpProfile::aead_aes_128_gcm
                                   ? rtcp_sealed.length - 4
                                   : rtcp_sealed.length - client.rtcp_overhead();
  for (const std::size_t at : {std::size_t{12}, index_at + 3, rtcp_sealed.length - 1}) {
    Packet q = rtcp_sealed;
    q.buffer[at] ^= std::byte{0x01};
    EXPECT_EQ(code(server.unprotect_rtcp(q.buffer, q.length)), ErrorCode::auth_failed) << at;
    EXPECT_EQ(q.length, rtcp_sealed.length);
  }
  Packet q = rtcp_sealed;
  ASSERT_TRUE(ok(server.unprotect_rtcp(q.buffer, q.length)));
  EXPECT_EQ(q, rtcp_original);
}

TEST_P(Srtp, ReplayIsRejectedAndOutOfOrderWithinTheWindowAccepted) {
  std::vector<Packet> sent;
  for (uint16_t seq = 1; seq <= 300; ++seq) sent.push_back(protect(client, rtp(seq, tag())));
  auto deliver = [&](uint16_t seq) {
    Packet p = sent[seq - 1];
    return server.unprotect_rtp(p.buffer, p.length);
  };
  EXPECT_TRUE(ok(deliver(10)));
  EXPECT_TRUE(ok(deliver(5)));  // late but within the window
  EXPECT_EQ(code(deliver(5)), ErrorCode::replayed);
  EXPECT_EQ(code(deliver(10)), ErrorCode::replayed);
  EXPECT_TRUE(ok(deliver(11)));
  EXPECT_TRUE(ok(deliver(300)));
  EXPECT_TRUE(ok(deliver(300 - 127)));  // the oldest index the 128-packet window holds
  EXPECT_EQ(code(deliver(100)), ErrorCode::too_old);
  EXPECT_TRUE(ok(deliver(299)));  // the failures changed nothing

  // Protecting a sequence number twice is refused unless allow_repeat_tx.
  Packet again = rtp(300, tag());
  EXPECT_EQ(code(client.protect_rtp(again.buffer, again.length)), ErrorCode::replayed);
  SrtpSession repeating = make(true, {.allow_repeat_tx = true});
  Packet first = rtp(1, tag());
  Packet second = first;
  ASSERT_TRUE(ok(repeating.protect_rtp(first.buffer, first.length)));
  ASSERT_TRUE(ok(repeating.protect_rtp(second.buffer, second.length)));
  EXPECT_EQ(first, second);

  // SRTCP: the index has its own window.
  std::vector<Packet> reports;
  for (uint32_t n = 1; n <= 3; ++n) reports.push_back(protect_rtcp(client, rtcp(n, client.rtcp_overhead())));
  for (const int i : {2, 0, 1}) {
    Packet p = reports[i];
    EXPECT_TRUE(ok(server.unprotect_rtcp(p.buffer, p.length))) << i;
  }
  Packet p = reports[0];
  EXPECT_EQ(code(server.unprotect_rtcp(p.buffer, p.length)), ErrorCode::replayed);
}

TEST_P(Srtp, WrongKeysFail) {
  SrtpSession stranger = make(false, {}, 1);  // another handshake's keys
  Packet p = protect(client, rtp(1, tag()));
  Packet q = p;
  EXPECT_EQ(code(stranger.unprotect_rtp(p.buffer, p.length)), ErrorCode::auth_failed);
  // The sender's own inbound key is the other side's: its own packets do not verify.
  EXPECT_EQ(code(client.unprotect_rtp(q.buffer, q.length)), ErrorCode::auth_failed);
  Packet r = protect_rtcp(client, rtcp(1, client.rtcp_overhead()));
  EXPECT_EQ(code(stranger.unprotect_rtcp(r.buffer, r.length)), ErrorCode::auth_failed);
  // The other profile with the same bytes does not verify either.
  const SrtpProfile other = profile() == SrtpProfile::aead_aes_128_gcm
                                ? SrtpProfile::aes128_cm_sha1_80
                                : SrtpProfile::aead_aes_128_gcm;
  SrtpSession mismatched(keys_for(other, false));
  Packet s = protect(client, rtp(2, tag()));
  EXPECT_NE(mismatched.unprotect_rtp(s.buffer, s.length), std::nullopt);
}

TEST_P(Srtp, TruncatedAndMalformedPacketsFailCleanly) {
  const Packet original = rtp(1, tag(), kSsrc, 60, std::array<uint32_t, 2>{1, 2});
  const Packet sealed = protect(client, original);
  for (std::size_t n = 0; n < sealed.length; ++n) {
    Bytes prefix(sealed.buffer.begin(), sealed.buffer.begin() + static_cast<std::ptrdiff_t>(n));
    std::size_t length = n;
    const auto e = server.unprotect_rtp(prefix, length);
    ASSERT_TRUE(e.has_value()) << n;
    EXPECT_TRUE(e->code == ErrorCode::bad_length || e->code == ErrorCode::bad_header ||
                e->code == ErrorCode::auth_failed)
        << n << ": " << describe(*e);
    EXPECT_EQ(length, n);
  }
  const Packet rtcp_sealed = protect_rtcp(client, rtcp(1, client.rtcp_overhead()));
  for (std::size_t n = 0; n < rtcp_sealed.length; ++n) {
    Bytes prefix(rtcp_sealed.buffer.begin(),
                 rtcp_sealed.buffer.begin() + static_cast<std::ptrdiff_t>(n));
    std::size_t length = n;
    const auto e = server.unprotect_rtcp(prefix, length);
    ASSERT_TRUE(e.has_value()) << n;
    EXPECT_TRUE(e->code == ErrorCode::bad_length || e->code == ErrorCode::bad_header ||
                e->code == ErrorCode::auth_failed)
        << n << ": " << describe(*e);
  }
  Packet p = sealed;  // after all that, the whole packet still goes through
  ASSERT_TRUE(ok(server.unprotect_rtp(p.buffer, p.length)));
  EXPECT_EQ(p, original);

  // Protect: no room for the tag; a length beyond the buffer; a CSRC count or an extension
  // length running past the packet; not version 2.
  Packet tight = rtp(2, tag() - 1);
  EXPECT_EQ(code(client.protect_rtp(tight.buffer, tight.length)), ErrorCode::buffer_too_small);
  EXPECT_EQ(tight.length, tight.buffer.size() - (tag() - 1));
  Packet small = rtp(3, tag());
  std::size_t too_long = small.buffer.size() + 1;
  EXPECT_EQ(code(client.protect_rtp(small.buffer, too_long)), ErrorCode::bad_length);
  Packet csrc = rtp(4, tag(), kSsrc, 8);
  csrc.buffer[0] |= std::byte{0x0f};  // 15 CSRCs: 60 bytes, in a 20-byte packet
  EXPECT_EQ(code(client.protect_rtp(csrc.buffer, csrc.length)), ErrorCode::bad_header);
  const Bytes four(4, std::byte{1});
  const std::array<peer::rtp::ExtensionElement, 1> ext{{{1, four}}};
  Packet bad_ext = rtp(5, tag(), kSsrc, 0, {}, ext);
  bad_ext.buffer[15] = std::byte{9};  // the extension claims 9 words
  EXPECT_EQ(code(client.protect_rtp(bad_ext.buffer, bad_ext.length)), ErrorCode::bad_header);
  Packet v1 = rtp(6, tag());
  v1.buffer[0] = std::byte{0x40};
  EXPECT_EQ(code(client.protect_rtp(v1.buffer, v1.length)), ErrorCode::bad_header);
  Packet short_rtcp = rtcp(1, 20);
  short_rtcp.length = 7;
  EXPECT_EQ(code(client.protect_rtcp(short_rtcp.buffer, short_rtcp.length)), ErrorCode::bad_length);
  Packet ok_again = protect(client, rtp(7, tag()));  // none of it broke the session
  EXPECT_TRUE(ok(server.unprotect_rtp(ok_again.buffer, ok_again.length)));
}

TEST_P(Srtp, SequenceWrapAdvancesTheRolloverCounter) {
  std::vector<Packet> sealed;
  std::vector<Packet> plain;
  for (uint32_t i = 65530; i < 65536 + 6; ++i) {
    plain.push_back(rtp(static_cast<uint16_t>(i), tag()));
    sealed.push_back(protect(client, plain.back()));
  }
  EXPECT_EQ(client.outbound_roc(kSsrc), 1u);
  EXPECT_EQ(client.outbound_roc(kSsrc + 1), std::nullopt);
  // In order up to 65534, then 0 before 65535 (reordered across the wrap), then the rest.
  std::vector<std::size_t> order = {0, 1, 2, 3, 4, 6, 5, 7, 8, 9, 10, 11};
  for (const std::size_t i : order) {
    Packet p = sealed[i];
    ASSERT_TRUE(ok(server.unprotect_rtp(p.buffer, p.length))) << i;
    EXPECT_EQ(p, plain[i]);
  }
  EXPECT_EQ(server.inbound_roc(kSsrc), 1u);
}

TEST_P(Srtp, SrtcpIndexIncrements) {
  // RFC 3711 section 3.4: E flag (encrypted) and a 31-bit index, before the tag; RFC 7714
  // section 9.2 puts it after the AEAD tag, at the very end.
  for (uint32_t n = 1; n <= 5; ++n) {
    const Packet p = protect_rtcp(client, rtcp(n, client.rtcp_overhead()));
    const std::size_t at = profile() == SrtpProfile::aead_aes_128_gcm
                               ? p.length - 4
                               : p.length - client.rtcp_overhead();
    uint32_t word = 0;
    for (std::size_t i = 0; i < 4; ++i) word = (word << 8) | std::to_integer<uint32_t>(p.buffer[at + i]);
    EXPECT_EQ(word >> 31, 1u);                 // E: encrypted
    EXPECT_EQ(word & 0x7fffffffu, n) << n;     // libsrtp's first index is 1
  }
}

TEST_P(Srtp, StreamsAreBounded) {
  SrtpSession sender = make(true);
  SrtpSession bounded = make(false, {.max_streams = 2});
  for (uint32_t ssrc = 1; ssrc <= 3; ++ssrc) {
    Packet p = protect(sender, rtp(1, tag(), ssrc));
    const auto e = bounded.unprotect_rtp(p.buffer, p.length);
    if (ssrc <= 2) {
      EXPECT_TRUE(ok(e));
    } else {
      EXPECT_EQ(code(e), ErrorCode::too_many_streams);
    }
  }
  EXPECT_EQ(bounded.inbound_streams(), 2u);
  Packet known = protect(sender, rtp(2, tag(), 2));
  EXPECT_TRUE(ok(bounded.unprotect_rtp(known.buffer, known.length)));
  // A forged packet of a new SSRC fails auth and makes no stream.
  SrtpSession fresh = make(false);
  Packet forged = rtp(1, 0, 99, 100);
  forged.length = forged.buffer.size();
  EXPECT_EQ(code(fresh.unprotect_rtp(forged.buffer, forged.length)), ErrorCode::auth_failed);
  EXPECT_EQ(fresh.inbound_streams(), 0u);
  EXPECT_EQ(fresh.inbound_roc(99), std::nullopt);
  // Outbound too.
  SrtpSession one = make(true, {.max_streams = 1});
  Packet a = rtp(1, tag(), 1), b = rtp(1, tag(), 2);
  EXPECT_TRUE(ok(one.protect_rtp(a.buffer, a.length)));
  EXPECT_EQ(code(one.protect_rtp(b.buffer, b.length)), ErrorCode::too_many_streams);
  Packet c = rtcp(1, one.rtcp_overhead(), 1);
  EXPECT_TRUE(ok(one.protect_rtcp(c.buffer, c.length)));  // RTCP of the same SSRC: same stream
  EXPECT_EQ(one.outbound_streams(), 1u);
}

TEST_P(Srtp, MoveOnly) {
  static_assert(!std::is_copy_constructible_v<SrtpSession>);
  SrtpSession moved = std::move(client);
  Packet p = rtp(1, tag());
  EXPECT_EQ(code(client.protect_rtp(p.buffer, p.length)), ErrorCode::no_session);  // NOLINT
  EXPECT_TRUE(ok(moved.protect_rtp(p.buffer, p.length)));
  client = std::move(moved);
  Packet q = rtp(2, tag());
  EXPECT_TRUE(ok(client.protect_rtp(q.buffer, q.length)));
  EXPECT_TRUE(ok(server.unprotect_rtp(q.buffer, q.length)));
}

std::string profile_name(const ::testing::TestParamInfo<SrtpProfile>& info) {
  return info.param == SrtpProfile::aead_aes_128_gcm ? "AeadAes128Gcm" : "Aes128CmSha1_80";
}

INSTANTIATE_TEST_SUITE_P(Profiles, Srtp,
                         ::testing::Values(SrtpProfile::aes128_cm_sha1_80,
                                           SrtpProfile::aead_aes_128_gcm),
                         profile_name);

TEST(SrtpSession, RefusesKeysThatDoNotFitTheProfile) {
  auto expect_invalid = [](SrtpKeys keys) {
    try {
      SrtpSession s(keys);
      ADD_FAILURE() << "accepted";
    } catch (const peer::Error& e) {
      EXPECT_EQ(e.code(), peer::Errc::invalid_argument) << e.what();
    }
  };
  SrtpKeys none = keys_for(SrtpProfile::aes128_cm_sha1_80, true);
  none.profile = SrtpProfile::none;
  expect_invalid(none);
  SrtpKeys short_salt = keys_for(SrtpProfile::aes128_cm_sha1_80, true);
  short_salt.local_salt.resize(12);
  expect_invalid(short_salt);
  SrtpKeys gcm_with_cm_salts = keys_for(SrtpProfile::aes128_cm_sha1_80, true);
  gcm_with_cm_salts.profile = SrtpProfile::aead_aes_128_gcm;
  expect_invalid(gcm_with_cm_salts);
  SrtpKeys long_key = keys_for(SrtpProfile::aead_aes_128_gcm, false);
  long_key.remote_key.push_back(0);
  expect_invalid(long_key);
}

TEST(SrtpSession, OverheadConstants) {
  EXPECT_EQ(rtp_overhead(SrtpProfile::aes128_cm_sha1_80), 10u);
  EXPECT_EQ(rtcp_overhead(SrtpProfile::aes128_cm_sha1_80), 14u);
  EXPECT_EQ(rtp_overhead(SrtpProfile::aead_aes_128_gcm), 16u);
  EXPECT_EQ(rtcp_overhead(SrtpProfile::aead_aes_128_gcm), 20u);
  EXPECT_EQ(kMaxOverhead, 20u);
  EXPECT_EQ(to_string(ErrorCode::auth_failed), "auth_failed");
  EXPECT_EQ(describe({ErrorCode::replayed, 9, "seen"}), "replayed (libsrtp status 9): seen");
}

// End to end: a real DTLS-SRTP handshake in memory exports the keys (RFC 5764 section 4.2)
// and each side's SrtpSession is built from its own endpoint's srtp_keys().
TEST(SrtpSession, KeyedByARealDtlsHandshake) {
  using namespace peer::dtls;
  const Certificate client_cert = Certificate::generate();
  const Certificate server_cert = Certificate::generate();
  DtlsEndpoint client(client_cert, Role::client, "sha-256", server_cert.fingerprint());
  DtlsEndpoint server(server_cert, Role::server, "sha-256", client_cert.fingerprint());
  const auto now = DtlsEndpoint::Clock::now();
  client.start(now);
  server.start(now);
  for (int round = 0; round < 20; ++round) {
    client.drain_transmit([&](std::span<const std::byte> d) { server.handle_receive(now, d); });
    server.drain_transmit([&](std::span<const std::byte> d) { client.handle_receive(now, d); });
  }
  ASSERT_EQ(client.state(), DtlsState::connected) << client.error_message();
  ASSERT_EQ(server.state(), DtlsState::connected) << server.error_message();
  ASSERT_TRUE(client.srtp_keys() && server.srtp_keys());

  SrtpSession c(*client.srtp_keys());
  SrtpSession s(*server.srtp_keys());
  EXPECT_EQ(c.profile(), SrtpProfile::aead_aes_128_gcm);  // what DTLS prefers
  for (uint16_t seq = 0; seq < 3; ++seq) {
    const Packet original = rtp(seq, kMaxOverhead);
    Packet up = protect(c, original);
    ASSERT_TRUE(ok(s.unprotect_rtp(up.buffer, up.length)));
    EXPECT_EQ(up, original);
    Packet down = protect(s, original);
    ASSERT_TRUE(ok(c.unprotect_rtp(down.buffer, down.length)));
    EXPECT_EQ(down, original);
    const Packet report = rtcp(seq, kMaxOverhead);
    Packet r = protect_rtcp(s, report);
    ASSERT_TRUE(ok(c.unprotect_rtcp(r.buffer, r.length)));
    EXPECT_EQ(r, report);
  }
}

}  // namespace
