// What swarmd does differently when systemd runs it. Each piece is a no-op
// without systemd, so the daemon behaves the same in a terminal.
//
//  - Socket activation: systemd may hand over the control socket
//    (swarmd.socket); then it is used instead of binding a new one, and left
//    in place at exit because it belongs to systemd.
//  - Watchdog: with WatchdogSec= set, WATCHDOG=1 is sent from the event loop
//    at half the interval, so a loop that stops turning stops the pings and
//    systemd restarts the daemon.
//  - A debug switch for tests only, deliberately not a command-line option
//    (so not in --help) and not in the configuration: with the watchdog on,
//    the environment variable SMOLSWARMS_DEBUG_STALL_LOOP_AFTER=DURATION
//    ("3s", as parse_duration reads it) makes the event loop block for good
//    that long after start, a stand-in for a loop that hangs: the pings stop,
//    the control socket stops answering, and systemd must kill and restart
//    the daemon (tests/systemd/nspawn_service_test.sh sets it through a
//    drop-in). Without WatchdogSec= it is ignored; when it is honoured, the
//    daemon says so in its log at start.
//  - Notifications: READY=1, STATUS=, STOPPING=1 (run_daemon()) and
//    WATCHDOG=1 go to $NOTIFY_SOCKET through notify(), which never blocks:
//    libsystemd's sd_notify sends on a blocking socket, so a manager slow
//    to read (or a test harness that does not read at all) would stall the
//    event loop once the socket's queue is full. A notification that does
//    not fit is dropped and logged at debug level; the next STATUS
//    supersedes it, and systemd reads READY and the pings promptly.
//
// Thread: the loop thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <kj/async.h>

#include "base/unique_fd.h"
#include "ipc/event_loop.h"

namespace smol::supervisor {

// The listening control socket passed by systemd, if any (made CLOEXEC and
// non-blocking). Throws std::runtime_error if systemd passed something
// other than exactly one listening Unix stream socket.
std::optional<UniqueFd> inherited_control_socket();

// The filesystem path a listening Unix socket is bound to ("" if none).
std::string unix_socket_path(int fd);

// Sends one notification (e.g. "READY=1\nSTATUS=...") to $NOTIFY_SOCKET
// without blocking; false if there is no such socket or it did not fit.
bool notify(std::string_view state);

// The name of the debug switch above.
inline constexpr const char* kStallLoopEnv = "SMOLSWARMS_DEBUG_STALL_LOOP_AFTER";

// Sends WATCHDOG=1 from the loop while alive, if systemd asked for it (and
// arms the debug stall, if set).
class Watchdog {
 public:
  explicit Watchdog(ipc::EventLoop& loop);
  bool enabled() const noexcept { return enabled_; }

 private:
  kj::Promise<void> ping(ipc::EventLoop& loop, kj::Duration every);

  bool enabled_ = false;
  kj::Promise<void> task_{nullptr};
  kj::Promise<void> stall_{nullptr};
};

}  // namespace smol::supervisor
