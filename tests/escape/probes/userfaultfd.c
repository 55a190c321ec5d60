// probe-userfaultfd: userfaultfd, page faults handled in user space: the
// tool that turns kernel race conditions into reliable exploits.
// ESCAPED: userfaultfd returned an fd.
// Confined: killed, seccomp violation "userfaultfd" (always denied).
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long fd = probe_try("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
  probe_escaped("userfaultfd returned fd %ld", fd);
}
