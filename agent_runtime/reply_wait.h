// ReplyWait: how a synchronous request waits for its reply.
//
// A reply from another agent through swarmd comes back in tens of
// microseconds, and going to sleep for it costs more than the wait itself:
// the requester's CPU goes idle, on a VM an idle vCPU halts, and waking a
// halted vCPU costs 15-45 us, paid again at every hop that wakes a sleeper
// (README, "Benchmark"). A requester that keeps running its event loop for a
// moment keeps its CPU awake, so the daemon and the recipient share the
// other CPUs and the reply finds the requester already running.
//
// Polling spends the agent's own CPU time, so it is bounded and adaptive:
// a wait polls for at most `budget`, and only while the recent round trips
// (a moving average) came within it; otherwise, and after the budget, it
// blocks as any KJ wait does. A requester whose peer takes its time stops
// polling after a few requests and costs no more than a blocking wait.
// (The threshold is the budget itself, not less: a blocking round trip is
// slower than a polled one, so a lower one, once crossed, would keep
// polling off for good. Agents that contend for the CPUs do poll while
// their round trips stay within it, spending more CPU for a round trip
// that is no slower.) It never polls where it cannot help or would hurt: in a
// process allowed a single CPU, where it would only hold off the daemon and
// the recipient (p99 266 against 111 us with everything pinned to one CPU),
// or under a CPU quota of less than a core ([limits] cpu), where the
// kernel would throttle the agent for what it spun.
//
// It does not yield between polls: each poll is a syscall already, a task
// woken on this CPU preempts the poller anyway, and sched_yield made the
// round trip slower (75-95 us against 73-80 us, A/B on the 2-CPU VM).
#pragma once

#include <chrono>

#include <kj/async.h>

namespace smol::agent {

class ReplyWait {
 public:
  // budget 0: never poll.
  explicit ReplyWait(std::chrono::microseconds budget);

  void set_budget(std::chrono::microseconds budget) { budget_ = budget; }

  // Runs the event loop until `promise` resolves and returns its value, or
  // throws its exception, as promise.wait(scope) does.
  template <typename T>
  T wait(kj::Promise<T> promise, kj::WaitScope& scope) {
    auto start = Clock::now();
    if (worth_polling()) {
      while (!promise.poll(scope) && Clock::now() - start < budget_) {
      }
    }
    RoundTrip recorder{*this, start};
    return promise.wait(scope);
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Records the round trip however the wait ends, a thrown error included.
  struct RoundTrip {
    ReplyWait& self;
    Clock::time_point start;
    ~RoundTrip() { self.record(Clock::now() - start); }
  };

  bool worth_polling() const;
  void record(Clock::duration round_trip);

  bool can_poll_;  // on more than one CPU, with no quota below a core
  std::chrono::microseconds budget_;
  Clock::duration average_{};  // of recent round trips, weight 1/8 per new one
};

}  // namespace smol::agent
