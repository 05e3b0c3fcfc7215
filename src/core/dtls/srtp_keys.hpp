#pragma once
// Keys for SRTP, exported from the DTLS handshake (DTLS-SRTP, RFC 5764).

#include <cstdint>
#include <vector>

namespace peer::dtls {

// The SRTP protection profiles we offer in use_srtp (RFC 5764 section 4.1.2), best first.
// `none` means the peer did not negotiate use_srtp (a data-channel-only peer).
enum class SrtpProfile {
  none,
  aes128_cm_sha1_80,  // SRTP_AES128_CM_HMAC_SHA1_80, 0x0001: key 16, salt 14 (RFC 5764 4.1.2)
  aead_aes_128_gcm,   // SRTP_AEAD_AES_128_GCM, 0x0007: key 16, salt 12 (RFC 7714 section 12)
};

// RFC 5764 section 4.2: the "EXTRACTOR-dtls_srtp" exporter yields
//   client_write_SRTP_master_key | server_write_SRTP_master_key |
//   client_write_SRTP_master_salt | server_write_SRTP_master_salt
// and each side protects what it sends with its own role's key. `local_*` protect what
// this endpoint sends, `remote_*` unprotect what it receives: the client's local key is
// the server's remote key.
struct SrtpKeys {
  SrtpProfile profile = SrtpProfile::none;
  std::vector<std::uint8_t> local_key, local_salt, remote_key, remote_salt;
};

}  // namespace peer::dtls
