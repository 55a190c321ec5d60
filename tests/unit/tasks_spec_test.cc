// The [tasks] table: which role leads, which run subtasks, and the bounds a
// task runs within, as a swarm's author writes them.
#include "supervisor/tasks_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/bad_spec.h"

namespace smol::spec {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

// A swarm with roles planner, worker and critic, then `tasks` (from line 11).
std::string swarm_with(std::string_view tasks) {
  return "name = \"team\"\n"
         "[[agents]]\nrole = \"planner\"\ncommand = [\"p\"]\n"
         "[[agents]]\nrole = \"worker\"\ncommand = [\"w\"]\n"
         "[[agents]]\nrole = \"critic\"\ncommand = [\"c\"]\n"
         "[tasks]\n" +
         std::string(tasks) + "\n";
}

TEST(TasksSpec, ASwarmWithoutTheTableTakesNoTasks) {
  SwarmSpec spec = parse_swarm_spec(
      "name = \"a\"\n[[agents]]\nrole = \"x\"\ncommand = [\"x\"]\n", "a.toml");
  EXPECT_FALSE(spec.tasks.has_value());
}

TEST(TasksSpec, DefaultsLetEveryOtherRoleWork) {
  SwarmSpec spec = parse_swarm_spec(swarm_with("lead = \"planner\""), "hello.toml");
  ASSERT_TRUE(spec.tasks.has_value());
  const TasksSpec& t = *spec.tasks;
  EXPECT_EQ(t.lead, "planner");
  EXPECT_THAT(t.workers, ElementsAre("worker", "critic"));
  EXPECT_EQ(t.max_concurrency, 16u);
  EXPECT_EQ(t.subtask_timeout, milliseconds(5 * 60 * 1000));
  EXPECT_EQ(t.max_attempts, 3u);
  EXPECT_EQ(t.max_depth, 1u);
  EXPECT_EQ(t.max_subtasks, 10000u);
  EXPECT_EQ(t.budget, 0u);
  EXPECT_EQ(t.on_budget_exceeded, BudgetAction::fail);
}

TEST(TasksSpec, EveryKeyIsRead) {
  SwarmSpec spec = parse_swarm_spec(
      swarm_with("lead = \"planner\"\nworkers = [\"worker\"]\nmax_concurrency = 4\n"
                 "subtask_timeout = \"30s\"\nmax_attempts = 5\nmax_depth = 2\n"
                 "max_subtasks = 50\nbudget = 100000\ntask_budget = 20000\nagent_budget = 5000\n"
                 "on_budget_exceeded = \"pause\""),
      "hello.toml");
  const TasksSpec& t = *spec.tasks;
  EXPECT_THAT(t.workers, ElementsAre("worker"));
  EXPECT_EQ(t.max_concurrency, 4u);
  EXPECT_EQ(t.subtask_timeout, milliseconds(30000));
  EXPECT_EQ(t.max_attempts, 5u);
  EXPECT_EQ(t.max_depth, 2u);
  EXPECT_EQ(t.max_subtasks, 50u);
  EXPECT_EQ(t.budget, 100000u);
  EXPECT_EQ(t.task_budget, 20000u);
  EXPECT_EQ(t.agent_budget, 5000u);
  EXPECT_EQ(t.on_budget_exceeded, BudgetAction::pause);
}

const BadSpec kBadTasks[] = {
    {"NoLead", swarm_with("max_attempts = 2"),
     "hello.toml:11:1: tasks: missing required key 'lead'"},
    {"LeadOfNoRole", swarm_with("lead = \"boss\""),
     "hello.toml:12:8: tasks.lead = \"boss\": is not the role of any [[agents]] section of this "
     "swarm"},
    {"WorkerOfNoRole", swarm_with("lead = \"planner\"\nworkers = [\"ghost\"]"),
     "hello.toml:13:12: tasks.workers[0] = \"ghost\": is not the role of any [[agents]] section "
     "of this swarm"},
    {"TheLeadAsAWorker", swarm_with("lead = \"planner\"\nworkers = [\"planner\"]"),
     "hello.toml:13:12: tasks.workers[0] = \"planner\": is the lead: the lead hands subtasks out, "
     "it does not run them"},
    {"ZeroAttempts", swarm_with("lead = \"planner\"\nmax_attempts = 0"),
     "hello.toml:13:16: tasks.max_attempts = 0: must be between 1 and 100"},
    {"TimeoutTooShort", swarm_with("lead = \"planner\"\nsubtask_timeout = \"1ms\""),
     "hello.toml:13:19: tasks.subtask_timeout = \"1ms\": must be between 10ms and 24h"},
    {"UnknownBudgetAction", swarm_with("lead = \"planner\"\non_budget_exceeded = \"panic\""),
     "hello.toml:13:22: tasks.on_budget_exceeded = \"panic\": must be \"fail\" or \"pause\""},
};

INSTANTIATE_TEST_SUITE_P(TasksSpec, BadSpecTest, ::testing::ValuesIn(kBadTasks), bad_spec_name);

}  // namespace
}  // namespace smol::spec
