// probe-ptrace PID: attach to another process as its debugger
// (PTRACE_SEIZE: attaches without stopping it; the kernel detaches when
// the probe exits). A tracer reads and writes the tracee's memory and
// registers: everything that process may do, the tracer may.
// ESCAPED: PTRACE_SEIZE returned 0.
// Confined: killed, seccomp violation "ptrace" (always denied). Behind it:
// the PID namespace (the pid is not there) and the uid.
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(int argc, char** argv) {
  long pid = probe_num_arg(argc, argv, 1, "pid");
  probe_try("ptrace(PTRACE_SEIZE)", syscall(SYS_ptrace, PTRACE_SEIZE, pid, 0, 0));
  probe_escaped("PTRACE_SEIZE attached to pid %ld", pid);
}
