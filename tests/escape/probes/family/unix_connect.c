// Family source of the probes that connect to a Unix socket outside the
// sandbox. Built as:
//   probe-connect-control-socket PATH    the daemon's control socket
//       Confined: BLOCKED ENOENT: the socket's directory is not in the
//       agent's root (mount namespace). With the strict profile socket() is
//       not allowed at all: killed, seccomp violation "socket".
//   probe-abstract-unix-connect NAME     an abstract socket "@NAME"
//       Abstract names live in the network namespace and have no file, so
//       no filesystem wall applies. Confined: BLOCKED ECONNREFUSED (the
//       agent's network namespace has no such name) or EPERM (Landlock's
//       abstract-unix scoping).
// The attempt: socket(AF_UNIX) and connect(). ESCAPED: connected.
// Define: PROBE_ABSTRACT.
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../probe.h"

int main(int argc, char** argv) {
  const char* target = probe_arg(argc, argv, 1, NULL, "socket path or abstract name");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
#ifdef PROBE_ABSTRACT
  const size_t offset = 1;  // sun_path[0] == '\0': the abstract namespace
#else
  const size_t offset = 0;
#endif
  size_t len = strlen(target);
  if (offset + len >= sizeof addr.sun_path) probe_setup("name too long: %s", target);
  memcpy(addr.sun_path + offset, target, len);
  int fd = (int)probe_try("socket", socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + offset + len);
  probe_try("connect", connect(fd, (const struct sockaddr*)&addr, addr_len));
  probe_escaped("connected to %s%s", offset ? "@" : "", target);
}
