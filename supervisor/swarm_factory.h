// SwarmFactory: turns specs into running swarms and keeps the swarm table.
//
// spawn() parses and validates a spec, refuses a name that is still
// running, resolves each group's command, stores the spec in LMDB and starts
// the swarm. Swarms stay in memory after they stop (so `ps` can show how
// their agents ended) until a new spec with the same name replaces them;
// swarms known only from LMDB (from before a daemon restart) are listed as
// stopped. The table is written only when a swarm's persisted status
// changes, never per agent event, so a big swarm costs one fsync to start.
//
// Every kSampleInterval each running swarm's traffic summary goes to its
// event stream, and its resource use is sampled into the metrics (a few
// cgroupfs reads per agent), a few dozen agents a loop turn, so that big
// swarms never hold the loop for long.
//
// Thread: the loop thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>

#include "storage/swarm_table.h"
#include "supervisor/runtime.h"
#include "supervisor/swarm.h"

namespace smol::supervisor {

// One row of `swarmctl ls`, whether the swarm is in memory or only in LMDB.
struct SwarmSummary {
  std::string name;
  SwarmState state = SwarmState::stopped;
  uint32_t agents_ready = 0;
  uint32_t agents_total = 0;
  int64_t created_unix_ms = 0;
  std::string source_name;
  std::string last_error;
};

class SwarmFactory final : public Swarm::Listener {
 public:
  SwarmFactory(Runtime& rt, storage::SwarmTable& table);
  ~SwarmFactory();
  SwarmFactory(const SwarmFactory&) = delete;
  SwarmFactory& operator=(const SwarmFactory&) = delete;

  struct Started {
    std::string name;
    kj::Promise<double> ready;  // milliseconds until every agent said hello
  };
  // Throws spec::SpecError for an invalid spec and std::runtime_error for a
  // name already running or a command that cannot be found; the promise
  // rejects if the swarm fails to start.
  Started spawn(std::string_view spec_toml, std::string_view source_name,
                std::string_view base_dir);

  // Starts again the swarms a previous swarmd was running when it died
  // (their records were still active), from their stored specs, so that
  // their unfinished tasks resume. One that cannot start is logged and
  // stays stopped.
  void restore(const std::vector<storage::SwarmRecord>& crashed);

  // nullptr if no swarm of that name is in memory.
  Swarm* find(std::string_view name);
  // The running swarm of that name; throws std::runtime_error saying
  // whether it is unknown or not running.
  Swarm& running(std::string_view name);
  std::vector<SwarmSummary> list() const;
  std::optional<SwarmSummary> summary(std::string_view name) const;
  // The same, for a swarm that must exist: throws std::runtime_error
  // ("no swarm named ...") if it does not.
  SwarmSummary known(std::string_view name) const;
  // Samples the usage of the named running swarms' agents, kSampleChunk
  // agents a loop turn, so that big swarms never hold the loop for long;
  // resolves when done. Swarms stopped or replaced meanwhile are left out.
  kj::Promise<void> sample(std::vector<std::string> names);
  // The agents a swarm's spec makes, {id, role}, whether it runs or not;
  // none for an unknown swarm, or a stored spec this daemon cannot parse.
  std::vector<std::pair<std::string, std::string>> agent_names(std::string_view name) const;

  // Stops one swarm (it must exist: see summary()); resolves when all its
  // agents have exited.
  kj::Promise<void> stop(std::string_view name, std::chrono::milliseconds grace);
  // Stops every running swarm in parallel under one grace period.
  kj::Promise<void> stop_all(std::chrono::milliseconds grace);

  size_t swarms_running() const;
  size_t agents_running() const;

  // Called after any swarm changes state (e.g. to update systemd's STATUS=).
  void on_change(std::function<void()> f) { on_change_ = std::move(f); }

 private:
  void swarm_changed(Swarm& s) override;
  // Every kSampleInterval: each running swarm's traffic summary, then its
  // usage (sample()).
  kj::Promise<void> tick_later();
  struct SampleCursor {
    struct Target {
      std::string name;
      const Swarm* swarm;  // compared, never followed: it may be gone
      int64_t created_unix_ms;
    };
    std::vector<Target> swarms;
    size_t swarm = 0;
    uint32_t agent = 0;
  };
  kj::Promise<void> sample_step(SampleCursor c);
  class LogErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  std::vector<AgentPlan> plan_agents(const spec::SwarmSpec& spec, const std::string& base_dir);

  Runtime& rt_;
  storage::SwarmTable& table_;
  std::map<std::string, std::unique_ptr<Swarm>, std::less<>> swarms_;
  std::map<std::string, storage::SwarmStatus, std::less<>> persisted_;
  std::function<void()> on_change_;
  kj::Promise<void> ticking_{nullptr};
  LogErrors errors_;
  kj::TaskSet restoring_{errors_};  // restored swarms, until ready
};

SwarmSummary summarize(const Swarm& s);

}  // namespace smol::supervisor
