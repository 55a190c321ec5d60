// Family source of the probes that put a file made in the work dir (the
// cwd) into a directory outside it by another name. Built as:
//   probe-hardlink-out DIR    link(./src, DIR/name): a second name outside
//       Confined: killed with the strict profile (no "link"); with the
//       default profile BLOCKED EXDEV (the work dir is its own mount; Landlock
//       also refuses "refer" with EXDEV), or ENOENT/EROFS/EACCES for a DIR
//       that is missing, read-only or denied.
//   probe-rename-out DIR      rename(./src, DIR/name): moves it out
//       Confined: BLOCKED EXDEV, ENOENT, EROFS or EACCES, as above; rename is
//       in both profiles.
// ESCAPED: the new name exists outside the work dir (left for the outside
// test to check; it removes DIR).
// Define: PROBE_RENAME (else link).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../probe.h"

int main(int argc, char** argv) {
  const char* dir = probe_arg(argc, argv, 1, NULL, "directory outside the work dir");
  // A fresh name: a probe killed before its cleanup may have left one behind.
  char src[] = "smol-escape-src-XXXXXX", dst[4096];
  snprintf(dst, sizeof dst, "%s/.smol-escape-probe-%d", dir, (int)getpid());
  int fd = mkostemp(src, O_CLOEXEC);
  if (fd < 0) probe_setup("cannot create %s in the work dir: %s", src, strerror(errno));
  close(fd);
#ifdef PROBE_RENAME
  const char* call = "rename";
  long rc = syscall(SYS_rename, src, dst);
#else
  const char* call = "link";
  long rc = syscall(SYS_link, src, dst);
#endif
  int err = errno;
  unlink(src);
  errno = err;
  probe_try(call, rc);
  probe_escaped("%s put ./%s at %s, outside the work dir", call, src, dst);
}
