// TaskWatchers: the people following one task (`swarmctl task run --wait`,
// TaskWatcher in ipc/task.capnp), and the events they are sent.
//
// A watcher that comes late (`task run --wait` watches right after the run
// call, by which time a fast task has moved on) first gets the failures
// and notes so far (the last kMaxQueued), then a progress event.
//
// Counter changes are coalesced: changed() sends a progress event at most
// every kProgressEvery, so ten thousand subtasks finishing make a few
// events a second, not ten thousand; and while nothing changes, one comes
// every kHeartbeat anyway, so a watcher's elapsed time and ETA move on. Failures and notes are sent as they
// come. Each watcher gets its events in order, one call in flight; a
// watcher that falls kMaxQueued events behind loses the oldest progress
// events first (the next one carries the current counters anyway). After
// ended(), each watcher gets its last events, the taskEnded one last, and
// then its add() promise resolves.
//
// The state is shared with the calls in flight, so a task that ends and is
// forgotten still finishes telling its watchers; calls (and fill) must
// outlive them (the board's).
//
// Thread: the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <kj/async.h>
#include <kj/timer.h>

#include "ipc/task.capnp.h"

namespace smol::supervisor {

class TaskWatchers {
 public:
  // fill: the task as it is now, into an event.
  using Fill = std::function<void(rpc::TaskInfo::Builder)>;

  TaskWatchers(kj::Timer& timer, kj::TaskSet& calls, Fill fill);
  ~TaskWatchers();
  TaskWatchers(const TaskWatchers&) = delete;
  TaskWatchers& operator=(const TaskWatchers&) = delete;

  // Sends a progress event first; resolves after the taskEnded event.
  kj::Promise<void> add(rpc::TaskWatcher::Client watcher);
  void changed();
  void event(rpc::TaskEvent::Kind kind, std::string key, std::string worker, std::string message);
  void ended();

 private:
  struct Watcher;
  struct Event {
    rpc::TaskEvent::Kind kind;
    std::string key, worker, message;
    int64_t at_unix_ms;
  };
  static void push(Watcher& w, Event e);
  // Static: a call in flight outlives this object.
  static void send(std::shared_ptr<Watcher> w);

  kj::Timer& timer_;
  kj::TaskSet& calls_;
  std::shared_ptr<Fill> fill_;  // shared with the calls in flight
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::deque<Event> history_;  // failures and notes, for late watchers
  bool progress_due_ = false;
  bool ended_ = false;
  kj::Promise<void> progress_timer_{nullptr};
  kj::Promise<void> heartbeat_{nullptr};  // while anyone watches
  bool beating_ = false;
  kj::Promise<void> beat();
  void progress_now();
};

}  // namespace smol::supervisor
