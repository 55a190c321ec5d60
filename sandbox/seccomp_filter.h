// SeccompProgram: a SeccompPolicy compiled to a BPF program, ready for a child.
//
// Compile once per policy in the daemon (compiling takes milliseconds and
// allocates; the daemon caches the program), then in each agent's child,
// with no_new_privs already set and nothing left to do but exec:
//     int listener = program.install();           // the filter, and its listener
//     send_fd(handoff_fd, listener);              // to the daemon (seccomp_handoff.h)
//     program.exec(path, argv, envp);             // returns only on failure
// install() and exec() make one system call each: they allocate nothing, are
// async-signal-safe and fit a CLONE_VM|CLONE_VFORK child.
//
// The rules, for x86_64 (the only architecture built for). Every syscall
// lands on exactly one row: the first that matches, top to bottom.
//   audit arch is not x86_64 (int $0x80, i386)       KILL_PROCESS (SIGSYS)
//   nr >= 0x40000000, the x32 ABI (nr != -1)          KILL_PROCESS (SIGSYS)
//   clone3                                            ERRNO(ENOSYS): libc falls
//                                                     back to clone, whose flags
//                                                     a filter can read
//   always_denied_syscalls(), policy.deny (but execve) violation
//   spawn_path_syscalls()                             ALLOW
//   clone, flags & CLONE_NEW* != 0                    violation
//   clone, without CLONE_THREAD, policy lacks "fork"  violation
//   clone, otherwise                                  ALLOW (if allowed)
//   ioctl, (cmd & 0xffffffff) is TIOCSTI or TIOCLINUX violation (the kernel
//                                                     reads cmd as 32 bits, so
//                                                     0x100005412 is TIOCSTI)
//   socket, socketpair, (domain & 0xffffffff) != AF_UNIX  ERRNO(EAFNOSUPPORT)
//   personality, value not 0 / 0xffffffff (32 bits)   violation
//   seccomp, flags has SECCOMP_FILTER_FLAG_NEW_LISTENER  violation
//   execve, policy lacks (or denies) "execve":
//     4th argument (unused by execve) is the token    ALLOW (the spawn's exec)
//     anything else                                   violation
//   any other syscall libseccomp knows: in policy.allow  ALLOW, else violation
//   syscall numbers libseccomp does not know          ERRNO(ENOSYS), as on a
//     (newer than libseccomp, or nonexistent)         kernel without them
// "violation" is SECCOMP_RET_USER_NOTIF: the calling thread waits while the
// daemon, holding the listener, is told which syscall it was and applies
// policy.action (seccomp_notify.h). If nobody holds the listener any more
// (the daemon died), the call fails with ENOSYS: fail closed.
//
// Why socket() gets EAFNOSUPPORT and not a violation: asking for a family is
// routine feature probing (glibc's getaddrinfo opens AF_NETLINK; runtimes
// try AF_INET6), not an attack. EAFNOSUPPORT is what a kernel without the
// family answers, so every program already handles it, and `kill` would
// otherwise kill ordinary programs for looking. Either way the family's
// kernel code is never reached, and the agent's network namespace is a
// second wall. The cost: the daemon does not hear of these attempts.
//
// The exec token: seccomp cannot tell the spawn's own execve from a later
// one (a filter sees registers, not memory, and keeps no state). So a
// program whose policy lacks "execve" allows execve only when its unused
// fourth argument register (r10) holds a 64-bit random token drawn at
// compile time. exec() passes it; an agent cannot: the token is only in
// the daemon's memory and the kernel's copy of the filter (reading a filter
// needs CAP_SYS_ADMIN), and execve clears every register of the new image.
// A guess is a violation, and there are 2^64 of them.
//
// Thread: construct on any thread; afterwards the object is immutable and
// install()/exec() may run in any number of children at once.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <vector>

#include "sandbox/seccomp_policy.h"

namespace smol::sandbox {

class SeccompProgram {
 public:
  // The flags install() passes: the kernel returns a listener fd for the
  // filter's notifications (close-on-exec).
  static constexpr unsigned kInstallFlags = SECCOMP_FILTER_FLAG_NEW_LISTENER;

  // Compiles the policy. Throws std::invalid_argument for a policy error (an
  // unknown syscall name, or a denied spawn_path_syscalls() entry) and
  // SysError for a failing call (seccomp_rule_add, memfd_create, getrandom).
  explicit SeccompProgram(const SeccompPolicy& policy);

  SeccompProgram(SeccompProgram&&) = default;
  SeccompProgram& operator=(SeccompProgram&&) = default;
  SeccompProgram(const SeccompProgram&) = delete;
  SeccompProgram& operator=(const SeccompProgram&) = delete;

  // Child side, after prctl(PR_SET_NO_NEW_PRIVS) (without it, or without
  // CAP_SYS_ADMIN, the kernel refuses: EACCES). Loads the filter on the
  // calling thread and returns the listener fd (close-on-exec), or -1 with
  // errno. The one call: seccomp(SECCOMP_SET_MODE_FILTER, kInstallFlags).
  int install() const noexcept;

  // Child side, after install(): execve(path, argv, envp) with the exec
  // token, so it passes a filter that allows no other execve. Returns only
  // on failure: -1 with errno.
  int exec(const char* path, char* const argv[], char* const envp[]) const noexcept;

  // The compiled program; fprog() points into it, valid while *this lives
  // and is not moved from.
  const std::vector<sock_filter>& instructions() const noexcept { return bpf_; }
  sock_fprog fprog() const noexcept;

  ViolationAction action() const noexcept { return action_; }

  // Whether the agent may execve after start (its policy allows "execve").
  bool exec_after_start() const noexcept { return exec_after_start_; }

 private:
  std::vector<sock_filter> bpf_;
  std::uint64_t exec_token_ = 0;
  ViolationAction action_ = ViolationAction::kill;
  bool exec_after_start_ = false;
};

}  // namespace smol::sandbox
