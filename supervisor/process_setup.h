// Process-wide settings swarmd makes once at start, before any fd is opened.
#pragma once

namespace smol::supervisor {

// Ignores SIGPIPE (a hung-up client is an error return, not a death), makes
// sure fds 0-2 are open (so no socket or pidfd lands on them and gets
// clobbered by a child's dup2), and raises the soft fd limit to the hard one
// (every agent costs the daemon a socket, a pipe and a pidfd).
void prepare_process();

}  // namespace smol::supervisor
