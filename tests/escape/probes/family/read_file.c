// Family source of the probes that read a file they must not see. Built as:
//   probe-read-shadow [PATH=/etc/shadow]
//       Confined: BLOCKED EACCES: shadow is root:shadow 0640 and the agent's
//       uid is neither (wall: uid; Landlock would allow the read of /etc).
//   probe-read-state-file PATH      (a file in the daemon's state dir)
//       Confined: BLOCKED ENOENT: the state dir is not in the agent's root
//       (wall: mount namespace); EACCES if it were (uid, Landlock).
//   probe-read-proc-environ PID     (reads /proc/PID/environ)
//       Confined: BLOCKED ENOENT: PID is not in the agent's PID namespace.
//   probe-read-dev-kmsg [PATH=/dev/kmsg]   (the kernel log; a read takes one
//                                           whole record, hence 8 KiB)
//   probe-open-dev-mem [PATH=/dev/mem]     (physical memory; opened, never read)
//       Confined: BLOCKED ENOENT: the agent's /dev has only null zero full
//       random urandom tty (wall: mount namespace).
//   probe-read-kcore [PATH=/proc/kcore]    (kernel memory as an ELF core)
//       Confined: BLOCKED EACCES (0400 root in the fresh /proc; uid) or
//       ENOENT on a kernel without it.
// The attempt is open(O_RDONLY). ESCAPED: the open worked; it then reads up
// to PROBE_READ_BYTES bytes (0 for /dev/mem: opening is proof enough) and
// says how many it got. Defines: PROBE_PATH_FMT (printf format that turns
// the argument into the path), PROBE_DEFAULT_ARG (absent: the argument is
// required).
#include <fcntl.h>
#include <unistd.h>

#include "../probe.h"

#ifndef PROBE_PATH_FMT
#define PROBE_PATH_FMT "%s"
#endif
#ifndef PROBE_READ_BYTES
#define PROBE_READ_BYTES 64
#endif

int main(int argc, char** argv) {
  char path[4096];
  snprintf(path, sizeof path, PROBE_PATH_FMT,
           probe_arg(argc, argv, 1, PROBE_DEFAULT_ARG, "target"));
  // O_NONBLOCK: /dev/kmsg blocks when no record is new; regular files ignore it.
  int fd = (int)probe_try("open", open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  char buf[PROBE_READ_BYTES + 1];
  ssize_t n = PROBE_READ_BYTES > 0 ? read(fd, buf, PROBE_READ_BYTES) : 0;
  probe_escaped("opened %s for reading (read %zd bytes)", path, n);
}
