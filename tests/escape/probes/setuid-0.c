// probe-setuid-0: setuid(0) as a raw syscall (glibc's wrapper would also
// signal every thread; this probe has one). Outside, as root, it succeeds
// trivially: the probe shows the call is reachable.
// ESCAPED: setuid returned 0.
// Confined: killed, seccomp violation "setuid" (in no profile); behind it,
// no CAP_SETUID.
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probe_try("setuid", syscall(SYS_setuid, 0));
  probe_escaped("setuid(0) succeeded, uid now %d", (int)getuid());
}
