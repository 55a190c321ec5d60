// probe-bpf: bpf(BPF_MAP_CREATE), a one-entry array map. The bpf syscall is
// the way to the kernel's BPF verifier and JIT, a classic exploit target.
// ESCAPED: bpf returned a map fd.
// Confined: killed, seccomp violation "bpf" (always denied).
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  union bpf_attr attr = {0};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = probe_try("bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  probe_escaped("bpf made an array map, fd %ld", fd);
}
