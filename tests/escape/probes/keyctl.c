// probe-keyctl: keyctl(KEYCTL_GET_KEYRING_ID) on the session keyring. Kernel
// keyrings are not namespaced: keys (credentials, tokens) of other processes
// of the same uid are reachable through them.
// ESCAPED: keyctl returned the keyring's id.
// Confined: killed, seccomp violation "keyctl" (always denied).
#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long id = probe_try("keyctl(KEYCTL_GET_KEYRING_ID)",
                      syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  probe_escaped("keyctl found the session keyring, id %ld", id);
}
