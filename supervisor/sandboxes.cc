#include "supervisor/sandboxes.h"

#include <sys/stat.h>

#include "base/sys_error.h"

namespace smol::supervisor {
namespace {

std::string make_dir(std::string dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) throw SysError(errno, "mkdir", dir);
  check_sys(::chmod(dir.c_str(), mode), "chmod", dir);
  return dir;
}

}  // namespace

Sandboxes::Sandboxes(const config::Config& config)
    : state_dir_(config.state_dir),
      skeleton_(std::make_shared<const sandbox::RootSkeleton>(sandbox::RootSkeleton::prepare(
          make_dir(config.state_dir + "/sandbox", 0755) + "/root"))),
      uids_(config.agent_uid_base, config.agent_uid_count) {
  // The directory holding every agent's work directory: traversable, so each
  // agent's bind source resolves, but not listable by anyone.
  make_dir(state_dir_ + "/work", 0711);
}

std::shared_ptr<const sandbox::SeccompProgram> Sandboxes::program(
    const sandbox::SeccompPolicy& policy) {
  for (const auto& [p, program] : programs_) {
    if (p == policy) return program;
  }
  auto program = std::make_shared<const sandbox::SeccompProgram>(policy);
  programs_.emplace_back(policy, program);
  return program;
}

sandbox::ConfineSpec Sandboxes::confine(const sandbox::SandboxPolicy& policy, uid_t uid,
                                        const std::string& swarm, const std::string& id,
                                        const std::string& own_work_dir) {
  sandbox::ConfineSpec spec;
  spec.skeleton = skeleton_;
  spec.seccomp = program(policy.seccomp);
  spec.landlock = policy.landlock;
  spec.read_only = policy.read_only;
  spec.tmp_size = policy.tmp_size;
  spec.rlimits = policy.rlimits;
  spec.work_dir = own_work_dir.empty() ? work_dir(swarm, id) : own_work_dir;
  spec.adopt_work_dir = own_work_dir.empty();
  spec.uid = uid;
  spec.gid = uid;
  spec.hostname = swarm + "-" + id;
  return spec;
}

std::string Sandboxes::work_dir(const std::string& swarm, const std::string& id) const {
  return state_dir_ + "/work/" + swarm + "/" + id;
}

}  // namespace smol::supervisor
