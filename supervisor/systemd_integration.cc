#include "supervisor/systemd_integration.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "base/log.h"
#include "base/sys_error.h"
#include "base/units.h"

namespace smol::supervisor {

std::optional<UniqueFd> inherited_control_socket() {
  int n = sd_listen_fds(1);
  if (n < 0) throw SysError(-n, "sd_listen_fds");
  if (n == 0) return std::nullopt;
  if (n > 1) {
    throw std::runtime_error("systemd passed " + std::to_string(n) +
                             " sockets; swarmd.socket must declare exactly one "
                             "(ListenStream= the control socket)");
  }
  UniqueFd fd(SD_LISTEN_FDS_START);
  if (sd_is_socket_unix(fd.get(), SOCK_STREAM, 1, nullptr, 0) <= 0) {
    throw std::runtime_error("systemd passed fd 3, but it is not a listening Unix stream "
                             "socket; check ListenStream= in swarmd.socket");
  }
  // Inherited fds are not close-on-exec; this one must never reach an agent.
  check_sys(::fcntl(fd.get(), F_SETFD, FD_CLOEXEC), "fcntl(FD_CLOEXEC)", "fd 3");
  int flags = check_sys(::fcntl(fd.get(), F_GETFL), "fcntl(F_GETFL)", "fd 3");
  check_sys(::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK), "fcntl(O_NONBLOCK)", "fd 3");
  return fd;
}

std::string unix_socket_path(int fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sun_family != AF_UNIX ||
      addr.sun_path[0] == '\0') {
    return {};
  }
  return std::string(addr.sun_path, strnlen(addr.sun_path, sizeof addr.sun_path));
}

Watchdog::Watchdog(ipc::EventLoop& loop) {
  uint64_t usec = 0;
  int rc = sd_watchdog_enabled(0, &usec);
  if (rc < 0) {
    log::warning(describe_errno(-rc, "sd_watchdog_enabled") + "; running without watchdog");
    return;
  }
  if (rc == 0 || usec == 0) return;
  enabled_ = true;
  task_ = ping(loop, usec / 2 * kj::MICROSECONDS).eagerlyEvaluate(nullptr);

  // The debug switch (see the header): tests only.
  const char* stall = std::getenv(kStallLoopEnv);
  if (stall == nullptr) return;
  std::optional<std::chrono::milliseconds> after = parse_duration(stall);
  if (!after) {
    log::warning(std::string(kStallLoopEnv) + "='" + stall +
                 "' is not a duration (e.g. \"3s\"); ignored");
    return;
  }
  log::warning(std::string("debug: ") + kStallLoopEnv + " is set: the event loop will stall " +
               format_duration(*after) + " from now, for the watchdog to catch (tests only)");
  stall_ = loop.timer()
               .afterDelay(after->count() * kj::MILLISECONDS)
               .then([] {
                 log::warning(std::string("debug: ") + kStallLoopEnv +
                              ": stalling the event loop now");
                 // Blocks this thread for good. SIGTERM and SIGINT are
                 // blocked (read on the loop only), so only the watchdog's
                 // SIGABRT or a SIGKILL ends it.
                 for (;;) ::pause();
               })
               .eagerlyEvaluate(nullptr);
}

bool notify(std::string_view state) {
  const char* where = std::getenv("NOTIFY_SOCKET");
  if (where == nullptr || where[0] == '\0') return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::strlen(where);
  if ((where[0] != '/' && where[0] != '@') || len >= sizeof addr.sun_path) {
    log::debug(std::string("NOTIFY_SOCKET=") + where + " is not a socket path; not notifying");
    return false;
  }
  std::memcpy(addr.sun_path, where, len);
  if (where[0] == '@') addr.sun_path[0] = '\0';  // an abstract socket
  // One socket for the daemon's life; SOCK_NONBLOCK and MSG_DONTWAIT: see
  // the header.
  static UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock) {
    log::debug(describe_errno(errno, "socket(AF_UNIX, SOCK_DGRAM)") + "; not notifying");
    return false;
  }
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  ssize_t n = ::sendto(sock.get(), state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                       reinterpret_cast<const sockaddr*>(&addr), addr_len);
  if (n < 0) {
    log::debug(describe_errno(errno, "sendto", where) + "; notification dropped");
    return false;
  }
  return true;
}

kj::Promise<void> Watchdog::ping(ipc::EventLoop& loop, kj::Duration every) {
  notify("WATCHDOG=1");
  return loop.timer().afterDelay(every).then([this, &loop, every] { return ping(loop, every); });
}

}  // namespace smol::supervisor
