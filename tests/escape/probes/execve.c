// probe-execve: execve after the agent has started: the probe execs itself
// (/proc/self/exe) with a marker argument, and the new image reports. An
// agent that can exec can run any program in its root.
// ESCAPED: the exec'd image ran.
// Confined, default profile: ESCAPED (it allows execve). Strict profile:
// killed, seccomp violation "execve" (only the daemon's own exec, which
// carries a secret token, passes).
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--after-exec") == 0) {
    probe_escaped("execve ran a new program image (pid %d)", (int)getpid());
  }
  char* const args[] = {argv[0], "--after-exec", NULL};
  char* const env[] = {NULL};
  probe_try("execve", execve("/proc/self/exe", args, env));
  return PROBE_SETUP;  // unreachable: execve returns only on failure
}
