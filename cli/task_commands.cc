// The task commands (task_commands.h). Most are one call and a table; the
// exception is `task run --wait`, which serves swarmd a TaskWatcher
// (Watcher, below) and shows what it pushes through a TaskView: a live
// ProgressBar on a terminal, else one line (or JSON object) per event.
#include "cli/task_commands.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "cli/connection.h"
#include "cli/failure.h"
#include "cli/output.h"
#include "cli/progress_bar.h"

namespace smol::cli {
namespace {

using std::chrono::milliseconds;

// The bound on each call, as for every other command (commands.cc).
constexpr milliseconds kDefaultTimeout{60000};
// What a shell reports for a command ended by SIGINT.
constexpr int kInterrupted = 130;

Connection open_connection(const GlobalOptions& g) {
  return Connection(g.socket_path, g.timeout.value_or(kDefaultTimeout));
}

std::string str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

int64_t now_unix_millis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// FILE's bytes, all of stdin for "-", nothing for "".
std::string read_input(const std::string& file) {
  if (file.empty()) return {};
  const bool from_stdin = file == "-";
  auto fail = [&](int code) {
    return Failure("cannot read " + (from_stdin ? std::string("the input from stdin")
                                                : "input file " + file) +
                   ": " + strerrordesc_np(code));
  };
  UniqueFd owned;
  if (!from_stdin) {
    owned = UniqueFd(retry_eintr([&] { return ::open(file.c_str(), O_RDONLY | O_CLOEXEC); }));
    if (!owned) throw fail(errno);
  }
  int fd = from_stdin ? STDIN_FILENO : owned.get();
  std::string data;
  char buf[16384];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd, buf, sizeof buf); });
    if (n < 0) throw fail(errno);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

uint64_t tokens_used(rpc::TaskInfo::Reader t) {
  uint64_t sum = 0;
  for (auto u : t.getTokens()) sum += u.getInputTokens() + u.getOutputTokens();
  return sum;
}

TaskCounts counts(rpc::TaskInfo::Reader t) {
  return {t.getSubtasksDone(), t.getSubtasksTotal(), t.getSubtasksFailed(),
          t.getSubtasksRunning()};
}

// "412/1000", "412/1000 (3 failed)".
std::string done_of_total(rpc::TaskInfo::Reader t) {
  std::string s = std::to_string(t.getSubtasksDone()) + "/" + std::to_string(t.getSubtasksTotal());
  if (t.getSubtasksFailed() > 0) s += " (" + std::to_string(t.getSubtasksFailed()) + " failed)";
  return s;
}

// From the task's creation to its end, or to `at` (0: now) while it runs.
milliseconds task_elapsed(rpc::TaskInfo::Reader t, int64_t at = 0) {
  if (t.getCreatedUnixMillis() == 0) return milliseconds(0);
  int64_t end = t.getFinishedUnixMillis() != 0 ? t.getFinishedUnixMillis()
                                               : (at != 0 ? at : now_unix_millis());
  return milliseconds(std::max<int64_t>(end - t.getCreatedUnixMillis(), 0));
}

// An error or note on one line of a table: newlines flattened, cut at max.
std::string one_line(capnp::Text::Reader text, size_t max = 80) {
  std::string s = str(text);
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; },
                  ' ');
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s.empty() ? "-" : s;
}

// "task t-2a cancelled: 412/1000 subtasks done, 3 failed"
std::string outcome(rpc::TaskInfo::Reader t) {
  return "task " + str(t.getId()) + " " + enum_name(t.getState()) + ": " +
         std::to_string(t.getSubtasksDone()) + "/" + std::to_string(t.getSubtasksTotal()) +
         " subtasks done, " + std::to_string(t.getSubtasksFailed()) + " failed";
}

// outcome() + ", in 2m13s, 45210 tokens"
std::string summary(rpc::TaskInfo::Reader t) {
  return outcome(t) + ", in " + format_elapsed(static_cast<double>(task_elapsed(t).count())) +
         ", " + std::to_string(tokens_used(t)) + " tokens";
}

// How an event reads for people: "00:07  attempt failed: k17 on worker-2: timed out".
std::string event_line(rpc::TaskEvent::Reader e, milliseconds elapsed) {
  auto t = e.getTask();
  std::string who = str(e.getKey());
  if (e.getWorker().size() > 0) who += (who.empty() ? "" : " on ") + str(e.getWorker());
  std::string what;
  switch (e.getKind()) {
    case rpc::TaskEvent::Kind::PROGRESS:
      what = std::to_string(t.getSubtasksDone()) + "/" + std::to_string(t.getSubtasksTotal()) +
             " done  " + std::to_string(t.getSubtasksFailed()) + " failed  " +
             std::to_string(t.getSubtasksRunning()) + " running";
      break;
    case rpc::TaskEvent::Kind::ATTEMPT_FAILED: what = "attempt failed: " + who; break;
    case rpc::TaskEvent::Kind::SUBTASK_FAILED: what = "subtask failed: " + who; break;
    case rpc::TaskEvent::Kind::TASK_ENDED: what = "task " + enum_name(t.getState()); break;
    default: what = who; break;  // note, or a kind newer than this build
  }
  if (e.getMessage().size() > 0) what += (what.empty() ? "" : ": ") + str(e.getMessage());
  return format_clock(elapsed) + "  " + what;
}

nlohmann::ordered_json event_json(rpc::TaskEvent::Reader e) {
  auto t = e.getTask();
  nlohmann::ordered_json j;
  j["kind"] = enum_name(e.getKind());
  j["at"] = e.getAtUnixMillis();
  j["key"] = str(e.getKey());
  j["worker"] = str(e.getWorker());
  j["message"] = str(e.getMessage());
  j["done"] = t.getSubtasksDone();
  j["total"] = t.getSubtasksTotal();
  j["failed"] = t.getSubtasksFailed();
  j["running"] = t.getSubtasksRunning();
  return j;
}

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
    std::string line = "task " + str(t.getId()) + " started on swarm " + str(t.getSwarm());
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

// Why a task that ended did not succeed, for Failure.
std::string not_succeeded(rpc::TaskInfo::Reader t) {
  std::string id = str(t.getId());
  std::string s = "task " + id + " " + enum_name(t.getState());
  if (t.getError().size() > 0) s += ": " + str(t.getError());
  if (t.getState() == rpc::TaskState::PAUSED) {
    s += "\n(swarmctl task resume " + id + " --budget-tokens N lets it go on)";
  }
  return s;
}

// task run --wait, once the task has started: follows it to the end.
int watch(const GlobalOptions& g, Connection& conn, rpc::TaskInfo::Reader started) {
  std::string id = str(started.getId());
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

// "3m12s ago (2025-05-01 14:03:09)", in local time.
std::string created_at(int64_t unix_millis) {
  if (unix_millis == 0) return "-";
  time_t secs = static_cast<time_t>(unix_millis / 1000);
  tm local{};
  char when[32] = "";
  if (::localtime_r(&secs, &local) != nullptr) {
    std::strftime(when, sizeof when, " (%Y-%m-%d %H:%M:%S)", &local);
  }
  return format_age(unix_millis) + " ago" + when;
}

void add_task_header(Table& table, rpc::TaskInfo::Reader t) {
  table.add({"id", str(t.getId())});
  table.add({"swarm", str(t.getSwarm())});
  table.add({"state", enum_name(t.getState())});
  table.add({"created", created_at(t.getCreatedUnixMillis())});
  std::string took = format_elapsed(static_cast<double>(task_elapsed(t).count()));
  table.add({"duration", t.getFinishedUnixMillis() != 0 ? took : took + " so far"});
  table.add({"subtasks", std::to_string(t.getSubtasksDone()) + "/" +
                             std::to_string(t.getSubtasksTotal()) + " done, " +
                             std::to_string(t.getSubtasksRunning()) + " running"});
  table.add({"failed", std::to_string(t.getSubtasksFailed())});
  uint64_t used = tokens_used(t);
  table.add({"tokens", std::to_string(used)});
  for (auto u : t.getTokens()) {
    table.add({"", str(u.getModel()) + ": " + std::to_string(u.getInputTokens()) + " in, " +
                       std::to_string(u.getOutputTokens()) + " out"});
  }
  std::string budget = "-";
  if (t.getBudgetTokens() > 0) {
    budget = std::to_string(t.getBudgetTokens()) + " tokens (" +
             std::to_string(used * 100 / t.getBudgetTokens()) + "% used)";
  }
  table.add({"budget", budget});
  table.add({"input", format_size(t.getInputBytes())});
  if (t.getError().size() > 0) table.add({"error", str(t.getError())});
  if (t.getState() == rpc::TaskState::SUCCEEDED) {
    table.add({"result", format_size(t.getResult().size())});
  }
}

// From a subtask's first attempt to its last one's end (now while it runs).
std::string subtask_duration(rpc::SubtaskInfo::Reader s) {
  auto attempts = s.getAttempts();
  if (attempts.size() == 0 || attempts[0].getStartedUnixMillis() == 0) return "-";
  auto last = attempts[attempts.size() - 1];
  int64_t end = last.getFinishedUnixMillis() != 0 ? last.getFinishedUnixMillis()
                                                  : now_unix_millis();
  int64_t d = std::max<int64_t>(end - attempts[0].getStartedUnixMillis(), 0);
  return format_elapsed(static_cast<double>(d));
}

void add_subtask_row(Table& table, rpc::SubtaskInfo::Reader s, size_t depth) {
  auto attempts = s.getAttempts();
  std::string worker =
      attempts.size() > 0 ? str(attempts[attempts.size() - 1].getWorker()) : std::string();
  std::string state = enum_name(s.getState());
  if (s.getState() == rpc::SubtaskState::RUNNING && s.getProgress() > 0) {
    state += " " + std::to_string(static_cast<int>(s.getProgress() * 100)) + "%";
  }
  table.add({std::string(2 * depth, ' ') + str(s.getKey()), worker.empty() ? "-" : worker, state,
             std::to_string(attempts.size()), subtask_duration(s), one_line(s.getError())});
}

// The subtasks as a tree, each under the subtask whose worker delegated it,
// siblings in the order given (key order). A subtask whose parent is not in
// the list, or that sits in a cycle, is shown at the top rather than lost.
Table subtask_tree(capnp::List<rpc::SubtaskInfo>::Reader list) {
  std::map<std::string, unsigned> index;
  for (unsigned i = 0; i < list.size(); ++i) index.emplace(str(list[i].getKey()), i);
  std::map<std::string, std::vector<unsigned>> children;
  std::vector<unsigned> roots;
  for (unsigned i = 0; i < list.size(); ++i) {
    std::string parent = str(list[i].getParent());
    if (parent.empty() || !index.contains(parent)) {
      roots.push_back(i);
    } else {
      children[parent].push_back(i);
    }
  }
  Table table({"KEY", "WORKER", "STATE", "ATTEMPTS", "DURATION", "ERROR"});
  std::vector<bool> shown(list.size(), false);
  // Depth first with an explicit stack: how deep the tree goes is the
  // daemon's data, not something to recurse on.
  auto show_from = [&](unsigned root) {
    std::vector<std::pair<unsigned, size_t>> stack{{root, 0}};
    while (!stack.empty()) {
      auto [i, depth] = stack.back();
      stack.pop_back();
      if (shown[i]) continue;
      shown[i] = true;
      add_subtask_row(table, list[i], depth);
      auto kids = children.find(str(list[i].getKey()));
      if (kids == children.end()) continue;
      for (auto k = kids->second.rbegin(); k != kids->second.rend(); ++k) {
        stack.emplace_back(*k, depth + 1);
      }
    }
  };
  for (unsigned r : roots) show_from(r);
  for (unsigned i = 0; i < list.size(); ++i) show_from(i);  // cycles, if any
  return table;
}

}  // namespace

int task_run(const GlobalOptions& g, const std::string& swarm, const TaskRunOptions& opts) {
  std::string input = read_input(opts.input_file);
  Connection conn = open_connection(g);
  auto req = conn.control().taskRunRequest();
  req.setSwarm(swarm);
  req.setInput(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(input.data()), input.size()));
  req.setTimeoutMillis(static_cast<uint64_t>(opts.timeout.count()));
  req.setBudgetTokens(opts.budget_tokens);
  auto res = conn.wait(req.send());
  if (g.json) print_json(to_json(res));
  if (!opts.wait) {
    if (!g.json) print(str(res.getTask().getId()) + "\n");
    return 0;
  }
  return watch(g, conn, res.getTask());
}

void task_ls(const GlobalOptions& g, const std::string& swarm) {
  Connection conn = open_connection(g);
  auto req = conn.control().taskListRequest();
  req.setSwarm(swarm);
  req.setLimit(0);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  Table table({"ID", "SWARM", "STATE", "SUBTASKS", "AGE", "TOKENS"});
  for (auto t : res.getTasks()) {
    table.add({str(t.getId()), str(t.getSwarm()), enum_name(t.getState()), done_of_total(t),
               format_age(t.getCreatedUnixMillis()), std::to_string(tokens_used(t))});
  }
  table.print();
}

void task_show(const GlobalOptions& g, const std::string& id) {
  Connection conn = open_connection(g);
  auto req = conn.control().taskShowRequest();
  req.setId(id);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  Table header;
  add_task_header(header, res.getTask());
  header.print();
  if (res.getSubtasks().size() == 0) return;
  print("\n");
  subtask_tree(res.getSubtasks()).print();
}

void task_cancel(const GlobalOptions& g, const std::string& id) {
  Connection conn = open_connection(g);
  auto req = conn.control().taskCancelRequest();
  req.setId(id);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  print(outcome(res.getTask()) + "\n");
}

void task_resume(const GlobalOptions& g, const std::string& id, uint64_t budget_tokens) {
  Connection conn = open_connection(g);
  auto req = conn.control().taskResumeRequest();
  req.setId(id);
  req.setBudgetTokens(budget_tokens);
  auto res = conn.wait(req.send());
  if (g.json) return print_json(to_json(res));
  auto t = res.getTask();
  std::string budget = t.getBudgetTokens() > 0
                           ? ", budget " + std::to_string(t.getBudgetTokens()) + " tokens (" +
                                 std::to_string(tokens_used(t)) + " used)"
                           : "";
  print("task " + id + " " + enum_name(t.getState()) + budget + "\n");
}

}  // namespace smol::cli
