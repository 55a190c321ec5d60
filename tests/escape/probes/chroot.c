// probe-chroot: chroot("."), the first step of the classic chroot breakout
// (chroot into a subdir while keeping a cwd outside it).
// ESCAPED: chroot returned 0 (outside it changes only the probe's root).
// Confined: killed, seccomp violation "chroot" (always denied); behind it,
// no CAP_SYS_CHROOT.
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probe_try("chroot", syscall(SYS_chroot, "."));
  probe_escaped("chroot(\".\") changed the probe's root");
}
