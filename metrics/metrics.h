// Metrics: the metric families swarmd exports, behind small typed methods.
//
// main() builds one Metrics around the prometheus::Registry it also hands to
// the MetricsExposer; nothing here is global. Callers name what happened
// ("agent a of swarm s went from starting to ready") and never build label
// maps themselves.
//
// The families (all prefixed smolswarms_):
//   build_info{version}             gauge, always 1: which swarmd is running.
//   swarms                          gauge: swarms currently running, i.e. not
//                                   stopped or failed.
//   agents{swarm,state}             gauge: agents of a swarm in each state,
//                                   state one of starting|ready|stopping|exited.
//                                   The four series of a swarm appear (at 0)
//                                   with its first agent, so "no ready agents"
//                                   is a 0, not a missing series.
//   agent_spawn_seconds             histogram: fork to the agent's hello, i.e.
//                                   how long an agent takes to become usable.
//   agent_exits_total{swarm,reason} counter: agent exits by cause, reason one
//                                   of exited|crashed|start_timeout|stopped
//                                   (an open set: more causes will come).
//   seccomp_violations_total{swarm,syscall,action}
//                                   counter: system calls an agent's policy
//                                   forbids, by name, and what was done:
//                                   kill or errno.
//   sandbox_setup_seconds           histogram: preparing, cloning and
//                                   confining one agent, up to its exec.
//   control_requests_total{method,result}
//                                   counter: control socket requests by method
//                                   and result, ok|error|denied.
//
// Threads: every method must be called from the daemon's loop thread (the
// per-swarm series map is unsynchronised). Scrapes run on the exposer's
// threads and read the registry concurrently, which prometheus-cpp allows.
// Errors: none come back; a label name is fixed here, so prometheus-cpp's
// invalid-label exceptions would be our bug.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace smol::metrics {

class Metrics {
 public:
  // Registers the families in registry and keeps it alive.
  explicit Metrics(std::shared_ptr<prometheus::Registry> registry);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void set_swarms(size_t running);

  // One agent of swarm moved from one state to another. from is nullopt for
  // a new agent, to is nullopt for an agent that is gone (destroyed). States
  // are the names above. A move out of a series forget_swarm() already
  // dropped is ignored: a replaced swarm's agents wind down after it.
  void agent_state_changed(std::string_view swarm, std::optional<std::string_view> from,
                           std::optional<std::string_view> to);

  // Drops every agents{swarm=...} and agent_exits_total{swarm=...} series of
  // a deleted swarm, so dead swarms do not linger in scrapes.
  void forget_swarm(std::string_view swarm);

  void observe_spawn(double seconds);

  void agent_exited(std::string_view swarm, std::string_view reason);

  void seccomp_violation(std::string_view swarm, std::string_view syscall,
                         std::string_view action);

  void observe_sandbox_setup(double seconds);

  // result is ok, error or denied.
  void control_request(std::string_view method, std::string_view result);

 private:
  // The series of one swarm, by state and by exit reason, kept so that
  // forget_swarm() can remove them (a Family cannot be listed).
  struct SwarmSeries {
    std::map<std::string, prometheus::Gauge*, std::less<>> agents;
    std::map<std::string, prometheus::Counter*, std::less<>> exits;
    std::map<std::string, prometheus::Counter*, std::less<>> violations;  // "syscall/action"
  };

  // The swarm's series, created (with its four agent states at 0) if new.
  SwarmSeries& series_of(std::string_view swarm);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& swarms_;
  prometheus::Family<prometheus::Gauge>& agents_;
  prometheus::Histogram& spawn_seconds_;
  prometheus::Family<prometheus::Counter>& agent_exits_;
  prometheus::Family<prometheus::Counter>& control_requests_;
  prometheus::Family<prometheus::Counter>& violations_;
  prometheus::Histogram& sandbox_setup_seconds_;
  std::map<std::string, SwarmSeries, std::less<>> by_swarm_;
};

}  // namespace smol::metrics
