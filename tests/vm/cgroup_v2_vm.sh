#!/usr/bin/env bash
# cgroup v2 for real (recipe C of TEST-ENVIRONMENTS.md): boots a qemu virtual
# machine, a Debian 12 root with its own kernel and systemd as PID 1 on the
# unified hierarchy (cpu io memory pids), and runs tests/vm/guest_checks.sh
# in it as a oneshot service:
#   1a. cgroup_node_test in that plain service (SMOL_CGROUP_TEST_BACKEND=v2)
#   1b. cgroup_node_test under `systemd-run -p Delegate=yes`
#       (+ SMOL_CGROUP_TEST_DELEGATED=1): it moves itself to <unit>/daemon
#   2a. the e2e limits_test (swarmd, swarmctl and real agents) on v2
#   2b. the installed swarmd.service (what `cmake --install` puts out, with
#       its sysusers.d and tmpfiles.d snippets): Delegate= gives swarmd the
#       controllers and `swarmctl status` says so, agents are cloned straight
#       into their cgroups (CLONE_INTO_CGROUP, seen with strace), a memory
#       hog's exit is `oom`, a fork bomb stops at its pids limit, stop
#       leaves no cgroup behind
# The guest prints one PASS or FAIL line per check; its output is printed
# here. Exit status: the guest's (0: every check passed); 1 when the guest
# never reported; 77 (ctest: skipped) only through the fallback below.
#
# The CPU: KVM where /dev/kvm comes from kvm_intel or kvm_amd (far
# faster); else qemu's emulation (TCG), e.g. on hosts whose /dev/kvm is
# kvm_pvm, which cannot run a stock kernel (see below). Under emulation the
# two 1000-cycle leak loops are trimmed (guest_checks.sh; SMOL_VM_FULL=1
# runs them whole). SMOL_VM_ACCEL=kvm|tcg forces a choice.
# Without qemu-system-x86_64 this runs tests/uml/cgroup_v2.sh instead
# (recipe A: checks 1a and 1b only), which exits 77 saying why when
# user-mode-linux cannot run either.
#
# Usage: cgroup_v2_vm.sh BUILD_DIR      (as root; BUILD_DIR has bin/ built)
#
# The image is built once (about 2 minutes: debootstrap from
# $SMOL_DEBIAN_MIRROR, default http://deb.debian.org/debian) and cached in
# $SMOL_VM_CACHE (default /var/cache/smolswarms-vm), in a directory named by
# a hash of what went into it: the packages (the base ones and those holding
# the libraries the built binaries link, by ldd and dpkg -S) and the files
# of tests/vm/image/. A change of either builds a new one and removes the
# old. It is built in a temporary directory and renamed into place under an
# exclusive lock; runs hold the lock shared. The guest's root disk is opened
# with snapshot=on, so the image is never written to. `rm -rf` the cache
# to discard it.
#
# The build directory is shared with the guest read-only over 9p and mounted
# at the same path (the test binaries know their bin dir by absolute path),
# a fresh directory read-write for the results. The VM has no network
# device. Everything is bounded by timeouts, and at exit the VM (by its
# recorded pid) and the temporary directory are gone.
set -euo pipefail

build=${1:?usage: cgroup_v2_vm.sh BUILD_DIR}
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cache=${SMOL_VM_CACHE:-/var/cache/smolswarms-vm}
mirror=${SMOL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
vm_timeout=${SMOL_VM_TIMEOUT:-600}   # seconds, boot to power-off
start_us=${EPOCHREALTIME/./}

elapsed() {
  local ms=$(( (${EPOCHREALTIME/./} - start_us) / 1000 ))
  printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}
say() { printf 'cgroup_v2_vm: [%8s] %s\n' "$(elapsed)" "$*"; }
fail() { printf 'cgroup_v2_vm: [%8s] FAIL %s\n' "$(elapsed)" "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, KVM, 9p as root in the guest)"

# --- KVM, plain emulation, or user-mode-linux --------------------------------
# KVM needs a hypervisor module that runs an unmodified kernel: kvm_intel or
# kvm_amd. A host that offers /dev/kvm through kvm_pvm (pagetable-based
# virtualization, as in some cloud sandboxes) runs only guests built for
# PVM: a stock kernel there crawls through the instruction emulator until it
# hits an instruction that has none (cmpxchg16b, xrstor: "KVM internal
# error. Suberror: 1"). There, and without /dev/kvm, qemu emulates the CPU
# (TCG), which boots this image to the test in 15-35 s. SMOL_VM_ACCEL=kvm|tcg forces
# a choice. Without qemu: user-mode-linux (cgroup_node_test only).
uml_fallback() {
  say "$1: running the user-mode-linux recipe instead (checks 1a and 1b only)"
  exec "$here/../uml/cgroup_v2.sh" "$build/bin/cgroup_node_test"
}
accel=${SMOL_VM_ACCEL:-}
accel_why="SMOL_VM_ACCEL=$accel"
if [ -z "$accel" ]; then
  accel=tcg
  if [ ! -e /dev/kvm ]; then
    accel_why="no /dev/kvm"
  elif ! ( exec 8<>/dev/kvm ) 2>/dev/null; then
    accel_why="/dev/kvm cannot be opened read-write"
  elif [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; then
    accel=kvm accel_why="/dev/kvm from $( [ -d /sys/module/kvm_intel ] && echo kvm_intel || echo kvm_amd)"
  elif [ -d /sys/module/kvm_pvm ]; then
    accel_why="/dev/kvm is kvm_pvm, which runs PVM-built guest kernels only"
  else
    accel_why="/dev/kvm comes from neither kvm_intel nor kvm_amd"
  fi
fi
# shellcheck disable=SC2054  # the commas are qemu's
case $accel in
  kvm) accel_opts=(-machine q35,accel=kvm -cpu host) ;;
  tcg) accel_opts=(-machine q35 -accel tcg,thread=multi -cpu max) ;;
  *) fail "SMOL_VM_ACCEL=$accel: kvm or tcg" ;;
esac
command -v qemu-system-x86_64 >/dev/null ||
  uml_fallback "qemu-system-x86_64 is not installed (Debian package qemu-system-x86; scripts/setup installs it)"

for tool in debootstrap mkfs.ext4 flock timeout ldd dpkg cmake sha256sum; do
  command -v "$tool" >/dev/null ||
    fail "'$tool' is missing: install the Debian packages qemu-system-x86, debootstrap, e2fsprogs, util-linux (scripts/setup does)"
done
for b in swarmd swarmctl smol-echo-agent smol-load-agent cgroup_node_test limits_test; do
  [ -x "$build/bin/$b" ] || fail "$build/bin/$b is not built"
done

work=$(mktemp -d /tmp/smol-vm.XXXXXX)
ctl=$work/ctl   # the guest's read-write window: run, env, stage/ in; out.log, rc out
mkdir "$ctl"
timeout_pid=""  # `timeout`, the parent of qemu
qemu_pid=""     # qemu, from its -pidfile
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
wait_gone() { local i; for ((i = 0; i < $2; i++)); do alive "$1" || return 0; sleep 0.1; done; ! alive "$1"; }
cleanup() {
  local rc=$?
  set +e
  [ -z "$qemu_pid" ] && [ -s "$work/qemu.pid" ] && qemu_pid=$(cat "$work/qemu.pid")
  if alive "$timeout_pid"; then
    kill -TERM "$timeout_pid" 2>/dev/null   # timeout passes it on to qemu
    wait_gone "$timeout_pid" 50
  fi
  if alive "$qemu_pid" && [ "$(cat "/proc/$qemu_pid/comm" 2>/dev/null)" = qemu-system-x86 ]; then
    kill -KILL "$qemu_pid" 2>/dev/null
    wait_gone "$qemu_pid" 50
  fi
  [ -n "$timeout_pid" ] && wait "$timeout_pid" 2>/dev/null
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'say "interrupted (SIGINT)"; exit 130' INT
trap 'say "interrupted (SIGTERM)"; exit 143' TERM

# --- The image ------------------------------------------------------------------
# What the guest needs beyond minbase: a kernel and initramfs (virtio and 9p
# are modules), systemd and D-Bus (systemd-run --wait), and for the checks
# jq (swarmctl --json), strace (CLONE_INTO_CGROUP), procps.
base_packages=(systemd systemd-sysv dbus udev kmod linux-image-amd64 initramfs-tools
               procps jq strace)
# The Debian packages that hold the libraries the binaries under test link.
lib_packages() {
  local exe lib cand pkg
  declare -A seen=()
  for exe in swarmd swarmctl smol-echo-agent smol-load-agent cgroup_node_test limits_test; do
    while IFS= read -r lib; do
      [ -n "${seen[$lib]:-}" ] && continue
      seen[$lib]=1
      pkg=""
      for cand in "$lib" "$(readlink -f "$lib")" "/usr$lib" "${lib#/usr}"; do
        pkg=$(dpkg -S "$cand" 2>/dev/null | head -n 1 | cut -d: -f1) && [ -n "$pkg" ] && break
      done
      if [ -z "$pkg" ]; then
        echo "no Debian package holds $lib (ldd $build/bin/$exe); the VM image has only packaged libraries" >&2
        return 1
      fi
      echo "$pkg"
    done < <(ldd "$build/bin/$exe" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')
  done | sort -u
}
lib_packages >"$work/lib-packages" 2>"$work/lib-packages.err" ||
  fail "$(cat "$work/lib-packages.err")"
[ -s "$work/lib-packages" ] || fail "could not list the binaries' libraries with ldd"
mapfile -t packages < <(sort -u <(printf '%s\n' "${base_packages[@]}") "$work/lib-packages")
image_files=("$here/image/smol-vm-runner" "$here/image/smol-vm-test.service")
key=$( { echo bookworm; printf '%s\n' "${packages[@]}"; cat "${image_files[@]}"; } | sha256sum | cut -c1-16)
image=$cache/bookworm-$key

image_ok() { [ -f "$image/ok" ] && [ -s "$image/root.img" ] && [ -s "$image/vmlinuz" ] && [ -s "$image/initrd.img" ]; }
build_image() {
  local tmp root used t0=${EPOCHREALTIME/./}
  rm -rf "$cache"/tmp.*   # left by a build that died (the lock is ours)
  tmp=$(mktemp -d "$cache/tmp.XXXXXX")
  root=$tmp/root
  say "building the VM image with debootstrap from $mirror (once; about 2 minutes): ${packages[*]}"
  if ! timeout 1200 debootstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
         bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log"
    rm -rf "$tmp"
    fail "debootstrap of bookworm from $mirror failed (is the mirror reachable?); its log's end is above"
  fi
  install -m 0755 "$here/image/smol-vm-runner" "$root/usr/local/sbin/smol-vm-runner"
  install -m 0644 "$here/image/smol-vm-test.service" "$root/etc/systemd/system/smol-vm-test.service"
  echo smol-vm >"$root/etc/hostname"
  local u
  for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
           fstrim.timer systemd-timesyncd.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
  done
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  set -- "$root"/boot/vmlinuz-*
  [ $# -eq 1 ] && [ -f "$1" ] || fail "the image has no single kernel in /boot: $*"
  cp "$1" "$tmp/vmlinuz"
  cp "$root/boot/initrd.img-${1##*/vmlinuz-}" "$tmp/initrd.img" ||
    fail "the image has no initramfs for ${1##*/}"
  # Room for the checks' own writes (state dirs, logs); they go to a
  # snapshot file anyway, never to this image.
  used=$(du -sxm "$root" | cut -f1)
  truncate -s $(( used + used / 4 + 1024 ))M "$tmp/root.img"
  mkfs.ext4 -q -F -L smol-vm-root -d "$root" "$tmp/root.img" >"$work/mkfs.log" 2>&1 ||
    { cat "$work/mkfs.log"; fail "mkfs.ext4 -d failed"; }
  rm -rf "$root"
  printf '%s\n' "${packages[@]}" >"$tmp/packages"
  echo "${1##*/vmlinuz-}" >"$tmp/kernel"
  touch "$tmp/ok"
  rm -rf "$image"   # an incomplete one (it is only ever replaced whole)
  mv -T "$tmp" "$image"
  # Older images (other keys): nobody uses them, the lock is exclusive.
  local old
  for old in "$cache"/bookworm-*; do
    [ "$old" = "$image" ] || { say "removing the outdated image $old"; rm -rf "$old"; }
  done
  say "VM image built in $(( (${EPOCHREALTIME/./} - t0) / 1000000 )) s: $image ($(du -sh --apparent-size "$image/root.img" | cut -f1) disk, $(du -sh "$image/root.img" | cut -f1) used)"
}
mkdir -p "$cache"
exec 9>"$cache/lock"
if ! image_ok; then
  timeout 1500 flock -x 9 || fail "could not lock $cache/lock within 25 minutes"
  image_ok || build_image   # another run may have built it while this one waited
fi
# Shared while the VM runs: a build of another image waits until it is off.
timeout 1500 flock -s 9 || fail "could not lock $cache/lock (shared) within 25 minutes"
image_ok || fail "the image $image vanished"
say "VM image: $image (kernel $(cat "$image/kernel"))"

# --- What the guest gets ----------------------------------------------------------
# What `cmake --install` installs, staged; the guest copies it to / and lets
# systemd apply the sysusers.d and tmpfiles.d snippets.
DESTDIR=$ctl/stage timeout 120 cmake --install "$build" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; fail "cmake --install $build failed"; }
# SMOL_VM_GUEST_SCRIPT: another script to run in the guest (for debugging).
cp "${SMOL_VM_GUEST_SCRIPT:-$here/guest_checks.sh}" "$ctl/run"
chmod 0755 "$ctl/run"
# FULL=0: the guest trims the long leak loops (emulated CPU, see guest_checks.sh).
full=1
[ "$accel" = kvm ] || full=${SMOL_VM_FULL:-0}
printf 'BUILD=%q\nACCEL=%q\nFULL=%q\n' "$build" "$accel" "$full" >"$ctl/env"

# --- Boot -------------------------------------------------------------------------
append="root=/dev/vda rw console=ttyS0 panic=-1 noresume loglevel=4"
append+=" systemd.unified_cgroup_hierarchy=1 systemd.unit=smol-vm-test.service"
say "booting: qemu-system-x86_64 ${accel_opts[*]} -m 1G -smp 2 ($accel_why), kernel $(basename "$image")/vmlinuz, root.img snapshot=on, $build read-only over 9p; timeout ${vm_timeout}s"
boot_us=${EPOCHREALTIME/./}
# TMPDIR: where qemu puts the snapshot file (unlinked at once).
TMPDIR=$work timeout -k 5 "$vm_timeout" qemu-system-x86_64 \
  -name smol-vm "${accel_opts[@]}" -m 1G -smp 2 \
  -nodefaults -no-user-config -nic none -display none -monitor none -no-reboot \
  -serial "file:$work/console.log" -pidfile "$work/qemu.pid" \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$append" \
  -drive "file=$image/root.img,if=virtio,format=raw,snapshot=on" \
  -virtfs "local,path=$ctl,mount_tag=ctl,security_model=none" \
  -virtfs "local,path=$build,mount_tag=build,security_model=none,readonly=on" \
  </dev/null >"$work/qemu.log" 2>&1 &
timeout_pid=$!
set +e
wait "$timeout_pid"
qrc=$?
set -e
timeout_pid=""
secs=$(( (${EPOCHREALTIME/./} - boot_us) / 1000000 ))

say "the VM ran ${secs} s (qemu exit $qrc$([ $qrc -eq 124 ] && echo ": killed at the ${vm_timeout}s timeout")); the guest's output:"
cat "$ctl/out.log" 2>/dev/null || true
if [ ! -f "$ctl/rc" ]; then
  [ -s "$work/qemu.log" ] && { echo "--- qemu's output:"; tail -n 20 "$work/qemu.log"; }
  echo "--- the guest's console (last 60 lines):"
  tail -n 60 "$work/console.log" 2>/dev/null || true
  fail "the guest never reported an exit status"
fi
rc=$(cat "$ctl/rc")
if [ "$rc" = 0 ]; then
  say "PASS: every check passed in the guest (VM ${secs} s)"
else
  say "FAIL: the guest's checks exited $rc (VM ${secs} s)"
fi
exit "$rc"
