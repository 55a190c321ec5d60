// Sandboxes: the daemon-wide resources every agent's confinement draws on.
//
// One RootSkeleton under the state dir (made at start), the compiled
// seccomp programs (one per distinct policy: compiling takes milliseconds
// and allocates, applying a compiled program costs one system call), the
// pool of agent uids, and where each agent's work directory lives:
//   <state_dir>/sandbox/root              the skeleton every agent's "/" is
//   <state_dir>/work/<swarm>/<agent-id>   an agent's /home/agent
//
// Thread: the loop thread (construction anywhere, before the loop runs).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/confinement.h"
#include "sandbox/root_skeleton.h"
#include "sandbox/sandbox_policy.h"
#include "sandbox/seccomp_filter.h"
#include "supervisor/config.h"
#include "supervisor/uid_pool.h"

namespace smol::supervisor {

class Sandboxes {
 public:
  // Prepares the skeleton; throws SysError if it cannot.
  explicit Sandboxes(const config::Config& config);

  UidPool& uids() noexcept { return uids_; }

  // The compiled program for a policy, compiled on first use. Throws
  // std::invalid_argument for a policy libseccomp rejects.
  std::shared_ptr<const sandbox::SeccompProgram> program(const sandbox::SeccompPolicy& policy);

  // Everything spawn() needs to confine one agent of `swarm` called `id`.
  // own_work_dir: a host directory of the caller's to use as it is; empty:
  // the agent's own work_dir(), made and given to uid.
  sandbox::ConfineSpec confine(const sandbox::SandboxPolicy& policy, uid_t uid,
                               const std::string& swarm, const std::string& id,
                               const std::string& own_work_dir = {});

  // The host path of an agent's work directory.
  std::string work_dir(const std::string& swarm, const std::string& id) const;

 private:
  std::string state_dir_;
  std::shared_ptr<const sandbox::RootSkeleton> skeleton_;
  UidPool uids_;
  std::vector<std::pair<sandbox::SeccompPolicy, std::shared_ptr<const sandbox::SeccompProgram>>>
      programs_;
};

}  // namespace smol::supervisor
