#include "core/dtls/certificate.hpp"

#include <array>
#include <cctype>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "peer/error.hpp"

namespace peer::dtls {

namespace {

struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// The first queued OpenSSL error as text, and an empty queue afterwards (the queue is
// per thread; leaving entries behind would confuse the next SSL_get_error on this thread).
std::string take_openssl_error() {
  const unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    std::array<char, 256> buf{};
    ERR_error_string_n(code, buf.data(), buf.size());
    text = buf.data();
  }
  ERR_clear_error();
  return text.empty() ? std::string("unknown OpenSSL error") : text;
}

[[noreturn]] void fail(Errc code, const std::string& what) {
  throw Error(code, what + ": " + take_openssl_error());
}

BioPtr memory_bio(std::string_view text) {
  // BIO_new_mem_buf takes an int length; PEM bigger than that is nonsense anyway.
  if (text.size() > 1 << 20) throw Error(Errc::bad_certificate, "PEM text is larger than 1 MiB");
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) fail(Errc::internal, "BIO_new_mem_buf failed");
  return bio;
}

std::string to_pem(int (*write)(BIO*, void*), void* object) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get(), object) != 1) fail(Errc::internal, "writing PEM failed");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// Refuses to prompt: with a null callback OpenSSL would ask for a passphrase on the
// terminal when the key is encrypted.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

}  // namespace

struct Certificate::Impl {
  X509Ptr cert;
  PkeyPtr key;
};

Certificate Certificate::process_default() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kRenewAfter = std::chrono::hours(24 * 23);  // of 30 days' validity
  static std::mutex mutex;
  static std::optional<Certificate> current;
  static Clock::time_point generated_at;
  std::lock_guard lock(mutex);
  const auto now = Clock::now();
  if (!current || now - generated_at > kRenewAfter) {
    current = generate();
    generated_at = now;
  }
  return *current;
}

Certificate Certificate::generate() {
  ERR_clear_error();
  // P-256 rather than P-384 or Ed25519: the browsers' default and universally accepted.
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail(Errc::internal, "generating a P-256 key failed");

  X509Ptr cert(X509_new());
  if (!cert) fail(Errc::internal, "X509_new failed");
  // Random serial (RFC 5280 section 4.1.2.2: positive, at most 20 octets) so two of our
  // certificates never share issuer + serial, which some stacks use as a cache key.
  BnPtr serial(BN_new());
  X509_NAME* name = X509_get_subject_name(cert.get());
  constexpr long kDay = 24L * 60 * 60;
  if (!serial || BN_rand(serial.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      // Valid from yesterday: a peer whose clock is a little behind must not reject us.
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kDay) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kDay * 30) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1 || name == nullptr ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("peer"), -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    fail(Errc::internal, "building the self-signed certificate failed");
  }
  auto impl = std::make_shared<Impl>();
  impl->cert = std::move(cert);
  impl->key = std::move(key);
  return Certificate(std::move(impl));
}

Certificate Certificate::from_pem(std::string_view cert_pem, std::string_view key_pem) {
  ERR_clear_error();
  if (cert_pem.find("-----BEGIN") == std::string_view::npos)
    throw Error(Errc::bad_certificate, "the certificate is not PEM (no -----BEGIN line)");
  if (key_pem.find("-----BEGIN") == std::string_view::npos)
    throw Error(Errc::bad_certificate, "the private key is not PEM (no -----BEGIN line)");

  BioPtr cert_bio = memory_bio(cert_pem);
  X509Ptr cert(PEM_read_bio_X509(cert_bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) fail(Errc::bad_certificate, "the certificate PEM could not be parsed");

  BioPtr key_bio = memory_bio(key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    fail(Errc::bad_certificate,
         "the private key PEM could not be parsed (encrypted keys are not supported)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    throw Error(Errc::bad_certificate, "the private key does not belong to the certificate");
  }
  auto impl = std::make_shared<Impl>();
  impl->cert = std::move(cert);
  impl->key = std::move(key);
  return Certificate(std::move(impl));
}

std::string Certificate::fingerprint() const {
  return fingerprint_of(x509(), EVP_sha256());
}

std::string Certificate::fingerprint(std::string_view algorithm) const {
  const EVP_MD* md = fingerprint_digest(algorithm);
  if (md == nullptr) {
    throw Error(Errc::invalid_argument, "unsupported fingerprint hash function '" +
                                            std::string(algorithm) +
                                            "' (use sha-1, sha-224, sha-256, sha-384 or sha-512)");
  }
  return fingerprint_of(x509(), md);
}

std::string Certificate::cert_pem() const {
  return to_pem([](BIO* b, void* o) { return PEM_write_bio_X509(b, static_cast<X509*>(o)); },
                x509());
}

std::string Certificate::key_pem() const {
  return to_pem(
      [](BIO* b, void* o) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(o), nullptr, nullptr, 0, nullptr,
                                        nullptr);
      },
      key());
}

X509* Certificate::x509() const noexcept {
  return impl_->cert.get();
}
EVP_PKEY* Certificate::key() const noexcept {
  return impl_->key.get();
}

const EVP_MD* fingerprint_digest(std::string_view algorithm) noexcept {
  // RFC 8122 section 5 names hash functions by their IANA "Hash Function Textual Names";
  // SDP attribute values are compared case-insensitively.
  std::string lower;
  for (char c : algorithm) {
    if (lower.size() >= 16) return nullptr;
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (lower == "sha-256") return EVP_sha256();
  if (lower == "sha-1") return EVP_sha1();
  if (lower == "sha-384") return EVP_sha384();
  if (lower == "sha-512") return EVP_sha512();
  if (lower == "sha-224") return EVP_sha224();
  return nullptr;
}

std::string fingerprint_of(X509* cert, const EVP_MD* md) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (cert == nullptr || md == nullptr || X509_digest(cert, md, digest.data(), &len) != 1) {
    ERR_clear_error();
    return {};
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(std::size_t{len} * 3);
  for (unsigned int i = 0; i < len; ++i) {
    if (i != 0) out.push_back(':');
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

}  // namespace peer::dtls
