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
//   agent_memory_bytes{swarm,agent}, agent_pids{swarm,agent}
//                                   gauges: a running agent's cgroup (all its
//                                   processes), as last sampled; gone while
//                                   it is not running.
//   agent_cpu_seconds_total{swarm,agent}
//                                   counter: CPU time of the agent's
//                                   processes, across its restarts.
//   oom_kills_total{swarm}          counter: processes the OOM killer killed
//                                   in the swarm's agents' cgroups.
//   pids_limit_hits_total{swarm}    counter: forks a pids limit refused.
//   cpu_throttled_seconds_total{swarm}
//                                   counter: time CPU quotas held agents back.
//   pool_memory_bytes{swarm}, pool_pids{swarm}
//                                   gauges: the whole swarm's use, against
//   pool_memory_limit_bytes{swarm}, pool_pids_limit{swarm},
//   pool_cpu_limit_cores{swarm}     its [limits] (absent when unlimited).
//   vibe_agents{swarm,health}       gauge: the swarm's agents by their answer to
//                                   the last vibe check: ok, degraded,
//                                   failing, or silent (no answer in time).
//   vibe_checks_total{swarm}        counter: vibe checks made.
//   control_requests_total{method,result}
//                                   counter: control socket requests by method
//                                   and result, ok|error|denied.
//   memory_ops_total{tier,op}       counter: swarm memory operations by tier
//                                   (short_term|working|long_term) and op
//                                   (put|get|list|recall|delete|consolidate).
//   memory_entries{swarm,tier}      gauge: entries a swarm keeps in each tier
//                                   (swarms touched since swarmd started).
//   memory_commit_seconds           histogram: one group commit of the memory
//                                   store, its sync included.
//   db_bytes{file}                  gauge: size of an LMDB file (swarmd.mdb,
//                                   memory.mdb), in bytes.
//   messages_total{swarm,kind}      counter: messages the daemon accepted for
//                                   delivery, kind one of dm|broadcast|
//                                   request|reply (a broadcast counts once per
//                                   recipient).
//   message_latency_seconds         histogram: a message's wait in the
//                                   daemon, from queued to delivered.
//   queue_depth{swarm}              gauge: messages queued for the swarm's
//                                   agents, not yet delivered.
//   messages_refused_total{swarm,reason}
//                                   counter: messages not delivered, by why:
//                                   queue_full (a broadcast skipped a full
//                                   queue), recipient_gone, timeout (a
//                                   request unanswered), protocol_error.
//   permission_denied_total{swarm,role,op}
//                                   counter: operations an agent's grant does
//                                   not allow (op: dm, request, reply,
//                                   memory_read, memory_write).
//   tasks_total{swarm,outcome}      counter: tasks ended, outcome one of
//                                   succeeded|failed|cancelled.
//   task_duration_seconds           histogram: a task from `task run` to its
//                                   end.
//   subtasks_in_flight{swarm}       gauge: subtasks running on workers now.
//   subtask_attempts_total{swarm,result}
//                                   counter: attempts ended, by result:
//                                   succeeded, failed (the worker said so),
//                                   timeout, lost (the worker exited or the
//                                   swarm stopped), dropped (cancelled).
//   delegations_refused_total{swarm,reason}
//                                   counter: subtasks refused at delegate
//                                   (ipc/task.capnp DelegationRefusal reasons).
//   tokens_total{swarm,role,model,direction}
//                                   counter: model tokens agents reported,
//                                   direction input|output (past 256 series
//                                   in a swarm, new models count as other).
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

  // A sample of one running agent's cgroup; cpu_seconds is the CPU time
  // used since the previous sample.
  void agent_usage(std::string_view swarm, std::string_view agent, uint64_t memory_bytes,
                   uint64_t pids, double cpu_seconds);
  // The agent's run ended: its memory and pids series go.
  void agent_usage_gone(std::string_view swarm, std::string_view agent);
  void oom_kills(std::string_view swarm, uint64_t kills);
  // Events since the previous call for the same cgroup.
  void limit_events(std::string_view swarm, uint64_t pids_limit_hits, double throttled_seconds);
  // The pool's limits (nullopt: none of that kind) and its use.
  void pool_limits(std::string_view swarm, std::optional<uint64_t> memory_bytes,
                   std::optional<uint64_t> pids, std::optional<double> cpu_cores);
  void pool_usage(std::string_view swarm, uint64_t memory_bytes, uint64_t pids);

  // Swarm memory (supervisor/memory_service.h); tier and op as named above.
  void memory_op(std::string_view tier, std::string_view op);
  void memory_entries(std::string_view swarm, std::string_view tier, uint64_t entries);
  void observe_memory_commit(double seconds);
  void set_db_bytes(std::string_view file, uint64_t bytes);

  // Messaging (supervisor/messaging.h); kinds and reasons as named above.
  void messages(std::string_view swarm, std::string_view kind, uint64_t n);
  void observe_message_latency(double seconds);
  void queue_depth(std::string_view swarm, uint64_t queued);
  void messages_refused(std::string_view swarm, std::string_view reason, uint64_t n);
  void permission_denied(std::string_view swarm, std::string_view role, std::string_view op);

  // Tasks (supervisor/task_board.h); outcomes, results and reasons as
  // named above.
  void task_ended(std::string_view swarm, std::string_view outcome, double seconds);
  void subtasks_in_flight(std::string_view swarm, uint64_t n);
  void subtask_attempt(std::string_view swarm, std::string_view result);
  void delegation_refused(std::string_view swarm, std::string_view reason);
  void tokens(std::string_view swarm, std::string_view role, std::string_view model,
              uint64_t input, uint64_t output);

  // The outcome of one vibe check of the swarm.
  void vibe_check(std::string_view swarm, uint32_t ok, uint32_t degraded, uint32_t failing,
                  uint32_t silent);

 private:
  // The series of one swarm, by state and by exit reason, kept so that
  // forget_swarm() can remove them (a Family cannot be listed).
  struct SwarmSeries {
    std::map<std::string, prometheus::Gauge*, std::less<>> agents;
    std::map<std::string, prometheus::Counter*, std::less<>> exits;
    std::map<std::string, prometheus::Counter*, std::less<>> violations;  // "syscall/action"
    struct Usage {
      prometheus::Gauge* memory = nullptr;  // null while the agent is not running
      prometheus::Gauge* pids = nullptr;
      prometheus::Counter* cpu = nullptr;
    };
    std::map<std::string, Usage, std::less<>> usage;  // by agent id
    prometheus::Counter* oom_kills = nullptr;
    prometheus::Counter* pids_limit_hits = nullptr;
    prometheus::Counter* throttled = nullptr;
    std::map<std::string, prometheus::Gauge*, std::less<>> pool;  // by family name
    std::map<std::string, prometheus::Gauge*, std::less<>> vibe;  // by health
    prometheus::Counter* vibe_checks = nullptr;
    std::map<std::string, prometheus::Counter*, std::less<>> messages;  // by kind
    std::map<std::string, prometheus::Counter*, std::less<>> refused;   // by reason
    std::map<std::string, prometheus::Counter*, std::less<>> denied;    // "role/op"
    prometheus::Gauge* queue_depth = nullptr;
    std::map<std::string, prometheus::Counter*, std::less<>> tasks;      // by outcome
    std::map<std::string, prometheus::Counter*, std::less<>> attempts;   // by result
    std::map<std::string, prometheus::Counter*, std::less<>> delegations_refused;  // by reason
    std::map<std::string, prometheus::Counter*, std::less<>> tokens;  // "role/model/direction"
    prometheus::Gauge* in_flight = nullptr;
  };
  // The swarm's series in a per-swarm family; made on first use.
  prometheus::Counter& swarm_counter(prometheus::Counter*& slot,
                                     prometheus::Family<prometheus::Counter>& family,
                                     std::string_view swarm);
  prometheus::Gauge& pool_gauge(std::string_view swarm, prometheus::Family<prometheus::Gauge>& f);
  void drop_pool_gauge(std::string_view swarm, prometheus::Family<prometheus::Gauge>& f);

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
  prometheus::Family<prometheus::Gauge>& agent_memory_;
  prometheus::Family<prometheus::Gauge>& agent_pids_;
  prometheus::Family<prometheus::Counter>& agent_cpu_;
  prometheus::Family<prometheus::Counter>& oom_kills_;
  prometheus::Family<prometheus::Counter>& pids_limit_hits_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Gauge>& pool_memory_;
  prometheus::Family<prometheus::Gauge>& pool_memory_limit_;
  prometheus::Family<prometheus::Gauge>& pool_pids_;
  prometheus::Family<prometheus::Gauge>& pool_pids_limit_;
  prometheus::Family<prometheus::Gauge>& pool_cpu_limit_;
  prometheus::Family<prometheus::Gauge>& vibe_agents_;
  prometheus::Family<prometheus::Counter>& vibe_checks_;
  prometheus::Family<prometheus::Counter>& memory_ops_;
  std::map<std::string, prometheus::Counter*, std::less<>> memory_op_series_;  // by "tier/op"
  prometheus::Family<prometheus::Gauge>& memory_entries_;
  prometheus::Histogram& memory_commit_seconds_;
  prometheus::Family<prometheus::Gauge>& db_bytes_;
  prometheus::Family<prometheus::Counter>& messages_;
  prometheus::Histogram& message_latency_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Counter>& denied_;
  prometheus::Family<prometheus::Counter>& tasks_;
  prometheus::Histogram& task_duration_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Counter>& delegations_refused_;
  prometheus::Family<prometheus::Counter>& tokens_;
  std::map<std::string, SwarmSeries, std::less<>> by_swarm_;
};

}  // namespace smol::metrics
