// Family source of the probes that create a file in a directory the agent
// must not write. Built as:
//   probe-write-usr [DIR=/usr]
//   probe-write-etc [DIR=/etc]
//       Confined: BLOCKED EROFS (read-only bind) or EACCES (uid, Landlock).
//   probe-write-other-workdir DIR   (another agent's work dir)
//       Confined: BLOCKED ENOENT: not in this agent's root (mount
//       namespace); EACCES if it were (its own uid, Landlock).
// The attempt: open(DIR/.smol-escape-probe-PID, O_CREAT|O_EXCL|O_WRONLY).
// ESCAPED: the file was created; it is unlinked at once, so a run outside
// leaves /usr and /etc as they were. Define: PROBE_DEFAULT_ARG.
#include <fcntl.h>
#include <unistd.h>

#include "../probe.h"

int main(int argc, char** argv) {
  const char* dir = probe_arg(argc, argv, 1, PROBE_DEFAULT_ARG, "directory");
  char path[4096];
  snprintf(path, sizeof path, "%s/.smol-escape-probe-%d", dir, (int)getpid());
  int fd =
      (int)probe_try("open(O_CREAT)", open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
  close(fd);
  unlink(path);
  probe_escaped("created %s (and removed it)", path);
}
