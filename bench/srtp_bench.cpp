// peer-srtp-bench: SRTP cost on one thread, no I/O. For each profile, protects a 1200-byte
// RTP packet (12-byte header, 1188 bytes of payload) with one session and unprotects it
// with the other, in place, as the media path will.
//
//   peer-srtp-bench [--seconds N]      (default 2 per profile)
//
// Prints one JSON object on stdout: per profile, round trips (protect + unprotect) per
// second and the payload rate that makes, and session creation time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/srtp/srtp_session.hpp"

namespace {

using namespace peer::srtp;
using Clock = std::chrono::steady_clock;

peer::dtls::SrtpKeys keys(SrtpProfile profile, bool client) {
  const std::size_t salt = profile == SrtpProfile::aead_aes_128_gcm ? 12 : 14;
  std::vector<uint8_t> ck(16, 0x11), sk(16, 0x22), cs(salt, 0x33), ss(salt, 0x44);
  return client ? peer::dtls::SrtpKeys{profile, ck, cs, sk, ss}
                : peer::dtls::SrtpKeys{profile, sk, ss, ck, cs};
}

[[noreturn]] void fail(const Error& e) {
  std::fprintf(stderr, "peer-srtp-bench: ERROR: %s\n", describe(e).c_str());
  std::exit(1);
}

nlohmann::ordered_json run(SrtpProfile profile, double seconds) {
  constexpr std::size_t kSize = 1200;
  { SrtpSession warm(keys(profile, true)); }  // the first one initialises libsrtp (and NSS)
  const auto created = Clock::now();
  SrtpSession sender(keys(profile, true));
  SrtpSession receiver(keys(profile, false));
  const double create_us =
      std::chrono::duration<double, std::micro>(Clock::now() - created).count() / 2;

  std::vector<std::byte> packet(kSize + kMaxRtpOverhead);
  packet[0] = std::byte{0x80};
  packet[1] = std::byte{111};
  for (std::size_t i = 12; i < kSize; ++i) packet[i] = std::byte(i & 0xff);
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  const auto start = Clock::now();
  uint64_t count = 0;
  uint16_t seq = 0;
  while (Clock::now() < deadline) {
    for (int i = 0; i < 1000; ++i, ++count) {
      ++seq;  // wraps: the ROC moves along too
      packet[2] = std::byte(seq >> 8);
      packet[3] = std::byte(seq & 0xff);
      std::size_t length = kSize;
      if (auto e = sender.protect_rtp(packet, length)) fail(*e);
      if (auto e = receiver.unprotect_rtp(packet, length)) fail(*e);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double per_second = static_cast<double>(count) / elapsed;
  return {{"profile", profile == SrtpProfile::aead_aes_128_gcm ? "SRTP_AEAD_AES_128_GCM"
                                                                 : "SRTP_AES128_CM_HMAC_SHA1_80"},
          {"packet_bytes", kSize},
          {"round_trips_per_second", static_cast<uint64_t>(per_second)},
          {"ns_per_round_trip", static_cast<uint64_t>(1e9 / per_second)},
          {"megabits_per_second", static_cast<uint64_t>(per_second * kSize * 8 / 1e6)},
          {"session_create_us", static_cast<uint64_t>(create_us)}};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: peer-srtp-bench [--seconds N]\n");
      return 2;
    }
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const SrtpProfile p : {SrtpProfile::aes128_cm_sha1_80, SrtpProfile::aead_aes_128_gcm})
    out.push_back(run(p, seconds));
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
