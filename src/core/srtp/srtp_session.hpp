#pragma once
// SRTP and SRTCP (RFC 3711; AEAD AES-GCM: RFC 7714) over libsrtp2, keyed by DTLS-SRTP
// (RFC 5764). Sans-I/O: packets are protected and unprotected in place in the caller's
// buffer; no sockets, no clock, no allocation per packet (libsrtp allocates once per new
// SSRC), nothing thrown on the packet path.
//
// One session is the SRTP state of one DTLS association: an outbound libsrtp context keyed
// with our write key (what we send) and an inbound one keyed with the remote's (what we
// receive). RFC 5764 section 4.2 gives the client the client_write keys and the server the
// server_write keys; dtls::SrtpKeys already holds them by role (`local_*` are ours, so the
// client's local key is the server's remote key), which is why no role is passed here.
// libsrtp cannot hold both directions in one context: a context has one wildcard template
// and its streams refuse the other direction.
//
// SSRCs: both contexts use libsrtp's wildcard policies (ssrc_any_outbound,
// ssrc_any_inbound), so any SSRC works and its stream (replay window, ROC) is made on first
// use. An inbound stream is made only after a packet of that SSRC authenticated, so without
// the keys nobody can make us allocate. A remote that has the keys could still send endless
// new SSRCs: each direction keeps at most SrtpOptions::max_streams streams, and packets of
// further SSRCs fail with too_many_streams (no eviction yet; RTCP BYE handling will remove
// streams when it exists).
//
// Replay protection (RFC 3711 section 3.3.2) is on: libsrtp's default window of 128
// packets for SRTP (srtp_policy_t::window_size 0 means 128) and its fixed 128-index window
// for SRTCP. A packet already seen fails with `replayed`, one behind the window with
// `too_old`; any packet within the window, in any order, is accepted once. The rollover
// counter (ROC) follows the sequence number across 65535 -> 0 (RFC 3711 section 3.3.1).
//
// Thread-safety: a session is used from one thread at a time (the peer's loop thread).
// Different sessions are independent and may run on different threads; srtp_init() runs
// once per process (std::call_once), and srtp_shutdown() never (libsrtp's state is
// process-wide, and a session may be destroyed during static destruction).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "core/dtls/srtp_keys.hpp"
#include "core/srtp/error.hpp"

struct srtp_ctx_t_;  // libsrtp's srtp_t points to this

namespace peer::srtp {

using dtls::SrtpProfile;

// What protect adds after the packet (RFC 3711 section 3.1 and 3.4, RFC 7714 sections 7.2
// and 9.2): SRTP appends the auth tag (10 bytes for HMAC-SHA1-80, 16 for GCM); SRTCP
// appends the E flag with the 31-bit SRTCP index (4 bytes) and the tag. No MKI is used, so
// libsrtp's SRTP_MAX_TRAILER_LEN (16 + a 128-byte MKI) is more than any profile here needs.
constexpr std::size_t rtp_overhead(SrtpProfile profile) noexcept {
  return profile == SrtpProfile::aead_aes_128_gcm ? 16 : 10;
}
constexpr std::size_t rtcp_overhead(SrtpProfile profile) noexcept {
  return 4 + rtp_overhead(profile);
}
// The most either profile adds: room to keep after every RTP or RTCP packet to be protected.
inline constexpr std::size_t kMaxRtpOverhead = rtp_overhead(SrtpProfile::aead_aes_128_gcm);
inline constexpr std::size_t kMaxRtcpOverhead = rtcp_overhead(SrtpProfile::aead_aes_128_gcm);
inline constexpr std::size_t kMaxOverhead = kMaxRtcpOverhead;

struct SrtpOptions {
  // Streams (SSRCs) per direction; a packet of a further SSRC fails with too_many_streams.
  // 64 covers simulcast with RTX and FEC for several tracks; each stream costs libsrtp a
  // few hundred bytes (a clone of the template: it shares the template's cipher contexts
  // and has its own replay window).
  std::size_t max_streams = 64;
  // Let protect_rtp send a sequence number twice (libsrtp's allow_repeat_tx): only for
  // retransmitting the very same packet, since with a counter-mode cipher two different
  // payloads under one index reveal their XOR. Off: retransmissions go over RTX (RFC 4588).
  bool allow_repeat_tx = false;
};

class SrtpSession {
 public:
  // Throws peer::Error(invalid_argument) if keys.profile is `none` or a key or salt has
  // the wrong length for the profile (16 and 14 bytes, or 16 and 12 for GCM), and
  // peer::Error(internal) if libsrtp fails to initialise or to create a context.
  explicit SrtpSession(const dtls::SrtpKeys& keys, SrtpOptions options = {});
  ~SrtpSession();
  SrtpSession(SrtpSession&& other) noexcept;
  SrtpSession& operator=(SrtpSession&& other) noexcept;
  SrtpSession(const SrtpSession&) = delete;
  SrtpSession& operator=(const SrtpSession&) = delete;

  SrtpProfile profile() const noexcept { return profile_; }
  std::size_t rtp_overhead() const noexcept { return srtp::rtp_overhead(profile_); }
  std::size_t rtcp_overhead() const noexcept { return srtp::rtcp_overhead(profile_); }

  // Each call takes a packet of `length` bytes at the start of `buffer` and turns it into
  // its protected or unprotected form in place, setting `length` to the new size.
  // protect_* need buffer.size() >= length + rtp_overhead() (rtcp_overhead() for RTCP).
  // On failure the Error says what failed and `length` is unchanged, as is the session's
  // state (replay windows, ROC, streams): the packet is simply to be dropped. The bytes of
  // the buffer are then unspecified: HMAC-SHA1 checks the tag first and leaves them as they
  // were, but a failed GCM unprotect leaves them decrypted (libsrtp's GCM, over NSS in
  // Debian's build, decrypts in place before it checks the tag).
  [[nodiscard]] std::optional<Error> protect_rtp(std::span<std::byte> buffer,
                                                 std::size_t& length) noexcept;
  [[nodiscard]] std::optional<Error> unprotect_rtp(std::span<std::byte> buffer,
                                                   std::size_t& length) noexcept;
  [[nodiscard]] std::optional<Error> protect_rtcp(std::span<std::byte> buffer,
                                                  std::size_t& length) noexcept;
  [[nodiscard]] std::optional<Error> unprotect_rtcp(std::span<std::byte> buffer,
                                                    std::size_t& length) noexcept;

  // Streams libsrtp holds per direction (at most SrtpOptions::max_streams each).
  std::size_t outbound_streams() const noexcept { return outbound_streams_; }
  std::size_t inbound_streams() const noexcept { return inbound_streams_; }
  // The rollover counter of a stream (RFC 3711 section 3.3.1), or nullopt if no stream of
  // that SSRC exists in that direction.
  std::optional<uint32_t> outbound_roc(uint32_t ssrc) const noexcept;
  std::optional<uint32_t> inbound_roc(uint32_t ssrc) const noexcept;

 private:
  void reset() noexcept;

  SrtpProfile profile_ = SrtpProfile::none;
  SrtpOptions options_;
  srtp_ctx_t_* outbound_ = nullptr;
  srtp_ctx_t_* inbound_ = nullptr;
  std::size_t outbound_streams_ = 0;
  std::size_t inbound_streams_ = 0;
};

}  // namespace peer::srtp
