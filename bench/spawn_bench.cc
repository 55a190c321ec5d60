// Spawn-to-ready benchmark: what the sandbox costs per agent, against a
// floor and against bubblewrap measured in the same run.
//
// For each size N, five rows:
//
// floor:   N plain fork+exec of a tiny program that writes one byte back on
//          a socketpair (its fd 3) and waits for the parent to hang up: the
//          least a supervisor could do.
// bwrap:   the same, but each exec is `bwrap --unshare-all --die-with-parent
//          --ro-bind / / --dev /dev --proc /proc <tiny child>`. bwrap leaves
//          inherited fds open, so the tiny child finds its socket on fd 3
//          exactly as in the floor: same program, same readiness signal,
//          started the same way. Skipped if bwrap is not installed.
// sandbox: N sandbox::spawn() of the same tiny child with the full default
//          sandbox (supervisor::Sandboxes and the "default" profile, as the
//          daemon builds it: fresh namespaces, mounts and pivot_root, its own
//          uid and work dir, Landlock, seccomp), readiness again the byte on
//          fd 3. spawn() holds its caller until the child execs, so, as in
//          swarmd, it is called from a pool of kSpawnThreads threads (libuv's
//          default pool size, which swarmd uses). This is the row that is
//          compared with floor and bwrap: only the confinement differs.
// sandbox + cgroups: the sandbox row, plus what swarmd does for cgroups per
//          agent: a cgroup created below a pool, its limits (memory, pids)
//          written, and the child joining it as its first step. Compared
//          with the sandbox row: the difference is what cgroups cost.
// swarmd:  `swarmctl up` of N smol-echo-agent on a real daemon; the daemon's
//          own spawn-to-last-hello figure (ready_millis). Every agent is
//          sandboxed, so this is the whole path: the sandbox, the daemon's
//          bookkeeping and each agent's RPC hello. The daemon's RSS growth and
//          CPU time are read from /proc before and after.
//
// Each size is measured several times, the rows alternating within each run
// so all see the same machine, and the medians are printed. Before each row
// the bench waits for the machine to go quiet: the kernel tears namespaces
// down after their last process has been reaped (a network namespace on a
// workqueue), and that work must not be billed to the next row.
//
// Every process a row starts is reaped before the next row, even when the row
// fails (its error is printed and the other rows go on); the bench is a child
// subreaper, so nothing a row's processes leave behind can escape either.
//
// Usage: spawn_bench [N ...]   (default: 100 1000). Run it as root (swarmd
// and the sandbox need it) on an otherwise idle machine.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <latch>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "sandbox/cgroup.h"
#include "sandbox/spawn.h"
#include "supervisor/config.h"
#include "supervisor/sandbox_profiles.h"
#include "supervisor/sandboxes.h"
#include "tests/e2e/harness.h"

namespace {

using Clock = std::chrono::steady_clock;
using smol::UniqueFd;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 30s;  // for all N children of a row together
constexpr int kSpawnThreads = 4;     // libuv's default thread pool: swarmd's spawners

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Kills every process whose parent we are; returns how many.
int kill_children() {
  int found = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line) || line.rfind(')') == std::string::npos) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state;
    pid_t ppid;
    if (!(rest >> state >> ppid) || ppid != ::getpid()) continue;
    ::kill(std::stoi(name), SIGKILL);
    ++found;
  }
  return found;
}

// Reaps every child of ours as it exits, until none is left. Our children
// include the orphans of a row's processes (bwrap's outer process exits
// before its inner one; swarmd's agents outlive a killed daemon for a
// moment): the bench is a subreaper. Whatever is still running after
// `grace` is killed; returns whether anything had to be.
bool reap_all_children(std::chrono::milliseconds grace) {
  auto deadline = Clock::now() + grace;
  bool killed = false;
  while (true) {
    pid_t pid = ::waitpid(-1, nullptr, WNOHANG);
    if (pid > 0 || (pid < 0 && errno == EINTR)) continue;
    if (pid < 0) return killed;  // ECHILD: none left
    if (Clock::now() > deadline) killed |= kill_children() > 0;
    ::usleep(1000);
  }
}

// The children one row started: the parent's end of each one's socket (and,
// for confined ones, the seccomp listener). Destruction hangs up on them,
// which is what makes a tiny child exit, and reaps them all.
class Children {
 public:
  Children() = default;
  Children(const Children&) = delete;
  Children& operator=(const Children&) = delete;
  ~Children() {
    ends_.clear();  // hang up: each child exits (bwrap's with it)
    reap_all_children(10s);
  }

  void add(UniqueFd end, UniqueFd listener = {}) {
    ends_.push_back(std::move(end));
    listeners_.push_back(std::move(listener));
  }

  // Waits until every child has written its byte; throws if one dies first
  // or kReadyTimeout passes.
  void wait_ready() const {
    auto deadline = Clock::now() + kReadyTimeout;
    size_t failed = 0;
    for (const auto& e : ends_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{e.get(), POLLIN, 0};
      char c;
      if (::poll(&p, 1, static_cast<int>(std::max(left.count(), 0L))) != 1 ||
          ::read(e.get(), &c, 1) != 1) {
        ++failed;
      }
    }
    if (failed > 0) {
      throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(ends_.size()) +
                               " children never signalled ready");
    }
  }

 private:
  std::vector<UniqueFd> ends_;
  std::vector<UniqueFd> listeners_;  // closed only once nobody uses the filters
};

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// floor and bwrap: milliseconds until n fork+exec'd copies of argv have each
// written their byte on fd 3.
double exec_row(int n, std::vector<std::string> argv_strings) {
  std::vector<char*> argv = c_strings(argv_strings);
  char* envp[] = {nullptr};
  Children children;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    int sv[2];
    smol::check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    UniqueFd ours(sv[0]), theirs(sv[1]);
    pid_t pid = smol::check_sys(::fork(), "fork");
    if (pid == 0) {
      if ((sv[1] == 3 ? ::fcntl(3, F_SETFD, 0) : ::dup2(sv[1], 3)) < 0) _exit(126);
      ::execve(argv[0], argv.data(), envp);
      _exit(127);
    }
    children.add(std::move(ours));
  }
  children.wait_ready();
  return ms_since(start);
}

std::optional<std::string> find_bwrap() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = dir + "/bwrap";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

std::vector<std::string> bwrap_argv(const std::string& bwrap, const std::string& program) {
  return {bwrap,  "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
          "--proc", "/proc",       program};
}

struct SandboxFigures {
  double ready_ms;
  double setup_ms_per_agent;  // spawn()'s own figure: preparing, cloning, confining
  std::string landlock;
};

// sandbox: milliseconds until n confined tiny children have each written
// their byte, spawned from kSpawnThreads threads. A child dies with the
// thread that spawned it (PR_SET_PDEATHSIG), so the threads wait until the
// children have been reaped; the declaration order below makes sure of it
// on every way out: `children` goes first, then `release` lets the threads
// end, then they are joined.
//
// With a pool, each child first gets a cgroup of its own below it, made and
// given its limits within the timed part, as swarmd does per agent.
SandboxFigures sandbox_row(int n, const std::string& program,
                           smol::sandbox::CgroupNode* pool = nullptr) {
  smol::test::TempDir dir;
  smol::config::Config config;
  config.state_dir = dir.path() + "/state";
  std::filesystem::create_directory(config.state_dir);
  smol::supervisor::Sandboxes sandboxes(config);
  const smol::sandbox::SandboxPolicy policy = smol::spec::builtin_profile("default");
  UniqueFd log(smol::check_sys(::open("/dev/null", O_WRONLY | O_CLOEXEC), "open"));

  std::vector<smol::sandbox::SpawnRequest> requests(n);
  std::vector<UniqueFd> our_ends(n), their_ends(n);
  std::vector<smol::sandbox::Child> spawned(n);
  std::vector<std::exception_ptr> errors(kSpawnThreads);
  std::latch all_spawned(kSpawnThreads), release(1);
  std::vector<std::jthread> threads;
  struct CountDown {
    std::latch& latch;
    ~CountDown() { latch.count_down(); }
  } release_on_exit{release};
  Children children;
  std::vector<std::unique_ptr<smol::sandbox::CgroupNode>> cgroups;

  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    int sv[2];
    smol::check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
    our_ends[i].reset(sv[0]);
    their_ends[i].reset(sv[1]);
    auto& r = requests[i];
    r.path = program;
    r.argv = {program};
    r.rpc_fd = sv[1];
    r.log_fd = log.get();
    r.confine = sandboxes.confine(policy, sandboxes.uids().acquire(), "bench", std::to_string(i));
    if (pool != nullptr) {
      cgroups.push_back(pool->create_child("a" + std::to_string(i),
                                           {.memory = 256ull << 20, .pids = 64}));
      r.cgroup = cgroups.back()->placement(/*cpu_and_io=*/false);  // as swarmd, without cpu limits
    }
  }
  for (int t = 0; t < kSpawnThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = t; i < n; i += kSpawnThreads) {
          spawned[i] = smol::sandbox::spawn(requests[i]);
          their_ends[i].reset();
        }
      } catch (...) {
        errors[t] = std::current_exception();
      }
      all_spawned.count_down();
      release.wait();
    });
  }
  all_spawned.wait();
  for (int i = 0; i < n; ++i) {
    if (spawned[i].pid > 0) {
      children.add(std::move(our_ends[i]), std::move(spawned[i].seccomp_listener));
    }
  }
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  children.wait_ready();
  double ready_ms = ms_since(start);

  double setup = 0;
  for (const auto& c : spawned) setup += std::chrono::duration<double, std::milli>(c.setup_time).count();
  // "landlock ABI 7: fs{...} net{...}; 11 paths" -> "landlock ABI 7; 11 paths"
  std::string landlock = spawned[0].landlock;
  if (auto colon = landlock.find(':'), semi = landlock.rfind(';');
      colon != std::string::npos && semi != std::string::npos && colon < semi) {
    landlock.erase(colon, semi - colon);
  }
  return {ready_ms, setup / n, landlock};
}

// The cgroups of the "sandbox + cgroups" row: a base of the bench's own
// (never a daemon's) with one pool, killed and removed on every way out.
class BenchCgroups {
 public:
  BenchCgroups()
      : tree_(smol::sandbox::detect_cgroup_host(),
              {"smolswarms-bench-" + std::to_string(::getpid())}),
        pool_(tree_.base().create_child("pool", {.memory = 4ull << 30, .pids = 100000})) {}
  ~BenchCgroups() {
    try {
      tree_.remove_stale();
      tree_.base().remove();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "spawn_bench: cannot remove %s: %s\n", tree_.base().path().c_str(),
                   e.what());
    }
  }
  smol::sandbox::CgroupNode& pool() { return *pool_; }
  std::string describe() const { return tree_.describe(); }

 private:
  smol::sandbox::CgroupTree tree_;
  std::unique_ptr<smol::sandbox::CgroupNode> pool_;
};

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      long v;
      in >> v;
      return v;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

// User + system CPU the process has used, in milliseconds.
double cpu_ms(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);  // utime, stime
  }
  return ticks * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct SwarmdFigures {
  double ready_ms;
  double rss_kib_per_agent;
  double daemon_cpu_ms_per_agent;
};

// swarmd: the daemon's ready_millis for `swarmctl up` of n echo agents. The
// Daemon's destructor kills and reaps it (and its agents) on any exit.
SwarmdFigures swarmd_row(int n) {
  smol::test::TempDir dir;
  smol::test::Daemon daemon(dir, {"--log-level", "warning"});
  std::string spec = "name = \"bench\"\n[[agents]]\nrole = \"echo\"\ncommand = [\"smol-echo-agent\"]\n"
                     "count = " + std::to_string(n) + "\n";
  std::string file = dir.write("bench.toml", spec);
  long before = rss_kib(daemon.pid());
  double cpu_before = cpu_ms(daemon.pid());
  auto up = daemon.ctl_json({"up", file, "--timeout", "120s"});
  long after = rss_kib(daemon.pid());
  double cpu = cpu_ms(daemon.pid()) - cpu_before;
  daemon.ctl({"down", "bench"});
  daemon.stop();
  return {up["ready_millis"].get<double>(), static_cast<double>(after - before) / n, cpu / n};
}

// Waits until the machine is quiet (at least 90% idle over 100 ms) or 3 s
// have passed; false in the second case.
bool settle() {
  auto idle_and_total = [] {
    std::ifstream in("/proc/stat");
    std::string cpu;
    in >> cpu;
    unsigned long long v, idle = 0, total = 0;
    for (int i = 0; i < 8 && in >> v; ++i) {
      total += v;
      if (i == 3 || i == 4) idle += v;  // idle, iowait
    }
    return std::pair{idle, total};
  };
  auto until = Clock::now() + 3s;
  while (Clock::now() < until) {
    auto [i0, t0] = idle_and_total();
    std::this_thread::sleep_for(100ms);
    auto [i1, t1] = idle_and_total();
    if (t1 > t0 && static_cast<double>(i1 - i0) >= 0.9 * static_cast<double>(t1 - t0)) return true;
  }
  return false;
}

// One row's results over the runs of one size, or why it has none.
struct Row {
  std::vector<double> ms;
  std::string error;
  bool ok() const { return error.empty() && !ms.empty(); }
  double median_ms() const { return median(ms); }
};

struct Bench {
  std::string tiny = smol::test::bin("smol-bench-tiny-child");
  std::optional<std::string> bwrap = find_bwrap();
  int busy_settles = 0, settles = 0;
  std::string cgroups;  // the backend the cgroups row used

  // Runs one repetition of a row unless it has failed already; an error
  // (any exception) is kept and the row is skipped from then on.
  template <class F>
  void measure(const char* name, Row& row, F&& run) {
    if (!row.error.empty()) return;
    ++settles;
    if (!settle()) ++busy_settles;
    try {
      row.ms.push_back(run());
    } catch (const std::exception& e) {
      row.error = e.what();
    } catch (...) {
      row.error = "failed (not a std::exception)";
    }
    if (reap_all_children(10s)) {
      std::fprintf(stderr, "spawn_bench: %s left processes running; killed and reaped them\n",
                   name);
    }
  }
};

void print_row(const char* name, int n, const Row& row, const Row& floor) {
  if (!row.ok()) {
    std::printf("  %-26s %s\n", name, row.error.c_str());
    return;
  }
  double m = row.median_ms();
  std::printf("  %-26s %10.1f %12.3f", name, m, m / n);
  if (floor.ok()) std::printf(" %9.2fx", m / floor.median_ms());
  std::printf("\n");
}

// "sandbox/floor 2.10x (target <= 2.5x): met"
void verdict(const char* what, double value, const char* unit, const char* target, bool met) {
  std::printf("  %-30s %6.2f%-2s (target %s): %s\n", what, value, unit, target,
              met ? "met" : "MISSED");
}

void run_size(Bench& b, int n) {
  const int runs = n <= 100 ? 9 : 5;
  Row floor, bwrap, sandbox, cgrouped, swarmd;
  std::vector<double> setup, rss, cpu;
  std::string landlock;
  if (!b.bwrap) bwrap.error = "not installed (apt-get install bubblewrap)";
  for (int r = 0; r < runs; ++r) {
    b.measure("floor", floor, [&] { return exec_row(n, {b.tiny}); });
    b.measure("bwrap", bwrap, [&] { return exec_row(n, bwrap_argv(*b.bwrap, b.tiny)); });
    b.measure("sandbox", sandbox, [&] {
      SandboxFigures s = sandbox_row(n, b.tiny);
      setup.push_back(s.setup_ms_per_agent);
      landlock = s.landlock;
      return s.ready_ms;
    });
    b.measure("sandbox + cgroups", cgrouped, [&] {
      BenchCgroups cg;
      b.cgroups = cg.describe();
      return sandbox_row(n, b.tiny, &cg.pool()).ready_ms;
    });
    b.measure("swarmd", swarmd, [&] {
      SwarmdFigures s = swarmd_row(n);
      rss.push_back(s.rss_kib_per_agent);
      cpu.push_back(s.daemon_cpu_ms_per_agent);
      return s.ready_ms;
    });
  }
  std::printf("\n%d agents, medians of %d runs\n", n, runs);
  std::printf("  %-26s %10s %12s %10s\n", "", "ready ms", "ms/agent", "vs floor");
  print_row("floor (fork+exec)", n, floor, floor);
  print_row("bwrap --unshare-all", n, bwrap, floor);
  print_row("sandbox (spawn, default)", n, sandbox, floor);
  print_row("sandbox + cgroups", n, cgrouped, floor);
  print_row("swarmd up (sandboxed)", n, swarmd, floor);
  if (sandbox.ok()) {
    std::printf("  sandbox: spawn() itself %.3f ms/agent on its thread (%d threads); %s\n",
                median(setup), kSpawnThreads, landlock.c_str());
  }
  if (swarmd.ok()) {
    std::printf("  swarmd: RSS %.1f KiB/agent, daemon CPU %.3f ms/agent\n", median(rss),
                median(cpu));
  }
  if (cgrouped.ok()) std::printf("  cgroups: %s\n", b.cgroups.c_str());
  std::printf("  verdicts:\n");
  if (sandbox.ok() && cgrouped.ok()) {
    double extra = (cgrouped.median_ms() - sandbox.median_ms()) / n;
    verdict("cgroups' cost per agent", extra, "ms", "<= 1 ms", extra <= 1.0);
  }
  if (sandbox.ok() && floor.ok()) {
    double x = sandbox.median_ms() / floor.median_ms();
    verdict("sandbox/floor", x, "x", "<= 2.5x", x <= 2.5);
  }
  if (sandbox.ok() && bwrap.ok()) {
    double x = sandbox.median_ms() / bwrap.median_ms();
    verdict("sandbox/bwrap", x, "x", "< 1x, faster than bwrap", x < 1.0);
  }
  if (swarmd.ok() && floor.ok()) {
    // No target: a real agent (a bigger program, an RPC hello, a cgroup)
    // against the tiny child; the sandbox row is the like-for-like one.
    std::printf("  %-30s %6.2fx   (for orientation: a real agent and its hello)\n",
                "swarmd/floor (end to end)", swarmd.median_ms() / floor.median_ms());
  }
  if (swarmd.ok() && bwrap.ok()) {
    double x = swarmd.median_ms() / bwrap.median_ms();
    verdict("swarmd/bwrap (end to end)", x, "x", "< 1x, faster than bwrap", x < 1.0);
  }
  if (n == 1000 && swarmd.ok()) {
    double s = swarmd.median_ms() / 1000.0;
    verdict("1000 agents ready (swarmd)", s, "s", "<= 3 s", s <= 3.0);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    long n = std::strtol(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || n < 1 || n > 100000) {
      std::fprintf(stderr, "usage: spawn_bench [N ...]   (N: agents per row, 1..100000)\n");
      return 2;
    }
    sizes.push_back(static_cast<int>(n));
  }
  if (sizes.empty()) sizes = {100, 1000};
  // Orphans of a row's processes (bwrap's, swarmd's agents) come to us.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  // A row holds several fds per child.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  Bench bench;
  std::printf("spawn-to-ready, %u CPUs; bwrap: %s\n", std::thread::hardware_concurrency(),
              bench.bwrap ? bench.bwrap->c_str() : "not installed (apt-get install bubblewrap)");
  for (int n : sizes) {
    try {
      run_size(bench, n);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "spawn_bench: %d agents: %s\n", n, e.what());
    }
  }
  if (bench.busy_settles > 0) {
    std::printf("\nnote: the machine was busy before %d of %d rows (not 90%% idle within 3 s); "
                "the figures are noisy\n",
                bench.busy_settles, bench.settles);
  }
  return 0;
}
