// TaskLedger: the daemon's TaskStore (storage/task_store.h), written in
// group commits.
//
// A busy swarm changes thousands of subtasks a second (accepted, started,
// finished), and one synced LMDB commit each would cap it near the disk's
// fsync rate and block the loop. So the scheduler records each change with
// record(), and the ledger applies everything recorded in one loop turn in a
// single write transaction at the end of the turn (a zero-delay timer, as
// the memory service does). Those commits do not sync; a timer syncs at most
// kSyncEvery after the first unsynced one, and a clean stop syncs.
//
// What that can lose: nothing when only swarmd dies (SIGKILL included: the
// commits are in the page cache); on a power cut, the changes of the last
// kSyncEvery. Either way the task store stays consistent, and what is lost
// is progress, which the scheduler redoes: a subtask whose result was not
// on disk runs again, and a result is still accepted once.
//
// The scheduler keeps its own state in memory and uses the store as the
// record, so record() has no results to wait for. A change the store
// refuses (the scheduler's bug, or a corrupt record) is logged and the rest
// of the batch still commits. Reads see every recorded change: they commit
// what is pending first.
//
// Thread: the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include <kj/async.h>

#include "ipc/event_loop.h"
#include "storage/lmdb_sync.h"
#include "storage/task_store.h"

namespace smol::supervisor {

class TaskLedger {
 public:
  using Change = std::function<void(storage::TaskStore&, storage::Txn&)>;

  TaskLedger(ipc::EventLoop& loop, storage::LmdbEnv& env);
  // Commits what is pending and syncs.
  ~TaskLedger();
  TaskLedger(const TaskLedger&) = delete;
  TaskLedger& operator=(const TaskLedger&) = delete;

  // Applies change in this turn's group commit.
  void record(Change change);

  // Runs change at once, in a commit with everything pending, and returns
  // its result; throws what it throws (std::invalid_argument, LmdbError),
  // in which case nothing of it is kept (the pending changes are).
  template <typename F>
  auto now(F&& change) -> decltype(change(std::declval<storage::TaskStore&>(),
                                          std::declval<storage::Txn&>())) {
    using R = decltype(change(std::declval<storage::TaskStore&>(), std::declval<storage::Txn&>()));
    flush();
    std::optional<R> out;
    commit([&](storage::Txn& txn) { out.emplace(change(store_, txn)); });
    return std::move(*out);
  }

  // The store, for reads, with everything recorded so far committed.
  const storage::TaskStore& read();

  // Commits what is pending now (also what the end-of-turn timer does).
  void flush();

 private:
  class LogErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  void commit(const std::function<void(storage::Txn&)>& body);
  void arm_sync();

  ipc::EventLoop& loop_;
  storage::LmdbEnv& env_;
  storage::LmdbSync sync_;
  storage::TaskStore store_;
  std::vector<Change> pending_;
  bool flush_scheduled_ = false;
  bool sync_armed_ = false;
  LogErrors errors_;
  kj::TaskSet timers_{errors_};
};

}  // namespace smol::supervisor
