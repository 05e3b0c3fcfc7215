#include "core/sctp/sctp_stack.hpp"

#include <atomic>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>

#include <usrsctp.h>

#include "core/sctp/crc32c.hpp"

namespace peer::sctp::stack {

namespace {

// Everything below is guarded by mutex() except the registry (registry_mutex) and the
// counters (atomics). Leaked on purpose: an Association destroyed during static
// destruction must still find it.
struct State {
  std::mutex usrsctp;  // every usrsctp call
  bool running = false;
  std::size_t users = 0;
  std::uint64_t inits = 0;
  std::uint64_t finishes = 0;
  std::optional<Clock::time_point> last_tick;

  std::deque<std::uintptr_t> pool;  // registered with usrsctp, unused
  std::size_t addresses = 0;        // registered with usrsctp
  std::uintptr_t next_id = 1;

  std::mutex registry_mutex;
  std::unordered_map<std::uintptr_t, Sink*> registry;

  std::atomic<std::uint64_t> packets{0};
  std::atomic<std::uint64_t> inputs{0};
  std::atomic<void (*)()> waker{nullptr};
  std::atomic<std::uint64_t> stale_packets{0};
  std::atomic<std::uint64_t> crc_compared{0};
  std::atomic<std::uint64_t> crc_mismatched{0};
};

State& state() {
  static State* s = new State;
  return *s;
}

Sink* find(State& s, void* id) {
  auto it = s.registry.find(reinterpret_cast<std::uintptr_t>(id));
  return it == s.registry.end() ? nullptr : it->second;
}

void wake_waiter(State& s) noexcept {
  if (s.waker.load(std::memory_order_relaxed) == nullptr) return;  // the usual case: one load
  if (auto* fn = s.waker.exchange(nullptr)) fn();
}

// usrsctp's output callback: one SCTP packet for the association registered as `addr`.
int conn_output(void* addr, void* buffer, std::size_t length, std::uint8_t /*tos*/,
                std::uint8_t /*set_df*/) {
  State& s = state();
  s.packets.fetch_add(1, std::memory_order_relaxed);
  wake_waiter(s);
  auto packet = std::span<std::byte>(static_cast<std::byte*>(buffer), length);
  if (length >= 12) {
    // With offload on, usrsctp leaves the checksum field zero. When a test turns offload
    // off, usrsctp has computed it: compare with ours before overwriting.
    std::uint32_t theirs;
    std::memcpy(&theirs, packet.data() + 8, 4);
    write_sctp_checksum(packet);
    if (theirs != 0) {
      s.crc_compared.fetch_add(1, std::memory_order_relaxed);
      if (std::memcmp(&theirs, packet.data() + 8, 4) != 0)
        s.crc_mismatched.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::lock_guard lock(s.registry_mutex);
  Sink* sink = find(s, addr);
  if (sink == nullptr) {
    s.stale_packets.fetch_add(1, std::memory_order_relaxed);
    return 0;  // as if lost on the wire
  }
  sink->on_packet(packet);
  return 0;
}

// Process-wide settings, applied after every usrsctp_init (it resets the sysctls). The
// per-socket settings are in association.cpp.
void configure() {
  // docs/performance.md lever 1: we compute CRC32c ourselves (crc32c.hpp); incoming checksums are
  // not verified, DTLS authenticates every record.
  usrsctp_enable_crc32c_offload();
  // As Chromium and libdatachannel: WebRTC uses none of ECN, ASCONF (and its AUTH), NR-SACK
  // or PKTDROP; leaving them off shrinks the attack surface and the INIT.
  usrsctp_sysctl_set_sctp_ecn_enable(0);
  usrsctp_sysctl_set_sctp_asconf_enable(0);
  usrsctp_sysctl_set_sctp_auto_asconf(0);
  usrsctp_sysctl_set_sctp_auth_enable(0);
  usrsctp_sysctl_set_sctp_nrsack_enable(0);
  usrsctp_sysctl_set_sctp_pktdrop_enable(0);
  // Partial reliability (RFC 3758: maxRetransmits, maxPacketLifeTime) and stream
  // reconfiguration (RFC 6525: closing channels) are required by RFC 8831.
  usrsctp_sysctl_set_sctp_pr_enable(1);
  usrsctp_sysctl_set_sctp_reconfig_enable(1);
  // The default of 512 chunks queued per association would make send() refuse small
  // messages long before the 1 MiB send buffer is full (libdatachannel uses the same).
  usrsctp_sysctl_set_sctp_max_chunks_on_queue(10 * 1024);
  // RFC 6928 initial window of 10 packets (as libdatachannel): a first burst of a few
  // messages is not held back by slow start.
  usrsctp_sysctl_set_sctp_initial_cwnd(10);
}

}  // namespace

std::mutex& mutex() noexcept {
  return state().usrsctp;
}

void acquire() {
  State& s = state();
  std::lock_guard lock(s.usrsctp);
  if (!s.running) {
    // Port 0: no UDP encapsulation socket, hence no receive threads; AF_CONN only.
    usrsctp_init_nothreads(0, &conn_output, nullptr);
    configure();
    s.running = true;
    s.last_tick.reset();
    ++s.inits;
  }
  ++s.users;
}

void release() noexcept {
  State& s = state();
  std::lock_guard lock(s.usrsctp);
  if (s.users == 0 || --s.users != 0 || !s.running) return;
  // Closed sockets may be freed by usrsctp's timers (the endpoint and association kill
  // timers). Nobody drives those any more, so advance usrsctp's virtual clock ourselves
  // until usrsctp_finish agrees; no sleeping.
  for (int i = 0; i < 600; ++i) {
    if (usrsctp_finish() == 0) {
      s.pool.clear();  // usrsctp_finish freed every registered address
      s.addresses = 0;
      s.running = false;
      s.last_tick.reset();
      ++s.finishes;
      return;
    }
    usrsctp_handle_timers(100);
  }
}

std::uintptr_t attach(Sink* sink, bool fresh) {
  State& s = state();
  std::uintptr_t id;
  if (!fresh && !s.pool.empty()) {
    id = s.pool.front();
    s.pool.pop_front();
  } else {
    id = s.next_id++;
    usrsctp_register_address(address(id));
    ++s.addresses;
  }
  std::lock_guard lock(s.registry_mutex);
  s.registry[id] = sink;
  return id;
}

void detach(std::uintptr_t id) noexcept {
  State& s = state();
  {
    std::lock_guard lock(s.registry_mutex);
    s.registry.erase(id);
  }
  try {
    s.pool.push_back(id);
  } catch (...) {
    // Out of memory: the address stays registered, unused, until usrsctp_finish.
  }
}

void upcall(struct socket* /*sock*/, void* arg, int /*flags*/) noexcept {
  State& s = state();
  std::lock_guard lock(s.registry_mutex);
  if (Sink* sink = find(s, arg)) sink->on_upcall();
}

void handle_timers(Clock::time_point now) {
  State& s = state();
  std::lock_guard lock(s.usrsctp);
  if (!s.running) return;
  if (!s.last_tick) {
    s.last_tick = now;
    return;
  }
  if (now <= *s.last_tick) return;
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - *s.last_tick);
  if (elapsed.count() == 0) return;
  *s.last_tick += elapsed;
  // At most 2^32 - 1 ms per call (49 days): clamp rather than wrap.
  const auto ms = static_cast<std::uint32_t>(std::min<std::int64_t>(elapsed.count(), 0xFFFFFFFF));
  usrsctp_handle_timers(ms);
}

std::uint64_t activity() noexcept {
  const State& s = state();
  return s.packets.load(std::memory_order_relaxed) + s.inputs.load(std::memory_order_relaxed);
}

void note_input() noexcept {
  State& s = state();
  s.inputs.fetch_add(1, std::memory_order_relaxed);
  wake_waiter(s);
}

void wake_on_activity(void (*fn)()) noexcept {
  state().waker.store(fn, std::memory_order_relaxed);
}

Stats stats() {
  State& s = state();
  Stats out;
  {
    std::lock_guard lock(s.usrsctp);
    out.running = s.running;
    out.users = s.users;
    out.inits = s.inits;
    out.finishes = s.finishes;
    out.addresses = s.addresses;
  }
  out.packets = s.packets.load();
  out.stale_packets = s.stale_packets.load();
  out.crc_compared = s.crc_compared.load();
  out.crc_mismatched = s.crc_mismatched.load();
  return out;
}

}  // namespace peer::sctp::stack
