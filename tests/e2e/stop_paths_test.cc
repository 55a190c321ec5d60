// Stops and restarts on the unhappy paths: agents that never say hello, that
// do not react to being asked, and restarts racing other exits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

TEST(StopPaths, DownWhileAgentsAreStillStartingStopsThemAndTheDaemonLives) {
  TempDir dir;
  Daemon d(dir);
  std::string spec =
      "name = \"slow\"\n[[agents]]\nrole = \"s\"\ncount = 3\n"
      "command = [\"/bin/sleep\", \"600\"]\nready_timeout = \"60s\"\n";
  std::string file = dir.write("slow.toml", spec);
  RunResult up;
  std::jthread upper([&] { up = d.ctl({"up", file}); });  // joins on every path out
  // up is waiting for hellos that never come; wait until the agents exist
  // (until up has reached the daemon, ps does not know the swarm yet).
  ASSERT_TRUE(eventually([&] {
    RunResult ps = d.ctl({"ps", "slow", "--json"});
    return ps.status == 0 && d.agent_pids("slow").size() == 3;
  }));
  std::vector<pid_t> pids = d.agent_pids("slow");
  RunResult down = d.ctl({"down", "slow", "--grace", "200ms"});
  upper.join();
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("was stopped before it was ready"));
  for (pid_t p : pids) EXPECT_TRUE(wait_gone(p)) << "agent " << p;
  EXPECT_EQ(d.ctl({"status"}).status, 0) << "the daemon died";
}

TEST(StopPaths, AgentThatIgnoresShutdownIsEscalatedToSigkill) {
  TempDir dir;
  Daemon d(dir);
  std::string spec = "name = \"deaf\"\n[[agents]]\nrole = \"d\"\ncommand = [\"smol-echo-agent\"]\n";
  ASSERT_EQ(d.ctl({"up", dir.write("deaf.toml", spec)}).status, 0);
  pid_t agent = d.agent_pids("deaf").at(0);
  ASSERT_EQ(::kill(agent, SIGSTOP), 0);  // frozen: no answer, SIGTERM stays pending
  RunResult down = d.ctl({"down", "deaf", "--grace", "200ms"});
  EXPECT_EQ(down.status, 0) << down.err;
  EXPECT_TRUE(wait_gone(agent));
  auto a = d.ctl_json({"ps", "deaf"})["agents"][0];
  EXPECT_EQ(a["last_exit"]["reason"], "stopped");
  EXPECT_EQ(a["last_exit"]["signal"], SIGKILL);
  EXPECT_EQ(d.ctl({"status"}).status, 0) << "the daemon died";
}

TEST(StopPaths, FollowingALogContinuesAcrossRestarts) {
  TempDir dir;
  Daemon d(dir);
  std::string spec =
      "name = \"loop\"\n[[agents]]\nrole = \"l\"\n"
      "command = [\"smol-echo-agent\", \"--exit-after\", \"50\"]\n"
      "restart = \"always\"\nmax_restarts = 2\n";
  ASSERT_EQ(d.ctl({"up", dir.write("loop.toml", spec)}).status, 0);
  // Ends only after the last run (1 + 2 restarts) has exited.
  RunResult follow = d.ctl({"logs", "-f", "loop/l-0"});
  EXPECT_EQ(follow.status, 0) << follow.err;
  size_t runs = 0;
  for (size_t at = 0; (at = follow.out.find("done, exiting", at)) != std::string::npos; ++at) {
    ++runs;
  }
  EXPECT_EQ(runs, 3u) << follow.out;
}

TEST(StopPaths, PendingRestartSurvivesTheLastOtherAgentExiting) {
  TempDir dir;
  Daemon d(dir);
  std::string spec =
      "name = \"mix\"\n"
      "[[agents]]\nrole = \"flaky\"\nrestart = \"on-failure\"\nmax_restarts = 1\n"
      "command = [\"smol-echo-agent\", \"--exit-after\", \"300\", \"--exit-code\", \"1\"]\n"
      "[[agents]]\nrole = \"oneshot\"\nrestart = \"on-failure\"\n"
      "command = [\"smol-echo-agent\", \"--exit-after\", \"350\"]\n";
  ASSERT_EQ(d.ctl({"up", dir.write("mix.toml", spec)}).status, 0);
  // oneshot exits cleanly while flaky waits out its backoff; flaky must still come back.
  EXPECT_TRUE(eventually([&] {
    return d.ctl_json({"ps", "mix"})["agents"][0]["restarts"] == 1;
  })) << d.ctl({"ps", "mix"}).out;
}

}  // namespace
}  // namespace smol::test
