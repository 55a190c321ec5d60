// spawn(): starts one agent process and hands back a pidfd for it.
//
// The child gets exactly four fds: 0 = /dev/null, 1 and 2 = the log pipe,
// 3 = the agent's end of its RPC socketpair. It runs in a session of its own
// (no controlling tty), dies with SIGKILL if the daemon dies
// (PR_SET_PDEATHSIG), and starts with default signal dispositions and an
// empty signal mask whatever the daemon had.
//
// The child is created with CLONE_VM|CLONE_VFORK, as posix_spawn does: no
// page tables are copied, so spawn cost does not grow with the daemon's
// size, and the parent resumes only once the child has exec'd or failed. A
// step that fails in the child is reported back through memory shared with
// the parent, naming the step and errno; spawn() throws it as a SpawnError.
// Everything the child touches is prepared by the parent beforehand: the
// child never allocates.
//
// With a CgroupPlacement the child's first step is to join that cgroup
// (cgroup.h), so everything it does from then on, including the rest of its
// setup, is counted and limited there. With a ConfineSpec the child is an
// agent in its sandbox (confinement.h): cloned into fresh namespaces
// (namespaces.h), given a cgroup namespace rooted at the cgroup it just
// joined, and confined step by step between placing its fds and exec.
// Without one it is a plain child, which is what benchmarks measure the
// sandbox against.
//
// Thread: any thread, several at once. The calling thread is suspended until
// the child has exec'd, which is why the daemon calls this from worker
// threads and not from its loop. PR_SET_PDEATHSIG is tied to the thread that
// spawned the child, so that thread must live as long as the daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "sandbox/cgroup.h"
#include "sandbox/confinement.h"

namespace smol::sandbox {

struct SpawnRequest {
  std::string path;               // absolute path of the executable
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "KEY=VALUE" entries; nothing is inherited
  int rpc_fd = -1;                // becomes fd 3 in the child
  int log_fd = -1;                // becomes fds 1 and 2 in the child
  std::optional<ConfineSpec> confine;  // nullopt: an unconfined child
  std::optional<CgroupPlacement> cgroup;  // nullopt: stays in the caller's cgroup
};

struct Child {
  pid_t pid = -1;
  UniqueFd pidfd;  // readable once the child has exited; reap with waitid(P_PIDFD)
  // Confined children only:
  UniqueFd seccomp_listener;             // the daemon's end of its filter
  std::string landlock;                  // Confinement::landlock_summary()
  bool landlocked = false;               // false: best-effort found no Landlock
  std::chrono::nanoseconds setup_time{};  // preparing, cloning and confining, up to exec
};

// A step inside the child failed: step() names it ("execve", "dup2", ...),
// code() is its errno, and what() reads "execve(/usr/bin/x): No such file".
class SpawnError : public SysError {
 public:
  SpawnError(int code, std::string step, std::string_view what_on);
  const std::string& step() const noexcept { return step_; }

 private:
  std::string step_;
};

// Starts the child. Throws SysError if the daemon-side preparation fails
// (e.g. clone: EAGAIN at a pids limit), std::invalid_argument or
// LandlockUnavailable for a confinement that cannot be honoured, and
// SpawnError if a step inside the child fails; in every case no child is
// left behind.
Child spawn(const SpawnRequest& req);

// Sends sig to the process behind pidfd; false if it has already exited.
bool signal_child(int pidfd, int sig);

// Asks a confined child to end: SIGTERM if it has a handler for SIGTERM,
// else SIGKILL. A confined child is PID 1 of its namespace, where the kernel
// drops an unhandled SIGTERM from outside instead of letting it kill, so
// SIGKILL is what "the default action of SIGTERM" means for it. pid must be
// the pidfd's (the daemon has not reaped it, so it cannot be reused).
// false if it has already exited.
bool terminate_child(int pidfd, pid_t pid);

}  // namespace smol::sandbox
