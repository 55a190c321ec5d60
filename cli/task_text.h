// How a task reads for people and scripts, shared by the task commands
// (task_commands.h) and by `task run --wait`'s view (task_watch.h): its
// counters, its outcome, its duration, and its events as lines or JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>

#include "cli/progress_bar.h"
#include "ipc/control.capnp.h"
#include "ipc/wire.h"

namespace smol::cli {

int64_t now_unix_millis();

uint64_t tokens_used(rpc::TaskInfo::Reader t);
TaskCounts counts(rpc::TaskInfo::Reader t);
// "412/1000", "412/1000 (3 failed)".
std::string done_of_total(rpc::TaskInfo::Reader t);
// From the task's creation to its end, or to `at` (0: now) while it runs.
std::chrono::milliseconds task_elapsed(rpc::TaskInfo::Reader t, int64_t at = 0);
// An error or note on one line of a table: newlines flattened, cut at max.
std::string one_line(capnp::Text::Reader text, size_t max = 80);
// "task t-2a cancelled: 412/1000 subtasks done, 3 failed"
std::string outcome(rpc::TaskInfo::Reader t);
// outcome() + ", in 2m13s, 45210 tokens"
std::string summary(rpc::TaskInfo::Reader t);
// Why a task that ended did not succeed, for Failure (with how to resume a
// paused one).
std::string not_succeeded(rpc::TaskInfo::Reader t);
// How an event reads for people: "00:07  attempt failed: k17 on worker-2: timed out".
std::string event_line(rpc::TaskEvent::Reader e, std::chrono::milliseconds elapsed);
nlohmann::ordered_json event_json(rpc::TaskEvent::Reader e);

}  // namespace smol::cli
