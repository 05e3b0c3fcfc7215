#pragma once
// peer::ice::TlsClient: TLS (OpenSSL) on a connected, non-blocking TCP socket, for TURN over
// TLS ("turns:", RFC 8656 section 3.1 and RFC 7065). The socket stays the caller's; this
// class only drives the handshake and moves bytes, reporting when it must wait for the
// socket to become readable or writable (the caller's event loop watches it).
//
// The server's certificate is checked against OpenSSL's default trust store (the system's
// CA bundle; SSL_CERT_FILE and SSL_CERT_DIR override it, read when the first TLS client of
// the process is made) and must name the host of the URL: a DNS name (also sent as SNI) or
// an IP address (RFC 6125; an IP literal needs an iPAddress subjectAltName). TLS 1.2 or
// newer. With verification off, any certificate is accepted (the connection is then
// encrypted but not authenticated; TURN's own long-term credentials still apply).

#include <cstddef>
#include <span>
#include <string>

typedef struct ssl_st SSL;

namespace peer::ice {

class TlsClient {
 public:
  enum class Status {
    done,        // the handshake finished, or bytes moved (see `moved`)
    want_read,   // call again once the socket is readable
    want_write,  // call again once the socket is writable
    closed,      // the server closed the connection (read only)
    failed,      // see error()
  };

  // Throws peer::Error (Errc::internal) if OpenSSL cannot make the session.
  TlsClient(int fd, const std::string& host, bool verify_certificate);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  Status handshake();
  bool established() const noexcept { return established_; }
  // What the last handshake() asked to wait for (want_read or want_write).
  bool wants_write() const noexcept { return last_ == Status::want_write; }
  Status write(std::span<const std::byte> bytes, std::size_t& moved);
  Status read(std::span<std::byte> buffer, std::size_t& moved);
  // Why the last call failed, e.g. "certificate verify failed: self-signed certificate".
  const std::string& error() const noexcept { return error_; }

 private:
  Status status_of(int result);

  SSL* ssl_ = nullptr;
  bool established_ = false;
  Status last_ = Status::want_write;
  std::string error_;
};

}  // namespace peer::ice
