// How an agent's process ended, and why, in the terms an operator reads in
// `swarmctl ps` and in metrics.
//
// The kernel only says "exited with code N" or "killed by signal S"; whether
// that was a crash depends on what the daemon was doing to the agent at the
// time. classify_exit() holds that one decision.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace smol::supervisor {

enum class ExitReason {
  none,           // still running
  exited,         // exited on its own, with a code
  crashed,        // killed by a signal nobody asked for
  start_timeout,  // killed because it never said hello in time
  stopped,        // stopped on request (down, daemon shutdown, failed start)
  spawn_failed,   // never ran: a step of starting it failed
  seccomp,        // killed for a system call its policy forbids
  timeout,        // killed for running longer than its max_runtime
  oom,            // killed by the OOM killer at a memory limit of its cgroup
  protocol_error, // killed for breaking the agent protocol (malformed or oversized messages)
};

// The metric label and JSON spelling: "exited", "crashed", "start_timeout"...
std::string_view reason_name(ExitReason r);

// What waitid() reported.
struct WaitStatus {
  bool signaled = false;  // CLD_KILLED or CLD_DUMPED
  int code = 0;           // exit code, or the signal number when signaled
  bool core_dumped = false;
};

// What the daemon had done to the process before it ended.
enum class Intent {
  none,
  stop_requested,
  start_timed_out,
  seccomp_killed,
  runtime_exceeded,
  protocol_violated,
};

struct ExitInfo {
  ExitReason reason = ExitReason::none;
  int code = 0;    // exit code when reason is exited (or stopped and it exited)
  int signal = 0;  // terminating signal, 0 if it exited
  std::string detail;  // "exited with code 1", "killed by SIGSEGV (core dumped)"
  int64_t at_unix_ms = 0;
  std::string syscall;  // reason seccomp: the forbidden system call, if known
};

// `violation` names the system call behind Intent::seccomp_killed, or the
// broken rule behind Intent::protocol_violated.
// `oom_limit` is non-empty when the OOM killer killed in the agent's cgroup
// during this run, and names the limit that bit ("its memory limit of
// 64 MiB"): a SIGKILL nobody asked for is then an oom exit.
ExitInfo classify_exit(const WaitStatus& status, Intent intent, int64_t at_unix_ms,
                       std::string_view violation = {}, std::string_view oom_limit = {});

// "SIGKILL" for 9; "signal 42" for signals without a name.
std::string signal_name(int sig);

}  // namespace smol::supervisor
