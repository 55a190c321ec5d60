#include "supervisor/control_tasks.h"

#include <stdexcept>
#include <string>

#include "supervisor/agent_grants.h"
#include "supervisor/task_info.h"

namespace smol::supervisor {
namespace {

constexpr uint32_t kDefaultListLimit = 100;


bool unfinished(storage::TaskState s) {
  return s == storage::TaskState::running || s == storage::TaskState::paused;
}

}  // namespace

storage::TaskRecord TaskControl::must_task(std::string_view id) {
  std::optional<storage::TaskRecord> t = rt_.tasks.read().task(id);
  if (!t) throw std::runtime_error("no task '" + std::string(id) + "' (see 'swarmctl task ls')");
  return std::move(*t);
}

TaskBoard* TaskControl::board_of(const storage::TaskRecord& t) {
  Swarm* s = factory_.find(t.swarm);
  if (s == nullptr || !s->running() || s->tasks() == nullptr) return nullptr;
  return s->tasks()->has(t.id) ? s->tasks() : nullptr;
}

void TaskControl::fill(rpc::TaskInfo::Builder b, const storage::TaskRecord& t) {
  TaskBoard* board = board_of(t);
  fill_task_info(b, t, board != nullptr ? board->running(t.id) : 0);
}

void TaskControl::run(capnp::CallContext<rpc::Control::TaskRunParams, rpc::Control::TaskRunResults> ctx) {
  auto p = ctx.getParams();
  std::string name = ipc::text_of(p.getSwarm());
  Swarm& s = factory_.running(name);
  if (s.state() == SwarmState::stopping) {
    throw std::runtime_error("swarm '" + name + "' is stopping; it takes no new task");
  }
  TaskBoard* board = s.tasks();
  if (board == nullptr) {
    throw std::runtime_error("swarm '" + name + "' takes no tasks: its spec has no [tasks] table "
                             "naming a lead role");
  }
  board->admit();
  uint64_t budget = p.getBudgetTokens() != 0 ? p.getBudgetTokens() : s.spec().tasks->task_budget;
  // The lead receives the input as one message: it meets the bound of one.
  if (size_t bytes = p.getInput().size(); bytes > s.messaging().limits().max_payload) {
    throw std::runtime_error("task run: an input of " + std::to_string(bytes) +
                             " bytes; at most " + std::to_string(s.messaging().limits().max_payload) +
                             " are allowed ([messaging] max_payload)");
  }
  std::string input = ipc::payload_of(p.getInput());
  auto timeout = static_cast<int64_t>(p.getTimeoutMillis());
  int64_t now = unix_now_ms();
  storage::TaskRecord t;
  try {
    t = rt_.tasks.now([&](storage::TaskStore& st, storage::Txn& txn) {
      return st.create_task(txn, name, input, now, timeout, budget);
    });
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string("task run: ") + e.what());
  }
  fill_task_info(ctx.getResults().initTask(), t, 0);
  board->run(std::move(t));
}

void TaskControl::list(capnp::CallContext<rpc::Control::TaskListParams, rpc::Control::TaskListResults> ctx) {
  auto p = ctx.getParams();
  uint32_t limit = p.getLimit() != 0 ? p.getLimit() : kDefaultListLimit;
  std::string swarm = ipc::text_of(p.getSwarm());
  if (!swarm.empty()) factory_.known(swarm);
  std::vector<storage::TaskRecord> tasks = rt_.tasks.read().list_tasks(swarm, limit);
  auto out = ctx.getResults().initTasks(static_cast<unsigned>(tasks.size()));
  for (unsigned i = 0; i < out.size(); ++i) fill(out[i], tasks[i]);
}

void TaskControl::show(capnp::CallContext<rpc::Control::TaskShowParams, rpc::Control::TaskShowResults> ctx) {
  storage::TaskRecord t = must_task(ipc::text_of(ctx.getParams().getId()));
  std::vector<storage::SubtaskRecord> subs = rt_.tasks.read().subtasks(t.id);
  auto r = ctx.getResults();
  fill(r.initTask(), t);
  TaskBoard* board = board_of(t);
  auto out = r.initSubtasks(static_cast<unsigned>(subs.size()));
  for (unsigned i = 0; i < out.size(); ++i) {
    if (board != nullptr) {
      // Progress is the board's, more recent than the last commit's.
      if (auto live = board->progress(t.id, subs[i].key)) {
        subs[i].progress = live->fraction;
        subs[i].progress_note = live->note;
      }
    }
    fill_subtask_info(out[i], subs[i]);
  }
}

void TaskControl::cancel(capnp::CallContext<rpc::Control::TaskCancelParams, rpc::Control::TaskCancelResults> ctx) {
  storage::TaskRecord t = must_task(ipc::text_of(ctx.getParams().getId()));
  if (!unfinished(t.state)) {
    throw std::runtime_error("task " + t.id + " has already " +
                             std::string(storage::state_name(t.state)));
  }
  if (TaskBoard* board = board_of(t)) {
    board->cancel(t.id, "cancelled by the operator");
  } else {
    // Its swarm is not running: the store is all there is of it.
    int64_t now = unix_now_ms();
    rt_.tasks.now([&](storage::TaskStore& st, storage::Txn& txn) {
      st.cancel_subtasks(txn, t.id, now);
      return st.finish_task(txn, t.id, storage::TaskState::cancelled, "cancelled by the operator",
                            now);
    });
    rt_.metrics.task_ended(t.swarm, "cancelled", static_cast<double>(now - t.created_unix_ms) / 1e3);
  }
  fill(ctx.getResults().initTask(), must_task(t.id));
}

kj::Promise<void> TaskControl::watch(capnp::CallContext<rpc::Control::TaskWatchParams, rpc::Control::TaskWatchResults> ctx) {
  storage::TaskRecord t = must_task(ipc::text_of(ctx.getParams().getId()));
  TaskBoard* board = board_of(t);
  if (board == nullptr) {
    if (unfinished(t.state)) {
      throw std::runtime_error("task " + t.id + " waits for swarm '" + t.swarm +
                               "', which is not running; it resumes when the swarm is up again");
    }
    fill(ctx.getResults().initTask(), t);
    return kj::READY_NOW;
  }
  std::string id = t.id;
  return board->watch(id, ctx.getParams().getWatcher()).then([this, ctx, id]() mutable {
    fill(ctx.getResults().initTask(), must_task(id));
  });
}

void TaskControl::resume(capnp::CallContext<rpc::Control::TaskResumeParams, rpc::Control::TaskResumeResults> ctx) {
  auto p = ctx.getParams();
  storage::TaskRecord t = must_task(ipc::text_of(p.getId()));
  if (t.state != storage::TaskState::paused) {
    throw std::runtime_error("task " + t.id + " is " + std::string(storage::state_name(t.state)) +
                             ", not paused");
  }
  if (TaskBoard* board = board_of(t)) {
    board->resume(t.id, p.getBudgetTokens());
  } else {
    uint64_t budget = p.getBudgetTokens();
    rt_.tasks.now([&](storage::TaskStore& st, storage::Txn& txn) {
      if (budget != 0) st.set_budget(txn, t.id, budget);
      return st.set_paused(txn, t.id, false);
    });
  }
  fill(ctx.getResults().initTask(), must_task(t.id));
}

}  // namespace smol::supervisor
