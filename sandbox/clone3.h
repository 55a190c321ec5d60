// clone3_run(): clone3(2) for a child that shares the caller's memory
// (CLONE_VM) and runs a function on a stack of its own, as glibc's clone()
// does for clone(2).
//
// clone3 is what puts a child straight into a cgroup (CLONE_INTO_CGROUP,
// kernel >= 5.7), so that nothing it does, not even its first page, is
// counted outside its limits. glibc 2.36 exports no wrapper for it, and a
// CLONE_VM child cannot simply return from syscall(): it would return into
// the parent's stack frame on a stack that holds none. So the entry is a
// few lines of assembly: the child calls fn(arg) on the new stack and exits
// with its result.
//
// Returns the child's pid, or -1 with errno set. errno is ENOSYS where the
// kernel has no clone3 and on architectures this file has no entry for
// (x86-64 only so far): the caller then falls back to clone(2).
//
// Thread: any. The caller must keep the stack and arg alive until the child
// has exec'd or exited (CLONE_VFORK does that).
#pragma once

#include <linux/sched.h>
#include <sys/types.h>

namespace smol::sandbox {

pid_t clone3_run(clone_args* args, int (*fn)(void*), void* arg) noexcept;

}  // namespace smol::sandbox
