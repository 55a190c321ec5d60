// probe-kexec-load: kexec_load, the door to booting another kernel.
// Harmless outside: an unknown flag bit and 1000 segments (the limit is 16)
// are both rejected with EINVAL right after the permission check, before
// anything is read or loaded.
// ESCAPED: EINVAL (reachability, see probe.h). A kernel built without
// CONFIG_KEXEC answers ENOSYS: BLOCKED.
// Confined: killed, seccomp violation "kexec_load" (always denied; the
// filter runs before the kernel looks the number up).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_kexec_load, 0, 1000, NULL, 0x8000 /* no such flag */);
  probe_reached("kexec_load", rc, (const int[]){EINVAL, 0});
}
