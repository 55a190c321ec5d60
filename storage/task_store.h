// TaskStore: the tasks of every swarm, their subtasks and attempts, kept in
// the daemon's LMDB environment so that a task survives the daemon.
//
// A task is what `swarmctl task run` hands a swarm's lead; the lead splits it
// into subtasks, which the daemon runs on workers, each subtask perhaps over
// several attempts (a worker that dies or times out; a retry elsewhere). The
// store is the record of all of it, and the rules that keep it consistent:
//
//   - A subtask is named by its task and the key the lead gave it ("chunk-3").
//     Adding a key the task already has returns the existing subtask: a lead
//     that re-delegates after a daemon restart gets the stored result of what
//     already finished, and nothing runs twice.
//   - An attempt's outcome is accepted once: finish_attempt() for an attempt
//     that is not the subtask's current one, or for a subtask already done,
//     changes nothing and says so (a late result of a timed-out attempt, a
//     duplicate after a restart).
//   - recover() at daemon start turns every attempt that was running into a
//     lost one, so the scheduler runs those subtasks again; finished
//     subtasks and their results stay.
//
// Records: three databases, values as Cap'n Proto records
// (storage/records.capnp):
//   tasks       task id -> TaskRecord; "i/" task id -> the task's input
//               (apart, so the record rewritten as counters move stays
//               small); and "#next_id" -> be64 counter (no task id starts
//               with '#' or 'i')
//   subtasks    task id \0 key -> SubtaskRecord (task ids are 14 bytes and
//               hold no \0, so keys of different tasks cannot collide)
//   task_order  sorted sets (storage/memory_sorted_set.h), because Txn has
//               no cursor to walk a range of keys:
//                 "a"            every task, newest first
//                 "s" swarm      the swarm's tasks, newest first
//                 "r"            the ids of unfinished (running or paused)
//                                tasks, for recover()
//                 "k" task id    the task's subtask keys
//               Order items are be64(~created time) be64(~id counter), so
//               ascending order is newest first, later ids first within a
//               millisecond.
// Task ids are "t-" followed by 12 lowercase hex digits from the counter,
// so they are short to type and never reused.
//
// Writes are batched by the caller: each mutating method takes the write
// transaction it runs in (LmdbEnv::write), so the daemon can commit many
// subtask updates in one sync, as the memory store does.
//
// Errors: LMDB failures throw LmdbError; a record that cannot be decoded is
// an LmdbError with is_corrupt(): task() and subtask() throw it, while the
// listings (list_tasks, subtasks) and the sweeps (cancel_subtasks, recover)
// go past such a record and leave it in place for the operator, so one bad
// record neither hides the others nor stops the daemon. Bad arguments (empty key, key over 256
// bytes, input over 8 MiB, unknown task id in an update) throw
// std::invalid_argument naming the field.
//
// Threads: the loop thread, like the LmdbEnv.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/lmdb_env.h"

namespace smol::storage {

// paused: a token budget ran out and the spec says to pause; not finished.
enum class TaskState { running, succeeded, failed, cancelled, paused };
enum class SubtaskState { pending, running, succeeded, failed, cancelled };

// Token counts add up without wrapping: they are what agents say, and a
// wrapped sum would pass any budget.
inline uint64_t add_tokens(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

// Token use, per model (agents report it with reportUsage).
struct TokenUse {
  std::string model;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
};

struct TaskRecord {
  std::string id;        // "t-00000000002a"
  std::string swarm;
  TaskState state = TaskState::running;
  std::string input;     // empty in list_tasks(), which leaves inputs out
  uint64_t input_bytes = 0;
  std::string result;    // when succeeded
  std::string error;     // when failed or cancelled
  int64_t created_unix_ms = 0;
  int64_t finished_unix_ms = 0;  // 0 while running
  int64_t timeout_ms = 0;        // 0: none
  uint64_t budget_tokens = 0;    // 0: no task budget
  uint32_t subtasks_total = 0;
  uint32_t subtasks_done = 0;    // succeeded, failed or cancelled
  uint32_t subtasks_failed = 0;
  uint32_t subtasks_cancelled = 0;
  std::vector<TokenUse> tokens;  // by model, summed over the task's agents

  // Counts a subtask that just ended (succeeded, failed or cancelled), where
  // it leaves pending/running for good, so that each counts once. The store
  // and the daemon's copy of a running task count alike.
  void count_ended(SubtaskState ended) {
    ++subtasks_done;
    if (ended == SubtaskState::failed) ++subtasks_failed;
    if (ended == SubtaskState::cancelled) ++subtasks_cancelled;
  }
};

// The errors of attempts that ended through no fault of their subtask: its
// worker went with swarmd or with the swarm. The scheduler does not hold
// them against max_attempts.
inline constexpr std::string_view kAttemptLostToRestart = "swarmd restarted";
inline constexpr std::string_view kAttemptLostToStop = "the swarm stopped";

struct AttemptRecord {
  uint32_t number = 0;           // 1, 2, ...
  std::string worker;            // agent id
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;  // 0 while running
  bool ok = false;
  std::string error;             // "timed out after 30s", "worker-2 exited", ...
};

struct SubtaskRecord {
  std::string task_id;
  std::string key;               // the lead's name for it, unique in the task
  std::string parent;            // the key of the subtask whose worker delegated it; "": the lead
  std::string role;              // the workers it may run on ("" = any)
  SubtaskState state = SubtaskState::pending;
  std::string input;
  std::string result;            // when succeeded
  std::string error;             // the last attempt's, when failed
  float progress = 0;            // 0..1, the worker's last report
  std::string progress_note;
  std::vector<AttemptRecord> attempts;  // oldest first
};

// What finish_attempt() did.
enum class AttemptOutcome {
  accepted,   // recorded; the subtask is now succeeded or failed as given
  stale,      // not the subtask's current attempt, or the subtask was done: ignored
};

class TaskStore {
 public:
  // Opens (creating on first use) the three databases.
  explicit TaskStore(LmdbEnv& env);

  // A new running task with a fresh id; returns it.
  TaskRecord create_task(Txn& txn, std::string_view swarm, std::string input, int64_t now_ms,
                         int64_t timeout_ms, uint64_t budget_tokens);
  std::optional<TaskRecord> task(std::string_view id) const;
  // A swarm's tasks ("" = every swarm's), newest first, at most limit;
  // without their inputs (input_bytes says how big).
  std::vector<TaskRecord> list_tasks(std::string_view swarm, size_t limit) const;
  // Running and paused tasks, oldest first (what a swarm resumes when it
  // comes up).
  std::vector<TaskRecord> unfinished_tasks() const;
  // Pauses a running task or lets a paused one run again; false if it had
  // ended.
  bool set_paused(Txn& txn, std::string_view id, bool paused);
  // The task's token budget (0: none).
  void set_budget(Txn& txn, std::string_view id, uint64_t budget_tokens);
  // Ends a running or paused task (succeeded with result, failed or
  // cancelled with error); false if it had already ended.
  bool finish_task(Txn& txn, std::string_view id, TaskState state, std::string result_or_error,
                   int64_t now_ms);
  // Adds tokens to the task's per-model totals.
  void add_tokens(Txn& txn, std::string_view id, const TokenUse& use);

  // The subtask under (task, key): the existing one if there is one (its
  // input is then left as it was), else a new pending one. Counts it in the
  // task's subtasks_total when new.
  SubtaskRecord add_subtask(Txn& txn, std::string_view task_id, std::string_view key,
                            std::string_view role, std::string input,
                            std::string_view parent = {});
  // As add_subtask for each, in one pass over the task's records (what a
  // delegation of thousands needs); returns how many were new.
  struct NewSubtask {
    std::string key, role, input, parent;
  };
  uint32_t add_subtasks(Txn& txn, std::string_view task_id, const std::vector<NewSubtask>& subtasks);
  std::optional<SubtaskRecord> subtask(std::string_view task_id, std::string_view key) const;
  // Every subtask of the task, in key order.
  std::vector<SubtaskRecord> subtasks(std::string_view task_id) const;

  // A new running attempt of a pending subtask on worker; returns its
  // number. Throws std::invalid_argument if the subtask is not pending.
  // The subtask's progress starts again from 0.
  uint32_t start_attempt(Txn& txn, std::string_view task_id, std::string_view key,
                         std::string_view worker, int64_t now_ms);
  // The outcome of attempt `number`: ok with result, or not with error.
  // When not ok and retry is true, the subtask goes back to pending (the
  // scheduler runs it again); else it ends failed. Updates the task's
  // counters when the subtask ends.
  AttemptOutcome finish_attempt(Txn& txn, std::string_view task_id, std::string_view key,
                                uint32_t number, bool ok, std::string result_or_error,
                                bool retry, int64_t now_ms);
  // The worker's report on a running subtask; ignored once it is not
  // running (a report that crossed the attempt's end). fraction is clamped
  // to 0..1.
  void set_progress(Txn& txn, std::string_view task_id, std::string_view key, float fraction,
                    std::string note);
  // Cancels one pending or running subtask (error why); false if it had
  // ended.
  bool cancel_subtask(Txn& txn, std::string_view task_id, std::string_view key,
                      std::string why, int64_t now_ms);
  // Cancels every pending or running subtask of the task; returns how many.
  uint32_t cancel_subtasks(Txn& txn, std::string_view task_id, int64_t now_ms);

  // At daemon start: every running attempt of every unfinished task
  // becomes a lost one (error "swarmd restarted"), its subtask pending
  // again. Returns the unfinished tasks (without their inputs).
  std::vector<TaskRecord> recover(Txn& txn, int64_t now_ms);

 private:
  // Readers: nullopt when absent; LmdbError is_corrupt() when undecodable.
  std::optional<TaskRecord> read_task(const Txn& txn, std::string_view id,
                                      bool with_input = true) const;
  std::optional<SubtaskRecord> read_subtask(const Txn& txn, std::string_view task_id,
                                            std::string_view key) const;
  // For updates: throw std::invalid_argument naming `field` when absent.
  TaskRecord must_task(const Txn& txn, std::string_view id, std::string_view field) const;
  SubtaskRecord must_subtask(const Txn& txn, std::string_view task_id,
                             std::string_view key) const;
  // The task's subtasks in key order, copied out so the caller may write
  // while going through them; undecodable ones are left out.
  std::vector<SubtaskRecord> readable_subtasks(const Txn& txn, std::string_view task_id) const;
  void put_task(Txn& txn, const TaskRecord& t);
  void put_subtask(Txn& txn, const SubtaskRecord& s);

  LmdbEnv& env_;
  NamedDb tasks_;
  NamedDb subtasks_;
  NamedDb order_;
};

std::string_view state_name(TaskState s);
std::string_view state_name(SubtaskState s);

}  // namespace smol::storage
