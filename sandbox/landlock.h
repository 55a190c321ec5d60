// Landlock: the agent's second wall.
//
// The mount namespace decides what an agent can see; Landlock decides, again
// and independently, what it may do with what it sees. If a mount step is
// wrong or an escape reaches a host path, the kernel still refuses every
// file access this view does not grant, every TCP bind/connect, and (on new
// enough kernels) every signal or abstract-socket connect to a process
// outside the agent's own domain, i.e. the daemon and the other agents.
//
// Who does what:
//   daemon (any thread, before spawn): builds a LandlockRuleset from the
//     agent's PathRules. This negotiates the ABI, creates the ruleset, opens
//     each path O_PATH and adds it. All allocation and all errors happen here.
//     Paths are the daemon's (host) paths, e.g. the work directory under the
//     state dir: a rule binds an inode, and the child's read-only binds of
//     those directories expose the same inodes, so the rules follow them into
//     the agent's new root. A mount the child creates afresh has no host path
//     and needs allow_dir_in_child().
//   child (after its mounts and pivot_root, with no_new_privs set): calls
//     LandlockRuleset::restrict_self(fd) and nothing else of this module,
//     except allow_dir_in_child() for mounts it created itself (see there).
//
// Who owns the ruleset fd: the LandlockRuleset (a UniqueFd); the daemon
// closes it when the object dies, which may be as soon as spawn() returns.
// The kernel creates it close-on-exec. The child inherits a copy through
// clone (restrict_self needs nothing more) and may close it after use;
// execve closes it in any case, so the agent never holds it. Build one
// ruleset per agent: its work directory is a rule of its own, and
// allow_dir_in_child() modifies the ruleset all holders of the fd share.
//
// The ABI, and what each version lets us handle (older kernels simply get
// fewer walls; a kernel newer than kLandlockNewestAbi is driven as that one,
// which the kernel guarantees to accept):
//   v1 (5.13) fs: execute, write_file, read_file, read_dir, remove_dir,
//             remove_file, make_char, make_dir, make_reg, make_sock,
//             make_fifo, make_block, make_sym
//   v2 (5.19) fs: refer (link/rename across directories; below v2 the
//             kernel refuses every such reparenting)
//   v3 (6.2)  fs: truncate (truncate(2), O_TRUNC, ftruncate on new fds)
//   v4 (6.7)  net: bind_tcp, connect_tcp (UDP is not covered by Landlock)
//   v5 (6.10) fs: ioctl_dev (ioctl on device files opened after restrict)
//   v6 (6.12) scoped: abstract_unix_socket, signal
//   v7 (6.15) restrict_self log flags (audit); no new rights. Not used: we
//             pass flags 0, so denials after the agent's execve are not
//             audit-logged. TODO(observability): LOG_NEW_EXEC_ON per policy.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace smol::sandbox {

// The newest Landlock ABI this module knows the rights of.
inline constexpr int kLandlockNewestAbi = 7;

// The running kernel's Landlock ABI version; 0 when the kernel lacks
// Landlock (ENOSYS), has it disabled at boot (EOPNOTSUPP), or a seccomp
// filter around the daemon refuses the call. Never throws.
int landlock_abi();

// How an agent may use one path of its view.
//   read_only:  read files, list directories.
//   read_exec:  read_only plus execve of files beneath.
//   read_write: read_only plus write, truncate, create and remove files,
//               directories, fifos, sockets and symlinks, and move them
//               within granted hierarchies. Deliberately without execute
//               (a work directory is not a place to drop binaries), without
//               device nodes (make_char/make_block) and without device
//               ioctls (ioctl_dev); Access values for those come when a
//               policy needs them.
enum class Access { read_only, read_exec, read_write };

struct PathRule {
  std::string path;  // absolute; symlinks are followed, the rule binds the target
  Access access = Access::read_only;
  bool optional = false;  // a missing path is skipped instead of an error
};

enum class LandlockMode {
  required,     // no Landlock on this kernel fails the spawn
  best_effort,  // no Landlock: the agent runs without it; the daemon logs why
};

// Everything a ruleset handles (denies unless a rule grants it) at one ABI.
struct LandlockHandled {
  std::uint64_t fs = 0;      // LANDLOCK_ACCESS_FS_* bits
  std::uint64_t net = 0;     // LANDLOCK_ACCESS_NET_* bits (ABI >= 4)
  std::uint64_t scoped = 0;  // LANDLOCK_SCOPE_* bits (ABI >= 6)
};

// Every right the given ABI knows (clamped to kLandlockNewestAbi); all zero
// for ABI 0. Pure: no system call.
LandlockHandled landlock_handled(int abi);

// The LANDLOCK_ACCESS_FS_* bits granting access at the given ABI, for a
// directory (rights on the hierarchy beneath it) or for any other file, which
// the kernel allows only execute, write_file, read_file, truncate and
// ioctl_dev. Pure: no system call.
std::uint64_t landlock_fs_rights(Access access, int abi, bool is_directory);

// Thrown when the mode is `required` and the kernel has no usable Landlock.
// what() reads "landlock required but the kernel does not support it (ABI 0)".
class LandlockUnavailable : public std::runtime_error {
 public:
  explicit LandlockUnavailable(int kernel_abi);
  int kernel_abi() const noexcept { return kernel_abi_; }

 private:
  int kernel_abi_;
};

// One agent's filesystem view as a Landlock ruleset, ready for its child.
// Built in the daemon; movable, not copyable (it owns the ruleset fd).
class LandlockRuleset {
 public:
  // Builds the ruleset for `rules`. kernel_abi is what the kernel reported;
  // tests pass a smaller one to simulate an older kernel (0: none at all).
  // Handled: every fs right of the ABI (so whatever no rule grants is
  // denied), on ABI >= 4 TCP bind and connect with no port rules (all TCP
  // denied), on ABI >= 6 abstract unix sockets and signals scoped to the
  // agent's own domain.
  // Throws:
  //   LandlockUnavailable  ABI 0 and mode required;
  //   SysError             a path cannot be opened ("open(/x): No such file
  //                        or directory"; is_not_found() for a missing path
  //                        not marked optional), or a landlock_* call fails
  //                        (call and path named). Missing Landlock is the
  //                        only thing best_effort forgives.
  LandlockRuleset(const std::vector<PathRule>& rules, LandlockMode mode,
                  int kernel_abi = landlock_abi());

  // False when the kernel lacks Landlock and the mode was best_effort: then
  // fd() is -1, abi() is 0 and absent_reason() says why, for the daemon to
  // log once: "landlock skipped (best-effort): the kernel does not support
  // it (ABI 0)". The child must then skip restrict_self.
  explicit operator bool() const noexcept { return static_cast<bool>(fd_); }
  int fd() const noexcept { return fd_.get(); }
  int abi() const noexcept { return abi_; }
  int kernel_abi() const noexcept { return kernel_abi_; }
  const std::string& absent_reason() const noexcept { return absent_reason_; }
  const LandlockHandled& handled() const noexcept { return handled_; }
  // Optional paths that did not exist and were left out.
  const std::vector<std::string>& skipped() const noexcept { return skipped_; }

  // The directory rights for `access` at the ABI in use; what the daemon
  // prepares for allow_dir_in_child().
  std::uint64_t dir_rights(Access access) const noexcept;

  // One line for logs and `swarmctl ps`, e.g. "landlock ABI 7: fs{execute,
  // ...} net{bind_tcp,connect_tcp} scoped{abstract_unix_socket,signal};
  // 6 paths", or absent_reason() when there is no ruleset.
  std::string describe() const;

  // CHILD ONLY. Enforces the ruleset on the calling thread, and so on the
  // agent it execs: landlock_restrict_self(ruleset_fd, 0). Returns 0, or -1
  // with errno (EPERM: neither no_new_privs nor CAP_SYS_ADMIN; E2BIG: 16
  // stacked domains). The kernel requires the thread to have no_new_privs
  // set (PR_SET_NO_NEW_PRIVS), or CAP_SYS_ADMIN in its user namespace; the
  // caller sets no_new_privs first, as the agent loses its capabilities
  // anyway. After this call mount(2), umount(2) and pivot_root(2) fail with
  // EPERM, so every mount step must come before it. Only the calling task is
  // confined, also in a CLONE_VM|CLONE_VFORK child: the daemon is not.
  // Async-signal-safe, no allocation. Does not close ruleset_fd.
  static int restrict_self(int ruleset_fd) noexcept;

  // CHILD ONLY, before restrict_self. Grants allowed_access (from
  // dir_rights()) beneath `dir`, a directory the child mounted itself (a
  // fresh /proc or a tmpfs /tmp): the daemon cannot name such a mount when
  // it builds the ruleset, and Landlock ignores the mount point beneath it,
  // so without this rule everything in it is denied. It adds to the ruleset
  // the fd refers to, which the daemon's object shares: use it only on a
  // ruleset built for this one child. Returns 0, or -1 with errno.
  // Async-signal-safe, no allocation.
  static int allow_dir_in_child(int ruleset_fd, const char* dir,
                                std::uint64_t allowed_access) noexcept;

 private:
  void add_rule(const PathRule& rule);

  int kernel_abi_ = 0;
  int abi_ = 0;
  LandlockHandled handled_;
  UniqueFd fd_;
  std::string absent_reason_;
  std::vector<std::string> skipped_;
  int rule_count_ = 0;
};

}  // namespace smol::sandbox
