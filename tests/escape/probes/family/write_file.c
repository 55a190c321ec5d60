// Family source of the probes that write a kernel control file. Built as:
//   probe-write-cgroup FILE [VALUE=<own pid>]
//       e.g. FILE = some cgroup's cgroup.procs: the probe moves itself into
//       a cgroup of the host's choosing, out of its resource limits.
//       Confined: BLOCKED ENOENT (no /sys in the agent's root; mount
//       namespace), or EACCES/EROFS if it were there (uid, Landlock).
//   probe-write-proc-sys [FILE=/proc/sys/kernel/hostname]
//       Writes back the value it reads, so a run outside changes nothing.
//       Confined: BLOCKED EACCES (root-only file; uid, Landlock) or EROFS.
//   probe-sysrq-trigger [FILE=/proc/sysrq-trigger]
//       Writes 'h', the help key: the kernel only logs the list of keys.
//       No other key is safe to press outside. Confined: BLOCKED EACCES
//       (root-only file) or ENOENT (a kernel without magic SysRq).
// The attempt: open(FILE, O_WRONLY) and write(VALUE). ESCAPED: both worked.
// Defines: PROBE_DEFAULT_ARG; PROBE_FIXED_VALUE (a string) or PROBE_REWRITE
// (write back what was read), else VALUE from argv[2] or the probe's pid.
#include <fcntl.h>
#include <unistd.h>

#include "../probe.h"

int main(int argc, char** argv) {
  const char* path = probe_arg(argc, argv, 1, PROBE_DEFAULT_ARG, "file");
  char value[4096];
  ssize_t len;
#if defined(PROBE_FIXED_VALUE)
  len = snprintf(value, sizeof value, "%s", PROBE_FIXED_VALUE);
#elif defined(PROBE_REWRITE)
  int rfd = open(path, O_RDONLY | O_CLOEXEC);
  len = rfd < 0 ? -1 : read(rfd, value, sizeof value - 1);
  if (len <= 0) probe_setup("cannot read the current value of %s: %s", path, strerror(errno));
  value[len] = '\0';
  close(rfd);
#else
  char pid[16];
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  len = snprintf(value, sizeof value, "%s", probe_arg(argc, argv, 2, pid, "value"));
#endif
  int fd = (int)probe_try("open(O_WRONLY)", open(path, O_WRONLY | O_CLOEXEC));
  probe_try("write", write(fd, value, (size_t)len));
  probe_escaped("wrote %zd bytes (\"%.*s\") to %s", len, (int)strcspn(value, "\n"), value, path);
}
