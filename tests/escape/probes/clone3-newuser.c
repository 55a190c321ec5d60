// probe-clone3-newuser: clone3 with CLONE_NEWUSER, a child in a user
// namespace of its own (all capabilities inside it). clone3 passes its
// flags in memory, where a seccomp filter cannot read them, so the filter
// refuses clone3 outright and libc falls back to clone.
// ESCAPED: clone3 made the child (which exits at once).
// Confined: BLOCKED ENOSYS (seccomp answers clone3 with ENOSYS, in every
// profile).
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
  long pid = probe_try("clone3(CLONE_NEWUSER)", syscall(SYS_clone3, &args, sizeof args));
  if (pid == 0) _exit(0);
  waitpid((pid_t)pid, NULL, 0);
  probe_escaped("clone3 made pid %ld in a new user namespace", pid);
}
