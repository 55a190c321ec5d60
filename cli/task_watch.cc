#include "cli/task_watch.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "cli/failure.h"
#include "cli/output.h"
#include "ipc/wire.h"
#include "cli/progress_bar.h"
#include "cli/task_text.h"

namespace smol::cli {
namespace {

using std::chrono::milliseconds;

// What a shell reports for a command ended by SIGINT.
constexpr int kInterrupted = 130;

// The room for the bar: one column short of the terminal's width, since
// some terminals wrap as soon as the last column is written.
size_t bar_columns() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1) return ws.ws_col - 1;
  return 79;
}

// What `task run --wait` shows, shared by the command and the Watcher it
// serves (the RPC system may keep the Watcher past the command's return).
class TaskView final : public kj::Refcounted {
 public:
  enum class Mode {
    bar,    // a live ProgressBar on stdout, with lines above it
    lines,  // one line per event on stderr; stdout keeps only the result
    json,   // one JSON object per event on stdout
  };

  TaskView(Mode mode, rpc::TaskInfo::Reader started, kj::Own<kj::PromiseFulfiller<void>> broken)
      : mode_(mode),
        created_(started.getCreatedUnixMillis()),
        broken_(kj::mv(broken)),
        bar_([](std::string_view s) { print(s); }) {}

  // The first lines, before any event: which task is being watched.
  void start(rpc::TaskInfo::Reader t) {
    std::string line = "task " + ipc::text_of(t.getId()) + " started on swarm " + ipc::text_of(t.getSwarm());
    if (mode_ == Mode::bar) {
      bar_.print_above(line + " (Ctrl-C stops watching; the task goes on)");
      bar_.draw(progress_line(counts(t), task_elapsed(t), bar_columns()));
    } else if (mode_ == Mode::lines) {
      std::cerr << line << std::endl;
    }
  }

  // Shows one event. False if stdout failed: watching is then over, the
  // `broken` promise resolves and broken_reason() says why.
  bool show(rpc::TaskEvent::Reader e) {
    auto t = e.getTask();
    // The event's copy of the task may lack its creation time; ours has it.
    int64_t created = t.getCreatedUnixMillis() != 0 ? t.getCreatedUnixMillis() : created_;
    int64_t at = e.getAtUnixMillis() != 0 ? e.getAtUnixMillis() : now_unix_millis();
    milliseconds elapsed(created != 0 ? std::max<int64_t>(at - created, 0) : 0);
    bool progress_only = e.getKind() == rpc::TaskEvent::Kind::PROGRESS ||
                         e.getKind() == rpc::TaskEvent::Kind::TASK_ENDED;
    try {
      switch (mode_) {
        case Mode::json: print_json(event_json(e)); break;
        case Mode::lines: {
          // The last event: the summary that follows says the same.
          if (e.getKind() == rpc::TaskEvent::Kind::TASK_ENDED) break;
          // A progress line only when the counters moved: the daemon's
          // heartbeat keeps a terminal's clock going, not a log's length.
          if (e.getKind() == rpc::TaskEvent::Kind::PROGRESS) {
            std::string now = std::to_string(t.getSubtasksDone()) + "/" +
                              std::to_string(t.getSubtasksTotal()) + "/" +
                              std::to_string(t.getSubtasksFailed()) + "/" +
                              std::to_string(t.getSubtasksRunning());
            if (t.getSubtasksTotal() == 0 || now == last_counts_) break;
            last_counts_ = now;
          }
          std::cerr << event_line(e, elapsed) << std::endl;
          break;
        }
        case Mode::bar: {
          std::string line = progress_line(counts(t), elapsed, bar_columns());
          if (progress_only) {
            bar_.draw(std::move(line));
          } else {
            bar_.print_above(event_line(e, elapsed), std::move(line));
          }
          break;
        }
      }
      return true;
    } catch (const Failure& f) {
      if (broken_->isWaiting()) {
        broken_reason_ = f.what();
        broken_->fulfill();
      }
      return false;
    }
  }

  const std::string& broken_reason() const noexcept { return broken_reason_; }


  // Removes the bar, if there is one; never throws (it runs on the way out
  // of failures, and a broken stdout is reported already).
  void clear() noexcept {
    try {
      bar_.clear();
    } catch (const Failure&) {
    }
  }

  // The end: the summary (not in JSON), then the result on stdout.
  void finish(const capnp::Response<rpc::Control::TaskWatchResults>& res) {
    auto t = res.getTask();
    if (mode_ == Mode::json) return print_json(to_json(res));
    auto result = t.getResult();
    std::string_view text(result.asChars().begin(), result.size());
    std::string out(text);
    if (!out.empty() && !out.ends_with('\n')) out += '\n';  // keep the prompt off it
    if (mode_ == Mode::lines) {
      std::cerr << summary(t) << std::endl;
      return print(out);
    }
    clear();
    print(summary(t) + "\n" + out);
  }

 private:
  Mode mode_;
  int64_t created_;
  kj::Own<kj::PromiseFulfiller<void>> broken_;
  std::string broken_reason_;
  std::string last_counts_;  // lines mode: the counters of the last progress line
  ProgressBar bar_;
};

// The TaskWatcher that swarmd pushes a task's events to.
class Watcher final : public rpc::TaskWatcher::Server {
 public:
  explicit Watcher(kj::Own<TaskView> view) : view_(kj::mv(view)) {}

 protected:
  kj::Promise<void> event(EventContext ctx) override {
    if (view_->show(ctx.getParams().getEvent())) return kj::READY_NOW;
    // Fails the stream too, so swarmd stops sending.
    return KJ_EXCEPTION(DISCONNECTED, "swarmctl's output is closed");
  }

 private:
  kj::Own<TaskView> view_;
};

}  // namespace

int watch_task(const GlobalOptions& g, Connection& conn, rpc::TaskInfo::Reader started) {
  std::string id = ipc::text_of(started.getId());
  auto mode = g.json ? TaskView::Mode::json
                     : (::isatty(STDOUT_FILENO) == 1 ? TaskView::Mode::bar : TaskView::Mode::lines);
  auto broken = kj::newPromiseAndFulfiller<void>();
  auto view = kj::refcounted<TaskView>(mode, started, kj::mv(broken.fulfiller));
  view->start(started);

  auto req = conn.control().taskWatchRequest();
  req.setId(id);
  req.setWatcher(kj::heap<Watcher>(kj::addRef(*view)));
  std::optional<capnp::Response<rpc::Control::TaskWatchResults>> ended;
  // A failed write also fails the stream, and swarmd may then fail the call
  // with our own error coming back; the local reason is the one to show.
  auto over = req.send()
                  .then([&](auto res) {
                    ended = kj::mv(res);
                    return true;
                  })
                  .exclusiveJoin(broken.promise.then([] { return true; }));
  kj::Maybe<bool> finished;
  try {
    finished = conn.wait_interruptible(kj::mv(over));
  } catch (const Failure&) {
    view->clear();
    throw;
  }
  if (finished == nullptr) {
    view->clear();
    std::cerr << "swarmctl: task " << id << " keeps running; swarmctl task cancel " << id
              << " stops it" << std::endl;
    return kInterrupted;
  }
  if (!ended) throw Failure(view->broken_reason());
  view->finish(*ended);
  auto t = ended->getTask();
  if (t.getState() != rpc::TaskState::SUCCEEDED) throw Failure(not_succeeded(t));
  return 0;
}

}  // namespace smol::cli
