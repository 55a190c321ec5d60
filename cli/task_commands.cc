// The task commands (task_commands.h): each one call and a sentence or a
// table; `task run --wait` then follows the task (task_watch.h).
#include "cli/task_commands.h"


#include <algorithm>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/failure.h"
#include "cli/input.h"
#include "cli/output.h"
#include "ipc/wire.h"
#include "cli/task_text.h"
#include "cli/task_watch.h"

namespace smol::cli {
namespace {

using std::chrono::milliseconds;

// The bound on each call, as for every other command (commands.cc).
constexpr milliseconds kDefaultTimeout{60000};

Connection open_connection(const GlobalOptions& g) {
  return Connection(g.socket_path, g.timeout.value_or(kDefaultTimeout));
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
  table.add({"id", ipc::text_of(t.getId())});
  table.add({"swarm", ipc::text_of(t.getSwarm())});
  table.add({"state", enum_name(t.getState())});
  table.add({"created", created_at(t.getCreatedUnixMillis())});
  std::string took = format_elapsed(static_cast<double>(task_elapsed(t).count()));
  table.add({"duration", t.getFinishedUnixMillis() != 0 ? took : took + " so far"});
  table.add({"subtasks", std::to_string(t.getSubtasksDone()) + "/" +
                             std::to_string(t.getSubtasksTotal()) + " done, " +
                             std::to_string(t.getSubtasksRunning()) + " running"});
  table.add({"failed", std::to_string(t.getSubtasksFailed())});
  table.add({"cancelled", std::to_string(t.getSubtasksCancelled())});
  uint64_t used = tokens_used(t);
  table.add({"tokens", std::to_string(used)});
  for (auto u : t.getTokens()) {
    table.add({"", ipc::text_of(u.getModel()) + ": " + std::to_string(u.getInputTokens()) + " in, " +
                       std::to_string(u.getOutputTokens()) + " out"});
  }
  std::string budget = "-";
  if (t.getBudgetTokens() > 0) {
    budget = std::to_string(t.getBudgetTokens()) + " tokens (" +
             std::to_string(used * 100 / t.getBudgetTokens()) + "% used)";
  }
  table.add({"budget", budget});
  table.add({"input", format_size(t.getInputBytes())});
  if (t.getError().size() > 0) table.add({"error", ipc::text_of(t.getError())});
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
      attempts.size() > 0 ? ipc::text_of(attempts[attempts.size() - 1].getWorker()) : std::string();
  std::string state = enum_name(s.getState());
  if (s.getState() == rpc::SubtaskState::RUNNING && s.getProgress() > 0) {
    state += " " + std::to_string(static_cast<int>(s.getProgress() * 100)) + "%";
  }
  table.add({std::string(2 * depth, ' ') + ipc::text_of(s.getKey()), worker.empty() ? "-" : worker, state,
             std::to_string(attempts.size()), subtask_duration(s), one_line(s.getError())});
}

// The subtasks as a tree, each under the subtask whose worker delegated it,
// siblings in the order given (key order). A subtask whose parent is not in
// the list, or that sits in a cycle, is shown at the top rather than lost.
Table subtask_tree(capnp::List<rpc::SubtaskInfo>::Reader list) {
  std::map<std::string, unsigned> index;
  for (unsigned i = 0; i < list.size(); ++i) index.emplace(ipc::text_of(list[i].getKey()), i);
  std::map<std::string, std::vector<unsigned>> children;
  std::vector<unsigned> roots;
  for (unsigned i = 0; i < list.size(); ++i) {
    std::string parent = ipc::text_of(list[i].getParent());
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
      auto kids = children.find(ipc::text_of(list[i].getKey()));
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
  std::string input = opts.input_file.empty() ? std::string() : read_input(opts.input_file);
  Connection conn = open_connection(g);
  auto req = conn.control().taskRunRequest();
  req.setSwarm(swarm);
  req.setInput(kj::arrayPtr(reinterpret_cast<const capnp::byte*>(input.data()), input.size()));
  req.setTimeoutMillis(static_cast<uint64_t>(opts.timeout.count()));
  req.setBudgetTokens(opts.budget_tokens);
  auto res = conn.wait(req.send());
  if (g.json) print_json(to_json(res));
  if (!opts.wait) {
    if (!g.json) print(ipc::text_of(res.getTask().getId()) + "\n");
    return 0;
  }
  return watch_task(g, conn, res.getTask());
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
    table.add({ipc::text_of(t.getId()), ipc::text_of(t.getSwarm()), enum_name(t.getState()), done_of_total(t),
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
