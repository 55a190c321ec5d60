// Family source of the probes that signal a process outside the sandbox.
// Built as:
//   probe-signal-peer PID [SIG=USR1]     another agent (or any process)
//   probe-signal-daemon PID [SIG=0]      the daemon
// SIG is a number or a name without SIG (USR1, TERM, 0). The attempt:
// kill(PID, SIG). ESCAPED: kill returned 0, i.e. the kernel let us signal
// that process (with SIG 0 it checks exactly that and delivers nothing; the
// outside test sends USR1 to a peer that records it, and 0 to itself).
// Confined: BLOCKED ESRCH: the pid is not in the agent's PID namespace;
// EPERM if it were (another uid; Landlock's signal scoping).
#include <signal.h>
#include <string.h>
#include <sys/types.h>

#include "../probe.h"

#ifndef PROBE_DEFAULT_SIGNAL
#define PROBE_DEFAULT_SIGNAL "0"
#endif

static int signal_number(const char* s) {
  if (strcmp(s, "0") == 0) return 0;
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev && strcmp(abbrev, s) == 0) return sig;
  }
  char* end = NULL;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 0 || v >= NSIG) probe_setup("not a signal: %s", s);
  return (int)v;
}

int main(int argc, char** argv) {
  pid_t pid = (pid_t)probe_num_arg(argc, argv, 1, "pid");
  int sig = signal_number(probe_arg(argc, argv, 2, PROBE_DEFAULT_SIGNAL, "signal"));
  probe_try("kill", kill(pid, sig));
  probe_escaped("kill(%d, %d) was allowed", (int)pid, sig);
}
