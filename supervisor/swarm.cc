#include "supervisor/swarm.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/log.h"
#include "ipc/rpc_error.h"
#include "supervisor/agent_grants.h"
#include "supervisor/log_files.h"
#include "base/units.h"

namespace smol::supervisor {
namespace {

// Agents spawned per loop turn: small enough that control calls and hellos
// are served while a big swarm starts, big enough to amortise the turn.
constexpr size_t kSpawnBatch = 64;
constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{30000};
constexpr size_t kQuotedLines = 10;
constexpr size_t kEventRingBytes = 256 * 1024;

// "2026-12-03T08:30:01.123Z": UTC, to the millisecond.
std::string timestamp(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &t);
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(date) + ms;
}

std::string quote_last_output(const AgentLog& log) {
  std::vector<std::string> lines = log.last_lines(kQuotedLines);
  if (lines.empty()) return "; it wrote nothing to stdout or stderr";
  std::string s = "; its last output:";
  for (const auto& l : lines) s += "\n  | " + l;
  return s;
}

}  // namespace

std::string_view state_name(SwarmState s) {
  switch (s) {
    case SwarmState::starting: return "starting";
    case SwarmState::ready: return "ready";
    case SwarmState::stopping: return "stopping";
    case SwarmState::stopped: return "stopped";
    case SwarmState::failed: return "failed";
  }
  return "stopped";
}

Swarm::Swarm(Runtime& rt, Listener& listener, spec::SwarmSpec spec, std::vector<AgentPlan> plans,
             std::shared_ptr<sandbox::CgroupNode> pool, int64_t created_unix_ms,
             std::string source_name)
    : rt_(rt),
      listener_(listener),
      spec_(std::move(spec)),
      pool_(std::move(pool)),
      events_(std::make_shared<AgentLog>(kEventRingBytes)),
      events_file_(rt.config.log_file_bytes > 0
                       ? std::make_unique<LogFile>(rt.loop,
                                                   events_log_path(rt.config.state_dir, spec_.name),
                                                   rt.config.log_file_bytes)
                       : nullptr),
      created_unix_ms_(created_unix_ms),
      source_name_(std::move(source_name)) {
  std::vector<std::pair<std::string, uint32_t>> groups;
  for (const auto& g : spec_.agents) {
    roles_.push_back(g.role);
    groups.emplace_back(g.role, g.count);
  }
  messaging_ = std::make_unique<Messaging>(rt_, spec_.name, groups, rt_.messaging);
  if (spec_.tasks) {
    tasks_ = std::make_unique<TaskBoard>(
        rt_, spec_.name, *spec_.tasks, rt_.messaging.max_payload, spec_.agent_names(),
        [this](std::string_view what) { event("swarm " + spec_.name, what); });
  }
  rt_.memory.store().set_quota(spec_.name, {spec_.memory.max_bytes, spec_.memory.max_entries});
  members_.reserve(plans.size());
  for (auto& plan : plans) {
    const spec::AgentGroupSpec* group = nullptr;
    for (const auto& g : spec_.agents) {
      if (g.role == plan.role) group = &g;
    }
    KJ_REQUIRE(group != nullptr, "agent plan for a role the spec lacks", plan.role);
    members_.push_back({std::make_unique<Agent>(rt_, *this, std::move(plan)), group});
  }
  if (pool_) {
    rt_.metrics.pool_limits(spec_.name, spec_.limits.memory, spec_.limits.pids, spec_.limits.cpu);
  }
}

Swarm::~Swarm() {
  members_.clear();  // the agents first: their cgroups are in the pool
  tasks_.reset();
  messaging_.reset();
  release_pool();
  if (!events_->ended()) end_events("swarm " + spec_.name + " is gone (the daemon stopped)");
}

void Swarm::event(std::string_view who, std::string_view what) {
  std::string line =
      timestamp(unix_now_ms()) + " " + std::string(who) + ": " + std::string(what) + "\n";
  events_->append(line);
  if (events_file_) events_file_->append(line);
}

void Swarm::end_events(std::string reason) {
  events_->end(std::move(reason));
  if (events_file_) events_file_->close();  // a swarm that is over holds no fd
}

void Swarm::agent_event(Agent& a, std::string_view what) { event(a.id(), what); }

// Once nothing of the swarm runs any more; its agents never start again
// (a stopped swarm is replaced, not restarted), so none will look for it.
void Swarm::release_pool() { rt_.cgroups.retire(std::move(pool_)); }

uint32_t Swarm::sample_some(uint32_t from, uint32_t count) {
  const uint32_t end = std::min(size(), from + std::min(count, size()));
  for (uint32_t i = from; i < end; ++i) {
    Agent& a = *members_[i].agent;
    try {
      a.sample();
    } catch (const std::exception& e) {
      log::debug("agent " + a.id() + ": cannot sample its cgroup: " + e.what());
    }
  }
  if (end < size() || !pool_) return end;
  try {
    sandbox::CgroupUsage u = pool_->usage();
    rt_.metrics.pool_usage(spec_.name, u.memory_bytes, u.pids);
  } catch (const std::exception& e) {
    log::debug("swarm " + name() + ": cannot sample its cgroup: " + e.what());
  }
  return end;
}

void Swarm::report_traffic() {
  std::string traffic = messaging_->summary();
  if (!traffic.empty()) event("swarm " + spec_.name, traffic);
}

kj::Promise<Swarm::VibeReport> Swarm::vibe_check(std::chrono::milliseconds deadline) {
  kj::Vector<kj::Promise<VibeAnswer>> asks;
  std::vector<std::string> ids;
  for (auto& m : members_) {
    asks.add(m.agent->vibe(deadline));
    ids.push_back(m.agent->id());
  }
  auto began = std::chrono::steady_clock::now();
  return kj::joinPromises(asks.releaseAsArray())
      .then([this, ids = std::move(ids), began](kj::Array<VibeAnswer> answers) {
        VibeReport r;
        for (size_t i = 0; i < answers.size(); ++i) {
          const VibeAnswer& a = answers[i];
          if (!a.answered) {
            ++r.silent;
          } else if (a.health == rpc::Health::OK) {
            ++r.ok;
          } else if (a.health == rpc::Health::DEGRADED) {
            ++r.degraded;
          } else {
            ++r.failing;
          }
          r.agents.emplace_back(ids[i], a);
        }
        r.took_millis = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - began)
                            .count();
        rt_.metrics.vibe_check(spec_.name, r.ok, r.degraded, r.failing, r.silent);
        event("swarm " + spec_.name, "vibe check: " + std::to_string(r.ok) + " ok, " +
                                         std::to_string(r.degraded) + " degraded, " +
                                         std::to_string(r.failing) + " failing, " +
                                         std::to_string(r.silent) + " silent");
        return r;
      });
}

void Swarm::pause(bool paused) {
  size_t done = 0;
  // Only ready agents: one still starting has no process to freeze yet, and
  // one stopping must be left to stop.
  for (auto& m : members_) {
    if (m.agent->state() != AgentState::ready) continue;
    m.agent->pause(paused);
    ++done;
  }
  if (done == 0) throw std::runtime_error("swarm " + name() + " has no running agent");
}

bool Swarm::running() const noexcept {
  return state_ == SwarmState::starting || state_ == SwarmState::ready ||
         state_ == SwarmState::stopping;
}

bool Swarm::settled() const noexcept {
  return !running() && pool_ == nullptr &&
         std::all_of(members_.begin(), members_.end(),
                     [](const Member& m) { return m.agent->state() == AgentState::exited; });
}

void Swarm::set_state(SwarmState s) {
  if (s != state_ || s == SwarmState::starting) {
    std::string what = std::string(state_name(s));
    if ((s == SwarmState::failed || s == SwarmState::stopped) && !last_error_.empty()) {
      what += ": " + last_error_;
    }
    event("swarm " + spec_.name, what);
  }
  state_ = s;
  if (s == SwarmState::stopped) end_events("swarm " + spec_.name + " stopped");
  listener_.swarm_changed(*this);
}

kj::Promise<double> Swarm::start() {
  start_time_ = std::chrono::steady_clock::now();
  auto paf = kj::newPromiseAndFulfiller<double>();
  ready_fulfiller_ = kj::mv(paf.fulfiller);
  set_state(SwarmState::starting);
  if (tasks_) tasks_->resume_stored();
  // Through evalLater, so spawning_ is in place before any agent can fail
  // (fail_start must never replace the promise that is running it).
  spawning_ = kj::evalLater([this] { return spawn_from(0); }).eagerlyEvaluate([this](kj::Exception&& e) {
    fail_start(std::string("spawning failed: ") + e.getDescription().cStr());
  });
  return kj::mv(paf.promise);
}

kj::Promise<void> Swarm::spawn_from(size_t next) {
  size_t end = std::min(next + kSpawnBatch, members_.size());
  for (; next < end; ++next) {
    Agent& a = *members_[next].agent;
    try {
      a.start();
    } catch (const std::exception& e) {
      fail_start("cannot start agent " + a.id() + " (" + a.plan().exe + "): " + e.what());
      return kj::READY_NOW;
    }
    if (state_ != SwarmState::starting) return kj::READY_NOW;
  }
  if (next == members_.size()) return kj::READY_NOW;
  // Through the timer, not evalLater: only a trip through the event port
  // lets KJ read the sockets of the agents already started.
  return rt_.loop.timer().afterDelay(0 * kj::NANOSECONDS).then([this, next] {
    return spawn_from(next);
  });
}

void Swarm::agent_ready(Agent& a) {
  event(a.id(), "ready");
  KJ_IF_MAYBE (client, a.client()) {
    messaging_->agent_ready(a.id(), *client);
    if (tasks_) tasks_->agent_ready(a.id(), a.plan().role, *client);
  }
  ++ready_;
  if (state_ == SwarmState::starting && ready_ == members_.size()) {
    set_state(SwarmState::ready);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                          start_time_)
                    .count();
    ready_fulfiller_->fulfill(kj::mv(ms));
  }
}

void Swarm::agent_exited(Agent& a, bool was_ready) {
  event(a.id(), a.last_exit().detail);
  if (was_ready) --ready_;
  Member& m = member_of(a);
  bool restarting = state_ == SwarmState::ready && should_restart(m);
  // Followers of this agent's log keep following across a restart.
  if (restarting) {
    messaging_->agent_down(a.id());
  } else {
    a.log().end(a.last_exit().detail);
    messaging_->agent_gone(a.id(), a.last_exit().detail);
  }
  if (tasks_ && state_ == SwarmState::ready) {
    tasks_->agent_down(a.id(), a.last_exit().detail, !restarting);
  }
  switch (state_) {
    case SwarmState::starting: {
      const ExitInfo& e = a.last_exit();
      if (e.reason == ExitReason::spawn_failed) {
        fail_start("agent " + a.id() + ": " + e.detail);
        return;
      }
      std::string what = e.reason == ExitReason::start_timeout
                             ? "did not say hello within " +
                                   format_duration(a.plan().ready_timeout) + " (ready_timeout)"
                             : e.detail + " before saying hello";
      fail_start("agent " + a.id() + " " + what + quote_last_output(a.log()));
      return;
    }
    case SwarmState::ready:
      if (restarting) {
        schedule_restart(m);
      } else if (running_agents() == 0) {
        last_error_ = "every agent has exited";
        release_pool();
        set_state(SwarmState::stopped);
      }
      break;
    case SwarmState::stopping:
    case SwarmState::stopped:
    case SwarmState::failed:
      break;
  }
}

void Swarm::fail_start(std::string message) {
  if (state_ != SwarmState::starting) return;
  last_error_ = message;
  // spawn_from stops at its next step: the state is no longer starting.
  state_ = SwarmState::failed;  // before the kills, so their exits are not failures again
  event("swarm " + spec_.name, "failed: " + message);
  if (tasks_) tasks_->swarm_stopping();  // its tasks wait in the store for the next start
  kj::Vector<kj::Promise<void>> exits;
  for (auto& m : members_) {
    m.agent->kill();
    exits.add(m.agent->when_exited());
  }
  listener_.swarm_changed(*this);
  auto fulfiller = kj::mv(ready_fulfiller_);
  // Reject only once nothing is left running, so the caller's next look
  // (ps, or a retry of up) sees a clean slate.
  failing_ = kj::joinPromises(exits.releaseAsArray())
                 .then([this, f = kj::mv(fulfiller), message]() mutable {
                   release_pool();
                   end_events("swarm " + spec_.name + " failed to start");
                   f->reject(ipc::rpc_error(message));
                 })
                 .eagerlyEvaluate(nullptr);
}

bool Swarm::should_restart(const Member& m) const {
  const ExitInfo& e = m.agent->last_exit();
  bool failed = e.reason == ExitReason::crashed || (e.reason == ExitReason::exited && e.code != 0);
  switch (m.group->restart) {
    case spec::RestartPolicy::never: return false;
    case spec::RestartPolicy::on_failure:
      if (!failed) return false;
      break;
    case spec::RestartPolicy::always: break;
  }
  return m.agent->restarts() < m.group->max_restarts;
}

void Swarm::schedule_restart(Member& m) {
  auto backoff = std::min(kMaxBackoff, kFirstBackoff * (1u << std::min(m.agent->restarts(), 16u)));
  Agent* agent = m.agent.get();
  m.restart_pending = true;
  m.restart_timer = rt_.loop.timer()
                        .afterDelay(backoff.count() * kj::MILLISECONDS)
                        .then([this, agent, &m] {
                          m.restart_pending = false;
                          if (state_ != SwarmState::ready) {
                            messaging_->agent_gone(agent->id(), "its swarm is not running");
                            return;
                          }
                          agent->count_restart();
                          try {
                            agent->start();
                          } catch (const std::exception& e) {
                            log::error("swarm " + name() + ": restarting agent " + agent->id() +
                                       " failed: " + e.what() + "; it stays down");
                            messaging_->agent_gone(agent->id(), "its restart failed");
                          }
                        })
                        .eagerlyEvaluate(nullptr);
  log::notice("swarm " + name() + ": agent " + agent->id() + " " + agent->last_exit().detail +
              "; restarting in " + format_duration(backoff));
  event(agent->id(), "restarting in " + format_duration(backoff) + " (restart " +
                         std::to_string(agent->restarts() + 1) + ")");
}

kj::Promise<void> Swarm::stop(std::chrono::milliseconds grace) {
  if (!running()) return kj::READY_NOW;
  bool was_starting = state_ == SwarmState::starting;
  spawning_ = nullptr;
  set_state(SwarmState::stopping);
  if (tasks_) tasks_->swarm_stopping();
  if (was_starting && ready_fulfiller_) {
    ready_fulfiller_->reject(ipc::rpc_error("swarm " + name() + " was stopped before it was ready"));
  }
  kj::Vector<kj::Promise<void>> exits;
  for (auto& m : members_) {
    m.restart_timer = nullptr;
    if (m.restart_pending) {
      m.restart_pending = false;
      m.agent->log().end(m.agent->last_exit().detail);  // it will not come back
      messaging_->agent_gone(m.agent->id(), "its swarm stopped before it restarted");
    }
    exits.add(m.agent->stop(grace));
  }
  return kj::joinPromises(exits.releaseAsArray()).then([this] {
    last_error_.clear();
    release_pool();
    set_state(SwarmState::stopped);
  });
}

void Swarm::describe_peers(rpc::Identity::Builder identity) {
  auto peers = identity.initPeers(static_cast<unsigned>(spec_.agents.size()));
  for (size_t i = 0; i < spec_.agents.size(); ++i) {
    peers[i].setRole(spec_.agents[i].role);
    peers[i].setCount(spec_.agents[i].count);
  }
}

void Swarm::grant(Agent& a, rpc::Grants::Builder grants) {
  GrantRequest req{spec_.name,
                   a.id(),
                   a.plan().role,
                   &member_of(a).group->permissions,
                   roles_,
                   spec_.memory.short_term_ttl,
                   [&a](std::string why) { a.protocol_error(std::move(why)); },
                   [this, &a](std::string_view, std::string_view what) { event(a.id(), what); }};
  fill_grants(*messaging_, rt_.memory, rt_.metrics, req, grants);
}

void Swarm::agent_usage(Agent& a, std::string_view task_id, std::string_view model,
                        uint64_t input_tokens, uint64_t output_tokens) {
  constexpr size_t kMaxModelBytes = 128;
  if (model.empty() || model.size() > kMaxModelBytes) {
    throw std::invalid_argument("model: must be 1 to " + std::to_string(kMaxModelBytes) +
                                " bytes, not " + std::to_string(model.size()));
  }
  if (!tasks_) {
    // A swarm without [tasks] still counts what its agents use.
    rt_.metrics.tokens(spec_.name, a.plan().role, model, input_tokens, output_tokens);
    return;
  }
  tasks_->usage(a.id(), a.plan().role, task_id, model, input_tokens, output_tokens);
}

void Swarm::agent_reply(Agent& a, uint64_t request_id, std::string payload, std::string error) {
  try {
    messaging_->reply(a.id(), request_id, std::move(payload), std::move(error));
  } catch (const std::invalid_argument& e) {
    rt_.metrics.permission_denied(spec_.name, a.plan().role, "reply");
    event(a.id(), std::string("permission denied: ") + e.what());
    throw;
  }
}

Swarm::Member& Swarm::member_of(const Agent& a) {
  for (auto& m : members_) {
    if (m.agent.get() == &a) return m;
  }
  KJ_FAIL_REQUIRE("agent not in its swarm", a.id());
}

size_t Swarm::running_agents() const {
  return static_cast<size_t>(std::count_if(members_.begin(), members_.end(), [](const Member& m) {
    return m.agent->state() != AgentState::exited || m.restart_pending;
  }));
}

std::vector<const Agent*> Swarm::agents() const {
  std::vector<const Agent*> out;
  out.reserve(members_.size());
  for (const auto& m : members_) out.push_back(m.agent.get());
  return out;
}

Agent* Swarm::find(std::string_view agent_id) {
  for (auto& m : members_) {
    if (m.agent->id() == agent_id) return m.agent.get();
  }
  return nullptr;
}

}  // namespace smol::supervisor
