// probe-kexec-file-load: kexec_file_load, the fd-based way to load a kernel.
// Harmless outside: an unknown flag is rejected with EINVAL right after the
// permission check, before either fd is looked at.
// ESCAPED: EINVAL (reachability, see probe.h). Without CONFIG_KEXEC_FILE:
// ENOSYS, BLOCKED.
// Confined: killed, seccomp violation "kexec_file_load" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0x80000000UL /* no such flag */);
  probe_reached("kexec_file_load", rc, (const int[]){EINVAL, 0});
}
