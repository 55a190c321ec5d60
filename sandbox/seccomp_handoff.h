// ListenerHandoff: carries the seccomp listener fd from an agent's child to
// the daemon, by SCM_RIGHTS over a socketpair made for that one spawn.
//
// Why not pidfd_getfd() from the daemon: the listener is born in the child
// close-on-exec, and spawn() (CLONE_VFORK) only resumes the daemon after the
// child has exec'd, when the fd is gone. Keeping it open across exec would
// hand the agent the listener of its own filter. SCM_RIGHTS queues the fd in
// the socket before exec, and the daemon picks it up after.
//
// Sequence:
//   daemon, before clone:  ListenerHandoff h = ListenerHandoff::create();
//                          (the child inherits both ends, close-on-exec)
//   child, after install(): send_fd(h.child_end(), listener)
//   daemon, after clone returned (the child exec'd or failed):
//                          UniqueFd fd = h.receive();
// One handoff per spawn: a message left behind by a failed spawn must never
// be read as the next agent's listener.
//
// Thread: create()/receive() on any daemon thread; send_fd() in the child.
#pragma once

#include "base/unique_fd.h"

namespace smol::sandbox {

class ListenerHandoff {
 public:
  // A SOCK_SEQPACKET socketpair, both ends close-on-exec. Throws SysError.
  static ListenerHandoff create();

  // The end the child sends on. Owned by the handoff.
  int child_end() const noexcept { return child_end_.get(); }

  // The fd the child sent, close-on-exec; an empty UniqueFd if it sent
  // nothing (the child failed before sending). Never blocks. Throws
  // SysError if the message is not one fd (e.g. EMFILE: the daemon is out of
  // fds and the kernel dropped it).
  UniqueFd receive();

 private:
  ListenerHandoff(UniqueFd daemon_end, UniqueFd child_end) noexcept
      : daemon_end_(std::move(daemon_end)), child_end_(std::move(child_end)) {}

  UniqueFd daemon_end_;
  UniqueFd child_end_;
};

// Child side: sends `fd` as the single SCM_RIGHTS fd of one message on
// `sock`. Returns 0, or -1 with errno. No allocation, async-signal-safe (the
// control buffer is on the stack). MSG_DONTWAIT: a full socket fails rather
// than parks the child while the daemon waits for it.
int send_fd(int sock, int fd) noexcept;

}  // namespace smol::sandbox
