#include "core/srtp/srtp_session.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <srtp2/srtp.h>

#include "peer/error.hpp"

namespace peer::srtp {

static_assert(kMaxRtpOverhead <= SRTP_MAX_TRAILER_LEN && kMaxRtcpOverhead <= SRTP_MAX_TRAILER_LEN);

namespace {

// srtp_init() registers libsrtp's ciphers in its process-wide crypto kernel; once.
//
// It also creates one context that lives as long as the process. Debian builds libsrtp2 on
// NSS, and each of its ciphers opens an NSS context (NSS_InitContext) and closes it when
// freed: when the last one closes NSS shuts down, and the next session pays a whole NSS
// initialisation again (measured: 2.9 ms per SrtpSession, against 65 us while another
// exists). The kept context holds NSS up for a few hundred bytes; with an OpenSSL build of
// libsrtp it is merely unused.
srtp_err_status_t init_libsrtp() {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  static srtp_t keeper = nullptr;
  std::call_once(once, [] {
    status = srtp_init();
    if (status != srtp_err_status_ok) return;
    std::array<unsigned char, SRTP_AES_ICM_128_KEY_LEN_WSALT> zero{};
    srtp_policy_t policy{};
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = ssrc_any_outbound;
    policy.key = zero.data();
    status = srtp_create(&keeper, &policy);
  });
  return status;
}

constexpr Error err(ErrorCode code, const char* message, int status = 0) noexcept {
  return Error{code, status, message};
}

// libsrtp's status on the packet path, named.
Error from_status(srtp_err_status_t status) noexcept {
  const int s = static_cast<int>(status);
  switch (status) {
    case srtp_err_status_auth_fail:
      return err(ErrorCode::auth_failed,
                 "the authentication tag does not verify (RFC 3711 section 3.4, RFC 7714 "
                 "section 7.2): tampered, wrong key or not SRTP",
                 s);
    case srtp_err_status_replay_fail:
      return err(ErrorCode::replayed,
                 "the packet index was seen already (RFC 3711 section 3.3.2); on protect: "
                 "this sequence number was sent already",
                 s);
    case srtp_err_status_replay_old:
      return err(ErrorCode::too_old,
                 "the packet index lies behind the 128-packet replay window (RFC 3711 "
                 "section 3.3.2)",
                 s);
    case srtp_err_status_key_expired:
      return err(ErrorCode::key_expired,
                 "the master key reached its packet limit (RFC 3711 section 9.2): rekey", s);
    case srtp_err_status_cant_check:  // libsrtp checks the E flag before the tag
      return err(ErrorCode::bad_header,
                 "the SRTCP E flag marks the packet unencrypted, which this session never "
                 "accepts (RFC 3711 section 3.4)",
                 s);
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return err(ErrorCode::bad_header, "libsrtp rejected the packet's header or length", s);
    default:
      return err(ErrorCode::internal, "libsrtp failed on this packet", s);
  }
}

constexpr uint32_t be32(const std::byte* p) noexcept {
  return (std::to_integer<uint32_t>(p[0]) << 24) | (std::to_integer<uint32_t>(p[1]) << 16) |
         (std::to_integer<uint32_t>(p[2]) << 8) | std::to_integer<uint32_t>(p[3]);
}

// RFC 3550 section 5.1: version 2, then 12 bytes + 4 per CSRC + the extension (X bit:
// 4 bytes of profile and length, then `length` words), all within the first `limit` bytes
// (the packet without its SRTP trailer). libsrtp checks this too, but we would rather not
// rely on a C library's bounds checks for bytes from the network, and a named error beats
// its bad_param.
std::optional<Error> check_rtp_header(std::span<const std::byte> p, std::size_t limit) noexcept {
  if (limit < 12 || limit > p.size())
    return err(ErrorCode::bad_length, "shorter than an RTP header and the SRTP trailer");
  const auto b0 = std::to_integer<unsigned>(p[0]);
  if ((b0 >> 6) != 2) return err(ErrorCode::bad_header, "RTP version is not 2 (RFC 3550 5.1)");
  std::size_t header = 12 + 4 * std::size_t{b0 & 0x0f};
  if ((b0 & 0x10) != 0) {
    if (header + 4 > limit)
      return err(ErrorCode::bad_header, "the RTP CSRC list or extension header runs past "
                                        "the packet (RFC 3550 5.1, 5.3.1)");
    header += 4 + 4 * ((std::to_integer<std::size_t>(p[header + 2]) << 8) |
                       std::to_integer<std::size_t>(p[header + 3]));
  }
  if (header > limit)
    return err(ErrorCode::bad_header, "the RTP CSRC list or header extension runs past the "
                                      "packet (RFC 3550 5.1, 5.3.1)");
  return std::nullopt;
}

// RFC 3550 section 6.4.1: version 2 and the 8-byte header (with the sender's SSRC) within
// `limit`; what follows is opaque to SRTCP (RFC 3711 section 3.4).
std::optional<Error> check_rtcp_header(std::span<const std::byte> p, std::size_t limit) noexcept {
  if (limit < 8 || limit > p.size())
    return err(ErrorCode::bad_length, "shorter than an RTCP header and the SRTCP trailer");
  if ((std::to_integer<unsigned>(p[0]) >> 6) != 2)
    return err(ErrorCode::bad_header, "RTCP version is not 2 (RFC 3550 6.4.1)");
  return std::nullopt;
}

// The one checked path every operation takes. `trailer` is what the input must hold beyond
// its header when unprotecting (the tag, for SRTCP also the index), 0 when protecting;
// `room` is what protect needs after `length`.
using SrtpCall = srtp_err_status_t (*)(srtp_t, void*, int*);
enum class Kind { rtp, rtcp };

struct Op {
  Kind kind;
  SrtpCall call;
  std::size_t trailer;
  std::size_t room;
};

bool has_stream(srtp_t ctx, uint32_t ssrc) noexcept {
  uint32_t roc = 0;
  return srtp_get_stream_roc(ctx, ssrc, &roc) == srtp_err_status_ok;
}

std::optional<Error> run(const Op& op, srtp_t ctx, std::size_t& streams, std::size_t max_streams,
                         std::span<std::byte> buffer, std::size_t& length) noexcept {
  if (ctx == nullptr) return err(ErrorCode::no_session, "the SRTP session was moved from");
  if (length > buffer.size())
    return err(ErrorCode::bad_length, "the packet length exceeds its buffer");
  if (length > static_cast<std::size_t>(INT_MAX) - op.room)
    return err(ErrorCode::bad_length, "the packet is larger than libsrtp can take");
  if (buffer.size() - length < op.room)
    return err(ErrorCode::buffer_too_small,
               "no room after the packet for the SRTP trailer (see rtp_overhead())");
  const std::size_t limit = length >= op.trailer ? length - op.trailer : 0;
  const std::span<const std::byte> packet = buffer.first(length);
  if (auto bad = op.kind == Kind::rtp ? check_rtp_header(packet, limit)
                                      : check_rtcp_header(packet, limit))
    return bad;

  // RTP's SSRC is at byte 8, RTCP's (the sender's, of the first packet of a compound) at 4.
  const uint32_t ssrc = be32(buffer.data() + (op.kind == Kind::rtp ? 8 : 4));
  const bool is_new = !has_stream(ctx, ssrc);
  if (is_new && streams >= max_streams)
    return err(ErrorCode::too_many_streams,
               "a new SSRC while SrtpOptions::max_streams streams exist");

  int len = static_cast<int>(length);
  if (const srtp_err_status_t status = op.call(ctx, buffer.data(), &len))
    return from_status(status);
  // libsrtp made the stream on success (for inbound, only once the packet authenticated).
  if (is_new && has_stream(ctx, ssrc)) ++streams;
  length = static_cast<std::size_t>(len);
  return std::nullopt;
}

std::optional<uint32_t> roc_of(srtp_t ctx, uint32_t ssrc) noexcept {
  uint32_t roc = 0;
  if (ctx == nullptr || srtp_get_stream_roc(ctx, ssrc, &roc) != srtp_err_status_ok)
    return std::nullopt;
  return roc;
}

void wipe(std::span<unsigned char> bytes) noexcept {
  volatile unsigned char* p = bytes.data();
  for (std::size_t i = 0; i < bytes.size(); ++i) p[i] = 0;
}

// Creates one direction's context: the master key and salt concatenated, as libsrtp wants.
srtp_t create_context(SrtpProfile profile, srtp_ssrc_type_t direction,
                      const std::vector<std::uint8_t>& key, const std::vector<std::uint8_t>& salt,
                      const SrtpOptions& options) {
  srtp_policy_t policy{};
  if (profile == SrtpProfile::aes128_cm_sha1_80) {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  }
  std::array<unsigned char, SRTP_AES_ICM_128_KEY_LEN_WSALT> material{};  // the larger one
  std::copy(key.begin(), key.end(), material.begin());
  std::copy(salt.begin(), salt.end(), material.begin() + static_cast<std::ptrdiff_t>(key.size()));
  policy.ssrc.type = direction;
  policy.key = material.data();
  policy.window_size = 0;  // libsrtp's default: 128 packets
  policy.allow_repeat_tx = options.allow_repeat_tx ? 1 : 0;
  policy.next = nullptr;
  srtp_t ctx = nullptr;
  const srtp_err_status_t status = srtp_create(&ctx, &policy);
  wipe(material);
  if (status != srtp_err_status_ok) {
    throw peer::Error(Errc::internal,
                      "srtp_create failed (libsrtp status " + std::to_string(status) + ")");
  }
  return ctx;
}

}  // namespace

SrtpSession::SrtpSession(const dtls::SrtpKeys& keys, SrtpOptions options)
    : profile_(keys.profile), options_(options) {
  std::size_t salt_size = 0;
  switch (keys.profile) {
    case SrtpProfile::aes128_cm_sha1_80:
      salt_size = 14;  // RFC 5764 section 4.1.2
      break;
    case SrtpProfile::aead_aes_128_gcm:
      salt_size = 12;  // RFC 7714 section 12
      break;
    case SrtpProfile::none:
      throw peer::Error(Errc::invalid_argument,
                        "no SRTP profile was negotiated (the remote did not offer use_srtp)");
  }
  if (keys.local_key.size() != 16 || keys.remote_key.size() != 16 ||
      keys.local_salt.size() != salt_size || keys.remote_salt.size() != salt_size) {
    throw peer::Error(Errc::invalid_argument,
                      "SRTP keys must be 16 bytes and salts " + std::to_string(salt_size) +
                          " bytes for this profile");
  }
  if (const srtp_err_status_t status = init_libsrtp()) {
    throw peer::Error(Errc::internal,
                      "srtp_init failed (libsrtp status " + std::to_string(status) + ")");
  }
  outbound_ =
      create_context(profile_, ssrc_any_outbound, keys.local_key, keys.local_salt, options_);
  try {
    inbound_ =
        create_context(profile_, ssrc_any_inbound, keys.remote_key, keys.remote_salt, options_);
  } catch (...) {
    reset();
    throw;
  }
  // Our overhead constants are what protect writes: ask libsrtp once.
  uint32_t rtp = 0;
  uint32_t rtcp = 0;
  if (srtp_get_protect_trailer_length(outbound_, 0, 0, &rtp) != srtp_err_status_ok ||
      srtp_get_protect_rtcp_trailer_length(outbound_, 0, 0, &rtcp) != srtp_err_status_ok ||
      rtp != rtp_overhead() || rtcp != rtcp_overhead()) {
    reset();
    throw peer::Error(Errc::internal, "libsrtp's SRTP trailer lengths are not the profile's");
  }
}

SrtpSession::~SrtpSession() { reset(); }

void SrtpSession::reset() noexcept {
  // srtp_dealloc frees the streams and zeroes the session keys.
  if (outbound_ != nullptr) srtp_dealloc(outbound_);
  if (inbound_ != nullptr) srtp_dealloc(inbound_);
  outbound_ = inbound_ = nullptr;
  outbound_streams_ = inbound_streams_ = 0;
}

SrtpSession::SrtpSession(SrtpSession&& other) noexcept
    : profile_(other.profile_),
      options_(other.options_),
      outbound_(std::exchange(other.outbound_, nullptr)),
      inbound_(std::exchange(other.inbound_, nullptr)),
      outbound_streams_(std::exchange(other.outbound_streams_, 0)),
      inbound_streams_(std::exchange(other.inbound_streams_, 0)) {}

SrtpSession& SrtpSession::operator=(SrtpSession&& other) noexcept {
  if (this != &other) {
    reset();
    profile_ = other.profile_;
    options_ = other.options_;
    outbound_ = std::exchange(other.outbound_, nullptr);
    inbound_ = std::exchange(other.inbound_, nullptr);
    outbound_streams_ = std::exchange(other.outbound_streams_, 0);
    inbound_streams_ = std::exchange(other.inbound_streams_, 0);
  }
  return *this;
}

std::optional<Error> SrtpSession::protect_rtp(std::span<std::byte> buffer,
                                              std::size_t& length) noexcept {
  return run({Kind::rtp, srtp_protect, 0, rtp_overhead()}, outbound_, outbound_streams_,
             options_.max_streams, buffer, length);
}

std::optional<Error> SrtpSession::unprotect_rtp(std::span<std::byte> buffer,
                                                std::size_t& length) noexcept {
  return run({Kind::rtp, srtp_unprotect, rtp_overhead(), 0}, inbound_, inbound_streams_,
             options_.max_streams, buffer, length);
}

std::optional<Error> SrtpSession::protect_rtcp(std::span<std::byte> buffer,
                                               std::size_t& length) noexcept {
  return run({Kind::rtcp, srtp_protect_rtcp, 0, rtcp_overhead()}, outbound_, outbound_streams_,
             options_.max_streams, buffer, length);
}

std::optional<Error> SrtpSession::unprotect_rtcp(std::span<std::byte> buffer,
                                                 std::size_t& length) noexcept {
  return run({Kind::rtcp, srtp_unprotect_rtcp, rtcp_overhead(), 0}, inbound_, inbound_streams_,
             options_.max_streams, buffer, length);
}

std::optional<uint32_t> SrtpSession::outbound_roc(uint32_t ssrc) const noexcept {
  return roc_of(outbound_, ssrc);
}

std::optional<uint32_t> SrtpSession::inbound_roc(uint32_t ssrc) const noexcept {
  return roc_of(inbound_, ssrc);
}

}  // namespace peer::srtp
