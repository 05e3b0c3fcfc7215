#pragma once
// peer::SctpClock: the one clock of usrsctp's timers for the whole process.
//
// usrsctp keeps every association's timers (retransmission, delayed SACK, heartbeat) in one
// process-wide list and has no "next deadline" call, so it must be told the time at its
// granularity (sctp::Association::timer_interval, 10 ms). Each call walks all timers of all
// associations: ticking it once per peer made an idle process cost O(peers^2) (the scale
// issue: 500 idle pairs held a core). So one thread ticks it for the process, only while
// some association is held: every 10 ms while packets move, every 250 ms once all have
// been quiet for a second (heartbeats are what is left), woken at once by the next packet.
// What a timer emits wakes that association's owner (Association::set_wakeup posts to the
// peer's loop). docs/architecture.md section 3.

#include <memory>

namespace peer {

class SctpClock {
 public:
  // The clock runs while at least one returned token lives (one per association).
  [[nodiscard]] static std::shared_ptr<void> hold();
  // Ticks so far (tests: the clock stops when nothing holds it).
  static unsigned long ticks();
};

}  // namespace peer
