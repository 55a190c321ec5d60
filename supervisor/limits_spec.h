// The [limits] tables of a swarm spec: how much of the machine a swarm, and
// each of its agents, may take. They become cgroup limits (sandbox/cgroup.h);
// nothing here touches a cgroup.
//
//   [limits]                  # the swarm's pool, shared by all its agents
//   memory = "2GiB"           # 4MiB..16TiB; a size string or an integer (bytes)
//   memory_swap = "1GiB"      # swap on top of memory, 0..16TiB; needs memory
//   pids = 512                # processes and threads, 1..4194304
//   cpu = 1.5                 # cores, a float or an integer, 0.01..1024
//   io_weight = 100           # share of disk time against siblings, 1..10000
//
//   [[agents]]
//   ...
//   [agents.limits]           # each agent of this group, within the pool
//   memory = "512MiB"         # the same keys and ranges
//
// Every key is optional; an unset one leaves that resource bounded only by
// the level above (an agent by the pool, the pool by the daemon's own
// cgroup). Why the ranges:
//   - memory: below 4MiB an agent is killed for memory while the dynamic
//     loader and libc start, before its own code runs, which reads as a
//     broken program rather than a small limit; 16TiB is past any host this
//     runs on.
//   - memory_swap: 0 forbids swap. It is swap on top of memory, and cgroup
//     v1 can only write it as one memory-plus-swap limit, so it may only be
//     set beside memory.
//   - pids: 4194304 is PID_MAX_LIMIT, the most the kernel can ever count.
//   - cpu: the quota is written in microseconds per 100ms period and the
//     kernel refuses quotas below 1ms, which is 0.01 of a core; 1024 cores
//     is past any host.
//   - io_weight: the range of cgroup v2's io.weight (default 100). A host
//     without an io (v1: blkio) controller cannot apply it; that is found
//     when the swarm starts, not here.
// A group's memory, pids and cpu may not exceed the pool's when both are
// set: such an agent could never use what its table promises, so the spec
// is wrong, not the machine. (The groups' limits may add up to more than the
// pool: they are ceilings, not reservations.) io_weight is relative and
// memory_swap is checked against nothing.
//
// Problems go to toml_check::Problems at the offending value, like every
// other spec error ("hello.toml:12:10: agents[1].limits.memory = \"4GiB\":
// exceeds the swarm's [limits] memory = \"2GiB\""); the key in question is
// then left unset. Everything here runs on the caller's thread.
#pragma once

#include <cstdint>
#include <optional>

#include "sandbox/cgroup.h"
#include "supervisor/toml_check.h"

namespace smol::sandbox {

// A stand-in until sandbox/cgroup.h gives CgroupLimits a defaulted == of its
// own (SwarmSpec and AgentGroupSpec compare field by field); delete it then.
inline bool operator==(const CgroupLimits& a, const CgroupLimits& b) {
  static_assert(sizeof(CgroupLimits) == 5 * sizeof(std::optional<std::uint64_t>),
                "CgroupLimits has a new field: compare it here too");
  return a.memory == b.memory && a.memory_swap == b.memory_swap && a.pids == b.pids &&
         a.cpu == b.cpu && a.io_weight == b.io_weight;
}

}  // namespace smol::sandbox

namespace smol::spec {

// The ranges above, for callers and tests.
inline constexpr std::uint64_t kMinMemory = 4ull << 20;
inline constexpr std::uint64_t kMaxMemory = 16ull << 40;
inline constexpr std::uint64_t kMaxMemorySwap = 16ull << 40;
inline constexpr std::uint64_t kMaxPids = 4194304;
inline constexpr double kMinCpu = 0.01;
inline constexpr double kMaxCpu = 1024;
inline constexpr std::uint64_t kMinIoWeight = 1;
inline constexpr std::uint64_t kMaxIoWeight = 10000;

// The swarm's [limits] table as read: the pool, and the table it was read
// from, so that a group exceeding it can be shown the value it exceeds.
struct PoolLimits {
  sandbox::CgroupLimits limits;
  const toml::table* table = nullptr;  // null when the swarm has none
};

// The table under the document root's "limits" key; an empty pool when
// there is none. The document must outlive the result.
PoolLimits read_pool_limits(const toml_check::TableReader& swarm, toml_check::Problems& problems);

// The table under an [[agents]] group's "limits" key (all unset when there
// is none), each value also checked against the pool's.
sandbox::CgroupLimits read_agent_limits(const toml_check::TableReader& group,
                                        const PoolLimits& pool, toml_check::Problems& problems);

}  // namespace smol::spec
