#include <algorithm>
#include <cmath>
#include <utility>

#include "base/units.h"
#include "supervisor/task_board.h"
#include "supervisor/task_board_state.h"
#include "supervisor/task_rpc.h"
#include "ipc/wire.h"

namespace smol::supervisor {
namespace {

using storage::SubtaskState;
using storage::TaskState;

// A progress note is kept to this many bytes, and saved this often.
constexpr size_t kMaxNoteBytes = 1024;
// An agent's error text is kept to this many bytes: it is stored with each
// attempt, sent to the lead and to watchers, and kept for late watchers.
constexpr size_t kMaxErrorBytes = 4096;
// Results queued for one delegation's sink in memory; the rest wait in the
// store (TaskBoard::deliver).
constexpr size_t kOutboxBytes = size_t{16} << 20;

std::string clip(std::string text) {
  if (text.size() > kMaxErrorBytes) text.resize(kMaxErrorBytes);
  return text;
}
constexpr auto kProgressSaveEvery = std::chrono::seconds(1);

// How far into a task's queue dispatch looks for a subtask some worker may
// take, when the first ones may not go anywhere yet.
constexpr size_t kScanAhead = 64;

std::chrono::milliseconds backoff(uint32_t attempts) {
  int64_t ms = 50;
  for (uint32_t i = 1; i < attempts && ms < 5000; ++i) ms *= 2;
  return std::chrono::milliseconds(std::min<int64_t>(ms, 5000));
}

}  // namespace

// Starts pending subtasks while the swarm has room, taking the tasks in
// turn so that one big task does not starve the others.
void TaskBoard::pump() {
  if (pumping_) return;
  pumping_ = true;
  bool started = true;
  while (started && in_flight_ < spec_.max_concurrency) {
    started = false;
    for (auto& [id, r] : runs_) {
      if (in_flight_ >= spec_.max_concurrency) break;
      if (r->ended || r->rec.state == TaskState::paused || r->pending.empty()) continue;
      started = dispatch_one(*r) || started;
    }
  }
  pumping_ = false;
  set_in_flight();
}

bool TaskBoard::dispatch_one(Run& r) {
  for (size_t i = 0; i < r.pending.size() && i < kScanAhead; ++i) {
    Sub& s = *r.pending[i];
    if (s.state != SubtaskState::pending || s.backoff) {
      r.pending.erase(r.pending.begin() + static_cast<ptrdiff_t>(i--));
      continue;
    }
    // A worker that failed it already only when every candidate has (a
    // subtask for one agent has only that one).
    bool all_failed = !s.failed_on.empty();
    if (all_failed && s.to.empty()) {
      for (const std::string& id : workers_.ids(s.role)) {
        if (!s.failed_on.contains(id)) all_failed = false;
      }
    }
    WorkerPool::Worker* w = workers_.pick([&](const WorkerPool::Worker& w) {
      if (!s.to.empty() && w.id != s.to) return false;
      if (!s.role.empty() && w.role != s.role) return false;
      if (w.id == s.delegator || (!all_failed && s.failed_on.contains(w.id))) return false;
      return !waits_on(w.id, s.delegator);
    });
    if (w == nullptr) continue;
    r.pending.erase(r.pending.begin() + static_cast<ptrdiff_t>(i));
    start_attempt(s, *w);
    return true;
  }
  return false;
}

void TaskBoard::start_attempt(Sub& s, WorkerPool::Worker& w) {
  Run& r = *s.run;
  std::optional<std::string> input = input_of(s);
  if (!input) {
    cancel_sub(s, "its input could not be read back from the task store", true);
    return;
  }
  uint64_t id = next_attempt_++;
  s.attempt = id;
  ++s.attempts;
  s.worker = w.id;
  s.state = SubtaskState::running;
  s.started = false;
  s.progress = 0;
  s.note.clear();
  attempts_[id] = &s;
  ++r.running;
  ++in_flight_;
  s.waiting = s.delegator;
  ++waits_[s.waiting][w.id];
  // Until the worker says it has begun, the attempt may wait behind the
  // ones it holds already (an agent runs one at a time): one timeout each.
  uint64_t ahead = w.running.size();
  s.deadline = deadlines_.add(deadlines_.now() + (ahead + 1) * s.timeout_ms * kj::MILLISECONDS, id);
  int64_t now = unix_now_ms();
  std::string tid = r.rec.id, key = s.key, worker = w.id;
  rt_.tasks.record([tid, key, worker, now](storage::TaskStore& st, storage::Txn& txn) {
    st.start_attempt(txn, tid, key, worker, now);
  });
  Assignment a{id, r.rec.id, s.key, std::move(*input), s.attempts, s.timeout_ms, std::nullopt};
  if (s.depth < spec_.max_depth) {
    a.delegator.emplace(make_delegator(*this, r.rec.id, w.id, s.key, s.depth + 1, id));
  }
  workers_.assign(w, std::move(a));
  r.watchers->changed();
}

void TaskBoard::on_update(WorkerPool::Worker& w, uint64_t attempt, AttemptUpdate u) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Sub& s = *it->second;
  switch (u.kind) {
    case AttemptUpdate::Kind::progress: {
      if (!s.started) {
        // The worker has begun it: its timeout counts from now, no longer
        // from when it was queued behind the worker's other subtasks.
        s.started = true;
        if (s.deadline) deadlines_.cancel(*s.deadline);
        s.deadline = deadlines_.add(deadlines_.now() + s.timeout_ms * kj::MILLISECONDS, attempt);
      }
      s.progress = std::isnan(u.fraction) ? 0.0f : std::clamp(u.fraction, 0.0f, 1.0f);
      s.note = u.text.substr(0, kMaxNoteBytes);
      s.run->watchers->changed();
      // The live value is the board's (task show reads it); the store gets
      // one a second at most, so a chatty worker cannot make swarmd
      // rewrite a subtask's record (its input included) at its pace.
      auto now = std::chrono::steady_clock::now();
      if (now - s.progress_saved < kProgressSaveEvery) break;
      s.progress_saved = now;
      std::string tid = s.run->rec.id, key = s.key, note = s.note;
      float f = s.progress;
      rt_.tasks.record([tid, key, f, note](storage::TaskStore& st, storage::Txn& txn) {
        st.set_progress(txn, tid, key, f, note);
      });
      break;
    }
    case AttemptUpdate::Kind::result:
      if (u.text.size() > max_payload_) {
        end_attempt(s, false,
                    "its result of " + format_bytes(u.text.size()) + " is over the limit of " +
                        format_bytes(max_payload_),
                    "failed", true);
        break;
      }
      end_attempt(s, true, std::move(u.text), "succeeded", false);
      break;
    case AttemptUpdate::Kind::error:
      end_attempt(s, false, clip(std::move(u.text)), "failed", true);
      break;
  }
}

void TaskBoard::on_timeout(uint64_t attempt) {
  auto it = attempts_.find(attempt);
  if (it == attempts_.end()) return;
  Sub& s = *it->second;
  s.deadline.reset();  // the queue took it out
  end_attempt(s, false,
              "timed out after " + format_duration(std::chrono::milliseconds(s.timeout_ms)) +
                  " on " + s.worker,
              "timeout", true);
}

// Takes the running attempt off its worker and out of the bookkeeping.
void TaskBoard::detach_attempt(Sub& s, bool tell_worker, std::string_view result_label) {
  attempts_.erase(s.attempt);
  if (s.deadline) deadlines_.cancel(*s.deadline);
  s.deadline.reset();
  --s.run->running;
  --in_flight_;
  if (auto it = waits_.find(s.waiting); it != waits_.end()) {
    if (auto w = it->second.find(s.worker); w != it->second.end() && --w->second == 0) {
      it->second.erase(w);
    }
    if (it->second.empty()) waits_.erase(it);
  }
  if (WorkerPool::Worker* w = workers_.find(s.worker)) {
    if (tell_worker) {
      workers_.drop(*w, s.attempt);
    } else {
      workers_.release(*w, s.attempt);
    }
  }
  s.attempt = 0;
  rt_.metrics.subtask_attempt(swarm_, result_label);
}

void TaskBoard::end_attempt(Sub& s, bool ok, std::string text, std::string_view result_label,
                            bool may_retry) {
  const bool timed_out = result_label == "timeout";
  uint32_t number = s.attempts;
  detach_attempt(s, timed_out, result_label);
  const uint32_t counted = s.attempts - s.attempts_lost;
  bool retry = !ok && may_retry && counted < s.max_attempts;
  int64_t now = unix_now_ms();
  std::string tid = s.run->rec.id, key = s.key, stored = text;
  rt_.tasks.record([tid, key, number, ok, stored, retry, now](storage::TaskStore& st,
                                                               storage::Txn& txn) {
    st.finish_attempt(txn, tid, key, number, ok, stored, retry, now);
  });
  if (ok) {
    finish_sub(s, SubtaskState::succeeded, std::move(text));
  } else if (retry) {
    s.failed_on.insert(s.worker);
    s.state = SubtaskState::pending;
    s.run->watchers->event(rpc::TaskEvent::Kind::ATTEMPT_FAILED, s.key, s.worker,
                           text + "; retrying (attempt " + std::to_string(counted + 1) +
                               " of " + std::to_string(s.max_attempts) + ")");
    requeue_later(s);
  } else {
    s.run->watchers->event(rpc::TaskEvent::Kind::SUBTASK_FAILED, s.key, s.worker,
                           text + " (attempt " + std::to_string(counted) + " of " +
                               std::to_string(s.max_attempts) + ")");
    finish_sub(s, SubtaskState::failed, std::move(text));
  }
  pump();
}

void TaskBoard::requeue_later(Sub& s) {
  s.backoff = true;
  std::string tid = s.run->rec.id, key = s.key;
  tasks_.add(rt_.loop.timer().afterDelay(backoff(s.attempts).count() * kj::MILLISECONDS).then(
      [this, tid, key] {
        Run* r = find_run(tid);
        if (r == nullptr) return;
        auto it = r->subs.find(key);
        if (it == r->subs.end() || !it->second->backoff) return;
        it->second->backoff = false;
        if (it->second->state != SubtaskState::pending) return;
        r->pending.push_back(it->second.get());
        pump();
      }));
}

void TaskBoard::cancel_sub(Sub& s, std::string why, bool deliver_outcome) {
  if (s.state == SubtaskState::running) detach_attempt(s, true, "dropped");
  s.backoff = false;
  std::string tid = s.run->rec.id, key = s.key;
  if (deliver_outcome) {
    int64_t now = unix_now_ms();
    rt_.tasks.record([tid, key, why, now](storage::TaskStore& st, storage::Txn& txn) {
      st.cancel_subtask(txn, tid, key, why, now);
    });
  }
  s.state = SubtaskState::cancelled;
  s.text = why;
  release_input(s);
  s.run->rec.count_ended(SubtaskState::cancelled);
  if (deliver_outcome) {
    for (Delegation* d : s.delegations) deliver(*d, {s.key, s.state, s.text, s.attempts, s.worker});
  }
}

void TaskBoard::finish_sub(Sub& s, SubtaskState state, std::string text) {
  s.state = state;
  s.text = std::move(text);
  release_input(s);
  Run& r = *s.run;
  r.rec.count_ended(state);
  r.watchers->changed();
  for (Delegation* d : s.delegations) deliver(*d, {s.key, state, s.text, s.attempts, s.worker});
  if (state == SubtaskState::succeeded) {
    // A result can be max_payload, times max_subtasks per task: once sent,
    // it is the store's to keep (outcome() reads it back when asked again).
    std::string().swap(s.text);
    s.result_stored = true;
  }
}

void TaskBoard::deliver(Delegation& d, Outcome o) {
  if (d.dead) return;
  if (o.state == SubtaskState::succeeded && d.outbox_bytes + o.text.size() > kOutboxBytes) {
    std::string().swap(o.text);  // the store has it (end_attempt recorded it)
    o.in_store = true;
  }
  d.outbox_bytes += o.text.size();
  d.outbox.push_back(std::move(o));
  if (!d.sending) send_results(d);
}

void TaskBoard::read_back(const std::string& task_id, Outcome& o) {
  o.in_store = false;
  if (std::optional<storage::SubtaskRecord> rec = stored(task_id, o.key)) {
    o.text = std::move(rec->result);
    return;
  }
  o.state = SubtaskState::failed;
  o.text = "its result could not be read back from the task store";
}

void TaskBoard::send_results(Delegation& d) {
  // At most kBatch outcomes or kBatchBytes of their text in one call (at
  // least one; a result is at most max_payload), well within the
  // connection's message limit.
  constexpr size_t kBatch = 1024;
  constexpr size_t kBatchBytes = 4 << 20;
  size_t n = 0, text_bytes = 0;
  while (n < d.outbox.size() && n < kBatch) {
    Outcome& o = d.outbox[n];
    if (o.in_store) {
      read_back(d.task_id, o);
      d.outbox_bytes += o.text.size();
    }
    if (n > 0 && text_bytes + o.text.size() > kBatchBytes) break;
    text_bytes += o.text.size();
    ++n;
  }
  auto req = d.sink.resultsRequest();
  auto list = req.initResults(static_cast<unsigned>(n));
  for (unsigned i = 0; i < n; ++i) {
    Outcome& o = d.outbox.front();
    auto b = list[i];
    b.setKey(o.key);
    switch (o.state) {
      case SubtaskState::succeeded:
        b.setOutcome(rpc::SubtaskResult::Outcome::SUCCEEDED);
        b.setResult(ipc::data_of(o.text));
        break;
      case SubtaskState::failed:
        b.setOutcome(rpc::SubtaskResult::Outcome::FAILED);
        b.setError(o.text);
        break;
      default:
        b.setOutcome(rpc::SubtaskResult::Outcome::CANCELLED);
        b.setError(o.text);
        break;
    }
    b.setAttempts(o.attempts);
    b.setWorker(o.worker);
    d.outbox_bytes -= o.text.size();
    d.outbox.pop_front();
  }
  d.sending = true;
  // The delegation may be gone when the answer comes (its task ended): it
  // is looked up again.
  auto again = [this, tid = d.task_id, did = d.id]() -> Delegation* {
    Run* r = find_run(tid);
    if (r == nullptr) return nullptr;
    auto it = r->delegations.find(did);
    return it == r->delegations.end() ? nullptr : it->second.get();
  };
  tasks_.add(req.send().then(
      [this, again](auto&&) {
        if (Delegation* d = again()) {
          d->sending = false;
          if (!d->outbox.empty()) send_results(*d);
        }
      },
      [again](kj::Exception&&) {
        // Its agent is gone; a new run of it delegates again and gets the
        // outcomes then.
        if (Delegation* d = again()) {
          d->dead = true;
          d->outbox.clear();
          d->outbox_bytes = 0;
        }
      }));
}

void TaskBoard::set_in_flight() { rt_.metrics.subtasks_in_flight(swarm_, in_flight_); }

}  // namespace smol::supervisor
