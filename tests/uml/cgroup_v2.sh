#!/bin/sh
# cgroup v2 for real: boots user-mode-linux with systemd as PID 1 and the
# unified hierarchy (cpu io memory pids), and runs the cgroup test binary in
# the guest twice:
#   1. in the oneshot test service, not delegated: the base goes to
#      /sys/fs/cgroup/<base>, controllers enabled from the root down;
#   2. under `systemd-run -p Delegate=yes`: the test process moves itself
#      into <unit>/daemon and the base goes to <unit>/<base>.
# Both with SMOL_CGROUP_TEST_BACKEND=v2, so detecting anything else fails.
#
# The fallback of tests/vm/cgroup_v2_vm.sh (ctest cgroup2.v2_vm) where qemu
# is not installed; that VM runs these checks and more (recipe C).
#
# Usage: cgroup_v2.sh TEST_BINARY [GTEST_FILTER]
# Exit status: the guest's (0: both runs passed); 77 when user-mode-linux is
# not installed or cannot run on this CPU (ctest: skipped, saying why); 1 when
# the guest never reported for any other reason.
# Needs root (hostfs acts on the host as the calling user). Takes ~15 s for
# the boot plus the tests; the guest's output is printed at the end.
set -eu
BIN=$(readlink -f "$1")
FILTER=${2:-*}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v linux >/dev/null 2>&1; then
  echo "cgroup_v2.sh: user-mode-linux is not installed (apt-get install user-mode-linux)"
  exit 77
fi
DIR=$(mktemp -d /tmp/smol-uml-cgroup.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cp "$BIN" "$DIR/cgroup_test"
cat > "$DIR/run" <<EOT
#!/bin/sh
cd $DIR
echo "== guest: kernel \$(uname -r), /sys/fs/cgroup/cgroup.controllers: \$(cat /sys/fs/cgroup/cgroup.controllers)"
echo "== run 1: a plain service (no delegation)"
SMOL_CGROUP_TEST_BACKEND=v2 ./cgroup_test --gtest_filter='$FILTER'
one=\$?
echo "== run 2: systemd-run -p Delegate=yes"
systemd-run --quiet --pipe --wait -p Delegate=yes \
  --setenv=SMOL_CGROUP_TEST_BACKEND=v2 --setenv=SMOL_CGROUP_TEST_DELEGATED=1 \
  $DIR/cgroup_test --gtest_filter='$FILTER'
two=\$?
echo "== guest results: run 1 exit \$one, run 2 exit \$two"
[ \$one -eq 0 ] && [ \$two -eq 0 ]
EOT
chmod +x "$DIR/run"
start=$(date +%s)
timeout 600 linux mem=512M root=/dev/root rootfstype=hostfs rootflags=/ ro \
  init="$HERE/uml-init.sh" umltest.dir="$DIR" systemd.unified_cgroup_hierarchy=1 \
  con=null con0=fd:0,fd:1 uml_dir="$DIR/.uml" </dev/null >"$DIR/boot.log" 2>&1 || true
echo "cgroup_v2.sh: user-mode-linux ran $(( $(date +%s) - start )) s"
cat "$DIR/out.log" 2>/dev/null || true
if [ ! -f "$DIR/rc" ] && grep -q "ptrace set fp regs failed, errno = 14" "$DIR/boot.log"; then
  # Debian 12's UML kernel (6.1) sizes its FPU buffer without the host's AMX
  # state, and the host kernel refuses a short PTRACE_SETREGSET(NT_X86_XSTATE)
  # with EFAULT: init dies before anything runs. Nothing here can change that.
  echo "cgroup_v2.sh: user-mode-linux $(linux --version 2>/dev/null | head -n1) cannot run on this CPU:"
  echo "  its init died on 'ptrace set fp regs failed, errno = 14' (host xstate with AMX is larger"
  echo "  than the 6.1 UML kernel's FPU buffer); the cgroup v2 run needs another host or a newer UML"
  exit 77
fi
if [ ! -f "$DIR/rc" ]; then
  echo "cgroup_v2.sh: the guest failed before the test ran; its console:"
  tail -n 40 "$DIR/boot.log"
  exit 1
fi
exit "$(cat "$DIR/rc")"
