#include "supervisor/tasks_spec.h"

#include <algorithm>

namespace smol::spec {
namespace {

using namespace std::chrono_literals;
using toml_check::TableReader;

bool has(const std::vector<std::string>& roles, const std::string& role) {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

// The workers as listed, each a role of the swarm other than the lead.
void read_workers(const TableReader& table, const std::vector<std::string>& roles,
                  toml_check::Problems& problems, TasksSpec& t) {
  const toml::array* list = table.array("workers");
  if (!list) {
    for (const auto& r : roles) {
      if (r != t.lead) t.workers.push_back(r);
    }
    return;
  }
  std::string path = table.path_of("workers");
  for (size_t i = 0; i < list->size(); ++i) {
    const toml::node& node = *list->get(i);
    const auto* role = node.as_string();
    std::string at = toml_check::index_path(path, i);
    if (!role) {
      problems.bad_value(node, at, "must be a role name");
    } else if (!has(roles, role->get())) {
      problems.bad_value(node, at, "is not the role of any [[agents]] section of this swarm");
    } else if (role->get() == t.lead) {
      problems.bad_value(node, at, "is the lead: the lead hands subtasks out, it does not run them");
    } else if (!has(t.workers, role->get())) {
      t.workers.push_back(role->get());
    }
  }
}

}  // namespace

std::optional<TasksSpec> read_tasks(const TableReader& swarm,
                                    const std::vector<std::string>& roles,
                                    toml_check::Problems& problems) {
  const toml::table* table = swarm.table("tasks");
  if (!table) return std::nullopt;
  TableReader tasks(*table, "tasks",
                    {"lead", "workers", "max_concurrency", "subtask_timeout", "max_attempts",
                     "max_depth", "max_subtasks", "budget", "task_budget", "agent_budget",
                     "on_budget_exceeded"},
                    problems);
  TasksSpec t;
  const std::string* lead = tasks.string("lead", toml_check::Need::required);
  if (!lead) return std::nullopt;
  if (!has(roles, *lead)) {
    tasks.bad("lead", "is not the role of any [[agents]] section of this swarm");
    return std::nullopt;
  }
  t.lead = *lead;
  read_workers(tasks, roles, problems, t);
  if (t.workers.empty() && !tasks.array("workers")) {
    tasks.bad("lead", "leaves no role to run subtasks: add an [[agents]] section for workers");
  }
  if (auto n = tasks.integer("max_concurrency", 1, 10000)) t.max_concurrency = *n;
  if (auto d = tasks.duration("subtask_timeout", 10ms, 24h)) t.subtask_timeout = *d;
  if (auto n = tasks.integer("max_attempts", 1, 100)) t.max_attempts = *n;
  if (auto n = tasks.integer("max_depth", 1, 16)) t.max_depth = *n;
  if (auto n = tasks.integer("max_subtasks", 1, 1'000'000)) t.max_subtasks = *n;
  if (auto n = tasks.integer("budget", 0, INT64_MAX)) t.budget = static_cast<uint64_t>(*n);
  if (auto n = tasks.integer("task_budget", 0, INT64_MAX)) t.task_budget = static_cast<uint64_t>(*n);
  if (auto n = tasks.integer("agent_budget", 0, INT64_MAX)) {
    t.agent_budget = static_cast<uint64_t>(*n);
  }
  if (auto a = tasks.one_of("on_budget_exceeded", {"fail", "pause"})) {
    t.on_budget_exceeded = *a == 0 ? BudgetAction::fail : BudgetAction::pause;
  }
  return t;
}

}  // namespace smol::spec
