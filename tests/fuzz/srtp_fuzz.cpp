// libFuzzer target for the SRTP layer (core/srtp, libsrtp2 underneath).
//
// Byte 0 chooses: bit 0 the profile (AES-CM/HMAC-SHA1-80 or AEAD AES-128-GCM), bit 1 RTP or
// RTCP, bit 2 the mode. Each input gets a fresh sender and receiver keyed crosswise.
// - Mode 0: the rest is one packet from the network, unprotected as it is, in a buffer of
//   exactly its size. It nearly always fails auth (or our header checks before it); a
//   failure must leave `length` alone, a success shrink it.
// - Mode 1: the rest is a series of [length][mutation][bytes] records. Each plaintext is
//   protected (fuzzing the header checks and libsrtp's sender), then delivered three ways:
//   mutated (a bit flipped or the packet cut short: must fail), intact (must succeed and
//   give back the plaintext exactly, since the receiver saw every packet the sender
//   protected, in order), and intact again (must fail as replayed). This drives the fuzz
//   bytes past authentication into decryption, the index estimate and the replay windows.
// ASan/UBSan catch out-of-bounds accesses in our code along the way.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/srtp/srtp_session.hpp"

namespace {

using namespace peer::srtp;
using Bytes = std::vector<std::byte>;

[[noreturn]] void die(const char* what, const std::optional<Error>& e = std::nullopt) {
  std::fprintf(stderr, "fuzz_srtp: %s%s%s\n", what, e ? ": " : "", e ? describe(*e).c_str() : "");
  std::abort();
}

peer::dtls::SrtpKeys keys(SrtpProfile profile, bool client) {
  const std::size_t salt = profile == SrtpProfile::aead_aes_128_gcm ? 12 : 14;
  std::vector<uint8_t> ck(16, 0x11), sk(16, 0x22), cs(salt, 0x33), ss(salt, 0x44);
  return client ? peer::dtls::SrtpKeys{profile, ck, cs, sk, ss}
                : peer::dtls::SrtpKeys{profile, sk, ss, ck, cs};
}

struct Ops {
  bool rtcp;
  std::size_t overhead;
  std::optional<Error> protect(SrtpSession& s, Bytes& b, std::size_t& n) const {
    return rtcp ? s.protect_rtcp(b, n) : s.protect_rtp(b, n);
  }
  std::optional<Error> unprotect(SrtpSession& s, Bytes& b, std::size_t& n) const {
    return rtcp ? s.unprotect_rtcp(b, n) : s.unprotect_rtp(b, n);
  }
};

void unprotect_raw(SrtpSession& receiver, const Ops& ops, std::span<const uint8_t> bytes) {
  Bytes buffer(reinterpret_cast<const std::byte*>(bytes.data()),
               reinterpret_cast<const std::byte*>(bytes.data()) + bytes.size());
  std::size_t length = buffer.size();
  if (const auto e = ops.unprotect(receiver, buffer, length)) {
    if (length != buffer.size()) die("a failed unprotect changed the length", e);
    if (e->code == ErrorCode::internal || e->code == ErrorCode::no_session) die("unexpected", e);
  } else if (length + ops.overhead != buffer.size()) {
    die("unprotect removed other than the trailer");
  }
}

bool expected_protect_failure(ErrorCode code) {
  return code == ErrorCode::bad_length || code == ErrorCode::bad_header ||
         code == ErrorCode::replayed || code == ErrorCode::too_old ||
         code == ErrorCode::too_many_streams;
}

void round_trip(SrtpSession& sender, SrtpSession& receiver, const Ops& ops,
                std::span<const uint8_t> plain, uint8_t mutation) {
  const auto* first = reinterpret_cast<const std::byte*>(plain.data());
  Bytes sealed(first, first + plain.size());
  sealed.resize(plain.size() + ops.overhead);  // exactly the room protect needs
  std::size_t sealed_length = plain.size();
  if (const auto e = ops.protect(sender, sealed, sealed_length)) {
    if (!expected_protect_failure(e->code)) die("protect failed unexpectedly", e);
    if (sealed_length != plain.size()) die("a failed protect changed the length", e);
    return;
  }
  if (sealed_length != sealed.size()) die("protect added other than the trailer");

  // Mutated: a flipped bit anywhere, or cut short. Either must fail (every byte is
  // authenticated: the RTP header and payload, the SRTCP index, the tag itself).
  {
    Bytes bad = sealed;
    std::size_t length = sealed_length;
    if ((mutation & 0x80) == 0) {
      bad[(mutation * 37u) % length] ^= std::byte{static_cast<uint8_t>(1u << (mutation & 7))};
    } else {
      length = (mutation & 0x7f) % length;
      bad.resize(length);
    }
    const std::size_t before = length;
    const auto e = ops.unprotect(receiver, bad, length);
    if (!e) die("a mutated packet was accepted");
    if (length != before) die("a failed unprotect changed the length", e);
  }
  // Intact: the plaintext comes back exactly.
  Bytes copy = sealed;
  std::size_t length = sealed_length;
  if (const auto e = ops.unprotect(receiver, copy, length)) die("a protected packet failed", e);
  if (length != plain.size() ||
      !std::equal(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(length), first))
    die("unprotect(protect(x)) != x");
  // Again: a replay.
  copy = sealed;
  length = sealed_length;
  const auto e = ops.unprotect(receiver, copy, length);
  if (!e || e->code != ErrorCode::replayed) die("a replayed packet was not refused as replayed", e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const SrtpProfile profile =
      (flags & 1) != 0 ? SrtpProfile::aead_aes_128_gcm : SrtpProfile::aes128_cm_sha1_80;
  const Ops ops{(flags & 2) != 0,
                (flags & 2) != 0 ? rtcp_overhead(profile) : rtp_overhead(profile)};
  SrtpSession sender(keys(profile, true));
  SrtpSession receiver(keys(profile, false));
  std::span<const uint8_t> rest(data + 1, size - 1);
  if ((flags & 4) == 0) {
    unprotect_raw(receiver, ops, rest);
    return 0;
  }
  while (rest.size() >= 2) {
    const std::size_t n = std::min<std::size_t>(rest[0], rest.size() - 2);
    round_trip(sender, receiver, ops, rest.subspan(2, n), rest[1]);
    rest = rest.subspan(2 + n);
  }
  return 0;
}
