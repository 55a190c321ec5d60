// probe-mknod-char [DIR=.]: make a character device node (1:3, a copy of
// /dev/null, removed at once). Device nodes reach drivers directly: with
// 1:1 (/dev/mem) or a disk's numbers an agent would read anything.
// ESCAPED: mknod returned 0.
// Confined: BLOCKED EPERM (no CAP_MKNOD) or EACCES (Landlock's make_char
// right); with the strict profile, killed, seccomp violation "mknod".
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  char path[4096];
  snprintf(path, sizeof path, "%s/smol-escape-null-%d", probe_arg(argc, argv, 1, ".", "dir"),
           (int)getpid());
  probe_try("mknod", syscall(SYS_mknod, path, S_IFCHR | 0600, makedev(1, 3)));
  unlink(path);
  probe_escaped("made character device 1:3 at %s (and removed it)", path);
}
