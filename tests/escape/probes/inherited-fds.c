// probe-inherited-fds: does the probe hold any fd beyond 0-3 (stdin, stdout,
// stderr, the agent's socket to the daemon)? Any other inherited fd is a
// door the sandbox did not mean to open (a daemon socket, a directory
// outside the root, a pidfd).
// ESCAPED: it holds one; prints the first few and what they point at.
// BLOCKED EBADF (the errno that says it best): none.
// Confined: BLOCKED EBADF: the daemon closes every fd but 0-3 before exec.
#include <dirent.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) probe_setup("opendir /proc/self/fd: %s", strerror(errno));
  char found[1024] = "";
  size_t used = 0;
  int count = 0;
  for (struct dirent* e; (e = readdir(dir));) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 3 || fd == dirfd(dir)) continue;
    char path[64], target[256] = "?";
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n < 0 ? 1 : n] = '\0';
    if (count++ < 4 && used < sizeof found) {
      used += (size_t)snprintf(found + used, sizeof found - used, " %d=%s", fd, target);
    }
  }
  if (count == 0) probe_blocked("fds beyond 0-3", EBADF);
  probe_escaped("holds %d fds beyond 0-3:%s", count, found);
}
