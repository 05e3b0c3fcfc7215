#include "ice/tls_client.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <peer/error.hpp>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

namespace peer::ice {
namespace {

// One context for the process: loading the trust store costs milliseconds, and a process of
// thousands of peers should pay it once. SSL_CTX is safe to share between threads once made.
SSL_CTX* client_context() {
  static const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> context = [] {
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
    if (!ctx) return ctx;
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_default_verify_paths(ctx.get());
    // Partial writes: the caller keeps the unwritten rest in its own queue, which may move.
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
  }();
  return context.get();
}

std::string take_error_queue() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    std::array<char, 256> buffer{};
    ERR_error_string_n(code, buffer.data(), buffer.size());
    if (!text.empty()) text += "; ";
    text += buffer.data();
  }
  return text;
}

bool is_ip_literal(const std::string& host) {
  std::array<unsigned char, 16> scratch{};
  return inet_pton(AF_INET, host.c_str(), scratch.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), scratch.data()) == 1;
}

}  // namespace

TlsClient::TlsClient(int fd, const std::string& host, bool verify_certificate) {
  SSL_CTX* context = client_context();
  ssl_ = context != nullptr ? SSL_new(context) : nullptr;
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd) != 1) {
    const std::string why = take_error_queue();
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = nullptr;
    throw Error(Errc::internal, "cannot make a TLS session: " + why);
  }
  SSL_set_connect_state(ssl_);
  if (verify_certificate) {
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
    // RFC 6125: the name the user gave must be in the certificate.
    const bool named = is_ip_literal(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str()) == 1
                                           : SSL_set1_host(ssl_, host.c_str()) == 1;
    if (!named) {
      SSL_free(ssl_);
      ssl_ = nullptr;
      throw Error(Errc::internal, "cannot check a TLS certificate for '" + host + "': " + take_error_queue());
    }
  } else {
    SSL_set_verify(ssl_, SSL_VERIFY_NONE, nullptr);
  }
  if (!is_ip_literal(host)) SSL_set_tlsext_host_name(ssl_, host.c_str());  // SNI (RFC 6066 section 3)
}

TlsClient::~TlsClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // no close_notify: the socket is about to close anyway
}

TlsClient::Status TlsClient::status_of(int result) {
  const int code = SSL_get_error(ssl_, result);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      return last_ = Status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return last_ = Status::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return last_ = Status::closed;
    default:
      break;
  }
  const long verify = SSL_get_verify_result(ssl_);
  if (!established_ && verify != X509_V_OK) {
    error_ = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (code == SSL_ERROR_SYSCALL) {
    const std::string queued = take_error_queue();
    error_ = !queued.empty() ? queued : errno != 0 ? std::strerror(errno) : "connection closed";
    if (established_ && queued.empty()) return last_ = Status::closed;  // EOF without close_notify
  } else {
    error_ = take_error_queue();
    if (error_.empty()) error_ = "TLS error " + std::to_string(code);
  }
  ERR_clear_error();
  return last_ = Status::failed;
}

TlsClient::Status TlsClient::handshake() {
  if (established_) return Status::done;
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_);
  if (result == 1) {
    established_ = true;
    return last_ = Status::done;
  }
  return status_of(result);
}

TlsClient::Status TlsClient::write(std::span<const std::byte> bytes, std::size_t& moved) {
  moved = 0;
  if (bytes.empty()) return Status::done;
  ERR_clear_error();
  errno = 0;
  if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &moved) == 1) return last_ = Status::done;
  return status_of(0);
}

TlsClient::Status TlsClient::read(std::span<std::byte> buffer, std::size_t& moved) {
  moved = 0;
  ERR_clear_error();
  errno = 0;
  if (SSL_read_ex(ssl_, buffer.data(), buffer.size(), &moved) == 1) return last_ = Status::done;
  return status_of(0);
}

}  // namespace peer::ice
