// probe-seccomp-listener: install a seccomp filter with a listener of its
// own (SECCOMP_FILTER_FLAG_NEW_LISTENER). A process holding a listener
// answers the notifications of the processes under its filter, and can make
// their calls succeed. Harmless outside: the filter allows everything and
// binds only this process.
// ESCAPED: seccomp returned a listener fd.
// Confined: killed, seccomp violation "seccomp" (stacking filters is allowed
// only without a listener, and only where a profile allows "seccomp").
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = 1, .filter = &allow};
  long fd = probe_try("seccomp(NEW_LISTENER)", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                                       SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog));
  probe_escaped("seccomp installed a filter with listener fd %ld", fd);
}
