#include "sandbox/seccomp_policy.h"

#include <seccomp.h>

#include <array>

namespace smol::sandbox {
namespace {

// Both profiles start from this: what any process needs to run at all
// (the dynamic loader, libc start-up, malloc, threads, signals, clocks),
// to use the files and fds it holds, and to talk to the daemon on fd 3.
constexpr std::string_view kCore[] = {
    // memory
    "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "membarrier",
    // threads and their synchronisation (clone: threads only, see the header)
    "clone", "futex", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
    "arch_prctl", "sched_yield", "sched_getaffinity", "exit", "exit_group",
    // identity and limits (reading)
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "uname", "getrlimit", "prlimit64", "getrusage", "personality",
    // signals to itself
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "sigaltstack", "kill", "tgkill", "tkill",
    // time
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
    // randomness
    "getrandom",
    // files and fds
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "open", "openat", "close", "dup", "dup2", "dup3", "fcntl", "ioctl",
    "fstat", "stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
    "getdents64", "getcwd", "readlink", "readlinkat", "mkdir", "mkdirat", "unlink", "unlinkat",
    "rename", "renameat", "renameat2", "ftruncate", "fsync", "fdatasync", "pipe2",
    // waiting for fds and events
    "poll", "ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime",
    // sockets the agent already holds (fd 3)
    "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt", "getsockname",
    "getpeername",
};

// What default_profile() adds for shells, coreutils, interpreters and
// programs that start other programs.
constexpr std::string_view kOrdinary[] = {
    // processes and exec
    "fork", "vfork", "execve", "execveat", "wait4", "waitid", "pidfd_open", "pidfd_send_signal",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpgid", "getpgid", "getpgrp", "setsid", "getsid",
    "prctl", "capget", "setrlimit", "umask", "times", "sysinfo", "getpriority", "setpriority",
    "sched_setaffinity", "sched_getparam", "sched_getscheduler", "sched_get_priority_max",
    "sched_get_priority_min", "getcpu", "restart_syscall", "pause", "alarm", "getitimer",
    "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
    "timer_delete", "futex_waitv", "memfd_create", "msync", "mincore",
    // more of the filesystem
    "creat", "openat2", "close_range", "getdents", "chdir", "fchdir", "rmdir", "link", "linkat",
    "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "lchown",
    "mknod", "mknodat", "truncate", "fallocate", "fadvise64", "readahead", "flock", "sync",
    "syncfs", "sync_file_range", "statfs", "fstatfs", "utime", "utimes", "utimensat", "futimesat",
    "sendfile", "copy_file_range", "splice", "tee", "getxattr", "lgetxattr", "fgetxattr",
    "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr",
    "lremovexattr", "fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "pipe", "select", "pselect6", "epoll_create", "epoll_pwait2", "eventfd",
    "signalfd", "signalfd4",
    // AF_UNIX sockets of its own (socket/socketpair: AF_UNIX only)
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "setsockopt",
    "sendmmsg", "recvmmsg",
    // SysV IPC, private to the agent's IPC namespace
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
    "msgsnd", "msgrcv", "msgctl",
};

constexpr std::string_view kAlwaysDenied[] = {
    "io_uring_setup", "io_uring_enter", "io_uring_register",  // a second syscall ABI
    "ptrace", "process_vm_readv", "process_vm_writev",         // other processes' memory
    "keyctl", "add_key", "request_key",                        // kernel keyrings
    "userfaultfd", "bpf", "perf_event_open",                   // exploit toolkits
    "mount", "umount2", "fsopen", "fsmount", "move_mount", "open_tree", "fsconfig", "fspick",
    "mount_setattr", "pivot_root", "chroot",  // the filesystem view is the daemon's
    "unshare", "setns",                       // namespaces are the daemon's
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct",
    // Not in issue 4's list, same class: file handles bypass the view
    // ("shocker"), and raw port I/O.
    "open_by_handle_at", "iopl", "ioperm",
};

constexpr std::string_view kSpawnPath[] = {"sendmsg", "exit", "exit_group"};

void append(std::vector<std::string>& out, std::span<const std::string_view> names) {
  for (std::string_view n : names) out.emplace_back(n);
}

}  // namespace

std::string_view violation_action_name(ViolationAction action) {
  return action == ViolationAction::kill ? "kill" : "errno";
}

std::optional<ViolationAction> parse_violation_action(std::string_view text) {
  if (text == "kill") return ViolationAction::kill;
  if (text == "errno") return ViolationAction::eperm;
  return std::nullopt;
}

SeccompPolicy default_profile() {
  SeccompPolicy p;
  append(p.allow, kCore);
  append(p.allow, kOrdinary);
  return p;
}

SeccompPolicy strict_profile() {
  SeccompPolicy p;
  append(p.allow, kCore);
  return p;
}

std::span<const std::string_view> always_denied_syscalls() { return kAlwaysDenied; }

std::span<const std::string_view> spawn_path_syscalls() { return kSpawnPath; }

std::optional<std::string> unknown_syscall(std::span<const std::string> names) {
  for (const std::string& n : names) {
    // Negative pseudo numbers (__PNR_*) mean "known, not on this arch".
    if (seccomp_syscall_resolve_name(n.c_str()) == __NR_SCMP_ERROR) return n;
  }
  return std::nullopt;
}

}  // namespace smol::sandbox
