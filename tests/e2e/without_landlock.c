// without_landlock PROGRAM ARGS...: runs PROGRAM as on a kernel without
// Landlock. A seccomp filter makes the three landlock_* system calls fail
// with ENOSYS, which is what such a kernel answers, for PROGRAM and
// everything it starts; every other call is untouched.
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: without_landlock PROGRAM ARGS...\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  const char* calls[] = {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"};
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; ++i) {
    int nr = seccomp_syscall_resolve_name(calls[i]);
    int rc = ctx == NULL ? -EINVAL : seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
    if (nr == __NR_SCMP_ERROR || rc != 0) {
      fprintf(stderr, "without_landlock: cannot filter %s: %s\n", calls[i], strerror(-rc));
      return 1;
    }
  }
  int rc = seccomp_load(ctx);
  if (rc != 0) {
    fprintf(stderr, "without_landlock: seccomp_load: %s\n", strerror(-rc));
    return 1;
  }
  seccomp_release(ctx);
  execv(argv[1], argv + 1);
  fprintf(stderr, "without_landlock: execv(%s): %s\n", argv[1], strerror(errno));
  return 127;
}
