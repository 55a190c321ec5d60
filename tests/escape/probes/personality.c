// probe-personality: personality(READ_IMPLIES_EXEC), which makes every
// readable mapping executable (and other flags disable ASLR).
// ESCAPED: the kernel accepted it (outside it changes only this process).
// Confined: killed, seccomp violation "personality" (only PER_LINUX and the
// 0xffffffff query are allowed).
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long old = probe_try("personality", syscall(SYS_personality, READ_IMPLIES_EXEC));
  probe_escaped("personality(READ_IMPLIES_EXEC) accepted (was %#lx)", old);
}
