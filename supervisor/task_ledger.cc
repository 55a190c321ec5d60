#include "supervisor/task_ledger.h"

#include <stdexcept>
#include <utility>

#include "base/log.h"

namespace smol::supervisor {
namespace {

// How long a group commit may stay unsynced (see the header).
constexpr auto kSyncEvery = 100 * kj::MILLISECONDS;

}  // namespace

TaskLedger::TaskLedger(ipc::EventLoop& loop, storage::LmdbEnv& env)
    : loop_(loop), env_(env), sync_(env.raw_env(), env.path()), store_(env) {}

TaskLedger::~TaskLedger() {
  try {
    flush();
    sync_.sync();
  } catch (const std::exception& e) {
    log::error(std::string("tasks: the final commit failed: ") + e.what());
  }
}

void TaskLedger::LogErrors::taskFailed(kj::Exception&& e) {
  log::error(std::string("tasks: a sync failed: ") + e.getDescription().cStr());
}

void TaskLedger::record(Change change) {
  pending_.push_back(std::move(change));
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // A zero-delay timer, not evalLater: the calls already read in this turn
  // join the batch (ipc/event_loop.h).
  timers_.add(loop_.timer().afterDelay(0 * kj::NANOSECONDS).then([this] {
    flush_scheduled_ = false;
    flush();
  }));
}

const storage::TaskStore& TaskLedger::read() {
  flush();
  return store_;
}

void TaskLedger::flush() {
  if (pending_.empty()) return;
  std::vector<Change> batch = std::move(pending_);
  pending_.clear();
  try {
    commit([&](storage::Txn& txn) {
      for (const Change& change : batch) {
        try {
          change(store_, txn);
        } catch (const std::invalid_argument& e) {
          log::error(std::string("tasks: a change was refused by the store: ") + e.what());
        } catch (const storage::LmdbError& e) {
          if (!e.is_corrupt()) throw;  // a full map grows, and the batch runs again
          log::error(std::string("tasks: a change meets a corrupt record: ") + e.what());
        }
      }
    });
  } catch (const std::exception& e) {
    log::error(std::string("tasks: a group commit of ") + std::to_string(batch.size()) +
               " changes failed, they are lost: " + e.what());
  }
}

void TaskLedger::commit(const std::function<void(storage::Txn&)>& body) {
  {
    storage::UnsyncedCommits unsynced(&sync_);
    env_.write(body);
  }
  arm_sync();
}

void TaskLedger::arm_sync() {
  if (sync_armed_) return;
  sync_armed_ = true;
  timers_.add(loop_.timer().afterDelay(kSyncEvery).then([this] {
    sync_armed_ = false;
    sync_.sync();
  }));
}

}  // namespace smol::supervisor
