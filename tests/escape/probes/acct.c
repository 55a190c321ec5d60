// probe-acct: acct, process accounting to a file of the caller's choosing.
// Harmless outside: "/" is a directory, so the kernel fails to open it for
// appending (EISDIR); accounting is neither started nor stopped (acct(NULL)
// would stop it: never pass NULL here).
// ESCAPED: EISDIR (reachability, see probe.h).
// Confined: killed, seccomp violation "acct" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_acct, "/");
  probe_reached("acct", rc, (const int[]){EISDIR, 0});
}
