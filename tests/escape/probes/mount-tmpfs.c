// probe-mount-tmpfs [DIR=.]: mount a 16k tmpfs on DIR, then unmount it at
// once, so a run outside leaves no mount behind.
// ESCAPED: mount returned 0.
// Confined: killed, seccomp violation "mount" (always denied); behind it,
// no CAP_SYS_ADMIN.
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  const char* dir = probe_arg(argc, argv, 1, ".", "directory");
  probe_try("mount", syscall(SYS_mount, "smol-escape-probe", dir, "tmpfs",
                             MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k"));
  umount2(dir, MNT_DETACH);
  probe_escaped("mounted a tmpfs on %s (and unmounted it)", dir);
}
