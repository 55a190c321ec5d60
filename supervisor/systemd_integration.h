// What swarmd does differently when systemd runs it. Each piece is a no-op
// without systemd, so the daemon behaves the same in a terminal.
//
//  - Socket activation: systemd may hand over the control socket
//    (swarmd.socket); then it is used instead of binding a new one, and left
//    in place at exit because it belongs to systemd.
//  - Watchdog: with WatchdogSec= set, WATCHDOG=1 is sent from the event loop
//    at half the interval, so a loop that stops turning stops the pings and
//    systemd restarts the daemon.
//  - sd_notify: READY=1, STATUS=, STOPPING=1 are sent by run_daemon().
//
// Thread: the loop thread.
#pragma once

#include <optional>
#include <string>

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

// Sends WATCHDOG=1 from the loop while alive, if systemd asked for it.
class Watchdog {
 public:
  explicit Watchdog(ipc::EventLoop& loop);
  bool enabled() const noexcept { return enabled_; }

 private:
  kj::Promise<void> ping(ipc::EventLoop& loop, kj::Duration every);

  bool enabled_ = false;
  kj::Promise<void> task_{nullptr};
};

}  // namespace smol::supervisor
