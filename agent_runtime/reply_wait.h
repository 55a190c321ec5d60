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
// Polling spends the agent's own CPU time (its cgroup's quota), so it is
// bounded and adaptive: a wait polls for at most `budget`, and only while
// the recent round trips (a moving average) came within that budget;
// otherwise, and after the budget, it blocks as any KJ wait does. A
// requester whose peer takes milliseconds to answer therefore stops polling
// after a few requests and costs no more than a blocking wait.
//
// Polling helps only while another CPU can run swarmd and the recipient:
// on a process allowed a single CPU it would only hold them off (p99 266
// against 111 us with everything pinned to one CPU), so there it is off.
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
  // budget 0: never poll. Throws std::runtime_error if this process's CPU
  // affinity cannot be read.
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

  bool other_cpus_;  // may this process run on more than one CPU
  std::chrono::microseconds budget_;
  Clock::duration average_{};  // of recent round trips, weight 1/8 per new one
};

}  // namespace smol::agent
