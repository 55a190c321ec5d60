#include "metrics/metrics.h"

#include <utility>

namespace smol::metrics {
namespace {

constexpr std::string_view kAgentStates[] = {"starting", "ready", "stopping", "exited"};

// A healthy spawn takes a few milliseconds; a slow host or a heavy agent runs
// into seconds, and the start timeout caps it at around 10 s.
const prometheus::Histogram::BucketBoundaries kSpawnBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// Confining an agent takes around a millisecond; tens of milliseconds mean
// a loaded host or a slow filesystem under the state dir.
const prometheus::Histogram::BucketBoundaries kSetupBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

// The series {swarm, label=value} of family, remembered in cache so that
// forget_swarm() can find it again.
template <typename T>
T& swarm_series(std::map<std::string, T*, std::less<>>& cache, prometheus::Family<T>& family,
                std::string_view swarm, const std::string& label, std::string_view value) {
  auto it = cache.find(value);
  if (it == cache.end()) {
    T& series = family.Add({{"swarm", std::string(swarm)}, {label, std::string(value)}});
    it = cache.emplace(std::string(value), &series).first;
  }
  return *it->second;
}

}  // namespace

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      swarms_(prometheus::BuildGauge()
                  .Name("smolswarms_swarms")
                  .Help("Swarms currently running (not stopped or failed).")
                  .Register(*registry_)
                  .Add({})),
      agents_(prometheus::BuildGauge()
                  .Name("smolswarms_agents")
                  .Help("Agents of a swarm by lifecycle state: starting, ready, stopping, exited.")
                  .Register(*registry_)),
      spawn_seconds_(prometheus::BuildHistogram()
                         .Name("smolswarms_agent_spawn_seconds")
                         .Help("Time from forking an agent to its hello, in seconds.")
                         .Register(*registry_)
                         .Add({}, kSpawnBuckets)),
      agent_exits_(prometheus::BuildCounter()
                       .Name("smolswarms_agent_exits_total")
                       .Help("Agent exits by swarm and cause: exited, crashed, start_timeout, "
                             "stopped, ...")
                       .Register(*registry_)),
      control_requests_(prometheus::BuildCounter()
                            .Name("smolswarms_control_requests_total")
                            .Help("Control socket requests by method and result: ok, error, "
                                  "denied.")
                            .Register(*registry_)),
      violations_(prometheus::BuildCounter()
                      .Name("smolswarms_seccomp_violations_total")
                      .Help("System calls agents made that their seccomp policy forbids, by "
                            "swarm, syscall and action taken (kill or errno).")
                      .Register(*registry_)),
      sandbox_setup_seconds_(prometheus::BuildHistogram()
                                 .Name("smolswarms_sandbox_setup_seconds")
                                 .Help("Time to prepare, clone and confine one agent, up to "
                                       "its exec, in seconds.")
                                 .Register(*registry_)
                                 .Add({}, kSetupBuckets)) {
  prometheus::BuildGauge()
      .Name("smolswarms_build_info")
      .Help("Always 1; the version label says which swarmd is running.")
      .Register(*registry_)
      .Add({{"version", SMOL_VERSION}})
      .Set(1);
}

void Metrics::set_swarms(size_t running) { swarms_.Set(static_cast<double>(running)); }

Metrics::SwarmSeries& Metrics::series_of(std::string_view swarm) {
  auto it = by_swarm_.find(swarm);
  if (it != by_swarm_.end()) return it->second;
  SwarmSeries& s = by_swarm_[std::string(swarm)];
  for (std::string_view state : kAgentStates) swarm_series(s.agents, agents_, swarm, "state", state);
  return s;
}

void Metrics::agent_state_changed(std::string_view swarm, std::optional<std::string_view> from,
                                  std::optional<std::string_view> to) {
  if (from) {
    if (auto it = by_swarm_.find(swarm); it != by_swarm_.end()) {
      swarm_series(it->second.agents, agents_, swarm, "state", *from).Decrement();
    }
  }
  if (to) swarm_series(series_of(swarm).agents, agents_, swarm, "state", *to).Increment();
}

void Metrics::forget_swarm(std::string_view swarm) {
  auto it = by_swarm_.find(swarm);
  if (it == by_swarm_.end()) return;
  for (auto& [state, gauge] : it->second.agents) agents_.Remove(gauge);
  for (auto& [reason, counter] : it->second.exits) agent_exits_.Remove(counter);
  for (auto& [key, counter] : it->second.violations) violations_.Remove(counter);
  by_swarm_.erase(it);
}

void Metrics::observe_spawn(double seconds) { spawn_seconds_.Observe(seconds); }

void Metrics::agent_exited(std::string_view swarm, std::string_view reason) {
  swarm_series(series_of(swarm).exits, agent_exits_, swarm, "reason", reason).Increment();
}

void Metrics::seccomp_violation(std::string_view swarm, std::string_view syscall,
                                std::string_view action) {
  auto& cache = series_of(swarm).violations;
  std::string key = std::string(syscall) + "/" + std::string(action);
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto& series = violations_.Add({{"swarm", std::string(swarm)},
                                    {"syscall", std::string(syscall)},
                                    {"action", std::string(action)}});
    it = cache.emplace(std::move(key), &series).first;
  }
  it->second->Increment();
}

void Metrics::observe_sandbox_setup(double seconds) { sandbox_setup_seconds_.Observe(seconds); }

void Metrics::control_request(std::string_view method, std::string_view result) {
  control_requests_.Add({{"method", std::string(method)}, {"result", std::string(result)}})
      .Increment();
}

}  // namespace smol::metrics
