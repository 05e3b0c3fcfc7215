// peer-forward-bench: how many 640x480 VP8 streams one process forwards as an SFU does:
// receive over UDP, SRTP-decrypt, parse, rewrite the SSRC, SRTP-encrypt again, send over
// UDP, without decoding. Built from peer's layers (peer_srtp, peer_rtp; the packets are real
// VP8 RTP from peer_media's encoder at ~1 Mbit/s), on loopback sockets:
//
//   source thread --UDP--> forwarder thread --UDP--> sink thread
//
// For each stream count the source sends every stream in real time (30 fps, the packets of
// one pre-encoded second of the noisy test pattern, looped with fresh sequence numbers) for
// --seconds; the forwarder's thread CPU time (CLOCK_THREAD_CPUTIME_ID, its syscalls
// included) per stream-second is the cost, and 2 cores / cost a linear estimate of streams
// per process (one forwarding thread per core). What counts is `largest_lossless`: the most
// streams of the run that arrived complete at the sink. JSON on stdout.
//
// This is the data path of forwarding, not a Peer API (peer has no track-forwarding verb yet).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtls/srtp_keys.hpp"
#include "core/rtp/payload_vp8.hpp"
#include "core/rtp/rtp.hpp"
#include "core/srtp/srtp_session.hpp"
#include "media/analysis.hpp"
#include "media/test_pattern.hpp"
#include "media/vp8_encoder.hpp"

namespace {

using peer::dtls::SrtpKeys;
using peer::dtls::SrtpProfile;
using Clock = std::chrono::steady_clock;

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

int udp_socket(sockaddr_in& bound) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int size = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  bound = {};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound);
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return fd;
}

SrtpKeys keys(SrtpProfile profile, bool sender, std::uint8_t seed) {
  const std::size_t salt = profile == SrtpProfile::aead_aes_128_gcm ? 12 : 14;
  std::vector<std::uint8_t> a(16, seed), b(16, seed + 1), sa(salt, seed + 2), sb(salt, seed + 3);
  SrtpKeys k;
  k.profile = profile;
  k.local_key = sender ? a : b;
  k.remote_key = sender ? b : a;
  k.local_salt = sender ? sa : sb;
  k.remote_salt = sender ? sb : sa;
  return k;
}

// One second of 640x480 VP8 at 1 Mbit/s from the noisy test pattern: payloads per frame.
std::vector<std::vector<std::vector<std::byte>>> encode_second() {
  peer::media::Vp8Encoder encoder({.width = 640, .height = 480, .bitrate_kbps = 1000, .fps = 30});
  peer::media::TestPattern pattern(640, 480, 30);
  peer::media::VideoFrame frame(640, 480);
  peer::media::EncodedFrame encoded;
  std::uint32_t seed = 1;
  std::vector<std::vector<std::vector<std::byte>>> frames;
  std::vector<std::byte> scratch(1200);
  for (int n = 0; n < 30; ++n) {
    pattern.next(frame);
    peer::media::add_noise(frame, seed);
    if (!encoder.encode(frame, encoded).ok()) continue;
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(encoded.data.data()), encoded.data.size());
    auto p = *peer::rtp::Vp8Packetizer::create(bytes, 1200, static_cast<std::uint16_t>(n));
    std::vector<std::vector<std::byte>> payloads;
    while (!p.done()) {
      auto piece = p.next(scratch);
      payloads.emplace_back(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(piece->size));
    }
    frames.push_back(std::move(payloads));
  }
  return frames;
}

nlohmann::ordered_json run(SrtpProfile profile, int streams, double seconds,
                           const std::vector<std::vector<std::vector<std::byte>>>& second) {
  sockaddr_in source_addr{}, forward_addr{}, sink_addr{};
  const int source = udp_socket(source_addr);
  const int forward = udp_socket(forward_addr);
  const int sink = udp_socket(sink_addr);
  timeval tv{0, 100000};
  setsockopt(forward, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(sink, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> sent{0}, forwarded{0}, sunk{0}, errors{0};
  double forward_cpu = 0;

  std::thread forwarder([&] {
    peer::srtp::SrtpSession in(keys(profile, false, 1), {.max_streams = 1024});
    peer::srtp::SrtpSession out(keys(profile, true, 9), {.max_streams = 1024});
    constexpr int kBatch = 64;
    std::vector<std::array<std::byte, 1600>> buffers(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    const double cpu0 = thread_cpu_seconds();
    while (!done.load()) {
      for (int i = 0; i < kBatch; ++i) {
        iov[i] = {buffers[i].data(), buffers[i].size()};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = recvmmsg(forward, msgs.data(), kBatch, MSG_WAITFORONE, nullptr);
      if (n <= 0) continue;
      int ready = 0;
      for (int i = 0; i < n; ++i) {
        std::size_t length = msgs[i].msg_len;
        std::span<std::byte> b(buffers[i].data(), buffers[i].size());
        if (in.unprotect_rtp(b, length)) {
          ++errors;
          continue;
        }
        // An SFU's rewrite: the outgoing SSRC is the receiver-side one (+0x10000).
        auto parsed = peer::rtp::parse_rtp(std::span<const std::byte>(b.data(), length));
        if (!parsed.ok()) {
          ++errors;
          continue;
        }
        const std::uint32_t ssrc = parsed->ssrc() + 0x10000;
        for (int k = 0; k < 4; ++k) b[8 + k] = static_cast<std::byte>(ssrc >> (24 - 8 * k));
        if (out.protect_rtp(b, length)) {
          ++errors;
          continue;
        }
        iov[ready] = {b.data(), length};
        msgs[ready] = {};
        msgs[ready].msg_hdr.msg_iov = &iov[ready];
        msgs[ready].msg_hdr.msg_iovlen = 1;
        msgs[ready].msg_hdr.msg_name = &sink_addr;
        msgs[ready].msg_hdr.msg_namelen = sizeof sink_addr;
        ++ready;
      }
      for (int off = 0; off < ready;) {
        const int m = sendmmsg(forward, msgs.data() + off, ready - off, 0);
        if (m <= 0) break;
        off += m;
      }
      forwarded += static_cast<std::uint64_t>(ready);
    }
    forward_cpu = thread_cpu_seconds() - cpu0;
  });
  std::thread sinker([&] {
    std::array<std::byte, 1600> b{};
    while (!done.load()) {
      if (recv(sink, b.data(), b.size(), 0) > 0) ++sunk;
    }
  });

  // The source: every stream's frame n at n/30 s, with fresh sequence numbers per stream.
  std::vector<std::uint16_t> seq(static_cast<std::size_t>(streams), 0);
  peer::srtp::SrtpSession protector(keys(profile, true, 1), {.max_streams = 1024});
  std::array<std::byte, 1600> packet{};
  const auto start = Clock::now();
  const int frames = static_cast<int>(seconds * 30);
  for (int n = 0; n < frames; ++n) {
    std::this_thread::sleep_until(start + std::chrono::microseconds(n * 1000000LL / 30));
    const auto& payloads = second[static_cast<std::size_t>(n) % second.size()];
    for (int s = 0; s < streams; ++s) {
      for (std::size_t p = 0; p < payloads.size(); ++p) {
        peer::rtp::RtpHeader h;
        h.marker = p + 1 == payloads.size();
        h.payload_type = 96;
        h.sequence = seq[static_cast<std::size_t>(s)]++;
        h.timestamp = static_cast<std::uint32_t>(n) * 3000;
        h.ssrc = 1000 + static_cast<std::uint32_t>(s);
        auto size = peer::rtp::write_rtp(packet, h, {}, payloads[p]);
        std::size_t length = *size;
        if (protector.protect_rtp(packet, length)) continue;
        sendto(source, packet.data(), length, 0, reinterpret_cast<sockaddr*>(&forward_addr), sizeof forward_addr);
        ++sent;
      }
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  done = true;
  forwarder.join();
  sinker.join();
  close(source);
  close(forward);
  close(sink);
  const double cpu_per_stream = forward_cpu / seconds / streams;  // core-seconds per stream-second
  return {{"profile", profile == SrtpProfile::aead_aes_128_gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80"},
          {"streams", streams},
          {"packets_per_second", sent.load() / seconds},
          {"sent", sent.load()},
          {"forwarded", forwarded.load()},
          {"arrived", sunk.load()},
          {"errors", errors.load()},
          {"forwarder_cpu_share", forward_cpu / seconds},
          {"cpu_ms_per_stream_second", cpu_per_stream * 1000},
          {"streams_per_2_cores", cpu_per_stream > 0 ? static_cast<int>(2.0 / cpu_per_stream) : 0}};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  std::vector<int> counts = {50, 100, 200, 300, 400};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--streams") == 0 && i + 1 < argc) {
      counts = {std::atoi(argv[++i])};
    } else {
      std::fprintf(stderr, "usage: peer-forward-bench [--seconds N] [--streams N]\n");
      return 2;
    }
  }
  const auto second = encode_second();
  std::size_t packets = 0, bytes = 0;
  for (const auto& f : second) {
    packets += f.size();
    for (const auto& p : f) bytes += p.size();
  }
  nlohmann::ordered_json out;
  out["stream"] = {{"width", 640}, {"height", 480}, {"fps", 30}, {"packets_per_second", packets},
                   {"kbit_per_second", bytes * 8 / 1000}};
  out["runs"] = nlohmann::ordered_json::array();
  // The measured answer: the most streams forwarded with nothing lost, per profile (the
  // source thread shares the machine's cores here; a real SFU's senders are elsewhere).
  out["largest_lossless"] = nlohmann::ordered_json::object();
  for (const SrtpProfile profile : {SrtpProfile::aead_aes_128_gcm, SrtpProfile::aes128_cm_sha1_80}) {
    int lossless = 0;
    for (int n : counts) {
      auto r = run(profile, n, seconds, second);
      if (r["arrived"] == r["sent"] && r["errors"] == 0) lossless = std::max(lossless, n);
      out["largest_lossless"][r["profile"].get<std::string>()] = lossless;
      out["runs"].push_back(std::move(r));
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
