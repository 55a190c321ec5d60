#include "supervisor/task_watch.h"

#include <utility>

#include "supervisor/runtime.h"

namespace smol::supervisor {
namespace {

constexpr auto kProgressEvery = 200 * kj::MILLISECONDS;
constexpr size_t kMaxQueued = 1000;
constexpr auto kHeartbeat = 1 * kj::SECONDS;

}  // namespace

struct TaskWatchers::Watcher {
  rpc::TaskWatcher::Client client;
  std::shared_ptr<Fill> fill;
  kj::TaskSet* calls;
  std::deque<Event> queue;
  bool sending = false;
  bool last_queued = false;  // taskEnded is in the queue: nothing follows
  bool broken = false;       // a call failed: the watcher has gone
  kj::Own<kj::PromiseFulfiller<void>> done;
};

TaskWatchers::TaskWatchers(kj::Timer& timer, kj::TaskSet& calls, Fill fill)
    : timer_(timer), calls_(calls), fill_(std::make_shared<Fill>(std::move(fill))) {}

TaskWatchers::~TaskWatchers() = default;

kj::Promise<void> TaskWatchers::add(rpc::TaskWatcher::Client client) {
  auto w = std::make_shared<Watcher>(
      Watcher{kj::mv(client), fill_, &calls_, {}, false, false, false, {}});
  auto paf = kj::newPromiseAndFulfiller<void>();
  w->done = kj::mv(paf.fulfiller);
  for (const Event& e : history_) push(*w, e);
  push(*w, {rpc::TaskEvent::Kind::PROGRESS, {}, {}, {}, unix_now_ms()});
  if (ended_) push(*w, {rpc::TaskEvent::Kind::TASK_ENDED, {}, {}, {}, unix_now_ms()});
  watchers_.push_back(w);
  send(w);
  if (!ended_ && !beating_) {
    beating_ = true;
    heartbeat_ = beat().eagerlyEvaluate(nullptr);
  }
  return kj::mv(paf.promise);
}

kj::Promise<void> TaskWatchers::beat() {
  return timer_.afterDelay(kHeartbeat).then([this] {
    if (!progress_due_) progress_now();
    return beat();
  });
}

void TaskWatchers::progress_now() {
  if (ended_) return;
  for (auto& w : watchers_) {
    push(*w, {rpc::TaskEvent::Kind::PROGRESS, {}, {}, {}, unix_now_ms()});
    send(w);
  }
}

void TaskWatchers::changed() {
  if (progress_due_ || watchers_.empty()) return;
  progress_due_ = true;
  progress_timer_ = timer_.afterDelay(kProgressEvery).then([this] {
    progress_due_ = false;
    progress_now();
  }).eagerlyEvaluate(nullptr);
}

void TaskWatchers::event(rpc::TaskEvent::Kind kind, std::string key, std::string worker,
                         std::string message) {
  Event e{kind, std::move(key), std::move(worker), std::move(message), unix_now_ms()};
  for (auto& w : watchers_) {
    push(*w, e);
    send(w);
  }
  if (history_.size() == kMaxQueued) history_.pop_front();
  history_.push_back(std::move(e));
}

void TaskWatchers::ended() {
  ended_ = true;
  progress_timer_ = nullptr;
  heartbeat_ = nullptr;
  for (auto& w : watchers_) {
    push(*w, {rpc::TaskEvent::Kind::TASK_ENDED, {}, {}, {}, unix_now_ms()});
    send(w);
  }
}

void TaskWatchers::push(Watcher& w, Event e) {
  if (w.last_queued || w.broken) return;
  if (w.queue.size() >= kMaxQueued) {
    for (auto it = w.queue.begin(); it != w.queue.end(); ++it) {
      if (it->kind == rpc::TaskEvent::Kind::PROGRESS) {
        w.queue.erase(it);
        break;
      }
    }
    if (w.queue.size() >= kMaxQueued && e.kind != rpc::TaskEvent::Kind::TASK_ENDED) return;
  }
  w.last_queued = e.kind == rpc::TaskEvent::Kind::TASK_ENDED;
  w.queue.push_back(std::move(e));
}

void TaskWatchers::send(std::shared_ptr<Watcher> w) {
  if (w->sending) return;
  if (w->queue.empty()) {
    if (w->last_queued && w->done->isWaiting()) w->done->fulfill();
    return;
  }
  Event e = std::move(w->queue.front());
  w->queue.pop_front();
  auto req = w->client.eventRequest();
  auto ev = req.initEvent();
  ev.setAtUnixMillis(e.at_unix_ms);
  ev.setKind(e.kind);
  ev.setKey(e.key);
  ev.setWorker(e.worker);
  ev.setMessage(e.message);
  (*w->fill)(ev.initTask());
  w->sending = true;
  w->calls->add(req.send().then(
      [w]() mutable {
        w->sending = false;
        send(kj::mv(w));
      },
      [w](kj::Exception&&) {
        // The watcher went away (swarmctl was interrupted): stop sending.
        w->broken = true;
        w->queue.clear();
        if (w->done->isWaiting()) w->done->fulfill();
      }));
}

}  // namespace smol::supervisor
