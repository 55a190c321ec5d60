// Outside the sandbox, every escape probe does what it claims.
//
// A probe that reports BLOCKED inside the sandbox proves something only if
// the same probe, unconfined, really escapes. So this test runs every probe
// of probes.tsv as root on the host, pointed at real targets it sets up
// itself (a state dir, a listening control socket, a TCP listener, a peer
// process in a network namespace of its own, a setuid-root copy, a cgroup),
// and asserts the table's `outside` outcome, or `outside_unmet` where the
// kernel or our capabilities lack what the probe needs.
//
// Each probe runs in a test of its own (ctest runs each in its own process),
// with targets made for it and removed after it: peer processes are killed
// by the pid recorded at fork, temp dirs removed, the cgroup removed and the
// hostname (which write-proc-sys writes back unchanged) checked.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/escape/probe_table.h"
#include "tests/escape/targets.h"

namespace smol::escape {

namespace {

namespace fs = std::filesystem;

// process-vm-readv must read this from the peer, a fork of this process
// (so the address is the same there). 16 bytes, the probe's default length.
const char kPeerSecret[] = "smol-peer-secret";
constexpr uid_t kNobody = 65534;
constexpr int kLeakedFd = 7;  // what inherited-fds must find
constexpr int kProbeTimeoutMs = 10000;

// ---- What the kernel and our credentials offer (the `requires` column) ----

enum class Requirement { met, unmet, unknown };

// The running kernel's build configuration, from /proc/config.gz or
// /boot/config-RELEASE; empty if neither can be read.
const std::string& kernel_config() {
  static const std::string config = [] {
    std::string text;
    if (FILE* gz = popen("gzip -dc /proc/config.gz 2>/dev/null", "r")) {
      std::array<char, 4096> buf;
      for (size_t n; (n = fread(buf.data(), 1, buf.size(), gz)) > 0;) text.append(buf.data(), n);
      pclose(gz);
    }
    if (text.empty()) {
      utsname u{};
      uname(&u);
      text = read_file(std::string("/boot/config-") + u.release);
    }
    return text;
  }();
  return config;
}

Requirement check_requirement(const std::string& req) {
  if (req.starts_with("kconfig:")) {
    const std::string& config = kernel_config();
    if (config.empty()) return Requirement::unknown;
    std::string option = req.substr(8);
    bool set = config.find("\n" + option + "=y") != std::string::npos ||
               config.find("\n" + option + "=m") != std::string::npos;
    return set ? Requirement::met : Requirement::unmet;
  }
  if (req.starts_with("cap:")) {
    static const std::map<std::string, int> kCaps = {
        {"CAP_SYS_RESOURCE", 24}, {"CAP_SYS_ADMIN", 21}, {"CAP_NET_RAW", 13}};
    auto cap = kCaps.find(req.substr(4));
    if (cap == kCaps.end()) throw std::invalid_argument("unknown capability in " + req);
    std::istringstream status(read_file("/proc/self/status"));
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("CapEff:")) {
        unsigned long long eff = std::stoull(line.substr(7), nullptr, 16);
        return (eff >> cap->second) & 1 ? Requirement::met : Requirement::unmet;
      }
    }
    return Requirement::unknown;
  }
  throw std::invalid_argument("unknown requirement " + req);
}

Expectation outside_expectation(const ProbeRow& row) {
  if (row.requires_.empty()) return row.outside;
  switch (check_requirement(row.requires_)) {
    case Requirement::met:
      return row.outside;
    case Requirement::unmet:
      return row.outside_unmet;
    case Requirement::unknown:
      break;
  }
  Expectation either = row.outside;
  either.insert(either.end(), row.outside_unmet.begin(), row.outside_unmet.end());
  return either;
}

// ---- The targets, each owned by a small RAII type ----

// A child process we forked, killed (by the pid recorded here) and reaped
// on destruction.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

// The peer: another "agent" for the probes to reach. It lives in a network
// namespace of its own (setns-net joins it) and writes one byte to a pipe
// for each SIGUSR1 (signal-peer must deliver one).
struct Peer {
  UniqueFd signals;  // read end: a byte per SIGUSR1 received
  std::unique_ptr<Child> process;
};

int g_peer_signal_pipe = -1;
void peer_on_usr1(int) { (void)!write(g_peer_signal_pipe, "U", 1); }

Peer start_peer() {
  int signal_pipe[2], ready_pipe[2];
  if (pipe2(signal_pipe, O_CLOEXEC) != 0 || pipe2(ready_pipe, O_CLOEXEC) != 0) fail("pipe2");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test, even if it crashes
    g_peer_signal_pipe = signal_pipe[1];
    struct sigaction sa {};
    sa.sa_handler = peer_on_usr1;
    sigaction(SIGUSR1, &sa, nullptr);
    char ok = unshare(CLONE_NEWNET) == 0 ? 'R' : 'N';
    (void)!write(ready_pipe[1], &ok, 1);
    for (;;) pause();
  }
  close(signal_pipe[1]);
  close(ready_pipe[1]);
  Peer peer{UniqueFd(signal_pipe[0]), std::make_unique<Child>(pid)};
  char ok = 0;
  bool ready = read(ready_pipe[0], &ok, 1) == 1;
  close(ready_pipe[0]);
  if (!ready || ok != 'R') fail("peer setup (unshare CLONE_NEWNET)");
  return peer;
}

// A cgroup made for write-cgroup to move itself into; removed (empty by
// then: the probe has exited) on destruction. In the cgroup2 hierarchy if
// the host has one, else in the first v1 hierarchy.
class TempCgroup {
 public:
  TempCgroup() : path_(cgroup_hierarchy() + "/smol-escape-" + std::to_string(getpid())) {
    if (::mkdir(path_.c_str(), 0755) != 0) fail("mkdir " + path_);
  }
  ~TempCgroup() { rmdir(path_.c_str()); }
  TempCgroup(const TempCgroup&) = delete;
  TempCgroup& operator=(const TempCgroup&) = delete;
  std::string procs() const { return path_ + "/cgroup.procs"; }

 private:
  std::string path_;
};

struct Targets {
  std::unique_ptr<TempTree> tree;       // 0700: the work dirs, state, sockets
  std::unique_ptr<TempTree> suid_tree;  // 0755, setuid-capable: the setuid copy
  Peer peer;
  UniqueFd control_socket, abstract_socket, tcp_listener;
  std::unique_ptr<TempCgroup> cgroup;
  std::string hostname;
  std::map<std::string, std::string> values;  // placeholder -> value

  Targets() {
    tree = std::make_unique<TempTree>("/tmp");
    suid_tree = std::make_unique<TempTree>(suid_capable_parent());
    chmod(suid_tree->path().c_str(), 0755);
    const std::string& t = tree->path();
    values["work_dir"] = tree->mkdir("work");
    values["outside_dir"] = tree->mkdir("outside");
    values["other_workdir"] = tree->mkdir("other-agent-work");
    values["state_file"] = tree->mkdir("state") + "/swarms.mdb";
    std::ofstream(values["state_file"]) << "the daemon's state\n";
    values["control_socket"] = t + "/swarmd.sock";
    control_socket = listen_unix(values["control_socket"], false);
    values["abstract_socket"] = "smol-escape-" + std::to_string(getpid());
    abstract_socket = listen_unix(values["abstract_socket"], true);
    int port = 0;
    tcp_listener = listen_tcp_loopback(&port);
    values["host_port"] = std::to_string(port);
    peer = start_peer();
    values["peer_pid"] = std::to_string(peer.process->pid());
    char addr[32];
    snprintf(addr, sizeof addr, "%p", static_cast<const void*>(kPeerSecret));
    values["peer_addr"] = addr;
    // The daemon's stand-in: this test process (signal-daemon sends it 0).
    values["daemon_pid"] = std::to_string(getpid());
    cgroup = std::make_unique<TempCgroup>();
    values["cgroup_file"] = cgroup->procs();
    values["setuid_copy"] = make_setuid_copy(suid_tree->mkdir("suid", 0755));
    hostname = read_file("/proc/sys/kernel/hostname");
  }
};

// ---- Running one probe ----

// How a probe's process starts, beyond its argv: the few probes that need
// something of their caller.
struct Launch {
  int stdin_fd = -1;          // -1: /dev/null
  bool leak_fd = false;       // an fd beyond 0-3 without close-on-exec
  bool lower_nofile = false;  // a hard RLIMIT_NOFILE that root may raise
  bool as_nobody = false;     // drop to uid/gid nobody before exec
};

// Runs argv with cwd, stdout and stderr captured together; kills it after
// kProbeTimeoutMs. Returns the run and the child's pid.
ProbeRun run_probe(const std::vector<std::string>& argv, const std::string& cwd,
                   const Launch& launch, pid_t* pid_out) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) fail("pipe2");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    int in = launch.stdin_fd >= 0 ? launch.stdin_fd : open("/dev/null", O_RDONLY);
    if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0 || chdir(cwd.c_str()) != 0)
      _exit(125);
    close_range(3, ~0U, 0);
    if (launch.leak_fd && dup2(open("/dev/null", O_RDONLY), kLeakedFd) < 0) _exit(125);
    if (launch.lower_nofile) {
      rlimit lim{1024, 4096};
      if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(125);
    }
    if (launch.as_nobody &&
        (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0)) {
      _exit(125);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  UniqueFd reader(out[0]);
  ProbeRun run;
  pollfd pfd{reader.get(), POLLIN, 0};
  char buf[4096];
  while (poll(&pfd, 1, kProbeTimeoutMs) > 0) {
    ssize_t n = read(reader.get(), buf, sizeof buf);
    if (n <= 0) break;
    run.output.append(buf, static_cast<size_t>(n));
  }
  kill(pid, SIGKILL);  // no-op unless it hung (then its pid is still ours: not yet reaped)
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  *pid_out = pid;
  return run;
}

class ProbeOutside : public ::testing::TestWithParam<ProbeRow> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "the probes must escape as root; run as root";
    }
    try {
      targets_ = std::make_unique<Targets>();
    } catch (const std::exception& e) {
      FAIL() << "setting up the targets: " << e.what();
    }
  }
  // Targets' members clean up in reverse order; the hostname is checked here.
  void TearDown() override {
    if (targets_ && read_file("/proc/sys/kernel/hostname") != targets_->hostname) {
      std::ofstream("/proc/sys/kernel/hostname") << targets_->hostname;
      ADD_FAILURE() << "a probe changed the hostname (restored)";
    }
  }

  // Checks, beyond the report, that an escape left the trace it claims.
  void check_trace(const ProbeRow& row, const ProbeRun& run, pid_t pid) {
    const auto& v = targets_->values;
    std::string placed = v.at("outside_dir") + "/.smol-escape-probe-" + std::to_string(pid);
    if (row.name == "symlink-out" || row.name == "hardlink-out" || row.name == "rename-out" ||
        row.name.ends_with("-root-out")) {
      EXPECT_TRUE(fs::exists(placed)) << placed;
    } else if (row.name == "signal-peer") {
      pollfd pfd{targets_->peer.signals.get(), POLLIN, 0};
      EXPECT_EQ(poll(&pfd, 1, 5000), 1) << "the peer never got SIGUSR1";
    } else if (row.name == "process-vm-readv") {
      EXPECT_NE(run.output.find(kPeerSecret), std::string::npos);
    } else if (row.name == "inherited-fds") {
      EXPECT_NE(run.output.find(" " + std::to_string(kLeakedFd) + "="), std::string::npos);
    } else if (row.name == "setns-net") {
      std::string out = run.output;
      size_t arrow = out.find(" -> ");
      ASSERT_NE(arrow, std::string::npos);
      size_t colon = out.rfind(": ", arrow);
      EXPECT_NE(out.substr(colon + 2, arrow - colon - 2),
                out.substr(arrow + 4, out.find('\n') - arrow - 4));
    }
  }

  std::unique_ptr<Targets> targets_;
};

TEST_P(ProbeOutside, DoesWhatItClaims) {
  const ProbeRow& row = GetParam();
  Targets& t = *targets_;
  std::vector<std::string> argv = probe_argv(row, t.values);

  Launch launch;
  UniqueFd pty_master, pty_slave;
  if (row.name == "tiocsti") {  // a terminal of its own to type into
    pty_master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    ASSERT_TRUE(pty_master && grantpt(pty_master.get()) == 0 && unlockpt(pty_master.get()) == 0);
    pty_slave.reset(open(ptsname(pty_master.get()), O_RDWR | O_NOCTTY | O_CLOEXEC));
    ASSERT_TRUE(pty_slave);
    launch.stdin_fd = pty_slave.get();
  }
  launch.leak_fd = row.name == "inherited-fds";
  launch.lower_nofile = row.name == "raise-rlimit";
  launch.as_nobody = row.name == "setuid-root";

  pid_t pid = 0;
  ProbeRun run = run_probe(argv, t.values.at("work_dir"), launch, &pid);
  // write-usr and write-etc remove their file; if one died first, do it for it.
  for (const char* dir : {"/usr", "/etc"}) remove_probe_leftover(dir, pid);

  Expectation expected = outside_expectation(row);
  Outcome observed = observed_outcome(run);
  std::cout << "  " << row.name << " -> " << to_string(observed) << ": " << run.output;
  EXPECT_TRUE(matches(expected, observed))
      << row.name << " (probes.tsv line " << row.line << "): expected " << to_string(expected)
      << ", got " << to_string(observed) << "\noutput: " << run.output;
  if (observed.kind == Outcome::Kind::escaped) check_trace(row, run, pid);
}

INSTANTIATE_TEST_SUITE_P(Probes, ProbeOutside, ::testing::ValuesIn(table_or_empty()),
                         [](const ::testing::TestParamInfo<ProbeRow>& info) {
                           return gtest_name(info.param.name);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ProbeOutside);

// ---- The table itself ----

TEST(ProbeTable, Loads) {
  std::vector<ProbeRow> rows;
  ASSERT_NO_THROW(rows = load_probe_table(SMOL_PROBES_TSV));
  EXPECT_GE(rows.size(), 45u);
}

TEST(ProbeTable, EveryBuiltProbeHasARowAndEveryRowAProbe) {
  std::set<std::string> built, listed;
  for (const auto& e : fs::directory_iterator(SMOL_PROBE_DIR)) {
    if (e.path().filename().string().starts_with("probe-")) built.insert(e.path().filename());
  }
  for (const ProbeRow& row : table_or_empty()) {
    listed.insert("probe-" + row.name);
    EXPECT_TRUE(row.program == "probe-" + row.name || row.program.starts_with("{")) << row.name;
  }
  EXPECT_EQ(built, listed);
}

TEST(ProbeTable, RequirementsAreOnesTheTestKnows) {
  for (const ProbeRow& row : table_or_empty()) {
    if (!row.requires_.empty()) {
      EXPECT_NO_THROW(check_requirement(row.requires_)) << row.name;
    }
  }
}

TEST(ProbeTable, OutcomesParseAndPrintBack) {
  EXPECT_EQ(to_string(parse_expectation("blocked:EROFS|EACCES")), "blocked:EROFS|blocked:EACCES");
  EXPECT_EQ(to_string(parse_expectation("escaped|blocked:ENOSYS")), "escaped|blocked:ENOSYS");
  EXPECT_EQ(to_string(parse_expectation("killed:SIGSYS|SIGSEGV")), "killed:SIGSYS|killed:SIGSEGV");
  EXPECT_THROW(parse_expectation("escaped|EACCES"), std::invalid_argument);
  EXPECT_THROW(parse_expectation("blocked"), std::invalid_argument);
  EXPECT_THROW(parse_expectation("fled"), std::invalid_argument);
}

TEST(ProbeTable, ObservedOutcomeReadsTheProtocol) {
  EXPECT_EQ(to_string(observed_outcome({0, 0, "ESCAPED: did it\n", ""})), "escaped");
  EXPECT_EQ(to_string(observed_outcome(
                {10, 0, "BLOCKED: open(O_CREAT): EROFS (Read-only file system)\n", ""})),
            "blocked:EROFS");
  EXPECT_EQ(to_string(observed_outcome({20, 0, "SETUP: no target\n", ""})), "setup");
  EXPECT_EQ(to_string(observed_outcome({-1, SIGSYS, "", ""})), "killed:SIGSYS");
  EXPECT_EQ(to_string(observed_outcome({-1, SIGKILL, "", "ptrace"})), "killed:ptrace");
  EXPECT_EQ(observed_outcome({0, 0, "BLOCKED: x: EPERM (no)\n", ""}).kind, Outcome::Kind::other);
}

}  // namespace
}  // namespace smol::escape
