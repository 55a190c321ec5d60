#include "cli/task_text.h"

#include <algorithm>

#include "cli/output.h"

namespace smol::cli {

using std::chrono::milliseconds;


int64_t now_unix_millis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

std::string done_of_total(rpc::TaskInfo::Reader t) {
  std::string s = std::to_string(t.getSubtasksDone()) + "/" + std::to_string(t.getSubtasksTotal());
  if (t.getSubtasksFailed() > 0) s += " (" + std::to_string(t.getSubtasksFailed()) + " failed)";
  return s;
}

milliseconds task_elapsed(rpc::TaskInfo::Reader t, int64_t at) {
  if (t.getCreatedUnixMillis() == 0) return milliseconds(0);
  int64_t end = t.getFinishedUnixMillis() != 0 ? t.getFinishedUnixMillis()
                                               : (at != 0 ? at : now_unix_millis());
  return milliseconds(std::max<int64_t>(end - t.getCreatedUnixMillis(), 0));
}

std::string one_line(capnp::Text::Reader text, size_t max) {
  std::string s = ipc::text_of(text);
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; },
                  ' ');
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s.empty() ? "-" : s;
}

std::string outcome(rpc::TaskInfo::Reader t) {
  return "task " + ipc::text_of(t.getId()) + " " + enum_name(t.getState()) + ": " +
         std::to_string(t.getSubtasksDone()) + "/" + std::to_string(t.getSubtasksTotal()) +
         " subtasks done, " + std::to_string(t.getSubtasksFailed()) + " failed" +
         (t.getSubtasksCancelled() > 0 ? ", " + std::to_string(t.getSubtasksCancelled()) + " cancelled"
                                       : "");
}

std::string summary(rpc::TaskInfo::Reader t) {
  return outcome(t) + ", in " + format_elapsed(static_cast<double>(task_elapsed(t).count())) +
         ", " + std::to_string(tokens_used(t)) + " tokens";
}

std::string event_line(rpc::TaskEvent::Reader e, milliseconds elapsed) {
  auto t = e.getTask();
  std::string who = ipc::text_of(e.getKey());
  if (e.getWorker().size() > 0) who += (who.empty() ? "" : " on ") + ipc::text_of(e.getWorker());
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
  if (e.getMessage().size() > 0) what += (what.empty() ? "" : ": ") + ipc::text_of(e.getMessage());
  return format_clock(elapsed) + "  " + what;
}

nlohmann::ordered_json event_json(rpc::TaskEvent::Reader e) {
  auto t = e.getTask();
  nlohmann::ordered_json j;
  j["kind"] = enum_name(e.getKind());
  j["at"] = e.getAtUnixMillis();
  j["key"] = ipc::text_of(e.getKey());
  j["worker"] = ipc::text_of(e.getWorker());
  j["message"] = ipc::text_of(e.getMessage());
  j["done"] = t.getSubtasksDone();
  j["total"] = t.getSubtasksTotal();
  j["failed"] = t.getSubtasksFailed();
  j["cancelled"] = t.getSubtasksCancelled();
  j["running"] = t.getSubtasksRunning();
  return j;
}

std::string not_succeeded(rpc::TaskInfo::Reader t) {
  std::string id = ipc::text_of(t.getId());
  std::string s = "task " + id + " " + enum_name(t.getState());
  if (t.getError().size() > 0) s += ": " + ipc::text_of(t.getError());
  if (t.getState() == rpc::TaskState::PAUSED) {
    s += "\n(swarmctl task resume " + id + " --budget-tokens N lets it go on)";
  }
  return s;
}

}  // namespace smol::cli
