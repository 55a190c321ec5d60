// probe-see-pid PID: is PID (another agent, the daemon) visible in /proc?
// Seeing it leaks its command line, and is the first step to signalling or
// tracing it.
// ESCAPED: /proc/PID exists.
// Confined: BLOCKED ENOENT: the agent's fresh /proc shows only its own PID
// namespace.
#include <sys/stat.h>

#include "probe.h"

int main(int argc, char** argv) {
  long pid = probe_num_arg(argc, argv, 1, "pid");
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld", pid);
  struct stat st;
  probe_try("stat", stat(path, &st));
  probe_escaped("pid %ld is visible in /proc", pid);
}
