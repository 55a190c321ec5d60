#include "sandbox/namespaces.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace smol::sandbox {

const char* bring_up_loopback() noexcept {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return "socket(AF_INET) for loopback";
  ifreq ifr {};
  std::memcpy(ifr.ifr_name, "lo", 3);
  ifr.ifr_flags = IFF_UP | IFF_RUNNING;
  const char* failed = ::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0 ? "ioctl(lo, SIOCSIFFLAGS)" : nullptr;
  int saved = errno;
  ::close(sock);
  errno = saved;
  return failed;
}

const char* set_hostname(const char* name, unsigned long length) noexcept {
  return ::sethostname(name, length) == 0 ? nullptr : "sethostname";
}

}  // namespace smol::sandbox
