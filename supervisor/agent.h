// Agent: one agent process and everything the daemon holds for it.
//
// Lifecycle: start() has the process spawned off the loop thread (state
// starting; a spawn that fails ends as an exit with reason spawn_failed); the agent's
// hello() over its socketpair makes it ready; stop() asks it to shut down,
// then escalates to SIGTERM and SIGKILL; the pidfd turning readable means it
// exited, and the exit is classified by what the daemon had asked of it. The
// owner (a Swarm) hears of ready and exit through Agent::Listener and
// decides about restarts; an Agent can be started again after it exited.
//
// Confinement: every process runs in the sandbox its plan's policy
// describes (sandbox/confinement.h), as a uid of its own held for the
// Agent's whole life. The daemon holds the listener of its seccomp filter:
// a forbidden syscall is counted and logged by name, then either kills the
// agent (exit reason seccomp) or fails with EPERM, as the policy says. An
// agent that outlives its max_runtime is killed (exit reason timeout).
//
// Resources: each run of the process gets a cgroup of its own below its
// swarm's pool, with the group's limits (supervisor/cgroups.h), joined by
// the child before anything else. The OOM killer striking there is seen at
// once (a SIGKILL it caused ends as exit reason oom, naming the limit);
// every SIGKILL the daemon sends goes to the whole cgroup, so nothing the
// agent started survives it; pause() freezes the cgroup; usage is sampled
// into metrics and `swarmctl ps`. The cgroup is removed once the run ends.
//
// Owns: the pidfd and its libuv watcher, the cgroup and its OOM watcher,
// the seccomp listener and its watcher, the log pipe, the RPC connection, the log, its uid, and every
// timer it set. Destroying a running Agent kills it with SIGKILL (the
// process can never outlive its record in the daemon).
//
// Thread: the loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <kj/async.h>

#include "base/unique_fd.h"
#include "ipc/agent.capnp.h"
#include "ipc/event_loop.h"
#include "ipc/rpc_connection.h"
#include "sandbox/cgroup.h"
#include "sandbox/sandbox_policy.h"
#include "sandbox/seccomp_notify.h"
#include "sandbox/spawn.h"
#include "supervisor/agent_log.h"
#include "supervisor/async_spawn.h"
#include "supervisor/log_file.h"
#include "supervisor/exit_status.h"
#include "supervisor/jsonl_bridge.h"
#include "supervisor/runtime.h"
#include "supervisor/uid_pool.h"

namespace smol::supervisor {

enum class AgentState { starting, ready, stopping, exited };
std::string_view state_name(AgentState s);

// What an Agent needs to know to start, fixed for its whole life.
struct AgentPlan {
  std::string swarm;
  std::string role;
  uint32_t index = 0;
  std::string exe;               // resolved absolute path
  std::vector<std::string> argv;
  std::vector<std::string> env;  // complete environment, "K=V"
  std::chrono::milliseconds ready_timeout{10000};
  std::string log_path;          // empty: no log file
  std::shared_ptr<const sandbox::SandboxPolicy> sandbox;  // shared by the group's agents
  // False for a plain command (`swarmctl run`): ready once spawned, with no
  // hello awaited and no ready timeout.
  bool needs_hello = true;
  // It speaks newline-delimited JSON on fd 3 (jsonl_bridge.h), not Cap'n Proto.
  bool jsonl = false;
  // A host directory of the caller's to work in, used as it is (neither
  // created nor chowned); empty: the agent's own under the state dir.
  std::string own_work_dir;
  // Each run's cgroup is made below this pool (shared: a spawning thread
  // may still use it after the swarm is gone); null: runs get no cgroup
  // (the host has none usable).
  std::shared_ptr<sandbox::CgroupNode> cgroup_pool;
  sandbox::CgroupLimits limits;             // each run's own
  std::optional<uint64_t> pool_memory;      // the pool's memory limit, to name it
  bool pool_cpu_or_io = false;              // the pool limits cpu or sets io_weight
};

// One agent's answer to a vibe check, or why there is none.
struct VibeAnswer {
  bool answered = false;
  rpc::Health health = rpc::Health::OK;  // when answered
  std::string note;                      // the agent's, or why it is silent
  double millis = 0;                     // how long the answer took
};

// The resources an agent's current run uses, as last sampled.
struct AgentUsage {
  uint64_t memory_bytes = 0;
  uint64_t pids = 0;
  double cpu_seconds = 0;  // since the run started
  double cpu_percent = 0;  // of one core, between the last two samples
};

class Agent {
 public:
  class Listener {
   public:
    virtual void agent_ready(Agent& a) = 0;
    // was_ready: it had said hello before it exited.
    virtual void agent_exited(Agent& a, bool was_ready) = 0;
    // Fills in the swarm's part of the identity returned by hello.
    virtual void describe_peers(rpc::Identity::Builder identity) = 0;
    // Fills in the capabilities the agent's role is granted (agent_grants.h).
    virtual void grant(Agent& a, rpc::Grants::Builder grants) = 0;
    // The agent answers a request it was sent (AgentHost.reply); throws
    // std::exception with a message for the agent if it may not.
    virtual void agent_reply(Agent& a, uint64_t request_id, std::string payload,
                             std::string error) = 0;
    // The agent reports model usage (AgentHost.reportUsage); throws
    // std::exception with a message for the agent for bad arguments.
    virtual void agent_usage(Agent& a, std::string_view task_id, std::string_view model,
                             uint64_t input_tokens, uint64_t output_tokens) = 0;
    // Something an operator would want in the swarm's event stream
    // ("seccomp violation: ptrace (killed)", "paused").
    virtual void agent_event(Agent& a, std::string_view what) = 0;

   protected:
    ~Listener() = default;
  };

  Agent(Runtime& rt, Listener& listener, AgentPlan plan);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts spawning the process and returns at once. Throws SysError only if
  // the daemon cannot even prepare (socketpair, pipe); then nothing changed.
  // A spawn that fails later is reported as an exit (spawn_failed).
  void start();

  // Graceful stop: shutdown(grace) over RPC, SIGTERM after grace, SIGKILL
  // after another grace. Resolves once the process has exited and its output
  // is in the log file (at once if it had already exited).
  kj::Promise<void> stop(std::chrono::milliseconds grace);

  // SIGKILL now, to every process of the agent; the exit counts as stopped
  // on request.
  void kill();

  // The agent broke the protocol (why: "sent a message payload of ..."):
  // SIGKILL now; the exit is protocol_error. Ignored unless it is running.
  void protocol_error(std::string why);

  // Its Agent capability, once it said hello in this run.
  kj::Maybe<rpc::Agent::Client&> client() noexcept;

  // Asks the agent how it is doing (rpc::Agent.vibe); resolves within
  // `deadline` whatever the agent does, and at once for an agent that is
  // not running or has not said hello.
  kj::Promise<VibeAnswer> vibe(std::chrono::milliseconds deadline);

  // Freezes (true) or thaws (false) every process of the running agent.
  // Throws std::runtime_error if it is not running or has no cgroup.
  void pause(bool paused);
  bool paused() const noexcept { return paused_; }

  // Reads the cgroup's usage and event counters and updates the metrics;
  // returns the sample (nullopt without a running cgroup). Cheap: a few
  // small cgroupfs reads.
  std::optional<AgentUsage> sample();
  const std::optional<AgentUsage>& last_usage() const noexcept { return usage_; }

  // The log's end (for `logs -f` followers) is the owner's call: only it
  // knows whether a restart follows. ~Agent ends it if nobody did.

  // Resolves when the current process exits (at once if none is running).
  kj::Promise<void> when_exited();

  const std::string& id() const noexcept { return id_; }
  const AgentPlan& plan() const noexcept { return plan_; }
  AgentState state() const noexcept { return state_; }
  pid_t pid() const noexcept { return pid_; }
  int64_t started_unix_ms() const noexcept { return started_unix_ms_; }
  uint32_t restarts() const noexcept { return restarts_; }
  void count_restart() noexcept { ++restarts_; }
  const ExitInfo& last_exit() const noexcept { return last_exit_; }
  AgentLog& log() noexcept { return *log_; }
  // Shared so that a `logs -f` follower can finish even if the agent's
  // record is dropped under it.
  std::shared_ptr<AgentLog> shared_log() const noexcept { return log_; }

 private:
  class Host;
  friend class Host;

  void set_state(AgentState s);
  void on_spawned(sandbox::Child child);
  void on_spawn_failed(std::string why);
  void finish_exit(ExitInfo info);
  void said_hello(rpc::Agent::Client self, rpc::AgentHost::HelloResults::Builder results);
  void watch_connection();
  void on_hang_up(kj::Exception reason);
  void become_ready();
  void watch_exit();
  void watch_log(UniqueFd read_end);
  void drain_log();
  void record_output(std::string_view data);
  void on_exit();
  void on_start_timeout();
  // false if the signal could not be sent (logged); true if sent or gone.
  bool send_signal(int sig);
  void terminate();
  void watch_violations(UniqueFd listener);
  void on_violations();
  void stop_watching_violations();
  struct RunCgroup;
  PrepareSpawn prepare_cgroup(std::shared_ptr<RunCgroup>& made);
  void adopt_cgroup(RunCgroup& made);
  void watch_oom();
  void on_oom();
  void release_cgroup();
  void report_counters();
  std::string oom_limit() const;
  bool kill_all();  // as send_signal()

  Runtime& rt_;
  Listener& listener_;
  AgentPlan plan_;
  std::string id_;
  UidLease uid_;

  AgentState state_ = AgentState::exited;
  bool counted_ = false;  // in the agents-by-state gauge since the first start
  bool said_hello_ = false;  // in the current run
  // Became ready in the current run, so the swarm counts it as ready: a
  // hello that overtakes the spawn's report of an agent then stopped does not.
  bool was_ready_ = false;
  Intent intent_ = Intent::none;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  std::chrono::steady_clock::time_point spawned_at_;
  int64_t started_unix_ms_ = 0;
  uint32_t restarts_ = 0;
  ExitInfo last_exit_;
  std::shared_ptr<AgentLog> log_;
  std::shared_ptr<Agent*> host_target_;  // this, for its Hosts; null once it goes
  std::unique_ptr<LogFile> log_file_;  // null when logs are not kept on disk

  ipc::UvHandle<uv_poll_t> exit_watch_;
  std::optional<sandbox::SeccompListener> seccomp_;
  ipc::UvHandle<uv_poll_t> violation_watch_;
  std::string killed_for_;  // the syscall a violation killed it for
  kj::Promise<void> runtime_limit_{nullptr};
  std::unique_ptr<sandbox::CgroupNode> cgroup_;  // the current run's
  std::optional<sandbox::OomWatch> oom_;
  ipc::UvHandle<uv_poll_t> oom_watch_;
  uint64_t oom_kills_ = 0;                // in the current run
  sandbox::CgroupCounters reported_;      // the run's counters already in metrics
  bool paused_ = false;
  std::optional<AgentUsage> usage_;
  uint64_t sampled_cpu_usec_ = 0;
  std::chrono::steady_clock::time_point sampled_at_;
  ipc::UvHandle<uv_pipe_t> log_pipe_;
  kj::Own<ipc::RpcConnection> rpc_;  // a capnp agent's connection, or
  kj::Own<JsonlBridge> jsonl_;       // a jsonl agent's
  UniqueFd pending_log_read_;      // the log pipe, until the spawn completes
  kj::Promise<void> spawning_{nullptr};
  kj::Maybe<rpc::Agent::Client> client_;
  kj::Promise<void> timer_{nullptr};  // ready timeout or stop escalation
  kj::Promise<void> connection_watch_{nullptr};
  kj::Promise<void> hang_up_grace_{nullptr};
  kj::Maybe<kj::ForkedPromise<void>> exited_;
  kj::Own<kj::PromiseFulfiller<void>> exit_fulfiller_;
};

}  // namespace smol::supervisor
