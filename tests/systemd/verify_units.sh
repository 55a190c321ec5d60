#!/usr/bin/env bash
# Fails if systemd-analyze has anything at all to say about the units.
# With --expect-failure, passes only if it does (proof the check can fail).
set -u
expect_failure=false
if [ "${1:-}" = --expect-failure ]; then expect_failure=true; shift; fi
out=$(systemd-analyze verify --man=no "$@" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  $expect_failure && exit 0
  printf 'systemd-analyze verify %s:\n%s\n' "$*" "$out"
  exit 1
fi
$expect_failure && { echo "a broken unit passed verification"; exit 1; }
exit 0
