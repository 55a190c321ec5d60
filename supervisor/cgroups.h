// Cgroups: swarmd's share of the host's cgroups, or why it has none.
//
// Built once at start, after the control socket is bound (so a daemon that
// refuses to start never touches cgroups): it detects the host's cgroups
// (sandbox/cgroup.h), makes the base named by config.cgroup_base, kills and
// removes whatever a crashed predecessor left in it, and logs which backend
// it uses. Below the base, one pool per swarm, one node per agent:
//
//   <base>/<swarm>.swarm/<agent-id> e.g. smolswarms/hello.swarm/greeter-0
//                                  (a bare swarm name could be a cgroup
//                                  file: v1 has tasks in every cgroup)
//   <base>/@run/<run-id>           `swarmctl run` commands ("@" is in no
//                                  swarm name)
//
// A host without usable cgroups is not fatal: agents then run without a
// cgroup of their own (no limits, usage, pause or whole-tree kill), and a
// swarm whose spec sets limits is refused at `up`, saying why. Limits are
// never silently ignored.
//
// A node is removed once its processes are gone (retire()); at shutdown the
// base goes too, so a clean stop leaves nothing in the host's cgroups.
//
// Thread: the loop thread, but for make_agent().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <kj/async.h>

#include "base/unique_fd.h"
#include "ipc/event_loop.h"
#include "sandbox/cgroup.h"
#include "supervisor/config.h"

namespace smol::supervisor {

class Cgroups {
 public:
  // Never throws for what the host lacks or refuses: available() is then
  // false and unavailable_reason() says why (also logged as a warning).
  // Throws std::runtime_error if another swarmd holds the same base (the
  // daemon must not start: it would kill that daemon's agents).
  Cgroups(ipc::EventLoop& loop, const config::Config& config);
  // Removes the base, best effort (see remove_all()).
  ~Cgroups();
  Cgroups(const Cgroups&) = delete;
  Cgroups& operator=(const Cgroups&) = delete;

  bool available() const noexcept { return tree_ != nullptr; }
  const std::string& unavailable_reason() const noexcept { return reason_; }
  // "cgroup v1: memory, pids, ... under ...": for logs and `swarmctl status`.
  std::string describe() const;

  // Makes the pool of one swarm with the given limits, replacing one left
  // from an earlier swarm of that name. nullptr when cgroups are
  // unavailable and the pool sets no limit. Throws std::runtime_error
  // naming the swarm and what failed: limits without cgroups, a limit the
  // host cannot enforce, a kernel refusal.
  std::shared_ptr<sandbox::CgroupNode> make_pool(const std::string& swarm,
                                                 const sandbox::CgroupLimits& limits);

  // Loop thread, before make_agent(): drops pending removals (retire()) of
  // parent/name and below, whose paths the new cgroup is about to take.
  void reclaim(const sandbox::CgroupNode& parent, const std::string& name);

  // ANY THREAD (the spawning threads call it: cgroupfs writes wait for the
  // kernel's cgroup_mutex, which v1 migrations hold for milliseconds).
  // Makes the cgroup of one run of an agent below pool, with its limits; one
  // left from an earlier run of that name is killed and removed first
  // (BLOCKING, up to a second, in that rare case). Throws
  // std::runtime_error naming the cgroup and what failed.
  static std::unique_ptr<sandbox::CgroupNode> make_agent(sandbox::CgroupNode& pool,
                                                         const std::string& name,
                                                         const sandbox::CgroupLimits& limits);

  // The pool `swarmctl run` commands share; made on first use (nullptr
  // when unavailable).
  std::shared_ptr<sandbox::CgroupNode> run_pool();

  // Removes node: now if it is empty, else once it is, re-checked on a short
  // timer after killing what is left in it. A node still busy after a few
  // seconds is logged and left (the next start removes it).
  void retire(std::shared_ptr<sandbox::CgroupNode> node);

  // At shutdown, after every agent has exited: the base and everything
  // below. BLOCKING for at most a few seconds (waits on pidfds).
  void remove_all();

 private:
  struct Retiring {
    std::shared_ptr<sandbox::CgroupNode> node;
    int attempts = 0;
  };
  // make_pool's work for the directory dir below the base; owner names it
  // in errors ("swarm hello").
  std::shared_ptr<sandbox::CgroupNode> make_node(const std::string& dir, const std::string& owner,
                                                 const sandbox::CgroupLimits& limits);
  static std::unique_ptr<sandbox::CgroupNode> create_replacing(
      sandbox::CgroupNode& parent, const std::string& name, const sandbox::CgroupLimits& limits);
  kj::Promise<void> sweep_later();

  ipc::EventLoop& loop_;
  void lock_base(const std::string& name);

  std::unique_ptr<sandbox::CgroupTree> tree_;
  std::vector<UniqueFd> base_locks_;  // flock()ed while this daemon uses the base
  std::string reason_;
  std::shared_ptr<sandbox::CgroupNode> run_pool_;
  std::vector<Retiring> retiring_;
  kj::Promise<void> sweeping_{nullptr};
};

}  // namespace smol::supervisor
