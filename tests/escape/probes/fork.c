// probe-fork: make a child process (glibc's fork is clone without
// CLONE_THREAD). The child exits at once.
// ESCAPED: fork made the child.
// Confined, default profile: ESCAPED (it allows processes; rlimit nproc and
// the cgroup's pids.max bound them). Strict profile: killed, seccomp
// violation "clone" (threads only).
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  pid_t pid = (pid_t)probe_try("fork", fork());
  if (pid == 0) _exit(0);
  waitpid(pid, NULL, 0);
  probe_escaped("fork made child pid %d", (int)pid);
}
