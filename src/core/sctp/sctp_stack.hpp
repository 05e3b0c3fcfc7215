#pragma once
// The process-wide part of usrsctp, shared by every Association of the process.
//
// usrsctp keeps global state: one set of endpoints, one timer wheel, one output callback.
// This file owns it:
// - Lifetime: usrsctp_init_nothreads when the first Association is created, usrsctp_finish
//   when the last one is destroyed (acquire/release, reference counted). usrsctp never gets
//   a thread of its own to drive timers: the owners call handle_timers(). What
//   usrsctp_init_nothreads still starts is its "SCTP iterator" thread, which sleeps on a
//   condition variable; usrsctp_finish wakes it with an exit flag and joins it, so after
//   the last Association no thread of usrsctp's remains. (usrsctp 0.9.5 never clears that
//   exit flag, so after a second init the new iterator thread exits on its own at once;
//   the iterator only serves ASCONF / bound-all endpoints, which we do not use.)
// - Locking: every usrsctp call of the process is made under mutex() (usrsctp's internal
//   locking is not trusted across threads, and timers for every association fire from
//   whichever thread calls handle_timers). Associations owned by different event loops
//   are thereby safe to use concurrently.
// - Registry: usrsctp identifies an association's AF_CONN address and socket upcall by a
//   void*. We give it a small integer id, not a pointer, and look the id up in a registry
//   guarded by its own small mutex: usrsctp may call back for a socket that is already
//   closed (sctplab/usrsctp#405), and possibly from its iterator thread, which does not
//   hold mutex(). An id with no live Association finds nothing and its packet is dropped.
// - Addresses are registered with usrsctp once and pooled, never deregistered:
//   usrsctp_deregister_address queues address work (ASCONF) that a timer hands to the
//   iterator thread, and that work takes a reference on the first endpoint alive. After a
//   re-init the iterator thread has exited (see above), the reference is never dropped, the
//   endpoint is never freed and usrsctp_finish reports busy forever (measured: a peer
//   destroyed while another association lives kept usrsctp from finishing). So a released
//   id goes back to a FIFO pool and the next Association reuses it; there are never more
//   registered addresses than Associations alive at once, and usrsctp_finish frees them.
// - Output: the output callback writes the packet's CRC32c (offload is on; crc32c.hpp) and
//   hands it to the owning Association's Sink, which only queues it. It never calls into
//   another association, so no usrsctp call ever nests inside another.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

struct socket;  // usrsctp's socket (usrsctp.h), kept out of this header

namespace peer::sctp::stack {

using Clock = std::chrono::steady_clock;

// What usrsctp hands an Association. Both are called with the registry lock held (so the
// sink cannot be destroyed meanwhile), from whichever thread made the usrsctp call, usually
// with mutex() held; implementations must only record and return.
class Sink {
 public:
  // One SCTP packet, checksum already written. Copy it; the span dies with the call.
  virtual void on_packet(std::span<const std::byte> packet) noexcept = 0;
  // usrsctp's socket upcall: the socket may have become readable or writable.
  virtual void on_upcall() noexcept = 0;

 protected:
  ~Sink() = default;
};

// The lock around every usrsctp call. Never call a Sink's owner while holding it.
std::mutex& mutex() noexcept;

// Reference-counted lifetime (each takes mutex() itself). acquire() initialises usrsctp on
// the first user; release() finishes it
// after the last one, fast-forwarding usrsctp's timers so that endpoints being torn down
// are freed first (usrsctp_finish reports busy until they are). If usrsctp still reports
// busy after 60 virtual seconds, it stays initialised and the next release() tries again.
void acquire();
void release() noexcept;

// Registry of sinks, both called with mutex() held. attach() gives the sink an id (reused
// from the pool, oldest first, or newly registered with usrsctp_register_address); it is
// what usrsctp sees as the AF_CONN address and upcall argument, never 0. With `fresh`, a
// new address is registered even if the pool has some (for a bind that found the pooled
// address still in use). detach() unregisters the sink and returns the id to the pool.
std::uintptr_t attach(Sink* sink, bool fresh = false);
void detach(std::uintptr_t id) noexcept;
inline void* address(std::uintptr_t id) noexcept {
  return reinterpret_cast<void*>(id);
}

// The C callbacks given to usrsctp (exposed for the socket setup in association.cpp).
void upcall(struct socket* sock, void* arg, int flags) noexcept;

// Advances usrsctp's timers to `now` (takes mutex()). The elapsed time is measured since
// the previous call from any thread, in whole milliseconds (the remainder carries over);
// an earlier `now` than the last one (another thread's clock read racing ours) is a no-op.
// Packets and events of any association may result: each lands in its own Association.
void handle_timers(Clock::time_point now);

// Activity: packets usrsctp took in (note_input, from Association::handle_receive) or put
// out, process-wide, so that whoever drives handle_timers can tick often only while
// associations are busy (api/sctp_clock.cpp). wake_on_activity(fn): `fn` runs once, on the
// next packet either way, from whichever thread moves it and with mutex() possibly held: it
// must only signal.
std::uint64_t activity() noexcept;
void note_input() noexcept;
void wake_on_activity(void (*fn)()) noexcept;

struct Stats {
  bool running = false;             // usrsctp is initialised
  std::size_t users = 0;            // live Associations
  std::uint64_t inits = 0;          // usrsctp_init_nothreads calls so far
  std::uint64_t finishes = 0;       // successful usrsctp_finish calls so far
  std::size_t addresses = 0;        // AF_CONN addresses registered with usrsctp (live + pooled)
  std::uint64_t packets = 0;        // packets usrsctp emitted
  std::uint64_t stale_packets = 0;  // packets for an id no longer registered (dropped)
  // Packets that already carried a checksum (only when crc32c offload was turned off, as
  // a test does) and how many of those differed from ours.
  std::uint64_t crc_compared = 0;
  std::uint64_t crc_mismatched = 0;
};
Stats stats();

}  // namespace peer::sctp::stack
