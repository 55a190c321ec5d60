#include "supervisor/task_info.h"

#include "ipc/wire.h"

namespace smol::supervisor {
namespace {

// The store's enums list their values in the wire's order (records.capnp,
// task.capnp).
static_assert(static_cast<int>(rpc::TaskState::PAUSED) ==
              static_cast<int>(storage::TaskState::paused));
static_assert(static_cast<int>(rpc::SubtaskState::CANCELLED) ==
              static_cast<int>(storage::SubtaskState::cancelled));

}  // namespace

void fill_task_info(rpc::TaskInfo::Builder b, const storage::TaskRecord& t, uint32_t running) {
  b.setId(t.id);
  b.setSwarm(t.swarm);
  b.setState(static_cast<rpc::TaskState>(t.state));
  if (t.state == storage::TaskState::succeeded) b.setResult(ipc::data_of(t.result));
  b.setError(t.error);
  b.setCreatedUnixMillis(t.created_unix_ms);
  b.setFinishedUnixMillis(t.finished_unix_ms);
  b.setSubtasksTotal(t.subtasks_total);
  b.setSubtasksDone(t.subtasks_done);
  b.setSubtasksFailed(t.subtasks_failed);
  b.setSubtasksCancelled(t.subtasks_cancelled);
  b.setSubtasksRunning(running);
  b.setBudgetTokens(t.budget_tokens);
  b.setInputBytes(t.input_bytes);
  auto tokens = b.initTokens(static_cast<unsigned>(t.tokens.size()));
  for (unsigned i = 0; i < tokens.size(); ++i) {
    tokens[i].setModel(t.tokens[i].model);
    tokens[i].setInputTokens(t.tokens[i].input_tokens);
    tokens[i].setOutputTokens(t.tokens[i].output_tokens);
  }
}

void fill_subtask_info(rpc::SubtaskInfo::Builder b, const storage::SubtaskRecord& s) {
  b.setKey(s.key);
  b.setParent(s.parent);
  b.setState(static_cast<rpc::SubtaskState>(s.state));
  b.setRole(s.role);
  auto attempts = b.initAttempts(static_cast<unsigned>(s.attempts.size()));
  for (unsigned i = 0; i < attempts.size(); ++i) {
    const storage::AttemptRecord& a = s.attempts[i];
    attempts[i].setNumber(a.number);
    attempts[i].setWorker(a.worker);
    attempts[i].setStartedUnixMillis(a.started_unix_ms);
    attempts[i].setFinishedUnixMillis(a.finished_unix_ms);
    attempts[i].setOk(a.ok);
    attempts[i].setError(a.error);
  }
  b.setProgress(s.progress);
  b.setProgressNote(s.progress_note);
  b.setError(s.error);
  b.setResultBytes(s.result.size());
}

}  // namespace smol::supervisor
