#pragma once
// One SCTP association for WebRTC data channels (RFC 8831), carried in DTLS (RFC 8261),
// over usrsctp in no-threads mode, sans-I/O: SCTP packets and the time go in; SCTP packets
// (to wrap in DTLS records), messages and events come out.
//
// Typical use, on the thread that owns the association (the Peer's event loop):
//   Association a(dtls_role_is_client, options);
//   a.set_remote_max_message_size(from the remote SDP);
//   a.connect();                                  // once DTLS is connected
//   a.handle_receive(packet);                     // each DTLS application-data record
//   a.handle_timers(now);                         // every timer_interval while alive
//   after each call: a.drain_transmit(...), a.drain_events(...).
//
// Process-wide usrsctp (sctp_stack.hpp): usrsctp is initialised with the first Association
// and finished with the last. It has one timer wheel for all associations; handle_timers()
// advances it for all of them. So a packet or event of association A can appear while B's
// owner calls B.handle_timers on another thread: it is queued in A (under A's own lock),
// and A's owner learns of it through the wakeup function (set_wakeup), or at the latest
// when it next polls has_output()/has_events() after its own handle_timers tick.
//
// Choices:
// - Simultaneous open: both sides call connect() and both send INIT, as Chromium, Firefox
//   and libdatachannel do (RFC 8841 section 9.3; SCTP resolves the INIT collision, RFC
//   9260 section 5.2.4). `client` (the DTLS client) only decides the stream-id parity of
//   RFC 8832 section 6: the client uses even ids, the server odd ones. Packets received
//   before connect() are kept (up to 16) and fed in after it: an INIT arriving at a socket
//   that is not connecting yet would be answered with an ABORT.
// - Messages larger than options.max_message_size (what we announced in a=max-message-size)
//   from the peer are a protocol violation: the association is aborted and `closed` with
//   reason message_too_large is reported. The message is never delivered truncated.
// - Sending uses explicit EOR: usrsctp may accept only the first part of a message when its
//   send buffer is nearly full; the rest is kept here (one reused buffer) and pushed as
//   space frees, so send() never fails for lack of room for the whole message, and
//   messages larger than the send buffer work. While such a rest is pending, send()
//   returns false. buffered_amount() includes it.
// - Locking: every usrsctp call is made under one process-wide mutex (sctp_stack.hpp), so
//   Associations owned by different threads are safe; each call holds it only for its own
//   usrsctp calls, never while running drain callbacks. Packets usrsctp emits go to the
//   owning association's queue under that queue's own lock, whoever's call emitted them.
// - Events are pulled, never pushed from inside usrsctp: the socket upcall only sets a
//   flag; drain_events() then reads with usrsctp_recvv, one message or notification per
//   lock, and calls f with no lock held.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "peer/error.hpp"

namespace peer::sctp {

struct SctpOptions {
  // a=sctp-port of each side (RFC 8841 section 5); 5000 is what browsers use.
  std::uint16_t local_port = 5000;
  std::uint16_t remote_port = 5000;
  // Largest SCTP packet (common header included) we emit: the DTLS 1.2 AES-GCM record
  // payload that fits a 1200-byte datagram (DtlsEndpoint::max_send_size()). Path MTU
  // discovery is off (RFC 8261 section 5 recommends a safe value of at most 1200 bytes when
  // DF cannot be controlled). At least 524 (usrsctp's smallest PMTU, 512, plus the
  // 12-byte common header).
  std::size_t mtu = 1163;
  // Largest message we accept; announce it as a=max-message-size (RFC 8841 section 6).
  std::uint64_t max_message_size = 262144;
  // usrsctp's SO_SNDBUF / SO_RCVBUF (docs/performance.md lever 4: 1 MiB, more was worse).
  std::size_t send_buffer = std::size_t{1} << 20;
  std::size_t receive_buffer = std::size_t{1} << 20;
  // Streams offered in each direction (SCTP_INITMSG); the association uses the minimum of
  // both sides' offers (outgoing_streams()/incoming_streams()). usrsctp allocates its
  // per-stream state for the negotiated count up front, about 100 bytes per stream and
  // association (measured RSS per association, 16: 30 KiB, 1024: 132 KiB, 2048: 240 KiB,
  // 65535: 6.7 MiB). RFC 8831 section 6.2 recommends 65535 (Firefox offers it), Chromium's
  // usrsctp transport offered 1024. 2048 is the smallest power of two that lets one side
  // open 1,000 channels (its ids are every other one, RFC 8832 section 6).
  std::uint16_t max_streams = 2048;
  // Retransmission timeout bounds (SCTP_RTOINFO). RFC 9260's 1 s minimum and 3 s initial
  // value are for unknown Internet paths; here the path has just carried an ICE check and
  // a DTLS handshake. 200 ms is TCP's usual minimum on Linux; 10 s as libdatachannel.
  std::chrono::milliseconds rto_initial{500};
  std::chrono::milliseconds rto_min{200};
  std::chrono::milliseconds rto_max{10000};
  // Delayed SACK (SCTP_DELAYED_SACK): acknowledge every sack_frequency-th packet, or after
  // sack_delay (docs/performance.md lever 5: 4 is about +10%; only our own SACKs change).
  std::uint32_t sack_frequency = 4;
  std::chrono::milliseconds sack_delay{20};
};

enum class Reliability {
  reliable,  // retransmit until acknowledged
  rexmit,    // at most reliability_parameter retransmissions (RFC 3758 / maxRetransmits)
  timed,     // give up after reliability_parameter ms (maxPacketLifeTime)
};

struct SendOptions {
  bool ordered = true;
  Reliability reliability = Reliability::reliable;
  std::uint32_t reliability_parameter = 0;
};

// Payload protocol identifiers of RFC 8831 section 8 (and DCEP, RFC 8832 section 8.1).
// Other values received are passed through as they are.
enum class Ppid : std::uint32_t {
  dcep = 50,
  string = 51,
  binary = 53,
  string_empty = 56,
  binary_empty = 57,
};

enum class CloseReason {
  remote_abort,       // the peer sent ABORT (closed its peer connection, or gave up)
  shutdown,           // graceful SHUTDOWN completed (either side called shutdown())
  comm_lost,          // retransmissions exhausted: the peer stopped answering
  cant_start,         // the association could not be set up (INIT retransmissions exhausted)
  message_too_large,  // the peer sent more than max_message_size; we aborted
};

struct Event {
  enum class Type {
    connected,     // the association is up; send() may be called
    message,       // a whole message: stream, ppid, unordered, data
    stream_reset,  // the peer reset its outgoing `stream` (RFC 6525): the channel closes
    writable,      // send() returned false earlier and there is room again
    closed,        // the association is gone (reason); no event follows
  };
  Type type = Type::message;
  std::uint16_t stream = 0;
  // For messages: the PPID as received, except that the "empty" PPIDs 56/57 (whose
  // payload is one ignored byte, RFC 8831 section 6.6) are reported as string/binary with
  // an empty `data`.
  Ppid ppid = Ppid::binary;
  bool unordered = false;
  // The message bytes; valid only during the callback (a reused buffer).
  std::span<const std::byte> data;
  CloseReason reason = CloseReason::comm_lost;
};

class Association {
 public:
  using Clock = std::chrono::steady_clock;
  // How often the owner should call handle_timers() while the association lives. usrsctp
  // has no "next deadline" call; its timers (SACK delay, retransmission, heartbeat) have
  // 10 ms or coarser granularity in practice.
  static constexpr std::chrono::milliseconds timer_interval{10};

  // `client`: this side is the DTLS client, and uses even stream ids (RFC 8832 section 6).
  // Creates and configures the usrsctp socket (nothing is sent before connect()).
  // Throws Error(invalid_argument) for options out of range, Error(internal) if usrsctp
  // refuses the socket or an option.
  Association(bool client, SctpOptions options = {});
  // Aborts the association if still open (the ABORT packet is queued but, the object being
  // gone, never drained: call abort() and drain first if the peer should know at once),
  // returns its AF_CONN address to the pool (sctp_stack.hpp) and frees everything; the last
  // Association finishes usrsctp. Must not run inside drain_events' or
  // drain_transmit's callback.
  ~Association();
  Association(const Association&) = delete;
  Association& operator=(const Association&) = delete;
  // usrsctp knows the association by its address id, not by this object: moving is fine. A
  // moved-from Association may only be destroyed or assigned to.
  Association(Association&&) noexcept;
  Association& operator=(Association&&) noexcept;

  // Starts the association: binds and sends INIT (both sides; see above). Later calls no-op.
  void connect();

  // One SCTP packet received (the payload of one DTLS application-data record). Malformed
  // packets are dropped by usrsctp. Before connect() packets are kept (up to 16).
  void handle_receive(std::span<const std::byte> packet);

  // Advances usrsctp's process-wide timers to `now` (see sctp_stack.hpp), and retries stream
  // resets that usrsctp could not take yet.
  void handle_timers(Clock::time_point now);
  // Only the first half of handle_timers: usrsctp's timers, for every association of the
  // process. A process holding many associations calls this once per timer_interval (not
  // each owner: every call walks all of usrsctp's timers); what the timers emit for an
  // association lands in its queue and its wakeup (set_wakeup) tells its owner.
  static void advance_timers(Clock::time_point now);
  // True while a stream reset waits that only handle_timers() retries (usrsctp refused it
  // for now): the owner then calls handle_timers() on its own every timer_interval.
  bool wants_timers() const;

  // Pending SCTP packets, in order: f(std::span<const std::byte>) once per packet, then
  // they are gone. Each is at most options.mtu bytes and carries its CRC32c. No heap
  // allocation per packet: they live in one reused buffer. f may call send() etc. on this
  // association (new packets wait for the next drain) but must not drain again.
  template <class F>
  void drain_transmit(F&& f) {
    drain_transmit_impl(&f,
                        [](void* c, std::span<const std::byte> p) { (*static_cast<F*>(c))(p); });
  }

  // Pending events, in order: f(const Event&). Messages are reassembled from usrsctp's
  // partial deliveries into one reused buffer (grown up to max_message_size). f may call
  // send(), reset_stream() etc. but must not drain events again nor destroy the association.
  template <class F>
  void drain_events(F&& f) {
    drain_events_impl(&f, [](void* c, const Event& e) { (*static_cast<F*>(c))(e); });
  }

  // True when drain_transmit would hand out packets / drain_events may have events.
  bool has_output() const;
  bool has_events() const;

  // Called (from any thread, with usrsctp's process lock held) when this association gets
  // packets or events during a usrsctp call that its owner did not make, i.e. from another
  // owner's handle_timers. It must only schedule work on the owner's thread (post to its
  // loop) and never call into any Association. Called once until the next drain.
  void set_wakeup(std::function<void()> wakeup);

  // Sends one message. Empty data is sent with the "empty" PPID (56/57) and one zero byte,
  // as RFC 8831 section 6.6 requires; DCEP messages are never empty. Returns false when the
  // send buffer is full (or the rest of an earlier message is still pending): retry after
  // the `writable` event.
  // Throws Error(invalid_state) unless connected (also when the association just closed and
  // the `closed` event has not been drained yet), Error(invalid_argument) if data is larger
  // than the remote max-message-size.
  bool send(std::uint16_t stream, Ppid ppid, std::span<const std::byte> data,
            const SendOptions& options = {});

  // The peer's a=max-message-size (RFC 8841 section 6): 0 means no limit; absent from the
  // SDP means 65536 (the default until this is called).
  void set_remote_max_message_size(std::uint64_t size);
  std::uint64_t remote_max_message_size() const noexcept;

  // Resets our outgoing `stream` (RFC 6525 section 5.1.2; closing a data channel, RFC 8831
  // section 6.7): messages already sent on it are delivered first. Requests are batched
  // and retried while usrsctp has one outstanding. The peer sees `stream_reset`.
  // Throws Error(invalid_state) unless connected, Error(invalid_argument) if stream is not
  // below outgoing_streams().
  void reset_stream(std::uint16_t stream);

  // Bytes accepted by send() and not yet acknowledged by the peer (usrsctp's send queue,
  // plus the rest of a message not yet handed to usrsctp).
  std::size_t buffered_amount() const;

  // Releases receive and transmit buffers that hold nothing (a message half received or
  // a tail half sent is kept); they grow again on the next use. For idle associations.
  void release_idle_buffers();

  // The path below changed (an ICE restart selected a new pair): a HEARTBEAT now. After an
  // outage usrsctp has marked our one path unreachable and sends no data on it until a
  // heartbeat is answered; its own come 30 s apart (measured: a minute without data after
  // the restart had mended the path). The answer marks the path reachable and the data
  // goes at once. Drain the transmit queue afterwards. False when usrsctp refused (or not
  // connected).
  bool probe_path();

  // Graceful SHUTDOWN (queued data is delivered first); both sides then see `closed`
  // (shutdown). No-op unless connecting or connected.
  void shutdown();
  // Sends ABORT now and closes; the peer sees `closed` (remote_abort), we see nothing
  // more. Drain the transmit queue afterwards to get the ABORT out. Idempotent.
  void abort();

  bool connected() const noexcept;
  bool closed() const noexcept;
  bool is_client() const noexcept;
  // Streams negotiated with the peer (0 until connected).
  std::uint16_t outgoing_streams() const noexcept;
  std::uint16_t incoming_streams() const noexcept;
  const SctpOptions& options() const noexcept;

 private:
  struct Impl;
  void drain_transmit_impl(void* ctx, void (*cb)(void*, std::span<const std::byte>));
  void drain_events_impl(void* ctx, void (*cb)(void*, const Event&));
  std::unique_ptr<Impl> impl_;
};

}  // namespace peer::sctp
