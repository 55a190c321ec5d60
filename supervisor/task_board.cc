#include "supervisor/task_board.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "base/log.h"
#include "base/units.h"
#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"
#include "supervisor/task_board_state.h"
#include "supervisor/task_info.h"
#include "supervisor/task_rpc.h"

namespace smol::supervisor {
namespace {

using storage::SubtaskState;
using storage::TaskState;

// The most models one task keeps token counts for (each is a row of its
// record, and agents name them).
constexpr size_t kMaxModels = 64;

}  // namespace

void TaskBoard::LogErrors::taskFailed(kj::Exception&& e) {
  log::warning("tasks: " + ipc::remote_reason(e));
}

TaskBoard::TaskBoard(Runtime& rt, std::string swarm, spec::TasksSpec spec, uint32_t max_payload,
                     const std::vector<std::pair<std::string, std::string>>& agents,
                     std::function<void(std::string_view)> event)
    : rt_(rt),
      swarm_(std::move(swarm)),
      spec_(std::move(spec)),
      max_payload_(max_payload),
      event_(std::move(event)),
      workers_([this](WorkerPool::Worker& w, uint64_t attempt, AttemptUpdate u) {
        on_update(w, attempt, std::move(u));
      }),
      deadlines_(rt.loop.timer(), [this](uint64_t attempt) { on_timeout(attempt); }) {
  for (auto& [id, role] : agents) {
    if (role == spec_.lead) {
      lead_agents_.insert(id);
    } else if (std::find(spec_.workers.begin(), spec_.workers.end(), role) !=
               spec_.workers.end()) {
      workers_.known(id, role);
    }
  }
}

TaskBoard::~TaskBoard() = default;

// ---- tasks and leads --------------------------------------------------------

TaskBoard::Run* TaskBoard::find_run(std::string_view task_id) const {
  auto it = runs_.find(task_id);
  return it == runs_.end() || it->second->ended ? nullptr : it->second.get();
}

void TaskBoard::resume_stored() {
  for (storage::TaskRecord& t : rt_.tasks.read().unfinished_tasks()) {
    if (t.swarm != swarm_ || runs_.contains(t.id)) continue;
    event_("task " + t.id + " resumes");
    adopt(std::move(t), true);
  }
}

void TaskBoard::admit() const {
  if (lead_agents_.empty()) {
    throw std::runtime_error("swarm " + swarm_ + " has no " + spec_.lead +
                             " left to lead a task (they stopped for good)");
  }
  if (spec_.budget != 0 && swarm_tokens_ >= spec_.budget) {
    throw std::runtime_error("swarm " + swarm_ + " has used " + std::to_string(swarm_tokens_) +
                             " tokens of its [tasks] budget of " + std::to_string(spec_.budget) +
                             ": it takes no more tasks until it is restarted with a bigger budget");
  }
}

void TaskBoard::run(storage::TaskRecord task) {
  event_("task " + task.id + " submitted (" + format_bytes(task.input.size()) + " of input)");
  adopt(std::move(task), false);
}

void TaskBoard::adopt(storage::TaskRecord task, bool resumed) {
  auto r = std::make_unique<Run>();
  r->rec = std::move(task);
  r->resumed = resumed;
  std::string id = r->rec.id;
  r->watchers = std::make_unique<TaskWatchers>(
      rt_.loop.timer(), tasks_, [this, id](rpc::TaskInfo::Builder b) { fill_info(id, b); });
  if (r->rec.timeout_ms > 0) {
    int64_t left = r->rec.created_unix_ms + r->rec.timeout_ms - unix_now_ms();
    r->timeout = rt_.loop.timer()
                     .afterDelay(std::max<int64_t>(left, 0) * kj::MILLISECONDS)
                     .then([this, id] {
                       if (Run* r = find_run(id)) {
                         end_run(*r, TaskState::failed,
                                 "timed out after " +
                                     format_duration(std::chrono::milliseconds(r->rec.timeout_ms)));
                       }
                     })
                     .eagerlyEvaluate(nullptr);
  }
  runs_.emplace(id, std::move(r));
  start_leads();
}

void TaskBoard::fill_info(const std::string& task_id, rpc::TaskInfo::Builder b) {
  if (auto it = runs_.find(task_id); it != runs_.end()) {
    fill_task_info(b, it->second->rec, it->second->running);
    return;
  }
  try {
    if (auto t = rt_.tasks.read().task(task_id)) fill_task_info(b, *t, 0);
  } catch (const std::exception& e) {
    log::warning("tasks: task " + task_id + " cannot be read: " + e.what());
  }
}

// Every task without a lead goes to the ready lead with the fewest tasks.
void TaskBoard::start_leads() {
  for (auto& [id, r] : runs_) {
    if (r->ended || !r->lead.empty() || leads_.empty()) continue;
    std::map<std::string, size_t> load;
    for (const auto& [lead, client] : leads_) load[lead] = 0;
    for (const auto& [other_id, other] : runs_) {
      if (load.contains(other->lead)) ++load[other->lead];
    }
    auto best = std::min_element(load.begin(), load.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    start_lead(*r, best->first, leads_.at(best->first));
  }
}

void TaskBoard::start_lead(Run& r, const std::string& lead, rpc::Agent::Client client) {
  r.lead = lead;
  uint64_t call = ++r.lead_call;
  auto req = client.runTaskRequest();
  auto t = req.initTask();
  t.setId(r.rec.id);
  t.setInput(ipc::data_of(r.rec.input));
  t.setResumed(r.resumed || call > 1);
  t.setBudgetTokens(r.rec.budget_tokens);
  req.setDelegator(make_delegator(*this, r.rec.id, lead, "", 1, lead_scope(call)));
  std::string id = r.rec.id;
  tasks_.add(req.send().then(
      [this, id, call](capnp::Response<rpc::Agent::RunTaskResults> resp) {
        Run* r = find_run(id);
        if (r == nullptr || r->lead_call != call) return;
        auto result = resp.getResult();
        if (result.size() > max_payload_) {
          end_run(*r, TaskState::failed,
                  r->lead + " answered with a result of " + format_bytes(result.size()) +
                      ", over the limit of " + format_bytes(max_payload_));
          return;
        }
        end_run(*r, TaskState::succeeded, ipc::payload_of(result));
      },
      [this, id, call](kj::Exception&& e) {
        Run* r = find_run(id);
        if (r == nullptr || r->lead_call != call) return;
        lead_failed(*r, kj::mv(e));
      }));
  event_("task " + r.rec.id + (call > 1 || r.resumed ? " handed again to " : " handed to ") + lead);
}

void TaskBoard::lead_failed(Run& r, kj::Exception e) {
  if (e.getType() != kj::Exception::Type::DISCONNECTED) {
    std::string why = ipc::remote_reason(e);
    if (why.size() > 4096) why.resize(4096);  // the agent's words, kept with the task
    end_run(r, TaskState::failed, r.lead + " failed the task: " + why);
    return;
  }
  // The lead hung up: the task waits for a lead (this one restarted, or
  // another). It is not asked again before it says hello again.
  event_("task " + r.rec.id + " lost its lead " + r.lead + "; it waits for a lead");
  leads_.erase(r.lead);
  r.lead.clear();
  start_leads();
}

void TaskBoard::end_run(Run& r, TaskState state, std::string text) {
  if (r.ended) return;
  r.ended = true;
  const std::string why = state == TaskState::succeeded ? "the task ended" : text;
  for (auto& [key, s] : r.subs) {
    if (is_open(s->state)) cancel_sub(*s, "the task ended: " + why, false);
  }
  int64_t now = unix_now_ms();
  std::string id = r.rec.id;
  rt_.tasks.record([id, state, text, now](storage::TaskStore& st, storage::Txn& txn) {
    st.cancel_subtasks(txn, id, now);
    st.finish_task(txn, id, state, text, now);
  });
  r.rec.state = state;
  (state == TaskState::succeeded ? r.rec.result : r.rec.error) = text;
  r.rec.finished_unix_ms = now;
  if (!r.lead.empty()) {
    if (auto it = leads_.find(r.lead); it != leads_.end()) workers_.drop_tasks(it->second, {id});
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
  rt_.metrics.task_ended(swarm_, storage::state_name(state), seconds);
  event_("task " + id + " " + std::string(storage::state_name(state)) + ": " +
         std::to_string(r.rec.subtasks_done) + "/" + std::to_string(r.rec.subtasks_total) +
         " subtasks done, " + std::to_string(r.rec.subtasks_failed) + " failed" +
         (r.rec.subtasks_cancelled > 0
              ? ", " + std::to_string(r.rec.subtasks_cancelled) + " cancelled"
              : "") +
         (state == TaskState::succeeded ? "" : "; " + text));
  if (state == TaskState::succeeded) store_result(r, text);
  auto node = runs_.extract(id);
  node.mapped()->watchers->ended();
  bury(std::move(node.mapped()));
  set_in_flight();
  pump();
}

// The run may be the one whose answer is being handled: it is freed on a
// later turn, never under its own callback.
void TaskBoard::bury(std::unique_ptr<Run> r) {
  graveyard_.push_back(std::move(r));
  if (graveyard_.size() > 1) return;
  tasks_.add(rt_.loop.timer().afterDelay(0 * kj::NANOSECONDS).then([this] { graveyard_.clear(); }));
}

void TaskBoard::store_result(const Run& r, const std::string& result) {
  storage::memory::PutRequest put;
  put.swarm = swarm_;
  put.tier = storage::memory::Tier::long_term;
  put.agent = r.lead;
  put.key = "task/" + r.rec.id;
  put.value = result;
  put.tags = {"task-result"};
  std::string id = r.rec.id;
  tasks_.add(rt_.memory.put(std::move(put)).catch_([this, id](kj::Exception&& e) {
    event_("task " + id + ": its result was not written to long-term memory: " +
           ipc::remote_reason(e));
  }));
}

void TaskBoard::pause_run(Run& r, std::string why) {
  if (r.rec.state == TaskState::paused) return;
  r.rec.state = TaskState::paused;
  std::string id = r.rec.id;
  rt_.tasks.record([id](storage::TaskStore& st, storage::Txn& txn) { st.set_paused(txn, id, true); });
  event_("task " + id + " paused: " + why);
  r.watchers->event(rpc::TaskEvent::Kind::NOTE, {}, {},
                    "paused: " + why + " (swarmctl task resume " + id + " --budget-tokens N)");
}

void TaskBoard::cancel(std::string_view task_id, std::string why) {
  Run* r = find_run(task_id);
  if (r == nullptr) throw std::runtime_error("task " + std::string(task_id) + " is not running");
  end_run(*r, TaskState::cancelled, std::move(why));
}

void TaskBoard::resume(std::string_view task_id, uint64_t budget_tokens) {
  Run* r = find_run(task_id);
  if (r == nullptr) throw std::runtime_error("task " + std::string(task_id) + " is not running");
  if (r->rec.state != TaskState::paused) {
    throw std::runtime_error("task " + std::string(task_id) + " is not paused");
  }
  std::string id = r->rec.id;
  if (budget_tokens != 0) {
    r->rec.budget_tokens = budget_tokens;
    rt_.tasks.record([id, budget_tokens](storage::TaskStore& st, storage::Txn& txn) {
      st.set_budget(txn, id, budget_tokens);
    });
  }
  if (std::string why = budget_exhausted(*r, {}); !why.empty()) {
    throw std::runtime_error("task " + id + " stays paused: " + why +
                             " (give it more with --budget-tokens)");
  }
  r->rec.state = TaskState::running;
  rt_.tasks.record([id](storage::TaskStore& st, storage::Txn& txn) { st.set_paused(txn, id, false); });
  event_("task " + id + " resumed");
  r->watchers->event(rpc::TaskEvent::Kind::NOTE, {}, {}, "resumed");
  pump();
}

kj::Promise<void> TaskBoard::watch(std::string_view task_id, rpc::TaskWatcher::Client watcher) {
  auto it = runs_.find(task_id);
  if (it == runs_.end()) throw std::runtime_error("task " + std::string(task_id) + " is not running");
  return it->second->watchers->add(kj::mv(watcher));
}

uint32_t TaskBoard::running(std::string_view task_id) const {
  auto it = runs_.find(task_id);
  return it == runs_.end() ? 0 : it->second->running;
}

std::optional<TaskBoard::Progress> TaskBoard::progress(std::string_view task_id,
                                                       std::string_view key) const {
  auto it = runs_.find(task_id);
  if (it == runs_.end()) return std::nullopt;
  auto s = it->second->subs.find(key);
  if (s == it->second->subs.end() || s->second->state != SubtaskState::running) return std::nullopt;
  return Progress{s->second->progress, s->second->note};
}

// ---- agents -----------------------------------------------------------------

void TaskBoard::agent_ready(const std::string& id, const std::string& role,
                            rpc::Agent::Client client) {
  if (role == spec_.lead) {
    leads_.insert_or_assign(id, kj::mv(client));
    start_leads();
  } else if (std::find(spec_.workers.begin(), spec_.workers.end(), role) != spec_.workers.end()) {
    workers_.worker_ready(id, role, kj::mv(client));
    pump();
  }
}

void TaskBoard::agent_down(const std::string& id, std::string_view why, bool for_good) {
  if (lead_agents_.contains(id)) {
    leads_.erase(id);
    if (for_good) lead_agents_.erase(id);
    for (auto& [task_id, r] : runs_) {
      if (r->lead == id) {
        r->lead.clear();
        ++r->lead_call;  // its answer, if one still comes, is stale
      }
    }
    if (lead_agents_.empty()) {
      // Nobody is left to run the tasks.
      std::vector<Run*> all;
      for (auto& [task_id, r] : runs_) all.push_back(r.get());
      for (Run* r : all) {
        end_run(*r, TaskState::failed,
                "no " + spec_.lead + " is left to lead it: " + id + " " + std::string(why));
      }
    }
  }
  for (uint64_t attempt : workers_.worker_down(id, for_good)) {
    auto it = attempts_.find(attempt);
    if (it == attempts_.end()) continue;
    end_attempt(*it->second, false, id + " exited: " + std::string(why), "lost", true);
  }
  if (for_good) cancel_stranded(id + " stopped for good");
  start_leads();
}

// Subtasks waiting for a worker that no longer exists (the one they name,
// or every one of their role) would wait forever: they end cancelled, and
// whoever delegated them hears why.
void TaskBoard::cancel_stranded(const std::string& why) {
  for (auto& [task_id, r] : runs_) {
    for (auto& [key, s] : r->subs) {
      if (s->state != SubtaskState::pending) continue;
      const WorkerPool::Worker* to = s->to.empty() ? nullptr : workers_.find(s->to);
      bool placeable = s->to.empty() ? !workers_.ids(s->role).empty() : to != nullptr && !to->gone;
      if (!placeable) cancel_sub(*s, "no worker is left to run it: " + why, true);
    }
  }
  set_in_flight();
}

void TaskBoard::swarm_stopping() {
  int64_t now = unix_now_ms();
  for (auto& [task_id, r] : runs_) {
    for (auto& [key, s] : r->subs) {
      if (s->state != SubtaskState::running) continue;
      uint32_t number = s->attempts;
      detach_attempt(*s, false, "lost");
      s->state = SubtaskState::pending;
      ++s->attempts_lost;
      std::string tid = task_id, k = key;
      rt_.tasks.record([tid, k, number, now](storage::TaskStore& st, storage::Txn& txn) {
        st.finish_attempt(txn, tid, k, number, false, std::string(storage::kAttemptLostToStop),
                          true, now);
      });
    }
    r->watchers->event(rpc::TaskEvent::Kind::NOTE, {}, {},
                       "swarm " + swarm_ + " stopped; the task resumes when it is up again");
    r->watchers->ended();
  }
  for (auto& [task_id, r] : runs_) bury(std::move(r));
  runs_.clear();
  leads_.clear();
  set_in_flight();
}

void TaskBoard::usage(const std::string& agent, const std::string& role, std::string_view task_id,
                      std::string_view model, uint64_t input_tokens, uint64_t output_tokens) {
  Run* r = nullptr;
  if (!task_id.empty()) {
    r = find_run(task_id);
    if (r == nullptr) {
      throw std::invalid_argument("taskId: no running task " + std::string(task_id) +
                                  " in swarm " + swarm_);
    }
  } else {
    // The one task the agent works on, if there is just one.
    std::set<Run*> mine;
    for (auto& [id, run] : runs_) {
      if (run->lead == agent) mine.insert(run.get());
    }
    if (WorkerPool::Worker* w = workers_.find(agent)) {
      for (uint64_t a : w->running) {
        if (auto it = attempts_.find(a); it != attempts_.end()) mine.insert(it->second->run);
      }
    }
    if (mine.size() == 1) r = *mine.begin();
  }
  if (r != nullptr && r->rec.tokens.size() >= kMaxModels &&
      std::none_of(r->rec.tokens.begin(), r->rec.tokens.end(),
                   [&](const storage::TokenUse& u) { return u.model == model; })) {
    throw std::invalid_argument("model: task " + r->rec.id + " has usage of " +
                                std::to_string(kMaxModels) + " models already");
  }
  rt_.metrics.tokens(swarm_, role, model, input_tokens, output_tokens);
  using storage::add_tokens;
  uint64_t n = add_tokens(input_tokens, output_tokens);
  swarm_tokens_ = add_tokens(swarm_tokens_, n);
  agent_tokens_[agent] = add_tokens(agent_tokens_[agent], n);
  if (r != nullptr) {
    storage::TokenUse use{std::string(model), input_tokens, output_tokens};
    auto it = std::find_if(r->rec.tokens.begin(), r->rec.tokens.end(),
                           [&](const storage::TokenUse& u) { return u.model == use.model; });
    if (it == r->rec.tokens.end()) {
      r->rec.tokens.push_back({use.model, 0, 0});
      it = r->rec.tokens.end() - 1;
    }
    it->input_tokens = add_tokens(it->input_tokens, input_tokens);
    it->output_tokens = add_tokens(it->output_tokens, output_tokens);
    std::string id = r->rec.id;
    rt_.tasks.record([id, use](storage::TaskStore& st, storage::Txn& txn) {
      st.add_tokens(txn, id, use);
    });
    r->watchers->changed();
    if (std::string why = budget_exhausted(*r, agent); !why.empty()) over_budget(*r, why);
  }
  if (spec_.budget != 0 && swarm_tokens_ >= spec_.budget) {
    std::vector<Run*> all;
    for (auto& [id, run] : runs_) all.push_back(run.get());
    for (Run* each : all) {
      if (!each->ended) over_budget(*each, budget_exhausted(*each, {}));
    }
  }
}

std::string TaskBoard::budget_exhausted(const Run& r, const std::string& agent) const {
  if (r.rec.budget_tokens != 0 && r.tokens() >= r.rec.budget_tokens) {
    return "task " + r.rec.id + " used " + std::to_string(r.tokens()) + " of its " +
           std::to_string(r.rec.budget_tokens) + " tokens";
  }
  if (spec_.budget != 0 && swarm_tokens_ >= spec_.budget) {
    return "swarm " + swarm_ + " used " + std::to_string(swarm_tokens_) +
           " tokens of its [tasks] budget of " + std::to_string(spec_.budget);
  }
  if (spec_.agent_budget != 0 && !agent.empty()) {
    auto it = agent_tokens_.find(agent);
    if (it != agent_tokens_.end() && it->second >= spec_.agent_budget) {
      return agent + " used " + std::to_string(it->second) + " tokens of its [tasks] agent_budget of " +
             std::to_string(spec_.agent_budget);
    }
  }
  return {};
}

void TaskBoard::over_budget(Run& r, std::string why) {
  if (why.empty()) return;
  if (spec_.on_budget_exceeded == spec::BudgetAction::fail) {
    end_run(r, TaskState::failed, "budget exceeded: " + why);
  } else {
    pause_run(r, why);
  }
}

}  // namespace smol::supervisor
