// probe-setgroups: setgroups(0, NULL) as a raw syscall: changing the
// supplementary groups (e.g. dropping one that denies access).
// ESCAPED: setgroups returned 0.
// Confined: killed, seccomp violation "setgroups" (in no profile); behind
// it, no CAP_SETGID.
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  probe_try("setgroups", syscall(SYS_setgroups, 0, NULL));
  probe_escaped("setgroups(0, NULL) cleared the supplementary groups");
}
