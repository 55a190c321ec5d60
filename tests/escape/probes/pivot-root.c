// probe-pivot-root [DIR=.]: pivot_root, swapping the root of the mount
// namespace. Harmless outside: new_root is a directory the probe has just
// made in DIR, which cannot be a mount point, so the kernel refuses with
// EINVAL (or EBUSY when DIR is on the root filesystem) after its permission
// check and before it changes anything. Never pass a mount point here.
// ESCAPED: EINVAL or EBUSY (reachability, see probe.h).
// Confined: killed, seccomp violation "pivot_root" (always denied).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/smol-escape-pivot-XXXXXX", probe_arg(argc, argv, 1, ".", "dir"));
  if (!mkdtemp(dir)) probe_setup("mkdtemp %s: %s", dir, strerror(errno));
  long rc = syscall(SYS_pivot_root, dir, dir);
  int err = errno;
  unlinkat(AT_FDCWD, dir, AT_REMOVEDIR);
  errno = err;
  probe_reached("pivot_root", rc, (const int[]){EINVAL, EBUSY, 0});
}
