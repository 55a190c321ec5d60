// probe-swapoff: swapoff, taking a swap area away from the kernel.
// Harmless outside: "/" is a directory; the kernel fails to open it for
// writing (EISDIR) before it looks for a swap area.
// ESCAPED: EISDIR or EINVAL (reachability, see probe.h).
// Confined: killed, seccomp violation "swapoff" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_swapoff, "/");
  probe_reached("swapoff", rc, (const int[]){EISDIR, EINVAL, 0});
}
