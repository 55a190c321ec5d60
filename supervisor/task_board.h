// TaskBoard: one swarm's tasks, run by its lead and its workers.
//
// A task (from `swarmctl task run`, or unfinished in the store when the
// swarm comes up) is handed to a lead agent (Agent.runTask, the least busy
// agent of the [tasks] lead role) with a Delegator. Subtasks the lead
// delegates wait in the task's queue; the board starts each on the least
// loaded worker that may take it (WorkerPool), at most max_concurrency at
// once in the swarm, taking the tasks in turn. An attempt ends when its
// worker answers, fails, exits or misses the subtask's timeout; a failed
// attempt is retried after a backoff (50 ms doubling, at most 5 s), on a
// worker that has not failed it yet when there is one, until max_attempts.
// Each outcome goes to the delegation's ResultSink as it comes, batched,
// one call in flight. The lead's answer ends the task, and its result is
// written to the swarm's long-term memory under "task/<id>".
//
// Everything is recorded in the TaskStore through the TaskLedger (group
// commits), which is what lets a task resume: subtasks are named by key,
// and a key delegated again returns the subtask already there (its stored
// outcome, or the attempt still running) instead of a second one. A lead
// that dies mid-task gets the task again when it is back (resumed); so
// does a new lead after a daemon restart, and only the unfinished
// subtasks run again.
//
// Guards, each a refusal with a reason (DelegationRefusal) counted in
// delegations_refused_total:
//   - self_delegation, cycle: the board keeps the waits-for graph (an edge
//     from each delegating agent to each worker running one of its
//     subtasks); a subtask never goes to its delegator or to an agent that
//     waits on it, directly or not. A subtask naming such an agent (`to`),
//     or a role with no other worker, is refused.
//   - max_subtasks per task; max_depth by construction: a worker's
//     Subtask carries a Delegator only while its depth is below max_depth.
//   - runaway: a key delegated more than kMaxRedelegations times by one
//     delegator (one run of a lead, one attempt of a worker) fails the task.
//   - A key is the subtask's for good: delegated again, from the same place
//     in the tree, it returns that subtask's outcome (or waits for it) and
//     changes nothing about where it runs; from another place it is
//     refused (bad_subtask).
//   - budget_exceeded: token budgets (task, swarm, agent; tasks_spec.h).
//     The task the usage was reported for fails or pauses, per spec.
//   - no_worker (no worker of that role or name), bad_subtask (key or
//     input out of bounds), task_ended.
//
// Thread: the loop thread. Declared before the swarm's agents, so it
// outlives their connections and the capabilities served on them.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <kj/async.h>

#include "ipc/agent.capnp.h"
#include "ipc/task.capnp.h"
#include "storage/task_store.h"
#include "supervisor/deadline_queue.h"
#include "supervisor/runtime.h"
#include "supervisor/task_watch.h"
#include "supervisor/task_workers.h"
#include "supervisor/tasks_spec.h"

namespace smol::supervisor {

class TaskBoard {
 public:
  // agents: the swarm's, as id and role. event: a line for the swarm's
  // event stream.
  TaskBoard(Runtime& rt, std::string swarm, spec::TasksSpec spec, uint32_t max_payload,
            const std::vector<std::pair<std::string, std::string>>& agents,
            std::function<void(std::string_view)> event);
  ~TaskBoard();
  TaskBoard(const TaskBoard&) = delete;
  TaskBoard& operator=(const TaskBoard&) = delete;

  // Resumes the swarm's unfinished tasks from the store (call once the
  // swarm exists; they start as leads say hello).
  void resume_stored();

  // Agents, from the swarm. for_good: it will not be restarted.
  void agent_ready(const std::string& id, const std::string& role, rpc::Agent::Client client);
  void agent_down(const std::string& id, std::string_view why, bool for_good);
  // The swarm is stopping: attempts in flight are lost (run again when it
  // is back), and its tasks wait in the store.
  void swarm_stopping();

  // Model usage an agent reports (AgentHost.reportUsage). Throws
  // std::invalid_argument for an unknown task id.
  void usage(const std::string& agent, const std::string& role, std::string_view task_id,
             std::string_view model, uint64_t input_tokens, uint64_t output_tokens);

  // Operator requests (task_service.h); each throws std::runtime_error with
  // a message for the operator.
  // Throws if the swarm takes no new task now (its budget is used up).
  void admit() const;
  // A new task, made in the store.
  void run(storage::TaskRecord task);
  bool has(std::string_view task_id) const { return runs_.contains(task_id); }
  void cancel(std::string_view task_id, std::string why);
  void resume(std::string_view task_id, uint64_t budget_tokens);
  // Watches a task of this board; resolves once it has ended and watcher
  // has had every event.
  kj::Promise<void> watch(std::string_view task_id, rpc::TaskWatcher::Client watcher);
  // The live part of a task the store does not have: how many subtasks
  // run, and each running one's progress.
  uint32_t running(std::string_view task_id) const;
  struct Progress {
    float fraction = 0;
    std::string note;
  };
  std::optional<Progress> progress(std::string_view task_id, std::string_view key) const;

  // For Delegator and Delegation (task_rpc.h).
  struct Refused {
    uint32_t index;
    std::string reason;
    std::string message;
  };
  struct Delegated {
    uint64_t delegation = 0;  // 0: none made (every subtask refused)
    std::vector<Refused> refused;
  };
  struct Spec {
    std::string key, input, to;
  };
  struct Options {
    std::string role;
    uint32_t timeout_ms = 0;
    uint32_t max_attempts = 0;
  };
  // agent delegates, at depth (1: the lead's), on behalf of the subtask
  // parent ("" for the lead), within scope (the Delegator's: a lead's
  // runTask call, lead_scope(), or a worker's attempt id).
  Delegated delegate(std::string_view task_id, const std::string& agent,
                     const std::string& parent, uint32_t depth, uint64_t scope,
                     std::vector<Spec> subtasks, Options options, rpc::ResultSink::Client sink);
  static uint64_t lead_scope(uint64_t call) { return call | (uint64_t{1} << 63); }
  uint32_t cancel_remaining(std::string_view task_id, uint64_t delegation);

 private:
  struct Run;
  struct Sub;
  struct Delegation;
  struct Outcome {
    std::string key;
    storage::SubtaskState state;
    std::string text;  // result or error
    uint32_t attempts;
    std::string worker;
    bool in_store = false;  // a result left to the store: text is read back to send it
  };

  // Tasks and leads.
  Run* find_run(std::string_view task_id) const;
  void adopt(storage::TaskRecord task, bool resumed);
  void fill_info(const std::string& task_id, rpc::TaskInfo::Builder b);
  void start_leads();
  void start_lead(Run& r, const std::string& lead, rpc::Agent::Client client);
  void lead_failed(Run& r, kj::Exception e);
  void end_run(Run& r, storage::TaskState state, std::string text);
  void pause_run(Run& r, std::string why);
  void store_result(const Run& r, const std::string& result);
  void bury(std::unique_ptr<Run> r);

  // Delegation.
  bool scope_alive(const Run& r, const std::string& agent, uint64_t scope) const;
  // A finished subtask's outcome; a result already in the store stays there
  // until sent (Outcome::in_store).
  Outcome outcome(const Sub& s);
  // Loads a key delegated before a restart from the store; null if none.
  Sub* load_stored(Run& r, const std::string& key);
  std::optional<Refused> check(Run& r, const std::string& agent, const std::string& parent,
                               uint32_t depth, uint64_t scope, const Spec& s, const Options& o,
                               uint32_t index) const;
  // Adds the subtask to the run (new ones also to created, for the store).
  void add_sub(Run& r, Delegation& d, const std::string& parent, uint32_t depth, uint64_t scope,
               Spec spec, const Options& o,
               std::vector<storage::TaskStore::NewSubtask>& created);
  // A subtask's record in the task store; nullopt (logged) if it is missing
  // or unreadable.
  std::optional<storage::SubtaskRecord> stored(const std::string& task_id, const std::string& key);
  // An open subtask's input stays in memory while the task's inputs fit in
  // kHeldInputs (16 MiB); past that, or once it has ended, it is read back
  // from the store for each attempt, so a lead that delegates max_subtasks
  // inputs of max_payload cannot make swarmd hold them all. input_of() is
  // nullopt if the store cannot give it back.
  void hold_input(Sub& s);
  void release_input(Sub& s);
  std::optional<std::string> input_of(const Sub& s);
  void refuse(std::vector<Refused>& out, Refused r);
  bool waits_on(const std::string& from, const std::string& to) const;
  std::string budget_exhausted(const Run& r, const std::string& agent) const;
  void over_budget(Run& r, std::string why);

  // Scheduling.
  void pump();
  bool dispatch_one(Run& r);
  void start_attempt(Sub& s, WorkerPool::Worker& w);
  void on_update(WorkerPool::Worker& w, uint64_t attempt, AttemptUpdate u);
  void detach_attempt(Sub& s, bool tell_worker, std::string_view result_label);
  void end_attempt(Sub& s, bool ok, std::string text, std::string_view result_label,
                   bool may_retry);
  void cancel_sub(Sub& s, std::string why, bool deliver_outcome);
  void cancel_stranded(const std::string& why);
  void on_timeout(uint64_t attempt);
  void requeue_later(Sub& s);
  void finish_sub(Sub& s, storage::SubtaskState state, std::string text);
  // Queues an outcome for the delegation's sink. Results wait in memory up
  // to kOutboxBytes per delegation (a lead that does not take them must
  // not make swarmd hold max_subtasks of them); past that they wait in the
  // store and are read back when their turn comes.
  void deliver(Delegation& d, Outcome o);
  void send_results(Delegation& d);
  // Fills an in_store outcome's text from the store (a failure if it cannot).
  void read_back(const std::string& task_id, Outcome& o);
  void set_in_flight();

  Runtime& rt_;
  std::string swarm_;
  spec::TasksSpec spec_;
  uint32_t max_payload_;
  std::function<void(std::string_view)> event_;
  WorkerPool workers_;
  DeadlineQueue deadlines_;
  std::set<std::string> lead_agents_;  // of the lead role, not stopped for good
  std::map<std::string, rpc::Agent::Client, std::less<>> leads_;  // ready lead agents
  std::map<std::string, std::unique_ptr<Run>, std::less<>> runs_;
  std::map<uint64_t, Sub*> attempts_;  // running attempts
  // The waits-for graph: delegating agent -> worker -> subtasks running.
  std::map<std::string, std::map<std::string, uint32_t>, std::less<>> waits_;
  std::map<std::string, uint64_t, std::less<>> agent_tokens_;
  uint64_t swarm_tokens_ = 0;
  uint64_t next_attempt_ = 1;
  uint64_t next_delegation_ = 1;
  uint32_t in_flight_ = 0;
  bool pumping_ = false;
  std::vector<std::unique_ptr<Run>> graveyard_;  // ended, freed on the next turn
  class LogErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  LogErrors errors_;
  kj::TaskSet tasks_{errors_};
};

}  // namespace smol::supervisor
