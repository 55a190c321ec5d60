// probe-process-vm-readv PID ADDR [LEN=16]: read another process's memory
// without attaching to it. The outside test passes the address of a known
// string in its peer process and checks that the probe printed it.
// ESCAPED: process_vm_readv returned bytes (printed, non-printables as '.').
// Confined: killed, seccomp violation "process_vm_readv" (always denied).
#include <ctype.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  long pid = probe_num_arg(argc, argv, 1, "pid");
  long addr = probe_num_arg(argc, argv, 2, "address in that process");
  char buf[256];
  long len = argc > 3 ? probe_num_arg(argc, argv, 3, "length") : 16;
  if (len <= 0 || len >= (long)sizeof buf) probe_setup("length out of range: %ld", len);
  struct iovec local = {buf, (size_t)len};
  struct iovec remote = {(void*)addr, (size_t)len};
  long n =
      probe_try("process_vm_readv", syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0));
  for (long i = 0; i < n; ++i) buf[i] = isprint((unsigned char)buf[i]) ? buf[i] : '.';
  probe_escaped("read %ld bytes from pid %ld at %#lx: \"%.*s\"", n, pid, addr, (int)n, buf);
}
