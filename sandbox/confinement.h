// Confinement: one agent's sandbox, prepared by the daemon, applied by the
// child that becomes the agent.
//
// ConfineSpec is what the supervisor decides (policy, identity, paths);
// Confinement turns it into everything the child needs so that the child
// only makes system calls: the mount plan, the rlimits, a Landlock ruleset
// built for this one agent, and the socketpair that carries its seccomp
// listener back. spawn() builds it on the spawning thread, right before
// clone, and the child applies it in this order (each step needs the
// privileges the ones after it drop):
//
//   umask 022            not the daemon's (077 under systemd)
//   hostname, loopback   in the fresh UTS and network namespaces
//   mounts, pivot_root   the filesystem view (mount_plan.h)
//   Landlock rules for the fresh /proc and /tmp
//   rlimits              while still root, so hard limits can be set
//   drop privileges      securebits, capabilities, groups, gid, uid
//   no_new_privs         needed by Landlock and seccomp, kept across exec
//   Landlock             restrict_self
//   (spawn closes every other fd here)
//   seccomp              installed last; its listener goes to the daemon,
//                        and the exec that follows carries the exec token
//
// Thread: build and read on any thread; the apply_* functions in the child.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/landlock.h"
#include "sandbox/mount_plan.h"
#include "sandbox/privileges.h"
#include "sandbox/root_skeleton.h"
#include "sandbox/sandbox_policy.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/seccomp_handoff.h"

namespace smol::sandbox {

struct ConfineSpec {
  std::shared_ptr<const RootSkeleton> skeleton;
  std::shared_ptr<const SeccompProgram> seccomp;  // compiled once per policy
  LandlockMode landlock = LandlockMode::best_effort;
  std::vector<std::string> read_only;  // extra host paths, from the policy
  std::uint64_t tmp_size = 64ull << 20;
  Rlimits rlimits;
  std::string work_dir;  // host path
  // True: work_dir is the agent's own: made (0700) if missing and given to
  // uid. False: someone else's directory, used as it is (it must exist).
  bool adopt_work_dir = true;
  uid_t uid = 0;         // never 0: the constructor refuses it
  gid_t gid = 0;
  std::string hostname;  // at most 64 bytes
};

class Confinement {
 public:
  // Throws std::invalid_argument for a spec that cannot be honoured (uid 0,
  // a path the view cannot hold), LandlockUnavailable (required but absent)
  // and SysError (a path missing, a Landlock or socketpair call failing).
  // `program` is the host path of the executable.
  Confinement(const ConfineSpec& spec, const std::string& program);

  Confinement(const Confinement&) = delete;
  Confinement& operator=(const Confinement&) = delete;

  // The fds the child holds while it applies the confinement; spawn() keeps
  // them clear of 0..3. -1 when absent.
  int landlock_fd() const noexcept { return landlock_.fd(); }
  int handoff_fd() const noexcept { return handoff_.child_end(); }

  // CHILD ONLY, fds 0..3 already in place: every step from the hostname to
  // Landlock. landlock_fd is where the ruleset fd is now. nullptr, or the
  // name of the step that failed with errno set.
  const char* apply_until_seccomp(int landlock_fd) const noexcept;

  // CHILD ONLY, last: installs the seccomp filter, sends its listener over
  // handoff_fd (where it is now) and execs. Returns only on failure, with
  // the failing step's name and errno set.
  const char* apply_seccomp_and_exec(int handoff_fd, const char* path, char* const argv[],
                                     char* const envp[]) const noexcept;

  // After clone returned: the child's seccomp listener (empty if the child
  // failed before sending it). Throws SysError.
  UniqueFd take_listener() { return handoff_.receive(); }

  // "landlock ABI 7: ...; 9 paths", or why there is none (best-effort).
  std::string landlock_summary() const { return landlock_.describe(); }
  bool landlocked() const noexcept { return static_cast<bool>(landlock_); }

 private:
  std::shared_ptr<const SeccompProgram> seccomp_;
  MountPlan mounts_;
  RlimitPlan rlimits_;
  LandlockRuleset landlock_;
  ListenerHandoff handoff_;
  uid_t uid_;
  gid_t gid_;
  std::string hostname_;
  std::uint64_t proc_rights_ = 0;
  std::uint64_t tmp_rights_ = 0;
};

}  // namespace smol::sandbox
