// probe-init-module: init_module, loading code into the kernel.
// Harmless outside: the image is 16 zero bytes, shorter than an ELF header,
// so the kernel refuses it with ENOEXEC as it copies it in.
// ESCAPED: ENOEXEC or EINVAL (reachability, see probe.h). Without
// CONFIG_MODULES: ENOSYS, BLOCKED.
// Confined: killed, seccomp violation "init_module" (always denied).
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  static const char image[16];
  long rc = syscall(SYS_init_module, image, sizeof image, "");
  probe_reached("init_module", rc, (const int[]){ENOEXEC, EINVAL, 0});
}
