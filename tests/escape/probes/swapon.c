// probe-swapon: swapon, handing the kernel a file to page into.
// Harmless outside: an unknown flag bit (EINVAL at once) and "/", a
// directory, which the kernel would refuse anyway (EISDIR).
// ESCAPED: EINVAL or EISDIR (reachability, see probe.h).
// Confined: killed, seccomp violation "swapon" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_swapon, "/", 0x40000000 /* no such flag */);
  probe_reached("swapon", rc, (const int[]){EINVAL, EISDIR, 0});
}
