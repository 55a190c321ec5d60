#include "supervisor/exit_status.h"

#include <signal.h>
#include <string.h>

namespace smol::supervisor {

std::string_view reason_name(ExitReason r) {
  switch (r) {
    case ExitReason::none: return "none";
    case ExitReason::exited: return "exited";
    case ExitReason::crashed: return "crashed";
    case ExitReason::start_timeout: return "start_timeout";
    case ExitReason::stopped: return "stopped";
    case ExitReason::spawn_failed: return "spawn_failed";
    case ExitReason::seccomp: return "seccomp";
    case ExitReason::timeout: return "timeout";
    case ExitReason::oom: return "oom";
    case ExitReason::protocol_error: return "protocol_error";
  }
  return "none";
}

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

ExitInfo classify_exit(const WaitStatus& status, Intent intent, int64_t at_unix_ms,
                       std::string_view violation, std::string_view oom_limit) {
  ExitInfo info;
  info.at_unix_ms = at_unix_ms;
  if (status.signaled) {
    info.signal = status.code;
    info.detail = "killed by " + signal_name(status.code);
    if (status.core_dumped) info.detail += " (core dumped)";
  } else {
    info.code = status.code;
    info.detail = "exited with code " + std::to_string(status.code);
  }
  switch (intent) {
    case Intent::stop_requested:
      info.reason = ExitReason::stopped;
      info.detail = "stopped; " + info.detail;
      break;
    case Intent::start_timed_out:
      info.reason = ExitReason::start_timeout;
      info.detail = "never said hello; " + info.detail;
      break;
    case Intent::seccomp_killed:
      info.reason = ExitReason::seccomp;
      info.syscall = std::string(violation);
      info.detail = "killed: seccomp violation: " + info.syscall;
      break;
    case Intent::protocol_violated:
      info.reason = ExitReason::protocol_error;
      info.detail = "killed: protocol error: " + std::string(violation);
      break;
    case Intent::runtime_exceeded:
      info.reason = ExitReason::timeout;
      info.detail = "killed: ran longer than its max_runtime; " + info.detail;
      break;
    case Intent::none:
      // The filter itself kills only for a foreign syscall ABI (x32, int
      // 0x80); every other violation goes through the daemon.
      if (status.signaled && status.code == SIGKILL && !oom_limit.empty()) {
        info.reason = ExitReason::oom;
        info.detail = "killed by the OOM killer at " + std::string(oom_limit);
      } else if (status.signaled && status.code == SIGSYS) {
        info.reason = ExitReason::seccomp;
        info.detail = "killed: seccomp violation: a syscall of a foreign ABI (x32 or int 0x80)";
      } else {
        info.reason = status.signaled ? ExitReason::crashed : ExitReason::exited;
      }
      break;
  }
  return info;
}

}  // namespace smol::supervisor
