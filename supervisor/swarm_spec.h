// The swarm spec: the TOML file a user hands to `swarmctl up`, saying which
// agent programs to run, how many of each, and how to restart them.
//
//   name = "hello"
//   [[agents]]
//   role = "greeter"
//   command = ["smol-echo-agent"]
//   count = 4
//   env = { GREETING = "hi" }
//   restart = "on-failure"        # "never" (default), "on-failure", "always"
//   protocol = "jsonl"            # "capnp" (default) or "jsonl"
//   max_restarts = 5              # 0..1000
//   ready_timeout = "10s"         # 10ms..1h; default: the daemon's
//   [agents.sandbox]              # this group's confinement (sandbox_spec.h),
//   profile = "strict"            # over the swarm's [sandbox] table
//   [agents.limits]               # each agent's cgroup limits (limits_spec.h),
//   memory = "512MiB"             # within the swarm's [limits] pool
//   [agents.permissions]          # messaging and memory (permissions_spec.h)
//   dm = ["worker"]
//
// parse_swarm_spec() is the only way in: it checks everything that can be
// checked without touching the filesystem, so a SwarmSpec is always valid
// (the command is resolved later, when the swarm spawns; see
// command_resolver.h). It runs on whichever thread calls it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandbox/sandbox_policy.h"
#include "supervisor/limits_spec.h"
#include "supervisor/permissions_spec.h"
#include "supervisor/tasks_spec.h"

namespace smol::spec {

enum class RestartPolicy { never, on_failure, always };

// How the group's agents talk to swarmd on fd 3: Cap'n Proto (the C++ SDK),
// or newline-delimited JSON (docs/jsonl-protocol.md), for any language.
enum class Protocol { capnp, jsonl };

// Limits a spec must stay within: names become paths and metric labels, and
// every agent costs the daemon a process and a connection.
inline constexpr size_t kMaxNameLength = 63;
inline constexpr uint32_t kMaxAgentsPerGroup = 10000;
inline constexpr uint32_t kMaxAgentsPerSwarm = 10000;
inline constexpr size_t kMaxGroups = 1000;
inline constexpr uint32_t kMaxRestarts = 1000;

// One [[agents]] section: `count` identical agents running `command`.
struct AgentGroupSpec {
  std::string role;                  // unique within the swarm; [a-z0-9_-]
  std::vector<std::string> command;  // argv; command[0] is a bare name or a path
  uint32_t count = 1;
  std::vector<std::pair<std::string, std::string>> env;  // in file order
  RestartPolicy restart = RestartPolicy::never;
  Protocol protocol = Protocol::capnp;
  uint32_t max_restarts = 5;  // within the restart window; then the agent stays down
  std::optional<std::chrono::milliseconds> ready_timeout;  // unset = daemon default
  // Resolved from the profile and the swarm's and the group's [sandbox]
  // tables (sandbox_profiles.h resolve_sandbox()).
  sandbox::SandboxPolicy sandbox;
  // Each agent's own cgroup limits, within the swarm's (limits_spec.h).
  sandbox::CgroupLimits limits;
  // What its agents may do to the rest of the swarm (permissions_spec.h).
  Permissions permissions;

  friend bool operator==(const AgentGroupSpec&, const AgentGroupSpec&) = default;
};

// The swarm's [memory] table: bounds on its memory (storage/memory_store.h).
//   [memory]
//   max_bytes = "256MiB"        # keys, values and tags of all its entries
//   max_entries = 250000
//   short_term_ttl = "10m"      # a short-term entry's default time-to-live
struct MemorySpec {
  uint64_t max_bytes = uint64_t{256} << 20;
  uint64_t max_entries = 250'000;
  std::chrono::milliseconds short_term_ttl{10 * 60 * 1000};

  friend bool operator==(const MemorySpec&, const MemorySpec&) = default;
};

struct SwarmSpec {
  std::string name;  // [a-z0-9_-], a path component and a metric label
  std::vector<AgentGroupSpec> agents;
  // The pool all its agents share, from its [limits] table (limits_spec.h).
  sandbox::CgroupLimits limits;
  MemorySpec memory;
  // How it takes tasks (tasks_spec.h); none without a [tasks] table.
  std::optional<TasksSpec> tasks;

  // The sum of every group's count; at most kMaxAgentsPerSwarm.
  uint32_t total_agents() const;
  // Every agent the spec makes, group by group: {id, role}.
  std::vector<std::pair<std::string, std::string>> agent_names() const;

  friend bool operator==(const SwarmSpec&, const SwarmSpec&) = default;
};

// The id of a group's index-th agent: role-index ("worker-3").
std::string agent_id(std::string_view role, uint32_t index);

// Everything wrong with a spec, one problem per line in file order, each
// "source:line:col: path = value: rule broken", e.g.
//   "hello.toml:5:9: agents[0].count = 0: must be between 1 and 10000".
// what() is the lines joined with '\n'. Text from the spec is escaped, so
// the message is safe to print.
class SpecError : public std::runtime_error {
 public:
  explicit SpecError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const noexcept { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Parses and checks a spec. source_name is what messages call the input
// (usually the file name the user gave). Throws SpecError listing every
// problem found, syntax errors included; never crashes on any input.
SwarmSpec parse_swarm_spec(std::string_view toml_text, std::string_view source_name);

}  // namespace smol::spec
