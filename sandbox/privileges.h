// Dropping root for good, in an agent's child.
//
// The child starts as root (it had to mount); the agent must end as a plain
// unprivileged user that cannot get anything back: not through setuid
// binaries, file capabilities, ambient capabilities, or a later setuid(0).
// Each agent has a uid and gid of its own (the daemon hands them out from a
// configured range), so agents cannot signal, ptrace or read each other as
// "the same user", and RLIMIT_NPROC counts one agent's processes only.
//
// Thread: CHILD ONLY, as root, after the mounts. Raw system calls throughout:
// glibc's setuid family signals every thread of the process to switch them
// all, and this child shares the daemon's memory (CLONE_VM), so glibc would
// switch the daemon's threads too.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <cstddef>

#include "sandbox/sandbox_policy.h"

namespace smol::sandbox {

// The rlimits to set, prepared by the daemon from a policy's Rlimits; core
// dumps are always off.
class RlimitPlan {
 public:
  explicit RlimitPlan(const Rlimits& limits);

  // CHILD ONLY. setrlimit for each entry; nullptr or the failing step's name
  // with errno set. Async-signal-safe.
  const char* apply() const noexcept;

 private:
  struct Entry {
    int resource;
    rlim_t value;
    const char* name;
  };
  std::array<Entry, 7> entries_{};
  std::size_t count_ = 0;
};

// CHILD ONLY. In this order: lock the securebits so root gets no special
// treatment ever again (SECBIT_NOROOT, no keep-caps, no ambient raise, all
// locked); clear ambient capabilities; drop every capability from the
// bounding set; clear supplementary groups; switch real, effective and saved
// gid, then uid (the kernel clears permitted and effective capabilities on
// leaving uid 0); clear the inheritable set. Returns nullptr or the failing
// step's name with errno set. Async-signal-safe, no allocation.
const char* drop_privileges(uid_t uid, gid_t gid) noexcept;

}  // namespace smol::sandbox
