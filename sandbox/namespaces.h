// The namespaces an agent is cloned into, and the two settings a fresh
// network and UTS namespace need before anything runs in them.
//
//   PID     the agent is PID 1 of its own tree: it sees no other process,
//           and when it exits the kernel kills every process it left behind.
//   mount   its view of the filesystem (mount_plan.h) touches nobody else's.
//   network only a loopback interface: no route off the machine, and the
//           host's loopback services are out of reach.
//   IPC     SysV IPC and POSIX message queues of its own.
//   UTS     a hostname of its own.
//   cgroup  its cgroup appears as the root of the hierarchy. Entered with
//           unshare() by the child once it has joined its cgroup, not at
//           clone (the namespace is rooted where its creator is).
//
// A consequence of PID 1: the kernel delivers a signal to it from outside
// only if it has a handler for that signal (SIGKILL excepted), so a plain
// SIGTERM is ignored by an agent that never installed one. The daemon's stop
// escalation accounts for this (see supervisor/agent.cc).
//
// Thread: CHILD ONLY for the functions; the constant anywhere.
#pragma once

#include <sched.h>

namespace smol::sandbox {

// The namespaces the agent is cloned into; the cgroup one comes later.
inline constexpr int kCloneNamespaces =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;

// Brings "lo" up in the child's new network namespace (it starts down).
// nullptr or the failing step's name with errno set. Async-signal-safe.
const char* bring_up_loopback() noexcept;

// sethostname() in the child's new UTS namespace. nullptr or the step's
// name with errno set. Async-signal-safe.
const char* set_hostname(const char* name, unsigned long length) noexcept;

}  // namespace smol::sandbox
