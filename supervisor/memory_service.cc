#include "supervisor/memory_service.h"

#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <utility>

#include "base/log.h"
#include "base/units.h"
#include "ipc/rpc_error.h"

namespace smol::supervisor {
namespace mem = storage::memory;
namespace {

// How often expiry, recall-count flushes and the gauges run, and how many
// expired entries one round removes: small enough that the transaction
// stays short, enough to keep up with 10-minute TTLs.
constexpr auto kUpkeepEvery = 1 * kj::SECONDS;
constexpr size_t kExpirePerRound = 256;

mem::Options store_options(const config::Config& c, storage::CommitSync* sync) {
  mem::Options o;
  switch (c.memory_durability) {
    case config::Config::Durability::fsync: o.durability = mem::Durability::fsync; break;
    case config::Config::Durability::batch: o.durability = mem::Durability::batch; break;
    case config::Config::Durability::none: o.durability = mem::Durability::none; break;
  }
  o.batch_sync_ms = c.memory_batch_sync.count();
  if (o.durability != mem::Durability::fsync) o.commit_sync = sync;
  return o;
}

}  // namespace

MemoryService::MemoryService(ipc::EventLoop& loop, storage::LmdbEnv& env,
                             metrics::Metrics& metrics, const config::Config& config)
    : loop_(loop),
      env_(env),
      metrics_(metrics),
      state_file_(config.state_dir + "/swarmd.mdb"),
      sync_(env.raw_env(), env.path()),
      store_(env, store_options(config, &sync_)),
      committer_(std::make_unique<ipc::WorkerThread>("swarmd-memory")) {
  upkeep_task_ = upkeep().eagerlyEvaluate([](kj::Exception&& e) {
    log::error("memory upkeep stopped: " + std::string(e.getDescription().cStr()));
  });
  refresh_gauges();
  std::string mode(config::durability_name(config.memory_durability));
  if (config.memory_durability == config::Config::Durability::batch) {
    mode += ", synced within " + format_duration(config.memory_batch_sync);
  }
  log::info("memory durability: " + mode);
}

MemoryService::~MemoryService() {
  committer_.reset();  // waits for the job in progress
  if (batch_) store_.finish_batch(*batch_);
  if (store_.has_pending()) store_.flush();
  try {
    sync_.sync();  // batch and none: what they answered reaches the disk at a clean stop
  } catch (const std::exception& e) {
    log::error(std::string("memory: the final sync failed: ") + e.what());
  }
}

void MemoryService::LogErrors::taskFailed(kj::Exception&& e) {
  log::error(std::string("memory: ") + e.getDescription().cStr());
}

template <typename Submit>
kj::Promise<void> MemoryService::write(std::string_view swarm, mem::Tier tier, const char* op,
                                       Submit&& submit) {
  metrics_.memory_op(mem::tier_name(tier), op);
  if (!written_.contains(swarm)) {
    written_.emplace(swarm);
    if (!swarms_.contains(swarm)) swarms_.emplace(swarm);
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  // The fulfiller is shared with the callback, which the store keeps until
  // the batch is done; a call dropped meanwhile just finds nobody waiting.
  auto fulfiller = std::make_shared<kj::Own<kj::PromiseFulfiller<void>>>(kj::mv(paf.fulfiller));
  submit([fulfiller](const mem::WriteResult& r) {
    if (r.status.ok()) {
      (*fulfiller)->fulfill();
    } else {
      (*fulfiller)->reject(ipc::rpc_error(r.status.message()));
    }
  });
  schedule_flush();
  return kj::mv(paf.promise);
}

kj::Promise<void> MemoryService::put(mem::PutRequest request) {
  std::string swarm = request.swarm;
  mem::Tier tier = request.tier;
  return write(swarm, tier, "put", [&](mem::WriteCallback done) {
    store_.submit_put(std::move(request), std::move(done));
  });
}

kj::Promise<void> MemoryService::del(mem::EntryRef entry) {
  std::string swarm = entry.swarm;
  mem::Tier tier = entry.tier;
  return write(swarm, tier, "delete", [&](mem::WriteCallback done) {
    store_.submit_delete(std::move(entry), std::move(done));
  });
}

kj::Promise<void> MemoryService::consolidate(mem::ConsolidateRequest request) {
  std::string swarm = request.from.swarm;
  mem::Tier tier = request.from.tier;
  return write(swarm, tier, "consolidate", [&](mem::WriteCallback done) {
    store_.submit_consolidate(std::move(request), std::move(done));
  });
}

std::optional<mem::Entry> MemoryService::get(const mem::EntryRef& entry) {
  metrics_.memory_op(mem::tier_name(entry.tier), "get");
  return store_.get(entry);
}

mem::ListPage MemoryService::list(const mem::ListRequest& request) {
  metrics_.memory_op(mem::tier_name(request.tier), "list");
  return store_.list(request);
}

std::vector<mem::RecallHit> MemoryService::recall(const mem::RecallRequest& request) {
  for (mem::Tier t : {mem::Tier::short_term, mem::Tier::working, mem::Tier::long_term}) {
    if (request.tiers.contains(t)) metrics_.memory_op(mem::tier_name(t), "recall");
  }
  // Recall counts wait for the next write's batch, or the upkeep timer.
  return store_.recall(request);
}

void MemoryService::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // A zero-delay timer, not evalLater: the calls already read in this turn
  // join the batch, and KJ's own sockets are not starved (ipc/event_loop.h).
  flush_task_ = loop_.timer()
                    .afterDelay(0 * kj::NANOSECONDS)
                    .then([this] {
                      flush_scheduled_ = false;
                      flush();
                    })
                    .eagerlyEvaluate(nullptr);
}

void MemoryService::flush(size_t expire_max) {
  expire_wanted_ = std::max(expire_wanted_, expire_max);
  if (busy_) {
    flush_wanted_ = true;
    return;
  }
  flush_wanted_ = false;
  size_t expire = std::exchange(expire_wanted_, 0);
  if (!store_.has_pending() && expire == 0) return;
  busy_ = true;
  batch_ = std::make_unique<mem::Batch>(store_.take_batch(expire));
  batch_swarms_ = std::exchange(written_, {});
  // commit_batch() answers its failures through the results; a job that
  // fails anyway leaves them as they were taken, failed.
  jobs_.add(committer_->run([this, batch = batch_.get()] { store_.commit_batch(*batch); })
                .then([this] { batch_done(); },
                      [this](kj::Exception&& e) {
                        batch_->failure = e.getDescription().cStr();
                        batch_done();
                      }));
}

void MemoryService::batch_done() {
  std::unique_ptr<mem::Batch> batch = std::move(batch_);
  busy_ = false;
  mem::FlushReport report = store_.finish_batch(*batch);
  if (!batch->failure.empty()) log::error("memory: a batch of writes failed: " + batch->failure);
  if (!batch->expiry_failure.empty()) {
    log::warning("memory: expiry skipped, the expiry index is unreadable: " +
                 batch->expiry_failure);
  }
  if (report.committed) {
    metrics_.observe_memory_commit(report.commit_seconds);
    refresh_entries(batch_swarms_);
  }
  arm_sync();
  job_done();
}

void MemoryService::job_done() {
  if (flush_wanted_ || expire_wanted_ > 0) flush();
}

// Durability::batch: a sync is due at most batch_sync after the first
// commit it covers; one timer at a time, and the sync is a committer job.
void MemoryService::arm_sync() {
  int64_t due = store_.sync_due_in_ms();
  if (due < 0 || sync_armed_) return;
  sync_armed_ = true;
  sync_task_ = loop_.timer()
                   .afterDelay(due * kj::MILLISECONDS)
                   .then([this] {
                     sync_armed_ = false;
                     if (!busy_) sync();  // else arm_sync() runs again after that job
                   })
                   .eagerlyEvaluate(nullptr);
}

void MemoryService::sync() {
  busy_ = true;
  jobs_.add(committer_->run([this] { store_.sync_if_due(); })
                .then(
                    [this] {
                      busy_ = false;
                      arm_sync();
                      job_done();
                    },
                    [this](kj::Exception&& e) {
                      // Not re-armed: the next commit tries again.
                      busy_ = false;
                      log::error(std::string("memory sync failed: ") + e.getDescription().cStr());
                      job_done();
                    }));
}

kj::Promise<void> MemoryService::upkeep() {
  return loop_.timer().afterDelay(kUpkeepEvery).then([this] {
    flush(kExpirePerRound);  // with the recall counts that wait
    refresh_gauges();
    return upkeep();
  });
}

void MemoryService::refresh_gauges() {
  refresh_entries(swarms_);
  for (const std::string& path : {state_file_, env_.path()}) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      metrics_.set_db_bytes(path.substr(path.rfind('/') + 1), static_cast<uint64_t>(st.st_size));
    }
  }
}

void MemoryService::refresh_entries(const std::set<std::string, std::less<>>& swarms) {
  for (const std::string& swarm : swarms) {
    try {
      mem::Usage u = store_.usage(swarm);
      for (mem::Tier t : {mem::Tier::short_term, mem::Tier::working, mem::Tier::long_term}) {
        metrics_.memory_entries(swarm, mem::tier_name(t),
                                u.entries_by_tier[static_cast<size_t>(t)]);
      }
    } catch (const std::exception& e) {
      log::warning("memory usage of swarm " + swarm + " unreadable, ignoring: " + e.what());
    }
  }
}

}  // namespace smol::supervisor
