// probe-ioperm: ioperm, access to chosen I/O ports (here 0x80, the POST
// diagnostic port). Harmless outside: no port is touched.
// ESCAPED: ioperm returned 0. Without CONFIG_X86_IOPL_IOPERM: ENOSYS, BLOCKED.
// Confined: killed, seccomp violation "ioperm" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probe_try("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
  probe_escaped("ioperm granted access to I/O port 0x80");
}
