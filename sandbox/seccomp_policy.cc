#include "sandbox/seccomp_policy.h"

#include <seccomp.h>

namespace smol::sandbox {
namespace {

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

}  // namespace

std::string_view violation_action_name(ViolationAction action) {
  return action == ViolationAction::kill ? "kill" : "errno";
}

std::optional<ViolationAction> parse_violation_action(std::string_view text) {
  if (text == "kill") return ViolationAction::kill;
  if (text == "errno") return ViolationAction::eperm;
  return std::nullopt;
}

std::span<const std::string_view> always_denied_syscalls() { return kAlwaysDenied; }

std::span<const std::string_view> spawn_path_syscalls() { return kSpawnPath; }

std::optional<std::string> unknown_syscall(std::span<const std::string> names) {
  for (const std::string& n : names) {
    // Negative pseudo numbers (__PNR_*) mean "known, not on this arch".
    // c_str() would end the name at a NUL and resolve its prefix.
    if (n.find('\0') != std::string::npos ||
        seccomp_syscall_resolve_name(n.c_str()) == __NR_SCMP_ERROR) {
      return n;
    }
  }
  return std::nullopt;
}

}  // namespace smol::sandbox
