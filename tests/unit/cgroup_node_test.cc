// CgroupTree and CgroupNode on the host's REAL cgroups: v1 on this machine,
// v2 when tests/uml/cgroup_v2.sh runs this binary under user-mode-linux
// (SMOL_CGROUP_TEST_BACKEND=v1|v2 makes the detected version an assertion).
//
// Each test gets a base of its own, smolswarms-test-<pid>-<n>, so no test
// touches a running daemon's tree. The fixture is this process's subreaper,
// so orphaned grandchildren come back to it, and its TearDown kills what is
// left in the base, reaps every recorded pid and removes the base, also when
// the test failed. Waits are on fds with a bound (pidfds, pipes, the
// watch() and oom_watch() fds); the one exception is v1's freezer, whose
// state change has no kernel event and is re-read every millisecond.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <deque>
#include <thread>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"
#include "sandbox/cgroup.h"
#include "sandbox/cgroup_fs.h"

namespace smol::sandbox {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr std::uint64_t MiB = 1 << 20;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool readable_within(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return retry_eintr([&] { return ::poll(&p, 1, static_cast<int>(timeout.count())); }) == 1;
}

struct Pipe {
  UniqueFd r, w;
  Pipe() {
    int fds[2];
    check_sys(::pipe2(fds, O_CLOEXEC), "pipe2");
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

// A process this test started (or adopted as subreaper). Killed by its pid
// and reaped on destruction unless wait() reaped it already.
class Proc {
 public:
  explicit Proc(pid_t pid) : pid_(pid) {}
  Proc(Proc&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
  Proc(const Proc&) = delete;
  ~Proc() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  // Blocks until it ends; its wait status.
  int wait() {
    int status = 0;
    pid_t r = retry_eintr([&] { return ::waitpid(pid_, &status, 0); });
    if (r == pid_) pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

bool killed_by(int status, int sig) { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }

// fork(); the child joins the placement, runs body and exits. Only for
// bodies of plain system calls (the child of a test process).
pid_t fork_into(const CgroupPlacement& placement, const std::function<void()>& body) {
  pid_t pid = check_sys(::fork(), "fork");
  if (pid == 0) {
    if (placement.join_self() != 0) ::_exit(120);
    body();
    ::_exit(0);
  }
  return pid;
}

// The agent spawn path: a CLONE_VM|CLONE_VFORK child that joins and execs,
// so when this returns the child is in its cgroup and runs `argv`.
struct VforkArgs {
  const CgroupPlacement* placement;
  char* const* argv;
};
int vfork_child(void* p) {
  auto* a = static_cast<VforkArgs*>(p);
  if (a->placement->join_self() != 0) ::_exit(120);
  ::execve(a->argv[0], a->argv, environ);
  ::_exit(127);
}
pid_t spawn_sleeper(const CgroupPlacement& placement) {
  static char sleep_path[] = "/bin/sleep", forever[] = "1000";
  char* argv[] = {sleep_path, forever, nullptr};
  VforkArgs args{&placement, argv};
  alignas(16) static char stack[64 * 1024];
  return check_sys(::clone(vfork_child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                           &args),
                   "clone");
}

// Waits for a freeze state: on v2's watch() fd; v1 has no event for it.
bool wait_for_state(const CgroupNode& node, FreezeState want, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  UniqueFd events = node.watch();
  while (node.freeze_state() != want) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (events) {
      readable_within(events.get(), left);
      char buf[1024];
      while (::read(events.get(), buf, sizeof buf) > 0) {
      }
    } else {
      ::poll(nullptr, 0, 1);  // v1: the freezer sends no event; look again
    }
  }
  return true;
}

int open_fd_count() {
  int n = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

class CgroupNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/test runs as root on hosts with cgroups: anything else is a
    // failure to see, not a reason to pass quietly.
    ASSERT_EQ(::geteuid(), 0u) << "needs root to create cgroups";
    try {
      host_ = detect_cgroup_host();
    } catch (const std::runtime_error& e) {
      FAIL() << e.what();
    }
    if (const char* want = std::getenv("SMOL_CGROUP_TEST_BACKEND")) {
      ASSERT_EQ(std::string(want), v2() ? "v2" : "v1") << "detected the other backend";
    }
    static int counter = 0;
    name_ = "smolswarms-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    check_sys(::prctl(PR_SET_CHILD_SUBREAPER, 1), "prctl");
    tree_ = std::make_unique<CgroupTree>(host_, CgroupTreeOptions{name_});
  }

  void TearDown() override {
    if (!tree_) return;
    try {
      tree_->base().kill_all();
      procs_.clear();
      EXPECT_TRUE(wait_until_empty(tree_->base(), 10s));
      // Grandchildren that came to us as subreaper and were never recorded.
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      tree_->base().remove();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup: " << e.what();
    }
    for (const auto& d : base_dirs()) EXPECT_FALSE(fs::exists(d)) << d << " left behind";
  }

  bool v2() const { return host_.version == CgroupVersion::v2; }
  CgroupNode& base() { return tree_->base(); }

  // The directory `rel` below the base in the hierarchy carrying controller.
  std::string dir(std::string_view controller, const std::string& rel = "") const {
    std::string d;
    if (v2()) {
      const std::string& parent =
          host_.delegated.empty() ? host_.hierarchies[0].mount_point : host_.delegated;
      d = cgroupfs::join(parent, name_);
    } else {
      for (const auto& h : host_.hierarchies) {
        if (cgroupfs::contains(h.controllers, controller)) d = cgroupfs::join(h.own, name_);
      }
    }
    return rel.empty() ? d : cgroupfs::join(d, rel);
  }
  std::vector<std::string> base_dirs() const {
    std::vector<std::string> out;
    for (const auto& h : host_.hierarchies) {
      std::string c = h.controllers.front();
      out.push_back(dir(c));
      if (v2()) break;
    }
    return out;
  }
  int cgroup_count() const {
    int n = 0;
    for (const auto& d : base_dirs()) cgroupfs::for_each_in_subtree(d, [&](auto&) { ++n; });
    return n;
  }

  Proc& record(pid_t pid) { return procs_.emplace_back(pid); }

  CgroupHost host_;
  std::string name_;
  std::unique_ptr<CgroupTree> tree_;
  std::deque<Proc> procs_;  // record() hands out references: they must stay put
};

TEST_F(CgroupNodeTest, DescribesTheBackendInOneLine) {
  const std::string& d = tree_->describe();
  if (v2()) {
    EXPECT_EQ(d.rfind("cgroup v2 at " + base().path() + " (memory, pids", 0), 0u) << d;
  } else {
    EXPECT_EQ(d.rfind("cgroup v1: memory, pids, cpu, freezer", 0), 0u) << d;
    EXPECT_NE(d.find(name_), std::string::npos) << d;
  }
  std::cout << "  " << d << "\n";
}

TEST_F(CgroupNodeTest, CreatesPoolsAndAgentsWithTheLimitsTheKernelShows) {
  auto pool = base().create_child("pool", {.memory = 256 * MiB, .pids = 64, .cpu = 1.5});
  auto agent = pool->create_child("agent", {.memory = 64 * MiB, .pids = 16, .cpu = 0.5});
  EXPECT_EQ(agent->name(), "agent");
  EXPECT_EQ(agent->path(), dir("memory", "pool/agent"));
  if (v2()) {
    EXPECT_EQ(slurp(dir("memory", "pool/memory.max")), "268435456");
    EXPECT_EQ(slurp(dir("memory", "pool/agent/memory.max")), "67108864");
    EXPECT_EQ(slurp(dir("pids", "pool/agent/pids.max")), "16");
    EXPECT_EQ(slurp(dir("cpu", "pool/cpu.max")), "150000 100000");
    EXPECT_EQ(slurp(dir("cpu", "pool/agent/cpu.max")), "50000 100000");
  } else {
    EXPECT_EQ(slurp(dir("memory", "pool/memory.limit_in_bytes")), "268435456");
    EXPECT_EQ(slurp(dir("memory", "pool/agent/memory.limit_in_bytes")), "67108864");
    EXPECT_EQ(slurp(dir("pids", "pool/agent/pids.max")), "16");
    EXPECT_EQ(slurp(dir("cpu", "pool/cpu.cfs_quota_us")), "150000");
    EXPECT_EQ(slurp(dir("cpu", "pool/cpu.cfs_period_us")), "100000");
    EXPECT_EQ(slurp(dir("cpu", "pool/agent/cpu.cfs_quota_us")), "50000");
    EXPECT_TRUE(fs::is_directory(dir("freezer", "pool/agent")));
  }

  // set_limits replaces every limit: what is left out becomes unlimited.
  agent->set_limits({.pids = 8});
  EXPECT_EQ(slurp(dir("pids", "pool/agent/pids.max")), "8");
  if (v2()) {
    EXPECT_EQ(slurp(dir("memory", "pool/agent/memory.max")), "max");
    EXPECT_EQ(slurp(dir("cpu", "pool/agent/cpu.max")), "max 100000");
  } else {
    EXPECT_EQ(slurp(dir("cpu", "pool/agent/cpu.cfs_quota_us")), "-1");
    EXPECT_GT(std::stoull(slurp(dir("memory", "pool/agent/memory.limit_in_bytes"))), 1ull << 60);
  }
  agent->set_limits({});
  EXPECT_EQ(slurp(dir("pids", "pool/agent/pids.max")), "max");
  EXPECT_EQ(base().children().size(), 1u);
  EXPECT_EQ(pool->children().at(0)->path(), agent->path());
}

TEST_F(CgroupNodeTest, RefusesBadNamesLimitsAndWhatTheHostLacks) {
  EXPECT_THROW(base().create_child("../escape", {}), std::invalid_argument);
  EXPECT_THROW(base().create_child("pool", {.cpu = 0.001}), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir("memory", "pool")));  // nothing half-made
  auto pool = base().create_child("pool", {});
  try {
    base().create_child("pool", {});
    ADD_FAILURE() << "created pool twice";
  } catch (const SysError& e) {
    EXPECT_TRUE(e.is_exists()) << e.what();
  }
  bool has_io = v2() ? cgroupfs::contains(host_.hierarchies[0].controllers, "io")
                     : fs::exists(dir("blkio", "pool/blkio.bfq.weight")) ||
                           fs::exists(dir("blkio", "pool/blkio.weight"));
  if (has_io) {
    auto a = pool->create_child("weighted", {.io_weight = 200});
    if (v2()) {
      EXPECT_NE(slurp(dir("io", "pool/weighted/io.weight")).find("default 200"), std::string::npos);
    }
  } else {
    try {
      pool->create_child("weighted", {.io_weight = 200});
      ADD_FAILURE() << "io_weight accepted without an io controller";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "io_weight: the host's cgroups have no io controller");
    }
    EXPECT_FALSE(fs::exists(dir("memory", "pool/weighted")));
  }
  if (!v2()) {
    EXPECT_THROW(pool->create_child("swap", {.memory_swap = MiB}), std::invalid_argument);
  }
}

TEST_F(CgroupNodeTest, AV1KernelRefusalNamesTheFileAndTheValue) {
  if (v2()) GTEST_SKIP() << "v1 only: v2 has no such refusals";
  // v1 keeps a child's cpu quota within its parent's.
  auto pool = base().create_child("pool", {.cpu = 0.5});
  try {
    pool->create_child("agent", {.cpu = 1.0});
    ADD_FAILURE() << "v1 accepted a quota above the parent's";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), EINVAL);
    EXPECT_EQ(std::string(e.what()),
              "write(" + dir("cpu", "pool/agent/cpu.cfs_quota_us") + ", 100000): Invalid argument");
  }
  EXPECT_FALSE(fs::exists(dir("memory", "pool/agent")));  // rolled back in every hierarchy
  EXPECT_FALSE(fs::exists(dir("cpu", "pool/agent")));

  // v1 will not shrink memory below what is in use when nothing can be
  // reclaimed (anonymous memory, no swap).
  auto agent = pool->create_child("hog", {});
  Pipe ready;
  auto& p = record(fork_into(agent->placement(), [&] {
    char* m = static_cast<char*>(::mmap(nullptr, 16 * MiB, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ::memset(m, 1, 16 * MiB);
    (void)!::write(ready.w.get(), "r", 1);
    ::pause();
  }));
  ASSERT_TRUE(readable_within(ready.r.get(), 10s));
  try {
    agent->set_limits({.memory = MiB});
    ADD_FAILURE() << "v1 shrank memory below usage";
  } catch (const SysError& e) {
    EXPECT_EQ(std::string(e.what()), "write(" + dir("memory", "pool/hog/memory.limit_in_bytes") +
                                         ", 1048576): Device or resource busy");
  }
  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
}

TEST_F(CgroupNodeTest, AForkedChildJoinsThroughThePlacementAndExecs) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {.pids = 8});
  CgroupPlacement placement = agent->placement();
  EXPECT_EQ(placement.size(), v2() ? 1u : host_.hierarchies.size());
  EXPECT_EQ(placement.clone_into_fd() >= 0, v2());
  // Without cpu and io, v1 joins neither a separate cpu nor the blkio hierarchy.
  size_t optional = 0;
  for (const auto& h : host_.hierarchies) {
    bool cpu_alone = cgroupfs::contains(h.controllers, "cpu") &&
                     !cgroupfs::contains(h.controllers, "cpuacct");
    optional += cpu_alone || cgroupfs::contains(h.controllers, "blkio") ? 1 : 0;
  }
  EXPECT_EQ(agent->placement(false).size(), v2() ? 1u : host_.hierarchies.size() - optional);
  auto& p = record(spawn_sleeper(placement));

  EXPECT_EQ(agent->processes(), std::vector<pid_t>{p.pid()});
  EXPECT_EQ(pool->processes(), std::vector<pid_t>{p.pid()});
  EXPECT_TRUE(agent->populated());
  EXPECT_EQ(agent->usage().pids, 1u);
  std::string cg = slurp("/proc/" + std::to_string(p.pid()) + "/cgroup");
  EXPECT_NE(cg.find("/" + name_ + "/pool/agent"), std::string::npos) << cg;
  // The vfork parent resumes once the exec has replaced the memory, a moment
  // before the kernel renames the task.
  auto comm = [&] { return slurp("/proc/" + std::to_string(p.pid()) + "/comm"); };
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (comm() != "sleep" && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(comm(), "sleep");

  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  EXPECT_FALSE(agent->populated());
  EXPECT_EQ(pool->remove(), 2u);
  EXPECT_FALSE(fs::exists(dir("pids", "pool")));
}

TEST_F(CgroupNodeTest, Clone3PutsTheChildStraightIntoTheCgroup) {
  if (!v2()) GTEST_SKIP() << "CLONE_INTO_CGROUP is v2 only";
  auto agent = base().create_child("agent", {});
  CgroupPlacement placement = agent->placement();
  struct {
    std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
  } args{};
  args.flags = 0x200000000ULL;  // CLONE_INTO_CGROUP
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<std::uint64_t>(placement.clone_into_fd());
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("1000"), nullptr};
    ::execve(argv[0], argv, environ);
    ::_exit(127);
  }
  ASSERT_GT(pid, 0) << std::strerror(errno);
  auto& p = record(static_cast<pid_t>(pid));
  EXPECT_EQ(agent->processes(), std::vector<pid_t>{p.pid()});  // no join_self needed
  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
}

TEST_F(CgroupNodeTest, AMemoryHogIsOomKilledAndTheWatchSaysSo) {
  auto pool = base().create_child("pool", {.memory = 128 * MiB});
  CgroupLimits limits{.memory = 32 * MiB, .memory_swap = 0};
  std::unique_ptr<CgroupNode> agent;
  try {
    agent = pool->create_child("agent", limits);
  } catch (const std::runtime_error&) {  // no swap accounting: nothing to swap to either
    agent = pool->create_child("agent", {.memory = 32 * MiB});
  }
  OomWatch watch = agent->oom_watch();
  EXPECT_EQ(watch.drain(), 0u);
  auto start = std::chrono::steady_clock::now();
  auto& p = record(fork_into(agent->placement(), [] {
    for (int i = 0; i < 512; ++i) {  // 512 MiB, a MiB at a time
      void* m = ::mmap(nullptr, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) ::_exit(3);
      ::memset(m, 1, MiB);
    }
    ::_exit(4);
  }));
  ASSERT_TRUE(readable_within(watch.fd(), 30s)) << "no OOM notification";
  auto notified = std::chrono::steady_clock::now() - start;
  std::uint64_t kills = watch.drain();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  kills += watch.drain();  // v1 may wake before the kill is counted
  EXPECT_EQ(kills, 1u);
  EXPECT_EQ(agent->counters().oom_kills, 1u);
  EXPECT_EQ(pool->counters().oom_kills, 1u);
  EXPECT_EQ(base().counters().oom_kills, 1u);
  std::cout << "  OOM notified after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(notified).count() << " ms\n";
}

TEST_F(CgroupNodeTest, ForkFailsAtThePidsLimitAndTheHitIsCounted) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {.pids = 4});
  Pipe report;
  auto& p = record(fork_into(agent->placement(), [&] {
    int result[2] = {0, 0};  // forks that worked, errno of the first that failed
    for (int i = 0; i < 16; ++i) {
      pid_t c = ::fork();
      if (c == 0) {
        ::pause();
        ::_exit(0);
      }
      if (c < 0) {
        result[1] = errno;
        break;
      }
      ++result[0];
    }
    (void)!::write(report.w.get(), result, sizeof result);
    ::pause();
  }));
  ASSERT_TRUE(readable_within(report.r.get(), 10s));
  int result[2];
  ASSERT_EQ(::read(report.r.get(), result, sizeof result), static_cast<ssize_t>(sizeof result));
  EXPECT_EQ(result[0], 3);  // the child and 3 more make 4
  EXPECT_EQ(result[1], EAGAIN);
  EXPECT_EQ(agent->usage().pids, 4u);
  EXPECT_EQ(agent->counters().pids_limit_hits, 1u);
  EXPECT_EQ(pool->counters().pids_limit_hits, 1u);

  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  EXPECT_TRUE(wait_until_empty(*agent, 10s));
}

TEST_F(CgroupNodeTest, AFrozenProcessMakesNoProgressUntilThawed) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {});
  Pipe ping, pong;
  auto& p = record(fork_into(agent->placement(), [&] {
    char c;
    while (::read(ping.r.get(), &c, 1) == 1) (void)!::write(pong.w.get(), &c, 1);
  }));
  auto round_trip = [&](std::chrono::milliseconds timeout) {
    EXPECT_EQ(::write(ping.w.get(), "x", 1), 1);
    if (!readable_within(pong.r.get(), timeout)) return false;
    char c;
    return ::read(pong.r.get(), &c, 1) == 1;
  };
  ASSERT_TRUE(round_trip(10s));
  EXPECT_EQ(agent->freeze_state(), FreezeState::thawed);

  pool->freeze(true);  // the pool: its agents freeze with it
  ASSERT_TRUE(wait_for_state(*agent, FreezeState::frozen, 10s));
  EXPECT_EQ(pool->freeze_state(), FreezeState::frozen);
  if (v2()) {
    EXPECT_EQ(slurp(dir("memory", "pool/cgroup.freeze")), "1");
  } else {
    EXPECT_EQ(slurp(dir("freezer", "pool/freezer.state")), "FROZEN");
    EXPECT_EQ(slurp(dir("freezer", "pool/agent/freezer.parent_freezing")), "1");
  }
  // The observation window: a frozen process cannot answer, however long.
  EXPECT_FALSE(round_trip(300ms)) << "a frozen process answered";

  pool->freeze(false);
  ASSERT_TRUE(wait_for_state(*agent, FreezeState::thawed, 10s));
  ASSERT_TRUE(readable_within(pong.r.get(), 10s)) << "no answer after the thaw";
  char c;
  EXPECT_EQ(::read(pong.r.get(), &c, 1), 1);

  // A paused agent can still be killed.
  agent->freeze(true);
  ASSERT_TRUE(wait_for_state(*agent, FreezeState::frozen, 10s));
  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
}

TEST_F(CgroupNodeTest, KillingAPoolTakesItsPausedAgentsToo) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {});
  auto& p = record(spawn_sleeper(agent->placement()));
  agent->freeze(true);  // paused on its own account, not through the pool
  ASSERT_TRUE(wait_for_state(*agent, FreezeState::frozen, 10s));
  pool->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  // v1 had to thaw it for the kill to land; v2's kill needs no thaw.
  if (!v2()) {
    EXPECT_EQ(agent->freeze_state(), FreezeState::thawed);
  }
  EXPECT_EQ(pool->remove(), 2u);
}

TEST_F(CgroupNodeTest, KillAllTakesADaemonisedGrandchildToo) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {});
  Pipe grandchild, settled;
  auto& a = record(fork_into(agent->placement(), [&] {
    pid_t b = ::fork();
    if (b == 0) {  // the classic daemon: setsid, fork again, the middle exits
      if (::setsid() == -1) ::_exit(5);
      if (::fork() == 0) {
        pid_t me = ::getpid();
        (void)!::write(grandchild.w.get(), &me, sizeof me);
        for (;;) ::pause();
      }
      ::_exit(0);
    }
    ::waitpid(b, nullptr, 0);
    (void)!::write(settled.w.get(), "s", 1);
    for (;;) ::pause();
  }));
  ASSERT_TRUE(readable_within(grandchild.r.get(), 10s));
  pid_t c_pid = 0;
  ASSERT_EQ(::read(grandchild.r.get(), &c_pid, sizeof c_pid), static_cast<ssize_t>(sizeof c_pid));
  ASSERT_TRUE(readable_within(settled.r.get(), 10s));
  auto& c = record(c_pid);  // we are its subreaper now that its parent is gone
  EXPECT_NE(::getsid(c_pid), ::getsid(a.pid()));
  UniqueFd c_fd(static_cast<int>(::syscall(SYS_pidfd_open, c_pid, 0)));
  ASSERT_TRUE(c_fd);
  EXPECT_EQ(agent->processes().size(), 2u);

  agent->kill_all();
  EXPECT_TRUE(readable_within(c_fd.get(), 10s)) << "the daemonised grandchild survived";
  EXPECT_TRUE(killed_by(a.wait(), SIGKILL));
  EXPECT_TRUE(killed_by(c.wait(), SIGKILL));
  EXPECT_FALSE(agent->populated());
  EXPECT_EQ(agent->freeze_state(), FreezeState::thawed);
}

TEST_F(CgroupNodeTest, RemoveTakesDescendantsAndRefusesWhileProcessesRemain) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {});
  pool->create_child("other", {})->create_child("deeper", {});
  auto& p = record(spawn_sleeper(agent->placement()));
  try {
    pool->remove();
    ADD_FAILURE() << "removed a populated cgroup";
  } catch (const SysError& e) {
    EXPECT_EQ(e.code(), EBUSY);
    EXPECT_EQ(std::string(e.what()), "rmdir(" + agent->path() + "): Device or resource busy");
  }
  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  EXPECT_EQ(pool->remove(), 4u);  // pool, agent, other, other/deeper
  for (const auto& d : base_dirs()) EXPECT_EQ(cgroupfs::subdirectories(d).size(), 0u) << d;
}

TEST_F(CgroupNodeTest, RemoveStaleKillsAndRemovesWhatACrashedDaemonLeft) {
  pid_t orphan;
  {
    auto pool = base().create_child("old-pool", {.pids = 32});
    auto agent = pool->create_child("old-agent", {});
    orphan = spawn_sleeper(agent->placement());
  }  // the node objects go, the cgroups stay: a daemon that died
  auto& p = record(orphan);
  CgroupTree again(host_, CgroupTreeOptions{name_});
  EXPECT_EQ(again.base().path(), base().path());
  EXPECT_EQ(again.remove_stale(), 2u);
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
  EXPECT_TRUE(again.base().children().empty());
  EXPECT_EQ(cgroup_count(), static_cast<int>(base_dirs().size()));  // the bases alone
  EXPECT_EQ(again.remove_stale(), 0u);
}

TEST_F(CgroupNodeTest, RemoveStaleTakesACgroupItsMakerLeftHalfMade) {
  // A daemon killed between a v1 child's mkdirs leaves it in some
  // hierarchies only: memory's, which is made first.
  base().create_child("pool", {});
  ASSERT_TRUE(fs::create_directory(dir("memory", "pool/half")));
  CgroupTree again(host_, CgroupTreeOptions{name_});
  EXPECT_EQ(again.remove_stale(), 2u);  // pool, pool/half
  EXPECT_EQ(cgroup_count(), static_cast<int>(base_dirs().size()));  // the bases alone
}

TEST_F(CgroupNodeTest, UsageShowsMemoryCpuAndPids) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {});
  Pipe ready;
  auto& p = record(fork_into(agent->placement(), [&] {
    char* m = static_cast<char*>(::mmap(nullptr, 16 * MiB, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ::memset(m, 1, 16 * MiB);
    timespec t{};
    do {  // burn 50 ms of CPU
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while (t.tv_sec == 0 && t.tv_nsec < 50'000'000);
    (void)!::write(ready.w.get(), "r", 1);
    ::pause();
  }));
  ASSERT_TRUE(readable_within(ready.r.get(), 10s));
  CgroupUsage u = agent->usage();
  EXPECT_GE(u.memory_bytes, 16 * MiB);
  EXPECT_EQ(u.pids, 1u);
  bool has_cpuacct = v2();
  for (const auto& h : host_.hierarchies) has_cpuacct |= cgroupfs::contains(h.controllers, "cpuacct");
  if (has_cpuacct) {
    EXPECT_GE(u.cpu_usec, 40'000u);
  }
  CgroupUsage whole = pool->usage();
  EXPECT_GE(whole.memory_bytes, u.memory_bytes);
  EXPECT_EQ(whole.pids, 1u);
  agent->kill_all();
  EXPECT_TRUE(killed_by(p.wait(), SIGKILL));
}

TEST_F(CgroupNodeTest, ACpuHogUnderAQuotaIsThrottledAndCounted) {
  auto pool = base().create_child("pool", {});
  auto agent = pool->create_child("agent", {.cpu = 0.05});
  auto& p = record(fork_into(agent->placement(), [] {
    timespec start{}, now{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    do {  // spin for 400 ms of wall time
      ::clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1'000'000 < 400);
  }));
  int status = p.wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CgroupCounters c = agent->counters();
  EXPECT_GT(c.throttled_usec, 100'000u);  // held back most of the 400 ms
  EXPECT_EQ(pool->counters().throttled_usec, c.throttled_usec);
  if (CgroupUsage u = agent->usage(); u.cpu_usec > 0) {
    EXPECT_LT(u.cpu_usec, 100'000u);
  }
}

TEST_F(CgroupNodeTest, UnderSystemdTheDaemonMovesToALeafAndDelegatesControllers) {
  if (!std::getenv("SMOL_CGROUP_TEST_DELEGATED")) GTEST_SKIP() << "run by tests/vm (cgroup2.v2_vm) under systemd-run -p Delegate=yes";
  ASSERT_TRUE(v2());
  ASSERT_FALSE(host_.delegated.empty());
  EXPECT_EQ(base().path(), host_.delegated + "/" + name_);
  std::string self = slurp("/proc/self/cgroup");
  EXPECT_TRUE(self.ends_with("/daemon")) << self;
  std::string enabled = slurp(host_.delegated + "/cgroup.subtree_control");
  EXPECT_NE(enabled.find("memory"), std::string::npos) << enabled;
  EXPECT_NE(enabled.find("pids"), std::string::npos) << enabled;
  EXPECT_NE(tree_->describe().find("delegated by systemd, daemon in " + host_.delegated + "/daemon"),
            std::string::npos)
      << tree_->describe();
}

TEST_F(CgroupNodeTest, AThousandCyclesLeakNoCgroupAndNoFd) {
  int cycles = 1000;
  if (const char* n = std::getenv("SMOL_CGROUP_TEST_CYCLES")) cycles = std::atoi(n);
  auto pool = base().create_child("pool", {.pids = 64});
  const int fds_before = open_fd_count();
  const int cgroups_before = cgroup_count();
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < cycles; ++i) {
    auto agent = pool->create_child("agent-" + std::to_string(i),
                                    {.memory = 64 * MiB, .pids = 8, .cpu = 0.5});
    OomWatch watch = agent->oom_watch();
    pid_t pid = spawn_sleeper(agent->placement());
    Proc p(pid);
    agent->kill_all();
    ASSERT_TRUE(killed_by(p.wait(), SIGKILL)) << "cycle " << i;
    ASSERT_EQ(agent->remove(), 1u);
  }
  auto per_cycle = (std::chrono::steady_clock::now() - start) / cycles;
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_EQ(cgroup_count(), cgroups_before);
  EXPECT_TRUE(pool->children().empty());
  std::cout << "  " << cycles << " cycles, "
            << std::chrono::duration_cast<std::chrono::microseconds>(per_cycle).count()
            << " us each (create with limits, oom watch, place, exec, kill, reap, remove)\n";
}

}  // namespace
}  // namespace smol::sandbox
