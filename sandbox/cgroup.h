// Cgroups: a swarm is a resource pool, an agent a share of it.
//
// Two kernel interfaces, one model above them. A CgroupNode is one cgroup:
// the daemon's base, a swarm's pool below it, an agent below that. The
// supervisor creates nodes with limits, puts a freshly cloned agent into its
// node, reads usage and event counters, freezes, kills and removes, and never
// asks which backend it talks to:
//
//   cgroup v2   one unified hierarchy with the memory, pids (cpu, io)
//               controllers: every modern distribution. Placement can be
//               done by clone3(CLONE_INTO_CGROUP); kill is cgroup.kill,
//               freeze is cgroup.freeze.
//   cgroup v1   one hierarchy per controller (this machine: a v1/v2 hybrid
//               whose v2 tree has no controllers). A node is one directory in
//               each of the memory, pids, cpu, freezer (cpuacct, blkio)
//               hierarchies; kill is freeze, SIGKILL each process, thaw.
//
// Where the base lives (CgroupTree, detect_cgroup_host()):
//   v2 under systemd with Delegate=yes (systemd marks the unit's cgroup with
//     the trusted.delegate xattr): the daemon moves itself into the leaf
//     <own>/daemon, because v2 lets only leaves hold processes once
//     controllers are enabled, then enables +memory +pids +cpu (+io) in
//     <own>/cgroup.subtree_control; the base is <own>/<base_name>.
//   v2 otherwise: <mount>/<base_name>, with the controllers enabled from the
//     mount's root down. The daemon stays where it is.
//   v1: <mount>/<own>/<base_name> in every hierarchy, <own> being the
//     daemon's cgroup there (the root when nothing placed it: then it is
//     /sys/fs/cgroup/<controller>/smolswarms). Nesting keeps whatever placed
//     the daemon (a systemd unit, a session, a container) in charge of its
//     agents too. The daemon stays where it is.
// base_name is "smolswarms" for the daemon; tests pass a name of their own
// (e.g. "smolswarms-test-<pid>") so they never touch a running daemon's tree.
//
// What the kernel gives that the two versions do not share, and how this
// module evens it out, is documented at each method (counters(), watch(),
// oom_watch()).
//
// Ownership: CgroupTree owns its base node object; create_child() and
// children() hand the caller a node object it owns. A node object is a handle
// (paths only): destroying it leaves the cgroup as it is, and nodes do not
// depend on each other's or the tree's lifetime. Only remove() deletes
// cgroups, because only the caller knows when one is empty.
//
// Threads: nodes and the tree hold no locks; use each from one thread at a
// time (the supervisor's loop). Every method is a few small reads and writes
// of cgroupfs files (microseconds) and never waits, except the ones marked
// BLOCKING, which are for daemon start and tests.
//
// Errors: SysError naming the call, the file and, for writes, the value:
// "write(/sys/fs/cgroup/memory/smolswarms/x/memory.limit_in_bytes, 1048576):
// Device or resource busy"; std::invalid_argument for a bad name or limit;
// std::runtime_error for what the host lacks ("io_weight: the host's cgroups
// have no io controller").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"

namespace smol::sandbox {

enum class CgroupVersion { v1, v2 };

// Limits of one node; an empty field means no limit of that kind.
struct CgroupLimits {
  std::optional<std::uint64_t> memory;       // bytes: v2 memory.max, v1 memory.limit_in_bytes
  std::optional<std::uint64_t> memory_swap;  // bytes of swap on top of memory: v2
                                             // memory.swap.max; v1 memory.memsw.limit_in_bytes
                                             // = memory + memory_swap (so needs memory)
  std::optional<std::uint64_t> pids;         // processes and threads: pids.max
  std::optional<double> cpu;                 // cores, >= 0.01: v2 cpu.max "QUOTA 100000";
                                             // v1 cpu.cfs_quota_us over cpu.cfs_period_us
  std::optional<std::uint64_t> io_weight;    // 1..10000 (v2 io.weight; v1 blkio.bfq.weight
                                             // or blkio.weight, 1..1000), where the host has it
};

// What a node's subtree uses now (the kernel counts these hierarchically).
struct CgroupUsage {
  std::uint64_t memory_bytes = 0;  // v2 memory.current, v1 memory.usage_in_bytes
  std::uint64_t cpu_usec = 0;      // v2 cpu.stat usage_usec, v1 cpuacct.usage / 1000
                                   // (0 when v1 has no cpuacct hierarchy)
  std::uint64_t pids = 0;          // pids.current
};

// Events counted since the cgroups were created. See counters().
struct CgroupCounters {
  std::uint64_t oom_kills = 0;        // processes the OOM killer killed
  std::uint64_t pids_limit_hits = 0;  // forks refused by a pids limit
  std::uint64_t throttled_usec = 0;   // time the CPU quota held a cgroup back
};

enum class FreezeState { thawed, freezing, frozen };

// What a freshly cloned child needs to put ITSELF into a node before exec.
// Made by CgroupNode::placement() in the daemon right before the clone; owns
// its fds (opened O_CLOEXEC, so the agent's exec closes the child's copies)
// and is dropped once clone has returned. Move-only.
class CgroupPlacement {
 public:
  CgroupPlacement() = default;  // places nowhere
  CgroupPlacement(std::vector<UniqueFd> procs, UniqueFd dir) noexcept
      : procs_(std::move(procs)), dir_(std::move(dir)) {}
  CgroupPlacement(CgroupPlacement&&) noexcept = default;
  CgroupPlacement& operator=(CgroupPlacement&&) noexcept = default;

  // v2: an O_PATH|O_DIRECTORY fd of the node's directory for clone3's
  // clone_args.cgroup with CLONE_INTO_CGROUP (kernel >= 5.7): the child
  // starts inside the node and join_self() is then a harmless repeat.
  // -1 on v1, where the child must call join_self().
  int clone_into_fd() const noexcept { return dir_.get(); }

  // The O_WRONLY cgroup.procs fds: one on v2, one per hierarchy on v1.
  std::size_t size() const noexcept { return procs_.size(); }
  int procs_fd(std::size_t i) const noexcept { return procs_[i].get(); }

  // CHILD ONLY (also a CLONE_VM child of the daemon): writes "0" (the
  // calling process) to every cgroup.procs fd, moving the child into the
  // node in each hierarchy. Returns 0, or -1 with errno at the first write
  // that failed. Raw write(2) only: async-signal-safe, no allocation.
  // Call it while the fds are still open, i.e. before closing every other
  // fd, and before unshare(CLONE_NEWCGROUP), so the agent's cgroup
  // namespace is rooted at its own node. The kernel checks permissions
  // against whoever opened the fds (the daemon), so it works after
  // dropping privileges too, but there is no reason to wait that long.
  int join_self() const noexcept;

 private:
  std::vector<UniqueFd> procs_;
  UniqueFd dir_;
};

// A pollable fd that becomes readable when the OOM killer may have killed in
// a node, and the count to read then. Move-only; owns one fd.
//   v2: inotify (IN_MODIFY) on memory.events; counts its oom_kill, which
//       covers the node's whole subtree.
//   v1: an eventfd registered through cgroup.event_control on
//       memory.oom_control; counts its oom_kill, which covers the node
//       itself only, and the kernel wakes the watch for OOMs caused by the
//       node's limit or an ancestor's, not a descendant's.
// So watch agents, the leaves, where both versions agree. A wake-up with no
// new kill is normal (an ancestor's OOM killed elsewhere; the cgroup was
// removed).
class OomWatch {
 public:
  OomWatch(UniqueFd fd, std::string count_file, std::uint64_t seen) noexcept
      : fd_(std::move(fd)), count_file_(std::move(count_file)), seen_(seen) {}
  OomWatch(OomWatch&&) noexcept = default;
  OomWatch& operator=(OomWatch&&) noexcept = default;

  // Poll it for POLLIN (on the loop: a watcher on this fd). Non-blocking.
  int fd() const noexcept { return fd_.get(); }

  // Consumes the pending notification(s) and returns how many OOM kills
  // happened since the previous drain() (or since oom_watch()). Never
  // blocks; 0 once the cgroup is gone. Throws SysError for a read that
  // fails otherwise.
  std::uint64_t drain();

 private:
  UniqueFd fd_;
  std::string count_file_;  // memory.events (v2) or memory.oom_control (v1)
  std::uint64_t seen_;
};

// One cgroup. An interface with two final implementations (v1, v2); tests of
// code above it can use a fake.
class CgroupNode {
 public:
  virtual ~CgroupNode() = default;

  // The node's directory (v1: its directory in the memory hierarchy), for
  // logs and errors.
  virtual const std::string& path() const = 0;
  virtual const std::string& name() const = 0;
  // Every directory of the node: on v2 the one, on v1 one per hierarchy.
  virtual std::vector<std::string> directories() const = 0;

  // Creates the child cgroup `name` (letters, digits, '-', '_', '.', ':',
  // '@'; at most 200 bytes; not starting with '.') with `limits` (empty
  // fields are left at the kernel's default: none). On v2 this first enables
  // the controllers in this node's cgroup.subtree_control, so from then on
  // this node can hold no process itself: pools hold agents, agents hold
  // processes. If a limit cannot be written the child is removed again and
  // the error thrown. SysError with is_exists() if it exists already.
  virtual std::unique_ptr<CgroupNode> create_child(std::string_view name,
                                                   const CgroupLimits& limits) = 0;

  // The existing child cgroups, e.g. those a crashed daemon left behind.
  virtual std::vector<std::unique_ptr<CgroupNode>> children() const = 0;

  // Replaces every limit: a field's value, or no limit when it is empty.
  // The kernel may refuse: v1 will not shrink memory below what is in use
  // (EBUSY), v1 refuses a cpu quota above an ancestor's (EINVAL).
  virtual void set_limits(const CgroupLimits& limits) = 0;

  virtual CgroupUsage usage() const = 0;

  // Events of this node and its descendants that exist now: the sum, over
  // the subtree, of the count each cgroup keeps of its own events, on both
  // versions (v2 memory.events.local oom_kill, pids.events.local max where
  // the kernel has it (>= 6.13; else pids.events max), cpu.stat
  // throttled_usec; v1 memory.oom_control oom_kill, pids.events max,
  // cpu.stat throttled_time / 1000). A removed child's counts therefore
  // leave its parent's sum: to keep a pool's running total, add an agent's
  // final counters() to it before removing the agent. On v1 and before
  // 6.13, a fork refused by a pool's limit counts in the agent that forked;
  // on v2 >= 6.13 in the cgroup whose limit refused it. Either way a pool's
  // sum counts each refused fork once.
  virtual CgroupCounters counters() const = 0;

  // Freezes (true) or thaws (false) every process in the subtree. Returns
  // at once: the state may stay `freezing` a while (until each process
  // reaches a safe point; a process in uninterruptible sleep holds it).
  //   v2: cgroup.freeze; watch() wakes when cgroup.events says frozen.
  //   v1: freezer.state; the kernel sends no event: re-check
  //       freeze_state() on a timer (running tasks freeze within a tick).
  virtual void freeze(bool frozen) = 0;
  virtual FreezeState freeze_state() const = 0;

  // True while a process is in the node or below.
  virtual bool populated() const = 0;

  // v2: an inotify fd (IN_NONBLOCK, IN_CLOEXEC) that becomes readable when
  // cgroup.events changes: populated or frozen. Drain it (read until EAGAIN)
  // and re-read populated() / freeze_state(). The caller owns it.
  // v1: an empty UniqueFd: the kernel has no such event. Learn of emptiness
  // from the processes' pidfds and of frozen state from a timer.
  virtual UniqueFd watch() const = 0;

  // The processes (thread group ids) in the node and below.
  virtual std::vector<pid_t> processes() const = 0;

  // SIGKILLs every process in the subtree so that none escapes by forking:
  //   v2: cgroup.kill (kernel >= 5.14), atomic against fork; before 5.14
  //       the v1 method with cgroup.freeze.
  //   v1: freeze, SIGKILL (through a pidfd, so never a recycled pid) every
  //       process in cgroup.procs of the subtree until a re-read finds none
  //       it has not killed, then thaw so the frozen ones can die. A
  //       process killed while it forked takes its child down with it, so
  //       this converges. Under a frozen ancestor (a paused pool) the killed
  //       processes die only when that ancestor thaws.
  // Returns at once; the processes are gone a moment later (populated()).
  // Never signals the calling process.
  virtual void kill_all() = 0;

  // Removes the descendants, deepest first, then the node, in every
  // hierarchy; returns how many nodes it removed (the node included). Only
  // empty cgroups can go: SysError EBUSY naming the directory otherwise
  // (kill_all() first and wait until the processes are gone). A directory
  // already gone counts as removed. Afterwards the object refers to
  // nothing; destroy it.
  virtual std::size_t remove() = 0;

  // The fds a child needs to join this node (see CgroupPlacement). Throws
  // SysError if the node's files cannot be opened (e.g. it was removed).
  // On v1 every hierarchy joined costs the child a migration, which the
  // kernel serialises machine-wide (~250 us each on the build machine), so
  // with cpu_and_io false the cpu and blkio hierarchies are left out (unless
  // cpu shares its hierarchy with cpuacct): the child then stays in the
  // daemon's cgroup there, which is right when no cpu or io limit applies to
  // the node or its ancestors, and its throttling is not counted. v2 joins
  // one cgroup whatever the flag.
  virtual CgroupPlacement placement(bool cpu_and_io = true) const = 0;

  virtual OomWatch oom_watch() const = 0;
};

// One mounted cgroup hierarchy the backend uses.
struct CgroupHierarchy {
  std::string mount_point;               // "/sys/fs/cgroup/memory"
  std::vector<std::string> controllers;  // those of interest it carries
  std::string own;  // the calling process's cgroup in it, as a directory:
                    // "/sys/fs/cgroup/memory/process_api/6aa77"
};

// What the host offers, found without changing anything.
struct CgroupHost {
  CgroupVersion version = CgroupVersion::v2;
  // v2: exactly one. v1: one per hierarchy used, memory's first.
  std::vector<CgroupHierarchy> hierarchies;
  // v2 only: the systemd-delegated cgroup the process belongs to (its own,
  // or the parent of its own when that is the "daemon" leaf this module
  // made), empty when not delegated.
  std::string delegated;
};

// Reads /proc/self/mountinfo and /proc/self/cgroup. v2 is chosen when a
// cgroup2 mount's cgroup.controllers (the delegated cgroup's, under systemd)
// has memory and pids; else v1 when memory, pids, cpu and freezer are mounted
// as v1 hierarchies. Throws std::runtime_error saying what each lacks
// ("no usable cgroups: cgroup2 at /sys/fs/cgroup/unified has no memory, pids
// controllers; cgroup v1 has no freezer hierarchy").
CgroupHost detect_cgroup_host();

struct CgroupTreeOptions {
  std::string base_name = "smolswarms";
};

// The daemon's part of the host's cgroups: the base node and its setup.
class CgroupTree {
 public:
  // Creates the base (and its ancestors where missing), enabling
  // controllers and moving the daemon into its leaf as described at the
  // top. An existing base is reused (see remove_stale()). Throws SysError
  // or std::runtime_error.
  CgroupTree(const CgroupHost& host, const CgroupTreeOptions& options);

  CgroupTree(const CgroupTree&) = delete;
  CgroupTree& operator=(const CgroupTree&) = delete;

  CgroupVersion version() const noexcept { return version_; }

  // One line for the log: "cgroup v2 at /sys/fs/cgroup/system.slice/
  // swarmd.service/smolswarms (memory, pids, cpu, io; delegated by systemd,
  // daemon in /sys/fs/cgroup/system.slice/swarmd.service/daemon)", or
  // "cgroup v1: memory, pids, cpu, freezer, cpuacct under
  // /sys/fs/cgroup/{memory,pids,cpu,freezer,cpuacct}/smolswarms".
  const std::string& describe() const noexcept { return description_; }

  // The base; lives as long as the tree.
  CgroupNode& base() const noexcept { return *base_; }

  // BLOCKING, bounded by timeout: for daemon start (and stop), when nothing
  // else uses the base. Kills everything a crashed predecessor left below
  // the base (kill_all per stale pool), waits for it to die and removes
  // those nodes (retrying while an exiting process still holds one). Returns how many nodes it removed. Throws SysError if a
  // node cannot be removed (still populated after the timeout, say).
  std::size_t remove_stale(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  CgroupVersion version_;
  std::unique_ptr<CgroupNode> base_;
  std::string description_;
};

// BLOCKING, bounded by timeout: waits until no process is left in node's
// subtree, on the processes' pidfds (both versions; no sleeping). For daemon
// start and tests; the loop uses watch() or its agents' pidfds instead.
// Returns false on timeout.
bool wait_until_empty(const CgroupNode& node, std::chrono::milliseconds timeout);

// BLOCKING, bounded by timeout: wait_until_empty(), then node.remove(),
// retried while the kernel still counts an exiting process in it (EBUSY;
// see cgroup.cc). Returns what remove() returns; throws its SysError when
// the node is still busy at the deadline. Kill first.
std::size_t remove_when_empty(CgroupNode& node, std::chrono::milliseconds timeout);

}  // namespace smol::sandbox
