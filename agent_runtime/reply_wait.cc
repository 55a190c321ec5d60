#include "agent_runtime/reply_wait.h"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace smol::agent {
namespace {

int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) {
    throw std::runtime_error(std::string("sched_getaffinity: ") + std::strerror(errno));
  }
  return CPU_COUNT(&set);
}

}  // namespace

ReplyWait::ReplyWait(std::chrono::microseconds budget)
    : other_cpus_(allowed_cpus() > 1), budget_(budget) {}

bool ReplyWait::worth_polling() const {
  return other_cpus_ && budget_.count() > 0 && average_ <= budget_;
}

void ReplyWait::record(Clock::duration round_trip) { average_ += (round_trip - average_) / 8; }

}  // namespace smol::agent
