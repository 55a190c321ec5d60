// The agent sandbox as a user meets it: `swarmctl run`, confined swarm
// agents, and seccomp violations attributed by name in the exit, in `ps`,
// in the log and in the metrics. The escape suite (tests/escape) probes the
// walls one by one; this file checks the plumbing around them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Sandbox : public ::testing::Test {
 protected:

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Sandbox, RunStreamsOutputAndExitsWithTheCommandsStatus) {
  RunResult r = daemon.ctl({"run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"});
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.out, "out\nerr\n");
  EXPECT_THAT(r.err, HasSubstr("exited with code 3"));
}

TEST_F(Sandbox, RunIsAnUnprivilegedUserAloneInItsOwnNamespaces) {
  RunResult r = daemon.ctl(
      {"run", "--", "sh", "-c",
       "id -u; id -G; hostname; pwd; ls /proc | grep -c '^[0-9]'; ls /; ls /dev; "
       "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; "
       "tail -n +3 /proc/net/dev | cut -d: -f1"});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream lines(r.out);
  std::string uid, groups, host, cwd, procs;
  std::getline(lines, uid);
  std::getline(lines, groups);
  std::getline(lines, host);
  std::getline(lines, cwd);
  std::getline(lines, procs);
  EXPECT_GE(std::stoul(uid), 1879048192u) << "a uid of the configured agent range";
  EXPECT_EQ(groups, uid) << "supplementary groups must be cleared";
  EXPECT_THAT(host, HasSubstr("run-"));
  EXPECT_EQ(cwd, "/home/agent");
  // sh, the pipeline's ls and grep: nothing of the host.
  EXPECT_LE(std::stoi(procs), 4);
  EXPECT_THAT(r.out, HasSubstr("CapEff:\t0000000000000000"));
  EXPECT_THAT(r.out, HasSubstr("CapBnd:\t0000000000000000"));
  EXPECT_THAT(r.out, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(r.out, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(r.out, Not(HasSubstr("var"))) << "the host's root must not show";
  EXPECT_THAT(r.out, Not(HasSubstr("sda"))) << "only the minimal /dev";
  EXPECT_THAT(r.out, Not(HasSubstr("eth"))) << "loopback only";
}

TEST_F(Sandbox, WorkDirectoryIsWritableAndTheRestIsNot) {
  RunResult r = daemon.ctl(
      {"run", "--", "sh", "-c",
       "echo data > /home/agent/f && cat /home/agent/f; echo x > /tmp/t && cat /tmp/t; "
       "touch /usr/x 2>&1; touch /etc/x 2>&1; cat /etc/shadow 2>&1; true"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("data\nx\n"));
  EXPECT_THAT(r.out, HasSubstr("touch: cannot touch '/usr/x': Read-only file system"));
  EXPECT_THAT(r.out, HasSubstr("touch: cannot touch '/etc/x': Read-only file system"));
  EXPECT_THAT(r.out, HasSubstr("/etc/shadow: Permission denied"));
}

TEST_F(Sandbox, SeccompKillIsAttributedByNameInRunAndMetrics) {
  // The strict profile allows no new processes; the shell's fork trips it.
  RunResult r = daemon.ctl({"run", "--profile", "strict", "--", "sh", "-c", "/bin/true"});
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_THAT(r.err, HasSubstr("killed: seccomp violation: vfork"));
  std::string m = daemon.metrics();
  EXPECT_THAT(m, HasSubstr(
                     "smolswarms_seccomp_violations_total{action=\"kill\",swarm=\"(run)\","
                     "syscall=\"vfork\"} 1"));
  EXPECT_THAT(m, HasSubstr("smolswarms_agent_exits_total{reason=\"seccomp\",swarm=\"(run)\"} 1"));
  EXPECT_THAT(m, HasSubstr("smolswarms_sandbox_setup_seconds_count 1"));
}

TEST_F(Sandbox, ErrnoActionRefusesTheCallAndTheAgentLivesOn) {
  std::string spec = dir.write("errno.toml", R"(name = "errno"
[[agents]]
role = "forker"
command = ["/bin/sh", "-c", "/bin/true"]
[agents.sandbox]
profile = "strict"
action = "errno"
)");
  // The shell is told it cannot fork (EPERM) and says so itself.
  RunResult up = daemon.ctl({"up", spec});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("exited with code 2 before saying hello"));
  EXPECT_THAT(up.err, HasSubstr("Cannot fork"));
  auto ps = daemon.ctl_json({"ps", "errno"});
  EXPECT_EQ(ps["agents"][0]["last_exit"]["reason"], "exited");
  EXPECT_THAT(daemon.metrics(), HasSubstr("smolswarms_seccomp_violations_total{action=\"errno\","
                                   "swarm=\"errno\",syscall=\"vfork\"} 1"));
}

TEST_F(Sandbox, SwarmAgentKilledForAViolationShowsTheSyscallInPs) {
  std::string spec = dir.write("kill.toml", R"(name = "victim"
[[agents]]
role = "forker"
command = ["/bin/sh", "-c", "/bin/true"]
[sandbox]
profile = "strict"
)");
  RunResult up = daemon.ctl({"up", spec});
  EXPECT_EQ(up.status, 1);
  auto ps = daemon.ctl_json({"ps", "victim"});
  const auto& exit = ps["agents"][0]["last_exit"];
  EXPECT_EQ(exit["reason"], "seccomp");
  EXPECT_EQ(exit["syscall"], "vfork");
  RunResult table = daemon.ctl({"ps", "victim"});
  EXPECT_THAT(table.out, HasSubstr("killed: seccomp violation: vfork"));
}

TEST_F(Sandbox, MaxRuntimeKillsAndSaysTimeout) {
  std::string spec = dir.write("slow.toml", R"(name = "slow"
[[agents]]
role = "sleeper"
command = ["smol-echo-agent"]
[agents.sandbox]
max_runtime = "200ms"
)");
  ASSERT_EQ(daemon.ctl({"up", spec}).status, 0);
  ASSERT_TRUE(eventually([&] {
    return daemon.ctl_json({"ps", "slow"})["agents"][0]["last_exit"]["reason"] == "timeout";
  }));
}

// The child confining an agent holds a copy of the daemon's fd table, whose
// low numbers are all taken; a regression made every spawn fail with EMFILE
// once the daemon held more fds than the agent's RLIMIT_NOFILE.
TEST_F(Sandbox, AgentsWithAFileLimitBelowTheDaemonsOpenFilesStart) {
  std::string spec = dir.write("few.toml", R"(name = "few"
[[agents]]
role = "echo"
command = ["smol-echo-agent"]
count = 20
[agents.sandbox.rlimits]
nofile = 16
)");
  RunResult up = daemon.ctl({"up", spec});
  ASSERT_EQ(up.status, 0) << up.err;
  RunResult r = daemon.ctl({"run", "--", "sh", "-c", "ulimit -n; ulimit -c"});
  EXPECT_EQ(r.out, "1024\n0\n") << "the default profile's limit, and no core dumps";
}

// A command that cannot start exits 127, as a shell's would.
TEST_F(Sandbox, RunOfAMissingCommandIsAClearError) {
  RunResult r = daemon.ctl({"run", "--", "no-such-command-anywhere"});
  EXPECT_EQ(r.status, 127);
  EXPECT_THAT(r.err, HasSubstr("no-such-command-anywhere"));
}

TEST_F(Sandbox, UnknownProfileIsRefusedListingTheProfiles) {
  RunResult r = daemon.ctl({"run", "--profile", "lax", "--", "true"});
  EXPECT_EQ(r.status, 127);
  EXPECT_THAT(r.err, HasSubstr("\"default\" and \"strict\""));
}

// swarmd's systemd unit runs it with UMask=0077; agents must still reach
// their program and work directory through the directories swarmd made.
class UnderUmask077 : public ::testing::Test {
 protected:
  static mode_t set_umask() { return ::umask(077); }

  mode_t saved = set_umask();
  TempDir dir;
  Daemon daemon{dir};
  ~UnderUmask077() override { ::umask(saved); }
};

TEST_F(UnderUmask077, AgentsStartAndTheirUmaskIsTheUsualOne) {
  RunResult up = daemon.ctl({"up", dir.write("u.toml", R"(name = "u"
[[agents]]
role = "echo"
command = ["smol-echo-agent"]
count = 2
)")});
  EXPECT_EQ(up.status, 0) << up.err;
  RunResult r = daemon.ctl({"run", "--", "sh", "-c", "umask; ls -d /home/agent"});
  EXPECT_EQ(r.out, "0022\n/home/agent\n") << r.err;
}

// A kernel without Landlock, as the daemon sees it: its landlock_* calls fail
// with ENOSYS (without_landlock.c).
class WithoutLandlock : public ::testing::Test {
 protected:
  static DaemonOptions without_landlock() {
    DaemonOptions o;
    o.wrapper = {bin("without_landlock")};
    return o;
  }

  TempDir dir;
  Daemon daemon{dir, without_landlock()};
};

TEST_F(WithoutLandlock, RequiredFailsTheSpawnSayingWhy) {
  std::string spec = dir.write("req.toml", R"(name = "req"
[[agents]]
role = "echo"
command = ["smol-echo-agent"]
[sandbox]
landlock = "required"
)");
  RunResult up = daemon.ctl({"up", spec});
  EXPECT_EQ(up.status, 1);
  EXPECT_THAT(up.err, HasSubstr("landlock required but the kernel does not support it"));
  EXPECT_TRUE(daemon.agent_pids("req").empty());
}

TEST_F(WithoutLandlock, BestEffortRunsTheAgentsAndSaysSoOnce) {
  RunResult up = daemon.ctl({"up", dir.write("be.toml", R"(name = "be"
[[agents]]
role = "echo"
command = ["smol-echo-agent"]
count = 3
[sandbox]
landlock = "best-effort"
)")});
  ASSERT_EQ(up.status, 0) << up.err;
  std::ifstream log(daemon.stderr_path());
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  size_t first = text.find("run without Landlock");
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find("run without Landlock", first + 1), std::string::npos) << "said once";
}

}  // namespace
}  // namespace smol::test
