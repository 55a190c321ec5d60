// MemoryService: the swarms' memory (storage/memory_store.h) as the daemon
// serves it, on its loop.
//
// It owns the memory::Store over the daemon's LmdbEnv, with the durability
// swarmd's config asks for ([memory] durability: fsync, batch or none;
// memory_store.h says what each can lose). Writes are group-committed per loop turn: the first
// write submitted in a turn schedules one flush (a zero-delay loop timer, so
// every call that arrives in the same turn joins the same LMDB transaction),
// and each write's promise resolves from its callback after that flush, i.e.
// once it is durable (batch and none: once committed; with batch, a timer
// syncs within [memory] batch_sync of the first unsynced commit). A repeating timer (every second) removes a few expired
// short-term entries at a time (never one long transaction), flushes recall
// counts that are waiting, and refreshes the metrics.
//
// Metrics (metrics/metrics.h): memory_ops_total{tier,op} per call,
// memory_entries{swarm,tier} for every swarm touched since the daemon
// started (after each flush and on the timer), memory_commit_seconds per
// flush that committed, db_bytes (the LMDB file's size).
//
// Errors: put/del/consolidate reject with an rpc_error carrying the store's
// message when the write fails (not found, quota exceeded, already exists,
// storage); bad arguments throw std::invalid_argument at once, from the call
// itself. Reads throw as Store's do.
//
// Thread: the loop thread only; the LmdbEnv, EventLoop and Metrics must
// outlive it. Destroying it flushes what is still pending, so no answered
// write is lost and no submitted one is left half done.
#pragma once

#include <kj/async.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/event_loop.h"
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
  void flush();
  void arm_sync();
  kj::Promise<void> upkeep();
  void refresh_gauges();

  ipc::EventLoop& loop_;
  storage::LmdbEnv& env_;
  metrics::Metrics& metrics_;
  storage::LmdbSync sync_;  // for batch and none: the store turns syncing off around its commits
  storage::memory::Store store_;
  bool sync_armed_ = false;
  struct LogErrors : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  } log_errors_;
  kj::TaskSet syncs_{log_errors_};
  std::set<std::string, std::less<>> swarms_;  // whose entries gauges we keep
  bool flush_scheduled_ = false;
  kj::Promise<void> flush_task_ = nullptr;
  kj::Promise<void> upkeep_task_ = nullptr;
};

}  // namespace smol::supervisor
