// probe-setns-net PID: join the network namespace of PID (/proc/PID/ns/net),
// e.g. the host's, which has more than loopback. If that file cannot be
// opened (inside, PID is not in the agent's PID namespace) the probe uses
// its own namespace instead, so that the call itself is still made.
// ESCAPED: setns returned 0; it prints the namespace before and after.
// Confined: killed, seccomp violation "setns" (always denied).
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

static void current_net_ns(char* out, size_t size) {
  ssize_t n = readlink("/proc/self/ns/net", out, size - 1);
  out[n < 0 ? 0 : n] = '\0';
}

int main(int argc, char** argv) {
  const char* pid = probe_arg(argc, argv, 1, NULL, "pid");
  char path[64], before[64], after[64];
  snprintf(path, sizeof path, "/proc/%s/ns/net", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  current_net_ns(before, sizeof before);
  probe_try("setns(CLONE_NEWNET)", syscall(SYS_setns, fd, CLONE_NEWNET));
  current_net_ns(after, sizeof after);
  probe_escaped("setns joined the network namespace of %s: %s -> %s", fd >= 0 ? path : "?", before,
                after);
}
