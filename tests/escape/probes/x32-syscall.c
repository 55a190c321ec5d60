// probe-x32-syscall: getpid through the x32 ABI (syscall number | 0x40000000),
// a second syscall table a filter written for x86_64 numbers could miss.
// ESCAPED: it returned our pid. A kernel without x32 (most: it is off by
// default) answers ENOSYS: BLOCKED.
// Confined: killed by SIGSYS (the filter kills any x32 number outright,
// whatever the kernel supports).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

#define X32_SYSCALL_BIT 0x40000000L
#define X32_NR_GETPID 39  // x32 shares x86_64's numbers for getpid

int main(void) {
  long pid = probe_try("x32 getpid", syscall(X32_SYSCALL_BIT | X32_NR_GETPID));
  probe_escaped("x32 getpid returned %ld (our pid %d)", pid, (int)getpid());
}
