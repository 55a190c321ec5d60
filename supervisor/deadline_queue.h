// DeadlineQueue: many deadlines on one timer.
//
// Requests waiting for an answer and subtask attempts each have a deadline,
// thousands at a time; a KJ timer promise each would cost an allocation and
// a heap entry apiece, and most are cancelled long before they fire. So the
// deadlines sit in one ordered map, and a single timer is armed for the
// earliest; when it fires, every deadline due is handed to the callback in
// order.
//
// Thread: the loop thread. The callback may add and cancel deadlines.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

#include <kj/async.h>
#include <kj/timer.h>

namespace smol::supervisor {

class DeadlineQueue {
 public:
  using Handle = std::multimap<kj::TimePoint, uint64_t>::iterator;

  // expired: called with the id of each deadline that passed.
  DeadlineQueue(kj::Timer& timer, std::function<void(uint64_t id)> expired);
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  Handle add(kj::TimePoint at, uint64_t id);
  // The deadline is off; the handle must come from add() and not have
  // expired or been cancelled.
  void cancel(Handle h) { deadlines_.erase(h); }
  kj::TimePoint now() const { return timer_.now(); }

 private:
  class LogErrors : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override;
  };
  void arm();
  void expire_due();

  kj::Timer& timer_;
  std::function<void(uint64_t)> expired_;
  std::multimap<kj::TimePoint, uint64_t> deadlines_;
  std::optional<kj::TimePoint> armed_;
  LogErrors errors_;
  kj::TaskSet timers_{errors_};
};

}  // namespace smol::supervisor
