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

// A group commit with fsync takes a millisecond or a few on a disk that
// syncs quickly; tens of milliseconds mean a slow or busy disk.
const prometheus::Histogram::BucketBoundaries kCommitBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};

// Through the daemon a message waits tens of microseconds when the
// recipient keeps up; seconds mean a recipient that does not.
const prometheus::Histogram::BucketBoundaries kMessageBuckets = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005,   0.01,     0.025,   0.05,   0.1,     0.25,   1,     5};

// A task takes from a fraction of a second (trivial subtasks) to hours
// (agents that call models).
const prometheus::Histogram::BucketBoundaries kTaskBuckets = {
    0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600};

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

prometheus::Family<prometheus::Gauge>& gauge_family(prometheus::Registry& r, const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Counter>& counter_family(prometheus::Registry& r, const char* name,
                                                       const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
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
                                 .Add({}, kSetupBuckets)),
      agent_memory_(gauge_family(*registry_, "smolswarms_agent_memory_bytes",
                                 "Memory used by a running agent's processes (its cgroup), in "
                                 "bytes.")),
      agent_pids_(gauge_family(*registry_, "smolswarms_agent_pids",
                               "Processes and threads in a running agent's cgroup.")),
      agent_cpu_(counter_family(*registry_, "smolswarms_agent_cpu_seconds_total",
                                "CPU time used by an agent's processes, in seconds.")),
      oom_kills_(counter_family(*registry_, "smolswarms_oom_kills_total",
                                "Processes the OOM killer killed in a swarm's agents.")),
      pids_limit_hits_(counter_family(*registry_, "smolswarms_pids_limit_hits_total",
                                      "Forks refused by a pids limit in a swarm.")),
      throttled_(counter_family(*registry_, "smolswarms_cpu_throttled_seconds_total",
                                "Time a swarm's agents were held back by CPU quotas, in "
                                "seconds.")),
      pool_memory_(gauge_family(*registry_, "smolswarms_pool_memory_bytes",
                                "Memory used by all of a swarm's agents, in bytes.")),
      pool_memory_limit_(gauge_family(*registry_, "smolswarms_pool_memory_limit_bytes",
                                      "A swarm's memory limit ([limits] memory), in bytes.")),
      pool_pids_(gauge_family(*registry_, "smolswarms_pool_pids",
                              "Processes and threads of all of a swarm's agents.")),
      pool_pids_limit_(gauge_family(*registry_, "smolswarms_pool_pids_limit",
                                    "A swarm's pids limit ([limits] pids).")),
      pool_cpu_limit_(gauge_family(*registry_, "smolswarms_pool_cpu_limit_cores",
                                   "A swarm's CPU limit ([limits] cpu), in cores.")),
      vibe_agents_(gauge_family(*registry_, "smolswarms_vibe_agents",
                                "A swarm's agents by their answer to the last vibe check: ok, "
                                "degraded, failing or silent.")),
      vibe_checks_(counter_family(*registry_, "smolswarms_vibe_checks_total",
                                  "Vibe checks made of a swarm.")),
      memory_ops_(counter_family(*registry_, "smolswarms_memory_ops_total",
                                 "Swarm memory operations by tier and op: put, get, list, "
                                 "recall, delete, consolidate.")),
      memory_entries_(gauge_family(*registry_, "smolswarms_memory_entries",
                                   "Entries a swarm keeps in each memory tier.")),
      memory_commit_seconds_(prometheus::BuildHistogram()
                                 .Name("smolswarms_memory_commit_seconds")
                                 .Help("One group commit of the memory store, sync included, "
                                       "in seconds.")
                                 .Register(*registry_)
                                 .Add({}, kCommitBuckets)),
      db_bytes_(gauge_family(*registry_, "smolswarms_db_bytes",
                             "Size of each of swarmd's LMDB files (file: swarmd.mdb, the "
                             "daemon's state; memory.mdb, the swarms' memory), in bytes.")),
      messages_(counter_family(*registry_, "smolswarms_messages_total",
                               "Messages accepted for delivery by kind: dm, broadcast (once "
                               "per recipient), request, reply.")),
      message_latency_(prometheus::BuildHistogram()
                           .Name("smolswarms_message_latency_seconds")
                           .Help("A message's wait in swarmd, from queued to delivered, in "
                                 "seconds.")
                           .Register(*registry_)
                           .Add({}, kMessageBuckets)),
      queue_depth_(gauge_family(*registry_, "smolswarms_queue_depth",
                                "Messages queued for a swarm's agents, not yet delivered.")),
      refused_(counter_family(*registry_, "smolswarms_messages_refused_total",
                              "Messages not delivered, by reason: queue_full, recipient_gone, "
                              "timeout, protocol_error.")),
      denied_(counter_family(*registry_, "smolswarms_permission_denied_total",
                             "Operations refused because the agent's role is not granted "
                             "them, by role and op.")),
      tasks_(counter_family(*registry_, "smolswarms_tasks_total",
                            "Tasks ended, by outcome: succeeded, failed, cancelled.")),
      task_duration_(prometheus::BuildHistogram()
                         .Name("smolswarms_task_duration_seconds")
                         .Help("A task from task run to its end, in seconds.")
                         .Register(*registry_)
                         .Add({}, kTaskBuckets)),
      in_flight_(gauge_family(*registry_, "smolswarms_subtasks_in_flight",
                              "Subtasks running on a swarm's workers now.")),
      attempts_(counter_family(*registry_, "smolswarms_subtask_attempts_total",
                               "Subtask attempts ended, by result: succeeded, failed, timeout, "
                               "lost, dropped.")),
      delegations_refused_(counter_family(*registry_, "smolswarms_delegations_refused_total",
                                          "Subtasks refused at delegation, by reason.")),
      tokens_(counter_family(*registry_, "smolswarms_tokens_total",
                             "Model tokens agents reported, by role, model and direction.")) {
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
  for (auto& [agent, u] : it->second.usage) {
    if (u.memory) agent_memory_.Remove(u.memory);
    if (u.pids) agent_pids_.Remove(u.pids);
    if (u.cpu) agent_cpu_.Remove(u.cpu);
  }
  if (it->second.oom_kills) oom_kills_.Remove(it->second.oom_kills);
  if (it->second.pids_limit_hits) pids_limit_hits_.Remove(it->second.pids_limit_hits);
  if (it->second.throttled) throttled_.Remove(it->second.throttled);
  for (auto* f : {&pool_memory_, &pool_memory_limit_, &pool_pids_, &pool_pids_limit_,
                  &pool_cpu_limit_}) {
    drop_pool_gauge(swarm, *f);
  }
  for (auto& [health, gauge] : it->second.vibe) vibe_agents_.Remove(gauge);
  if (it->second.vibe_checks) vibe_checks_.Remove(it->second.vibe_checks);
  for (auto& [kind, counter] : it->second.messages) messages_.Remove(counter);
  for (auto& [reason, counter] : it->second.refused) refused_.Remove(counter);
  for (auto& [key, counter] : it->second.denied) denied_.Remove(counter);
  if (it->second.queue_depth) queue_depth_.Remove(it->second.queue_depth);
  for (auto& [outcome, counter] : it->second.tasks) tasks_.Remove(counter);
  for (auto& [result, counter] : it->second.attempts) attempts_.Remove(counter);
  for (auto& [reason, counter] : it->second.delegations_refused) {
    delegations_refused_.Remove(counter);
  }
  for (auto& [key, counter] : it->second.tokens) tokens_.Remove(counter);
  if (it->second.in_flight) in_flight_.Remove(it->second.in_flight);
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

void Metrics::agent_usage(std::string_view swarm, std::string_view agent, uint64_t memory_bytes,
                          uint64_t pids, double cpu_seconds) {
  auto& u = series_of(swarm).usage[std::string(agent)];
  const std::map<std::string, std::string> labels = {{"swarm", std::string(swarm)},
                                                     {"agent", std::string(agent)}};
  if (!u.memory) u.memory = &agent_memory_.Add(labels);
  if (!u.pids) u.pids = &agent_pids_.Add(labels);
  if (!u.cpu) u.cpu = &agent_cpu_.Add(labels);
  u.memory->Set(static_cast<double>(memory_bytes));
  u.pids->Set(static_cast<double>(pids));
  u.cpu->Increment(cpu_seconds);
}

void Metrics::agent_usage_gone(std::string_view swarm, std::string_view agent) {
  auto s = by_swarm_.find(swarm);
  if (s == by_swarm_.end()) return;
  auto it = s->second.usage.find(agent);
  if (it == s->second.usage.end()) return;
  if (it->second.memory) agent_memory_.Remove(std::exchange(it->second.memory, nullptr));
  if (it->second.pids) agent_pids_.Remove(std::exchange(it->second.pids, nullptr));
}

prometheus::Counter& Metrics::swarm_counter(prometheus::Counter*& slot,
                                            prometheus::Family<prometheus::Counter>& family,
                                            std::string_view swarm) {
  if (!slot) slot = &family.Add({{"swarm", std::string(swarm)}});
  return *slot;
}

void Metrics::oom_kills(std::string_view swarm, uint64_t kills) {
  SwarmSeries& s = series_of(swarm);
  swarm_counter(s.oom_kills, oom_kills_, swarm).Increment(static_cast<double>(kills));
}

void Metrics::limit_events(std::string_view swarm, uint64_t pids_limit_hits,
                           double throttled_seconds) {
  SwarmSeries& s = series_of(swarm);
  // Both appear at 0 with the swarm's first sample, so "none yet" is a 0.
  swarm_counter(s.pids_limit_hits, pids_limit_hits_, swarm)
      .Increment(static_cast<double>(pids_limit_hits));
  swarm_counter(s.throttled, throttled_, swarm).Increment(throttled_seconds);
  swarm_counter(s.oom_kills, oom_kills_, swarm);
}

prometheus::Gauge& Metrics::pool_gauge(std::string_view swarm,
                                       prometheus::Family<prometheus::Gauge>& f) {
  auto& pool = series_of(swarm).pool;
  const std::string& key = f.GetName();
  auto it = pool.find(key);
  if (it == pool.end()) it = pool.emplace(key, &f.Add({{"swarm", std::string(swarm)}})).first;
  return *it->second;
}

void Metrics::drop_pool_gauge(std::string_view swarm, prometheus::Family<prometheus::Gauge>& f) {
  auto s = by_swarm_.find(swarm);
  if (s == by_swarm_.end()) return;
  auto it = s->second.pool.find(f.GetName());
  if (it == s->second.pool.end()) return;
  f.Remove(it->second);
  s->second.pool.erase(it);
}

void Metrics::pool_limits(std::string_view swarm, std::optional<uint64_t> memory_bytes,
                          std::optional<uint64_t> pids, std::optional<double> cpu_cores) {
  auto set_or_drop = [&](prometheus::Family<prometheus::Gauge>& f, std::optional<double> v) {
    if (v) {
      pool_gauge(swarm, f).Set(*v);
    } else {
      drop_pool_gauge(swarm, f);
    }
  };
  set_or_drop(pool_memory_limit_,
              memory_bytes ? std::optional<double>(static_cast<double>(*memory_bytes)) : std::nullopt);
  set_or_drop(pool_pids_limit_,
              pids ? std::optional<double>(static_cast<double>(*pids)) : std::nullopt);
  set_or_drop(pool_cpu_limit_, cpu_cores);
}

void Metrics::pool_usage(std::string_view swarm, uint64_t memory_bytes, uint64_t pids) {
  pool_gauge(swarm, pool_memory_).Set(static_cast<double>(memory_bytes));
  pool_gauge(swarm, pool_pids_).Set(static_cast<double>(pids));
}

void Metrics::vibe_check(std::string_view swarm, uint32_t ok, uint32_t degraded, uint32_t failing,
                         uint32_t silent) {
  SwarmSeries& s = series_of(swarm);
  swarm_counter(s.vibe_checks, vibe_checks_, swarm).Increment();
  const std::pair<std::string_view, uint32_t> counts[] = {
      {"ok", ok}, {"degraded", degraded}, {"failing", failing}, {"silent", silent}};
  for (auto [health, n] : counts) {
    swarm_series(s.vibe, vibe_agents_, swarm, "health", health).Set(static_cast<double>(n));
  }
}

void Metrics::messages(std::string_view swarm, std::string_view kind, uint64_t n) {
  swarm_series(series_of(swarm).messages, messages_, swarm, "kind", kind)
      .Increment(static_cast<double>(n));
}

void Metrics::observe_message_latency(double seconds) { message_latency_.Observe(seconds); }

void Metrics::queue_depth(std::string_view swarm, uint64_t queued) {
  SwarmSeries& s = series_of(swarm);
  if (!s.queue_depth) s.queue_depth = &queue_depth_.Add({{"swarm", std::string(swarm)}});
  s.queue_depth->Set(static_cast<double>(queued));
}

void Metrics::messages_refused(std::string_view swarm, std::string_view reason, uint64_t n) {
  swarm_series(series_of(swarm).refused, refused_, swarm, "reason", reason)
      .Increment(static_cast<double>(n));
}

void Metrics::permission_denied(std::string_view swarm, std::string_view role,
                                std::string_view op) {
  auto& cache = series_of(swarm).denied;
  std::string key = std::string(role) + "/" + std::string(op);
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto& series = denied_.Add(
        {{"swarm", std::string(swarm)}, {"role", std::string(role)}, {"op", std::string(op)}});
    it = cache.emplace(std::move(key), &series).first;
  }
  it->second->Increment();
}

void Metrics::task_ended(std::string_view swarm, std::string_view outcome, double seconds) {
  swarm_series(series_of(swarm).tasks, tasks_, swarm, "outcome", outcome).Increment();
  task_duration_.Observe(seconds);
}

void Metrics::subtasks_in_flight(std::string_view swarm, uint64_t n) {
  SwarmSeries& s = series_of(swarm);
  if (!s.in_flight) s.in_flight = &in_flight_.Add({{"swarm", std::string(swarm)}});
  s.in_flight->Set(static_cast<double>(n));
}

void Metrics::subtask_attempt(std::string_view swarm, std::string_view result) {
  swarm_series(series_of(swarm).attempts, attempts_, swarm, "result", result).Increment();
}

void Metrics::delegation_refused(std::string_view swarm, std::string_view reason) {
  swarm_series(series_of(swarm).delegations_refused, delegations_refused_, swarm, "reason", reason)
      .Increment();
}

void Metrics::tokens(std::string_view swarm, std::string_view role, std::string_view model,
                     uint64_t input, uint64_t output) {
  auto& cache = series_of(swarm).tokens;
  // Agents name their models: past kMaxTokenSeries series a swarm's new
  // ones count as model "other", so no agent can grow the page without end.
  constexpr size_t kMaxTokenSeries = 256;
  for (auto [direction, n] : {std::pair<std::string_view, uint64_t>{"input", input},
                              std::pair<std::string_view, uint64_t>{"output", output}}) {
    if (n == 0) continue;
    std::string key = std::string(role) + "/" + std::string(model) + "/" + std::string(direction);
    if (cache.size() >= kMaxTokenSeries && !cache.contains(key)) {
      model = "other";
      key = std::string(role) + "/other/" + std::string(direction);
    }
    auto it = cache.find(key);
    if (it == cache.end()) {
      auto& series = tokens_.Add({{"swarm", std::string(swarm)},
                                  {"role", std::string(role)},
                                  {"model", std::string(model)},
                                  {"direction", std::string(direction)}});
      it = cache.emplace(std::move(key), &series).first;
    }
    it->second->Increment(static_cast<double>(n));
  }
}

void Metrics::memory_op(std::string_view tier, std::string_view op) {
  // Every memory call counts: a lookup in a small map of our own, not a
  // labels map built and hashed by the family, which takes its lock.
  std::string key = std::string(tier) + '/' + std::string(op);
  auto it = memory_op_series_.find(key);
  if (it == memory_op_series_.end()) {
    auto& series = memory_ops_.Add({{"tier", std::string(tier)}, {"op", std::string(op)}});
    it = memory_op_series_.emplace(std::move(key), &series).first;
  }
  it->second->Increment();
}

void Metrics::memory_entries(std::string_view swarm, std::string_view tier, uint64_t entries) {
  memory_entries_.Add({{"swarm", std::string(swarm)}, {"tier", std::string(tier)}})
      .Set(static_cast<double>(entries));
}

void Metrics::observe_memory_commit(double seconds) { memory_commit_seconds_.Observe(seconds); }

void Metrics::set_db_bytes(std::string_view file, uint64_t bytes) {
  db_bytes_.Add({{"file", std::string(file)}}).Set(static_cast<double>(bytes));
}

}  // namespace smol::metrics
