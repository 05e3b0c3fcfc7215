#include "core/dtls/dtls_endpoint.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <utility>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace peer::dtls {

namespace {

// Offered cipher suites, best first. AES-128-GCM is the cheapest AEAD with AES-NI and what
// browsers pick; AES-256-GCM and ChaCha20 cover peers that insist; ECDHE-RSA covers peers
// that bring an RSA certificate (our own certificates are always ECDSA). All are AEAD with
// forward secrecy; CBC suites are left out.
constexpr char kCipherList[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256";
// Key exchange groups, best first: X25519 (RFC 8422, what Chromium and Firefox prefer) costs
// 41 us per exchange here against 58 us for P-256 (`openssl speed`); P-256 for the rest.
constexpr char kGroups[] = "X25519:P-256";
// RFC 5764 section 4.1.2 use_srtp profiles, best first: AEAD_AES_128_GCM (RFC 7714) saves
// the HMAC; AES128_CM_HMAC_SHA1_80 is the one every WebRTC stack must support (RFC 8827).
constexpr char kSrtpProfiles[] = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
// RFC 5764 section 4.2: the exporter label for SRTP keying material.
constexpr char kSrtpExporterLabel[] = "EXTRACTOR-dtls_srtp";

// RFC 6347 section 4.2.4.1: double the timer on each retransmission "up to no less than
// the RFC 6298 maximum of 60 seconds".
constexpr unsigned kMaxRetransmitUs = 60'000'000;
// RFC 6347 section 4.1.1 / RFC 5246 section 6.2.1: a record carries at most 2^14 bytes.
constexpr std::size_t kMaxRecordPlaintext = 16384;
// Bounds on datagrams kept before start(): a first flight is one to a few datagrams; the
// bound only stops a flood from growing memory without limit.
constexpr std::size_t kMaxEarlyDatagrams = 32;
constexpr std::size_t kMaxEarlyBytes = std::size_t{64} * 1024;
// OpenSSL refuses an MTU below 256 (dtls1_min_mtu); 65507 is the largest UDP payload.
constexpr std::size_t kMinMtu = 256;
constexpr std::size_t kMaxMtu = 65507;

struct SslFree {
  void operator()(SSL* p) const noexcept { SSL_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};

// OpenSSL's reason for the first queued error ("sslv3 alert bad certificate"), and an
// empty per-thread error queue afterwards.
std::string take_openssl_reason(int ssl_error) {
  const unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    if (const char* reason = ERR_reason_error_string(code)) {
      text = reason;
    } else {
      std::array<char, 256> buf{};
      ERR_error_string_n(code, buf.data(), buf.size());
      text = buf.data();
    }
  } else if (ssl_error == SSL_ERROR_SYSCALL) {
    text = "the datagram queue could not take a record (out of memory)";
  } else {
    text = "OpenSSL error " + std::to_string(ssl_error);
  }
  ERR_clear_error();
  return text;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

const char* state_name(DtlsState s) {
  switch (s) {
    case DtlsState::new_:
      return "new";
    case DtlsState::connecting:
      return "connecting";
    case DtlsState::connected:
      return "connected";
    case DtlsState::failed:
      return "failed";
    case DtlsState::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace

struct DtlsEndpoint::Impl {
  Impl(Certificate local_cert, Role r, std::string algorithm, std::string fingerprint,
       DtlsOptions opts);

  // --- OpenSSL callbacks: C linkage-compatible, never throw (docs/architecture.md section 4). ---
  static int bio_write(BIO* bio, const char* data, int len) noexcept;
  static int bio_read(BIO* bio, char* out, int len) noexcept;
  static long bio_ctrl(BIO* bio, int cmd, long num, void* ptr) noexcept;
  static int bio_create(BIO* bio) noexcept;
  static int bio_destroy(BIO* bio) noexcept;
  static int verify_callback(int preverify_ok, X509_STORE_CTX* store) noexcept;
  static unsigned int timer_callback(SSL* ssl, unsigned int previous_us) noexcept;
  static BIO_METHOD* bio_method();
  static SSL_CTX* shared_context();

  void start(Clock::time_point now);
  void receive(std::span<const std::byte> datagram);
  void drive();
  void read_application_data();
  bool finish_handshake();
  bool peer_certificate_matches(X509* cert);
  void fail(peer::Errc code, std::string message);
  void set_state(DtlsState s) noexcept;
  void update_deadline(Clock::time_point now);

  Certificate local;
  Role role;
  DtlsOptions options;
  std::string remote_algorithm;         // lowercased, for messages
  std::string remote_fingerprint;       // as given (trimmed), for messages
  std::string remote_fingerprint_norm;  // uppercased, for comparison
  const EVP_MD* remote_md = nullptr;    // nullptr: algorithm not accepted
  std::unique_ptr<SSL, SslFree> ssl;

  DatagramQueue transmit;               // datagrams OpenSSL wrote, waiting for drain_transmit
  DatagramQueue application;            // decrypted records, waiting for drain_application_data
  DatagramQueue early;                  // datagrams received before start()
  std::span<const std::byte> incoming;  // the datagram the read BIO hands OpenSSL next

  DtlsState state = DtlsState::new_;
  bool changed = false;
  peer::Errc error_code = peer::Errc::dtls_failed;
  std::string error_message;
  std::string mismatch;  // set by verify_callback when the peer certificate is rejected
  std::optional<SrtpKeys> srtp_keys;
  std::string cipher;
  std::optional<Clock::time_point> deadline;
};

// ---------------------------------------------------------------------------------------
// The BIO: a memory BIO that keeps datagram boundaries.
//
// In DTLS OpenSSL writes each datagram with one BIO_write: records are collected in a
// buffering BIO it pushes in front of ours during the handshake (sized so the flight's
// records fit options.mtu) and flushed as one write; after the handshake each record is
// one write. So one BIO_write = one datagram in the transmit queue, except that a write
// longer than options.mtu is split at record boundaries (see split_records below).
// Reading, OpenSSL asks for up to a whole record buffer and expects one datagram per
// read, as from recv().
//
// Why the split: OpenSSL 3.0's dtls1_do_write (ssl/statem/statem_dtls.c) decides whether
// the next handshake record still fits the datagram being packed from
// BIO_wpending + DTLS1_RT_HEADER_LENGTH + mac_size + blocksize, where mac_size is 0 for
// AEAD ciphers and blocksize is 0 for anything but CBC. For our (all AEAD) suites it
// therefore forgets the record expansion of an encrypted record: 24 bytes for AES-GCM
// (8-byte explicit nonce + 16-byte tag), 16 for ChaCha20-Poly1305. In DTLS 1.2 the only
// encrypted handshake record is Finished (renegotiation and tickets are off), packed
// behind CCS at the end of flight 5 (client) or 6 (server) and of their retransmissions:
// measured, with mtu 300 the client wrote [Certificate fragment 35][ClientKeyExchange 91]
// [CertificateVerify 101][CCS 14][Finished 61] = 302 bytes; sweeping the MTU, overshoots
// of 1..24 bytes, depending on the certificate and signature sizes. No control fixes it:
// SSL_set_mtu and DTLS_set_link_mtu both just set d1->mtu, the MTU overhead only shrinks
// every datagram alike (and a smaller MTU is refused below 256), and the record-layer
// rewrite that accounts for the expansion (openssl/openssl#19516) is 3.2+. Each record on
// its own does fit (OpenSSL sizes every record for an empty datagram, and Finished is
// 61 bytes), and RFC 6347 section 4.1.1 lets records be grouped into datagrams freely, so
// moving the records that overflow into a datagram of their own keeps every datagram
// <= options.mtu at the cost of one extra datagram, only when the overshoot happens.

namespace {

// RFC 6347 section 4.1: type(1) version(2) epoch(2) sequence_number(6) length(2).
constexpr std::size_t kRecordHeader = 13;

// Calls `emit` with consecutive runs of whole records of `data`, each as long as possible
// but at most `mtu` bytes (a single record longer than `mtu` becomes a run of its own).
// Returns false, emitting nothing, if `data` is not a sequence of complete records.
template <typename Emit>
bool split_records(std::span<const std::byte> data, std::size_t mtu, Emit&& emit) {
  for (std::size_t at = 0; at < data.size();) {
    if (data.size() - at < kRecordHeader) return false;
    const std::size_t length = std::to_integer<std::size_t>(data[at + 11]) << 8 |
                               std::to_integer<std::size_t>(data[at + 12]);
    if (data.size() - at - kRecordHeader < length) return false;
    at += kRecordHeader + length;
  }
  std::size_t start = 0;
  for (std::size_t at = 0; at < data.size();) {
    const std::size_t end = at + kRecordHeader +
                            (std::to_integer<std::size_t>(data[at + 11]) << 8 |
                             std::to_integer<std::size_t>(data[at + 12]));
    if (end - start > mtu && at > start) {
      emit(data.subspan(start, at - start));
      start = at;
    }
    at = end;
  }
  emit(data.subspan(start));
  return true;
}

}  // namespace

int DtlsEndpoint::Impl::bio_write(BIO* bio, const char* data, int len) noexcept {
  BIO_clear_retry_flags(bio);
  auto* self = static_cast<Impl*>(BIO_get_data(bio));
  if (self == nullptr || data == nullptr || len < 0) return -1;
  try {
    const std::span<const std::byte> datagram(reinterpret_cast<const std::byte*>(data),
                                              std::size_t(len));
    if (datagram.size() <= self->options.mtu ||
        !split_records(datagram, self->options.mtu,
                       [self](std::span<const std::byte> part) { self->transmit.push(part); })) {
      self->transmit.push(datagram);  // not records (cannot happen): pass through unchanged
    }
  } catch (...) {
    return -1;  // out of memory; OpenSSL reports a write error
  }
  return len;
}

int DtlsEndpoint::Impl::bio_read(BIO* bio, char* out, int len) noexcept {
  BIO_clear_retry_flags(bio);
  auto* self = static_cast<Impl*>(BIO_get_data(bio));
  if (self == nullptr || out == nullptr || len <= 0) return 0;
  if (self->incoming.empty()) {
    BIO_set_retry_read(bio);  // "would block": the caller feeds the next datagram later
    return -1;
  }
  // Like recv() on a UDP socket: what does not fit is discarded with the datagram.
  const std::size_t n = std::min(std::size_t(len), self->incoming.size());
  std::memcpy(out, self->incoming.data(), n);
  self->incoming = {};
  return static_cast<int>(n);
}

long DtlsEndpoint::Impl::bio_ctrl(BIO* bio, int cmd, long num, void*) noexcept {
  auto* self = static_cast<Impl*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;  // every write is already a complete queued datagram
    case BIO_CTRL_PENDING:
      return self != nullptr ? static_cast<long>(self->incoming.size()) : 0;
    case BIO_CTRL_WPENDING:
      return 0;  // nothing is held back inside this BIO
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      // Only asked if SSL_OP_NO_QUERY_MTU were off; answer consistently anyway.
      return self != nullptr ? static_cast<long>(self->options.mtu) : 0;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
      // options.mtu already counts DTLS bytes only: no IP/UDP header to subtract.
      return 0;
    case BIO_CTRL_DGRAM_SET_MTU:
      return num;
    case BIO_CTRL_DGRAM_MTU_EXCEEDED:
      return 0;  // we never learn of EMSGSIZE; the MTU is fixed by options
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
      return 1;  // a socket BIO would set SO_RCVTIMEO; our timer is next_timeout()
    default:
      // Includes BIO_CTRL_DGRAM_GET_{RECV,SEND}_TIMER_EXP (no socket timer ever fires),
      // BIO_CTRL_EOF (a datagram stream never ends) and controls we do not implement.
      return 0;
  }
}

int DtlsEndpoint::Impl::bio_create(BIO* bio) noexcept {
  BIO_set_init(bio, 1);
  return 1;
}

int DtlsEndpoint::Impl::bio_destroy(BIO* bio) noexcept {
  BIO_set_data(bio, nullptr);  // the Impl is not owned by the BIO
  BIO_set_init(bio, 0);
  return 1;
}

BIO_METHOD* DtlsEndpoint::Impl::bio_method() {
  // One method table for the process, built on first use (thread-safe static init), kept
  // until exit.
  static BIO_METHOD* const method = []() -> BIO_METHOD* {
    const int index = BIO_get_new_index();
    if (index == -1) return nullptr;
    BIO_METHOD* m = BIO_meth_new(index | BIO_TYPE_SOURCE_SINK, "peer dtls datagrams");
    if (m == nullptr || BIO_meth_set_write(m, &bio_write) != 1 ||
        BIO_meth_set_read(m, &bio_read) != 1 || BIO_meth_set_ctrl(m, &bio_ctrl) != 1 ||
        BIO_meth_set_create(m, &bio_create) != 1 || BIO_meth_set_destroy(m, &bio_destroy) != 1) {
      BIO_meth_free(m);
      return nullptr;
    }
    return m;
  }();
  if (method == nullptr) throw Error(Errc::internal, "creating the DTLS BIO method failed");
  return method;
}

// ---------------------------------------------------------------------------------------
// One SSL_CTX for the process. Its settings are the same for every endpoint and
// SSL_CTX_new is not cheap in OpenSSL 3 (it fetches every algorithm from the providers),
// so endpoints share it; certificate, MTU and timer are set per SSL. An SSL_CTX that is
// no longer modified may be used by SSL_new on any thread.

SSL_CTX* DtlsEndpoint::Impl::shared_context() {
  static const std::unique_ptr<SSL_CTX, SslCtxFree> context = [] {
    ERR_clear_error();
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(DTLS_method()));
    if (!ctx) throw Error(Errc::internal, "SSL_CTX_new: " + take_openssl_reason(0));
    SSL_CTX* c = ctx.get();
    // DTLS 1.2 only (RFC 8827 section 6.5 requires at least 1.2; DTLS 1.0 is obsolete).
    const bool ok = SSL_CTX_set_min_proto_version(c, DTLS1_2_VERSION) == 1 &&
                    SSL_CTX_set_max_proto_version(c, DTLS1_2_VERSION) == 1 &&
                    SSL_CTX_set_cipher_list(c, kCipherList) == 1 &&
                    SSL_CTX_set1_groups_list(c, kGroups) == 1 &&
                    SSL_CTX_set_tlsext_use_srtp(c, kSrtpProfiles) == 0;  // sic: 0 means success
    if (!ok) throw Error(Errc::internal, "configuring DTLS: " + take_openssl_reason(0));
    // No tickets, no session cache, no renegotiation: every WebRTC association is a fresh
    // full handshake with fresh certificates, and renegotiation is only attack surface.
    // SSL_OP_NO_QUERY_MTU: the MTU comes from options, there is no socket to ask.
    SSL_CTX_set_options(c, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    // Both sides must present a certificate: its fingerprint is the peer's identity.
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, &verify_callback);
    return ctx;
  }();
  return context.get();
}

// RFC 8122 section 5 / RFC 8827 section 6.5: there is no PKI; the peer's certificate is
// acceptable iff its digest, with the hash function of the remote a=fingerprint, equals
// that fingerprint. So self-signed, unknown issuer, expired etc. are all accepted, and
// only the leaf (depth 0) is checked: it is the certificate the fingerprint pins.
int DtlsEndpoint::Impl::verify_callback(int, X509_STORE_CTX* store) noexcept {
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = ssl != nullptr ? static_cast<Impl*>(SSL_get_app_data(ssl)) : nullptr;
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  bool ok = false;
  if (self != nullptr && leaf != nullptr) {
    try {
      ok = self->peer_certificate_matches(leaf);
    } catch (...) {
      ok = false;  // out of memory building strings: reject rather than throw into OpenSSL
    }
  }
  if (ok) return 1;
  // CERT_REJECTED makes OpenSSL send a bad_certificate alert, so the peer fails too.
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

// OpenSSL's default starts at 1 s. See DtlsOptions::initial_retransmit for why we start
// lower, and RFC 6347 section 4.2.4.1 for the doubling and the 60 s cap.
unsigned int DtlsEndpoint::Impl::timer_callback(SSL* ssl, unsigned int previous_us) noexcept {
  if (previous_us == 0) {
    const auto* self = static_cast<const Impl*>(SSL_get_app_data(ssl));
    const auto initial = self != nullptr
                             ? std::chrono::microseconds(self->options.initial_retransmit)
                             : std::chrono::microseconds(100'000);
    return static_cast<unsigned int>(
        std::clamp<std::int64_t>(initial.count(), 1000, kMaxRetransmitUs));
  }
  return previous_us >= kMaxRetransmitUs / 2 ? kMaxRetransmitUs : previous_us * 2;
}

// ---------------------------------------------------------------------------------------

DtlsEndpoint::Impl::Impl(Certificate local_cert, Role r, std::string algorithm,
                         std::string fingerprint, DtlsOptions opts)
    : local(std::move(local_cert)), role(r), options(opts) {
  if (options.mtu < kMinMtu || options.mtu > kMaxMtu) {
    throw Error(Errc::invalid_argument,
                "DTLS mtu " + std::to_string(options.mtu) + " is outside 256..65507");
  }
  if (options.initial_retransmit <= std::chrono::milliseconds::zero()) {
    throw Error(Errc::invalid_argument, "DTLS initial_retransmit must be positive");
  }
  remote_algorithm = to_lower(trim(std::move(algorithm)));
  remote_fingerprint = trim(std::move(fingerprint));
  remote_fingerprint_norm = to_upper(remote_fingerprint);
  remote_md = fingerprint_digest(remote_algorithm);

  ERR_clear_error();
  ssl.reset(SSL_new(shared_context()));
  if (!ssl) throw Error(Errc::internal, "SSL_new: " + take_openssl_reason(0));
  SSL_set_app_data(ssl.get(), this);
  if (SSL_use_certificate(ssl.get(), local.x509()) != 1 ||
      SSL_use_PrivateKey(ssl.get(), local.key()) != 1 || SSL_check_private_key(ssl.get()) != 1) {
    throw Error(Errc::bad_certificate,
                "the local certificate is not usable for DTLS: " + take_openssl_reason(0));
  }
  BIO* bio = BIO_new(bio_method());
  if (bio == nullptr) throw Error(Errc::internal, "BIO_new: " + take_openssl_reason(0));
  BIO_set_data(bio, this);
  SSL_set_bio(ssl.get(), bio, bio);  // one BIO for both directions: one reference taken
  SSL_set_options(ssl.get(), SSL_OP_NO_QUERY_MTU);
  // SSL_set_mtu sets the largest datagram (records + DTLS headers) OpenSSL may write; it
  // fragments handshake messages to fit (RFC 6347 section 4.2.3).
  if (SSL_set_mtu(ssl.get(), static_cast<long>(options.mtu)) <= 0) {
    throw Error(Errc::internal, "SSL_set_mtu: " + take_openssl_reason(0));
  }
  DTLS_set_timer_cb(ssl.get(), &timer_callback);
  // RFC 8842 section 5: a=setup:active is the DTLS client, passive the server; the caller
  // has resolved that into `role`.
  if (role == Role::client) {
    SSL_set_connect_state(ssl.get());
  } else {
    SSL_set_accept_state(ssl.get());
  }
}

void DtlsEndpoint::Impl::set_state(DtlsState s) noexcept {
  if (state == s) return;
  state = s;
  changed = true;
}

void DtlsEndpoint::Impl::fail(peer::Errc code, std::string message) {
  if (state == DtlsState::failed || state == DtlsState::closed) return;
  error_code = code;
  error_message = std::move(message);
  early.clear();
  deadline.reset();
  set_state(DtlsState::failed);
}

void DtlsEndpoint::Impl::update_deadline(Clock::time_point now) {
  // See next_timeout() in the header: OpenSSL's timer runs on its own (wall) clock; we
  // translate "time remaining" into our caller's clock at the moment of each input.
  timeval remaining{};
  if ((state == DtlsState::connecting || state == DtlsState::connected) &&
      DTLSv1_get_timeout(ssl.get(), &remaining) == 1) {
    deadline =
        now + std::chrono::seconds(remaining.tv_sec) + std::chrono::microseconds(remaining.tv_usec);
  } else {
    deadline.reset();
  }
}

bool DtlsEndpoint::Impl::peer_certificate_matches(X509* cert) {
  if (remote_md == nullptr) {
    mismatch = "a=fingerprint hash function '" + remote_algorithm +
               "' is not accepted (RFC 8122: use sha-256, or sha-1, sha-224, sha-384, sha-512)";
    return false;
  }
  const std::string actual = fingerprint_of(cert, remote_md);
  if (!actual.empty() && actual == remote_fingerprint_norm) return true;
  mismatch = "remote certificate fingerprint " + remote_algorithm + " " + actual +
             " does not match a=fingerprint " + remote_algorithm + " " + remote_fingerprint;
  return false;
}

void DtlsEndpoint::Impl::start(Clock::time_point now) {
  if (state != DtlsState::new_) return;
  set_state(DtlsState::connecting);
  drive();  // client: writes the ClientHello; server: nothing to read yet
  // Datagrams that came before start(), in arrival order (see handle_receive).
  early.drain([this](std::span<const std::byte> datagram) { receive(datagram); });
  update_deadline(now);
}

void DtlsEndpoint::Impl::receive(std::span<const std::byte> datagram) {
  // A datagram may carry several records (RFC 6347 section 4.1.1), and a buffer received
  // with UDP GRO carries many datagrams back to back. Records delimit themselves, so OpenSSL
  // is handed one record at a time, each as if it were a datagram of its own:
  //   type(1) version(2) epoch(2) sequence_number(6) length(2) fragment(length)
  // A record whose length runs past the end goes as is, and OpenSSL drops it.
  constexpr std::size_t kHeader = 13;
  std::span<const std::byte> rest = datagram;
  while (!rest.empty() && (state == DtlsState::connecting || state == DtlsState::connected)) {
    std::size_t n = rest.size();
    if (rest.size() >= kHeader) {
      const std::size_t length = (std::to_integer<std::size_t>(rest[11]) << 8) |
                                 std::to_integer<std::size_t>(rest[12]);
      n = std::min(rest.size(), kHeader + length);
    }
    incoming = rest.first(n);
    drive();
    incoming = {};  // whatever OpenSSL did not read is dropped, as with a socket
    rest = rest.subspan(n);
  }
}

// Runs the handshake as far as the input allows, then reads application data.
void DtlsEndpoint::Impl::drive() {
  if (state == DtlsState::connecting) {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl.get());
    if (ret != 1) {
      const int err = SSL_get_error(ssl.get(), ret);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      if (!mismatch.empty()) {
        ERR_clear_error();
        fail(Errc::fingerprint_mismatch, mismatch);
      } else {
        fail(Errc::dtls_failed, "DTLS handshake failed: " + take_openssl_reason(err));
      }
      return;
    }
    if (!finish_handshake()) return;
  }
  if (state == DtlsState::connected) read_application_data();
}

// The handshake is complete: check the peer once more, export SRTP keys, connect.
bool DtlsEndpoint::Impl::finish_handshake() {
  // The verify callback has already checked the leaf; this second look guards against a
  // handshake that completed without it running (it must not, but the price of being
  // wrong is talking to the wrong peer). Nothing has been read as application data yet.
  X509* peer_cert = SSL_get0_peer_certificate(ssl.get());
  if (peer_cert == nullptr) {
    fail(Errc::fingerprint_mismatch, "the remote side presented no certificate");
    return false;
  }
  if (!peer_certificate_matches(peer_cert)) {
    fail(Errc::fingerprint_mismatch, mismatch);
    return false;
  }

  SrtpKeys keys;
  if (const SRTP_PROTECTION_PROFILE* profile = SSL_get_selected_srtp_profile(ssl.get())) {
    std::size_t key_len = 0;
    std::size_t salt_len = 0;
    switch (profile->id) {
      case SRTP_AES128_CM_SHA1_80:  // RFC 5764 section 4.1.2
        keys.profile = SrtpProfile::aes128_cm_sha1_80;
        key_len = 16;
        salt_len = 14;
        break;
      case SRTP_AEAD_AES_128_GCM:  // RFC 7714 section 12
        keys.profile = SrtpProfile::aead_aes_128_gcm;
        key_len = 16;
        salt_len = 12;
        break;
      default:
        fail(Errc::dtls_failed, std::string("unexpected SRTP profile ") + profile->name);
        return false;
    }
    // RFC 5764 section 4.2: 2 * (key + salt) bytes, laid out as
    // client key | server key | client salt | server salt.
    std::array<std::uint8_t, 2 * (16 + 14)> material{};  // the largest profile's
    const std::size_t total = std::size_t{2} * (key_len + salt_len);
    ERR_clear_error();
    if (SSL_export_keying_material(ssl.get(), material.data(), total, kSrtpExporterLabel,
                                   std::strlen(kSrtpExporterLabel), nullptr, 0, 0) != 1) {
      fail(Errc::dtls_failed, "exporting SRTP keys failed: " + take_openssl_reason(0));
      return false;
    }
    const auto part = [&](std::size_t offset, std::size_t len) {
      return std::vector<std::uint8_t>(material.begin() + offset, material.begin() + offset + len);
    };
    auto client_key = part(0, key_len);
    auto server_key = part(key_len, key_len);
    auto client_salt = part(2 * key_len, salt_len);
    auto server_salt = part(2 * key_len + salt_len, salt_len);
    OPENSSL_cleanse(material.data(), material.size());
    // Each side sends with its own role's key (RFC 5764 section 4.2).
    if (role == Role::client) {
      keys.local_key = std::move(client_key);
      keys.local_salt = std::move(client_salt);
      keys.remote_key = std::move(server_key);
      keys.remote_salt = std::move(server_salt);
    } else {
      keys.local_key = std::move(server_key);
      keys.local_salt = std::move(server_salt);
      keys.remote_key = std::move(client_key);
      keys.remote_salt = std::move(client_salt);
    }
  }
  srtp_keys = std::move(keys);
  if (const char* name = SSL_get_cipher_name(ssl.get())) cipher = name;
  set_state(DtlsState::connected);
  return true;
}

void DtlsEndpoint::Impl::read_application_data() {
  // One SSL_read returns one record; records are written straight into the queue.
  while (state == DtlsState::connected) {
    ERR_clear_error();
    // Room for one record's plaintext. When OpenSSL holds nothing, the record about to be
    // read is `incoming`, and its plaintext is shorter than it: asking for no more keeps
    // the queue small for small messages (an idle peer holds no 16 KiB buffer).
    const std::size_t room = incoming.empty() || SSL_has_pending(ssl.get()) != 0
                                 ? kMaxRecordPlaintext
                                 : std::min(kMaxRecordPlaintext, incoming.size());
    std::byte* out = application.prepare(room);
    const int n = SSL_read(ssl.get(), out, static_cast<int>(room));
    if (n > 0) {
      application.commit(static_cast<std::size_t>(n));
      // The record was the whole input: skip the SSL_read that would only say "want read".
      if (incoming.empty() && SSL_has_pending(ssl.get()) == 0) return;
      continue;
    }
    const int err = SSL_get_error(ssl.get(), n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    if (err == SSL_ERROR_ZERO_RETURN) {
      // close_notify (RFC 5246 section 7.2.1): answer with our own close_notify and close.
      ERR_clear_error();
      SSL_shutdown(ssl.get());
      ERR_clear_error();
      deadline.reset();
      set_state(DtlsState::closed);
      return;
    }
    fail(Errc::dtls_failed, "DTLS association failed: " + take_openssl_reason(err));
    return;
  }
}

// ---------------------------------------------------------------------------------------

DtlsEndpoint::DtlsEndpoint(Certificate local, Role role, std::string remote_fingerprint_algorithm,
                           std::string remote_fingerprint, DtlsOptions options)
    : impl_(std::make_unique<Impl>(std::move(local), role, std::move(remote_fingerprint_algorithm),
                                   std::move(remote_fingerprint), options)) {}

DtlsEndpoint::~DtlsEndpoint() = default;
DtlsEndpoint::DtlsEndpoint(DtlsEndpoint&&) noexcept = default;
DtlsEndpoint& DtlsEndpoint::operator=(DtlsEndpoint&&) noexcept = default;

void DtlsEndpoint::start(Clock::time_point now) {
  impl_->start(now);
}

void DtlsEndpoint::handle_receive(Clock::time_point now, std::span<const std::byte> datagram) {
  Impl& s = *impl_;
  if (datagram.empty()) return;
  if (s.state == DtlsState::new_) {
    if (s.early.count() < kMaxEarlyDatagrams && s.early.bytes() + datagram.size() <= kMaxEarlyBytes)
      s.early.push(datagram);
    return;
  }
  s.receive(datagram);
  s.update_deadline(now);
}

void DtlsEndpoint::release_idle_buffers() noexcept {
  Impl& s = *impl_;
  s.application.release_if_empty();
  s.transmit.release_if_empty();
  // Not SSL_free_buffers: with DTLS in OpenSSL 3.0 the next SSL_write used the freed write
  // buffer here (a crash in peer-bench; CVE-2024-4741 is of the same family).
}

void DtlsEndpoint::handle_timeout(Clock::time_point now) {
  Impl& s = *impl_;
  if (s.state == DtlsState::connecting || s.state == DtlsState::connected) {
    ERR_clear_error();
    // Retransmits only if OpenSSL's own clock says the timer expired (see next_timeout).
    if (DTLSv1_handle_timeout(s.ssl.get()) < 0) {
      s.fail(Errc::dtls_failed, "DTLS handshake timed out: " + take_openssl_reason(0));
    }
    ERR_clear_error();
  }
  s.update_deadline(now);
}

std::optional<DtlsEndpoint::Clock::time_point> DtlsEndpoint::next_timeout() const {
  return impl_->deadline;
}

void DtlsEndpoint::send(std::span<const std::byte> data) {
  Impl& s = *impl_;
  if (s.state != DtlsState::connected) {
    throw Error(Errc::invalid_state, std::string("DTLS send() needs a connected endpoint; it is ") +
                                         state_name(s.state));
  }
  if (data.size() > kMaxRecordPlaintext) {
    throw Error(Errc::invalid_argument, "DTLS send() of " + std::to_string(data.size()) +
                                            " bytes exceeds the 16384-byte record limit");
  }
  if (data.empty()) return;
  ERR_clear_error();
  const int ret = SSL_write(s.ssl.get(), data.data(), static_cast<int>(data.size()));
  if (ret <= 0) {
    const int err = SSL_get_error(s.ssl.get(), ret);
    s.fail(Errc::dtls_failed, "DTLS write failed: " + take_openssl_reason(err));
  }
}

std::size_t DtlsEndpoint::max_send_size() const {
  const Impl& s = *impl_;
  if (s.state != DtlsState::connected) return 0;
  return DTLS_get_data_mtu(s.ssl.get());
}

void DtlsEndpoint::close() {
  Impl& s = *impl_;
  if (s.state == DtlsState::failed || s.state == DtlsState::closed) return;
  if (s.state == DtlsState::connected) {
    ERR_clear_error();
    SSL_shutdown(s.ssl.get());  // queues close_notify; we do not wait for the peer's
    ERR_clear_error();
  }
  s.early.clear();
  s.deadline.reset();
  s.set_state(DtlsState::closed);
}

DtlsState DtlsEndpoint::state() const noexcept {
  return impl_->state;
}

bool DtlsEndpoint::state_changed() noexcept {
  return std::exchange(impl_->changed, false);
}

peer::Errc DtlsEndpoint::error_code() const noexcept {
  return impl_->error_code;
}
const std::string& DtlsEndpoint::error_message() const noexcept {
  return impl_->error_message;
}
const std::optional<SrtpKeys>& DtlsEndpoint::srtp_keys() const noexcept {
  return impl_->srtp_keys;
}
const std::string& DtlsEndpoint::cipher_name() const noexcept {
  return impl_->cipher;
}
Role DtlsEndpoint::role() const noexcept {
  return impl_->role;
}

DatagramQueue& DtlsEndpoint::transmit_queue() noexcept {
  return impl_->transmit;
}
DatagramQueue& DtlsEndpoint::application_queue() noexcept {
  return impl_->application;
}

}  // namespace peer::dtls
