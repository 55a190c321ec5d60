// probe-int80-syscall: getpid through int $0x80, the i386 syscall ABI,
// whose numbers differ from x86_64's (getpid is 20 there): a filter that
// does not check the architecture would read it against the wrong table.
// ESCAPED: it returned our pid. Without IA32 emulation the CPU faults
// instead (SIGSEGV, seen by the runner).
// Confined: killed by SIGSYS (the filter kills any non-x86_64 arch).
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc;
  // The 64-bit kernel zeroes r8-r11 on return from int $0x80.
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20L) : "r8", "r9", "r10", "r11", "memory", "cc");
  if (rc < 0) probe_blocked("int $0x80 getpid", (int)-rc);
  probe_escaped("int $0x80 getpid returned %ld (our pid %d)", rc, (int)getpid());
}
