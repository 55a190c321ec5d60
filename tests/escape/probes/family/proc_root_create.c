// Family source of the probes that create a file outside the work dir
// through a process's root link in /proc. Built as:
//   probe-proc-self-root-out DIR        creates /proc/self/root/DIR/...
//   probe-proc-pid-root-out PID DIR     creates /proc/PID/root/DIR/...
// /proc/PID/root is the root of PID's filesystem view; through another
// process's link, an agent would see (and write) that process's whole tree.
// The attempt: open(O_CREAT|O_EXCL) of .smol-escape-probe-PID in DIR seen
// through the link. ESCAPED: the file was created (it is left in place: the
// outside test checks it and removes DIR).
// Confined: BLOCKED: through /proc/self/root the agent sees only its own
// root, where DIR (a host dir outside its work dir) is missing (ENOENT) or
// read-only/denied (EROFS, EACCES; mount namespace, uid, Landlock); the
// daemon's PID is not in the agent's PID namespace (ENOENT), and the link
// of a process of another uid is denied (EACCES).
// Define: PROBE_TAKES_PID.
#include <fcntl.h>
#include <unistd.h>

#include "../probe.h"

int main(int argc, char** argv) {
#ifdef PROBE_TAKES_PID
  const char* pid = probe_arg(argc, argv, 1, NULL, "pid");
  const char* dir = probe_arg(argc, argv, 2, NULL, "directory outside the work dir");
#else
  const char* pid = "self";
  const char* dir = probe_arg(argc, argv, 1, NULL, "directory outside the work dir");
#endif
  char path[4096];
  snprintf(path, sizeof path, "/proc/%s/root/%s/.smol-escape-probe-%d", pid, dir, (int)getpid());
  int fd =
      (int)probe_try("open(O_CREAT)", open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600));
  close(fd);
  probe_escaped("created %s", path);
}
