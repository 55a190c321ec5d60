// SeccompPolicy: which system calls an agent may make, as names.
//
// A policy is plain data: the syscalls allowed, the syscalls denied even if
// allowed (deny wins), and what happens on a violation. The daemon turns it
// into a BPF program once (SeccompProgram, seccomp_filter.h) and applies that
// program in every agent it spawns with this policy. The shipped allowlists
// are data too, in profiles/*.toml (supervisor/sandbox_profiles.h).
//
// Names are libseccomp's (the kernel's, without "sys_"). A few names mean more
// than "this syscall" because the filter looks at their arguments; every rule
// of the filter is listed in seccomp_filter.h, these are the ones a policy
// author steers:
//   "clone"       threads: clone with CLONE_THREAD and no CLONE_NEW* flag.
//   "fork"        with "clone": clone without CLONE_THREAD too (a new
//                 process), still without CLONE_NEW* flags; plus fork(2).
//   "execve"      execve at will. Without it the agent still starts (the
//                 spawn's own execve passes a secret only the daemon knows)
//                 but cannot execve again: "no execve after start".
//   "ioctl"       every request but TIOCSTI and TIOCLINUX.
//   "socket", "socketpair"  AF_UNIX only; other families get EAFNOSUPPORT.
//   "personality" only the harmless values (PER_LINUX, the 0xffffffff query).
//   "seccomp"     stacking more filters, but never with a listener of their
//                 own (one could answer our notifications and let calls
//                 through).
// Some syscalls are denied whatever a policy says (always_denied_syscalls()),
// clone3 always fails with ENOSYS, and three are always allowed because the
// spawn path itself needs them after the filter is loaded
// (spawn_path_syscalls()).
//
// Thread: pure functions and values; any thread.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace smol::sandbox {

// What the daemon does when an agent makes a syscall its policy does not
// allow. The kernel parks the calling thread and tells the daemon which
// syscall it was (SECCOMP_RET_USER_NOTIF); then:
enum class ViolationAction {
  kill,   // the daemon kills the agent and records the syscall (the default)
  eperm,  // the daemon records it and the call fails with EPERM; the agent lives
};

// "kill" | "errno": the spelling in swarm specs, `swarmctl ps` and the
// `action` label of smolswarms_seccomp_violations_total.
std::string_view violation_action_name(ViolationAction action);

// The inverse of violation_action_name(); nullopt for any other text.
std::optional<ViolationAction> parse_violation_action(std::string_view text);

struct SeccompPolicy {
  std::vector<std::string> allow;  // syscall names
  std::vector<std::string> deny;   // syscall names; deny wins over allow
  ViolationAction action = ViolationAction::kill;

  // The daemon caches one compiled program per distinct policy.
  bool operator==(const SeccompPolicy&) const = default;
};

// Denied whatever a policy allows: io_uring_*, ptrace, process_vm_*, keys,
// userfaultfd, bpf, perf_event_open, the mount family, pivot_root, chroot,
// kexec_*, modules, reboot, swap, acct, unshare, setns, and a few more
// with the same reach into the kernel or other processes.
std::span<const std::string_view> always_denied_syscalls();

// Allowed whatever a policy denies: sendmsg (the child hands its listener to
// the daemon after loading the filter), exit and exit_group. A violation
// there would park the child on a notification nobody can answer yet.
std::span<const std::string_view> spawn_path_syscalls();

// The first name libseccomp does not know on any architecture (or holding a
// NUL byte), or nullopt if it knows them all. Names of other architectures'
// syscalls ("socketcall") are known: a policy may list them, they simply
// match nothing here. The spec parser calls this to point at the offending
// name.
std::optional<std::string> unknown_syscall(std::span<const std::string> names);

}  // namespace smol::sandbox
