#pragma once
// The local DTLS identity: an X.509 certificate and its private key.
//
// WebRTC does not use a PKI: each side presents a (usually self-signed) certificate and
// the other side pins it through the a=fingerprint attribute of the SDP (RFC 8122 section 5,
// RFC 8827 section 6.5). So a certificate here is only a carrier for a public key whose
// digest travels over signaling.

#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

namespace peer::dtls {

// Cheap to copy: copies share one immutable X509 + EVP_PKEY pair (OpenSSL refcounts them,
// and read-only use of both is thread-safe).
class Certificate {
 public:
  // A fresh ECDSA P-256 key and a self-signed certificate for it: random 64-bit serial,
  // CN "peer", valid from one day ago (clock skew) to 30 days ahead, signed with SHA-256.
  // ECDSA P-256 is what browsers generate by default and what every WebRTC stack accepts.
  static Certificate generate();

  // The process's certificate: generated on first use and shared by every peer that brings
  // none of its own, as a browser keeps one RTCCertificate per origin (and libdatachannel
  // one per process). Generating costs about 0.35 ms of CPU per call, a fifth of a loopback
  // setup's CPU. Renewed on first use after 23 of its 30 days; thread-safe. The price is
  // that a remote can tell two connections from one process apart from others by the
  // fingerprint; a peer that must not be linkable asks for a fresh one (Peer key
  // "certificate": "new").
  static Certificate process_default();

  // Parses a PEM certificate and its PEM private key (unencrypted; PKCS#8 or traditional).
  // Throws Error(bad_certificate) saying what is wrong: unparsable certificate, unparsable
  // or encrypted key, or a key that does not belong to the certificate.
  static Certificate from_pem(std::string_view cert_pem, std::string_view key_pem);

  // SHA-256 digest of the DER certificate as "AB:CD:..." (uppercase hex, colon separated):
  // the value for a=fingerprint:sha-256 (RFC 8122 section 5). 95 characters.
  std::string fingerprint() const;
  // Same with another hash function named as in RFC 8122 ("sha-1", "sha-224", "sha-256",
  // "sha-384", "sha-512"; any case). Throws Error(invalid_argument) for other names.
  std::string fingerprint(std::string_view algorithm) const;

  std::string cert_pem() const;
  std::string key_pem() const;  // unencrypted PKCS#8

  // Borrowed pointers, valid as long as any copy of this Certificate lives.
  X509* x509() const noexcept;
  EVP_PKEY* key() const noexcept;

 private:
  struct Impl;
  explicit Certificate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The digest for an RFC 8122 hash function name (case-insensitive), or nullptr when we do
// not accept it. MD2 and MD5 are refused (RFC 8122 section 5 says they MUST NOT be used).
const EVP_MD* fingerprint_digest(std::string_view algorithm) noexcept;

// The RFC 8122 fingerprint ("AB:CD:...") of `cert` with `md`; empty if digesting fails.
std::string fingerprint_of(X509* cert, const EVP_MD* md);

}  // namespace peer::dtls
