// probe-iopl: iopl(3), direct access to every I/O port.
// Harmless outside: it changes only this process, which exits without
// touching a port. ESCAPED: iopl returned 0. A kernel without
// CONFIG_X86_IOPL_IOPERM answers ENOSYS: BLOCKED.
// Confined: killed, seccomp violation "iopl" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probe_try("iopl", syscall(SYS_iopl, 3));
  probe_escaped("iopl(3) granted access to every I/O port");
}
