// SeccompListener: the daemon's end of one agent's seccomp filter.
//
// When an agent makes a syscall its policy does not allow, the filter
// (seccomp_filter.h) parks the calling thread and queues a notification on
// the listener fd. The daemon watches that fd (POLLIN) on its loop, calls
// receive() to learn the syscall, records it, and then applies the policy:
//   errno: respond_errno(id, EPERM); the syscall returns -1/EPERM and the
//          agent goes on.
//   kill:  kill the agent (its pidfd; the whole PID namespace goes with
//          it). The parked thread never returns to user space: no response
//          is needed.
// There is deliberately no "continue" response
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE): it would run the very syscall the
// policy refused, and deciding that from the notification is unsound: the
// arguments are pointers into the agent's memory, which another of its
// threads can rewrite between the daemon's check and the kernel's use.
//
// Who owns what: the listener owns the fd. The fd is created in the agent's
// child by SeccompProgram::install() and reaches the daemon by SCM_RIGHTS
// (seccomp_handoff.h). Once no process uses the filter any more (the agent
// and all its descendants have exited) the fd reports POLLHUP forever:
// stop watching it then, or when the agent's pidfd fires, or a
// level-triggered loop spins.
//
// Thread: one thread at a time per listener, in practice the daemon's loop.
// Nothing here blocks: receive() polls first.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "base/unique_fd.h"

namespace smol::sandbox {

// One syscall the filter refused and parked.
struct Violation {
  std::uint64_t id = 0;  // the notification's id, for respond_errno()/id_valid()
  pid_t pid = 0;         // the calling thread's id, in the daemon's PID namespace
  int syscall_nr = 0;    // as the calling architecture numbers it
  std::string syscall;   // its name ("ptrace"), or "syscall 1234" if unknown
  std::uint32_t arch = 0;                // AUDIT_ARCH_* of the call
  std::array<std::uint64_t, 6> args{};   // raw register values; pointers
                                         // are into the agent's memory
  std::uint64_t instruction_pointer = 0;
};

class SeccompListener {
 public:
  explicit SeccompListener(UniqueFd fd) noexcept : fd_(std::move(fd)) {}

  // The fd to watch for POLLIN; still owned by the listener.
  int fd() const noexcept { return fd_.get(); }

  // The next pending violation, or nullopt if none is pending right now, or
  // if the one pending vanished before it was read (its thread was killed or
  // interrupted by a signal: the kernel then answers ENOENT). Never blocks.
  // Throws SysError if the ioctl fails otherwise (a bug: EBADF, EINVAL).
  std::optional<Violation> receive();

  // Makes the parked syscall return -1 with errno `error` (e.g. EPERM).
  // Returns false if the notification no longer waits for an answer: its
  // thread was killed or interrupted by a signal (a restarted syscall
  // arrives as a new violation), or it was answered already. Throws
  // SysError on other failures.
  bool respond_errno(std::uint64_t id, int error);

  // Whether notification `id` is still pending: its thread still waits for
  // an answer. Use it after reading anything of the agent by pid (e.g.
  // /proc/PID/...) to be sure the pid still was that thread.
  bool id_valid(std::uint64_t id) const;

  // True once no process uses the filter any more (POLLHUP).
  bool all_targets_exited() const;

 private:
  UniqueFd fd_;
};

}  // namespace smol::sandbox
