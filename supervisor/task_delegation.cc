#include <algorithm>
#include <utility>

#include "base/log.h"
#include "base/units.h"
#include "supervisor/task_board.h"
#include "supervisor/task_board_state.h"

namespace smol::supervisor {
namespace {

using storage::SubtaskState;
using storage::TaskState;

// A key delegated more often than this in one daemon run is a runaway
// lead's: the task fails.
constexpr uint32_t kMaxRedelegations = 3;
constexpr size_t kMaxKeyBytes = 256;
// Subtask inputs kept in memory per task (see TaskBoard::hold_input).
constexpr size_t kHeldInputs = size_t{16} << 20;

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

TaskBoard::Delegated TaskBoard::delegate(std::string_view task_id, const std::string& agent,
                                         const std::string& parent, uint32_t depth,
                                         uint64_t scope, std::vector<Spec> subtasks,
                                         Options options, rpc::ResultSink::Client sink) {
  Delegated out;
  Run* r = find_run(task_id);
  if (r == nullptr || !scope_alive(*r, agent, scope)) {
    std::string why = r == nullptr ? "task " + std::string(task_id) + " has ended"
                                   : "the work this delegator came with has ended";
    for (uint32_t i = 0; i < subtasks.size(); ++i) refuse(out.refused, {i, "task_ended", why});
    return out;
  }
  auto d = std::make_unique<Delegation>(
      Delegation{next_delegation_++, r->rec.id, agent, kj::mv(sink)});
  std::string runaway;
  std::set<std::string> keys;
  std::vector<storage::TaskStore::NewSubtask> created;
  for (uint32_t i = 0; i < subtasks.size(); ++i) {
    if (!keys.insert(subtasks[i].key).second) {
      refuse(out.refused, {i, "bad_subtask",
                           "subtask \"" + subtasks[i].key + "\": the key is given twice"});
      continue;
    }
    if (r->resumed && !r->subs.contains(subtasks[i].key)) load_stored(*r, subtasks[i].key);
    if (std::optional<Refused> no =
            check(*r, agent, parent, depth, scope, subtasks[i], options, i)) {
      if (no->reason == "runaway") runaway = no->message;
      refuse(out.refused, std::move(*no));
      continue;
    }
    add_sub(*r, *d, parent, depth, scope, std::move(subtasks[i]), options, created);
  }
  if (!created.empty()) {
    // One change for the whole delegation: the store adds them in one pass.
    rt_.tasks.record([tid = r->rec.id, created = std::move(created)](storage::TaskStore& st,
                                                                     storage::Txn& txn) {
      st.add_subtasks(txn, tid, created);
    });
  }
  if (!d->subs.empty()) {
    out.delegation = d->id;
    Delegation& kept = *d;
    r->delegations.emplace(d->id, std::move(d));
    // Outcomes already known (keys delegated before) go out at once.
    for (Sub* s : kept.subs) {
      if (!is_open(s->state)) deliver(kept, outcome(*s));
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

// A lead's delegator lives as long as its runTask call is the run's
// current one; a worker's, as long as its attempt runs on it.
bool TaskBoard::scope_alive(const Run& r, const std::string& agent, uint64_t scope) const {
  if (scope & lead_scope(0)) return r.lead == agent && lead_scope(r.lead_call) == scope;
  auto it = attempts_.find(scope);
  return it != attempts_.end() && it->second->run == &r && it->second->worker == agent;
}

TaskBoard::Outcome TaskBoard::outcome(const Sub& s) {
  return {s.key, s.state, s.text, s.attempts, s.worker, s.result_stored};
}

TaskBoard::Sub* TaskBoard::load_stored(Run& r, const std::string& key) {
  std::optional<storage::SubtaskRecord> stored = rt_.tasks.read().subtask(r.rec.id, key);
  if (!stored) return nullptr;
  auto s = std::make_unique<Sub>();
  s->run = &r;
  s->key = stored->key;
  s->parent = stored->parent;
  s->role = stored->role;
  s->input = std::move(stored->input);
  // Running in the store means its attempt died with the previous daemon.
  s->state = stored->state == SubtaskState::running ? SubtaskState::pending : stored->state;
  hold_input(*s);
  s->attempts = static_cast<uint32_t>(stored->attempts.size());
  for (const storage::AttemptRecord& a : stored->attempts) {
    if (a.error == storage::kAttemptLostToRestart || a.error == storage::kAttemptLostToStop) {
      ++s->attempts_lost;
    }
  }
  if (!stored->attempts.empty()) s->worker = stored->attempts.back().worker;
  s->text = s->state == SubtaskState::succeeded ? std::move(stored->result) : stored->error;
  Sub* out = s.get();
  r.subs.emplace(out->key, std::move(s));
  if (out->state == SubtaskState::pending) r.pending.push_back(out);
  return out;
}

std::optional<TaskBoard::Refused> TaskBoard::check(Run& r, const std::string& agent,
                                                   const std::string& parent, uint32_t depth,
                                                   uint64_t scope, const Spec& s,
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
    const Sub& existing = *it->second;
    if (existing.parent != parent) {
      return no("bad_subtask", "the key is taken by a subtask delegated from " +
                                   (existing.parent.empty() ? std::string("the lead")
                                                            : "subtask " + existing.parent));
    }
    auto times = existing.delegated.find(scope);
    if (times != existing.delegated.end() && times->second >= kMaxRedelegations) {
      return no("runaway", agent + " delegated it " + std::to_string(times->second + 1) +
                               " times; the task is stopped");
    }
    // Routed already: the same subtask again, its outcome or the attempt
    // running. Loaded from the store: routed by this delegation.
    if (!existing.delegator.empty()) return std::nullopt;
  } else {
    if (r.rec.subtasks_total >= spec_.max_subtasks) {
      return no("max_subtasks", "task " + r.rec.id + " has " +
                                    std::to_string(r.rec.subtasks_total) +
                                    " subtasks, [tasks] max_subtasks = " +
                                    std::to_string(spec_.max_subtasks));
    }
    if (r.rec.state == TaskState::paused) {
      return no("budget_exceeded", "task " + r.rec.id + " is paused: its budget ran out");
    }
    if (std::string why = budget_exhausted(r, agent); !why.empty()) {
      return no("budget_exceeded", why);
    }
  }

  if (!s.to.empty()) {
    std::string to = agent_id_of(s.to);
    if (to == agent) return no("self_delegation", agent + " may not delegate to itself");
    const WorkerPool::Worker* w = workers_.find(to);
    if (w == nullptr || w->gone) {
      return no("no_worker", "no worker \"" + s.to + "\" in swarm " + swarm_ +
                                 (w != nullptr ? " any more (it stopped for good)"
                                               : " ([tasks] workers: " + join(spec_.workers) + ")"));
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
  std::vector<std::string> candidates = workers_.ids(o.role);
  if (candidates.empty()) {
    return no("no_worker", "no worker" + (o.role.empty() ? "" : " of role " + o.role) +
                               " is left in swarm " + swarm_ + " (they stopped for good)");
  }
  bool self = false;
  for (const std::string& id : candidates) {
    if (id == agent) {
      self = true;
    } else if (!waits_on(id, agent)) {
      return std::nullopt;
    }
  }
  if (self && candidates.size() == 1) {
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

void TaskBoard::hold_input(Sub& s) {
  Run& r = *s.run;
  if (is_open(s.state) && r.inputs_held + s.input.size() <= kHeldInputs) {
    r.inputs_held += s.input.size();
    return;
  }
  std::string().swap(s.input);
  s.input_in_store = true;
}

void TaskBoard::release_input(Sub& s) {
  if (!s.input_in_store) s.run->inputs_held -= s.input.size();
  std::string().swap(s.input);
  s.input_in_store = true;
}

std::optional<storage::SubtaskRecord> TaskBoard::stored(const std::string& task_id,
                                                        const std::string& key) {
  try {
    return rt_.tasks.read().subtask(task_id, key);
  } catch (const storage::LmdbError& e) {
    log::error("task " + task_id + ": subtask " + key + " is unreadable in the store: " + e.what());
    return std::nullopt;
  }
}

std::optional<std::string> TaskBoard::input_of(const Sub& s) {
  if (!s.input_in_store) return s.input;
  if (std::optional<storage::SubtaskRecord> rec = stored(s.run->rec.id, s.key)) {
    return std::move(rec->input);
  }
  return std::nullopt;
}

void TaskBoard::add_sub(Run& r, Delegation& d, const std::string& parent, uint32_t depth,
                        uint64_t scope, Spec spec, const Options& o,
                        std::vector<storage::TaskStore::NewSubtask>& created) {
  auto it = r.subs.find(spec.key);
  if (it == r.subs.end()) {
    auto s = std::make_unique<Sub>();
    s->run = &r;
    s->key = std::move(spec.key);
    s->parent = parent;
    s->role = o.role;
    s->input = std::move(spec.input);
    created.push_back({s->key, s->role, s->input, parent});
    hold_input(*s);
    ++r.rec.subtasks_total;
    it = r.subs.emplace(s->key, std::move(s)).first;
    r.pending.push_back(it->second.get());
  }
  Sub& s = *it->second;
  if (s.delegator.empty()) {
    // Where it runs and with what limits is set once, by the delegation
    // that made it (or the first after a restart): a later one only waits
    // for its outcome, so it cannot reroute a subtask others wait for.
    s.to = spec.to.empty() ? std::string() : agent_id_of(spec.to);
    s.delegator = d.agent;
    s.depth = depth;
    s.timeout_ms = o.timeout_ms != 0 ? o.timeout_ms
                                     : static_cast<uint32_t>(spec_.subtask_timeout.count());
    s.max_attempts = o.max_attempts != 0 ? std::min(o.max_attempts, spec_.max_attempts)
                                         : spec_.max_attempts;
  }
  s.delegations.push_back(&d);
  ++s.delegated[scope];
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

}  // namespace smol::supervisor
