// probe-delete-module: delete_module, unloading kernel code.
// Harmless outside: no module has this name, so the kernel answers ENOENT.
// ESCAPED: ENOENT (reachability, see probe.h). Without CONFIG_MODULES:
// ENOSYS, BLOCKED.
// Confined: killed, seccomp violation "delete_module" (always denied).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long rc = syscall(SYS_delete_module, "smol_escape_no_such_module", O_NONBLOCK);
  probe_reached("delete_module", rc, (const int[]){ENOENT, 0});
}
