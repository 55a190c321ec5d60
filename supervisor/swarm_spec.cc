#include "supervisor/swarm_spec.h"

#include <algorithm>
#include <unordered_map>

#include "supervisor/limits_spec.h"
#include "supervisor/sandbox_profiles.h"
#include "supervisor/toml_check.h"

namespace smol::spec {
namespace {

using namespace std::chrono_literals;
using toml_check::Need;
using toml_check::Problems;
using toml_check::TableReader;

constexpr std::chrono::milliseconds kMinReadyTimeout = 10ms;
constexpr std::chrono::milliseconds kMaxReadyTimeout = 1h;

constexpr std::string_view kNameRule =
    "must be 1 to 63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit";

// The daemon tells each agent who it is through these; a spec must not
// be able to lie to an agent about its own identity.
constexpr std::string_view kReservedEnvPrefix = "SMOLSWARMS_";

bool is_name(std::string_view s) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  return !s.empty() && s.size() <= kMaxNameLength && std::all_of(s.begin(), s.end(), allowed) &&
         s[0] != '_' && s[0] != '-';
}

bool is_env_name(std::string_view s) {
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  return !s.empty() && std::all_of(s.begin(), s.end(), allowed) && !(s[0] >= '0' && s[0] <= '9');
}

// Reads a required name (the swarm's, a role) into out.
void read_name(const TableReader& table, std::string_view key, std::string& out) {
  const std::string* name = table.string(key, Need::required);
  if (name && is_name(*name)) {
    out = *name;
  } else if (name) {
    table.bad(key, kNameRule);
  }
}

// A string that can reach execve(): NUL would silently cut it short.
const std::string* exec_string(const toml::node& node, const std::string& path,
                               Problems& problems) {
  const auto* s = node.as_string();
  if (!s) {
    problems.bad_value(node, path, "must be a string");
  } else if (s->get().find('\0') != std::string::npos) {
    problems.bad_value(node, path, "must not contain NUL bytes");
  } else {
    return &s->get();
  }
  return nullptr;
}

void read_command(const TableReader& group, Problems& problems, AgentGroupSpec& g) {
  const toml::node* node = group.find("command", Need::required);
  if (!node) return;
  const toml::array* argv = node->as_array();
  if (!argv || argv->empty()) {
    group.bad("command",
              "must be a non-empty array of strings, the program and its arguments, like "
              "[\"smol-echo-agent\", \"--verbose\"]");
    return;
  }
  std::string path = group.path_of("command");
  for (size_t i = 0; i < argv->size(); ++i) {
    const toml::node& arg = *argv->get(i);
    std::string arg_path = toml_check::index_path(path, i);
    const std::string* s = exec_string(arg, arg_path, problems);
    if (!s) continue;
    if (s->empty()) {
      problems.bad_value(arg, arg_path, "must not be empty");
    } else if (i == 0 && s->back() == '/') {
      problems.bad_value(arg, arg_path, "must name a program file, not a directory");
    } else {
      g.command.push_back(*s);
    }
  }
}

void read_env(const TableReader& group, Problems& problems, AgentGroupSpec& g) {
  const toml::table* env = group.table("env");
  if (!env) return;
  std::string path = group.path_of("env");
  for (const auto& [key, value] : toml_check::in_file_order(*env)) {
    std::string var_path = toml_check::key_path(path, key->str());
    if (!is_env_name(key->str())) {
      problems.add(key->source(), var_path + ": variable names must match [A-Za-z_][A-Za-z0-9_]*");
    } else if (key->str().starts_with(kReservedEnvPrefix)) {
      problems.add(key->source(), var_path + ": names starting with " +
                                      std::string(kReservedEnvPrefix) +
                                      " are reserved for the daemon");
    } else if (const std::string* s = exec_string(*value, var_path, problems)) {
      g.env.emplace_back(key->str(), *s);
    }
  }
}

AgentGroupSpec read_group(const toml::table& table, const std::string& path,
                          const SandboxTable& swarm_sandbox, const PoolLimits& pool,
                          Problems& problems) {
  TableReader group(table, path,
                    {"role", "command", "count", "env", "restart", "max_restarts", "ready_timeout",
                     "sandbox", "limits", "permissions", "protocol"},
                    problems);
  AgentGroupSpec g;
  read_name(group, "role", g.role);
  read_command(group, problems, g);
  if (auto count = group.integer("count", 1, kMaxAgentsPerGroup)) g.count = *count;
  read_env(group, problems, g);
  constexpr RestartPolicy kPolicies[] = {RestartPolicy::never, RestartPolicy::on_failure,
                                         RestartPolicy::always};
  if (auto policy = group.one_of("restart", {"never", "on-failure", "always"})) {
    g.restart = kPolicies[*policy];
  }
  if (auto protocol = group.one_of("protocol", {"capnp", "jsonl"})) {
    g.protocol = *protocol == 0 ? Protocol::capnp : Protocol::jsonl;
  }
  if (auto max = group.integer("max_restarts", 0, kMaxRestarts)) g.max_restarts = *max;
  g.ready_timeout = group.duration("ready_timeout", kMinReadyTimeout, kMaxReadyTimeout);
  g.sandbox =
      resolve_sandbox(swarm_sandbox, read_sandbox_table(group, builtin_profile_names(), problems));
  g.limits = read_agent_limits(group, pool, problems);
  g.permissions = read_permissions(group, problems);
  return g;
}

// Reports the group whose agents take the swarm past kMaxAgentsPerSwarm: at
// its count, or at the group itself when count is left at its default.
void report_too_many_agents(const toml::table& table, const std::string& path, uint64_t total,
                            Problems& problems) {
  std::string rule = "brings the swarm to " + std::to_string(total) + " agents; at most " +
                     std::to_string(kMaxAgentsPerSwarm) + " are allowed in total";
  if (const toml::node* count = table.get("count")) {
    problems.bad_value(*count, toml_check::key_path(path, "count"), rule);
  } else {
    problems.add(table.source(), path + ": " + rule);
  }
}

std::vector<std::string> roles_of(const SwarmSpec& spec) {
  std::vector<std::string> roles;
  for (const AgentGroupSpec& g : spec.agents) roles.push_back(g.role);
  return roles;
}

void read_groups(const TableReader& swarm, const SandboxTable& swarm_sandbox,
                 const PoolLimits& pool, Problems& problems, SwarmSpec& spec) {
  const toml::node* node = swarm.find("agents", Need::required);
  if (!node) return;
  const toml::array* groups = node->as_array();
  if (!groups || groups->empty()) {
    swarm.bad("agents", "must be one or more [[agents]] sections");
    return;
  }
  std::unordered_map<std::string, size_t> group_of_role;
  uint64_t total = 0;
  for (size_t i = 0; i < groups->size(); ++i) {
    const toml::node& entry = *groups->get(i);
    std::string path = toml_check::index_path("agents", i);
    const toml::table* table = entry.as_table();
    if (!table) {
      problems.bad_value(entry, path, "must be a table, written as an [[agents]] section");
      continue;
    }
    if (i == kMaxGroups) {
      problems.add(table->source(), path + ": a swarm has at most " + std::to_string(kMaxGroups) +
                                        " [[agents]] sections");
    }
    AgentGroupSpec g = read_group(*table, path, swarm_sandbox, pool, problems);
    if (!g.role.empty()) {
      auto [first, inserted] = group_of_role.emplace(g.role, i);
      if (!inserted) {
        problems.bad_value(*table->get("role"), toml_check::key_path(path, "role"),
                           "is also the role of " +
                               toml_check::index_path("agents", first->second) +
                               "; roles must be unique within a swarm");
      }
    }
    if (total <= kMaxAgentsPerSwarm && total + g.count > kMaxAgentsPerSwarm) {
      report_too_many_agents(*table, path, total + g.count, problems);
    }
    total += g.count;
    spec.agents.push_back(std::move(g));
  }
  std::vector<std::string> roles = roles_of(spec);
  for (size_t i = 0; i < groups->size(); ++i) {
    if (const toml::table* table = groups->get(i)->as_table()) {
      check_dm_roles(*table, toml_check::index_path("agents", i), roles, problems);
    }
  }
}

// The maxima are the store's own hard bounds (storage/memory_store.h).
void read_memory(const TableReader& swarm, Problems& problems, MemorySpec& m) {
  const toml::table* table = swarm.table("memory");
  if (!table) return;
  TableReader memory(*table, "memory", {"max_bytes", "max_entries", "short_term_ttl"}, problems);
  if (auto b = memory.bytes("max_bytes", 4096, uint64_t{64} << 30)) m.max_bytes = *b;
  if (auto n = memory.integer("max_entries", 1, 100'000'000)) m.max_entries = *n;
  if (auto ttl = memory.duration("short_term_ttl", 1s, std::chrono::hours(24 * 30))) {
    m.short_term_ttl = *ttl;
  }
}

}  // namespace

uint32_t SwarmSpec::total_agents() const {
  uint32_t total = 0;
  for (const AgentGroupSpec& g : agents) total += g.count;
  return total;
}

std::vector<std::pair<std::string, std::string>> SwarmSpec::agent_names() const {
  std::vector<std::pair<std::string, std::string>> names;
  names.reserve(total_agents());
  for (const AgentGroupSpec& g : agents) {
    for (uint32_t i = 0; i < g.count; ++i) names.emplace_back(agent_id(g.role, i), g.role);
  }
  return names;
}

std::string agent_id(std::string_view role, uint32_t index) {
  return std::string(role) + "-" + std::to_string(index);
}

SpecError::SpecError(std::vector<std::string> problems)
    : std::runtime_error(toml_check::join_lines(problems)), problems_(std::move(problems)) {}

SwarmSpec parse_swarm_spec(std::string_view toml_text, std::string_view source_name) {
  toml_check::Problems problems(source_name);
  SwarmSpec spec;
  if (std::optional<toml::table> doc =
          toml_check::parse_document(toml_text, source_name, problems)) {
    TableReader swarm(*doc, "", {"name", "sandbox", "limits", "memory", "tasks", "agents"}, problems);
    read_name(swarm, "name", spec.name);
    PoolLimits pool = read_pool_limits(swarm, problems);
    spec.limits = pool.limits;
    read_memory(swarm, problems, spec.memory);
    read_groups(swarm, read_sandbox_table(swarm, builtin_profile_names(), problems), pool, problems,
                spec);
    spec.tasks = read_tasks(swarm, roles_of(spec), problems);
  }
  if (!problems.empty()) throw SpecError(problems.lines());
  return spec;
}

}  // namespace smol::spec
