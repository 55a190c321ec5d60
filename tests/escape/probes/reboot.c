// probe-reboot: the reboot syscall, with a wrong magic number.
// Harmless outside: the kernel checks CAP_SYS_BOOT, then the magic numbers,
// and stops there with EINVAL; nothing is rebooted or changed.
// ESCAPED: EINVAL, the call got past the capability check (reachability,
// see probe.h). Confined: killed, seccomp violation "reboot" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_reboot, 0 /* not LINUX_REBOOT_MAGIC1 */, 0, 0, NULL);
  probe_reached("reboot", rc, (const int[]){EINVAL, 0});
}
