#include "supervisor/exit_status.h"

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
  }
  return "none";
}

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

ExitInfo classify_exit(const WaitStatus& status, Intent intent, int64_t at_unix_ms) {
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
    case Intent::none:
      info.reason = status.signaled ? ExitReason::crashed : ExitReason::exited;
      break;
  }
  return info;
}

}  // namespace smol::supervisor
