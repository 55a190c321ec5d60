#include "supervisor/task_workers.h"

#include <utility>

#include "base/log.h"
#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"

namespace smol::supervisor {
namespace {

// The most attempts, and bytes of their inputs, one Agent.work call carries
// (at least one attempt; an input is at most max_payload, 8 MiB at most).
constexpr size_t kBatch = 1024;
constexpr size_t kBatchBytes = 4 << 20;

}  // namespace

// A worker's WorkDesk: its reports, checked against what runs on it.
class WorkerPool::Desk final : public rpc::WorkDesk::Server {
 public:
  Desk(WorkerPool& pool, std::string worker) : pool_(pool), worker_(std::move(worker)) {}

 protected:
  kj::Promise<void> report(ReportContext ctx) override {
    for (auto u : ctx.getParams().getUpdates()) {
      // Looked up per update: a report may end the worker's run (a
      // handler that stops it) while the rest are read.
      Worker* w = pool_.find(worker_);
      if (w == nullptr || !w->running.contains(u.getAttempt())) continue;
      AttemptUpdate update;
      switch (u.which()) {
        case rpc::SubtaskUpdate::PROGRESS:
          update.kind = AttemptUpdate::Kind::progress;
          update.fraction = u.getProgress().getFraction();
          update.text = u.getProgress().getNote();
          break;
        case rpc::SubtaskUpdate::RESULT:
          update.kind = AttemptUpdate::Kind::result;
          update.text = ipc::payload_of(u.getResult());
          break;
        case rpc::SubtaskUpdate::ERROR:
          update.kind = AttemptUpdate::Kind::error;
          update.text = u.getError();
          break;
      }
      pool_.updates_(*w, u.getAttempt(), std::move(update));
    }
    return kj::READY_NOW;
  }

 private:
  WorkerPool& pool_;
  std::string worker_;
};

void WorkerPool::LogErrors::taskFailed(kj::Exception&& e) {
  log::debug("tasks: a call to a worker failed: " + ipc::remote_reason(e));
}

WorkerPool::WorkerPool(std::function<void(Worker&, uint64_t, AttemptUpdate)> updates)
    : updates_(std::move(updates)) {}

WorkerPool::~WorkerPool() = default;

void WorkerPool::known(const std::string& id, const std::string& role) {
  Worker& w = workers_[id];
  w.id = id;
  w.role = role;
}

void WorkerPool::worker_ready(const std::string& id, const std::string& role,
                              rpc::Agent::Client client) {
  Worker& w = workers_[id];
  w.id = id;
  w.role = role;
  w.client = kj::mv(client);
  w.ready = true;
  w.gone = false;
  w.running.clear();
  w.queued.clear();
  w.calling = false;
  w.to_drop.clear();
  w.dropping = false;
  ++w.run;
}

std::vector<uint64_t> WorkerPool::worker_down(const std::string& id, bool for_good) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return {};
  Worker& w = it->second;
  w.gone = for_good;
  std::vector<uint64_t> lost(w.running.begin(), w.running.end());
  w.client = nullptr;
  w.ready = false;
  w.running.clear();
  w.queued.clear();
  w.to_drop.clear();
  return lost;
}

WorkerPool::Worker* WorkerPool::pick(const std::function<bool(const Worker&)>& may_take) {
  Worker* best = nullptr;
  for (auto& [id, w] : workers_) {
    if (!w.ready || !may_take(w)) continue;
    if (best == nullptr || w.running.size() < best->running.size()) best = &w;
  }
  return best;
}

WorkerPool::Worker* WorkerPool::find(std::string_view id) {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

const WorkerPool::Worker* WorkerPool::find(std::string_view id) const {
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : &it->second;
}

std::vector<std::string> WorkerPool::ids(std::string_view role) const {
  std::vector<std::string> out;
  for (const auto& [id, w] : workers_) {
    if (!w.gone && (role.empty() || w.role == role)) out.push_back(id);
  }
  return out;
}

void WorkerPool::assign(Worker& w, Assignment a) {
  w.running.insert(a.attempt);
  w.queued.push_back(kj::mv(a));
  if (!w.calling) send_work(w);
}

void WorkerPool::release(Worker& w, uint64_t attempt) { w.running.erase(attempt); }

void WorkerPool::drop(Worker& w, uint64_t attempt) {
  if (w.running.erase(attempt) == 0) return;
  // Not sent yet: it never reaches the worker at all.
  for (auto it = w.queued.begin(); it != w.queued.end(); ++it) {
    if (it->attempt == attempt) {
      w.queued.erase(it);
      return;
    }
  }
  w.to_drop.insert(attempt);
  if (!w.dropping) send_drops(w);
}

void WorkerPool::drop_tasks(rpc::Agent::Client agent, std::vector<std::string> task_ids) {
  auto req = agent.dropRequest();
  auto ids = req.initTaskIds(static_cast<unsigned>(task_ids.size()));
  for (unsigned i = 0; i < ids.size(); ++i) ids.set(i, task_ids[i]);
  calls_.add(req.send().ignoreResult());
}

void WorkerPool::send_work(Worker& w) {
  size_t n = 0, bytes_in = 0;
  while (n < w.queued.size() && n < kBatch &&
         (n == 0 || bytes_in + w.queued[n].input.size() <= kBatchBytes)) {
    bytes_in += w.queued[n].input.size();
    ++n;
  }
  auto req = w.client.workRequest();
  auto list = req.initSubtasks(static_cast<unsigned>(n));
  for (size_t i = 0; i < n; ++i) {
    Assignment& a = w.queued[i];
    auto s = list[static_cast<unsigned>(i)];
    s.setAttempt(a.attempt);
    s.setTaskId(a.task_id);
    s.setKey(a.key);
    s.setInput(ipc::data_of(a.input));
    s.setNumber(a.number);
    s.setTimeoutMillis(a.timeout_ms);
    if (a.delegator) s.setDelegator(*a.delegator);
  }
  std::vector<uint64_t> batch;
  for (size_t i = 0; i < n; ++i) batch.push_back(w.queued[i].attempt);
  w.queued.erase(w.queued.begin(), w.queued.begin() + static_cast<ptrdiff_t>(n));
  req.setDesk(kj::heap<Desk>(*this, w.id));
  w.calling = true;
  calls_.add(req.send().then(
      [this, id = w.id, run = w.run](auto&&) {
        Worker* w = find(id);
        if (w == nullptr || w->run != run || !w->ready) return;
        w->calling = false;
        if (!w->queued.empty()) send_work(*w);
      },
      [this, id = w.id, run = w.run, batch = std::move(batch)](kj::Exception&& e) {
        // A worker that hung up is taken care of by its exit (worker_down);
        // one that refused the call (e.g. over a bound of its own) fails
        // those attempts, and may still take others.
        Worker* w = find(id);
        if (w == nullptr || w->run != run || !w->ready ||
            e.getType() == kj::Exception::Type::DISCONNECTED) {
          return;
        }
        w->calling = false;
        std::string why = "the worker refused it: " + ipc::remote_reason(e);
        for (uint64_t attempt : batch) {
          if (w->running.contains(attempt)) updates_(*w, attempt, {AttemptUpdate::Kind::error, 0, why});
          w = find(id);  // an update may have led to a new assignment
        }
        if (!w->queued.empty() && !w->calling) send_work(*w);
      }));
}

void WorkerPool::send_drops(Worker& w) {
  auto req = w.client.dropRequest();
  auto list = req.initAttempts(static_cast<unsigned>(w.to_drop.size()));
  unsigned i = 0;
  for (uint64_t a : w.to_drop) list.set(i++, a);
  w.to_drop.clear();
  w.dropping = true;
  calls_.add(req.send().then(
      [this, id = w.id, run = w.run](auto&&) {
        Worker* w = find(id);
        if (w == nullptr || w->run != run || !w->ready) return;
        w->dropping = false;
        if (!w->to_drop.empty()) send_drops(*w);
      },
      [this, id = w.id, run = w.run](kj::Exception&&) {
        // Gone, or refused: the notices are advisory; the next ones may go.
        Worker* w = find(id);
        if (w != nullptr && w->run == run) w->dropping = false;
      }));
}

}  // namespace smol::supervisor
