// The [tasks] table of a swarm spec: how the swarm takes tasks
// (`swarmctl task run`). Its lead role receives each task and splits it into
// subtasks, which the daemon runs on the worker roles, within these bounds.
//
//   [tasks]
//   lead = "planner"              # required: the role that receives tasks
//   workers = ["worker"]          # roles subtasks run on; default: every other role
//   max_concurrency = 16          # subtasks running at once in the swarm, 1..10000
//   subtask_timeout = "5m"        # each attempt, 10ms..24h
//   max_attempts = 3              # per subtask, 1..100 (retries on another worker)
//   max_depth = 1                 # 1: only the lead delegates; n: workers may
//                                 # delegate n-1 levels further, 1..16
//   max_subtasks = 10000          # per task, 1..1000000
//   budget = 0                    # tokens for the swarm's tasks together; 0: none
//   task_budget = 0               # tokens for one task (task run --budget-tokens
//                                 # overrides); 0: none
//   agent_budget = 0              # tokens for one agent, over all tasks; 0: none
//   on_budget_exceeded = "fail"   # "fail" the task, or "pause" it until
//                                 # `swarmctl task resume ID --budget-tokens N`
//
// Budgets count the tokens agents report (AgentHost.reportUsage) since the
// swarm came up (budget, agent_budget) or over the task's life
// (task_budget). When one runs out, delegation is refused with
// budget_exceeded and the task it happened in fails or pauses.
//
// A swarm without [tasks] takes no tasks. The lead must be one of the
// swarm's roles and not a worker; every worker role must exist. Problems are
// reported at their position like every other spec error. Caller's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/toml_check.h"

namespace smol::spec {

enum class BudgetAction { fail, pause };

struct TasksSpec {
  std::string lead;
  std::vector<std::string> workers;  // never empty once read
  uint32_t max_concurrency = 16;
  std::chrono::milliseconds subtask_timeout{5 * 60 * 1000};
  uint32_t max_attempts = 3;
  uint32_t max_depth = 1;
  uint32_t max_subtasks = 10000;
  uint64_t budget = 0;
  uint64_t task_budget = 0;
  uint64_t agent_budget = 0;
  BudgetAction on_budget_exceeded = BudgetAction::fail;

  friend bool operator==(const TasksSpec&, const TasksSpec&) = default;
};

// The document root's [tasks] table, checked against the swarm's roles (in
// spec order); nullopt when there is none (or it was too broken to use).
std::optional<TasksSpec> read_tasks(const toml_check::TableReader& swarm,
                                    const std::vector<std::string>& roles,
                                    toml_check::Problems& problems);

}  // namespace smol::spec
