#include "agent_runtime/task_runner.h"

#include <cstdio>
#include <stdexcept>
#include <utility>

#include "ipc/rpc_error.h"
#include "ipc/wire.h"

namespace smol::agent {
namespace {

SubtaskOutcome::State from_rpc(rpc::SubtaskResult::Outcome o) {
  switch (o) {
    case rpc::SubtaskResult::Outcome::SUCCEEDED: return SubtaskOutcome::State::succeeded;
    case rpc::SubtaskResult::Outcome::FAILED: return SubtaskOutcome::State::failed;
    case rpc::SubtaskResult::Outcome::CANCELLED: return SubtaskOutcome::State::cancelled;
  }
  return SubtaskOutcome::State::failed;
}

// The most updates one WorkDesk.report carries, and the most bytes of
// their results (at least one), and the most input bytes of one delegate
// call: well within swarmd's limit on one message.
constexpr size_t kReportBatch = 1024;
constexpr size_t kReportBytes = 4 << 20;
constexpr size_t kCallBytes = 4 << 20;

}  // namespace

// Where the daemon sends one delegation's outcomes.
class TaskRunner::Sink final : public rpc::ResultSink::Server {
 public:
  explicit Sink(std::weak_ptr<Delegation::State> d) : d_(std::move(d)) {}

 protected:
  kj::Promise<void> results(ResultsContext ctx) override {
    auto d = d_.lock();
    if (!d) return kj::READY_NOW;  // the lead let go of it
    for (auto r : ctx.getParams().getResults()) {
      d->ready.push_back({r.getKey(), from_rpc(r.getOutcome()), ipc::payload_of(r.getResult()), r.getError(),
                          r.getAttempts(), r.getWorker()});
      ++d->received;
    }
    if (d->wake && d->wake->isWaiting()) d->wake->fulfill();
    return kj::READY_NOW;
  }

 private:
  std::weak_ptr<Delegation::State> d_;
};

void TaskRunner::Errors::taskFailed(kj::Exception&& e) {
  std::fprintf(stderr, "smolagent: %s\n", ipc::remote_reason(e).c_str());
}

TaskRunner::TaskRunner(rpc::AgentHost::Client host, kj::WaitScope& wait_scope,
                       kj::ForkedPromise<void>& disconnected)
    : host_(kj::mv(host)), wait_scope_(wait_scope), disconnected_(disconnected) {}

TaskRunner::~TaskRunner() = default;

kj::Promise<kj::Array<kj::byte>> TaskRunner::run_task(rpc::TaskInput::Reader task,
                                                      rpc::Delegator::Client delegator) {
  if (!lead_) {
    return ipc::rpc_error("this agent takes no tasks: it has no on_task handler");
  }
  auto ctx = std::make_shared<WorkContext::State>();
  ctx->task_id = task.getId();
  ctx->input = ipc::payload_of(task.getInput());
  ctx->resumed = task.getResumed();
  ctx->budget_tokens = task.getBudgetTokens();
  ctx->delegator = kj::mv(delegator);
  ctx->runner = this;
  auto paf = kj::newPromiseAndFulfiller<kj::Array<kj::byte>>();
  tasks_[ctx->task_id] = ctx;
  queue_.push_back({ctx, kj::mv(paf.fulfiller)});
  if (queued_ && queued_->isWaiting()) queued_->fulfill();
  return kj::mv(paf.promise);
}

void TaskRunner::work(capnp::List<rpc::Subtask>::Reader subtasks, rpc::WorkDesk::Client desk) {
  desk_ = kj::mv(desk);
  for (auto s : subtasks) {
    auto ctx = std::make_shared<WorkContext::State>();
    ctx->task_id = s.getTaskId();
    ctx->key = s.getKey();
    ctx->input = ipc::payload_of(s.getInput());
    ctx->attempt = s.getAttempt();
    ctx->number = s.getNumber();
    ctx->timeout_ms = s.getTimeoutMillis();
    if (s.hasDelegator()) ctx->delegator = s.getDelegator();
    ctx->runner = this;
    attempts_[ctx->attempt] = ctx;
    queue_.push_back({ctx, {}});
  }
  if (queued_ && queued_->isWaiting()) queued_->fulfill();
}

void TaskRunner::drop(capnp::List<uint64_t>::Reader attempts,
                      capnp::List<capnp::Text>::Reader task_ids) {
  for (uint64_t a : attempts) {
    if (auto it = attempts_.find(a); it != attempts_.end()) cancel(*it->second);
  }
  for (auto id : task_ids) {
    if (auto it = tasks_.find(std::string(id.cStr())); it != tasks_.end()) cancel(*it->second);
  }
}

void TaskRunner::cancel(WorkContext::State& ctx) {
  ctx.cancelled = true;
  for (auto& weak : ctx.delegations) {
    if (auto d = weak.lock(); d && d->wake && d->wake->isWaiting()) d->wake->fulfill();
  }
}

kj::Promise<void> TaskRunner::job_queued() {
  if (!queue_.empty()) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  queued_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void TaskRunner::run_jobs() {
  while (!queue_.empty()) {
    Job job = kj::mv(queue_.front());
    queue_.pop_front();
    run_one(job);
    // Lets the answers and reports just queued go out before the next job.
    wait_scope_.poll();
  }
}

void TaskRunner::run_one(Job& job) {
  auto& ctx = job.ctx;
  const bool lead = ctx->key.empty() && ctx->attempt == 0;
  std::string result, error;
  bool ok = false;
  if (!ctx->cancelled) {
    try {
      if (lead) {
        TaskContext t(ctx);
        result = lead_(t);
      } else if (worker_) {
        SubtaskContext s(ctx);
        result = worker_(s);
      } else {
        throw std::runtime_error("this agent runs no subtasks: it has no on_subtask handler");
      }
      ok = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (lead) {
    tasks_.erase(ctx->task_id);
    if (!job.answer->isWaiting()) return;  // the daemon gave up on it
    if (ok) {
      job.answer->fulfill(kj::heapArray(ipc::data_of(result)));
    } else {
      job.answer->reject(ipc::rpc_error(ctx->cancelled ? "cancelled" : error));
    }
    return;
  }
  attempts_.erase(ctx->attempt);
  if (ctx->cancelled) return;  // dropped: nobody wants the answer
  report({ctx->attempt, ok ? Update::Kind::result : Update::Kind::error, 0,
          ok ? std::move(result) : std::move(error)});
}

void TaskRunner::progress(const WorkContext::State& ctx, float fraction, const std::string& note) {
  if (ctx.attempt == 0 || ctx.cancelled) return;
  report({ctx.attempt, Update::Kind::progress, fraction, note});
}

void TaskRunner::report(Update u) {
  reports_.push_back(std::move(u));
  if (!reporting_) send_reports();
}

void TaskRunner::send_reports() {
  size_t n = 0, text_bytes = 0;
  while (n < reports_.size() && n < kReportBatch &&
         (n == 0 || text_bytes + reports_[n].text.size() <= kReportBytes)) {
    text_bytes += reports_[n].text.size();
    ++n;
  }
  auto req = desk_.reportRequest();
  auto list = req.initUpdates(static_cast<unsigned>(n));
  for (unsigned i = 0; i < n; ++i) {
    Update& u = reports_[i];
    auto b = list[i];
    b.setAttempt(u.attempt);
    switch (u.kind) {
      case Update::Kind::progress: {
        auto p = b.initProgress();
        p.setFraction(u.fraction);
        p.setNote(u.text);
        break;
      }
      case Update::Kind::result: b.setResult(ipc::data_of(u.text)); break;
      case Update::Kind::error: b.setError(u.text); break;
    }
  }
  reports_.erase(reports_.begin(), reports_.begin() + static_cast<ptrdiff_t>(n));
  reporting_ = true;
  calls_.add(req.send().then(
      [this](auto&&) {
        reporting_ = false;
        if (!reports_.empty()) send_reports();
      },
      [this](kj::Exception&& e) {
        reporting_ = false;
        reports_.clear();
        kj::throwFatalException(kj::mv(e));
      }));
}

Delegation TaskRunner::delegate(std::shared_ptr<WorkContext::State> ctx,
                                const std::vector<SubtaskSpec>& subtasks,
                                const DelegateOptions& options) {
  if (!ctx->delegator) {
    throw std::runtime_error("delegate: subtask " + ctx->key +
                             " may not delegate further ([tasks] max_depth of its swarm)");
  }
  auto d = std::make_shared<Delegation::State>();
  d->owner = ctx;
  d->wait_scope = &wait_scope_;
  // In calls of at most kCallBytes of input each, so none comes near
  // swarmd's limit on one message (past which it would stop this agent).
  for (size_t first = 0; first < subtasks.size() || first == 0;) {
    size_t last = first, bytes_in = 0;
    while (last < subtasks.size() &&
           (last == first || bytes_in + subtasks[last].input.size() <= kCallBytes)) {
      bytes_in += subtasks[last].input.size() + subtasks[last].key.size();
      ++last;
    }
    auto req = ctx->delegator->delegateRequest();
    auto list = req.initSubtasks(static_cast<unsigned>(last - first));
    for (size_t i = first; i < last; ++i) {
      auto b = list[static_cast<unsigned>(i - first)];
      b.setKey(subtasks[i].key);
      b.setInput(ipc::data_of(subtasks[i].input));
      b.setTo(subtasks[i].to);
    }
    auto o = req.initOptions();
    o.setRole(options.role);
    o.setTimeoutMillis(static_cast<uint32_t>(options.timeout.count()));
    o.setMaxAttempts(options.max_attempts);
    req.setSink(kj::heap<Sink>(d));
    try {
      auto resp = req.send().wait(wait_scope_);
      for (auto r : resp.getRefused()) {
        d->refused.push_back({static_cast<uint32_t>(first + r.getIndex()), r.getReason(),
                              r.getMessage()});
      }
      if (resp.hasDelegation()) d->handles.push_back(resp.getDelegation());
    } catch (const kj::Exception& e) {
      throw std::runtime_error("delegate: " + ipc::remote_reason(e));
    }
    if (last == subtasks.size()) break;
    first = last;
  }
  d->expected = subtasks.size() - d->refused.size();
  ctx->delegations.push_back(d);
  return Delegation(d);
}

void TaskRunner::wait_for(Delegation::State& d) {
  if (d.owner->cancelled) {
    throw std::runtime_error("task " + d.owner->task_id + " was cancelled");
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  d.wake = kj::mv(paf.fulfiller);
  bool hung_up = false;
  paf.promise.exclusiveJoin(disconnected_.addBranch().then([&hung_up] { hung_up = true; }))
      .wait(wait_scope_);
  if (hung_up) throw std::runtime_error("swarmd hung up while waiting for subtask outcomes");
  if (d.owner->cancelled && d.ready.empty()) {
    throw std::runtime_error("task " + d.owner->task_id + " was cancelled");
  }
}

void TaskRunner::report_usage(const std::string& task_id, const std::string& model, uint64_t in,
                              uint64_t out) {
  auto req = host_.reportUsageRequest();
  req.setTaskId(task_id);
  req.setModel(model);
  req.setInputTokens(in);
  req.setOutputTokens(out);
  calls_.add(req.send().ignoreResult());
}

}  // namespace smol::agent
