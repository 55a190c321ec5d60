// The daemon as a process: signals, restarts, and who may talk to it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

const char* kSpec =
    "name = \"hello\"\n[[agents]]\nrole = \"greeter\"\ncommand = [\"smol-echo-agent\"]\ncount = 3\n";

TEST(Daemon, SigtermStopsEverySwarmAndExitsZero) {
  TempDir dir;
  Daemon d(dir);
  ASSERT_EQ(d.ctl({"up", dir.write("hello.toml", kSpec)}).status, 0);
  std::vector<pid_t> agents = d.agent_pids("hello");
  ASSERT_EQ(agents.size(), 3u);
  EXPECT_EQ(d.stop(SIGTERM), 0);
  for (pid_t p : agents) EXPECT_FALSE(process_exists(p)) << "agent " << p << " outlived swarmd";
}

TEST(Daemon, AgentsDieWithAKilledDaemon) {
  TempDir dir;
  Daemon d(dir);
  ASSERT_EQ(d.ctl({"up", dir.write("hello.toml", kSpec)}).status, 0);
  std::vector<pid_t> agents = d.agent_pids("hello");
  ASSERT_EQ(agents.size(), 3u);
  EXPECT_EQ(d.stop(SIGKILL), 128 + SIGKILL);
  // PR_SET_PDEATHSIG delivers SIGKILL to each agent; init reaps them.
  for (pid_t p : agents) EXPECT_TRUE(wait_gone(p)) << "agent " << p << " survived swarmd";
}

// A daemon that died (SIGKILL: no chance to record anything on the way out)
// left its swarms' records active: the next one brings them back up, so
// their unfinished tasks can resume. A swarm stopped on purpose stays down.
TEST(Daemon, RestartedDaemonBringsBackTheSwarmsThatWereRunning) {
  TempDir dir;
  std::string state = dir.path() + "/state";
  std::string spec = dir.write("hello.toml", kSpec);
  std::string other = dir.write("other.toml", "name = \"other\"\n[[agents]]\nrole = \"a\"\n"
                                              "command = [\"smol-echo-agent\"]\n");
  {
    Daemon first(dir, {}, state);
    ASSERT_EQ(first.ctl({"up", spec}).status, 0);
    ASSERT_EQ(first.ctl({"up", other}).status, 0);
    ASSERT_EQ(first.ctl({"down", "other"}).status, 0);
    first.stop(SIGKILL);
  }
  Daemon second(dir, {}, state);
  auto ready = [&] {
    nlohmann::json ls = second.ctl_json({"ls"});
    for (const auto& s : ls["swarms"]) {
      if (s["name"] == "hello") return s["state"] == "ready" && s["agents_ready"] == 3;
    }
    return false;
  };
  EXPECT_TRUE(eventually(ready)) << second.ctl({"ls"}).out;
  nlohmann::json ls = second.ctl_json({"ls"});
  for (const auto& s : ls["swarms"]) {
    if (s["name"] == "other") {
      EXPECT_EQ(s["state"], "stopped");
    }
  }
  // And a stopped one can be brought up again under its name.
  EXPECT_EQ(second.ctl({"up", other}).status, 0);
}

TEST(Daemon, SocketIsClosedToOtherUsersByItsMode) {
  TempDir dir;
  Daemon d(dir);
  RunResult r = d.ctl({"status"}, kNobody, kNogroup);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("permission denied"));
}

TEST(Daemon, NonAdmittedUidIsRefusedByPeerCredentials) {
  TempDir dir;
  std::string config = dir.write("swarmd.toml", "[control]\nsocket_mode = \"0666\"\n");
  Daemon d(dir, {"--config", config});
  RunResult r = d.ctl({"ls"}, kNobody, kNogroup);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("uid 65534 may not use swarmd"));
  // Root still gets in.
  EXPECT_EQ(d.ctl({"ls"}).status, 0);
}

TEST(Daemon, MembersOfTheAdminGroupAreAdmitted) {
  TempDir dir;
  std::string config =
      dir.write("swarmd.toml", "[control]\nsocket_mode = \"0666\"\ngroup = \"nogroup\"\n");
  Daemon d(dir, {"--config", config});
  RunResult r = d.ctl({"status"}, kNobody, kNogroup);
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(Daemon, SecondDaemonOnTheSameSocketRefusesToStart) {
  TempDir dir;
  Daemon d(dir);
  RunResult second = run({bin("swarmd"), "--state-dir", dir.path() + "/state2", "--socket",
                          d.socket(), "--metrics", "off"});
  EXPECT_EQ(second.status, 1);
  EXPECT_THAT(second.err, HasSubstr("another swarmd is already listening"));
  EXPECT_EQ(d.ctl({"status"}).status, 0);
}

TEST(Daemon, PrintConfigShowsEmbeddedDefaults) {
  RunResult r = run({bin("swarmd"), "--print-config"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("/var/lib/smolswarms"));
  EXPECT_THAT(r.out, HasSubstr("/run/smolswarms/swarmd.sock"));
  EXPECT_THAT(r.out, HasSubstr("127.0.0.1:9464"));
}

TEST(Daemon, BadFlagIsAUsageError) {
  EXPECT_EQ(run({bin("swarmd"), "--no-such-flag"}).status, 2);
  RunResult r = run({bin("swarmd"), "--print-config", "--metrics", "nonsense"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("metrics"));
}

// A mistyped command is named as such, not reported as a missing one.
TEST(Swarmctl, UsageMistakesSayWhatWasWrong) {
  RunResult r = run({bin("swarmctl"), "sttaus"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'sttaus' (see 'swarmctl --help')"));
  r = run({bin("swarmctl"), "mem", "lst"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown command 'lst'"));
  r = run({bin("swarmctl"), "top", "s", "-n", "0"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("--iterations: Value 0 not in range 1 to 1000000"));
}

}  // namespace
}  // namespace smol::test

namespace smol::test {
namespace {

TEST(DaemonMetrics, ScrapeShowsSwarmsAgentsSpawnsExitsAndControlCalls) {
  TempDir dir;
  Daemon d(dir);
  ASSERT_EQ(d.ctl({"up", dir.write("hello.toml", kSpec)}).status, 0);
  ASSERT_EQ(::kill(d.agent_pids("hello").at(0), SIGKILL), 0);
  ASSERT_EQ(d.ctl({"logs", "-f", "hello/greeter-0"}).status, 0);  // returns once reaped

  std::string address = d.ctl_json({"status"})["status"]["metrics_address"];
  std::string body = http_get(address, "/metrics");
  EXPECT_THAT(body, HasSubstr("smolswarms_build_info{"));
  EXPECT_THAT(body, HasSubstr("smolswarms_swarms 1"));
  EXPECT_THAT(body, HasSubstr("smolswarms_agents{state=\"ready\",swarm=\"hello\"} 2"));
  EXPECT_THAT(body, HasSubstr("smolswarms_agents{state=\"exited\",swarm=\"hello\"} 1"));
  EXPECT_THAT(body, HasSubstr("smolswarms_agent_exits_total{reason=\"crashed\",swarm=\"hello\"} 1"));
  EXPECT_THAT(body, HasSubstr("smolswarms_agent_spawn_seconds_count 3"));
  EXPECT_THAT(body, HasSubstr("smolswarms_control_requests_total{method=\"spawnSwarm\",result=\"ok\"} 1"));
}

}  // namespace
}  // namespace smol::test

namespace smol::test {
namespace {

TEST(DaemonUnderSystemd, UsesTheControlSocketSystemdPassesAndLeavesItBehind) {
  TempDir dir;
  DaemonOptions opt;
  opt.socket_activated = true;
  Daemon d(dir, opt);
  auto st = d.ctl_json({"status"})["status"];
  EXPECT_EQ(st["socket_path"], d.socket());
  ASSERT_EQ(d.ctl({"up", dir.write("hello.toml", kSpec)}).status, 0);
  EXPECT_EQ(d.stop(SIGTERM), 0);
  struct stat sb {};
  EXPECT_EQ(::stat(d.socket().c_str(), &sb), 0) << "swarmd removed systemd's socket";
  std::ifstream log(d.stderr_path());
  std::stringstream ss;
  ss << log.rdbuf();
  EXPECT_THAT(ss.str(), HasSubstr("(from systemd)"));
}

TEST(DaemonUnderSystemd, SendsWatchdogPingsFromItsLoop) {
  TempDir dir;
  DaemonOptions opt;
  opt.watchdog = std::chrono::milliseconds(200);
  Daemon d(dir, opt);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(d.wait_notification("WATCHDOG=1", std::chrono::seconds(2))) << "ping " << i;
  }
}

TEST(DaemonUnderSystemd, StatusLineCountsSwarmsAndAgents) {
  TempDir dir;
  Daemon d(dir);
  ASSERT_EQ(d.ctl({"up", dir.write("hello.toml", kSpec)}).status, 0);
  EXPECT_TRUE(d.wait_notification("STATUS=serving: 1 swarms, 3 agents running",
                                   std::chrono::seconds(5)));
  ASSERT_EQ(d.ctl({"down", "hello"}).status, 0);
  EXPECT_TRUE(d.wait_notification("STATUS=serving: 0 swarms, 0 agents running",
                                  std::chrono::seconds(5)));
}

TEST(DaemonUnderSystemd, SaysStoppingWhenItShutsDown) {
  TempDir dir;
  Daemon d(dir);
  ::kill(d.pid(), SIGTERM);
  EXPECT_TRUE(d.wait_notification("STOPPING=1", std::chrono::seconds(10)));
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace smol::test
