#include "supervisor/task_board.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "base/log.h"
#include "base/units.h"
#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"
#include "supervisor/task_info.h"
#include "supervisor/task_rpc.h"

namespace smol::supervisor {
namespace {

using storage::SubtaskState;
using storage::TaskState;

// A key delegated more often than this in one daemon run is a runaway
// lead's: the task fails.
constexpr uint32_t kMaxRedelegations = 3;
constexpr size_t kMaxKeyBytes = 256;
// How far into a task's queue dispatch looks for a subtask some worker may
// take, when the first ones may not go anywhere yet.
constexpr size_t kScanAhead = 64;

bool is_open(SubtaskState s) { return s == SubtaskState::pending || s == SubtaskState::running; }

std::chrono::milliseconds backoff(uint32_t attempts) {
  int64_t ms = 50;
  for (uint32_t i = 1; i < attempts && ms < 5000; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<int64_t>(ms, 5000));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// "worker/3" is "worker-3"; an id stays as it is.
std::string agent_id_of(std::string_view address) {
  std::string id(address);
  if (auto slash = id.rfind('/'); slash != std::string::npos) id[slash] = '-';
  return id;
}

}  // namespace

struct TaskBoard::Delegation {
  uint64_t id;
  std::string task_id;
  std::string agent;  // who delegated
  rpc::ResultSink::Client sink;
  std::deque<Outcome> outbox;
  bool sending = false;
  bool dead = false;  // the sink failed: its agent is gone
  std::vector<Sub*> subs;
};

struct TaskBoard::Sub {
  Run* run;
  std::string key, parent, role, to, input;
  std::string delegator;  // the agent waiting for it
  uint32_t depth = 1;
  uint32_t timeout_ms = 0;
  uint32_t max_attempts = 1;
  SubtaskState state = SubtaskState::pending;
  uint32_t attempts = 0;  // started, over the task's life
  uint64_t attempt = 0;   // the running one's id
  std::string worker;     // the running one's, or the last one's
  std::set<std::string> failed_on;
  std::vector<Delegation*> delegations;  // where its outcome goes
  uint32_t delegated = 0;
  float progress = 0;
  std::string note;
  std::optional<DeadlineQueue::Handle> deadline;
  bool backoff = false;  // pending, but waiting before its next attempt
  std::string text;      // the result or the error, once ended
};

struct TaskBoard::Run {
  storage::TaskRecord rec;
  bool resumed = false;  // its subtasks may be in the store already
  bool ended = false;
  std::string lead;       // the agent running it, "" while none
  uint64_t lead_call = 0; // counts runTask calls, so a stale answer is ignored
  std::map<std::string, std::unique_ptr<Sub>, std::less<>> subs;
  std::deque<Sub*> pending;
  std::map<uint64_t, std::unique_ptr<Delegation>> delegations;
  uint32_t running = 0;
  kj::Promise<void> timeout{nullptr};
  std::unique_ptr<TaskWatchers> watchers;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  uint64_t tokens() const {
    uint64_t n = 0;
    for (const auto& u : rec.tokens) n += u.input_tokens + u.output_tokens;
    return n;
  }
};

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
  t.setInput(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(r.rec.input.data()),
                          r.rec.input.size()));
  t.setResumed(r.resumed || call > 1);
  t.setBudgetTokens(r.rec.budget_tokens);
  req.setDelegator(make_delegator(*this, r.rec.id, lead, "", 1));
  std::string id = r.rec.id;
  tasks_.add(req.send().then(
      [this, id, call](capnp::Response<rpc::Agent::RunTaskResults> resp) {
        Run* r = find_run(id);
        if (r == nullptr || r->lead_call != call) return;
        end_run(*r, TaskState::succeeded, payload_of(resp.getResult()));
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
    end_run(r, TaskState::failed, r.lead + " failed the task: " + ipc::remote_reason(e));
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
  for (uint64_t attempt : workers_.worker_down(id)) {
    auto it = attempts_.find(attempt);
    if (it == attempts_.end()) continue;
    end_attempt(*it->second, false, id + " exited: " + std::string(why), "lost", true);
  }
  start_leads();
}

void TaskBoard::swarm_stopping() {
  int64_t now = unix_now_ms();
  for (auto& [task_id, r] : runs_) {
    for (auto& [key, s] : r->subs) {
      if (s->state != SubtaskState::running) continue;
      uint32_t number = s->attempts;
      detach_attempt(*s, false, "lost");
      s->state = SubtaskState::pending;
      std::string tid = task_id, k = key;
      rt_.tasks.record([tid, k, number, now](storage::TaskStore& st, storage::Txn& txn) {
        st.finish_attempt(txn, tid, k, number, false, "the swarm stopped", true, now);
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
  rt_.metrics.tokens(swarm_, role, model, input_tokens, output_tokens);
  uint64_t n = input_tokens + output_tokens;
  swarm_tokens_ += n;
  agent_tokens_[agent] += n;
  if (r != nullptr) {
    storage::TokenUse use{std::string(model), input_tokens, output_tokens};
    auto it = std::find_if(r->rec.tokens.begin(), r->rec.tokens.end(),
                           [&](const storage::TokenUse& u) { return u.model == use.model; });
    if (it == r->rec.tokens.end()) {
      r->rec.tokens.push_back({use.model, 0, 0});
      it = r->rec.tokens.end() - 1;
    }
    it->input_tokens += input_tokens;
    it->output_tokens += output_tokens;
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

// ---- delegation -------------------------------------------------------------

TaskBoard::Delegated TaskBoard::delegate(std::string_view task_id, const std::string& agent,
                                         const std::string& parent, uint32_t depth,
                                         std::vector<Spec> subtasks, Options options,
                                         rpc::ResultSink::Client sink) {
  Delegated out;
  Run* r = find_run(task_id);
  if (r == nullptr) {
    for (uint32_t i = 0; i < subtasks.size(); ++i) {
      refuse(out.refused, {i, "task_ended", "task " + std::string(task_id) + " has ended"});
    }
    return out;
  }
  auto d = std::make_unique<Delegation>(
      Delegation{next_delegation_++, r->rec.id, agent, kj::mv(sink)});
  std::string runaway;
  std::set<std::string_view> keys;
  for (uint32_t i = 0; i < subtasks.size(); ++i) {
    if (!keys.insert(subtasks[i].key).second) {
      refuse(out.refused, {i, "bad_subtask",
                           "subtask \"" + subtasks[i].key + "\": the key is given twice"});
      continue;
    }
    if (std::optional<Refused> no = check(*r, agent, depth, subtasks[i], options, i)) {
      if (no->reason == "runaway") runaway = no->message;
      refuse(out.refused, std::move(*no));
      continue;
    }
    add_sub(*r, *d, parent, depth, std::move(subtasks[i]), options);
  }
  if (!d->subs.empty()) {
    out.delegation = d->id;
    Delegation& kept = *d;
    r->delegations.emplace(d->id, std::move(d));
    // Outcomes already known (keys delegated before) go out at once.
    for (Sub* s : kept.subs) {
      if (!is_open(s->state)) deliver(kept, {s->key, s->state, s->text, s->attempts, s->worker});
    }
  }
  r->watchers->changed();
  if (!runaway.empty()) {
    end_run(*r, TaskState::failed, "runaway: " + runaway);
    return out;
  }
  pump();
  return out;
}

void TaskBoard::refuse(std::vector<Refused>& out, Refused r) {
  rt_.metrics.delegation_refused(swarm_, r.reason);
  out.push_back(std::move(r));
}

std::optional<TaskBoard::Refused> TaskBoard::check(Run& r, const std::string& agent,
                                                   uint32_t depth, const Spec& s,
                                                   const Options& o, uint32_t index) const {
  auto no = [&](std::string reason, std::string message) {
    return Refused{index, std::move(reason), "subtask \"" + s.key + "\": " + std::move(message)};
  };
  if (s.key.empty() || s.key.size() > kMaxKeyBytes) {
    return no("bad_subtask", "a key must be 1 to " + std::to_string(kMaxKeyBytes) + " bytes");
  }
  if (s.input.size() > max_payload_) {
    return no("bad_subtask", "input of " + format_bytes(s.input.size()) + " is over the limit of " +
                                 format_bytes(max_payload_));
  }
  if (depth > spec_.max_depth) {
    return no("max_depth", "depth " + std::to_string(depth) + " is over [tasks] max_depth = " +
                               std::to_string(spec_.max_depth));
  }
  if (auto it = r.subs.find(s.key); it != r.subs.end()) {
    if (it->second->delegated >= kMaxRedelegations) {
      return no("runaway", agent + " delegated it " + std::to_string(it->second->delegated + 1) +
                               " times; the task is stopped");
    }
    return std::nullopt;  // the same subtask again: its outcome, or the attempt running
  }
  if (r.rec.subtasks_total >= spec_.max_subtasks) {
    return no("max_subtasks", "task " + r.rec.id + " has " + std::to_string(r.rec.subtasks_total) +
                                  " subtasks, [tasks] max_subtasks = " +
                                  std::to_string(spec_.max_subtasks));
  }
  if (r.rec.state == TaskState::paused) {
    return no("budget_exceeded", "task " + r.rec.id + " is paused: its budget ran out");
  }
  if (std::string why = budget_exhausted(r, agent); !why.empty()) return no("budget_exceeded", why);

  if (!s.to.empty()) {
    std::string to = agent_id_of(s.to);
    if (to == agent) return no("self_delegation", agent + " may not delegate to itself");
    const WorkerPool::Worker* w = workers_.find(to);
    if (w == nullptr) {
      return no("no_worker", "no worker \"" + s.to + "\" in swarm " + swarm_ +
                                 " ([tasks] workers: " + join(spec_.workers) + ")");
    }
    if (!o.role.empty() && w->role != o.role) {
      return no("no_worker", to + " is a " + w->role + ", not a " + o.role);
    }
    if (waits_on(to, agent)) {
      return no("cycle", to + " waits on " + agent + " already; delegating to it would close a cycle");
    }
    return std::nullopt;
  }
  if (!o.role.empty() &&
      std::find(spec_.workers.begin(), spec_.workers.end(), o.role) == spec_.workers.end()) {
    return no("no_worker", "role \"" + o.role + "\" is not one of [tasks] workers (" +
                               join(spec_.workers) + ")");
  }
  bool self = false;
  for (const std::string& id : workers_.ids(o.role)) {
    if (id == agent) {
      self = true;
    } else if (!waits_on(id, agent)) {
      return std::nullopt;
    }
  }
  if (self && workers_.ids(o.role).size() == 1) {
    return no("self_delegation", agent + " is the only worker" +
                                     (o.role.empty() ? "" : " of role " + o.role) +
                                     " and may not delegate to itself");
  }
  return no("cycle", "every other worker" + (o.role.empty() ? "" : " of role " + o.role) +
                         " waits on " + agent + " already; delegating would close a cycle");
}

// Whether `from` waits, directly or through others, on `to`.
bool TaskBoard::waits_on(const std::string& from, const std::string& to) const {
  std::vector<const std::string*> stack{&from};
  std::set<std::string_view> seen{from};
  while (!stack.empty()) {
    const std::string& at = *stack.back();
    stack.pop_back();
    auto it = waits_.find(at);
    if (it == waits_.end()) continue;
    for (const auto& [next, n] : it->second) {
      if (next == to) return true;
      if (seen.insert(next).second) stack.push_back(&next);
    }
  }
  return false;
}

void TaskBoard::add_sub(Run& r, Delegation& d, const std::string& parent, uint32_t depth, Spec spec,
                        const Options& o) {
  auto it = r.subs.find(spec.key);
  if (it == r.subs.end() && r.resumed) {
    // Delegated before the restart? Then it is in the store.
    if (auto stored = rt_.tasks.read().subtask(r.rec.id, spec.key)) {
      auto s = std::make_unique<Sub>();
      s->run = &r;
      s->key = stored->key;
      s->parent = stored->parent;
      s->role = stored->role;
      s->input = std::move(stored->input);
      s->state = stored->state == SubtaskState::running ? SubtaskState::pending : stored->state;
      s->attempts = static_cast<uint32_t>(stored->attempts.size());
      if (!stored->attempts.empty()) s->worker = stored->attempts.back().worker;
      s->text = s->state == SubtaskState::succeeded ? std::move(stored->result) : stored->error;
      it = r.subs.emplace(s->key, std::move(s)).first;
      if (it->second->state == SubtaskState::pending) r.pending.push_back(it->second.get());
    }
  }
  if (it == r.subs.end()) {
    auto s = std::make_unique<Sub>();
    s->run = &r;
    s->key = std::move(spec.key);
    s->parent = parent;
    s->role = o.role;
    s->input = std::move(spec.input);
    std::string tid = r.rec.id, key = s->key, role = s->role, input = s->input;
    rt_.tasks.record([tid, key, role, input, parent](storage::TaskStore& st, storage::Txn& txn) {
      st.add_subtask(txn, tid, key, role, input, parent);
    });
    ++r.rec.subtasks_total;
    it = r.subs.emplace(s->key, std::move(s)).first;
    r.pending.push_back(it->second.get());
  }
  Sub& s = *it->second;
  // Who waits for it, and with what limits, is the latest delegation's.
  s.to = agent_id_of(spec.to);
  if (spec.to.empty()) s.to.clear();
  s.delegator = d.agent;
  s.depth = depth;
  s.timeout_ms = o.timeout_ms != 0 ? o.timeout_ms
                                   : static_cast<uint32_t>(spec_.subtask_timeout.count());
  s.max_attempts = o.max_attempts != 0 ? std::min(o.max_attempts, spec_.max_attempts)
                                       : spec_.max_attempts;
  s.delegations.push_back(&d);
  ++s.delegated;
  d.subs.push_back(&s);
}

uint32_t TaskBoard::cancel_remaining(std::string_view task_id, uint64_t delegation) {
  Run* r = find_run(task_id);
  if (r == nullptr) return 0;
  auto it = r->delegations.find(delegation);
  if (it == r->delegations.end()) return 0;
  uint32_t n = 0;
  for (Sub* s : it->second->subs) {
    if (is_open(s->state)) {
      cancel_sub(*s, "cancelled by " + it->second->agent, true);
      ++n;
    }
  }
  set_in_flight();
  pump();
  return n;
}

// ---- scheduling -------------------------------------------------------------

// Starts pending subtasks while the swarm has room, taking the tasks in
// turn so that one big task does not starve the others.
void TaskBoard::pump() {
  if (pumping_) return;
  pumping_ = true;
  bool started = true;
  while (started && in_flight_ < spec_.max_concurrency) {
    started = false;
    for (auto& [id, r] : runs_) {
      if (in_flight_ >= spec_.max_concurrency) break;
      if (r->ended || r->rec.state == TaskState::paused || r->pending.empty()) continue;
      started = dispatch_one(*r) || started;
    }
  }
  pumping_ = false;
  set_in_flight();
}

bool TaskBoard::dispatch_one(Run& r) {
  for (size_t i = 0; i < r.pending.size() && i < kScanAhead; ++i) {
    Sub& s = *r.pending[i];
    if (s.state != SubtaskState::pending || s.backoff) {
      r.pending.erase(r.pending.begin() + static_cast<ptrdiff_t>(i--));
      continue;
    }
    // A worker that failed it already only when every candidate has (a
    // subtask for one agent has only that one).
    bool all_failed = !s.failed_on.empty();
    if (all_failed && s.to.empty()) {
      for (const std::string& id : workers_.ids(s.role)) {
        if (!s.failed_on.contains(id)) all_failed = false;
      }
    }
    WorkerPool::Worker* w = workers_.pick([&](const WorkerPool::Worker& w) {
      if (!s.to.empty() && w.id != s.to) return false;
      if (!s.role.empty() && w.role != s.role) return false;
      if (w.id == s.delegator || (!all_failed && s.failed_on.contains(w.id))) return false;
      return !waits_on(w.id, s.delegator);
    });
    if (w == nullptr) continue;
    r.pending.erase(r.pending.begin() + static_cast<ptrdiff_t>(i));
    start_attempt(s, *w);
    return true;
  }
  return false;
}

void TaskBoard::start_attempt(Sub& s, WorkerPool::Worker& w) {
  Run& r = *s.run;
  uint64_t id = next_attempt_++;
  s.attempt = id;
  ++s.attempts;
  s.worker = w.id;
  s.state = SubtaskState::running;
  s.progress = 0;
  s.note.clear();
  attempts_[id] = &s;
  ++r.running;
  ++in_flight_;
  ++waits_[s.delegator][w.id];
  s.deadline = deadlines_.add(deadlines_.now() + s.timeout_ms * kj::MILLISECONDS, id);
  int64_t now = unix_now_ms();
  std::string tid = r.rec.id, key = s.key, worker = w.id;
  rt_.tasks.record([tid, key, worker, now](storage::TaskStore& st, storage::Txn& txn) {
    st.start_attempt(txn, tid, key, worker, now);
  });
  Assignment a{id, r.rec.id, s.key, s.input, s.attempts, s.timeout_ms, std::nullopt};
  if (s.depth < spec_.max_depth) a.delegator.emplace(make_delegator(*this, r.rec.id, w.id, s.key, s.depth + 1));
  workers_.assign(w, std::move(a));
  r.watchers->changed();
}

void TaskBoard::on_update(WorkerPool::Worker& w, uint64_t attempt, AttemptUpdate u) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Sub& s = *it->second;
  switch (u.kind) {
    case AttemptUpdate::Kind::progress: {
      s.progress = std::isnan(u.fraction) ? 0.0f : std::clamp(u.fraction, 0.0f, 1.0f);
      s.note = std::move(u.text);
      std::string tid = s.run->rec.id, key = s.key, note = s.note;
      float f = s.progress;
      rt_.tasks.record([tid, key, f, note](storage::TaskStore& st, storage::Txn& txn) {
        st.set_progress(txn, tid, key, f, note);
      });
      s.run->watchers->changed();
      break;
    }
    case AttemptUpdate::Kind::result:
      end_attempt(s, true, std::move(u.text), "succeeded", false);
      break;
    case AttemptUpdate::Kind::error:
      end_attempt(s, false, std::move(u.text), "failed", true);
      break;
  }
}

void TaskBoard::on_timeout(uint64_t attempt) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Sub& s = *it->second;
  s.deadline.reset();  // the queue took it out
  end_attempt(s, false,
              "timed out after " + format_duration(std::chrono::milliseconds(s.timeout_ms)) +
                  " on " + s.worker,
              "timeout", true);
}

// Takes the running attempt off its worker and out of the bookkeeping.
void TaskBoard::detach_attempt(Sub& s, bool tell_worker, std::string_view result_label) {
  attempts_.erase(s.attempt);
  if (s.deadline) deadlines_.cancel(*s.deadline);
  s.deadline.reset();
  --s.run->running;
  --in_flight_;
  if (auto it = waits_.find(s.delegator); it != waits_.end()) {
    if (auto w = it->second.find(s.worker); w != it->second.end() && --w->second == 0) {
      it->second.erase(w);
    }
    if (it->second.empty()) waits_.erase(it);
  }
  if (WorkerPool::Worker* w = workers_.find(s.worker)) {
    if (tell_worker) {
      workers_.drop(*w, s.attempt);
    } else {
      workers_.release(*w, s.attempt);
    }
  }
  s.attempt = 0;
  rt_.metrics.subtask_attempt(swarm_, result_label);
}

void TaskBoard::end_attempt(Sub& s, bool ok, std::string text, std::string_view result_label,
                            bool may_retry) {
  const bool timed_out = result_label == "timeout";
  uint32_t number = s.attempts;
  detach_attempt(s, timed_out, result_label);
  bool retry = !ok && may_retry && s.attempts < s.max_attempts;
  int64_t now = unix_now_ms();
  std::string tid = s.run->rec.id, key = s.key, stored = text;
  rt_.tasks.record([tid, key, number, ok, stored, retry, now](storage::TaskStore& st,
                                                               storage::Txn& txn) {
    st.finish_attempt(txn, tid, key, number, ok, stored, retry, now);
  });
  if (ok) {
    finish_sub(s, SubtaskState::succeeded, std::move(text));
  } else if (retry) {
    s.failed_on.insert(s.worker);
    s.state = SubtaskState::pending;
    s.run->watchers->event(rpc::TaskEvent::Kind::ATTEMPT_FAILED, s.key, s.worker,
                           text + "; retrying (attempt " + std::to_string(s.attempts + 1) +
                               " of " + std::to_string(s.max_attempts) + ")");
    requeue_later(s);
  } else {
    s.run->watchers->event(rpc::TaskEvent::Kind::SUBTASK_FAILED, s.key, s.worker,
                           text + " (attempt " + std::to_string(s.attempts) + " of " +
                               std::to_string(s.max_attempts) + ")");
    finish_sub(s, SubtaskState::failed, std::move(text));
  }
  pump();
}

void TaskBoard::requeue_later(Sub& s) {
  s.backoff = true;
  std::string tid = s.run->rec.id, key = s.key;
  tasks_.add(rt_.loop.timer().afterDelay(backoff(s.attempts).count() * kj::MILLISECONDS).then(
      [this, tid, key] {
        Run* r = find_run(tid);
        if (r == nullptr) return;
        auto it = r->subs.find(key);
        if (it == r->subs.end() || !it->second->backoff) return;
        it->second->backoff = false;
        if (it->second->state != SubtaskState::pending) return;
        r->pending.push_back(it->second.get());
        pump();
      }));
}

void TaskBoard::cancel_sub(Sub& s, std::string why, bool deliver_outcome) {
  if (s.state == SubtaskState::running) detach_attempt(s, true, "dropped");
  s.backoff = false;
  std::string tid = s.run->rec.id, key = s.key;
  if (deliver_outcome) {
    int64_t now = unix_now_ms();
    rt_.tasks.record([tid, key, why, now](storage::TaskStore& st, storage::Txn& txn) {
      st.cancel_subtask(txn, tid, key, why, now);
    });
  }
  s.state = SubtaskState::cancelled;
  s.text = why;
  ++s.run->rec.subtasks_done;
  if (deliver_outcome) {
    for (Delegation* d : s.delegations) deliver(*d, {s.key, s.state, s.text, s.attempts, s.worker});
  }
}

void TaskBoard::finish_sub(Sub& s, SubtaskState state, std::string text) {
  s.state = state;
  s.text = std::move(text);
  Run& r = *s.run;
  ++r.rec.subtasks_done;
  if (state == SubtaskState::failed) ++r.rec.subtasks_failed;
  r.watchers->changed();
  for (Delegation* d : s.delegations) deliver(*d, {s.key, state, s.text, s.attempts, s.worker});
}

void TaskBoard::deliver(Delegation& d, Outcome o) {
  if (d.dead) return;
  d.outbox.push_back(std::move(o));
  if (!d.sending) send_results(d);
}

void TaskBoard::send_results(Delegation& d) {
  constexpr size_t kBatch = 1024;
  size_t n = std::min(d.outbox.size(), kBatch);
  auto req = d.sink.resultsRequest();
  auto list = req.initResults(static_cast<unsigned>(n));
  for (unsigned i = 0; i < n; ++i) {
    Outcome& o = d.outbox.front();
    auto b = list[i];
    b.setKey(o.key);
    switch (o.state) {
      case SubtaskState::succeeded:
        b.setOutcome(rpc::SubtaskResult::Outcome::SUCCEEDED);
        b.setResult(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(o.text.data()), o.text.size()));
        break;
      case SubtaskState::failed:
        b.setOutcome(rpc::SubtaskResult::Outcome::FAILED);
        b.setError(o.text);
        break;
      default:
        b.setOutcome(rpc::SubtaskResult::Outcome::CANCELLED);
        b.setError(o.text);
        break;
    }
    b.setAttempts(o.attempts);
    b.setWorker(o.worker);
    d.outbox.pop_front();
  }
  d.sending = true;
  // The delegation may be gone when the answer comes (its task ended): it
  // is looked up again.
  auto again = [this, tid = d.task_id, did = d.id]() -> Delegation* {
    Run* r = find_run(tid);
    if (r == nullptr) return nullptr;
    auto it = r->delegations.find(did);
    return it == r->delegations.end() ? nullptr : it->second.get();
  };
  tasks_.add(req.send().then(
      [this, again](auto&&) {
        if (Delegation* d = again()) {
          d->sending = false;
          if (!d->outbox.empty()) send_results(*d);
        }
      },
      [again](kj::Exception&&) {
        // Its agent is gone; a new run of it delegates again and gets the
        // outcomes then.
        if (Delegation* d = again()) {
          d->dead = true;
          d->outbox.clear();
        }
      }));
}

void TaskBoard::set_in_flight() { rt_.metrics.subtasks_in_flight(swarm_, in_flight_); }

}  // namespace smol::supervisor
