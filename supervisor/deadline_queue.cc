#include "supervisor/deadline_queue.h"

#include <string>
#include <utility>

#include "base/log.h"

namespace smol::supervisor {

DeadlineQueue::DeadlineQueue(kj::Timer& timer, std::function<void(uint64_t)> expired)
    : timer_(timer), expired_(std::move(expired)) {}

void DeadlineQueue::LogErrors::taskFailed(kj::Exception&& e) {
  log::error(std::string("a deadline's handler failed: ") + e.getDescription().cStr());
}

DeadlineQueue::Handle DeadlineQueue::add(kj::TimePoint at, uint64_t id) {
  Handle h = deadlines_.emplace(at, id);
  arm();
  return h;
}

// One timer, for the earliest deadline; a later one armed before stays
// armed and finds nothing due, which is cheaper than cancelling it.
void DeadlineQueue::arm() {
  if (deadlines_.empty()) return;
  kj::TimePoint next = deadlines_.begin()->first;
  if (armed_ && *armed_ <= next) return;
  armed_ = next;
  timers_.add(timer_.atTime(next).then([this, next] {
    if (armed_ == next) armed_.reset();
    expire_due();
  }));
}

void DeadlineQueue::expire_due() {
  kj::TimePoint now = timer_.now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    expired_(id);
  }
  arm();
}

}  // namespace smol::supervisor
