// Inside the sandbox, every escape probe is stopped.
//
// The other half of probes_outside_test: each probe of probes.tsv runs
// confined by a real swarmd, through `swarmctl run --profile P`, once with
// the default profile (the table's `inside` column) and once with the strict
// one (`inside_strict`), pointed at real things the sandbox must hide: the
// daemon's state file and control socket, another running agent's work
// directory and pid, the daemon's pid and cgroup, a TCP listener on the
// host's loopback, an abstract socket in the host's network namespace, a
// host temp dir, a setuid-root copy of a probe. After each probe the host
// side is checked too: nothing appeared in the dirs it aimed at, the peer
// agent and the daemon live on untouched, no listener was reached.
//
// A few probes also run as swarm agents (ProbeAsAgent): the exit `ps`
// reports and the output `logs` kept must show the same outcome.
//
// The daemon and its targets are made once per test process (a gtest
// Environment); ctest runs every case in a process of its own, and a daemon
// with its peer agent starts in a few milliseconds. Everything is removed
// at the end: the daemon (and its agents) killed by the pid the harness
// recorded, the temp dirs removed, the listeners closed.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/unique_fd.h"
#include "tests/e2e/harness.h"
#include "tests/escape/probe_table.h"
#include "tests/escape/targets.h"

namespace smol::escape {
namespace {

namespace fs = std::filesystem;
using test::Daemon;
using test::RunResult;
using test::TempDir;

// The other agent the probes reach for: its swarm, its id.
constexpr const char* kPeerSwarm = "peers";
constexpr const char* kPeerId = "echo-0";
// A probe is the first process of its sandbox's PID namespace: the files it
// names after its pid end in 1 (no host process but init has that pid).
constexpr pid_t kProbePid = 1;

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.insert(e.path().filename());
  return names;
}

// The host side: a real swarmd in a temp dir, one running peer agent, and
// the values of every {placeholder}.
class World {
 public:
  World() : daemon(dir) {
    std::string spec = dir.write("peers.toml", std::string("name = \"") + kPeerSwarm + R"("
[[agents]]
role = "echo"
command = ["smol-echo-agent"]
)");
    RunResult up = daemon.ctl({"up", spec});
    if (up.status != 0) throw std::runtime_error("starting the peer agent: " + up.err);
    // `up` may return before swarmd knows the pid: the agent's hello can
    // overtake the end of its spawn, and ps shows it ready with pid 0.
    std::vector<pid_t> peers;
    test::eventually([&] { return (peers = daemon.agent_pids(kPeerSwarm)).size() == 1; });
    if (peers.size() != 1) throw std::runtime_error("the peer swarm has no running agent");
    peer_pid = peers[0];

    suid_tree = std::make_unique<TempTree>(suid_capable_parent());
    chmod(suid_tree->path().c_str(), 0755);
    int port = 0;
    tcp_listener = listen_tcp_loopback(&port);
    std::string abstract_name = "smol-escape-inside-" + std::to_string(getpid());
    abstract_socket = listen_unix(abstract_name, true);

    // A dir anyone may write: only the sandbox stands between it and a probe.
    std::string outside = dir.path() + "/outside";
    if (mkdir(outside.c_str(), 0777) != 0 || chmod(outside.c_str(), 0777) != 0) {
      fail("mkdir " + outside);
    }
    std::string state_file = daemon.state_dir() + "/swarmd.mdb";
    if (!fs::exists(state_file)) throw std::runtime_error("no state file " + state_file);
    std::string other_workdir = daemon.state_dir() + "/work/" + kPeerSwarm + "/" + kPeerId;
    if (!fs::is_directory(other_workdir)) {
      throw std::runtime_error("the peer has no work dir " + other_workdir);
    }
    values = {
        {"work_dir", "."},  // the probe's cwd: its own work dir
        {"outside_dir", outside},
        {"other_workdir", other_workdir},
        {"state_file", state_file},
        {"control_socket", daemon.socket()},
        {"abstract_socket", abstract_name},
        {"host_port", std::to_string(port)},
        {"peer_pid", std::to_string(peer_pid)},
        {"peer_addr", "0x400000"},  // any number: the call is killed first
        {"daemon_pid", std::to_string(daemon.pid())},
        {"cgroup_file", cgroup_procs_of(daemon.pid())},
        {"setuid_copy", make_setuid_copy(suid_tree->mkdir("suid", 0755))},
    };
    other_workdir_entries = entries(other_workdir);
    hostname = read_file("/proc/sys/kernel/hostname");
  }

  TempDir dir;  // the daemon's state dir and socket, and outside_dir
  Daemon daemon;
  std::unique_ptr<TempTree> suid_tree;
  UniqueFd tcp_listener, abstract_socket;
  pid_t peer_pid = 0;
  std::map<std::string, std::string> values;
  std::set<std::string> other_workdir_entries;
  std::string hostname;
};

std::unique_ptr<World> g_world;
std::string g_world_error;

class WorldEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    if (geteuid() != 0) {
      g_world_error = "swarmd confines agents only as root; run as root";
      return;
    }
    try {
      g_world = std::make_unique<World>();
    } catch (const std::exception& e) {
      g_world_error = std::string("setting up swarmd and the targets: ") + e.what();
    }
  }
  void TearDown() override { g_world.reset(); }
};

[[maybe_unused]] ::testing::Environment* const g_environment =
    ::testing::AddGlobalTestEnvironment(new WorldEnvironment);

// A test that needs the world: skipped when not root, failed when the world
// could not be made.
template <class Param>
class WithWorld : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!g_world) {
      if (geteuid() != 0) GTEST_SKIP() << g_world_error;
      FAIL() << g_world_error;
    }
  }
};

// A run as its runner saw it: the exit the daemon reported, as ProbeRun.
ProbeRun from_exit(const nlohmann::json& exit, std::string output) {
  ProbeRun run;
  run.output = std::move(output);
  if (!exit.is_object()) return run;  // no exit reported: observed as `other`
  run.signal = exit.value("signal", 0);
  if (run.signal == 0) run.exit_code = exit.value("code", -1);
  // Only the daemon's kill names a syscall; the kernel's SIGSYS kill of a
  // foreign-ABI call does not, and is seen as the signal.
  if (exit.value("reason", "") == "seccomp") run.seccomp_syscall = exit.value("syscall", "");
  return run;
}

std::string describe(const nlohmann::json& exit) {
  return exit.is_null() ? "no exit reported" : exit.dump();
}

// `swarmctl --json run --profile P -- argv...`: the probe's output comes as
// {"data": ...} lines, then one document with the exit.
struct ConfinedRun {
  ProbeRun run;
  nlohmann::json exit;
  RunResult raw;
};

ConfinedRun run_confined(const Daemon& daemon, const std::string& profile,
                         const std::vector<std::string>& argv) {
  std::vector<std::string> args{"--json", "run", "--profile", profile, "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  ConfinedRun confined;
  confined.raw = daemon.ctl(args);
  std::string output;
  std::istringstream lines(confined.raw.out);
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded()) {
      output += line + "\n";  // not swarmctl's: shown in the failure message
    } else if (doc.contains("data")) {
      output += doc["data"].get<std::string>();
    } else if (doc.contains("exit")) {
      confined.exit = doc["exit"];
    }
  }
  confined.run = from_exit(confined.exit, std::move(output));
  return confined;
}

// After a probe, the host side shows no trace of an escape. Undoes what it
// finds, so the next probe (in the same process) starts clean.
void expect_nothing_escaped(World& w, const std::string& probe) {
  const auto& v = w.values;
  for (const std::string& name : entries(v.at("outside_dir"))) {
    ADD_FAILURE() << probe << " left " << name << " in {outside_dir} " << v.at("outside_dir");
    std::error_code ignored;
    fs::remove_all(v.at("outside_dir") + "/" + name, ignored);
  }
  EXPECT_EQ(entries(v.at("other_workdir")), w.other_workdir_entries)
      << probe << " changed the peer's work dir {other_workdir}";
  for (const char* dir : {"/usr", "/etc"}) {
    EXPECT_FALSE(remove_probe_leftover(dir, kProbePid))
        << probe << " left " << dir << "/.smol-escape-probe-" << kProbePid << " (removed)";
  }
  EXPECT_FALSE(took_a_connection(w.tcp_listener))
      << probe << " reached 127.0.0.1:" << v.at("host_port") << " on the host";
  EXPECT_FALSE(took_a_connection(w.abstract_socket))
      << probe << " reached the abstract socket in the host's network namespace";
  EXPECT_TRUE(test::process_exists(w.daemon.pid())) << probe << ": swarmd is gone";
  // The peer (smol-echo-agent) dies of SIGUSR1; a restart would change its pid.
  std::vector<pid_t> peers;
  EXPECT_NO_THROW(peers = w.daemon.agent_pids(kPeerSwarm));
  EXPECT_EQ(peers, std::vector<pid_t>{w.peer_pid}) << probe << ": the peer agent did not live on";
  if (read_file("/proc/sys/kernel/hostname") != w.hostname) {
    std::ofstream("/proc/sys/kernel/hostname") << w.hostname;
    ADD_FAILURE() << probe << " changed the host's hostname (restored)";
  }
}

// What a probe did, for the test's log.
void show(const std::string& what, const Outcome& observed, const std::string& output) {
  std::cout << "  " << what << " -> " << to_string(observed) << ": " << output
            << (output.ends_with('\n') ? "" : "\n");
}

// ---- Every probe, with each profile, through `swarmctl run` ----

struct Case {
  std::string profile;  // "default" or "strict"
  ProbeRow row;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.profile << "/" << c.row.name; }

std::vector<Case> cases(const std::string& profile) {
  std::vector<Case> out;
  for (ProbeRow& row : table_or_empty()) out.push_back({profile, std::move(row)});
  return out;
}

class ProbeInside : public WithWorld<Case> {};

TEST_P(ProbeInside, IsConfined) {
  const Case& c = GetParam();
  const ProbeRow& row = c.row;
  World& w = *g_world;
  ConfinedRun confined = run_confined(w.daemon, c.profile, probe_argv(row, w.values));
  const ProbeRun& run = confined.run;

  const Expectation& expected = c.profile == "strict" ? row.inside_strict : row.inside;
  Outcome observed = observed_outcome(run);
  show(c.profile + "/" + row.name, observed, run.output);
  EXPECT_TRUE(matches(expected, observed))
      << row.name << " with profile " << c.profile << " (probes.tsv line " << row.line
      << "): expected " << to_string(expected) << ", got " << to_string(observed)
      << "\noutput: " << run.output << "exit: " << describe(confined.exit)
      << "\nswarmctl stderr: " << confined.raw.err;
  // swarmctl's own status says the same as its JSON.
  if (!confined.exit.is_null()) {
    EXPECT_EQ(confined.raw.status, run.signal != 0 ? 128 + run.signal : run.exit_code);
  }
  expect_nothing_escaped(w, c.profile + "/" + row.name);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return gtest_name(info.param.row.name);
}

INSTANTIATE_TEST_SUITE_P(Default, ProbeInside, ::testing::ValuesIn(cases("default")), case_name);
INSTANTIATE_TEST_SUITE_P(Strict, ProbeInside, ::testing::ValuesIn(cases("strict")), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProbeInside);

// ---- Some probes as swarm agents ----

// Run as the only agent of a swarm of their own, so that the agent's own
// exit is what ends it (a failing `up` stops the other agents of its swarm).
const char* const kAgentProbes[] = {"ptrace",      "read-shadow",         "write-usr",
                                    "signal-peer", "write-other-workdir", "connect-control-socket"};

std::vector<ProbeRow> agent_rows() {
  std::vector<ProbeRow> rows;
  for (ProbeRow& row : table_or_empty()) {
    if (std::ranges::find(kAgentProbes, row.name) != std::end(kAgentProbes)) {
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

class ProbeAsAgent : public WithWorld<ProbeRow> {};

TEST_P(ProbeAsAgent, IsConfined) {
  const ProbeRow& row = GetParam();
  World& w = *g_world;
  std::string swarm = "probe-" + row.name;
  nlohmann::json command = probe_argv(row, w.values);
  std::string spec = w.dir.write(swarm + ".toml", "name = \"" + swarm + R"("
[[agents]]
role = "probe"
command = )" + command.dump() + "\n");

  // A probe never says hello: `up` fails, naming the agent.
  w.daemon.drain_notifications();  // many swarms in one process: see drain_notifications()
  RunResult up = w.daemon.ctl({"up", spec});
  EXPECT_NE(up.status, 0);
  EXPECT_NE(up.err.find("probe-0"), std::string::npos) << up.err;

  nlohmann::json ps;
  ASSERT_NO_THROW(ps = w.daemon.ctl_json({"ps", swarm}));
  ASSERT_EQ(ps["agents"].size(), 1u) << ps.dump();
  const nlohmann::json& exit = ps["agents"][0]["last_exit"];
  RunResult logs = w.daemon.ctl({"logs", swarm + "/probe-0"});
  ASSERT_EQ(logs.status, 0) << logs.err;

  ProbeRun run = from_exit(exit, logs.out);
  Outcome observed = observed_outcome(run);
  show("agent " + row.name, observed, logs.out);
  EXPECT_TRUE(matches(row.inside, observed))
      << row.name << " as an agent (probes.tsv line " << row.line << "): expected "
      << to_string(row.inside) << ", got " << to_string(observed) << "\nlogs: " << logs.out
      << "last_exit: " << describe(exit);
  if (row.inside.front().kind == Outcome::Kind::killed) {
    EXPECT_EQ(exit.value("reason", ""), "seccomp") << describe(exit);
    EXPECT_EQ(exit.value("syscall", ""), row.inside.front().detail) << describe(exit);
  } else {
    EXPECT_TRUE(logs.out.starts_with("BLOCKED: ")) << logs.out;
  }
  expect_nothing_escaped(w, "agent " + row.name);
}

INSTANTIATE_TEST_SUITE_P(Swarm, ProbeAsAgent, ::testing::ValuesIn(agent_rows()),
                         [](const ::testing::TestParamInfo<ProbeRow>& info) {
                           return gtest_name(info.param.name);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProbeAsAgent);

TEST(ProbeAsAgentList, NamesRowsOfTheTable) {
  EXPECT_EQ(agent_rows().size(), std::size(kAgentProbes));
}

}  // namespace
}  // namespace smol::escape
