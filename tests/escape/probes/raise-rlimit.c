// probe-raise-rlimit: raise RLIMIT_NOFILE's hard limit by one (prlimit64,
// the call glibc's setrlimit makes). Only CAP_SYS_RESOURCE may raise a hard
// limit; the daemon's rlimits are the agent's fence for fds and memory.
// ESCAPED: the new hard limit was accepted.
// Confined: BLOCKED EPERM (no CAP_SYS_RESOURCE).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  struct rlimit now;
  if (getrlimit(RLIMIT_NOFILE, &now) != 0) probe_setup("getrlimit: %s", strerror(errno));
  if (now.rlim_max == RLIM_INFINITY) probe_setup("the hard limit is already unlimited");
  struct rlimit raised = {now.rlim_cur, now.rlim_max + 1};
  probe_try("prlimit64(RLIMIT_NOFILE)", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &raised, NULL));
  probe_escaped("raised the RLIMIT_NOFILE hard limit from %lu to %lu", (unsigned long)now.rlim_max,
                (unsigned long)raised.rlim_max);
}
