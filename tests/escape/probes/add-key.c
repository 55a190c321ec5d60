// probe-add-key: add_key, a key in the probe's process keyring (it goes
// away when the probe exits, so a run outside leaves nothing).
// ESCAPED: add_key returned a key id.
// Confined: killed, seccomp violation "add_key" (always denied).
#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.h"

int main(void) {
  long id = probe_try("add_key", syscall(SYS_add_key, "user", "smol-escape-probe", "x", 1,
                                         KEY_SPEC_PROCESS_KEYRING));
  probe_escaped("add_key made key %ld in the process keyring", id);
}
