// probe-symlink-out DIR: create a file outside the work dir through a
// symlink made inside it: ./link -> DIR/name, then open("link", O_CREAT),
// which follows the link and creates its target.
// ESCAPED: the file now exists in DIR (left for the outside test to check;
// it removes DIR). Making the link is setup; the open is the attempt.
// Confined: BLOCKED ENOENT (DIR, a host dir, is not in the agent's root),
// or EROFS/EACCES for a DIR that is there but read-only or denied (mount
// namespace, uid, Landlock). With the strict profile the link itself is
// not allowed: killed, seccomp violation "symlink".
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  const char* dir = probe_arg(argc, argv, 1, NULL, "directory outside the work dir");
  char link[64], target[4096];
  snprintf(link, sizeof link, "smol-escape-link-%d", (int)getpid());
  snprintf(target, sizeof target, "%s/.smol-escape-probe-%d", dir, (int)getpid());
  unlink(link);  // left behind by a run that was killed before its cleanup
  if (syscall(SYS_symlink, target, link) < 0) probe_setup("symlink %s: %s", link, strerror(errno));
  int fd = open(link, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  int err = errno;
  unlink(link);
  errno = err;
  probe_try("open(O_CREAT) through symlink", fd);
  struct stat st;
  if (stat(target, &st) != 0) probe_setup("open worked but %s is not there", target);
  probe_escaped("created %s through the symlink ./%s", target, link);
}
