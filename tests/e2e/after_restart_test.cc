// A swarm that stopped before swarmd restarted: what the operator can still
// see of it through swarmctl (ps, logs, events), from what the last daemon
// left in its state dir.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

class AfterRestart : public ::testing::Test {
 protected:
  // Runs the swarm "told" (one agent that prints a line and exits 3, one
  // that stays) under a first daemon, stops it, and starts a second daemon
  // on the same state dir.
  void SetUp() override {
    std::string echo = "\"" + bin("smol-echo-agent") + "\"";
    std::string spec = "name = \"told\"\n"
                       "[[agents]]\nrole = \"quitter\"\ncommand = [" + echo +
                       ", \"--exit-after\", \"50\", \"--exit-code\", \"3\"]\n"
                       "[[agents]]\nrole = \"stayer\"\ncommand = [" + echo + "]\ncount = 2\n";
    Daemon first(dir);
    ASSERT_EQ(first.ctl({"up", dir.write("told.toml", spec)}).status, 0);
    ASSERT_TRUE(eventually([&] {
      return first.ctl({"events", "told"}).out.find("quitter-0: exited with code 3") !=
             std::string::npos;
    }));
    ASSERT_EQ(first.ctl({"down", "told"}).status, 0);
    ASSERT_EQ(first.stop(), 0);
    DaemonOptions again;
    again.state_dir = first.state_dir();
    daemon.emplace(dir, again);
  }

  TempDir dir;
  std::optional<Daemon> daemon;
};

TEST_F(AfterRestart, PsListsTheAgentsOfTheSpecAsNotRunHere) {
  nlohmann::json agents = daemon->ctl_json({"ps", "told"})["agents"];
  ASSERT_EQ(agents.size(), 3u);
  EXPECT_EQ(agents[0]["id"], "quitter-0");
  EXPECT_EQ(agents[2]["id"], "stayer-1");
  EXPECT_EQ(agents[2]["role"], "stayer");
  for (const auto& a : agents) {
    EXPECT_EQ(a["state"], "exited");
    EXPECT_EQ(a["pid"], 0);
    EXPECT_EQ(a["last_exit"]["detail"], "not run since swarmd started");
  }
  EXPECT_THAT(daemon->ctl({"ps", "told"}).out, HasSubstr("not run since swarmd started"));
}

TEST_F(AfterRestart, LogsShowWhatTheAgentWroteUnderTheLastDaemon) {
  RunResult r = daemon->ctl({"logs", "told/quitter-0"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("quitter-0: hello from swarm told"));
  EXPECT_THAT(r.out, HasSubstr("quitter-0: done, exiting with code 3"));

  RunResult tail = daemon->ctl({"logs", "--tail", "9", "told/quitter-0"});
  EXPECT_EQ(tail.out, "h code 3\n");

  // Following a log that can no longer grow prints it and ends at once.
  RunResult follow = daemon->ctl({"logs", "-f", "told/stayer-1"});
  EXPECT_EQ(follow.status, 0) << follow.err;
  EXPECT_THAT(follow.out, HasSubstr("stayer-1: shutting down"));
  EXPECT_THAT(follow.err, HasSubstr("not run since swarmd started"));
}

TEST_F(AfterRestart, LogsOfAnAgentTheSpecDoesNotNameAreRefused) {
  RunResult r = daemon->ctl({"logs", "told/stayer-2"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("swarm 'told' has no agent 'stayer-2'"));
  // Not a way to read other files of the state dir either.
  RunResult events = daemon->ctl({"logs", "told/events"});
  EXPECT_EQ(events.status, 1);
  EXPECT_THAT(events.err, HasSubstr("has no agent 'events'"));
}

TEST_F(AfterRestart, EventsTellTheStoryTheLastDaemonSaw) {
  RunResult r = daemon->ctl({"events", "told"});
  EXPECT_EQ(r.status, 0) << r.err;
  size_t at = 0;
  for (const char* step : {"swarm told: starting", "quitter-0: exited with code 3",
                           "swarm told: stopping", "stayer-0: stopped; exited with code 0",
                           "swarm told: stopped"}) {
    size_t found = r.out.find(step, at);
    ASSERT_NE(found, std::string::npos) << "'" << step << "' missing in:\n" << r.out;
    at = found;
  }
  // When the swarm runs again, its new events follow the old ones.
  ASSERT_EQ(daemon->ctl({"up", dir.path() + "/told.toml"}).status, 0);
  ASSERT_EQ(daemon->ctl({"down", "told"}).status, 0);
  ASSERT_EQ(daemon->stop(), 0);
  DaemonOptions third;
  third.state_dir = daemon->state_dir();
  daemon.reset();
  daemon.emplace(dir, third);
  std::string out = daemon->ctl({"events", "told"}).out;
  EXPECT_NE(out.find("swarm told: starting"), out.rfind("swarm told: starting")) << out;
}

}  // namespace
}  // namespace smol::test
