#!/usr/bin/env bash
# swarmd as a real systemd service: boots a Debian container with systemd as
# PID 1 (systemd-nspawn), gives it exactly what `cmake --install` installs
# (binaries, unit files, sysusers.d and tmpfiles.d snippets, which the
# container's systemd applies at boot) and checks the service end to end,
# one PASS line per check:
#   a) Type=notify: `systemctl start` returns once the control socket answers;
#      the unit is active with swarmd's STATUS= text
#   b) a swarm (examples/hello.toml) comes up under the hardened unit, its
#      agents sandboxed (own uid, no capabilities, seccomp, own PID namespace);
#      Landlock and the seccomp listener work under it too
#   c) `systemctl stop` leaves no agent process behind
#   d) socket activation: the first `swarmctl status` starts the daemon, which
#      takes the socket from systemd (sd_listen_fds)
#   e) watchdog: a daemon whose loop stalls (the debug switch
#      SMOLSWARMS_DEBUG_STALL_LOOP_AFTER, supervisor/systemd_integration.h) is
#      killed and restarted by systemd, and the new one answers
#
# Usage: nspawn_service_test.sh BUILD_DIR     (as root)
#
# The container root is built once with debootstrap and cached at
# $SMOL_NSPAWN_ROOT (default /var/cache/nspawn-roots/bookworm-smol; built in
# a temporary directory and renamed into place, under a lock); delete it to
# rebuild. The container runs with --volatile=overlay, so the cached root is
# never written to. Libraries the binaries need that the minimal root lacks
# are bound read-only from this machine, the one they were built on.
# Needs: debootstrap, systemd-container (systemd-nspawn), util-linux
# (nsenter, flock), and the Debian mirror (SMOL_DEBIAN_MIRROR) on the first run.
#
# Everything it starts is found again by recorded pids and stopped at exit,
# and everything it makes is removed (the cached root stays).
set -euo pipefail

build=${1:?usage: nspawn_service_test.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SMOL_NSPAWN_ROOT:-/var/cache/nspawn-roots/bookworm-smol}
mirror=${SMOL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
name=smol-sd-$$
start_us=${EPOCHREALTIME/./}
# Messages go to fd 3, this script's stdout, so that they are seen even when
# they come from a command whose output is discarded (wait_for).
exec 3>&1

elapsed() {
  local ms=$(( (${EPOCHREALTIME/./} - start_us) / 1000 ))
  printf '%d.%03ds' $((ms / 1000)) $((ms % 1000))
}
say() { printf 'nspawn_service_test: [%7s] %s\n' "$(elapsed)" "$*" >&3; }
pass() { say "PASS $*"; }
check=""   # the check under way, for FAIL lines
fail() {
  printf 'nspawn_service_test: [%7s] FAIL %s%s\n' "$(elapsed)" "${check:+$check: }" "$*" >&3
  diagnostics >&3 2>&1 || true
  exit 1
}

for tool in debootstrap systemd-nspawn nsenter timeout flock ldd cmake; do
  command -v "$tool" >/dev/null ||
    fail "'$tool' is missing: install the Debian packages debootstrap, systemd-container and util-linux (scripts/setup does)"
done
[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, systemd-nspawn)"

work=""          # this run's temporary directory, /tmp/$name.XXXXXX
timeout_pid=""   # `timeout`, the parent of systemd-nspawn
nspawn_pid=""    # systemd-nspawn
pid1=""          # the container's PID 1 (its systemd), as seen from here
# What systemd-nspawn may create under /run that was not there before.
run_dirs=(/run/systemd/nspawn/propagate /run/systemd/nspawn/unix-export
          /run/systemd/nspawn/locks /run/systemd/nspawn /run/systemd)
declare -A run_dir_existed=()
for d in "${run_dirs[@]}"; do [ -e "$d" ] && run_dir_existed[$d]=1; done
# systemd-nspawn runs in cgroups of its own (in the unified hierarchy and in
# name=systemd, where they are writable), so that what it makes below them
# ("payload" for the container, "supervisor" for itself) cannot meet another
# container's, and all of it goes when they are removed at exit.
cg_parents=()    # where they go: below this process's cgroups
own_cgroups=()
cg_path() { sed -n "s/^[0-9]*:$1:\(.*\)/\1/p" /proc/self/cgroup; }
cg_parent() {    # MOUNT_POINT PATH_OF_THIS_PROCESS_THERE
  [ -n "$2" ] && [ -w "$1${2%/}" ] && cg_parents+=("$1${2%/}")
  return 0
}
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
  cg_parent /sys/fs/cgroup "$(cg_path '')"
else
  [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
    cg_parent /sys/fs/cgroup/unified "$(cg_path '')"
  [ "$(stat -fc %T /sys/fs/cgroup/systemd 2>/dev/null)" = cgroupfs ] &&
    cg_parent /sys/fs/cgroup/systemd "$(cg_path 'name=systemd')"
fi

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
# Waits up to $2 tenths of a second for pid $1 to end.
wait_gone() { local i; for ((i = 0; i < $2; i++)); do alive "$1" || return 0; sleep 0.1; done; ! alive "$1"; }
# Removes a cgroup and everything below it, once empty (a few tries: the
# container's last processes may still be being reaped).
remove_cgroup() {
  local i
  for ((i = 0; i < ${2:-30}; i++)); do
    find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
    [ -d "$1" ] || return 0
    sleep 0.1
  done
  return 1
}

cleanup() {
  local rc=$?
  set +e
  if alive "$nspawn_pid"; then
    # A clean halt first; then a first SIGTERM to systemd-nspawn halts the
    # container, a second one kills it.
    if alive "$pid1"; then
      timeout 5 nsenter -t "$pid1" -a systemctl poweroff >/dev/null 2>&1
      wait_gone "$nspawn_pid" 100
    fi
    for sig in TERM TERM KILL; do
      alive "$nspawn_pid" || break
      kill -"$sig" "$nspawn_pid" 2>/dev/null
      wait_gone "$nspawn_pid" 30
    done
  fi
  if [ -n "$timeout_pid" ]; then
    alive "$timeout_pid" && kill -TERM "$timeout_pid" 2>/dev/null
    wait "$timeout_pid" 2>/dev/null
  fi
  alive "$pid1" && kill -KILL "$pid1" 2>/dev/null   # not reached: dies with nspawn
  local cg
  for cg in "${own_cgroups[@]}"; do
    remove_cgroup "$cg" || say "could not remove the cgroup $cg"
  done
  rm -rf "/run/systemd/nspawn/propagate/$name" "/run/systemd/nspawn/unix-export/$name"
  for d in "${run_dirs[@]}"; do
    [ -n "${run_dir_existed[$d]:-}" ] || rmdir "$d" 2>/dev/null
  done
  [ -n "$work" ] && rm -rf "$work"
  [ $rc -eq 0 ] && say "PASS all (container $name gone, temporary files removed)"
  exit $rc
}
trap cleanup EXIT
interrupted() { printf 'nspawn_service_test: [%7s] FAIL interrupted by SIG%s\n' "$(elapsed)" "$1" >&3; exit "$2"; }
trap 'interrupted INT 130' INT
trap 'interrupted TERM 143' TERM
trap 'interrupted HUP 129' HUP
trap 'exit 141' PIPE   # output cut off (| head): still clean up

# What a run killed before it could clean up (SIGKILL, e.g. a ctest timeout)
# left behind, found by the pid in its name (smol-sd-PID) no longer running.
for d in /tmp/smol-sd-*.* /run/systemd/nspawn/propagate/smol-sd-* /run/systemd/nspawn/unix-export/smol-sd-* \
         $(for p in "${cg_parents[@]}"; do echo "$p"/smol-sd-*; done); do
  [ -e "$d" ] || continue
  pid=${d##*/smol-sd-}; pid=${pid%%.*}
  [[ $pid =~ ^[0-9]+$ ]] && ! alive "$pid" || continue
  case $d in
    /sys/fs/cgroup/*) remove_cgroup "$d" 1 || continue ;;   # still populated: left alone
    *) rm -rf "$d" ;;
  esac
  say "removed $d, left by an earlier run (pid $pid) that did not finish"
done

work=$(mktemp -d "/tmp/$name.XXXXXX")
for p in "${cg_parents[@]}"; do
  mkdir "$p/$name" && own_cgroups+=("$p/$name") || fail "cannot make the cgroup $p/$name"
done

# Runs a command inside the container, with a clean environment.
cx() {
  timeout "${CX_TIMEOUT:-30}" nsenter -t "$pid1" -a \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
# Polls CMD every 0.1 s until it succeeds, for at most SECONDS.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$(( ${EPOCHREALTIME/./} + seconds * 1000000 ))
  until "$@" >/dev/null 2>&1; do
    [ "${EPOCHREALTIME/./}" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.1
  done
}
prop() { cx systemctl show -p "$1" --value "${2:-swarmd.service}"; }
diagnostics() {
  if ! alive "$pid1"; then
    [ -s "$work/nspawn.log" ] && { echo "--- systemd-nspawn's output:"; tail -n 40 "$work/nspawn.log"; }
    return 0
  fi
  echo "--- systemctl status swarmd.service swarmd.socket:"
  CX_TIMEOUT=10 cx systemctl --no-pager -l status swarmd.service swarmd.socket 2>&1 | tail -n 40
  echo "--- journalctl -u swarmd.service -u swarmd.socket:"
  CX_TIMEOUT=10 cx journalctl --no-pager -o short-monotonic -u swarmd.service -u swarmd.socket 2>&1 |
    tail -n 60
}
indent() { sed 's/^/      | /'; }

# --- The container root, built once ------------------------------------------
root_ok() { [ -x "$cache/usr/lib/systemd/systemd" ] && [ -x "$cache/usr/bin/dbus-daemon" ]; }
build_root() {
  mkdir -p "$(dirname "$cache")"
  exec 9>"$cache.lock"
  timeout 900 flock 9 || fail "could not lock $cache.lock within 15 minutes"
  if root_ok; then exec 9>&-; return 0; fi   # another run built it while this one waited
  rm -rf "$cache".tmp.*   # left by a build that died (the lock is ours now)
  local tmp; tmp=$(mktemp -d "$cache.tmp.XXXXXX")
  chmod 755 "$tmp"   # it becomes the container's /
  say "building the container root with debootstrap from $mirror (once; about a minute)"
  if ! timeout 600 debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus \
         bookworm "$tmp" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&3
    rm -rf "$tmp"
    fail "debootstrap of bookworm from $mirror failed (is the mirror reachable?); its log's end is above"
  fi
  rm -rf "$cache"   # an incomplete one (it is only ever replaced whole)
  mv -T "$tmp" "$cache"
  exec 9>&-
  say "container root built"
}
root_ok || build_root
say "container root: $cache"

# --- What `cmake --install` installs, staged --------------------------------
stage=$work/stage
DESTDIR=$stage timeout 120 cmake --install "$build" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&3; fail "cmake --install $build failed"; }
unit=$(find "$stage" -path '*/lib/systemd/system/swarmd.service' | head -n 1)
[ -n "$unit" ] || fail "cmake --install put no swarmd.service under */lib/systemd/system"
prefix=${unit#"$stage"}; prefix=${prefix%/lib/systemd/system/swarmd.service}
case $prefix in
  /usr|/usr/local) ;;
  *) fail "install prefix $prefix: systemd looks for units under /usr/lib and /usr/local/lib only" ;;
esac
for f in lib/systemd/system/swarmd.socket lib/sysusers.d/smolswarms.conf lib/tmpfiles.d/smolswarms.conf; do
  [ -f "$stage$prefix/$f" ] || fail "cmake --install did not install $prefix/$f"
done
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ -x "$stage$exec_start" ] || fail "the installed unit's ExecStart=$exec_start is not an installed executable"
bindir=$(dirname "$exec_start")

binds=("--bind-ro=$src/examples:/opt/smolswarms-examples")
while IFS= read -r f; do
  binds+=("--bind-ro=$f:${f#"$stage"}")
done < <(find "$stage" -type f | sort)

# Libraries the installed binaries need that the minimal root lacks.
declare -A seen=()
for exe in "$stage$bindir"/*; do
  while IFS= read -r lib; do
    [ -n "${seen[$lib]:-}" ] && continue
    seen[$lib]=1
    in_root=$lib
    case $lib in /lib/*|/lib64/*) in_root=/usr$lib ;; esac
    [ -e "$cache$in_root" ] && continue
    binds+=("--bind-ro=$(readlink -f "$lib"):$in_root")
  done < <(ldd "$exe" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p')
done

# --- Boot ---------------------------------------------------------------------
# --private-network: the container gets a loopback of its own (swarmd's
# metrics port cannot clash with this machine's), and with it CAP_NET_ADMIN,
# which the sandbox needs to bring up each agent's loopback.
# --system-call-filter: nspawn's own seccomp allowlist lacks Landlock, and
# the agents must be able to use it (the strict profile requires it).
# `timeout` bounds the container's life even if this script is killed.
(
  for cg in "${own_cgroups[@]}"; do
    echo "$BASHPID" >"$cg/cgroup.procs" || { echo "cannot move into the cgroup $cg"; exit 1; }
  done
  exec timeout -k 5 300 systemd-nspawn -b -D "$cache" --volatile=overlay --register=no --keep-unit \
    --console=pipe -M "$name" --private-network \
    --system-call-filter='landlock_create_ruleset landlock_add_rule landlock_restrict_self' \
    "${binds[@]}"
) </dev/null >"$work/nspawn.log" 2>&1 3>&- &
timeout_pid=$!
find_pid1() {
  alive "$timeout_pid" || fail "systemd-nspawn exited at once; its output:"$'\n'"$(tail -n 20 "$work/nspawn.log")"
  nspawn_pid=$(pgrep -P "$timeout_pid") || return 1
  pid1=$(pgrep -P "$nspawn_pid" -x systemd) || return 1
}
wait_for "the container's systemd to start (systemd-nspawn's log: $work/nspawn.log)" 20 find_pid1
find_pid1
wait_for "the container's system manager" 20 nsenter -t "$pid1" -a test -S /run/systemd/private
state=$(CX_TIMEOUT=30 cx systemctl is-system-running --wait) || true
case $state in
  running|degraded) ;;
  *) fail "the container did not boot: is-system-running says '$state'" ;;
esac
say "container $name booted ($state); its PID 1 is pid $pid1 here"

# --- The snippets, applied by the container's systemd at boot ----------------
check="install"
cx getent group smolswarms >/dev/null ||
  fail "systemd-sysusers made no group 'smolswarms' from $prefix/lib/sysusers.d/smolswarms.conf at boot"
perms=$(cx stat -c '%n %a %U:%G' /var/lib/smolswarms /run/smolswarms | paste -sd, -) ||
  fail "systemd-tmpfiles made no /var/lib/smolswarms or /run/smolswarms at boot"
[ "$perms" = "/var/lib/smolswarms 750 root:smolswarms,/run/smolswarms 755 root:root" ] ||
  fail "systemd-tmpfiles made the directories as: $perms"
[ "$(prop FragmentPath)" = "$prefix/lib/systemd/system/swarmd.service" ] ||
  fail "swarmd.service is loaded from '$(prop FragmentPath)', not the installed unit"
pass "install: units loaded from $prefix/lib/systemd/system; group smolswarms (sysusers.d) and $perms (tmpfiles.d) made at boot"

# --- a) Type=notify: start returns once the socket answers, STATUS= ------------
check="a) Type=notify"
# Without swarmd.socket, which would queue a connection even for a daemon
# that is not ready yet: here swarmd binds the socket itself, so
# `swarmctl status` succeeds right after `systemctl start` only if READY=1
# came after the socket was listening.
cx systemctl mask --runtime --quiet swarmd.socket
t0=${EPOCHREALTIME/./}
cx systemctl start swarmd.service || fail "systemctl start swarmd.service failed"
t1=${EPOCHREALTIME/./}
out=$(cx swarmctl --timeout 2s status 2>&1) || fail "swarmctl status failed right after systemctl start returned: $out"
active=$(cx systemctl is-active swarmd.service) || fail "swarmd.service is '$active' after start"
status_text=$(prop StatusText)
[[ $status_text == "serving: "* ]] || fail "swarmd.service has no STATUS= text from swarmd: '$status_text'"
main_pid=$(prop MainPID)
grep -Eq "^pid +$main_pid\$" <<<"$out" || fail "swarmctl status answered from a pid other than MainPID $main_pid:"$'\n'"$out"
# The unit's hardening, as the kernel sees it on the daemon.
dst=$(cx cat "/proc/$main_pid/status")
capbnd=$(sed -n 's/^CapBnd:\s*//p' <<<"$dst")
cap_names=(chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap
  linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock ipc_owner sys_module
  sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin sys_boot sys_nice sys_resource sys_time
  sys_tty_config mknod lease audit_write audit_control setfcap mac_override mac_admin syslog
  wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore)
held=""
for i in "${!cap_names[@]}"; do
  (( (16#$capbnd >> i) & 1 )) && held+="cap_${cap_names[$i]} "
done
held=${held% }
want=$(prop CapabilityBoundingSet)
[ "$(tr ' ' '\n' <<<"$held" | sort | paste -sd' ')" = "$(tr ' ' '\n' <<<"$want" | sort | paste -sd' ')" ] ||
  fail "swarmd's bounding set is '$held', the unit says '$want'"
grep -Eq '^NoNewPrivs:\s+1$' <<<"$dst" && grep -Eq '^Seccomp:\s+2$' <<<"$dst" ||
  fail "swarmd runs without no_new_privs or systemd's seccomp filters"
mnt_ns=$(cx readlink "/proc/$main_pid/ns/mnt")
[ "$mnt_ns" != "$(cx readlink /proc/1/ns/mnt)" ] || fail "swarmd shares PID 1's mount namespace (no ProtectSystem=?)"
ro=$(cx sh -c "touch /proc/$main_pid/root/usr/.smol-rw-probe 2>&1; echo \$?")
[ "${ro##*$'\n'}" != 0 ] || fail "swarmd's /usr is writable (ProtectSystem=strict not in effect)"
say "swarmd runs with bounding set: $held; no_new_privs, seccomp, read-only /usr"
pass "a) Type=notify: systemctl start returned after $(( (t1 - t0) / 1000 )) ms, swarmctl status answered at once; $active, MainPID $main_pid, Status: \"$status_text\""

# --- b) a swarm under the hardened unit, its agents sandboxed ----------------
check="b) swarm"
out=$(cx swarmctl up /opt/smolswarms-examples/hello.toml 2>&1) || fail "swarmctl up examples/hello.toml: $out"
say "swarmctl up examples/hello.toml: $out"
ps_out=$(cx swarmctl ps hello) || fail "swarmctl ps hello failed"
say "swarmctl ps hello:"; indent <<<"$ps_out" >&3
ps_json=$(cx swarmctl --json ps hello) || fail "swarmctl --json ps hello failed"
ready=$(grep -o '"state":"ready"' <<<"$ps_json" | wc -l)
[ "$ready" -eq 4 ] || fail "swarmctl --json ps hello shows $ready agents ready, not 4: $ps_json"
mapfile -t agent_pids < <(grep -o '"pid":[0-9]*' <<<"$ps_json" | cut -d: -f2)
[ "${#agent_pids[@]}" -eq 4 ] || fail "swarmctl --json ps hello lists ${#agent_pids[@]} pids: $ps_json"

# Each pid with its start time (field 22 of /proc/PID/stat), so that c) can
# tell a leftover agent from a new process that got the same pid.
starttime() { cx sh -c 'set -- $(sed "s/.*) //" /proc/$0/stat) && echo ${20}' "$1"; }
declare -A agent_start=()
daemon_pidns=$(cx readlink "/proc/$main_pid/ns/pid")
for p in "${agent_pids[@]}"; do
  [ "$p" -gt 0 ] || fail "an agent has no pid: $ps_json"
  comm=$(cx cat "/proc/$p/comm") || fail "agent pid $p does not exist"
  [ "$comm" = smol-echo-agent ] || fail "pid $p is '$comm', not smol-echo-agent"
  agent_start[$p]=$(starttime "$p")
  cx grep -Eq ':/system\.slice/swarmd\.service(/.*)?$' "/proc/$p/cgroup" ||
    fail "agent $p is not in swarmd.service's cgroup: $(cx cat "/proc/$p/cgroup" | tr '\n' ' ')"
  st=$(cx cat "/proc/$p/status")
  grep -Eq '^Uid:\s+18790[0-9]{5}\s' <<<"$st" || fail "agent $p runs as: $(grep ^Uid: <<<"$st")"
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$st" || fail "agent $p lacks no_new_privs"
  grep -Eq '^Seccomp:\s+2$' <<<"$st" || fail "agent $p has no seccomp filter"
  grep -Eq '^CapBnd:\s+0+$' <<<"$st" || fail "agent $p kept capabilities: $(grep ^Cap <<<"$st" | tr '\n' ' ')"
  [ "$(cx readlink "/proc/$p/ns/pid")" != "$daemon_pidns" ] || fail "agent $p shares swarmd's PID namespace"
done

set +e
run_out=$(cx swarmctl run -- sh -c 'id -u; cat /etc/shadow' 2>&1); run_rc=$?
strict_out=$(cx swarmctl run --profile strict -- /bin/true 2>&1); strict_rc=$?
viol_out=$(cx swarmctl run --profile strict -- sh -c /bin/true 2>&1); viol_rc=$?
set -e
uid=$(head -n 1 <<<"$run_out")
{ [ "$run_rc" -eq 1 ] && [[ $uid =~ ^[0-9]+$ ]] && [ "$uid" -ge 1879048192 ] &&
  grep -q 'cat: /etc/shadow: Permission denied' <<<"$run_out"; } ||
  fail "swarmctl run -- sh -c 'id -u; cat /etc/shadow' (exit $run_rc):"$'\n'"$run_out"
[ "$strict_rc" -eq 0 ] ||
  fail "swarmctl run --profile strict -- /bin/true (Landlock required) exit $strict_rc: $strict_out"
{ [ "$viol_rc" -eq 137 ] && grep -q 'seccomp violation: vfork' <<<"$viol_out"; } ||
  fail "swarmctl run --profile strict -- sh -c /bin/true: exit $viol_rc, not a vfork violation: $viol_out"
pass "b) swarm hello up under the hardened unit: agents ${agent_pids[*]} ready, in swarmd.service's cgroup, own PID namespaces, uid >= 0x70000000, no capabilities, no_new_privs, seccomp; swarmctl run: uid $uid, /etc/shadow denied, Landlock-required profile runs, seccomp violation reported (vfork)"

# --- c) systemctl stop leaves no agent behind --------------------------------
check="c) stop"
cx systemctl stop swarmd.service || fail "systemctl stop swarmd.service failed"
result=$(prop Result)
[ "$result" = success ] || fail "swarmd.service stopped with Result=$result (swarmd should exit 0 on SIGTERM)"
for p in "${agent_pids[@]}"; do
  if cx test -e "/proc/$p" && [ "$(starttime "$p" 2>/dev/null)" = "${agent_start[$p]}" ]; then
    fail "agent pid $p outlived systemctl stop: $(cx cat "/proc/$p/comm" 2>/dev/null)"
  fi
done
# Nor anything else running as an agent uid (children of agents included).
left=$(cx sh -c 'for s in /proc/[0-9]*/status; do
  u=$(sed -n "s/^Uid:[[:space:]]*\([0-9]*\).*/\1/p" $s 2>/dev/null)
  [ -n "$u" ] && [ "$u" -ge 1879048192 ] && echo "${s%/status}"; done; true')
[ -z "$left" ] || fail "processes with agent uids left running: $left"
pass "c) systemctl stop: swarmd exited 0 (Result=success); none of agents ${agent_pids[*]} nor any other agent-uid process is left"

# --- d) socket activation -----------------------------------------------------
check="d) socket activation"
cx systemctl unmask --runtime --quiet swarmd.socket
cx systemctl start swarmd.socket || fail "systemctl start swarmd.socket failed"
[ "$(cx systemctl is-active swarmd.socket)" = active ] || fail "swarmd.socket is not listening"
! cx systemctl is-active --quiet swarmd.service || fail "swarmd.service is running before any connection"
status_json=$(cx swarmctl --timeout 20s --json status 2>&1) || fail "swarmctl status did not socket-activate swarmd: $status_json"
[ "$(cx systemctl is-active swarmd.service)" = active ] || fail "swarmd.service is not active after activation"
new_pid=$(prop MainPID)
grep -q "\"pid\":${new_pid}[,}]" <<<"$status_json" ||
  fail "swarmctl status answered from a pid other than MainPID $new_pid: $status_json"
took=$(cx journalctl --no-pager -o cat "_PID=$new_pid" | grep -c 'control socket /run/smolswarms/swarmd.sock (from systemd)') || true
[ "$took" -ge 1 ] || fail "swarmd (pid $new_pid) did not say it took the control socket from systemd"
ls_out=$(cx swarmctl ls)
grep -Eq '^hello +stopped' <<<"$ls_out" || fail "the new swarmd does not list swarm hello as stopped: $ls_out"
pass "d) socket activation: the first swarmctl status started swarmd.service (pid $new_pid), which took the socket from systemd (sd_listen_fds) and answered"

# --- e) the watchdog ---------------------------------------------------------
check="e) watchdog"
# A short WatchdogSec= through a drop-in, and the debug switch that stalls
# swarmd's event loop 5 s after start. The switch goes in a drop-in of its
# own, removed once this daemon has started, so that the daemon systemd
# restarts runs normally.
cx sh -c 'mkdir -p /run/systemd/system/swarmd.service.d &&
  printf "[Service]\nWatchdogSec=2s\n" >/run/systemd/system/swarmd.service.d/50-test-watchdog.conf &&
  printf "[Service]\nEnvironment=SMOLSWARMS_DEBUG_STALL_LOOP_AFTER=5s\n" >/run/systemd/system/swarmd.service.d/50-test-stall.conf'
cx systemctl daemon-reload
n0=$(prop NRestarts)
cx systemctl restart swarmd.service || fail "systemctl restart with WatchdogSec=2s failed"
t0=${EPOCHREALTIME/./}
wd_pid=$(prop MainPID)
cx rm /run/systemd/system/swarmd.service.d/50-test-stall.conf
cx systemctl daemon-reload
# A swarm, whose agents must not outlive the daemon that systemd kills.
cx swarmctl up /opt/smolswarms-examples/hello.toml >/dev/null || fail "swarmctl up before the stall failed"
mapfile -t wd_agents < <(cx swarmctl --json ps hello | grep -o '"pid":[0-9]*' | cut -d: -f2)
[ "${#wd_agents[@]}" -eq 4 ] || fail "swarmctl ps hello lists ${#wd_agents[@]} agent pids, not 4"
first_ping=$(prop WatchdogTimestampMonotonic)
pinged() { [ "$(prop WatchdogTimestampMonotonic)" != "$first_ping" ]; }
wait_for "a WATCHDOG=1 from swarmd" 3 pinged
# Healthy: still the same daemon more than two watchdog periods after start.
while [ $(( ${EPOCHREALTIME/./} - t0 )) -lt 4500000 ]; do sleep 0.1; done
{ [ "$(prop NRestarts)" = "$n0" ] && [ "$(prop MainPID)" = "$wd_pid" ]; } ||
  fail "swarmd was restarted while its loop was still running (WatchdogSec=2s): its pings are not reaching systemd"
cx swarmctl --timeout 2s status >/dev/null || fail "swarmd did not answer before the stall"
restarted() {
  local pid; pid=$(prop MainPID)
  [ "$(prop NRestarts)" -gt "$n0" ] && [ "$pid" != 0 ] && [ "$pid" != "$wd_pid" ] &&
    [ "$(cx systemctl is-active swarmd.service)" = active ]
}
wait_for "systemd to kill and restart the stalled swarmd (pid $wd_pid)" 20 restarted
t1=${EPOCHREALTIME/./}
new_pid=$(prop MainPID)
n1=$(prop NRestarts)
journal=$(cx journalctl --no-pager -o cat -u swarmd.service)
grep -q 'stalling the event loop now' <<<"$journal" || fail "swarmd never said it stalled its loop"
grep -q 'Watchdog timeout' <<<"$journal" || fail "swarmd was restarted, but not for a watchdog timeout:"$'\n'"$(tail -n 20 <<<"$journal")"
! cx test -e "/proc/$wd_pid" || fail "the stalled swarmd (pid $wd_pid) is still there"
for p in "${wd_agents[@]}"; do
  ! cx test -e "/proc/$p" || fail "agent $p of the killed swarmd outlived it"
done
out=$(cx swarmctl --timeout 5s status 2>&1) || fail "the restarted swarmd does not answer: $out"
grep -Eq "^pid +$new_pid\$" <<<"$out" || fail "swarmctl status answered from a pid other than MainPID $new_pid"
pass "e) watchdog: WATCHDOG=1 pings kept swarmd (pid $wd_pid) alive; its loop stalled at 5s (WatchdogSec=2s), systemd logged 'Watchdog timeout', killed it with its agents and restarted it $(( (t1 - t0) / 1000 )) ms after start: NRestarts $n0 -> $n1, new MainPID $new_pid answers"
check=""
