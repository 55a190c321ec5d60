// probe-clone-newuser: clone (not clone3) with CLONE_NEWUSER, where the
// filter can read the flags.
// ESCAPED: clone made the child (which exits at once).
// Confined: killed, seccomp violation "clone" (namespace flags on clone are
// a violation in every profile).
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  // No CLONE_VM and no new stack: the child runs on a copy, as after fork.
  long pid =
      probe_try("clone(CLONE_NEWUSER)", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  if (pid == 0) _exit(0);
  waitpid((pid_t)pid, NULL, 0);
  probe_escaped("clone made pid %ld in a new user namespace", pid);
}
