// probe-io-uring: io_uring_setup. io_uring is a second way into most
// syscalls (its operations never pass through seccomp) and a rich source of
// kernel bugs.
// ESCAPED: io_uring_setup returned a ring fd.
// Confined: killed, seccomp violation "io_uring_setup" (always denied).
#include <linux/io_uring.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  struct io_uring_params params = {0};
  long fd = probe_try("io_uring_setup", syscall(SYS_io_uring_setup, 4, &params));
  probe_escaped("io_uring_setup returned ring fd %ld", fd);
}
