// probe.h: the reporting protocol every escape probe shares.
//
// A probe makes exactly one attempt at crossing a sandbox wall and reports
// it on stdout in one line, with an exit status the runner checks:
//   ESCAPED: <what it did>                          exit 0   the attempt worked
//   BLOCKED: <call>: <ERRNO_NAME> (<strerror>)      exit 10  the attempt failed
//   SETUP: <what went wrong>                        exit 20  a step before the
//                                                            attempt failed
// Being killed (seccomp, SIGSYS) prints nothing; the runner sees the signal.
//
// Probes that reach for something the kernel only lets root do harmlessly
// (reboot, modules, kexec, swap, acct) pass arguments the kernel rejects.
// Their ESCAPED means "the call reached the kernel's argument checks", which
// is already too far: confined, the call never gets past seccomp.
//
// Probes whose attempt is not a single call (counting processes, listing
// fds, a setuid bit that grants nothing) report a failed attempt as BLOCKED
// with the errno that names it best (ESRCH, EBADF, EPERM), as documented in
// each probe.
//
// Every probe makes its attempt even when a setup step could not find its
// target (a pid or path that does not exist inside the sandbox), so that a
// seccomp wall is still exercised there; such steps fall back, not give up.
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PROBE_ESCAPED = 0, PROBE_BLOCKED = 10, PROBE_SETUP = 20 };

// A family source (probes/family/) is built into several probes that differ
// in their default first argument, set per probe by CMake; without one, the
// argument is required.
#ifndef PROBE_DEFAULT_ARG
#define PROBE_DEFAULT_ARG NULL
#endif

// Prints "TAG: <message>" and exits with code. Use the two below.
static inline void probe_exit(int code, const char* tag, const char* fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static inline void probe_exit(int code, const char* tag, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s: ", tag);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  exit(code);
}

// The attempt worked: says what it did and exits 0.
#define probe_escaped(...) probe_exit(PROBE_ESCAPED, "ESCAPED", __VA_ARGS__)

// A step before the attempt failed: exits 20.
#define probe_setup(...) probe_exit(PROBE_SETUP, "SETUP", __VA_ARGS__)

// The attempt `call` failed with err: exits 10.
__attribute__((noreturn)) static inline void probe_blocked(const char* call, int err) {
  const char* name = strerrorname_np(err);
  probe_exit(PROBE_BLOCKED, "BLOCKED", "%s: %s (%s)", call, name ? name : "E?", strerror(err));
}

// For an attempt that returns -1 with errno: a failure ends the probe as
// BLOCKED, a success returns rc to the caller.
static inline long probe_try(const char* call, long rc) {
  if (rc < 0) probe_blocked(call, errno);
  return rc;
}

// For a reachability probe (see the top): rc >= 0, or one of the errnos in
// `reached` (0-terminated), means the kernel got as far as checking the
// arguments: ESCAPED. Any other errno is BLOCKED.
__attribute__((noreturn)) static inline void probe_reached(const char* call, long rc,
                                                           const int* reached) {
  int err = errno;
  if (rc >= 0) probe_escaped("%s returned %ld", call, rc);
  for (const int* e = reached; *e; ++e) {
    if (*e == err) {
      probe_escaped("%s reached the kernel's argument checks (%s)", call, strerrorname_np(err));
    }
  }
  probe_blocked(call, err);
}

// argv[i], or fallback when absent; with no fallback, a missing argument is
// a SETUP failure naming what was expected.
static inline const char* probe_arg(int argc, char** argv, int i, const char* fallback,
                                    const char* what) {
  if (i < argc) return argv[i];
  if (fallback) return fallback;
  probe_setup("usage: %s needs argument %d: %s", argv[0], i, what);
}

// A decimal or 0x-prefixed number from argv[i] (see probe_arg).
static inline long probe_num_arg(int argc, char** argv, int i, const char* what) {
  const char* s = probe_arg(argc, argv, i, NULL, what);
  char* end = NULL;
  long v = strtol(s, &end, 0);
  if (*s == '\0' || *end != '\0') probe_setup("%s: not a number: %s", what, s);
  return v;
}
