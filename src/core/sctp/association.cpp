#include "core/sctp/association.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <usrsctp.h>

#include "core/sctp/sctp_stack.hpp"

namespace peer::sctp {

namespace {

// SCTP_GET_SNDBUF_USE is implemented by usrsctp's sctp_getopt (netinet/sctp.h,
// netinet/sctp_uio.h) but not declared in usrsctp.h. ss_total_sndbuf is the association's
// total_output_queue_size: bytes queued or in flight and not yet acknowledged.
constexpr int kSctpGetSndbufUse = 0x00001101;
struct SctpSockstat {
  sctp_assoc_t ss_assoc_id;
  std::uint32_t ss_total_sndbuf;
  std::uint32_t ss_total_recv_buf;
};

// Packets kept before connect() (see the header: an early INIT must not meet a socket that
// is not connecting). A first flight is one packet; the bound only stops a flood.
constexpr std::size_t kMaxEarlyPackets = 16;
// First receive buffer; grows (doubling) up to max_message_size + kReceiveSlack.
constexpr std::size_t kInitialReceive = 16 * 1024;
// Free room always left after a partial message, so a notification interleaved with a
// partial delivery (usrsctp does that, whatever SCTP_FRAGMENT_INTERLEAVE says; see
// libdatachannel's sctptransport.cpp) lands beside it without disturbing it.
constexpr std::size_t kReceiveSlack = 4096;
// Bytes of a notification we keep: the header is all we use, except the stream list of a
// stream-reset event (2 bytes per stream). The payload that SEND_FAILED notifications carry
// back is skipped.
constexpr std::size_t kNotificationKeep = 16 * 1024;
// usrsctp takes at most this many streams per SCTP_RESET_STREAMS request
// (SCTP_MAX_STREAMS_AT_ONCE_RESET in netinet/sctp_structs.h).
constexpr std::size_t kMaxResetBatch = 200;
// SCTP common header (RFC 9260 section 3.1).
constexpr std::size_t kCommonHeader = 12;
// usrsctp's smallest path MTU (SCTP_SMALLEST_PMTU), plus the common header.
constexpr std::size_t kMinMtu = 512 + kCommonHeader;

// The association whose owner is inside one of its methods on this thread: packets and
// upcalls for it need no wakeup, the owner drains after the call.
thread_local const void* tl_current = nullptr;

struct CurrentGuard {
  const void* previous;
  explicit CurrentGuard(const void* self) noexcept : previous(tl_current) { tl_current = self; }
  ~CurrentGuard() { tl_current = previous; }
  CurrentGuard(const CurrentGuard&) = delete;
  CurrentGuard& operator=(const CurrentGuard&) = delete;
};

// A byte buffer that grows without value-initialising and is then reused.
struct ByteBuffer {
  std::unique_ptr<std::byte[]> data;
  std::size_t capacity = 0;

  // Keeps the first `keep` bytes.
  void grow(std::size_t need, std::size_t keep) {
    if (need <= capacity) return;
    std::size_t cap = capacity == 0 ? 4096 : capacity;
    while (cap < need) cap *= 2;
    auto grown = std::make_unique_for_overwrite<std::byte[]>(cap);
    if (keep != 0) std::memcpy(grown.get(), data.get(), keep);
    data = std::move(grown);
    capacity = cap;
  }
};

// Packets in one buffer plus their end offsets (as dtls::DatagramQueue).
struct PacketList {
  ByteBuffer bytes;
  std::size_t size = 0;
  std::vector<std::size_t> ends;

  void push(std::span<const std::byte> packet) {
    bytes.grow(size + packet.size(), size);
    if (!packet.empty()) std::memcpy(bytes.data.get() + size, packet.data(), packet.size());
    size += packet.size();
    ends.push_back(size);
  }
  void clear() noexcept {
    size = 0;
    ends.clear();
  }
  void release() noexcept {
    bytes = ByteBuffer{};
    size = 0;
    ends = {};
  }
};

[[noreturn]] void fail(const char* what, int err) {
  throw Error(Errc::internal, fmt::format("usrsctp: {} failed: {}", what, std::strerror(err)));
}

}  // namespace

struct Association::Impl final : stack::Sink {
  enum class State { idle, connecting, connected, closed };

  Impl(bool is_client, SctpOptions opts);
  ~Impl() { teardown(); }

  // stack::Sink (any thread, registry lock held).
  void on_packet(std::span<const std::byte> packet) noexcept override;
  void on_upcall() noexcept override;

  void setup_socket();  // mutex() held
  void teardown() noexcept;
  void close_socket() noexcept;  // mutex() held
  void wake() noexcept;

  enum class Read { none, partial, message, notification, too_large };
  Read read_one();  // mutex() held
  void deliver_notification(void* ctx, void (*cb)(void*, const Event&));
  void report_closed(void* ctx, void (*cb)(void*, const Event&), CloseReason reason);
  // Hands usrsctp the next piece of a message (mutex() held): at most send_buffer bytes (a
  // larger call fails with EMSGSIZE instead of EWOULDBLOCK when the buffer is full), marked
  // end of record only when it holds the message's last byte. In explicit-EOR mode usrsctp
  // completes a message only when a call marked EOR is taken whole, and appends every
  // later call to it until then.
  ssize_t send_piece(const std::byte* data, std::size_t size, const sctp_sendv_spa& spa);
  enum class Push { done, blocked, failed };
  Push push_tail();  // mutex() held
  void flush_resets();

  const bool client;
  const SctpOptions options;
  std::uint64_t remote_max = 65536;  // RFC 8841 section 6: absent a=max-message-size
  std::uintptr_t id = 0;             // our AF_CONN address (sctp_stack.hpp); 0 when detached
  bool acquired = false;
  struct socket* sock = nullptr;
  State state = State::idle;
  bool closed_reported = false;
  std::uint16_t out_streams = 0;
  std::uint16_t in_streams = 0;
  std::vector<std::vector<std::byte>> early;

  // Packets from usrsctp, filled by on_packet from any thread: live under tx_mutex; spare
  // belongs to the draining owner.
  mutable std::mutex tx_mutex;
  PacketList tx_live;
  PacketList tx_spare;
  bool tx_draining = false;

  std::atomic<bool> readable{false};
  std::atomic<bool> wake_pending{false};
  std::function<void()> wakeup;  // set before connect(), then only read

  // Receive side: the message being assembled at rx[0, rx_len); notifications land after it.
  ByteBuffer rx;
  std::size_t rx_len = 0;
  bool rx_in_message = false;
  std::uint16_t rx_stream = 0;
  std::uint32_t rx_ppid = 0;
  bool rx_unordered = false;
  ByteBuffer notification;
  std::size_t notification_len = 0;    // bytes kept
  std::size_t notification_total = 0;  // bytes received

  // The rest of a message usrsctp accepted only in part, and how to send it.
  ByteBuffer tail;
  std::size_t tail_begin = 0;
  std::size_t tail_end = 0;
  sctp_sendv_spa tail_spa{};
  bool blocked = false;  // send() returned false; report `writable` when room comes back

  std::vector<std::uint16_t> pending_resets;
  std::vector<std::byte> reset_request;
};

Association::Impl::Impl(bool is_client, SctpOptions opts) : client(is_client), options(opts) {
  if (options.mtu < kMinMtu || options.mtu > 65535)
    throw Error(Errc::invalid_argument,
                fmt::format("SCTP mtu {} is out of range [{}, 65535]", options.mtu, kMinMtu));
  if (options.max_message_size == 0)
    throw Error(Errc::invalid_argument, "SCTP max_message_size must be positive");
  constexpr std::size_t kMaxBuffer = 0x7FFFFFFF;
  if (options.send_buffer < 4096 || options.send_buffer > kMaxBuffer ||
      options.receive_buffer < 4096 || options.receive_buffer > kMaxBuffer)
    throw Error(Errc::invalid_argument, "SCTP send/receive buffers must be 4 KiB to 2 GiB");
  if (options.max_streams == 0)
    throw Error(Errc::invalid_argument, "SCTP max_streams must be positive");
  if (options.rto_min.count() <= 0 || options.rto_min > options.rto_initial ||
      options.rto_initial > options.rto_max || options.rto_max.count() > 0xFFFFFFFF)
    throw Error(Errc::invalid_argument,
                "SCTP RTO bounds need 0 < rto_min <= rto_initial <= rto_max");
  if (options.sack_frequency == 0 || options.sack_delay.count() <= 0 ||
      options.sack_delay.count() > 500)
    throw Error(Errc::invalid_argument,
                "SCTP sack_frequency must be positive and sack_delay within (0, 500] ms");
  try {
    stack::acquire();
    acquired = true;
    std::lock_guard lock(stack::mutex());
    id = stack::attach(this);
    sock = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
    if (sock == nullptr) fail("usrsctp_socket", errno);
    setup_socket();
  } catch (...) {
    teardown();
    throw;
  }
}

void Association::Impl::setup_socket() {
  auto set = [&](int level, int name, const void* value, std::size_t len, const char* what) {
    if (usrsctp_setsockopt(sock, level, name, value, static_cast<socklen_t>(len)) != 0)
      fail(what, errno);
  };
  // Readiness is learnt through the upcall (a flag; nothing is read inside usrsctp's call).
  if (usrsctp_set_upcall(sock, &stack::upcall, stack::address(id)) != 0)
    fail("usrsctp_set_upcall", errno);
  if (usrsctp_set_non_blocking(sock, 1) != 0) fail("usrsctp_set_non_blocking", errno);

  // close() sends ABORT instead of a graceful SHUTDOWN that nobody would drive any more
  // (the owner is destroying us); shutdown() stays graceful.
  const linger no_linger{1, 0};
  set(SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger, "SO_LINGER");
  const int buffer_send = static_cast<int>(options.send_buffer);
  const int buffer_receive = static_cast<int>(options.receive_buffer);
  set(SOL_SOCKET, SO_SNDBUF, &buffer_send, sizeof buffer_send, "SO_SNDBUF");
  set(SOL_SOCKET, SO_RCVBUF, &buffer_receive, sizeof buffer_receive, "SO_RCVBUF");

  // RFC 6525 stream reset, to close channels (RFC 8831 section 6.7); needed to accept the
  // peer's requests as well as to make ours.
  const sctp_assoc_value reset{SCTP_FUTURE_ASSOC, SCTP_ENABLE_RESET_STREAM_REQ};
  set(IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof reset, "SCTP_ENABLE_STREAM_RESET");
  const int on = 1;
  set(IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on, "SCTP_RECVRCVINFO");
  set(IPPROTO_SCTP, SCTP_EXPLICIT_EOR, &on, sizeof on, "SCTP_EXPLICIT_EOR");
  // RFC 8831 section 6.6: the sender SHOULD disable Nagle.
  set(IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on, "SCTP_NODELAY");
  // No interleaving of messages in partial delivery (RFC 6458 section 8.1.20 level 0).
  const int level = 0;
  set(IPPROTO_SCTP, SCTP_FRAGMENT_INTERLEAVE, &level, sizeof level, "SCTP_FRAGMENT_INTERLEAVE");

  for (const std::uint16_t type : {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT,
                                   SCTP_SENDER_DRY_EVENT, SCTP_SEND_FAILED_EVENT}) {
    sctp_event event{};
    event.se_assoc_id = SCTP_FUTURE_ASSOC;
    event.se_on = 1;
    event.se_type = type;
    set(IPPROTO_SCTP, SCTP_EVENT, &event, sizeof event, "SCTP_EVENT");
  }

  // Fixed MTU, no path MTU discovery (usrsctp does not implement RFC 4821 probing). For
  // AF_CONN, usrsctp's path MTU is the room for chunks: the 12-byte common header comes on
  // top (measured: spp_pathmtu 1163 gave 1172-byte packets). So every packet is at most
  // options.mtu bytes: one DTLS record in one datagram.
  sctp_paddrparams params{};
  params.spp_assoc_id = SCTP_FUTURE_ASSOC;
  params.spp_flags = SPP_PMTUD_DISABLE;
  params.spp_pathmtu = static_cast<std::uint32_t>(options.mtu - kCommonHeader);
  set(IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &params, sizeof params, "SCTP_PEER_ADDR_PARAMS");

  sctp_initmsg init{};
  init.sinit_num_ostreams = options.max_streams;
  init.sinit_max_instreams = options.max_streams;
  set(IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init, "SCTP_INITMSG");

  sctp_sack_info sack{};
  sack.sack_assoc_id = SCTP_FUTURE_ASSOC;
  sack.sack_delay = static_cast<std::uint32_t>(options.sack_delay.count());
  sack.sack_freq = options.sack_frequency;
  set(IPPROTO_SCTP, SCTP_DELAYED_SACK, &sack, sizeof sack, "SCTP_DELAYED_SACK");

  sctp_rtoinfo rto{};
  rto.srto_assoc_id = SCTP_FUTURE_ASSOC;
  rto.srto_initial = static_cast<std::uint32_t>(options.rto_initial.count());
  rto.srto_max = static_cast<std::uint32_t>(options.rto_max.count());
  rto.srto_min = static_cast<std::uint32_t>(options.rto_min.count());
  set(IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof rto, "SCTP_RTOINFO");
}

void Association::Impl::close_socket() noexcept {
  if (sock == nullptr) return;
  // SO_LINGER 0: ABORT if the association is still up. Our upcall stays set: a late upcall
  // finds our id gone from the registry and does nothing.
  usrsctp_close(sock);
  sock = nullptr;
}

void Association::Impl::teardown() noexcept {
  {
    CurrentGuard current(this);
    std::lock_guard lock(stack::mutex());
    close_socket();
    if (id != 0) stack::detach(id);
    id = 0;
  }
  if (acquired) stack::release();
  acquired = false;
}

void Association::Impl::wake() noexcept {
  if (tl_current == this || !wakeup) return;
  if (wake_pending.exchange(true)) return;
  try {
    wakeup();
  } catch (...) {
    // Nothing may cross usrsctp's C frames; the owner still polls has_output().
  }
}

void Association::Impl::on_packet(std::span<const std::byte> packet) noexcept {
  try {
    std::lock_guard lock(tx_mutex);
    tx_live.push(packet);
  } catch (...) {
    return;  // out of memory: the packet is lost, SCTP retransmits
  }
  wake();
}

void Association::Impl::on_upcall() noexcept {
  readable.store(true);
  wake();
}

Association::Impl::Read Association::Impl::read_one() {
  if (sock == nullptr) return Read::none;
  // Keep kReceiveSlack free after the partial message; rx_len never exceeds
  // max_message_size (checked below), so the limit always leaves that much room.
  const std::size_t limit =
      static_cast<std::size_t>(std::min<std::uint64_t>(options.max_message_size, SIZE_MAX / 4)) +
      kReceiveSlack;
  if (rx.capacity < rx_len + kReceiveSlack)
    rx.grow(std::min(std::max(rx_len + kReceiveSlack, kInitialReceive), limit), rx_len);
  else if (rx_in_message && rx.capacity - rx_len < rx.capacity / 2 && rx.capacity < limit)
    rx.grow(std::min(rx.capacity * 2, limit), rx_len);  // fewer, larger reads for big messages

  sctp_rcvinfo info{};
  socklen_t info_len = sizeof info;
  socklen_t from_len = 0;
  unsigned int info_type = 0;
  int flags = 0;
  std::byte* at = rx.data.get() + rx_len;
  const ssize_t n = usrsctp_recvv(sock, at, rx.capacity - rx_len, nullptr, &from_len, &info,
                                  &info_len, &info_type, &flags);
  if (n < 0) return Read::none;  // EWOULDBLOCK, or the association is gone
  const auto got = static_cast<std::size_t>(n);
  if ((flags & MSG_NOTIFICATION) != 0) {
    const std::size_t keep = std::min(got, kNotificationKeep - notification_len);
    if (keep != 0) {
      notification.grow(notification_len + keep, notification_len);
      std::memcpy(notification.data.get() + notification_len, at, keep);
      notification_len += keep;
    }
    notification_total += got;
    return (flags & MSG_EOR) != 0 ? Read::notification : Read::partial;
  }
  if (got == 0 && (flags & MSG_EOR) == 0) return Read::none;  // end of stream
  if (!rx_in_message) {
    rx_in_message = true;
    const bool have_info = info_type == SCTP_RECVV_RCVINFO;
    rx_stream = have_info ? info.rcv_sid : 0;
    rx_ppid = have_info ? ntohl(info.rcv_ppid) : 0;
    rx_unordered = have_info && (info.rcv_flags & SCTP_UNORDERED) != 0;
  }
  rx_len += got;
  if (rx_len > options.max_message_size) return Read::too_large;
  return (flags & MSG_EOR) != 0 ? Read::message : Read::partial;
}

void Association::Impl::report_closed(void* ctx, void (*cb)(void*, const Event&),
                                      CloseReason reason) {
  state = State::closed;
  closed_reported = true;
  blocked = false;
  tail_begin = tail_end = 0;
  pending_resets.clear();
  Event event;
  event.type = Event::Type::closed;
  event.reason = reason;
  cb(ctx, event);
}

void Association::Impl::deliver_notification(void* ctx, void (*cb)(void*, const Event&)) {
  const std::size_t len = notification_len;
  const std::size_t total = notification_total;
  notification_len = notification_total = 0;
  if (len < sizeof(sctp_notification::sn_header)) return;
  const auto* n = reinterpret_cast<const sctp_notification*>(notification.data.get());
  switch (n->sn_header.sn_type) {
    case SCTP_ASSOC_CHANGE: {
      if (len < sizeof(sctp_assoc_change)) return;
      const sctp_assoc_change& change = n->sn_assoc_change;
      switch (change.sac_state) {
        case SCTP_COMM_UP: {
          if (state == State::connected || state == State::closed) return;
          state = State::connected;
          out_streams = change.sac_outbound_streams;
          in_streams = change.sac_inbound_streams;
          Event event;
          event.type = Event::Type::connected;
          cb(ctx, event);
          return;
        }
        case SCTP_COMM_LOST: {
          // usrsctp appends the ABORT chunk that ended the association when the peer sent
          // one (type 6, RFC 9260 section 3.3.7); a local give-up has none.
          const bool abort_chunk = total > sizeof(sctp_assoc_change) &&
                                   len > sizeof(sctp_assoc_change) &&
                                   change.sac_info[0] == SCTP_ABORT_ASSOCIATION;
          report_closed(ctx, cb, abort_chunk ? CloseReason::remote_abort : CloseReason::comm_lost);
          return;
        }
        case SCTP_SHUTDOWN_COMP:
          report_closed(ctx, cb, CloseReason::shutdown);
          return;
        case SCTP_CANT_STR_ASSOC:
          report_closed(ctx, cb, CloseReason::cant_start);
          return;
        default:  // SCTP_RESTART: the peer restarted with the same ports; carry on
          return;
      }
    }
    case SCTP_STREAM_RESET_EVENT: {
      if (len < sizeof(sctp_stream_reset_event)) return;
      const sctp_stream_reset_event& reset = n->sn_strreset_event;
      const std::size_t listed =
          (std::min<std::size_t>(reset.strreset_length, len) - sizeof(sctp_stream_reset_event)) /
          sizeof(std::uint16_t);
      const std::uint16_t flags = reset.strreset_flags;
      const bool refused = (flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) != 0;
      if ((flags & SCTP_STREAM_RESET_INCOMING_SSN) != 0 && !refused) {
        for (std::size_t i = 0; i < listed; ++i) {
          Event event;
          event.type = Event::Type::stream_reset;
          event.stream = reset.strreset_stream_list[i];
          cb(ctx, event);
          if (closed_reported) return;
        }
      }
      // Our own request was answered: the next batch may go.
      if ((flags & SCTP_STREAM_RESET_OUTGOING_SSN) != 0) flush_resets();
      return;
    }
    default:
      // SCTP_SENDER_DRY_EVENT: `writable` is checked after every drain anyway.
      // SCTP_SEND_FAILED_EVENT: a message abandoned under partial reliability (or unsent
      // at close); nothing to report per message.
      return;
  }
}

ssize_t Association::Impl::send_piece(const std::byte* data, std::size_t size,
                                      const sctp_sendv_spa& spa) {
  sctp_sendv_spa piece = spa;
  const std::size_t len = std::min(size, options.send_buffer);
  if (len == size)
    piece.sendv_sndinfo.snd_flags |= SCTP_EOR;
  else
    piece.sendv_sndinfo.snd_flags &= static_cast<std::uint16_t>(~SCTP_EOR);
  return usrsctp_sendv(sock, data, len, nullptr, 0, &piece, sizeof piece, SCTP_SENDV_SPA, 0);
}

Association::Impl::Push Association::Impl::push_tail() {
  while (tail_begin < tail_end) {
    if (sock == nullptr) return Push::failed;
    const ssize_t n = send_piece(tail.data.get() + tail_begin, tail_end - tail_begin, tail_spa);
    if (n < 0) return errno == EWOULDBLOCK || errno == EAGAIN ? Push::blocked : Push::failed;
    if (n == 0) return Push::blocked;
    tail_begin += static_cast<std::size_t>(n);
  }
  tail_begin = tail_end = 0;
  return Push::done;
}

void Association::Impl::flush_resets() {
  if (pending_resets.empty() || state != State::connected || sock == nullptr) return;
  // A stream whose last message usrsctp holds only in part (the rest is our tail) is reset
  // once the tail has gone in: usrsctp would otherwise wait forever for the message's end
  // before sending the request, and the tail could never follow. It is moved to the back
  // and left out of this request.
  std::size_t count = std::min(pending_resets.size(), kMaxResetBatch);
  if (tail_begin < tail_end) {
    const std::uint16_t busy = tail_spa.sendv_sndinfo.snd_sid;
    const auto kept = std::stable_partition(pending_resets.begin(), pending_resets.end(),
                                            [busy](std::uint16_t s) { return s != busy; });
    count = std::min(static_cast<std::size_t>(kept - pending_resets.begin()), kMaxResetBatch);
    if (count == 0) return;  // retried on the next timer tick
  }
  reset_request.assign(sizeof(sctp_reset_streams) + count * sizeof(std::uint16_t), std::byte{0});
  auto* request = reinterpret_cast<sctp_reset_streams*>(reset_request.data());
  request->srs_assoc_id = SCTP_FUTURE_ASSOC;
  request->srs_flags = SCTP_STREAM_RESET_OUTGOING;
  request->srs_number_streams = static_cast<std::uint16_t>(count);
  std::copy_n(pending_resets.begin(), count, request->srs_stream_list);
  int result;
  int err;
  {
    CurrentGuard current(this);
    std::lock_guard lock(stack::mutex());
    result = usrsctp_setsockopt(sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, request,
                                static_cast<socklen_t>(reset_request.size()));
    err = errno;
  }
  if (result != 0 && (err == EALREADY || err == EBUSY || err == EAGAIN || err == EINPROGRESS))
    return;  // one request outstanding: retried on its answer or the next timer tick
  // Done, or refused for good (a stream already being reset): either way not retried.
  pending_resets.erase(pending_resets.begin(),
                       pending_resets.begin() + static_cast<std::ptrdiff_t>(count));
}

// Association -------------------------------------------------------------------------

Association::Association(bool client, SctpOptions options)
    : impl_(std::make_unique<Impl>(client, options)) {}

Association::~Association() = default;
Association::Association(Association&&) noexcept = default;
Association& Association::operator=(Association&&) noexcept = default;

void Association::connect() {
  Impl& s = *impl_;
  if (s.state != Impl::State::idle || s.sock == nullptr) return;
  CurrentGuard current(&s);
  {
    std::lock_guard lock(stack::mutex());
    sockaddr_conn address{};
    address.sconn_family = AF_CONN;
    address.sconn_port = htons(s.options.local_port);
    address.sconn_addr = stack::address(s.id);
    if (usrsctp_bind(s.sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      // A pooled address whose previous endpoint usrsctp has not freed yet: take a new one.
      if (errno != EADDRINUSE) fail("usrsctp_bind", errno);
      stack::detach(s.id);
      s.id = stack::attach(&s, true);
      address.sconn_addr = stack::address(s.id);
      if (usrsctp_set_upcall(s.sock, &stack::upcall, stack::address(s.id)) != 0 ||
          usrsctp_bind(s.sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        fail("usrsctp_bind", errno);
    }
    address.sconn_port = htons(s.options.remote_port);
    if (usrsctp_connect(s.sock, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 &&
        errno != EINPROGRESS)
      fail("usrsctp_connect", errno);
    s.state = Impl::State::connecting;
    for (const auto& packet : s.early)
      usrsctp_conninput(stack::address(s.id), packet.data(), packet.size(), 0);
  }
  s.early.clear();
  s.early.shrink_to_fit();
}

void Association::handle_receive(std::span<const std::byte> packet) {
  Impl& s = *impl_;
  if (s.state == Impl::State::idle) {
    if (s.early.size() < kMaxEarlyPackets) s.early.emplace_back(packet.begin(), packet.end());
    return;
  }
  if (s.state == Impl::State::closed || s.sock == nullptr) return;
  stack::note_input();
  CurrentGuard current(&s);
  std::lock_guard lock(stack::mutex());
  usrsctp_conninput(stack::address(s.id), packet.data(), packet.size(), 0);
}

void Association::handle_timers(Clock::time_point now) {
  CurrentGuard current(impl_.get());
  stack::handle_timers(now);
  impl_->flush_resets();
}

void Association::advance_timers(Clock::time_point now) {
  stack::handle_timers(now);
}

bool Association::wants_timers() const {
  return !impl_->pending_resets.empty() && impl_->state == Impl::State::connected;
}

void Association::drain_transmit_impl(void* ctx, void (*cb)(void*, std::span<const std::byte>)) {
  Impl& s = *impl_;
  assert(!s.tx_draining);
  {
    std::lock_guard lock(s.tx_mutex);
    s.wake_pending.store(false);
    if (s.tx_live.ends.empty()) return;
    std::swap(s.tx_live, s.tx_spare);
  }
  s.tx_draining = true;
  struct Guard {
    Impl& s;
    ~Guard() {
      s.tx_spare.clear();
      s.tx_draining = false;
    }
  } guard{s};
  std::size_t begin = 0;
  for (const std::size_t end : s.tx_spare.ends) {
    cb(ctx, std::span<const std::byte>(s.tx_spare.bytes.data.get() + begin, end - begin));
    begin = end;
  }
}

void Association::drain_events_impl(void* ctx, void (*cb)(void*, const Event&)) {
  Impl& s = *impl_;
  CurrentGuard current(&s);
  s.wake_pending.store(false);
  while (!s.closed_reported) {
    if (s.readable.exchange(false)) {
      for (;;) {
        Impl::Read read;
        {
          std::lock_guard lock(stack::mutex());
          read = s.read_one();
          if (read == Impl::Read::too_large) s.close_socket();  // sends ABORT
        }
        if (read == Impl::Read::none) break;
        if (read == Impl::Read::partial) continue;
        if (read == Impl::Read::too_large) {
          s.rx_len = 0;
          s.rx_in_message = false;
          s.report_closed(ctx, cb, CloseReason::message_too_large);
          return;
        }
        if (read == Impl::Read::notification) {
          s.deliver_notification(ctx, cb);
          if (s.closed_reported) return;
          continue;
        }
        // A whole message. The "empty" PPIDs carry one byte that is not data.
        Event event;
        event.type = Event::Type::message;
        event.stream = s.rx_stream;
        event.unordered = s.rx_unordered;
        event.ppid = static_cast<Ppid>(s.rx_ppid);
        event.data = std::span<const std::byte>(s.rx.data.get(), s.rx_len);
        if (event.ppid == Ppid::string_empty || event.ppid == Ppid::binary_empty) {
          event.ppid = event.ppid == Ppid::string_empty ? Ppid::string : Ppid::binary;
          event.data = {};
        }
        s.rx_len = 0;
        s.rx_in_message = false;
        cb(ctx, event);
      }
    }
    if (s.blocked && s.state == Impl::State::connected) {
      Impl::Push push;
      bool room = false;
      {
        std::lock_guard lock(stack::mutex());
        push = s.push_tail();
        if (push == Impl::Push::done)
          room = (usrsctp_get_events(s.sock) & SCTP_EVENT_WRITE) != 0;
        else if (push == Impl::Push::failed)
          s.close_socket();  // a message half handed over must not swallow the next one
      }
      if (push == Impl::Push::done) s.flush_resets();  // one may have waited for the tail
      if (push == Impl::Push::failed) {
        // Not a dead association (its notification would have been read above): usrsctp
        // refused the rest of a message for another reason. Nothing sensible remains.
        s.report_closed(ctx, cb, CloseReason::comm_lost);
        return;
      }
      if (room) {
        s.blocked = false;
        Event event;
        event.type = Event::Type::writable;
        cb(ctx, event);
      }
    }
    if (!s.readable.load()) return;
  }
}

bool Association::has_output() const {
  std::lock_guard lock(impl_->tx_mutex);
  return !impl_->tx_live.ends.empty();
}

bool Association::has_events() const {
  return impl_->readable.load() || (impl_->blocked && impl_->state == Impl::State::connected);
}

void Association::set_wakeup(std::function<void()> wakeup) {
  if (impl_->state != Impl::State::idle)
    throw Error(Errc::invalid_state, "set_wakeup must be called before connect()");
  impl_->wakeup = std::move(wakeup);
}

bool Association::send(std::uint16_t stream, Ppid ppid, std::span<const std::byte> data,
                       const SendOptions& options) {
  Impl& s = *impl_;
  if (s.state != Impl::State::connected || s.sock == nullptr)
    throw Error(Errc::invalid_state, s.state == Impl::State::closed
                                         ? "the SCTP association is closed"
                                         : "the SCTP association is not connected yet: wait for "
                                           "the connected event");
  if (s.remote_max != 0 && data.size() > s.remote_max)
    throw Error(Errc::invalid_argument,
                fmt::format("message of {} bytes exceeds the remote max-message-size of {} bytes",
                            data.size(), s.remote_max));
  if (stream >= s.out_streams)
    throw Error(Errc::invalid_argument,
                fmt::format("SCTP stream {} is not below the {} negotiated outgoing streams",
                            stream, s.out_streams));
  static constexpr std::byte kZero{0};
  std::span<const std::byte> payload = data;
  if (ppid == Ppid::string_empty || ppid == Ppid::binary_empty) {
    if (!data.empty())
      throw Error(Errc::invalid_argument, "the empty-message PPIDs 56/57 carry no data");
    payload = std::span<const std::byte>(&kZero, 1);
  } else if (data.empty()) {
    if (ppid != Ppid::string && ppid != Ppid::binary)
      throw Error(Errc::invalid_argument,
                  "SCTP cannot carry an empty message except as string or binary");
    ppid = ppid == Ppid::string ? Ppid::string_empty : Ppid::binary_empty;
    payload = std::span<const std::byte>(&kZero, 1);
  }
  if (s.tail_begin != s.tail_end) {
    s.blocked = true;
    return false;
  }

  sctp_sendv_spa spa{};
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = stream;
  if (!options.ordered) spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
  spa.sendv_sndinfo.snd_ppid = htonl(static_cast<std::uint32_t>(ppid));
  if (options.reliability != Reliability::reliable) {
    spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
    spa.sendv_prinfo.pr_policy =
        options.reliability == Reliability::rexmit ? SCTP_PR_SCTP_RTX : SCTP_PR_SCTP_TTL;
    spa.sendv_prinfo.pr_value = options.reliability_parameter;
  }

  ssize_t sent;
  int err;
  {
    CurrentGuard current(&s);
    std::lock_guard lock(stack::mutex());
    sent = s.send_piece(payload.data(), payload.size(), spa);
    err = errno;
  }
  if (sent < 0) {
    if (err == EWOULDBLOCK || err == EAGAIN) {
      s.blocked = true;
      return false;
    }
    throw Error(Errc::invalid_state, fmt::format("SCTP send failed: {}", std::strerror(err)));
  }
  const auto accepted = static_cast<std::size_t>(sent);
  if (accepted < payload.size()) {
    // usrsctp took the first part (explicit EOR); the rest follows, before any other message,
    // as space frees up (drain_events).
    const std::size_t rest = payload.size() - accepted;
    s.tail.grow(rest, 0);
    std::memcpy(s.tail.data.get(), payload.data() + accepted, rest);
    s.tail_begin = 0;
    s.tail_end = rest;
    s.tail_spa = spa;
    s.blocked = true;  // report `writable` once the rest is out and there is room
  }
  return true;
}

void Association::set_remote_max_message_size(std::uint64_t size) {
  impl_->remote_max = size;
}

std::uint64_t Association::remote_max_message_size() const noexcept {
  return impl_->remote_max;
}

void Association::reset_stream(std::uint16_t stream) {
  Impl& s = *impl_;
  if (s.state != Impl::State::connected)
    throw Error(Errc::invalid_state, "the SCTP association is not connected");
  if (stream >= s.out_streams)
    throw Error(Errc::invalid_argument,
                fmt::format("SCTP stream {} is not below the {} negotiated outgoing streams",
                            stream, s.out_streams));
  if (std::find(s.pending_resets.begin(), s.pending_resets.end(), stream) == s.pending_resets.end())
    s.pending_resets.push_back(stream);
  s.flush_resets();
}

std::size_t Association::buffered_amount() const {
  const Impl& s = *impl_;
  std::size_t amount = s.tail_end - s.tail_begin;
  if (s.sock == nullptr || s.state != Impl::State::connected) return amount;
  SctpSockstat stat{};
  socklen_t len = sizeof stat;
  std::lock_guard lock(stack::mutex());
  if (usrsctp_getsockopt(s.sock, IPPROTO_SCTP, kSctpGetSndbufUse, &stat, &len) == 0)
    amount += stat.ss_total_sndbuf;
  return amount;
}

void Association::release_idle_buffers() {
  Impl& s = *impl_;
  // rx, notification and tail are touched only by the owner (this thread); the packet
  // lists also by on_packet, under tx_mutex.
  if (!s.rx_in_message && s.rx_len == 0) s.rx = ByteBuffer{};
  if (s.notification_len == 0) s.notification = ByteBuffer{};
  if (s.tail_begin == s.tail_end) {
    s.tail = ByteBuffer{};
    s.tail_begin = s.tail_end = 0;
  }
  if (s.state == Impl::State::connected) s.early = {};
  std::lock_guard lock(s.tx_mutex);
  if (s.tx_draining) return;
  if (s.tx_live.ends.empty()) s.tx_live.release();
  if (s.tx_spare.ends.empty()) s.tx_spare.release();
}

bool Association::probe_path() {
  Impl& s = *impl_;
  if (s.state != Impl::State::connected || s.sock == nullptr) return false;
  CurrentGuard current(&s);
  std::lock_guard lock(stack::mutex());
  // RFC 6458 section 8.1.12: SPP_HB_DEMAND sends a HEARTBEAT on the path now. usrsctp acts
  // on it only for a named path: ours is the AF_CONN address given to connect().
  sctp_paddrparams params{};
  sockaddr_conn address{};
  address.sconn_family = AF_CONN;
  address.sconn_port = htons(s.options.remote_port);
  address.sconn_addr = stack::address(s.id);
  std::memcpy(&params.spp_address, &address, sizeof address);
  params.spp_flags = SPP_HB_DEMAND;
  return usrsctp_setsockopt(s.sock, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &params, sizeof params) == 0;
}

void Association::shutdown() {
  Impl& s = *impl_;
  if ((s.state != Impl::State::connecting && s.state != Impl::State::connected) ||
      s.sock == nullptr)
    return;
  CurrentGuard current(&s);
  std::lock_guard lock(stack::mutex());
  usrsctp_shutdown(s.sock, SHUT_WR);
}

void Association::abort() {
  Impl& s = *impl_;
  {
    CurrentGuard current(&s);
    std::lock_guard lock(stack::mutex());
    s.close_socket();
  }
  s.state = Impl::State::closed;
  s.closed_reported = true;
  s.blocked = false;
  s.tail_begin = s.tail_end = 0;
  s.pending_resets.clear();
}

bool Association::connected() const noexcept {
  return impl_->state == Impl::State::connected;
}
bool Association::closed() const noexcept {
  return impl_->state == Impl::State::closed;
}
bool Association::is_client() const noexcept {
  return impl_->client;
}
std::uint16_t Association::outgoing_streams() const noexcept {
  return impl_->out_streams;
}
std::uint16_t Association::incoming_streams() const noexcept {
  return impl_->in_streams;
}
const SctpOptions& Association::options() const noexcept {
  return impl_->options;
}

}  // namespace peer::sctp
