#pragma once
// One side of a DTLS 1.2 association (RFC 6347) over OpenSSL, sans-I/O: datagrams and the
// current time go in; datagrams, a timer deadline, state changes, application data and
// DTLS-SRTP keys (RFC 5764) come out. No sockets, no threads, no clock reads of our own
// (OpenSSL's retransmission timer reads the wall clock; see next_timeout()).
//
// Identity follows WebRTC (RFC 8827 section 6.5, RFC 8122): certificates are self-signed
// and the peer's is pinned by the a=fingerprint from its SDP. Who is client or server comes
// from a=setup (RFC 8842 section 5: "active" is the DTLS client, "passive" the server).
//
// Typical use, on the thread that owns the endpoint:
//   ep.start(now);                       // once ICE has a usable pair
//   ep.handle_receive(now, datagram);    // for each packet the demux classifies as DTLS
//   ep.handle_timeout(now);              // when next_timeout() is reached
//   after each call: drain_transmit, drain_application_data, poll state_changed().

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "core/dtls/certificate.hpp"
#include "core/dtls/datagram_queue.hpp"
#include "core/dtls/srtp_keys.hpp"
#include "peer/error.hpp"

namespace peer::dtls {

enum class Role { client, server };

enum class DtlsState { new_, connecting, connected, failed, closed };

struct DtlsOptions {
  // Largest datagram we emit (the DTLS records of one UDP payload, no IP/UDP headers).
  // Handshake messages are fragmented to fit (RFC 6347 section 4.2.3). 1200 leaves room
  // for IPv6 + TURN framing under a 1280-byte path MTU. At least 256 (OpenSSL's minimum).
  std::size_t mtu = 1200;
  // First retransmission timeout of a handshake flight; doubles on each retransmission up
  // to 60 s (RFC 6347 section 4.2.4.1). RFC 6347 suggests 1 s, but we start only once ICE
  // has a working pair, whose round trip is typically a few ms to tens of ms: a first
  // flight lost because the peer was not ready yet must not cost a whole second.
  std::chrono::milliseconds initial_retransmit{100};
};

class DtlsEndpoint {
 public:
  using Clock = std::chrono::steady_clock;

  // `remote_fingerprint_algorithm`/`remote_fingerprint` are the a=fingerprint of the peer
  // (e.g. "sha-256", "AB:CD:..."; both compared case-insensitively). An algorithm we do not
  // accept is not an exception here: the handshake fails with fingerprint_mismatch saying
  // so, as for any other fingerprint that cannot match.
  // Throws Error(invalid_argument) if options.mtu is below 256 or above 65507, and
  // Error(bad_certificate) if OpenSSL refuses the local certificate.
  DtlsEndpoint(Certificate local, Role role, std::string remote_fingerprint_algorithm,
               std::string remote_fingerprint, DtlsOptions options = {});
  ~DtlsEndpoint();
  DtlsEndpoint(DtlsEndpoint&&) noexcept;
  DtlsEndpoint& operator=(DtlsEndpoint&&) noexcept;
  DtlsEndpoint(const DtlsEndpoint&) = delete;
  DtlsEndpoint& operator=(const DtlsEndpoint&) = delete;

  // new_ -> connecting. The client sends its first flight (ClientHello); the server starts
  // accepting and processes the datagrams that arrived before start(). Later calls no-op.
  void start(Clock::time_point now);

  // One received DTLS datagram (possibly several records). Before start() datagrams are
  // kept (up to 32 datagrams / 64 KiB) and processed by start(): the peer's first flight
  // often arrives before our side of ICE has told us to start, and losing it would cost a
  // retransmission timeout. Malformed records are dropped silently (RFC 6347 section
  // 4.1.2.7). Ignored once failed or closed.
  void handle_receive(Clock::time_point now, std::span<const std::byte> datagram);

  // Retransmits the current flight if its timer expired. Fails (dtls_failed) at the 13th
  // timeout, OpenSSL's fixed limit: 100 ms doubling to 60 s makes that about 4.7 min after
  // start, so in practice ICE consent expiry (RFC 7675, 30 s) ends a dead path first.
  void handle_timeout(Clock::time_point now);

  // When handle_timeout should be called next, or nullopt when no timer runs.
  // OpenSSL keeps its own DTLS timer on the wall clock (gettimeofday) and offers no way to
  // feed it our time. We wrap it: after every input call the deadline is that call's `now`
  // plus the time OpenSSL says remains (DTLSv1_get_timeout). handle_timeout(now) then asks
  // OpenSSL (DTLSv1_handle_timeout), which retransmits only if *its* clock says the timer
  // expired (it treats < 15 ms remaining as expired). So with a virtual clock in tests,
  // retransmissions happen only after real time has passed.
  std::optional<Clock::time_point> next_timeout() const;

  // Pending datagrams to send, in order; f(std::span<const std::byte>) once per datagram,
  // then they are gone. Each datagram is at most options.mtu bytes, except an app-data
  // record from send() of more than max_send_size() bytes. f may call send()/close() of
  // this endpoint (those datagrams are kept for the next drain) but must not drain again.
  template <class F>
  void drain_transmit(F&& f) {
    transmit_queue().drain(std::forward<F>(f));
  }
  // All pending datagrams in one call, f(std::span<const std::span<const std::byte>>), for
  // batched sending (one sendmmsg instead of one sendmsg per datagram).
  template <class F>
  void drain_transmit_batch(F&& f) {
    transmit_queue().drain_all(std::forward<F>(f));
  }
  // Received application data, one span per DTLS record (i.e. per send() of the peer), in
  // the order OpenSSL accepted them. Same rules for f as above.
  template <class F>
  void drain_application_data(F&& f) {
    application_queue().drain(std::forward<F>(f));
  }

  // Sends `data` as one application-data record, i.e. one datagram. Throws
  // Error(invalid_state) unless connected, Error(invalid_argument) above 16384 bytes (the
  // DTLS record limit, RFC 6347 section 4.1.1 / RFC 5246 section 6.2.1). Data above
  // max_send_size() is still sent, in a datagram larger than the MTU: keep under it.
  void send(std::span<const std::byte> data);
  // Largest send() that fits one datagram of options.mtu with the negotiated cipher
  // (MTU minus record header, explicit nonce and tag: 1163 for AES-GCM at 1200); 0 until
  // connected.
  std::size_t max_send_size() const;

  // Sends close_notify (when connected) and moves to closed. During the handshake nothing
  // is sent (OpenSSL cannot shut down mid-handshake); the peer will time out. A failed
  // endpoint stays failed, keeping its error. Idempotent.
  void close();

  // Releases the buffers of our queues when they are empty; they grow again on the next
  // use. For a peer with no traffic for a while: on a busy path it would cost allocations.
  void release_idle_buffers() noexcept;

  DtlsState state() const noexcept;
  // True once after each state transition (several transitions between polls: one true).
  bool state_changed() noexcept;
  // Why the endpoint failed: fingerprint_mismatch (our check of the peer's certificate;
  // the message names both fingerprints) or dtls_failed (handshake failure, fatal alert,
  // retransmission limit; the message carries OpenSSL's reason). Meaningless unless failed.
  peer::Errc error_code() const noexcept;
  const std::string& error_message() const noexcept;

  // Set on entering connected. profile is SrtpProfile::none (and the vectors empty) when
  // the peer did not negotiate use_srtp.
  const std::optional<SrtpKeys>& srtp_keys() const noexcept;
  // The negotiated cipher suite in OpenSSL's naming ("ECDHE-ECDSA-AES128-GCM-SHA256"),
  // for stats (RTCTransportStats.dtlsCipher uses the IANA name); empty until connected.
  const std::string& cipher_name() const noexcept;
  Role role() const noexcept;

 private:
  // Everything lives behind one heap object: OpenSSL's callbacks hold a pointer to it, so
  // the endpoint itself stays movable. A moved-from endpoint may only be destroyed or
  // assigned to.
  struct Impl;
  DatagramQueue& transmit_queue() noexcept;
  DatagramQueue& application_queue() noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace peer::dtls
