// probe-fsopen: fsopen("tmpfs"), the first step of the new mount API
// (fsopen, fsconfig, fsmount, move_mount). Harmless outside: a filesystem
// context is made and dropped, nothing is mounted.
// ESCAPED: fsopen returned an fd.
// Confined: killed, seccomp violation "fsopen" (always denied).
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long fd = probe_try("fsopen", syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC));
  probe_escaped("fsopen(\"tmpfs\") returned filesystem context fd %ld", fd);
}
