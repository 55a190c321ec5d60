#include "supervisor/swarm_factory.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "base/log.h"
#include "base/units.h"
#include "supervisor/command_resolver.h"
#include "supervisor/log_files.h"

namespace smol::supervisor {
namespace {

// How often agents' cgroups are read for the metrics: well below a typical
// scrape interval, and `swarmctl top` refreshes at the same pace.
constexpr auto kSampleInterval = std::chrono::seconds(2);
// Agents sampled in one loop turn: each costs ~80 us of cgroupfs reads
// (v1: three files and three subtree walks), and a 1000-agent swarm sampled
// at once held the loop for ~80 ms every kSampleInterval.
constexpr uint32_t kSampleChunk = 32;

storage::SwarmStatus persisted_status(SwarmState s) {
  switch (s) {
    case SwarmState::stopped: return storage::SwarmStatus::stopped;
    case SwarmState::failed: return storage::SwarmStatus::failed;
    default: return storage::SwarmStatus::active;
  }
}

// A stored spec, parsed again; nullopt if a daemon with other rules stored it.
std::optional<spec::SwarmSpec> parse_stored(const storage::SwarmRecord& r) {
  try {
    return spec::parse_swarm_spec(r.spec_toml, r.source_name);
  } catch (const spec::SpecError&) {
    return std::nullopt;
  }
}

SwarmSummary summarize(const storage::SwarmRecord& r) {
  SwarmSummary s;
  s.name = r.name;
  // A record still marked active after a restart was fixed up at start;
  // anything not running now is shown as it ended.
  s.state = r.status == storage::SwarmStatus::failed ? SwarmState::failed : SwarmState::stopped;
  if (auto spec = parse_stored(r)) s.agents_total = spec->total_agents();
  s.created_unix_ms = r.created_unix_ms;
  s.source_name = r.source_name;
  s.last_error = r.last_error;
  return s;
}

std::optional<double> least(std::optional<double> a, std::optional<double> b) {
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}

// The PATH the group's agents run with.
std::string agent_path(const spec::AgentGroupSpec& g) {
  for (const auto& [k, v] : g.env) {
    if (k == "PATH") return v;
  }
  return std::string(kDefaultAgentPath);
}

// The environment an agent starts with: nothing of the daemon's but a
// sensible PATH, then the spec's variables, then the daemon's own. cpu is
// the least of the agent's and its pool's CPU limits, if any: the SDK polls
// for replies only with a whole CPU to spend (agent_runtime/reply_wait.h).
std::vector<std::string> agent_env(const spec::AgentGroupSpec& g, const std::string& swarm,
                                   const std::string& id, std::optional<double> cpu) {
  std::vector<std::string> env;
  bool has_path = false;
  for (const auto& [k, v] : g.env) has_path |= k == "PATH";
  if (!has_path) env.emplace_back("PATH=" + std::string(kDefaultAgentPath));
  for (const auto& [k, v] : g.env) env.push_back(k + "=" + v);
  env.push_back("SMOLSWARMS_FD=3");
  env.push_back("SMOLSWARMS_SWARM=" + swarm);
  env.push_back("SMOLSWARMS_AGENT_ID=" + id);
  env.push_back("SMOLSWARMS_ROLE=" + g.role);
  if (cpu) env.push_back("SMOLSWARMS_CPU_LIMIT=" + std::to_string(*cpu));
  return env;
}

// Whether one of the two paths lies within the other ("/var" and
// "/var/lib/x" overlap; "/var/l" and "/var/lib" do not).
bool overlaps(const std::string& a, const std::string& b) {
  auto within = [](const std::string& inner, const std::string& outer) {
    return inner == outer || (inner.starts_with(outer) && inner[outer.size()] == '/');
  };
  return within(a, b) || within(b, a);
}

// An extra read-only path must not bring the daemon's own files into view.
void check_read_only_paths(const std::vector<std::string>& read_only,
                           const spec::AgentGroupSpec& g, size_t gi, const config::Config& c) {
  for (const auto& path : read_only) {
    for (const std::string& secret : {c.state_dir, c.socket_path}) {
      if (overlaps(path, secret)) {
        throw std::runtime_error("agents[" + std::to_string(gi) + "] (role " + g.role +
                                 "): sandbox.read_only path " + path + " would expose " +
                                 secret + " (swarmd's own files) to the agents");
      }
    }
  }
}

}  // namespace

SwarmSummary summarize(const Swarm& s) {
  return {s.name(),          s.state(),       s.ready_count(), s.size(),
          s.created_unix_ms(), s.source_name(), s.last_error()};
}

SwarmFactory::SwarmFactory(Runtime& rt, storage::SwarmTable& table)
    : rt_(rt), table_(table) {
  rt_.metrics.set_swarms(0);
  ticking_ = tick_later().eagerlyEvaluate(nullptr);
}

kj::Promise<void> SwarmFactory::tick_later() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(kSampleInterval).count();
  return rt_.loop.timer().afterDelay(ms * kj::MILLISECONDS).then([this] {
    std::vector<std::string> names;
    for (auto& [name, s] : swarms_) {
      if (!s->running()) continue;
      s->report_traffic();
      names.push_back(name);
    }
    if (!rt_.cgroups.available()) return tick_later();
    return sample(std::move(names)).then([this] { return tick_later(); });
  });
}

kj::Promise<void> SwarmFactory::sample(std::vector<std::string> names) {
  SampleCursor c;
  for (std::string& name : names) {
    if (Swarm* s = find(name)) c.swarms.push_back({std::move(name), s, s->created_unix_ms()});
  }
  return sample_step(std::move(c));
}

kj::Promise<void> SwarmFactory::sample_step(SampleCursor c) {
  while (c.swarm < c.swarms.size()) {
    const SampleCursor::Target& t = c.swarms[c.swarm];
    // A swarm stopped or replaced since the pass began is left out of it.
    Swarm* s = find(t.name);
    if (s != t.swarm || s->created_unix_ms() != t.created_unix_ms || !s->running()) {
      ++c.swarm;
      c.agent = 0;
      continue;
    }
    c.agent = s->sample_some(c.agent, kSampleChunk);
    if (c.agent >= s->size()) {
      ++c.swarm;
      c.agent = 0;
    }
    // Through the event port, not evalLater: calls waiting on sockets run
    // before the next chunk.
    return rt_.loop.timer().afterDelay(0 * kj::NANOSECONDS).then(
        [this, c = std::move(c)]() mutable { return sample_step(std::move(c)); });
  }
  return kj::READY_NOW;
}

SwarmFactory::~SwarmFactory() = default;

std::vector<AgentPlan> SwarmFactory::plan_agents(const spec::SwarmSpec& spec,
                                                 const std::string& base_dir) {
  std::string log_dir = swarm_log_dir(rt_.config.state_dir, spec.name);
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) {
    throw std::runtime_error("cannot create log directory " + log_dir + ": " + ec.message());
  }
  std::vector<AgentPlan> plans;
  plans.reserve(spec.total_agents());
  for (size_t gi = 0; gi < spec.agents.size(); ++gi) {
    const auto& g = spec.agents[gi];
    std::string exe;
    try {
      exe = resolve_command(g.command.front(), base_dir, search_dirs(agent_path(g)));
    } catch (const std::exception& e) {
      throw std::runtime_error("agents[" + std::to_string(gi) + "] (role " + g.role +
                               "): " + e.what());
    }
    sandbox::SandboxPolicy resolved = g.sandbox;
    for (std::string& path : resolved.read_only) {
      if (!path.starts_with('/')) path = (std::filesystem::path(base_dir) / path).string();
    }
    check_read_only_paths(resolved.read_only, g, gi, rt_.config);
    auto policy = std::make_shared<const sandbox::SandboxPolicy>(std::move(resolved));
    try {
      rt_.sandboxes.program(policy->seccomp);  // compiled once, here, so errors show at `up`
    } catch (const std::exception& e) {
      throw std::runtime_error("agents[" + std::to_string(gi) + "] (role " + g.role +
                               "): seccomp policy: " + e.what());
    }
    for (uint32_t i = 0; i < g.count; ++i) {
      AgentPlan p;
      p.sandbox = policy;
      p.swarm = spec.name;
      p.role = g.role;
      p.index = i;
      p.exe = exe;
      p.argv = g.command;
      p.jsonl = g.protocol == spec::Protocol::jsonl;
      std::string id = spec::agent_id(g.role, i);
      p.env = agent_env(g, spec.name, id, least(g.limits.cpu, spec.limits.cpu));
      p.ready_timeout = g.ready_timeout.value_or(rt_.config.ready_timeout);
      p.limits = g.limits;
      p.pool_memory = spec.limits.memory;
      p.pool_cpu_or_io = spec.limits.cpu || spec.limits.io_weight;
      if (rt_.config.log_file_bytes > 0) {
        p.log_path = agent_log_path(rt_.config.state_dir, spec.name, id);
      }
      plans.push_back(std::move(p));
    }
  }
  return plans;
}

SwarmFactory::Started SwarmFactory::spawn(std::string_view spec_toml,
                                          std::string_view source_name,
                                          std::string_view base_dir) {
  spec::SwarmSpec spec = spec::parse_swarm_spec(spec_toml, source_name);
  if (Swarm* old = find(spec.name); old != nullptr && old->running()) {
    throw std::runtime_error("swarm '" + spec.name + "' is already running (" +
                             std::string(state_name(old->state())) +
                             "); stop it first with 'swarmctl down " + spec.name + "'");
  }
  if (Swarm* old = find(spec.name); old != nullptr && !old->settled()) {
    throw std::runtime_error("swarm '" + spec.name +
                             "' is still winding down (its agents are being killed); try again "
                             "in a moment");
  }
  std::vector<AgentPlan> plans = plan_agents(spec, std::string(base_dir));
  std::shared_ptr<sandbox::CgroupNode> pool = rt_.cgroups.make_pool(spec.name, spec.limits);
  for (auto& p : plans) p.cgroup_pool = pool;

  int64_t now = unix_now_ms();
  storage::SwarmRecord rec;
  rec.name = spec.name;
  rec.spec_toml = std::string(spec_toml);
  rec.source_name = std::string(source_name);
  rec.base_dir = std::string(base_dir);
  rec.status = storage::SwarmStatus::active;
  rec.created_unix_ms = now;
  try {
    table_.put(rec);
  } catch (...) {
    rt_.cgroups.retire(std::move(pool));
    throw;
  }
  persisted_[spec.name] = rec.status;

  std::string name = spec.name;
  std::unique_ptr<Swarm> swarm;
  try {
    swarm = std::make_unique<Swarm>(rt_, *this, std::move(spec), std::move(plans), pool, now,
                                    std::string(source_name));
  } catch (...) {  // e.g. no agent uid left
    rt_.cgroups.retire(std::move(pool));
    throw;
  }
  Swarm& s = *swarm;
  if (auto it = swarms_.find(name); it != swarms_.end()) {
    rt_.metrics.forget_swarm(name);
    it->second = std::move(swarm);
  } else {
    swarms_.emplace(name, std::move(swarm));
  }
  log::info("swarm " + name + ": starting " + std::to_string(s.size()) + " agents from " +
            std::string(source_name));
  return {name, s.start()};
}

void SwarmFactory::swarm_changed(Swarm& s) {
  rt_.metrics.set_swarms(swarms_running());
  if (on_change_) on_change_();
  storage::SwarmStatus status = persisted_status(s.state());
  auto it = persisted_.find(s.name());
  if (it != persisted_.end() && it->second == status) return;
  try {
    std::optional<storage::SwarmRecord> rec = table_.get(s.name());
    if (!rec) return;
    rec->status = status;
    rec->last_error = s.last_error();
    if (status != storage::SwarmStatus::active) rec->stopped_unix_ms = unix_now_ms();
    table_.put(*rec);
    persisted_[s.name()] = status;
  } catch (const std::exception& e) {
    log::error("swarm " + s.name() + ": cannot record state " +
               std::string(state_name(s.state())) + ": " + e.what() + "; ignoring");
  }
  if (s.state() == SwarmState::failed) log::warning("swarm " + s.name() + ": " + s.last_error());
  if (s.state() == SwarmState::stopped) log::info("swarm " + s.name() + ": stopped");
  if (s.state() == SwarmState::ready) log::info("swarm " + s.name() + ": ready");
}

Swarm* SwarmFactory::find(std::string_view name) {
  auto it = swarms_.find(name);
  return it == swarms_.end() ? nullptr : it->second.get();
}

std::vector<SwarmSummary> SwarmFactory::list() const {
  std::vector<SwarmSummary> out;
  for (const auto& rec : table_.list()) {
    auto it = swarms_.find(rec.name);
    out.push_back(it != swarms_.end() ? summarize(*it->second) : summarize(rec));
  }
  return out;
}

void SwarmFactory::LogErrors::taskFailed(kj::Exception&& e) {
  log::error(e.getDescription().cStr());
}

void SwarmFactory::restore(const std::vector<storage::SwarmRecord>& crashed) {
  for (const storage::SwarmRecord& rec : crashed) {
    log::notice("swarm " + rec.name + " was running when the previous swarmd ended; starting it again");
    try {
      Started s = spawn(rec.spec_toml, rec.source_name, rec.base_dir);
      restoring_.add(s.ready.then(
          [name = s.name](double ms) {
            log::notice("swarm " + name + " is back: ready in " +
                        format_duration(std::chrono::milliseconds(static_cast<int64_t>(ms))));
          },
          [name = s.name](kj::Exception&& e) {
            log::error("swarm " + name + " could not be started again: " +
                       e.getDescription().cStr());
          }));
    } catch (const std::exception& e) {
      log::error("swarm " + rec.name + " could not be started again: " + e.what());
    }
  }
}

SwarmSummary SwarmFactory::known(std::string_view name) const {
  std::optional<SwarmSummary> s = summary(name);
  if (!s) throw std::runtime_error("no swarm named '" + std::string(name) + "' (see 'swarmctl ls')");
  return *s;
}

Swarm& SwarmFactory::running(std::string_view name) {
  known(name);
  Swarm* s = find(name);
  if (s == nullptr || !s->running()) {
    throw std::runtime_error("swarm '" + std::string(name) + "' is not running (see 'swarmctl ls')");
  }
  return *s;
}

std::optional<SwarmSummary> SwarmFactory::summary(std::string_view name) const {
  if (auto it = swarms_.find(name); it != swarms_.end()) return summarize(*it->second);
  if (auto rec = table_.get(name)) return summarize(*rec);
  return std::nullopt;
}

std::vector<std::pair<std::string, std::string>> SwarmFactory::agent_names(
    std::string_view name) const {
  if (auto it = swarms_.find(name); it != swarms_.end()) return it->second->spec().agent_names();
  if (auto rec = table_.get(name)) {
    if (auto spec = parse_stored(*rec)) return spec->agent_names();
  }
  return {};
}

kj::Promise<void> SwarmFactory::stop(std::string_view name, std::chrono::milliseconds grace) {
  Swarm* s = find(name);
  if (s == nullptr) return kj::READY_NOW;
  log::info("swarm " + s->name() + ": stopping");
  return s->stop(grace);
}

kj::Promise<void> SwarmFactory::stop_all(std::chrono::milliseconds grace) {
  kj::Vector<kj::Promise<void>> stops;
  for (auto& [name, s] : swarms_) {
    if (s->running()) stops.add(s->stop(grace));
  }
  return kj::joinPromises(stops.releaseAsArray());
}

size_t SwarmFactory::swarms_running() const {
  size_t n = 0;
  for (const auto& [name, s] : swarms_) n += s->running() ? 1 : 0;
  return n;
}

size_t SwarmFactory::agents_running() const {
  size_t n = 0;
  for (const auto& [name, s] : swarms_) {
    for (const Agent* a : s->agents()) n += a->state() != AgentState::exited ? 1 : 0;
  }
  return n;
}

}  // namespace smol::supervisor
