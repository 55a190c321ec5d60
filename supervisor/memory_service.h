// MemoryService: the swarms' memory (storage/memory_store.h) as the daemon
// serves it, on its loop.
//
// It owns the memory::Store over the memory's own LmdbEnv (memory.mdb in the
// state dir; storage/memory_move.h), with the durability swarmd's config
// asks for ([memory] durability: fsync, batch or none; memory_store.h says
// what each can lose).
//
// Writes are group-committed, and the commit runs on a thread of its own
// (ipc::WorkerThread), so the loop never waits for LMDB or the disk: the
// first write submitted in a turn schedules a flush (a zero-delay loop
// timer, so every call that arrives in the same turn joins it), which takes
// the queued writes as one batch (memory::Batch) and hands it to the
// committer. While that transaction commits and syncs, the loop goes on
// reading calls, which queue for the next batch; it starts when the one
// before has finished. Each write's promise resolves after its batch, i.e.
// once it is durable (batch and none: once committed; with batch, the
// committer syncs within [memory] batch_sync of the first unsynced commit).
// One job runs on the committer at a time: a batch, a batch-mode sync, or
// the upkeep's round (every second: a few expired short-term entries, never
// one long transaction, with the recall counts that are waiting). Reads run
// on the loop, against what the last batch committed.
//
// Metrics (metrics/metrics.h): memory_ops_total{tier,op} per call,
// memory_entries{swarm,tier} for every swarm touched since the daemon
// started (a swarm's after each batch that wrote to it, and all of them
// every second), memory_commit_seconds per batch that committed,
// db_bytes{file} (swarmd.mdb and memory.mdb, every second).
//
// Errors: put/del/consolidate reject with an rpc_error carrying the store's
// message when the write fails (not found, quota exceeded, already exists,
// storage); bad arguments throw std::invalid_argument at once, from the call
// itself. Reads throw as Store's do.
//
// Thread: the loop thread only (the committer is its own business); the
// LmdbEnv, EventLoop and Metrics must outlive it. Destroying it waits for
// the batch in progress, answers it, and commits what is still queued, so
// no answered write is lost and no submitted one is left half done.
#pragma once

#include <kj/async.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/event_loop.h"
#include "ipc/worker_thread.h"
#include "metrics/metrics.h"
#include "storage/lmdb_env.h"
#include "storage/memory_store.h"
#include "supervisor/config.h"

namespace smol::supervisor {

class MemoryService {
 public:
  MemoryService(ipc::EventLoop& loop, storage::LmdbEnv& env, metrics::Metrics& metrics,
                const config::Config& config);
  MemoryService(const MemoryService&) = delete;
  MemoryService& operator=(const MemoryService&) = delete;
  ~MemoryService();

  // Writes: resolve once durable; reject with the store's message otherwise.
  kj::Promise<void> put(storage::memory::PutRequest request);
  kj::Promise<void> del(storage::memory::EntryRef entry);
  kj::Promise<void> consolidate(storage::memory::ConsolidateRequest request);

  // Reads of committed state, counted in memory_ops_total.
  std::optional<storage::memory::Entry> get(const storage::memory::EntryRef& entry);
  storage::memory::ListPage list(const storage::memory::ListRequest& request);
  std::vector<storage::memory::RecallHit> recall(const storage::memory::RecallRequest& request);

  storage::memory::Store& store() noexcept { return store_; }

 private:
  // Counts the op, queues the write through submit, and answers from its callback.
  template <typename Submit>
  kj::Promise<void> write(std::string_view swarm, storage::memory::Tier tier, const char* op,
                          Submit&& submit);
  void schedule_flush();
  // Hands the queued writes (and, with expire_max, an expiry round) to the
  // committer, unless a job is running: then it follows that job.
  void flush(size_t expire_max = 0);
  void batch_done();
  // After each job: the next one, if any is wanted.
  void job_done();
  // Durability::batch: a timer for the next sync that is due, and the sync
  // itself, as a committer job.
  void arm_sync();
  void sync();
  kj::Promise<void> upkeep();
  // Every gauge: memory_entries of every swarm, and db_bytes.
  void refresh_gauges();
  // memory_entries of these swarms.
  void refresh_entries(const std::set<std::string, std::less<>>& swarms);

  ipc::EventLoop& loop_;
  storage::LmdbEnv& env_;
  metrics::Metrics& metrics_;
  const std::string state_file_;  // swarmd.mdb, for db_bytes
  storage::LmdbSync sync_;  // for batch and none: the store turns syncing off around its commits
  storage::memory::Store store_;
  std::set<std::string, std::less<>> swarms_;   // whose entries gauges we keep
  std::set<std::string, std::less<>> written_;  // of those, written to since the last batch
  std::set<std::string, std::less<>> batch_swarms_;  // written to by the batch committing
  // The job on the committer, and what is wanted after it.
  bool busy_ = false;
  std::unique_ptr<storage::memory::Batch> batch_;  // the batch committing, if that is the job
  bool flush_wanted_ = false;
  size_t expire_wanted_ = 0;
  bool sync_armed_ = false;
  bool flush_scheduled_ = false;
  struct LogErrors : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  } log_errors_;
  kj::TaskSet jobs_{log_errors_};
  kj::Promise<void> flush_task_ = nullptr;
  kj::Promise<void> sync_task_ = nullptr;
  kj::Promise<void> upkeep_task_ = nullptr;
  // Last: destroyed first, so that no job still runs while the members above go.
  std::unique_ptr<ipc::WorkerThread> committer_;
};

}  // namespace smol::supervisor
