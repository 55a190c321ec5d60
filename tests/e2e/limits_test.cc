// Resource pools as a user meets them: a swarm's [limits] and its agents'
// [agents.limits] enforced by real cgroups (this host's v1 hierarchies, or
// v2 where the host has it), OOM kills named in the exit, fork bombs and
// CPU hogs held, pause and resume, whole-tree kills, and nothing left in
// the host's cgroups afterwards.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sandbox/cgroup.h"
#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Where the cgroups of the hierarchy carrying `controller` are mounted, and
// the process's cgroup there, as /proc/PID/cgroup tells it.
std::string cgroup_dir(pid_t pid, const std::string& controller) {
  std::istringstream lines(slurp("/proc/" + std::to_string(pid) + "/cgroup"));
  sandbox::CgroupHost host = sandbox::detect_cgroup_host();
  for (std::string line; std::getline(lines, line);) {
    auto c1 = line.find(':'), c2 = line.find(':', c1 + 1);
    std::string ctl = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    for (const auto& h : host.hierarchies) {
      bool carries = std::find(h.controllers.begin(), h.controllers.end(), controller) !=
                     h.controllers.end();
      bool v2 = host.version == sandbox::CgroupVersion::v2 && ctl.empty();
      if (carries && (v2 || ("," + ctl + ",").find("," + controller + ",") != std::string::npos)) {
        return h.mount_point + path;
      }
    }
  }
  return {};
}

std::vector<pid_t> procs_in(const std::string& dir) {
  std::vector<pid_t> pids;
  std::istringstream in(slurp(dir + "/cgroup.procs"));
  for (pid_t p; in >> p;) pids.push_back(p);
  return pids;
}

class Limits : public ::testing::Test {
 protected:
  // Starts a one-group swarm `name` of smol-load-agent with these arguments
  // and limits tables (TOML, may be empty).
  void up(const std::string& name, const std::string& args, const std::string& pool_limits,
          const std::string& agent_limits) {
    std::string spec = "name = \"" + name + "\"\n" + pool_limits +
                       "\n[[agents]]\nrole = \"load\"\ncommand = [\"" + bin("smol-load-agent") +
                       "\", " + args + "]\nrestart = \"never\"\n" + agent_limits;
    RunResult r = daemon.ctl({"up", dir.write(name + ".toml", spec)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  nlohmann::json agent(const std::string& swarm) {
    return daemon.ctl_json({"ps", swarm})["agents"][0];
  }

  bool log_has(const std::string& target, const std::string& text) {
    return daemon.ctl({"logs", target}).out.find(text) != std::string::npos;
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Limits, AMemoryHogIsOomKilledAndItsExitNamesTheLimit) {
  up("hog", "\"--hog\", \"512\"", "[limits]\nmemory = \"256MiB\"",
     "[agents.limits]\nmemory = \"48MiB\"");
  ASSERT_TRUE(eventually([&] { return agent("hog")["state"] == "exited"; }));
  nlohmann::json a = agent("hog");
  EXPECT_EQ(a["last_exit"]["reason"], "oom") << a.dump();
  EXPECT_EQ(a["last_exit"]["detail"], "killed by the OOM killer at its memory limit of 48MiB");
  EXPECT_THAT(daemon.ctl({"ps", "hog"}).out, HasSubstr("killed by the OOM killer"));
  EXPECT_TRUE(log_has("hog/load-0", "hogged 40 MiB"));
  EXPECT_FALSE(log_has("hog/load-0", "hogged 56 MiB"));
  EXPECT_GE(daemon.metric("smolswarms_oom_kills_total{swarm=\"hog\"}"), 1);
  EXPECT_GE(daemon.metric("smolswarms_agent_exits_total{reason=\"oom\",swarm=\"hog\"}"), 1);
}

TEST_F(Limits, AForkBombStopsAtThePidsLimitAndTheDaemonCarriesOn) {
  up("bomb", "\"--fork-bomb\"", "[limits]\npids = 64", "[agents.limits]\npids = 24");
  ASSERT_TRUE(eventually([&] { return log_has("bomb/load-0", "fork refused after"); }));
  std::string log = daemon.ctl({"logs", "bomb/load-0"}).out;
  // The agent itself and its session thread count too.
  EXPECT_THAT(log, HasSubstr("Resource temporarily unavailable"));
  nlohmann::json a = agent("bomb");
  EXPECT_EQ(a["state"], "ready");
  EXPECT_EQ(a["pids"], 24) << a.dump();
  EXPECT_TRUE(eventually(
      [&] { return daemon.metric("smolswarms_pids_limit_hits_total{swarm=\"bomb\"}") >= 1; }));
  // The host is unharmed: the daemon still serves, and another swarm starts.
  RunResult other = daemon.ctl({"run", "--", "true"});
  EXPECT_EQ(other.status, 0) << other.err;
  std::string pids_dir = cgroup_dir(a["pid"], "pids");
  ASSERT_EQ(procs_in(pids_dir).size(), 24u);
  std::vector<pid_t> all = procs_in(pids_dir);
  ASSERT_EQ(daemon.ctl({"down", "bomb"}).status, 0);
  for (pid_t p : all) EXPECT_TRUE(wait_gone(p)) << "pid " << p << " outlived the swarm";
  EXPECT_FALSE(fs::exists(pids_dir));
}

TEST_F(Limits, ACpuHogIsHeldToItsQuota) {
  up("spin", "\"--spin\"", "[limits]\ncpu = 0.5", "[agents.limits]\ncpu = 0.2");
  ASSERT_TRUE(eventually([&] { return log_has("spin/load-0", "cpu 0 ms"); }));
  // The lesser of its own and its pool's limit, for the SDK (reply_wait.h).
  EXPECT_TRUE(log_has("spin/load-0", "cpu limit 0.200000"));
  double cpu0 = agent("spin")["cpu_seconds"];
  auto t0 = std::chrono::steady_clock::now();
  // Wait for the agent's own account of 300 ms of CPU, which takes at least
  // 1.5 s of wall time at 0.2 cores.
  ASSERT_TRUE(eventually([&] { return log_has("spin/load-0", "cpu 300 ms"); }, std::chrono::seconds(20)));
  double cpu1 = agent("spin")["cpu_seconds"];
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cores = (cpu1 - cpu0) / wall;
  EXPECT_GT(cores, 0.05);
  EXPECT_LT(cores, 0.2 * 1.3) << (cpu1 - cpu0) << " s of CPU in " << wall << " s";
  EXPECT_TRUE(eventually(
      [&] { return daemon.metric("smolswarms_cpu_throttled_seconds_total{swarm=\"spin\"}") > 0.5; }));
  EXPECT_GT(daemon.metric("smolswarms_agent_cpu_seconds_total{agent=\"load-0\",swarm=\"spin\"}"), 0.1);
}

TEST_F(Limits, APausedSwarmIsFrozenUntilResumed) {
  up("spin", "\"--spin\"", "", "");
  ASSERT_TRUE(eventually([&] { return log_has("spin/load-0", "cpu 100 ms"); }));
  RunResult paused = daemon.ctl({"pause", "spin"});
  ASSERT_EQ(paused.status, 0) << paused.err;
  EXPECT_EQ(paused.out, "paused spin (1 of 1 agent paused)\n");
  nlohmann::json a = agent("spin");
  EXPECT_EQ(a["state"], "paused");
  std::string freezer = cgroup_dir(a["pid"], "freezer");
  if (!freezer.empty()) {
    EXPECT_TRUE(eventually([&] { return slurp(freezer + "/freezer.state") == "FROZEN\n"; }));
  }
  // Frozen: the CPU time stands still across two samples.
  double before = agent("spin")["cpu_seconds"];
  std::string log_before = daemon.ctl({"logs", "spin/load-0"}).out;
  EXPECT_EQ(agent("spin")["cpu_seconds"], before);

  ASSERT_EQ(daemon.ctl({"resume", "spin/load-0"}).status, 0);
  EXPECT_EQ(agent("spin")["state"], "ready");
  EXPECT_TRUE(eventually([&] { return daemon.ctl({"logs", "spin/load-0"}).out != log_before; }));
  // A paused agent still stops gracefully: down thaws it first.
  ASSERT_EQ(daemon.ctl({"pause", "spin"}).status, 0);
  ASSERT_EQ(daemon.ctl({"down", "spin"}).status, 0);
  EXPECT_EQ(agent("spin")["last_exit"]["reason"], "stopped");
  EXPECT_EQ(agent("spin")["last_exit"]["code"], 0);
}

TEST_F(Limits, PauseOfWhatIsNotRunningSaysSo) {
  RunResult r = daemon.ctl({"pause", "nothing"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("no swarm named 'nothing'"));
  up("spin", "\"--spin\"", "", "");
  r = daemon.ctl({"resume", "spin/load-9"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("swarm 'spin' has no agent 'load-9'"));
  r = daemon.ctl({"pause", "spin/"});
  EXPECT_EQ(r.status, 2);
}

TEST_F(Limits, DownKillsADaemonisedGrandchildAndRemovesTheCgroups) {
  up("daemons", "\"--daemonize\"", "[limits]\nmemory = \"1GiB\"", "");
  ASSERT_TRUE(eventually([&] { return log_has("daemons/load-0", "daemonized"); }));
  nlohmann::json a = agent("daemons");
  std::string memory_dir = cgroup_dir(a["pid"], "memory");
  std::vector<pid_t> procs = procs_in(memory_dir);
  ASSERT_EQ(procs.size(), 2u) << "the agent and its grandchild";
  std::string pool_dir = fs::path(memory_dir).parent_path();
  EXPECT_EQ(fs::path(pool_dir).filename(), "daemons.swarm");
  EXPECT_EQ(slurp(pool_dir + (fs::exists(pool_dir + "/memory.max") ? "/memory.max"
                                                                    : "/memory.limit_in_bytes")),
            "1073741824\n");

  ASSERT_EQ(daemon.ctl({"down", "daemons"}).status, 0);
  for (pid_t p : procs) EXPECT_TRUE(wait_gone(p)) << "pid " << p << " survived down";
  EXPECT_TRUE(eventually([&] { return !fs::exists(pool_dir); }));
}

TEST_F(Limits, UsageShowsInPsTopAndTheMetrics) {
  up("hog", "\"--hog\", \"32\"", "[limits]\nmemory = \"512MiB\"\npids = 100\ncpu = 1.5",
     "[agents.limits]\nmemory = \"128MiB\"");
  ASSERT_TRUE(eventually([&] { return log_has("hog/load-0", "hogged 32 MiB"); }));
  nlohmann::json a = agent("hog");
  EXPECT_TRUE(a["has_usage"].get<bool>());
  EXPECT_GE(a["memory_bytes"].get<uint64_t>(), 32u << 20);
  EXPECT_EQ(a["memory_limit"], 128u << 20);
  EXPECT_GE(a["pids"].get<uint64_t>(), 1u);
  RunResult ps = daemon.ctl({"ps", "hog"});
  EXPECT_THAT(ps.out, HasSubstr("MEM"));
  EXPECT_THAT(ps.out, HasSubstr("/128MiB"));
  RunResult top = daemon.ctl({"top", "hog", "-n", "2", "-d", "100ms"});
  EXPECT_EQ(top.status, 0) << top.err;
  EXPECT_THAT(top.out, HasSubstr("swarm hog, every 100 ms"));
  EXPECT_THAT(top.out, HasSubstr("load-0"));
  EXPECT_TRUE(eventually(
      [&] { return daemon.metric("smolswarms_agent_memory_bytes{agent=\"load-0\",swarm=\"hog\"}") >= 32 << 20; }));
  EXPECT_EQ(daemon.metric("smolswarms_pool_memory_limit_bytes{swarm=\"hog\"}"), 512 << 20);
  EXPECT_EQ(daemon.metric("smolswarms_pool_pids_limit{swarm=\"hog\"}"), 100);
  EXPECT_EQ(daemon.metric("smolswarms_pool_cpu_limit_cores{swarm=\"hog\"}"), 1.5);
  EXPECT_GE(daemon.metric("smolswarms_pool_memory_bytes{swarm=\"hog\"}"), 32 << 20);
  EXPECT_THAT(daemon.ctl({"status"}).out, HasSubstr("cgroup v"));
}

TEST(Cgroups, AStartKillsAndRemovesWhatACrashedDaemonLeft) {
  TempDir dir;
  DaemonOptions first_options;
  first_options.cgroup_base = "smolswarms-test-crash-" + std::to_string(::getpid());
  std::string agent_dir;
  pid_t leftover = -1;
  {
    Daemon first(dir, first_options);
    std::string spec = dir.write("s.toml", "name = \"s\"\n[[agents]]\nrole = \"a\"\ncommand = [\"" +
                                               bin("smol-echo-agent") + "\"]\n");
    ASSERT_EQ(first.ctl({"up", spec}).status, 0);
    pid_t agent = first.agent_pids("s").at(0);
    agent_dir = cgroup_dir(agent, "pids");
    ASSERT_FALSE(agent_dir.empty());
    ASSERT_EQ(first.stop(SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(wait_gone(agent)) << "the agent outlived its daemon";
    // Something still runs in the crashed daemon's cgroups.
    leftover = ::fork();
    if (leftover == 0) {
      for (;;) ::pause();
    }
    std::ofstream(agent_dir + "/cgroup.procs") << leftover;
    ASSERT_EQ(procs_in(agent_dir), std::vector<pid_t>{leftover});
    DaemonOptions second_options = first_options;
    second_options.state_dir = first.state_dir();
    Daemon second(dir, second_options);
    int status = 0;
    ASSERT_EQ(::waitpid(leftover, &status, 0), leftover);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    EXPECT_FALSE(fs::exists(agent_dir));
    EXPECT_THAT(slurp(second.stderr_path()), HasSubstr("a previous swarmd left behind"));
    // The crashed daemon's swarm comes back, in cgroups of its own.
    EXPECT_TRUE(eventually([&] {
      nlohmann::json ls = second.ctl_json({"ls"});
      return ls["swarms"].size() == 1 && ls["swarms"][0]["state"] == "ready";
    })) << second.ctl({"ls"}).out;
  }
}

TEST(Cgroups, ASecondDaemonOnTheSameBaseRefusesToStartAndHarmsNothing) {
  TempDir dir;
  Daemon first(dir);
  std::string spec = dir.write("s.toml", "name = \"s\"\n[[agents]]\nrole = \"a\"\ncommand = [\"" +
                                             bin("smol-echo-agent") + "\"]\n");
  ASSERT_EQ(first.ctl({"up", spec}).status, 0);
  pid_t agent = first.agent_pids("s").at(0);
  std::string config = dir.write("second.toml", "[cgroups]\nbase = \"" + first.cgroup_base() + "\"\n");
  RunResult second = run({bin("swarmd"), "--config", config, "--state-dir", dir.path() + "/state2",
                          "--socket", dir.path() + "/second.sock", "--metrics", "off"});
  EXPECT_EQ(second.status, 1);
  EXPECT_THAT(second.err, HasSubstr("the cgroup base '" + first.cgroup_base() +
                                    "' (") );
  EXPECT_THAT(second.err, HasSubstr("is in use by another swarmd"));
  EXPECT_TRUE(process_exists(agent)) << "the second daemon killed the first one's agent";
  EXPECT_EQ(first.ctl_json({"ps", "s"})["agents"][0]["state"], "ready");
}

// On v1 the memory base lies below the daemon's own memory cgroup, the other
// hierarchies' bases need not: a second daemon started from another memory
// cgroup shares the first one's pids and cpu bases, and must be refused
// there too, or its stop would remove them under the first.
TEST(Cgroups, OnV1ASecondDaemonFromAnotherMemoryCgroupIsRefusedToo) {
  std::string own;
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    if (line.find(":memory:") != std::string::npos) own = line.substr(line.rfind(':') + 1);
  }
  if (own.empty()) GTEST_SKIP() << "no cgroup v1 memory hierarchy (this case is v1's alone)";
  TempDir dir;
  Daemon first(dir);
  std::string elsewhere = "/sys/fs/cgroup/memory" + (own == "/" ? std::string() : own) +
                          "/smolswarms-test-" + std::to_string(::getpid()) + "-elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0755), 0) << elsewhere << ": " << std::strerror(errno);
  std::string config = dir.write("second.toml", "[cgroups]\nbase = \"" + first.cgroup_base() + "\"\n");
  RunResult second =
      run({"/bin/sh", "-c",
           // timeout: a second daemon that is not refused would run on.
           "echo $$ > " + elsewhere + "/cgroup.procs && exec timeout 20 " + bin("swarmd") +
               " --config " +
               config + " --state-dir " + dir.path() + "/state2 --socket " + dir.path() +
               "/second.sock --metrics off"});
  // The second daemon may have made its memory base below; cgroups go
  // deepest first.
  std::vector<std::string> made;
  for (const auto& e : fs::recursive_directory_iterator(elsewhere)) {
    if (e.is_directory()) made.push_back(e.path());
  }
  std::sort(made.rbegin(), made.rend());
  made.push_back(elsewhere);
  for (const auto& d : made) EXPECT_EQ(::rmdir(d.c_str()), 0) << d << ": " << std::strerror(errno);
  EXPECT_EQ(second.status, 1) << second.err;
  EXPECT_THAT(second.err, HasSubstr("is in use by another swarmd"));
  std::string spec = dir.write("s.toml", "name = \"s\"\n[[agents]]\nrole = \"a\"\ncommand = [\"" +
                                             bin("smol-echo-agent") + "\"]\n");
  RunResult up = first.ctl({"up", spec});
  EXPECT_EQ(up.status, 0) << "the first daemon lost its base: " << up.err;
}

// The base's directory in the first hierarchy (v1: memory's, below this
// process's own cgroup there; v2: the mount's).
std::string base_dir(const Daemon& daemon) {
  sandbox::CgroupHost host = sandbox::detect_cgroup_host();
  const auto& h = host.hierarchies.front();
  return (host.version == sandbox::CgroupVersion::v1 ? h.own : h.mount_point) + "/" +
         daemon.cgroup_base();
}

TEST(Cgroups, ARunWhoseClientGoesAwayIsKilled) {
  TempDir dir;
  Daemon daemon(dir);
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  pid_t client = ::fork();
  if (client == 0) {
    ::dup2(out[1], 1);
    std::string swarmctl = bin("swarmctl"), socket = daemon.socket();
    ::execl(swarmctl.c_str(), "swarmctl", "--socket", socket.c_str(), "run", "--", "sh", "-c",
            "echo started; exec sleep 600", nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  char buf[16] = {};
  ASSERT_EQ(::read(out[0], buf, 8), 8);  // "started\n": the command runs
  ::close(out[0]);
  std::string run_pool = base_dir(daemon) + "/@run";
  std::vector<pid_t> running;
  for (const auto& e : fs::directory_iterator(run_pool)) {
    if (e.is_directory()) {
      for (pid_t p : procs_in(e.path())) running.push_back(p);
    }
  }
  ASSERT_FALSE(running.empty());
  ::kill(client, SIGKILL);  // the client vanishes, as with a closed terminal
  ::waitpid(client, nullptr, 0);
  for (pid_t p : running) EXPECT_TRUE(wait_gone(p)) << "pid " << p << " outlived its client";
}

TEST(Cgroups, AThousandRunsLeaveNoCgroupAndNoFdBehind) {
  TempDir dir;
  Daemon daemon(dir);
  auto fds = [&] {
    size_t n = 0;
    for ([[maybe_unused]] auto& e :
         fs::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/fd")) {
      ++n;
    }
    return n;
  };
  ASSERT_EQ(daemon.ctl({"run", "--", "true"}).status, 0);  // the run pool exists from here
  // Each spawning thread keeps a /dev/null open for good: let every one of
  // them spawn once before counting.
  std::string warm_up = dir.write("w.toml", "name = \"w\"\n[[agents]]\nrole = \"a\"\ncommand = [\"" +
                                                bin("smol-echo-agent") + "\"]\ncount = 32\n");
  ASSERT_EQ(daemon.ctl({"up", warm_up}).status, 0);
  ASSERT_EQ(daemon.ctl({"down", "w"}).status, 0);
  size_t fds_before = fds();
  for (int i = 0; i < 1000; ++i) {
    RunResult r = daemon.ctl({"run", "--", "true"});
    ASSERT_EQ(r.status, 0) << "run " << i << ": " << r.err;
  }
  // The last run's handles close a loop turn after its answer (and the
  // warm-up swarm's may still have been closing when we counted).
  EXPECT_TRUE(eventually([&] { return fds() <= fds_before; })) << fds() << " fds, " << fds_before
                                                                << " before";
  std::string base = base_dir(daemon);
  ASSERT_TRUE(fs::is_directory(base + "/@run")) << base;
  EXPECT_TRUE(eventually([&] {
    return std::distance(fs::directory_iterator(base + "/@run"), fs::directory_iterator()) ==
           std::count_if(fs::directory_iterator(base + "/@run"), fs::directory_iterator(),
                         [](const fs::directory_entry& e) { return !e.is_directory(); });
  })) << "a run's cgroup was left in " << base << "/@run";
}

// Swarm names that are also the names of files in every cgroup (v1's
// tasks and notify_on_release) still get a pool of their own.
TEST(Cgroups, SwarmsNamedLikeCgroupFilesGetTheirOwnPool) {
  TempDir dir;
  Daemon daemon(dir);
  for (std::string name : {"tasks", "notify_on_release"}) {
    RunResult up = daemon.ctl(
        {"up", dir.write(name + ".toml", "name = \"" + name +
                                            "\"\n[limits]\npids = 32\n[[agents]]\nrole = \"a\"\n"
                                            "command = [\"" + bin("smol-echo-agent") + "\"]\n")});
    ASSERT_EQ(up.status, 0) << name << ": " << up.err;
    EXPECT_TRUE(fs::is_directory(base_dir(daemon) + "/" + name + ".swarm")) << name;
    EXPECT_EQ(daemon.ctl({"down", name}).status, 0);
  }
}

}  // namespace
}  // namespace smol::test
