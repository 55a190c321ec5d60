#include "supervisor/limits_spec.h"

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace smol::spec {
namespace {

using toml_check::Problems;
using toml_check::TableReader;

// "0.01", "1024": a bound of the cpu range as a user would write it.
std::string format_cores(double cores) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", cores);
  return text;
}

// A number of cores: a float or an integer, within [kMinCpu, kMaxCpu].
std::optional<double> read_cores(const TableReader& table, std::string_view key) {
  const toml::node* node = table.find(key);
  if (!node) return std::nullopt;
  std::optional<double> cores;
  if (const auto* f = node->as_floating_point()) {
    cores = f->get();
  } else if (const auto* i = node->as_integer()) {
    cores = static_cast<double>(i->get());
  } else {
    table.bad(key, "must be a number of cores, like 1.5 or 2");
    return std::nullopt;
  }
  // Written so that nan fails too.
  if (!(*cores >= kMinCpu && *cores <= kMaxCpu)) {
    table.bad(key, "must be between " + format_cores(kMinCpu) + " and " + format_cores(kMaxCpu));
    return std::nullopt;
  }
  return cores;
}

std::optional<std::uint64_t> read_count(const TableReader& table, std::string_view key,
                                        std::uint64_t min, std::uint64_t max) {
  auto n = table.integer(key, static_cast<std::int64_t>(min), static_cast<std::int64_t>(max));
  if (!n) return std::nullopt;
  return static_cast<std::uint64_t>(*n);
}

// Leaves the agent's value under key unset, reporting it, when it is above
// the pool's.
template <typename T>
void check_within_pool(std::optional<T>& agent, const std::optional<T>& pool, std::string_view key,
                       const TableReader& reader, const PoolLimits& swarm) {
  if (agent && pool && *agent > *pool) {
    reader.bad(key, "exceeds the swarm's [limits] " + std::string(key) + " = " +
                        toml_check::render(*swarm.table->get(key)));
    agent.reset();
  }
}

// One [limits] table; a group's (pool set) is also checked against the
// swarm's.
sandbox::CgroupLimits read_table(const toml::table& table, std::string path, const PoolLimits* pool,
                                 Problems& problems) {
  TableReader reader(table, std::move(path), {"memory", "memory_swap", "pids", "cpu", "io_weight"},
                     problems);
  sandbox::CgroupLimits limits;
  limits.memory = reader.bytes("memory", kMinMemory, kMaxMemory);
  limits.memory_swap = reader.bytes("memory_swap", 0, kMaxMemorySwap);
  if (limits.memory_swap && !reader.find("memory")) {
    reader.bad("memory_swap",
               "needs memory set in the same table: it is swap on top of that memory");
    limits.memory_swap.reset();
  }
  limits.pids = read_count(reader, "pids", 1, kMaxPids);
  limits.cpu = read_cores(reader, "cpu");
  limits.io_weight = read_count(reader, "io_weight", kMinIoWeight, kMaxIoWeight);
  if (pool) {
    check_within_pool(limits.memory, pool->limits.memory, "memory", reader, *pool);
    check_within_pool(limits.pids, pool->limits.pids, "pids", reader, *pool);
    check_within_pool(limits.cpu, pool->limits.cpu, "cpu", reader, *pool);
  }
  return limits;
}

}  // namespace

PoolLimits read_pool_limits(const TableReader& swarm, Problems& problems) {
  const toml::table* table = swarm.table("limits");
  if (!table) return {};
  return {read_table(*table, swarm.path_of("limits"), nullptr, problems), table};
}

sandbox::CgroupLimits read_agent_limits(const TableReader& group, const PoolLimits& pool,
                                        Problems& problems) {
  const toml::table* table = group.table("limits");
  if (!table) return {};
  return read_table(*table, group.path_of("limits"), &pool, problems);
}

}  // namespace smol::spec
