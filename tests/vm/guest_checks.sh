#!/bin/bash
# The checks tests/vm/cgroup_v2_vm.sh runs inside its VM: systemd is PID 1,
# the unified hierarchy carries the controllers, and this script is the
# oneshot smol-vm-test.service (not delegated). One PASS or FAIL line per
# check; the exit status is 0 only if all passed. Its directory is the
# host's 9p share "ctl": env (BUILD=, the host's build dir), stage/ (what
# `cmake --install` installs); the build dir is mounted read-only at the
# same path as on the host.
set -u
ctl=$(cd "$(dirname "$0")" && pwd)
. "$ctl/env"
bin=$BUILD/bin
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8

say() { printf '[%7s] %s\n' "$(awk '{printf "%.1fs", $1}' /proc/uptime)" "$*"; }
failed=()
pass() { say "PASS $*"; }
fail() { say "FAIL $1: ${*:2}"; failed+=("$1"); }
indent() { sed 's/^/      | /'; }

# cache=loose: with 9p's default (cache=none) every lookup makes a new inode,
# and swarmd's sandbox then refuses to exec an agent program from the share
# (execve: EACCES), its path rules no longer matching the file. The share is
# read-only and does not change during the run, so caching is safe.
mkdir -p "$BUILD"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose build "$BUILD"; then
  say "FAIL cannot mount the host's build dir (9p share 'build') at $BUILD"
  exit 1
fi
controllers=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
say "guest: Linux $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) MiB," \
    "$(systemctl --version | head -n 1), PID 1 is $(cat /proc/1/comm)"
say "/sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup); cgroup.controllers: $controllers;" \
    "v1 hierarchies mounted: $(awk '$3 == "cgroup"' /proc/mounts | wc -l);" \
    "this service's cgroup: $(sed -n 's/^0:://p' /proc/self/cgroup)"
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  say "FAIL the guest did not boot with the unified hierarchy"
  exit 1
fi
for c in cpu memory pids; do
  [[ " $controllers " == *" $c "* ]] || { say "FAIL the unified hierarchy lacks the $c controller"; exit 1; }
done

# Under an emulated CPU (ACCEL=tcg) a spawn costs about 200 ms, not 2:
# unless FULL=1 the leak loops run shorter there (cgroup_node_test's 1000
# create-place-kill-remove cycles: 200) or not at all (limits_test's 1000
# `swarmctl run`s, 3.5 minutes emulated). With KVM everything runs in full.
# Cgroups.OnV1* are about v1's hierarchies, which this guest does not mount.
cycles=1000 limits_filter='-Cgroups.OnV1*'
if [ "${FULL:-1}" != 1 ]; then
  cycles=200 limits_filter='-Cgroups.OnV1*:Cgroups.AThousandRunsLeaveNoCgroupAndNoFdBehind'
  say "NOTE: CPU emulated ($ACCEL): cgroup_node_test's leak loop runs $cycles cycles, limits_test runs without Cgroups.AThousandRunsLeaveNoCgroupAndNoFdBehind (SMOL_VM_FULL=1: all)"
fi

# --- 1. cgroup_node_test, plain and delegated ---------------------------------
# Which tests passed and were skipped, from gtest's output in $1.
oks() { sed -n 's/^\[       OK \] \([^ ]*\).*/\1/p' "$1" | paste -sd' '; }
skips() { sed -n 's/^\[  SKIPPED \] \([^ ]*\.[^ ]*\).*/\1/p' "$1" | sort -u | paste -sd' '; }
require_ok() {   # check log test...
  local check=$1 log=$2 t missing=()
  shift 2
  for t; do grep -q "^\[       OK \] CgroupNodeTest\.$t " "$log" || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] || fail "$check" "did not run and pass: ${missing[*]}"
  [ ${#missing[@]} -eq 0 ]
}

say "== 1a. cgroup_node_test in a plain service (SMOL_CGROUP_TEST_BACKEND=v2)"
SMOL_CGROUP_TEST_BACKEND=v2 SMOL_CGROUP_TEST_CYCLES=$cycles timeout 300 "$bin/cgroup_node_test" >/tmp/1a.log 2>&1
rc=$?
indent </tmp/1a.log
if [ $rc -ne 0 ]; then
  fail 1a "cgroup_node_test exited $rc"
elif require_ok 1a /tmp/1a.log Clone3PutsTheChildStraightIntoTheCgroup \
       AMemoryHogIsOomKilledAndTheWatchSaysSo ForkFailsAtThePidsLimitAndTheHitIsCounted; then
  pass "1a: cgroup_node_test, plain service: $(grep -c '^\[       OK \]' /tmp/1a.log) passed, skipped: $(skips /tmp/1a.log)"
fi

# The leak loop ran in 1a; 100 cycles here.
say "== 1b. cgroup_node_test under systemd-run -p Delegate=yes (SMOL_CGROUP_TEST_DELEGATED=1)"
timeout 300 systemd-run --quiet --pipe --wait --collect -p Delegate=yes \
  --setenv=SMOL_CGROUP_TEST_BACKEND=v2 --setenv=SMOL_CGROUP_TEST_DELEGATED=1 \
  --setenv=SMOL_CGROUP_TEST_CYCLES=100 \
  "$bin/cgroup_node_test" >/tmp/1b.log 2>&1
rc=$?
indent </tmp/1b.log
if [ $rc -ne 0 ]; then
  fail 1b "cgroup_node_test under systemd-run exited $rc"
elif require_ok 1b /tmp/1b.log Clone3PutsTheChildStraightIntoTheCgroup \
       UnderSystemdTheDaemonMovesToALeafAndDelegatesControllers; then
  pass "1b: cgroup_node_test, delegated: $(grep -c '^\[       OK \]' /tmp/1b.log) passed, skipped: $(skips /tmp/1b.log)"
fi

# --- 2a. the e2e limits test -----------------------------------------------------
say "== 2a. limits_test (swarmd, swarmctl, smol-load-agent from $bin) in the plain service"
timeout 600 "$bin/limits_test" --gtest_filter="$limits_filter" >/tmp/2a.log 2>&1
rc=$?
indent </tmp/2a.log
if [ $rc -ne 0 ]; then
  fail 2a "limits_test exited $rc"
elif grep -q '^\[  SKIPPED \]' /tmp/2a.log; then
  fail 2a "limits_test skipped: $(skips /tmp/2a.log)"
else
  pass "2a: limits_test: $(grep -c '^\[       OK \]' /tmp/2a.log) passed on cgroup v2"
fi

# --- 2b. the installed swarmd.service, delegated -------------------------------
say "== 2b. the installed swarmd.service (Delegate=yes) and swarmctl"
check=2b
journal() {
  echo "--- journalctl -u swarmd.service:"
  journalctl --no-pager -o short-monotonic -u swarmd.service 2>&1 | tail -n 40 | indent
}
service_checks() {
  local unit prefix exec_start unit_cg main status out

  cp -a "$ctl/stage/." / || { fail $check "cannot copy the staged install to /"; return; }
  unit=$(ls /usr/local/lib/systemd/system/swarmd.service /usr/lib/systemd/system/swarmd.service 2>/dev/null | head -n 1)
  [ -n "$unit" ] || { fail $check "cmake --install put no swarmd.service under /usr{,/local}/lib/systemd/system"; return; }
  prefix=${unit%/lib/systemd/system/swarmd.service}
  systemd-sysusers "$prefix/lib/sysusers.d/smolswarms.conf" &&
    systemd-tmpfiles --create "$prefix/lib/tmpfiles.d/smolswarms.conf" &&
    systemctl daemon-reload || { fail $check "sysusers, tmpfiles or daemon-reload failed"; return; }
  exec_start=$(systemctl show -p ExecStart --value swarmd.service | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
  say "unit $unit (ExecStart $exec_start; Delegate=$(systemctl show -p Delegate --value swarmd.service))"
  # Agents' programs where the hardened unit can see them (PrivateTmp hides
  # the build dir when it lies under /tmp).
  install -D -m 0755 "$bin/smol-load-agent" /usr/local/libexec/smol-vm/smol-load-agent
  mkdir -p /opt/smol-vm
  cat >/opt/smol-vm/hog.toml <<'EOT'
name = "hog"
[limits]
memory = "256MiB"
[[agents]]
role = "load"
command = ["/usr/local/libexec/smol-vm/smol-load-agent", "--hog", "512"]
restart = "never"
[agents.limits]
memory = "48MiB"
EOT
  cat >/opt/smol-vm/bomb.toml <<'EOT'
name = "bomb"
[limits]
pids = 64
[[agents]]
role = "load"
command = ["/usr/local/libexec/smol-vm/smol-load-agent", "--fork-bomb"]
restart = "never"
[agents.limits]
pids = 24
EOT

  timeout 60 systemctl start swarmd.service || { fail $check "systemctl start swarmd.service failed"; journal; return; }
  main=$(systemctl show -p MainPID --value swarmd.service)
  unit_cg=/sys/fs/cgroup$(systemctl show -p ControlGroup --value swarmd.service)
  say "swarmd.service $(systemctl is-active swarmd.service), MainPID $main, cgroup $(sed -n 's/^0:://p' "/proc/$main/cgroup")"
  status=$(swarmctl --timeout 10s status 2>&1) || { fail $check "swarmctl status: $status"; journal; return; }
  indent <<<"$status"
  local want="cgroup v2 at $unit_cg/smolswarms ("
  local leaf="delegated by systemd, daemon in $unit_cg/daemon)"
  if grep -E '^cgroups ' <<<"$status" | grep -qF "$want" &&
     grep -E '^cgroups ' <<<"$status" | grep -qF "$leaf" &&
     [ "$(sed -n 's/^0:://p' "/proc/$main/cgroup")" = "${unit_cg#/sys/fs/cgroup}/daemon" ]; then
    pass "$check status: swarmctl status says '$(sed -n 's/^cgroups *//p' <<<"$status")'; MainPID $main is in it"
  else
    fail $check "swarmctl status does not report '$want...; $leaf', or swarmd is not in the leaf"
  fi
  out=$(cat "$unit_cg/cgroup.subtree_control")
  if [[ " $out " == *" cpu "* && " $out " == *" memory "* && " $out " == *" pids "* ]] &&
     [ -z "$(cat "$unit_cg/cgroup.procs")" ]; then
    pass "$check delegation: $unit_cg holds no process and enables '$out' for its children"
  else
    fail $check "$unit_cg: subtree_control '$out', procs '$(cat "$unit_cg/cgroup.procs" | paste -sd' ')'"
  fi

  # The memory hog, with strace watching how swarmd clones its agent.
  strace -f -qq -e trace=clone3 -e signal=none -o /tmp/clone3.log -p "$main" &
  local strace_pid=$! n
  for ((n = 0; n < 100; n++)); do   # attached to every thread of swarmd
    ! grep -q '^TracerPid:[[:space:]]*0$' /proc/"$main"/task/*/status 2>/dev/null && break
    sleep 0.05
  done
  out=$(swarmctl up /opt/smol-vm/hog.toml 2>&1) || fail $check "swarmctl up hog.toml: $out"
  local agent_json reason detail
  for ((n = 0; n < 100; n++)); do
    agent_json=$(swarmctl --json ps hog 2>/dev/null | jq -c '.agents[0]')
    [ "$(jq -r .state <<<"$agent_json")" = exited ] && break
    sleep 0.1
  done
  kill "$strace_pid" 2>/dev/null; wait "$strace_pid" 2>/dev/null
  swarmctl ps hog 2>&1 | indent
  reason=$(jq -r '.last_exit.reason' <<<"$agent_json")
  detail=$(jq -r '.last_exit.detail' <<<"$agent_json")
  if [ "$reason" = oom ]; then
    pass "$check oom: the hog's exit reason is oom ('$detail')"
  else
    fail $check "the hog's exit: $agent_json"
  fi
  # swarmd's clone3 calls while it started the hog (its agent, and any
  # helper) and whether CLONE_INTO_CGROUP was among their flags.
  local into
  into=$(grep 'clone3(' /tmp/clone3.log | grep -c 'CLONE_INTO_CGROUP.* = [0-9]')
  if [ "$into" -ge 1 ]; then
    pass "$check clone3: swarmd started the agent with clone3(CLONE_INTO_CGROUP): $(grep -m 1 'CLONE_INTO_CGROUP' /tmp/clone3.log | sed 's/^[0-9]* *//' | cut -c1-220)"
  else
    fail $check "no clone3 with CLONE_INTO_CGROUP succeeded while swarmd started the hog; strace saw:"
    indent </tmp/clone3.log | head -n 20
  fi

  # The fork bomb.
  out=$(swarmctl up /opt/smol-vm/bomb.toml 2>&1) || fail $check "swarmctl up bomb.toml: $out"
  for ((n = 0; n < 100; n++)); do
    swarmctl logs bomb/load-0 2>/dev/null | grep -q 'fork refused after' && break
    sleep 0.1
  done
  agent_json=$(swarmctl --json ps bomb | jq -c '.agents[0]')
  local pid pids_dir log
  pid=$(jq -r .pid <<<"$agent_json")
  pids_dir=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)
  log=$(swarmctl logs bomb/load-0 2>&1)
  swarmctl ps bomb 2>&1 | indent
  if grep -q 'fork refused after.*Resource temporarily unavailable' <<<"$log" &&
     [ "$(jq -r .state <<<"$agent_json")" = ready ] && [ "$(jq -r .pids <<<"$agent_json")" = 24 ] &&
     [ "$(cat "$pids_dir/pids.max")" = 24 ] && [ "$(wc -l <"$pids_dir/cgroup.procs")" = 24 ] &&
     swarmctl run -- true >/dev/null 2>&1; then
    pass "$check pids: the fork bomb stopped at 24 ($pids_dir: pids.current $(cat "$pids_dir/pids.current"), events '$(cat "$pids_dir/pids.events")'); '$(grep -m 1 'fork refused' <<<"$log")'; swarmd still serves (swarmctl run -- true)"
  else
    fail $check "pids limit: agent $agent_json, $pids_dir pids.max $(cat "$pids_dir/pids.max" 2>&1), $(wc -l <"$pids_dir/cgroup.procs" 2>&1) procs; log: $log"
  fi

  # Down, stop: nothing left.
  swarmctl down hog >/dev/null 2>&1 && swarmctl down bomb >/dev/null 2>&1 ||
    fail $check "swarmctl down hog/bomb failed"
  timeout 60 systemctl stop swarmd.service
  local result left
  result=$(systemctl show -p Result --value swarmd.service)
  left=$(find "$unit_cg" -mindepth 1 -type d 2>/dev/null | paste -sd' ')
  if [ "$result" = success ] && [ -z "$left" ]; then
    pass "$check stop: swarmd exited cleanly (Result=success), no cgroup left below $unit_cg"
  else
    fail $check "after systemctl stop: Result=$result, cgroups left: $left"
  fi
}
service_checks
[[ " ${failed[*]} " == *" 2b "* ]] && journal

echo
if [ ${#failed[@]} -eq 0 ]; then
  say "guest: all checks passed (1a 1b 2a 2b)"
  exit 0
fi
say "guest: FAILED: $(printf '%s\n' "${failed[@]}" | sort -u | paste -sd' ')"
exit 1
