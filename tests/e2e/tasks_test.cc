// Tasks as a swarm's operator meets them: `swarmctl task run` hands a task
// to the lead, which delegates to workers through swarmd; failures are
// retried, a killed worker's subtask runs elsewhere, a killed daemon
// resumes the task, the guards refuse what would loop, budgets stop what
// would spend too much, and cancel stops it all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <sstream>
#include <string>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A lead and `workers` workers of smol-task-agent; worker_args are the
// workers' options, tasks the [tasks] table's extra lines.
std::string task_swarm(int workers, const std::string& worker_args, const std::string& tasks = "") {
  std::string agent = bin("smol-task-agent");
  std::string args;
  std::string word;
  for (char c : worker_args + " ") {
    if (c != ' ') {
      word += c;
    } else if (!word.empty()) {
      args += ", \"" + word + "\"";
      word.clear();
    }
  }
  return "name = \"t\"\n"
         "[[agents]]\nrole = \"planner\"\ncommand = [\"" + agent + "\"]\n"
         "[[agents]]\nrole = \"worker\"\ncommand = [\"" + agent + "\"" + args + "]\ncount = " +
         std::to_string(workers) + "\n"
         "[tasks]\nlead = \"planner\"\n" + tasks;
}

class Tasks : public ::testing::Test {
 protected:
  void up(const std::string& spec) {
    RunResult r = daemon->ctl({"up", dir.write("t.toml", spec)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // Runs a task to its end; returns swarmctl's result (stdout holds the
  // task's result).
  RunResult run_task(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"task", "run", "t", "--input", dir.write("in", input), "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    return daemon->ctl(args);
  }

  // Starts a task and returns its id at once.
  std::string start_task(const std::string& input, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"task", "run", "t", "--input", dir.write("in", input)};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = daemon->ctl(args);
    EXPECT_EQ(r.status, 0) << r.err;
    std::string id = r.out;
    while (!id.empty() && id.back() == '\n') id.pop_back();
    return id;
  }

  // SIGKILLs swarmd and starts another on its state dir and cgroup base.
  void kill_and_restart() {
    std::string state_dir = daemon->state_dir(), cgroup_base = daemon->cgroup_base();
    ASSERT_EQ(daemon->stop(SIGKILL), 128 + SIGKILL);
    // The harness of the killed daemon cleans up its cgroup base, which the
    // next one takes over: it goes first.
    daemon.reset();
    DaemonOptions again;
    again.state_dir = state_dir;
    again.cgroup_base = cgroup_base;
    daemon = std::make_unique<Daemon>(dir, again);
  }

  nlohmann::json show(const std::string& id) { return daemon->ctl_json({"task", "show", id}); }

  std::string state(const std::string& id) {
    return show(id)["task"]["state"].get<std::string>();
  }

  nlohmann::json subtask(const nlohmann::json& shown, const std::string& key) {
    for (const auto& s : shown["subtasks"]) {
      if (s["key"] == key) return s;
    }
    ADD_FAILURE() << "no subtask " << key << " in " << shown.dump();
    return {};
  }

  std::string logs(const std::string& agent) { return daemon->ctl({"logs", "t/" + agent}).out; }

  TempDir dir;
  std::unique_ptr<Daemon> daemon = std::make_unique<Daemon>(dir);
};

TEST_F(Tasks, FanOutRetriesFailedAttemptsAndCountsEachResultOnce) {
  up(task_swarm(3, "--fail-first-every 7"));
  RunResult r = run_task("fanout 50");
  ASSERT_EQ(r.status, 0) << r.err;
  // 0, 7, ..., 49 fail once each and succeed on a second attempt.
  EXPECT_EQ(r.out, "ok=50 failed=0 cancelled=0 sum=2450 attempts=58 refused=0\n");
  EXPECT_THAT(r.err, HasSubstr("failing s-7 on purpose; retrying (attempt 2 of 3)"));

  nlohmann::json tasks = daemon->ctl_json({"task", "ls", "t"});
  ASSERT_EQ(tasks["tasks"].size(), 1u) << tasks.dump();
  std::string id = tasks["tasks"][0]["id"];
  nlohmann::json shown = show(id);
  EXPECT_EQ(shown["task"]["state"], "succeeded");
  EXPECT_EQ(shown["task"]["subtasks_total"], 50);
  EXPECT_EQ(shown["task"]["subtasks_done"], 50);
  nlohmann::json s7 = subtask(shown, "s-7");
  ASSERT_EQ(s7["attempts"].size(), 2u) << s7.dump();
  EXPECT_EQ(s7["attempts"][0]["ok"], false);
  EXPECT_THAT(s7["attempts"][0]["error"].get<std::string>(), HasSubstr("failing s-7 on purpose"));
  EXPECT_NE(s7["attempts"][0]["worker"], s7["attempts"][1]["worker"]) << "retried on the same worker";
  EXPECT_EQ(subtask(shown, "s-8")["attempts"].size(), 1u);

  EXPECT_EQ(daemon->metric("smolswarms_subtask_attempts_total{result=\"failed\",swarm=\"t\"}"), 8);
  EXPECT_EQ(daemon->metric("smolswarms_subtask_attempts_total{result=\"succeeded\",swarm=\"t\"}"),
            50);
  EXPECT_EQ(daemon->metric("smolswarms_tasks_total{outcome=\"succeeded\",swarm=\"t\"}"), 1);
  // The lead's result is in the swarm's long-term memory.
  EXPECT_THAT(daemon->ctl({"mem", "get", "t", "long_term", "task/" + id}).out,
              HasSubstr("ok=50"));
}

TEST_F(Tasks, AWorkerKilledMidSubtaskHasItRetriedElsewhere) {
  up(task_swarm(2, "--hang-key s-3"));
  std::string id = start_task("fanout 6");
  std::string hung;
  ASSERT_TRUE(eventually([&] {
    for (std::string w : {"worker-0", "worker-1"}) {
      if (logs(w).find("working on s-3 attempt 1") != std::string::npos) hung = w;
    }
    return !hung.empty();
  })) << logs("worker-0") << logs("worker-1");
  pid_t pid = 0;
  nlohmann::json ps = daemon->ctl_json({"ps", "t"});
  for (const auto& a : ps["agents"]) {
    if (a["id"] == hung) pid = a["pid"].get<pid_t>();
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);

  ASSERT_TRUE(eventually([&] { return state(id) == "succeeded"; }, std::chrono::seconds(30)))
      << show(id).dump();
  nlohmann::json shown = show(id);
  // The subtasks queued behind the hung one on the killed worker ran
  // elsewhere too; each result still counts once.
  EXPECT_THAT(shown["task"]["result"].get<std::string>(),
              HasSubstr("ok=6 failed=0 cancelled=0 sum=30 attempts="));
  nlohmann::json s3 = subtask(shown, "s-3");
  ASSERT_EQ(s3["attempts"].size(), 2u) << s3.dump();
  EXPECT_THAT(s3["attempts"][0]["error"].get<std::string>(), HasSubstr(hung + " exited"));
  EXPECT_NE(s3["attempts"][1]["worker"], hung);
  EXPECT_GE(daemon->metric("smolswarms_subtask_attempts_total{result=\"lost\",swarm=\"t\"}"), 1);
}

TEST_F(Tasks, ATaskResumesAfterTheDaemonIsKilled) {
  // max_subtasks = 20: the resumed lead's 20 keys are the stored ones again.
  up(task_swarm(2, "--sleep-ms 150", "max_concurrency = 2\nmax_subtasks = 20\n"));
  std::string id = start_task("fanout 20");
  ASSERT_TRUE(eventually([&] { return show(id)["task"]["subtasks_done"].get<int>() >= 4; }))
      << show(id).dump();
  kill_and_restart();
  ASSERT_TRUE(eventually([&] { return state(id) == "succeeded"; }, std::chrono::seconds(60)))
      << show(id).dump();
  nlohmann::json shown = show(id);
  // Every subtask's result counts once, whichever daemon it came from.
  EXPECT_THAT(shown["task"]["result"].get<std::string>(), HasSubstr("ok=20 failed=0 cancelled=0 sum=380"));
  int done_before = 0;
  for (const auto& s : shown["subtasks"]) {
    int ok = 0;
    for (const auto& a : s["attempts"]) ok += a["ok"].get<bool>() ? 1 : 0;
    EXPECT_EQ(ok, 1) << s.dump();
    done_before += s["attempts"].size() == 1 ? 1 : 0;
  }
  EXPECT_GE(done_before, 4) << "results from before the kill were not kept";
  EXPECT_THAT(logs("planner-0"), HasSubstr("task " + id + " resumed: fanout 20"));
}

// An attempt that died with swarmd is not the subtask's fault: with
// max_attempts = 2, the attempt after the restart may fail and one more runs.
TEST_F(Tasks, AnAttemptLostToARestartDoesNotCountAgainstMaxAttempts) {
  up(task_swarm(1, "--sleep-ms 400 --fail-attempt 2", "max_attempts = 2\n"));
  std::string id = start_task("fanout 1");
  ASSERT_TRUE(eventually([&] { return show(id)["task"]["subtasks_running"].get<int>() == 1; }))
      << show(id).dump();
  kill_and_restart();
  ASSERT_TRUE(eventually([&] { return state(id) == "succeeded"; }, std::chrono::seconds(60)))
      << show(id).dump();
  nlohmann::json s = subtask(show(id), "s-0");
  ASSERT_EQ(s["attempts"].size(), 3u) << s.dump();
  EXPECT_EQ(s["attempts"][0]["error"], "swarmd restarted");
  EXPECT_THAT(s["attempts"][1]["error"].get<std::string>(), HasSubstr("on purpose"));
  EXPECT_TRUE(s["attempts"][2]["ok"].get<bool>());
  EXPECT_THAT(show(id)["task"]["result"].get<std::string>(), HasSubstr("ok=1 failed=0"));
}

TEST_F(Tasks, SelfDelegationAndCyclesAreRefused) {
  up(task_swarm(2, "", "max_depth = 3\n"));
  RunResult self = run_task("to planner-0");
  ASSERT_EQ(self.status, 0) << self.err;
  EXPECT_THAT(self.out, HasSubstr("refused one self_delegation: subtask \"one\": planner-0 may not "
                                  "delegate to itself"));
  // worker-0 waits on worker-1, which tries itself and worker-0.
  RunResult chain = run_task("chain");
  ASSERT_EQ(chain.status, 0) << chain.err;
  EXPECT_THAT(chain.out, HasSubstr("refused self self_delegation"));
  EXPECT_THAT(chain.out, HasSubstr("refused cycle cycle: subtask \"cycle\": worker-0 waits on "
                                   "worker-1 already; delegating to it would close a cycle"));
  EXPECT_EQ(daemon->metric("smolswarms_delegations_refused_total{reason=\"cycle\",swarm=\"t\"}"), 1);
  EXPECT_EQ(
      daemon->metric("smolswarms_delegations_refused_total{reason=\"self_delegation\",swarm=\"t\"}"),
      2);
}

TEST_F(Tasks, DepthIsBoundedByWhatAWorkerIsGiven) {
  up(task_swarm(2, ""));  // max_depth 1: only the lead delegates
  RunResult r = run_task("chain");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("failed: "));
  EXPECT_THAT(r.out, HasSubstr("may not delegate further ([tasks] max_depth"));
}

TEST_F(Tasks, ARunawayLeadIsStopped) {
  up(task_swarm(1, ""));
  RunResult r = run_task("runaway");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("runaway: subtask \"same\": planner-0 delegated it 4 times"));
  EXPECT_EQ(daemon->metric("smolswarms_delegations_refused_total{reason=\"runaway\",swarm=\"t\"}"), 1);
  EXPECT_EQ(daemon->metric("smolswarms_tasks_total{outcome=\"failed\",swarm=\"t\"}"), 1);
}

TEST_F(Tasks, AnExhaustedBudgetFailsTheTask) {
  up(task_swarm(1, "--tokens 100", "max_concurrency = 1\ntask_budget = 250\n"));
  RunResult r = run_task("fanout 10");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("budget exceeded: task "));
  EXPECT_THAT(r.err, HasSubstr("of its 250 tokens"));
  nlohmann::json tasks = daemon->ctl_json({"task", "ls"});
  std::string id = tasks["tasks"][0]["id"];
  nlohmann::json shown = show(id);
  EXPECT_EQ(shown["task"]["tokens"][0]["model"], "test-model");
  EXPECT_EQ(shown["task"]["tokens"][0]["input_tokens"], 300);
  EXPECT_LT(shown["task"]["subtasks_failed"].get<int>() + 3, 10);
  EXPECT_EQ(daemon->metric("smolswarms_tokens_total{direction=\"input\",model=\"test-model\","
                           "role=\"worker\",swarm=\"t\"}"),
            300);
}

TEST_F(Tasks, AnExhaustedBudgetPausesTheTaskUntilItIsRaised) {
  up(task_swarm(1, "--tokens 100",
                "max_concurrency = 1\ntask_budget = 250\non_budget_exceeded = \"pause\"\n"));
  std::string id = start_task("fanout 6");
  ASSERT_TRUE(eventually([&] { return state(id) == "paused"; })) << show(id).dump();
  RunResult still = daemon->ctl({"task", "resume", id});
  EXPECT_NE(still.status, 0);
  EXPECT_THAT(still.err, HasSubstr("stays paused"));
  RunResult resumed = daemon->ctl({"task", "resume", id, "--budget-tokens", "100000"});
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  ASSERT_TRUE(eventually([&] { return state(id) == "succeeded"; })) << show(id).dump();
  EXPECT_THAT(show(id)["task"]["result"].get<std::string>(), HasSubstr("ok=6"));
}

TEST_F(Tasks, ASwarmBudgetStopsItsTasksAndRefusesNewOnes) {
  up(task_swarm(1, "--tokens 100", "max_concurrency = 1\nbudget = 150\n"));
  RunResult r = run_task("fanout 5");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("budget exceeded: swarm t used 200 tokens of its [tasks] budget of 150"));
  RunResult next = daemon->ctl({"task", "run", "t"});
  EXPECT_NE(next.status, 0);
  EXPECT_THAT(next.err, HasSubstr("swarm t has used 200 tokens of its [tasks] budget of 150"));
}

TEST_F(Tasks, AnAgentBudgetStopsTheTaskItWorksOn) {
  up(task_swarm(1, "--tokens 100", "max_concurrency = 1\nagent_budget = 250\n"));
  RunResult r = run_task("fanout 5");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("budget exceeded: worker-0 used 300 tokens of its [tasks] "
                               "agent_budget of 250"));
}

TEST_F(Tasks, CancelStopsTheTaskAndItsWorkers) {
  up(task_swarm(2, "--sleep-ms 300", "max_concurrency = 2\n"));
  std::string id = start_task("fanout 20");
  ASSERT_TRUE(eventually([&] { return show(id)["task"]["subtasks_running"].get<int>() > 0; }));
  RunResult c = daemon->ctl({"task", "cancel", id});
  ASSERT_EQ(c.status, 0) << c.err;
  nlohmann::json shown = show(id);
  EXPECT_EQ(shown["task"]["state"], "cancelled");
  EXPECT_EQ(shown["task"]["error"], "cancelled by the operator");
  int cancelled = 0;
  for (const auto& s : shown["subtasks"]) cancelled += s["state"] == "cancelled" ? 1 : 0;
  EXPECT_GE(cancelled, 15);
  // The counts say how many were cancelled, not only that all are done.
  EXPECT_EQ(shown["task"]["subtasks_cancelled"], cancelled);
  EXPECT_THAT(c.out, HasSubstr(", " + std::to_string(cancelled) + " cancelled"));
  EXPECT_NE(daemon->ctl({"task", "cancel", id}).status, 0);
  EXPECT_EQ(daemon->metric("smolswarms_subtasks_in_flight{swarm=\"t\"}"), 0);
}

TEST_F(Tasks, ALeadCancelsWhatRemainsOfADelegation) {
  up(task_swarm(2, "--sleep-ms 100", "max_concurrency = 2\n"));
  RunResult r = run_task("cancel-after 3 20");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cancelled="));
  EXPECT_THAT(logs("planner-0"), HasSubstr("cancelled 1"));
  EXPECT_THAT(r.out, Not(HasSubstr("cancelled=0")));
}

TEST_F(Tasks, ProgressComesAsEvents) {
  up(task_swarm(2, "--progress --fail-first-every 5 --sleep-ms 50"));
  RunResult r = run_task("fanout 10", {"--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::vector<nlohmann::json> events;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  bool progress = false, failed = false;
  for (const auto& e : events) {
    if (!e.contains("kind")) continue;
    progress |= e["kind"] == "progress" && e["total"] == 10;
    failed |= e["kind"] == "attempt_failed" && e["key"] == "s-5";
  }
  EXPECT_TRUE(progress) << r.out;
  EXPECT_TRUE(failed) << r.out;
}

TEST_F(Tasks, AWatcherHearsFromTheDaemonWhileNothingChanges) {
  up(task_swarm(1, "--sleep-ms 2500"));
  RunResult r = run_task("fanout 1", {"--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  int running = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json e = nlohmann::json::parse(line);
    running += e.value("kind", "") == "progress" && e["running"] == 1 ? 1 : 0;
  }
  // One progress event when the watch starts, and one a second after.
  EXPECT_GE(running, 2) << r.out;
}

TEST_F(Tasks, AResultOverTheLimitFailsTheAttempt) {
  up(task_swarm(1, "--result-bytes 2097152", "max_attempts = 1\n"));
  RunResult r = run_task("fanout 1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok=0 failed=1 cancelled=0 sum=0 attempts=1 refused=0\n");
  EXPECT_THAT(logs("planner-0"), HasSubstr("failed s-0: its result of 2MiB is over the limit of "
                                           "1MiB"));
}

TEST_F(Tasks, BigInputsAndResultsGoInBoundedBatches) {
  // 20 inputs and 20 results of ~1 MB each: together far over what one
  // message may carry, so they must travel in several calls.
  up(task_swarm(4, "--result-bytes 1000000", "max_concurrency = 20\n"));
  RunResult r = run_task("bigfanout 20 1000000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok=20 failed=0 cancelled=0 sum=0 attempts=20 refused=0\n");
  nlohmann::json ps = daemon->ctl_json({"ps", "t"});
  for (const auto& a : ps["agents"]) EXPECT_EQ(a["state"], "ready") << a.dump();
}

// 40 inputs of 1 MB: past the 16 MiB of inputs swarmd keeps in memory per
// task, the rest come back from the task store, each whole and to its own
// subtask (each input is one letter repeated, and workers answer its sum).
TEST_F(Tasks, InputsBeyondWhatSwarmdKeepsInMemoryComeFromTheStore) {
  // Slow workers, so that the inputs pile up while the lead delegates.
  up(task_swarm(2, "--answer-input-sum --sleep-ms 50", "max_concurrency = 2\n"));
  RunResult r = run_task("bigfanout 40 1000000");
  ASSERT_EQ(r.status, 0) << r.err;
  long sum = 0;
  for (int i = 0; i < 40; ++i) sum += 1000000L * ('a' + i % 26);
  EXPECT_EQ(r.out, "ok=40 failed=0 cancelled=0 sum=" + std::to_string(sum) +
                       " attempts=40 refused=0\n");
}

// A lead that takes no results until every subtask is done: past the 16
// MiB swarmd keeps queued for it, the results wait in the task store, and
// all of them reach the lead whole once it takes them.
TEST_F(Tasks, ResultsALeadDoesNotTakeWaitInTheStore) {
  up(task_swarm(4, "--result-bytes 1000000", "max_concurrency = 8\n"));
  std::string id = start_task("hoard 40");
  ASSERT_TRUE(eventually([&] { return show(id)["task"]["subtasks_done"] == 40; },
                         std::chrono::seconds(60)))
      << show(id).dump();
  ASSERT_EQ(daemon->ctl({"dm", "t/planner-0", "--topic", "take", "now"}).status, 0);
  ASSERT_TRUE(eventually([&] { return state(id) == "succeeded"; }, std::chrono::seconds(60)))
      << show(id).dump();
  EXPECT_EQ(show(id)["task"]["result"], "ok=40 bytes=40000000");
}

TEST_F(Tasks, ADelegationAgainDoesNotRerouteTheSubtask) {
  up(task_swarm(1, "--sleep-ms 200"));
  RunResult r = run_task("reroute");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "q=8\n");
}

TEST_F(Tasks, NothingWaitsForAWorkerThatStoppedForGood) {
  up(task_swarm(1, ""));
  nlohmann::json ps = daemon->ctl_json({"ps", "t"});
  pid_t pid = 0;
  for (const auto& a : ps["agents"]) {
    if (a["id"] == "worker-0") pid = a["pid"].get<pid_t>();
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    nlohmann::json now = daemon->ctl_json({"ps", "t"});
    for (const auto& a : now["agents"]) {
      if (a["id"] == "worker-0") return a["state"] == "exited";
    }
    return false;
  }));
  RunResult r = run_task("fanout 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok=0 failed=0 cancelled=0 sum=0 attempts=0 refused=2\n");
  EXPECT_THAT(logs("planner-0"), HasSubstr("refused s-0 no_worker: subtask \"s-0\": no worker is "
                                           "left in swarm t (they stopped for good)"));
}

TEST_F(Tasks, AHungAttemptTimesOutAndRunsElsewhere) {
  up(task_swarm(2, "--hang-key s-0", "subtask_timeout = \"300ms\"\n"));
  RunResult r = run_task("fanout 2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok=2 failed=0 cancelled=0 sum=2 attempts=3 refused=0\n");
  EXPECT_THAT(r.err, HasSubstr("timed out after 300ms on worker-"));
  EXPECT_EQ(daemon->metric("smolswarms_subtask_attempts_total{result=\"timeout\",swarm=\"t\"}"), 1);
}

TEST_F(Tasks, WaitingBehindAWorkersOtherSubtasksDoesNotCountAgainstTheTimeout) {
  // One worker gets all three at once and runs them one after the other:
  // the third starts 800 ms after it was handed over, past the timeout.
  up(task_swarm(1, "--sleep-ms 400", "subtask_timeout = \"600ms\"\nmax_attempts = 1\n"));
  RunResult r = run_task("fanout 3");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ok=3 failed=0 cancelled=0 sum=6 attempts=3 refused=0\n");
}

TEST_F(Tasks, MistakesGetClearErrors) {
  RunResult none = daemon->ctl({"up", dir.write("p.toml", "name = \"plain\"\n[[agents]]\nrole = \"a\"\n"
                                                          "command = [\"" + bin("smol-echo-agent") +
                                                          "\"]\n")});
  ASSERT_EQ(none.status, 0) << none.err;
  RunResult r = daemon->ctl({"task", "run", "plain"});
  EXPECT_NE(r.status, 0);
  EXPECT_THAT(r.err, HasSubstr("swarm 'plain' takes no tasks: its spec has no [tasks] table"));
  RunResult unknown = daemon->ctl({"task", "show", "t-00000000ffff"});
  EXPECT_NE(unknown.status, 0);
  EXPECT_THAT(unknown.err, HasSubstr("no task 't-00000000ffff'"));
  RunResult nosuch = daemon->ctl({"task", "ls", "nosuch"});
  EXPECT_EQ(nosuch.status, 1);
  EXPECT_THAT(nosuch.err, HasSubstr("no swarm named 'nosuch'"));
  up(task_swarm(1, ""));
  RunResult bad = run_task("bogus");
  EXPECT_EQ(bad.status, 1);
  EXPECT_THAT(bad.err, HasSubstr("planner-0 failed the task: unknown command: bogus"));
  // The lead gets the input as one message, so it meets max_payload.
  RunResult big = run_task(std::string((1 << 20) + 1, 'x'));
  EXPECT_EQ(big.status, 1);
  EXPECT_THAT(big.err, HasSubstr("an input of 1048577 bytes; at most 1048576 are allowed"));
}

}  // namespace
}  // namespace smol::test
