// Tasks in libsmolagent: the lead's and the workers' side of
// `swarmctl task run` (the protocol is ipc/task.capnp).
//
// A lead registers on_task(); a worker on_subtask(). Both handlers are
// plain blocking functions: the session runs them from run(), one at a
// time, outside any event callback, so inside them the agent may wait
// (delegate, Delegation::next, request, memory calls) while the session
// keeps answering vibe checks and delivering messages. What the handler
// returns is the result; what it throws fails the task or the subtask with
// the exception's message (the daemon may retry a failed subtask on
// another worker).
//
//   session.on_task([&](TaskContext& task) {
//     auto d = task.delegate({{"part-1", "..."}, {"part-2", "..."}});
//     std::string report;
//     while (auto r = d.next()) report += r->result;
//     return report;
//   });
//
//   session.on_subtask([&](SubtaskContext& sub) {
//     sub.progress(0.5, "halfway");
//     return work_on(sub.input());
//   });
//
// Keys name subtasks within a task; delegating a key again returns the
// same subtask's outcome, which is how a lead resumes a task after a
// restart (TaskContext::resumed): it delegates the same keys, and only the
// unfinished ones run again.
//
// Thread: the session's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace smol::agent {

struct SubtaskSpec {
  std::string key;    // unique within the task, 1..256 bytes
  std::string input;
  std::string to;     // one agent ("worker-2" or "worker/2"); "": any worker
};

struct DelegateOptions {
  std::string role;                          // "": any of the swarm's worker roles
  std::chrono::milliseconds timeout{0};      // per attempt; 0: [tasks] subtask_timeout
  uint32_t max_attempts = 0;                 // 0: [tasks] max_attempts
};

struct SubtaskOutcome {
  enum class State { succeeded, failed, cancelled };
  std::string key;
  State state = State::succeeded;
  std::string result;  // succeeded
  std::string error;   // failed or cancelled
  uint32_t attempts = 0;
  std::string worker;
  bool ok() const { return state == State::succeeded; }
};

struct DelegationRefusal {
  uint32_t index;      // in the subtasks given
  std::string reason;  // self_delegation, cycle, budget_exceeded, ... (ipc/task.capnp)
  std::string message;
};

// The subtasks of one delegate() call, whose outcomes arrive as they
// finish.
class Delegation {
 public:
  struct State;
  explicit Delegation(std::shared_ptr<State> state);
  ~Delegation();
  Delegation(Delegation&&) noexcept;
  Delegation& operator=(Delegation&&) noexcept;

  // The subtasks the daemon refused (the others run).
  const std::vector<DelegationRefusal>& refused() const;
  // Accepted subtasks whose outcome has not arrived yet.
  size_t remaining() const;
  // The next outcome, waiting for it; nullopt once every accepted subtask
  // has one. Throws std::runtime_error if the task was cancelled or the
  // daemon hung up.
  std::optional<SubtaskOutcome> next();
  // Waits for every remaining outcome.
  std::vector<SubtaskOutcome> wait_all();
  // Cancels the subtasks not finished yet; their outcomes still come, as
  // cancelled. Returns how many.
  uint32_t cancel_remaining();

 private:
  std::shared_ptr<State> state_;
};

// What lead and worker handlers share.
class WorkContext {
 public:
  struct State;
  virtual ~WorkContext();

  const std::string& task_id() const;
  const std::string& input() const;
  // Whether this agent may delegate here (a lead always; a worker while
  // [tasks] max_depth allows).
  bool can_delegate() const;
  // Delegates subtasks to workers. Throws std::runtime_error if it may not
  // or the daemon refused the whole call; single subtasks it refuses are in
  // Delegation::refused().
  Delegation delegate(const std::vector<SubtaskSpec>& subtasks, const DelegateOptions& options = {});
  // Model usage, counted against this task's, the swarm's and this
  // agent's token budgets. Never waits.
  void report_usage(const std::string& model, uint64_t input_tokens, uint64_t output_tokens);
  // The daemon no longer wants this work (cancelled, timed out, or the
  // task ended): stop early; what the handler returns is ignored.
  bool cancelled() const;

 protected:
  explicit WorkContext(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

class TaskContext final : public WorkContext {
 public:
  explicit TaskContext(std::shared_ptr<State> state) : WorkContext(std::move(state)) {}
  // The task was run before (the lead restarted, or swarmd did).
  bool resumed() const;
  uint64_t budget_tokens() const;  // 0: none
};

class SubtaskContext final : public WorkContext {
 public:
  explicit SubtaskContext(std::shared_ptr<State> state) : WorkContext(std::move(state)) {}
  const std::string& key() const;
  uint32_t attempt() const;  // 1 for the first
  // The attempt's timeout: it counts from the first progress() call, or,
  // without one, from when swarmd handed the attempt over, plus one
  // timeout for each subtask this agent held then (they run one at a time).
  std::chrono::milliseconds timeout() const;
  // How far along it is (0..1) and what it is doing; coalesced, never waits.
  void progress(float fraction, const std::string& note = {});
};

}  // namespace smol::agent
