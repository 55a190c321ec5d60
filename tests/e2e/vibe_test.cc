// The swarm's vibe check as an operator meets it: `swarmctl vibe` asks every
// agent at once, with one deadline, and reports each answer, the silent
// ones, a summary, an exit status fit for scripts, and the metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

class Vibe : public ::testing::Test {
 protected:
  void up(const std::string& groups) {
    RunResult r = daemon.ctl({"up", dir.write("v.toml", "name = \"v\"\n" + groups)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  static std::string group(const std::string& role, int count, const std::string& args = "") {
    return "[[agents]]\nrole = \"" + role + "\"\ncommand = [\"" + bin("smol-echo-agent") + "\"" +
           args + "]\ncount = " + std::to_string(count) + "\n";
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Vibe, EveryAgentAnswersAndAllOkExitsZero) {
  up(group("worker", 3));
  RunResult r = daemon.ctl({"vibe", "v"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("AGENT     HEALTH  TIME"));
  EXPECT_THAT(r.out, HasSubstr("worker-2  ok"));
  EXPECT_THAT(r.out, HasSubstr("echoing"));
  EXPECT_THAT(r.out, HasSubstr("swarm v: 3 ok, 0 degraded, 0 failing, 0 silent, in "));
  nlohmann::json j = daemon.ctl_json({"vibe", "v"});
  ASSERT_EQ(j["check"]["agents"].size(), 3u);
  EXPECT_EQ(j["check"]["agents"][0]["health"], "ok");
  EXPECT_TRUE(j["check"]["agents"][0]["answered"].get<bool>());
  EXPECT_EQ(j["check"]["ok"], 3);
}

TEST_F(Vibe, DegradedFailingAndSilentAgentsAreReportedAndFailTheCheck) {
  up(group("fine", 1) + group("slow", 1, ", \"--vibe\", \"degraded:queue is long\"") +
     group("broken", 1, ", \"--vibe\", \"failing:no model\"") + group("frozen", 1));
  // A paused agent cannot answer: it stands for one that hangs.
  ASSERT_EQ(daemon.ctl({"pause", "v/frozen-0"}).status, 0);
  RunResult r = daemon.ctl({"vibe", "v", "--deadline", "300ms"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.out, HasSubstr("slow-0    degraded"));
  EXPECT_THAT(r.out, HasSubstr("queue is long"));
  EXPECT_THAT(r.out, HasSubstr("broken-0  failing"));
  EXPECT_THAT(r.out, HasSubstr("no model"));
  EXPECT_THAT(r.out, HasSubstr("frozen-0  silent"));
  EXPECT_THAT(r.out, HasSubstr("swarm v: 1 ok, 1 degraded, 1 failing, 1 silent"));
  EXPECT_THAT(r.err, HasSubstr("swarm v: 3 of 4 agents not ok"));

  std::string m = daemon.metrics();
  EXPECT_THAT(m, HasSubstr("smolswarms_vibe_agents{health=\"silent\",swarm=\"v\"} 1"));
  EXPECT_THAT(m, HasSubstr("smolswarms_vibe_agents{health=\"ok\",swarm=\"v\"} 1"));
  EXPECT_THAT(m, HasSubstr("smolswarms_vibe_checks_total{swarm=\"v\"} 1"));
}

TEST_F(Vibe, AnAgentThatHangsIsSilentAfterTheDeadlineWhileTheOthersAnswer) {
  // One agent that never answers holds nobody else's answer back: the
  // others come in as fast as ever, and the check ends at the deadline.
  up(group("a", 3) + "[[agents]]\nrole = \"hung\"\ncommand = [\"" + bin("smol-load-agent") +
     "\", \"--busy\"]\n");
  ASSERT_TRUE(eventually([&] { return daemon.ctl({"logs", "v/hung-0"}).out == "hung-0: --busy\nbusy\n"; }));
  RunResult r = daemon.ctl({"vibe", "v", "--deadline", "500ms", "--json"});
  EXPECT_EQ(r.status, 1);
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["check"]["ok"], 3);
  EXPECT_EQ(j["check"]["silent"], 1);
  EXPECT_FALSE(j["check"]["agents"][3]["answered"].get<bool>());
  EXPECT_EQ(j["check"]["agents"][3]["note"], "no answer within 500ms");
  EXPECT_GE(j["check"]["took_millis"].get<double>(), 500.0);
  EXPECT_LT(j["check"]["agents"][0]["millis"].get<double>(), 500.0);
}

TEST_F(Vibe, AStoppedOrUnknownSwarmIsAnError) {
  RunResult r = daemon.ctl({"vibe", "nothing"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("no swarm named 'nothing'"));
  up(group("a", 1));
  ASSERT_EQ(daemon.ctl({"down", "v"}).status, 0);
  r = daemon.ctl({"vibe", "v"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("swarm 'v' is not running"));
  EXPECT_EQ(daemon.ctl({"vibe", "v", "--deadline", "soon"}).status, 2);
}

}  // namespace
}  // namespace smol::test
