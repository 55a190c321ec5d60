// probe-setuid-root: run as a non-root user through a setuid-root copy of
// this program (the outside test makes one in a temp dir that is not
// mounted nosuid, and runs it as nobody). no_new_privs must make the
// setuid bit grant nothing.
// ESCAPED: euid is 0 while the real uid is not: the bit granted root.
// BLOCKED EPERM (the errno that says it best): euid is the real uid.
// SETUP: run by root itself, which proves nothing.
// Confined: BLOCKED EPERM (no_new_privs; the work dir may also be nosuid).
#include <unistd.h>

#include "probe.h"

int main(void) {
  uid_t uid = getuid(), euid = geteuid();
  if (uid == 0) probe_setup("run by root (uid 0): run me as another user through a setuid copy");
  if (euid != 0) probe_blocked("setuid-root exec (euid stayed the real uid)", EPERM);
  probe_escaped("the setuid bit made euid 0 (real uid %d)", (int)uid);
}
