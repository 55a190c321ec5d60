// Tasks over the jsonl protocol: a Python lead and Python workers
// (tests/e2e/task_lead.py, task_worker.py, on examples/python-agent's
// smolswarms.py), and Python workers for a C++ lead, through a real swarmd.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

const std::string kLibDir = std::string(SMOL_SOURCE_DIR) + "/examples/python-agent";
const std::string kTests = std::string(SMOL_SOURCE_DIR) + "/tests/e2e";

std::string python_group(const std::string& role, const std::string& script, int count) {
  std::string path = kTests + "/" + script;
  return "[[agents]]\nrole = \"" + role + "\"\ncount = " + std::to_string(count) +
         "\nprotocol = \"jsonl\"\ncommand = [\"/usr/bin/python3\", \"" + path + "\", \"" + kLibDir +
         "\"]\n[agents.sandbox]\nread_only = [\"" + path + "\", \"" + kLibDir +
         "/smolswarms.py\"]\n";
}

class PythonTasks : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string spec = "name = \"py\"\n[tasks]\nlead = \"lead\"\nmax_attempts = 2\n" +
                       python_group("lead", "task_lead.py", 1) +
                       python_group("pyworker", "task_worker.py", 2);
    RunResult r = daemon.ctl({"up", dir.write("py.toml", spec)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(PythonTasks, APythonLeadDelegatesAndAggregates) {
  RunResult r = daemon.ctl({"task", "run", "py", "--input", dir.write("in", "alpha fail gamma"),
                            "--wait"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "ALPHA <failed> GAMMA\n");
  std::string log = daemon.ctl({"logs", "py/lead-0"}).out;
  EXPECT_THAT(log, HasSubstr("refused bad_subtask: subtask \"\": a key must be 1 to 256 bytes"));
  EXPECT_THAT(log, HasSubstr("outcome w1 failed"));
  EXPECT_THAT(log, HasSubstr("attempts=2"));
  EXPECT_THAT(log, HasSubstr("again w0 ALPHA"));  // the stored result, read back

  nlohmann::json tasks = daemon.ctl_json({"task", "ls", "py"});
  std::string id = tasks["tasks"][0]["id"];
  nlohmann::json shown = daemon.ctl_json({"task", "show", id});
  EXPECT_EQ(shown["task"]["subtasks_total"], 3);
  EXPECT_EQ(shown["task"]["subtasks_failed"], 1);
  EXPECT_EQ(shown["task"]["tokens"][0]["model"], "py-model");
  EXPECT_EQ(shown["task"]["tokens"][0]["output_tokens"], 20);
}

TEST_F(PythonTasks, APythonLeadThatRaisesFailsTheTask) {
  RunResult r = daemon.ctl({"task", "run", "py", "--input", dir.write("in", "boom"), "--wait"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("lead-0 failed the task: "));
  EXPECT_THAT(r.err, HasSubstr("the lead gave up"));
}

// The second of two subtasks with one key is refused; the first still runs,
// and its result reaches the lead (the bridge once stopped waiting for the
// key when its duplicate was refused, and the lead waited for good).
TEST_F(PythonTasks, AKeyGivenTwiceRunsOnceAndItsResultReachesTheLead) {
  RunResult r = daemon.ctl({"task", "run", "py", "--input", dir.write("in", "twice"), "--wait"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "X\n");
  EXPECT_THAT(daemon.ctl({"logs", "py/lead-0"}).out, HasSubstr("given twice"));
}

TEST_F(PythonTasks, PythonWorkersTakeSubtasksFromACppLead) {
  // Only the Python workers: their answers are the input in capitals.
  std::string spec = "name = \"mixed\"\n[tasks]\nlead = \"lead\"\n" 
                     "[[agents]]\nrole = \"lead\"\ncommand = [\"" + bin("smol-task-agent") + "\"]\n" +
                     python_group("pyworker", "task_worker.py", 2);
  ASSERT_EQ(daemon.ctl({"up", dir.write("mixed.toml", spec)}).status, 0);
  RunResult r = daemon.ctl({"task", "run", "mixed", "--input", dir.write("in2", "to pyworker-1"),
                            "--wait"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");  // the input "1" in capitals
  nlohmann::json tasks = daemon.ctl_json({"task", "ls", "mixed"});
  nlohmann::json shown = daemon.ctl_json({"task", "show", tasks["tasks"][0]["id"].get<std::string>()});
  EXPECT_EQ(shown["subtasks"][0]["attempts"][0]["worker"], "pyworker-1");
}

}  // namespace
}  // namespace smol::test
