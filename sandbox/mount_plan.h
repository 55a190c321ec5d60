// MountPlan: an agent's filesystem view as a list of steps for its child.
//
// The daemon decides everything (sources, targets, flags, the text of each
// step's name for error messages) and stores it in the plan; the child, in
// its fresh mount namespace, only walks the list making one or two system
// calls per step and allocating nothing. The view:
//
//   /              the RootSkeleton, read-only
//   /usr, /etc, …  read-only binds of the host's (RootSkeleton::read_only_dirs)
//   /dev/null, …   binds of the host's device nodes (nothing else of /dev)
//   /proc          a fresh procfs of the agent's own PID namespace
//   /tmp           a private tmpfs (size from the policy), /dev/shm links here
//   /home/agent    the agent's work directory, writable, the cwd and $HOME
//   the program    read-only at its host path, if not under /usr already
//   read_only      extra host paths from the policy, read-only, same path
//
// Every bind is nosuid and nodev except the device nodes; nothing is
// executable but /usr, the top-level lib dirs and the program. Paths under
// /tmp get their mount points made inside the fresh tmpfs by the child; a
// path under the work directory is refused (it would write mount points into
// the agent's own files).
//
// Thread: build on any thread; apply in the child.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "sandbox/root_skeleton.h"

namespace smol::sandbox {

// Where the work directory appears inside the agent.
inline constexpr const char* kAgentHome = "/home/agent";

struct MountInputs {
  std::string program;                 // absolute host path of the executable
  std::vector<std::string> read_only;  // absolute, normalized host paths
  std::string work_dir;                // host path of the agent's work directory
  std::uint64_t tmp_size = 64ull << 20;
};

class MountPlan {
 public:
  // Throws std::invalid_argument for a path the view cannot hold (under the
  // work directory, relative) and SysError when a path cannot be examined
  // or its mount point made.
  MountPlan(const RootSkeleton& skeleton, const MountInputs& in);

  MountPlan(const MountPlan&) = delete;
  MountPlan& operator=(const MountPlan&) = delete;

  // CHILD ONLY, in a new mount namespace, as root. Builds the view under the
  // skeleton, then makes it the root (pivot_root; the host's root is
  // detached) and enters the work directory. Returns nullptr, or the name
  // of the step that failed with errno set, e.g. "mount(/usr)".
  // Async-signal-safe; allocates nothing.
  const char* apply() const noexcept;

 private:
  enum class Op { make_dir, make_file, mount, set_attr };
  struct Step {
    Op op;
    const char* source;  // mount
    const char* target;
    const char* fstype;  // mount
    unsigned long flags = 0;   // mount(2) flags
    const char* data = nullptr;  // mount(2) data
    std::uint64_t attr = 0;      // MOUNT_ATTR_* for set_attr
    bool recursive = false;      // set_attr
    const char* name;            // for errors
  };

  const char* keep(std::string s);
  void bind(const std::string& source, const std::string& target, std::uint64_t attr);
  void bind_at_host_path(const RootSkeleton& skeleton, const std::string& host_path);
  void add(Step step) { steps_.push_back(step); }

  std::deque<std::string> strings_;  // a deque: c_str() pointers stay valid
  std::vector<Step> steps_;
  std::string root_;
  std::string proc_dir_;
  std::string tmp_dir_;
  std::string home_;
};

}  // namespace smol::sandbox
