// A swarm's life through swarmctl: up, ls, ps, logs, down, and the ways an
// agent can fail to start or die.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string echo_spec(const std::string& name, int count) {
  return "name = \"" + name + "\"\n[[agents]]\nrole = \"greeter\"\ncommand = [\"smol-echo-agent\"]\n"
         "count = " + std::to_string(count) + "\nenv = { GREETING = \"hi\" }\n";
}

class Lifecycle : public ::testing::Test {
 protected:
  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Lifecycle, UpReportsReadyAgentsAndLsPsShowThem) {
  RunResult up = daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 4))});
  ASSERT_EQ(up.status, 0) << up.err;
  EXPECT_THAT(up.out, MatchesRegex("swarm hello ready: 4 agents in [0-9.]+ ms\n"));

  auto ls = daemon.ctl_json({"ls"});
  ASSERT_EQ(ls["swarms"].size(), 1u);
  EXPECT_EQ(ls["swarms"][0]["name"], "hello");
  EXPECT_EQ(ls["swarms"][0]["state"], "ready");
  EXPECT_EQ(ls["swarms"][0]["agents_ready"], 4);
  EXPECT_EQ(ls["swarms"][0]["agents_total"], 4);

  auto ps = daemon.ctl_json({"ps", "hello"});
  ASSERT_EQ(ps["agents"].size(), 4u);
  for (int i = 0; i < 4; ++i) {
    const auto& a = ps["agents"][i];
    EXPECT_EQ(a["id"], "greeter-" + std::to_string(i));
    EXPECT_EQ(a["role"], "greeter");
    EXPECT_EQ(a["state"], "ready");
    EXPECT_TRUE(process_exists(a["pid"].get<pid_t>()));
  }
  RunResult table = daemon.ctl({"ps", "hello"});
  EXPECT_THAT(table.out, HasSubstr("greeter-3"));
}

// Whatever the daemon blocks or ignores for itself (it blocks SIGTERM and
// SIGINT, ignores SIGPIPE, and spawns with every signal blocked), agents
// start clean. The echo agent's own KJ loop ignores SIGPIPE, so that one bit
// is the agent's doing and is let through.
TEST_F(Lifecycle, AgentsStartWithNoSignalsBlockedOrIgnored) {
  ASSERT_EQ(daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 2))}).status, 0);
  const unsigned long long kSigpipe = 1ull << (SIGPIPE - 1);
  for (pid_t pid : daemon.agent_pids("hello")) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::map<std::string, unsigned long long> masks;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("SigBlk:", 0) == 0 || line.rfind("SigIgn:", 0) == 0) {
        masks[line.substr(0, 6)] = std::stoull(line.substr(8), nullptr, 16);
      }
    }
    ASSERT_EQ(masks.size(), 2u) << "agent " << pid;
    EXPECT_EQ(masks["SigBlk"], 0u) << "agent " << pid;
    EXPECT_EQ(masks["SigIgn"] & ~kSigpipe, 0u) << "agent " << pid;
  }
}

TEST_F(Lifecycle, LogsShowWhatTheAgentPrinted) {
  ASSERT_EQ(daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 2))}).status, 0);
  // The agent prints after hello; once down has stopped it, all it wrote is in.
  ASSERT_EQ(daemon.ctl({"down", "hello"}).status, 0);
  RunResult logs = daemon.ctl({"logs", "hello/greeter-1"});
  ASSERT_EQ(logs.status, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("greeter-1: hi from swarm hello"));
  EXPECT_THAT(logs.out, HasSubstr("greeter-1: shutting down"));
  // The same output is kept on disk under the state directory.
  std::ifstream file(daemon.state_dir() + "/logs/hello/greeter-1.log");
  std::stringstream on_disk;
  on_disk << file.rdbuf();
  EXPECT_EQ(on_disk.str(), logs.out);
}

TEST_F(Lifecycle, DownStopsEveryAgentAndRecordsWhy) {
  ASSERT_EQ(daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 3))}).status, 0);
  std::vector<pid_t> pids = daemon.agent_pids("hello");
  ASSERT_EQ(pids.size(), 3u);
  RunResult down = daemon.ctl({"down", "hello"});
  ASSERT_EQ(down.status, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("swarm hello stopped"));
  for (pid_t p : pids) EXPECT_FALSE(process_exists(p)) << "agent pid " << p << " survived down";
  auto ps = daemon.ctl_json({"ps", "hello"});
  for (const auto& a : ps["agents"]) {
    EXPECT_EQ(a["state"], "exited");
    EXPECT_EQ(a["last_exit"]["reason"], "stopped");
  }
  EXPECT_EQ(daemon.ctl_json({"ls"})["swarms"][0]["state"], "stopped");
}

// `down` while `up` is still starting agents: an agent whose hello came
// before its spawn was reported, and which is then stopped, was never ready
// and must not be counted out of the ready ones (which wrapped to 2^32-1).
TEST_F(Lifecycle, DownDuringUpLeavesNoAgentCountedReady) {
  std::string ctl = bin("swarmctl") + " --socket " + daemon.socket();
  for (int round = 0; round < 6; ++round) {
    // A swarm of its own per round; `down` once its first agent is ready,
    // while the others are being spawned.
    std::string name = "race" + std::to_string(round);
    std::string file = dir.write(name + ".toml", echo_spec(name, 30));
    RunResult r = run({"/bin/sh", "-c",
                       ctl + " up " + file + " >/dev/null 2>&1 & until " + ctl + " ps " + name +
                           " 2>/dev/null | grep -q ready; do :; done; " + ctl + " down " + name +
                           " >/dev/null; wait"});
    ASSERT_EQ(r.status, 0) << r.err;
    auto ls = daemon.ctl_json({"ls"});
    ASSERT_EQ(ls["swarms"].size(), static_cast<size_t>(round + 1)) << ls.dump();
    for (const auto& s : ls["swarms"]) EXPECT_EQ(s["agents_ready"], 0) << ls.dump();
  }
}

TEST_F(Lifecycle, AgentKilledBySigkillIsSeenAsCrashed) {
  ASSERT_EQ(daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 2))}).status, 0);
  pid_t victim = daemon.agent_pids("hello").at(0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  // `logs -f` ends once the daemon has reaped and classified the exit.
  RunResult follow = daemon.ctl({"logs", "-f", "hello/greeter-0"});
  EXPECT_EQ(follow.status, 0) << follow.err;
  auto ps = daemon.ctl_json({"ps", "hello"});
  EXPECT_EQ(ps["agents"][0]["state"], "exited");
  EXPECT_EQ(ps["agents"][0]["last_exit"]["reason"], "crashed");
  EXPECT_EQ(ps["agents"][0]["last_exit"]["signal"], SIGKILL);
  EXPECT_EQ(ps["agents"][1]["state"], "ready");
  EXPECT_THAT(daemon.ctl({"ps", "hello"}).out, HasSubstr("killed by SIGKILL"));
}

TEST_F(Lifecycle, AgentThatNeverSaysHelloFailsUpAndLeavesNothing) {
  std::string spec =
      "name = \"mute\"\n[[agents]]\nrole = \"sleeper\"\n"
      "command = [\"/bin/sh\", \"-c\", \"echo starting up; echo stuck on something >&2; exec sleep 600\"]\n"
      "count = 3\nready_timeout = \"300ms\"\n";
  RunResult up = daemon.ctl({"up", dir.write("mute.toml", spec)});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("did not say hello within 300ms"));
  EXPECT_THAT(up.err, HasSubstr("stuck on something"));
  EXPECT_TRUE(daemon.children().empty()) << "a half-started swarm left processes behind";
  EXPECT_EQ(daemon.ctl_json({"ls"})["swarms"][0]["state"], "failed");
}

TEST_F(Lifecycle, AgentThatExitsBeforeHelloFailsUpQuotingItsOutput) {
  std::string spec =
      "name = \"broken\"\n[[agents]]\nrole = \"w\"\n"
      "command = [\"/bin/sh\", \"-c\", \"echo missing API key >&2; exit 3\"]\n";
  RunResult up = daemon.ctl({"up", dir.write("broken.toml", spec)});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("agent w-0 exited with code 3 before saying hello"));
  EXPECT_THAT(up.err, HasSubstr("missing API key"));
  EXPECT_TRUE(daemon.children().empty());
}

TEST_F(Lifecycle, CommandNotFoundFailsUpNamingIt) {
  std::string spec = "name = \"typo\"\n[[agents]]\nrole = \"w\"\ncommand = [\"smol-echo-agnt\"]\n";
  RunResult up = daemon.ctl({"up", dir.write("typo.toml", spec)});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("command 'smol-echo-agnt' not found"));
}

TEST_F(Lifecycle, ProgramTheKernelCannotExecFailsUpWithTheStep) {
  std::string junk = dir.write("junk-agent", "this is not a program\n");
  ASSERT_EQ(::chmod(junk.c_str(), 0755), 0);
  std::string spec = "name = \"junk\"\n[[agents]]\nrole = \"w\"\ncommand = [\"./junk-agent\"]\n";
  RunResult up = daemon.ctl({"up", dir.write("junk.toml", spec)});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("agent w-0: cannot start " + junk + ": execve(" + junk +
                                "): Exec format error"));
  auto a = daemon.ctl_json({"ps", "junk"})["agents"][0];
  EXPECT_EQ(a["last_exit"]["reason"], "spawn_failed");
  EXPECT_TRUE(daemon.children().empty());
}

TEST_F(Lifecycle, InvalidSpecIsRefusedWithPosition) {
  std::string spec = "name = \"bad\"\n[[agents]]\nrole = \"w\"\ncommand = [\"x\"]\ncount = 0\n";
  RunResult up = daemon.ctl({"up", dir.write("bad.toml", spec)});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("bad.toml:5:9: agents[0].count = 0: must be between 1 and 10000"));
}

TEST_F(Lifecycle, DuplicateRunningSwarmNameIsRefused) {
  std::string file = dir.write("hello.toml", echo_spec("hello", 1));
  ASSERT_EQ(daemon.ctl({"up", file}).status, 0);
  RunResult again = daemon.ctl({"up", file});
  EXPECT_EQ(again.status, 1);
  EXPECT_THAT(again.err, HasSubstr("swarm 'hello' is already running"));
  // Once stopped, the name may be used again.
  ASSERT_EQ(daemon.ctl({"down", "hello"}).status, 0);
  EXPECT_EQ(daemon.ctl({"up", file}).status, 0);
}

TEST_F(Lifecycle, UnknownSwarmOrAgentIsAClearError) {
  RunResult ps = daemon.ctl({"ps", "nope"});
  EXPECT_EQ(ps.status, 1);
  EXPECT_THAT(ps.err, HasSubstr("no swarm named 'nope'"));
  RunResult usage = daemon.ctl({"logs", "no-slash"});
  EXPECT_EQ(usage.status, 2);
}

TEST_F(Lifecycle, StatusDescribesTheDaemon) {
  ASSERT_EQ(daemon.ctl({"up", dir.write("hello.toml", echo_spec("hello", 2))}).status, 0);
  auto st = daemon.ctl_json({"status"})["status"];
  EXPECT_EQ(st["pid"], daemon.pid());
  EXPECT_EQ(st["socket_path"], daemon.socket());
  EXPECT_EQ(st["state_dir"], daemon.state_dir());
  EXPECT_EQ(st["swarms_running"], 1);
  EXPECT_EQ(st["agents_running"], 2);
  EXPECT_THAT(st["metrics_address"].get<std::string>(), MatchesRegex("127\\.0\\.0\\.1:[0-9]+"));
}

}  // namespace
}  // namespace smol::test

namespace smol::test {
namespace {

TEST(Restart, CrashedAgentIsRestartedUntilMaxRestarts) {
  TempDir dir;
  Daemon daemon(dir);
  std::string spec =
      "name = \"phoenix\"\n[[agents]]\nrole = \"bird\"\ncommand = [\"smol-echo-agent\"]\n"
      "restart = \"on-failure\"\nmax_restarts = 1\n";
  ASSERT_EQ(daemon.ctl({"up", dir.write("phoenix.toml", spec)}).status, 0);
  pid_t first = daemon.agent_pids("phoenix").at(0);

  ASSERT_EQ(::kill(first, SIGKILL), 0);
  auto restarted = [&] {
    auto a = daemon.ctl_json({"ps", "phoenix"})["agents"][0];
    return a["state"] == "ready" && a["restarts"] == 1;
  };
  ASSERT_TRUE(eventually(restarted)) << "the crashed agent was not restarted";
  pid_t second = daemon.agent_pids("phoenix").at(0);
  EXPECT_NE(second, first);

  // The one allowed restart is used up: the next crash keeps it down.
  ASSERT_EQ(::kill(second, SIGKILL), 0);
  ASSERT_EQ(daemon.ctl({"logs", "-f", "phoenix/bird-0"}).status, 0);  // returns once reaped
  auto a = daemon.ctl_json({"ps", "phoenix"})["agents"][0];
  EXPECT_EQ(a["state"], "exited");
  EXPECT_EQ(a["last_exit"]["reason"], "crashed");
  EXPECT_EQ(daemon.ctl_json({"ls"})["swarms"][0]["state"], "stopped");
}

std::string finishing_spec(const std::string& restart, int code) {
  return "name = \"job\"\n[[agents]]\nrole = \"w\"\n"
         "command = [\"smol-echo-agent\", \"--exit-after\", \"50\", \"--exit-code\", \"" +
         std::to_string(code) + "\"]\nrestart = \"" + restart + "\"\nmax_restarts = 1\n";
}

// Restarts observed after the agent has exited twice (or once, when it is
// not restarted): logs -f returns at each exit.
nlohmann::json agent_after_exits(const Daemon& d) {
  EXPECT_EQ(d.ctl({"logs", "-f", "job/w-0"}).status, 0);
  return d.ctl_json({"ps", "job"})["agents"][0];
}

TEST(Restart, CleanExitIsNotRestartedUnderOnFailure) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(daemon.ctl({"up", dir.write("job.toml", finishing_spec("on-failure", 0))}).status, 0);
  auto a = agent_after_exits(daemon);
  EXPECT_EQ(a["restarts"], 0);
  EXPECT_EQ(a["last_exit"]["reason"], "exited");
  EXPECT_EQ(a["last_exit"]["code"], 0);
  // No restart pending: the swarm has ended.
  EXPECT_EQ(daemon.ctl_json({"ls"})["swarms"][0]["state"], "stopped");
}

TEST(Restart, FailingExitIsRestartedUnderOnFailure) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(daemon.ctl({"up", dir.write("job.toml", finishing_spec("on-failure", 3))}).status, 0);
  ASSERT_TRUE(eventually([&] {
    return daemon.ctl_json({"ps", "job"})["agents"][0]["restarts"] == 1;
  }));
  auto a = agent_after_exits(daemon);
  EXPECT_EQ(a["last_exit"]["code"], 3);
  EXPECT_THAT(daemon.ctl({"logs", "job/w-0"}).out, HasSubstr("done, exiting with code 3"));
}

TEST(Restart, CleanExitIsRestartedUnderAlways) {
  TempDir dir;
  Daemon daemon(dir);
  ASSERT_EQ(daemon.ctl({"up", dir.write("job.toml", finishing_spec("always", 0))}).status, 0);
  EXPECT_TRUE(eventually([&] {
    return daemon.ctl_json({"ps", "job"})["agents"][0]["restarts"] == 1;
  }));
}

}  // namespace
}  // namespace smol::test
