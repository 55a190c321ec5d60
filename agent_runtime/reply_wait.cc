#include "agent_runtime/reply_wait.h"

#include <sched.h>

#include <cstdlib>

namespace smol::agent {
namespace {

// Polling holds a CPU for as long as the reply takes. It helps only if the
// daemon and the recipient have another CPU meanwhile, and it must not eat
// into a CPU quota of less than a core, where the kernel would throttle the
// agent for the rest of each period (swarmd passes the least of the
// agent's and its swarm's [limits] cpu as SMOLSWARMS_CPU_LIMIT). A process
// that may not read its affinity does not poll either.
bool polling_can_help() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2) return false;
  const char* limit = std::getenv("SMOLSWARMS_CPU_LIMIT");
  return limit == nullptr || std::strtod(limit, nullptr) >= 1.0;
}

}  // namespace

ReplyWait::ReplyWait(std::chrono::microseconds budget)
    : can_poll_(polling_can_help()), budget_(budget) {}

bool ReplyWait::worth_polling() const {
  return can_poll_ && budget_.count() > 0 && average_ <= budget_;
}

void ReplyWait::record(Clock::duration round_trip) { average_ += (round_trip - average_) / 8; }

}  // namespace smol::agent
