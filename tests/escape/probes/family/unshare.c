// Family source of the probes that make a namespace of their own. Built as:
//   probe-unshare-user    unshare(CLONE_NEWUSER)
//   probe-unshare-mount   unshare(CLONE_NEWNS)
// A user namespace would give the agent every capability inside it and open
// kernel code (mounts, netfilter) that has been the door of many exploits.
// ESCAPED: unshare returned 0 (outside this changes only the probe itself).
// Confined: killed, seccomp violation "unshare" (always denied; wall:
// seccomp).
// Define: PROBE_UNSHARE_FLAGS.
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../probe.h"

int main(void) {
  probe_try("unshare", syscall(SYS_unshare, PROBE_UNSHARE_FLAGS));
  probe_escaped("unshare(%#x) made a new namespace", (unsigned)(PROBE_UNSHARE_FLAGS));
}
