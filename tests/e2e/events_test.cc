// `swarmctl events`: what happened to a swarm and its agents, one
// timestamped line each, as an operator reads it (and follows it).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;

class Events : public ::testing::Test {
 protected:
  std::string echo() { return "\"" + bin("smol-echo-agent") + "\""; }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Events, TellTheSwarmsStoryInOrder) {
  std::string spec = "name = \"ev\"\n"
                     "[[agents]]\nrole = \"steady\"\ncommand = [" + echo() + "]\n"
                     "[[agents]]\nrole = \"flaky\"\ncommand = [" + echo() +
                     ", \"--exit-after\", \"50\", \"--exit-code\", \"3\"]\n"
                     "restart = \"on-failure\"\nmax_restarts = 1\n";
  ASSERT_EQ(daemon.ctl({"up", dir.write("ev.toml", spec)}).status, 0);
  ASSERT_TRUE(eventually([&] {
    std::string out = daemon.ctl({"events", "ev"}).out;
    return out.find("exited with code 3") != out.rfind("exited with code 3");
  })) << "the flaky agent did not exit twice";
  ASSERT_EQ(daemon.ctl({"pause", "ev/steady-0"}).status, 0);
  ASSERT_EQ(daemon.ctl({"resume", "ev/steady-0"}).status, 0);
  EXPECT_EQ(daemon.ctl({"vibe", "ev"}).status, 1);  // the flaky one stays down: silent
  ASSERT_EQ(daemon.ctl({"down", "ev"}).status, 0);

  std::string out = daemon.ctl({"events", "ev"}).out;
  const char* ts = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z ";
  EXPECT_THAT(out, ContainsRegex(std::string("^") + ts + "swarm ev: starting\n"));
  std::vector<std::string> story = {
      "swarm ev: starting",        "steady-0: started: pid ",     "steady-0: ready",
      "flaky-0: exited with code 3", "flaky-0: restarting in 100ms (restart 1)",
      "flaky-0: exited with code 3", "steady-0: paused",           "steady-0: resumed",
      "swarm ev: vibe check: 1 ok, 0 degraded, 0 failing, 1 silent",
      "swarm ev: stopping",        "steady-0: stopped; exited with code 0",
      "swarm ev: stopped"};
  size_t at = 0;
  for (const auto& step : story) {
    size_t found = out.find(step, at);
    ASSERT_NE(found, std::string::npos) << "'" << step << "' missing after offset " << at << " in:\n"
                                        << out;
    at = found + step.size();
  }
  // Every line is an event with its time.
  std::regex line(std::string(ts) + "[^\n]+: [^\n]+");
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l);) EXPECT_TRUE(std::regex_match(l, line)) << l;
}

TEST_F(Events, FollowingEndsWhenTheSwarmHasStopped) {
  std::string spec = "name = \"brief\"\n[[agents]]\nrole = \"a\"\ncommand = [" + echo() +
                     ", \"--exit-after\", \"100\"]\n";
  ASSERT_EQ(daemon.ctl({"up", dir.write("brief.toml", spec)}).status, 0);
  // The agent leaves on its own; the swarm stops; the follower returns.
  RunResult follow = daemon.ctl({"events", "-f", "brief"});
  EXPECT_EQ(follow.status, 0) << follow.err;
  EXPECT_THAT(follow.out, HasSubstr("a-0: exited with code 0\n"));
  EXPECT_THAT(follow.out, HasSubstr("swarm brief: stopped: every agent has exited\n"));
  EXPECT_THAT(follow.err, HasSubstr("event stream ended: swarm brief stopped"));
}

// swarmd stopping stops its swarms first, and a follower sees them stop
// before it is let go.
TEST_F(Events, AFollowerSeesItsSwarmStopWhenSwarmdStops) {
  std::string spec = "name = \"held\"\n[[agents]]\nrole = \"a\"\ncommand = [" + echo() + "]\n";
  ASSERT_EQ(daemon.ctl({"up", dir.write("held.toml", spec)}).status, 0);
  std::string out = dir.path() + "/follow.out";
  RunResult follow;
  std::thread follower([&] {
    follow = run({"/bin/sh", "-c",
                  "exec " + bin("swarmctl") + " --socket " + daemon.socket() +
                      " events -f held > " + out});
  });
  auto followed = [&] {
    std::ifstream f(out);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  bool connected = eventually([&] { return followed().find("a-0: ready") != std::string::npos; });
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
  follower.join();
  ASSERT_TRUE(connected) << followed();
  EXPECT_EQ(follow.status, 0) << follow.err;
  EXPECT_THAT(followed(), HasSubstr("swarm held: stopping"));
  EXPECT_THAT(followed(), HasSubstr("swarm held: stopped"));
  EXPECT_THAT(follow.err, HasSubstr("event stream ended: swarm held stopped"));
}

TEST_F(Events, AreRefusedForASwarmThatNeverRanHere) {
  RunResult r = daemon.ctl({"events", "nothing"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("no swarm named 'nothing'"));
}

}  // namespace
}  // namespace smol::test
