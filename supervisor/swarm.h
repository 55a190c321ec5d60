// Swarm: the agents started from one spec, and their collective state.
//
// start() spawns every agent (in small batches, so a 1000-agent swarm does
// not hold the loop for the whole spawn) and resolves when each has said
// hello. If any agent fails to start — its spawn fails, it exits first, or
// it misses ready_timeout — every agent is killed and start() rejects with
// a message naming that agent and quoting its last output: a half-started
// swarm is never left running. Once ready, an agent that exits is restarted
// per its group's restart policy, with exponential backoff; stop() stops
// them all in parallel under one grace period.
//
// What happens to the swarm and its agents (starts, readiness, exits,
// restarts, violations, OOM kills, pauses, vibe checks) goes to its event
// stream, one timestamped line each, kept in a bounded ring for
// `swarmctl events` (and -f) and appended to logs/SWARM/events.log
// (log_files.h), which outlives the daemon; the stream ends when the swarm
// has stopped or failed and its agents are gone.
//
// Its agents message each other through its Messaging (messaging.h), with
// the capabilities their roles are granted at hello (agent_grants.h); a
// summary of the traffic goes to the event stream every few seconds. A
// spec with [tasks] gets a TaskBoard (task_board.h), which resumes the
// swarm's unfinished tasks as soon as its lead is up.
//
// The swarm's cgroup is its resource pool ([limits]): every agent's cgroup
// is made below it, so the pool's limits hold for all of them together. It
// is removed once the swarm has stopped or failed and its agents are gone.
//
// Thread: the loop thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>

#include "supervisor/agent.h"
#include "supervisor/log_file.h"
#include "supervisor/messaging.h"
#include "supervisor/runtime.h"
#include "supervisor/swarm_spec.h"
#include "supervisor/task_board.h"

namespace smol::supervisor {

enum class SwarmState { starting, ready, stopping, stopped, failed };
std::string_view state_name(SwarmState s);

class Swarm final : public Agent::Listener {
 public:
  class Listener {
   public:
    // The swarm moved to another SwarmState (persist it, update gauges).
    virtual void swarm_changed(Swarm& s) = 0;

   protected:
    ~Listener() = default;
  };

  // plans holds one entry per agent, in spec order; their cgroup_pool is
  // pool (null: no cgroups), which the swarm owns from here on.
  Swarm(Runtime& rt, Listener& listener, spec::SwarmSpec spec, std::vector<AgentPlan> plans,
        std::shared_ptr<sandbox::CgroupNode> pool, int64_t created_unix_ms,
        std::string source_name);
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Resolves with the milliseconds it took for every agent to say hello;
  // rejects (with an rpc_error message) if the swarm failed to start.
  kj::Promise<double> start();

  // Stops every agent; resolves when all have exited.
  kj::Promise<void> stop(std::chrono::milliseconds grace);

  const std::string& name() const noexcept { return spec_.name; }
  const spec::SwarmSpec& spec() const noexcept { return spec_; }
  SwarmState state() const noexcept { return state_; }
  bool running() const noexcept;  // starting, ready or stopping
  // Not running, every agent gone and the pool released: a new swarm may
  // take the name (and the cgroup paths) now.
  bool settled() const noexcept;
  uint32_t ready_count() const noexcept { return ready_; }
  uint32_t size() const noexcept { return static_cast<uint32_t>(members_.size()); }
  int64_t created_unix_ms() const noexcept { return created_unix_ms_; }
  const std::string& source_name() const noexcept { return source_name_; }
  const std::string& last_error() const noexcept { return last_error_; }

  // Samples the usage of agents [from, from + count) into the metrics and
  // their last_usage(), and once that reaches the last agent, the pool's.
  // Returns where the next call starts; size() when all are done. A few
  // cgroupfs reads per agent: SwarmFactory::sample() calls it a chunk of
  // agents a loop turn.
  uint32_t sample_some(uint32_t from, uint32_t count);
  // Adds the summary of the message traffic since the last one to the
  // event stream, if there was any.
  void report_traffic();

  // Freezes (true) or thaws every running agent; throws
  // std::runtime_error if none runs or cgroups are unavailable.
  void pause(bool paused);

  // Asks every agent how it is doing (Agent::vibe), all at once, and
  // resolves with the answers in spec order once all are in or `deadline`
  // has passed; records the outcome in the metrics.
  struct VibeReport {
    std::vector<std::pair<std::string, VibeAnswer>> agents;  // id, answer
    uint32_t ok = 0, degraded = 0, failing = 0, silent = 0;
    double took_millis = 0;
  };
  kj::Promise<VibeReport> vibe_check(std::chrono::milliseconds deadline);

  // The event stream; shared so that a follower outlives a replaced swarm.
  std::shared_ptr<AgentLog> events() const noexcept { return events_; }

  // How its agents (and the operator) message each other.
  Messaging& messaging() noexcept { return *messaging_; }
  // Its tasks; null when the spec has no [tasks].
  TaskBoard* tasks() noexcept { return tasks_.get(); }

  // Agents in spec order; nullptr from find() if no agent has that id.
  std::vector<const Agent*> agents() const;
  Agent* find(std::string_view agent_id);

 private:
  struct Member {
    std::unique_ptr<Agent> agent;
    const spec::AgentGroupSpec* group;
    kj::Promise<void> restart_timer{nullptr};
    bool restart_pending = false;  // exited, and coming back after a backoff
  };

  void agent_ready(Agent& a) override;
  void agent_exited(Agent& a, bool was_ready) override;
  void describe_peers(rpc::Identity::Builder identity) override;
  void grant(Agent& a, rpc::Grants::Builder grants) override;
  void agent_reply(Agent& a, uint64_t request_id, std::string payload,
                   std::string error) override;
  void agent_usage(Agent& a, std::string_view task_id, std::string_view model,
                   uint64_t input_tokens, uint64_t output_tokens) override;
  void agent_event(Agent& a, std::string_view what) override;
  void event(std::string_view who, std::string_view what);

  kj::Promise<void> spawn_from(size_t next);
  void fail_start(std::string message);
  bool should_restart(const Member& m) const;
  void schedule_restart(Member& m);
  Member& member_of(const Agent& a);
  void set_state(SwarmState s);
  size_t running_agents() const;
  void release_pool();
  // The event stream is over: followers are told why, and the file closed.
  void end_events(std::string reason);

  Runtime& rt_;
  Listener& listener_;
  spec::SwarmSpec spec_;
  std::shared_ptr<sandbox::CgroupNode> pool_;  // shared with the agents' plans
  std::shared_ptr<AgentLog> events_;
  std::unique_ptr<LogFile> events_file_;  // events_ on disk too; null without log files
  std::vector<std::string> roles_;  // in spec order
  // Before the agents: it outlives their connections (messaging.h).
  std::unique_ptr<Messaging> messaging_;
  std::unique_ptr<TaskBoard> tasks_;  // likewise
  std::vector<Member> members_;
  int64_t created_unix_ms_;
  std::string source_name_;
  SwarmState state_ = SwarmState::starting;
  uint32_t ready_ = 0;
  std::string last_error_;
  std::chrono::steady_clock::time_point start_time_;
  kj::Promise<void> spawning_{nullptr};  // the batches of spawn_from
  kj::Promise<void> failing_{nullptr};   // a failed start: kill all, then reject
  kj::Own<kj::PromiseFulfiller<double>> ready_fulfiller_;
};

}  // namespace smol::supervisor
