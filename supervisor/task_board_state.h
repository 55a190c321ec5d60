// The inside of TaskBoard (task_board.h), shared by the files that
// implement it: task_board.cc (tasks, leads, agents and budgets),
// task_delegation.cc (what a delegate call accepts or refuses) and
// task_dispatch.cc (starting subtasks on workers and taking their
// outcomes). Not for any other file.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "supervisor/task_board.h"

namespace smol::supervisor {

inline bool is_open(storage::SubtaskState s) {
  return s == storage::SubtaskState::pending || s == storage::SubtaskState::running;
}

struct TaskBoard::Delegation {
  uint64_t id;
  std::string task_id;
  std::string agent;  // who delegated
  rpc::ResultSink::Client sink;
  std::deque<Outcome> outbox;
  size_t outbox_bytes = 0;  // of the outbox's text in memory
  bool sending = false;
  bool dead = false;  // the sink failed: its agent is gone
  std::vector<Sub*> subs;
};

struct TaskBoard::Sub {
  Run* run;
  std::string key, parent, role, to;
  // Kept for its attempts while the task's inputs held fit in kHeldInputs;
  // else empty, and read back from the store for each attempt.
  std::string input;
  bool input_in_store = false;
  std::string delegator;  // the agent waiting for it; "" until routed
  std::string waiting;    // the running attempt's waits-for edge: its delegator
  uint32_t depth = 1;
  uint32_t timeout_ms = 0;
  uint32_t max_attempts = 1;
  storage::SubtaskState state = storage::SubtaskState::pending;
  uint32_t attempts = 0;  // started, over the task's life
  // Of those, ended through no fault of the subtask (its swarm stopped, or
  // swarmd restarted): not held against max_attempts.
  uint32_t attempts_lost = 0;
  uint64_t attempt = 0;   // the running one's id
  std::string worker;     // the running one's, or the last one's
  std::set<std::string> failed_on;
  std::vector<Delegation*> delegations;  // where its outcome goes
  std::map<uint64_t, uint32_t> delegated;  // times, by delegator scope (runaway guard)
  float progress = 0;
  std::string note;
  std::chrono::steady_clock::time_point progress_saved;  // last written to the store
  std::optional<DeadlineQueue::Handle> deadline;
  bool started = false;  // the running attempt's worker has reported on it
  bool backoff = false;  // pending, but waiting before its next attempt
  std::string text;      // the error once ended; the result until it is sent
  bool result_stored = false;  // succeeded, and text went to the store
};

struct TaskBoard::Run {
  storage::TaskRecord rec;
  bool resumed = false;  // its subtasks may be in the store already
  bool ended = false;
  std::string lead;       // the agent running it, "" while none
  uint64_t lead_call = 0; // counts runTask calls, so a stale answer is ignored
  std::map<std::string, std::unique_ptr<Sub>, std::less<>> subs;
  std::deque<Sub*> pending;
  std::map<uint64_t, std::unique_ptr<Delegation>> delegations;
  uint32_t running = 0;
  size_t inputs_held = 0;  // bytes of its subtasks' inputs in memory (Sub::input)
  kj::Promise<void> timeout{nullptr};
  std::unique_ptr<TaskWatchers> watchers;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  uint64_t tokens() const {
    uint64_t n = 0;
    for (const auto& u : rec.tokens) {
      n = storage::add_tokens(n, storage::add_tokens(u.input_tokens, u.output_tokens));
    }
    return n;
  }
};

}  // namespace smol::supervisor
