#include "sandbox/landlock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace smol::sandbox {
namespace {

namespace fs = std::filesystem;

// The uapi bit of each right, spelled out so the table is checked against
// the kernel's numbers rather than against our own constants.
constexpr std::uint64_t kExecute = 1ULL << 0, kWriteFile = 1ULL << 1, kReadFile = 1ULL << 2,
                        kReadDir = 1ULL << 3, kMakeChar = 1ULL << 6, kMakeBlock = 1ULL << 11,
                        kRefer = 1ULL << 13, kTruncate = 1ULL << 14, kIoctlDev = 1ULL << 15;

// ---- The ABI table: pure functions, no kernel needed ----

TEST(LandlockRights, EachAbiAddsExactlyItsOwnRights) {
  EXPECT_EQ(landlock_handled(0).fs, 0u);
  EXPECT_EQ(landlock_handled(1).fs, 0x1fffu);  // execute .. make_sym
  EXPECT_EQ(landlock_handled(2).fs & ~landlock_handled(1).fs, kRefer);
  EXPECT_EQ(landlock_handled(3).fs & ~landlock_handled(2).fs, kTruncate);
  EXPECT_EQ(landlock_handled(3).net, 0u);
  EXPECT_EQ(landlock_handled(4).net, 0x3u);  // bind_tcp, connect_tcp
  EXPECT_EQ(landlock_handled(4).fs, landlock_handled(3).fs);
  EXPECT_EQ(landlock_handled(5).fs & ~landlock_handled(4).fs, kIoctlDev);
  EXPECT_EQ(landlock_handled(5).scoped, 0u);
  EXPECT_EQ(landlock_handled(6).scoped, 0x3u);  // abstract_unix_socket, signal
  EXPECT_EQ(landlock_handled(7).fs, landlock_handled(6).fs);
  EXPECT_EQ(landlock_handled(9).fs, landlock_handled(7).fs);
}

TEST(LandlockRights, RulesOnFilesCarryOnlyFileRights) {
  EXPECT_EQ(landlock_fs_rights(Access::read_write, 7, false), kReadFile | kWriteFile | kTruncate);
  EXPECT_EQ(landlock_fs_rights(Access::read_exec, 7, false), kReadFile | kExecute);
  EXPECT_EQ(landlock_fs_rights(Access::read_only, 7, false), kReadFile);
  EXPECT_EQ(landlock_fs_rights(Access::read_only, 7, true), kReadFile | kReadDir);
}

TEST(LandlockRights, ReadWriteGrantsNeitherExecuteNorDevices) {
  std::uint64_t rw = landlock_fs_rights(Access::read_write, 7, true);
  EXPECT_EQ(rw & (kExecute | kMakeChar | kMakeBlock | kIoctlDev), 0u);
  EXPECT_NE(rw & kRefer, 0u);
  EXPECT_NE(rw & kTruncate, 0u);
}

TEST(LandlockRights, RulesNeverCarryRightsTheAbiLacks) {
  std::uint64_t rw_v1 = landlock_fs_rights(Access::read_write, 1, true);
  EXPECT_EQ(rw_v1 & (kRefer | kTruncate), 0u);
  EXPECT_EQ(rw_v1 & ~landlock_handled(1).fs, 0u);
  EXPECT_EQ(landlock_fs_rights(Access::read_write, 2, true) & kTruncate, 0u);
}

// ---- Building rulesets ----

TEST(LandlockRuleset, RequiredOnKernelWithoutLandlockFailsNamingTheAbi) {
  try {
    LandlockRuleset rs({{"/usr", Access::read_exec}}, LandlockMode::required, 0);
    FAIL() << "built a ruleset on ABI 0";
  } catch (const LandlockUnavailable& e) {
    EXPECT_STREQ(e.what(), "landlock required but the kernel does not support it (ABI 0)");
    EXPECT_EQ(e.kernel_abi(), 0);
  }
}

TEST(LandlockRuleset, BestEffortOnKernelWithoutLandlockIsAbsentWithReason) {
  LandlockRuleset rs({{"/usr", Access::read_exec}}, LandlockMode::best_effort, 0);
  EXPECT_FALSE(rs);
  EXPECT_EQ(rs.fd(), -1);
  EXPECT_EQ(rs.abi(), 0);
  EXPECT_EQ(rs.absent_reason(),
            "landlock skipped (best-effort): the kernel does not support it (ABI 0)");
  EXPECT_EQ(rs.describe(), rs.absent_reason());
}

class LandlockKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (landlock_abi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
  }
};

TEST_F(LandlockKernel, MissingPathIsAnErrorNamingIt) {
  try {
    LandlockRuleset rs({{"/nonexistent/smol", Access::read_only}}, LandlockMode::required);
    FAIL() << "a missing path was accepted";
  } catch (const SysError& e) {
    EXPECT_TRUE(e.is_not_found());
    EXPECT_STREQ(e.what(), "open(/nonexistent/smol): No such file or directory");
  }
}

TEST_F(LandlockKernel, MissingOptionalPathIsSkippedAndCounted) {
  LandlockRuleset rs({{"/usr", Access::read_exec}, {"/nonexistent/smol", Access::read_only, true}},
                     LandlockMode::required);
  ASSERT_TRUE(rs);
  ASSERT_EQ(rs.skipped().size(), 1u);
  EXPECT_EQ(rs.skipped()[0], "/nonexistent/smol");
  EXPECT_NE(rs.describe().find("1 path, 1 missing optional"), std::string::npos) << rs.describe();
}

TEST_F(LandlockKernel, DescribeNamesAbiAndEverythingHandled) {
  if (landlock_abi() < 7) GTEST_SKIP() << "needs ABI 7";
  LandlockRuleset rs({{"/usr", Access::read_exec}, {"/etc", Access::read_only}},
                     LandlockMode::required);
  EXPECT_EQ(rs.describe(),
            "landlock ABI 7: fs{execute,write_file,read_file,read_dir,remove_dir,remove_file,"
            "make_char,make_dir,make_reg,make_sock,make_fifo,make_block,make_sym,refer,"
            "truncate,ioctl_dev} net{bind_tcp,connect_tcp} scoped{abstract_unix_socket,signal}; "
            "2 paths");
}

TEST_F(LandlockKernel, NewerKernelIsDrivenAsTheNewestKnownAbi) {
  if (landlock_abi() < kLandlockNewestAbi) GTEST_SKIP() << "needs ABI " << kLandlockNewestAbi;
  LandlockRuleset rs({{"/usr", Access::read_exec}}, LandlockMode::required, 42);
  EXPECT_EQ(rs.abi(), kLandlockNewestAbi);
  EXPECT_EQ(rs.describe().rfind("landlock ABI 7 (kernel ABI 42):", 0), 0u) << rs.describe();
}

TEST_F(LandlockKernel, OlderAbiRulesetIsAcceptedByTheKernel) {
  // Each would fail with EINVAL if a rule carried a right its ruleset does
  // not handle, or with E2BIG/EINVAL if the attr size were wrong.
  for (int abi = 1; abi <= landlock_abi() && abi <= kLandlockNewestAbi; ++abi) {
    LandlockRuleset rs({{"/usr", Access::read_exec}, {"/tmp", Access::read_write}},
                       LandlockMode::required, abi);
    EXPECT_TRUE(rs) << "ABI " << abi;
    EXPECT_EQ(rs.abi(), abi);
  }
}

// ---- Confinement: each probe runs in a forked child ----

// What the child reports through the pipe.
struct Report {
  int setup_errno = 0;  // no_new_privs or restrict_self failed
  int result = -1;      // the probe: 0 when the attempt succeeded, else errno
};

using Probe = std::function<int(int run)>;
using Prepare = std::function<int()>;  // in the child, before restrict_self

std::string err_name(int err) {
  if (err == 0) return "success";
  const char* name = strerrorname_np(err);
  return name ? name : std::to_string(err);
}

// Forks a child that sets no_new_privs, runs prepare, enforces ruleset_fd
// (when >= 0), runs probe(run) and reports. Reaps the child.
int run_probe(int ruleset_fd, const Probe& probe, int run, const Prepare& prepare = {}) {
  int ends[2];
  check_sys(pipe2(ends, O_CLOEXEC), "pipe2");
  UniqueFd rd(ends[0]), wr(ends[1]);
  pid_t pid = check_sys(fork(), "fork");
  if (pid == 0) {
    Report r;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
      r.setup_errno = errno;
    } else if (prepare && prepare() != 0) {
      r.setup_errno = errno;
    } else if (ruleset_fd >= 0 && LandlockRuleset::restrict_self(ruleset_fd) != 0) {
      r.setup_errno = errno;
    } else {
      r.result = probe(run);
    }
    ssize_t n = write(wr.get(), &r, sizeof r);
    _exit(n == sizeof r ? 0 : 1);
  }
  wr.reset();
  Report r;
  ssize_t n = read(rd.get(), &r, sizeof r);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "probe child status " << status;
  EXPECT_EQ(n, static_cast<ssize_t>(sizeof r));
  EXPECT_EQ(r.setup_errno, 0) << "child setup failed: " << err_name(r.setup_errno);
  return r.result;
}

// The probe's outcome under the ruleset, after checking that it succeeds
// without it: a probe cannot pass by being broken.
std::string confined(const LandlockRuleset& rs, const Probe& probe) {
  EXPECT_EQ(err_name(run_probe(-1, probe, 0)), "success") << "the probe fails even unconfined";
  return err_name(run_probe(rs.fd(), probe, 1));
}

// The probe's outcome under the ruleset alone, for what the view allows.
std::string allowed(const LandlockRuleset& rs, const Probe& probe) {
  return err_name(run_probe(rs.fd(), probe, 1));
}

int result_of(int rc) { return rc < 0 ? errno : 0; }

int read_one_byte(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char c;
  int rc = result_of(static_cast<int>(read(fd, &c, 1)));
  close(fd);
  return rc;
}

int open_result(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

// 0 when path ran and exited 0; else execve's errno (or 255 for a crash).
int exec_result(const std::string& path) {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    char* envp[] = {nullptr};
    execve(path.c_str(), argv, envp);
    _exit(errno);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

// Creates a new file in dir, named after the run so that both runs create.
Probe create_in(const std::string& dir) {
  return [dir](int run) {
    return open_result(dir + "/new" + std::to_string(run), O_WRONLY | O_CREAT | O_EXCL);
  };
}

Probe truncate_file(const std::string& path) {
  return [path](int) { return result_of(truncate(path.c_str(), 0)); };
}

int signal_parent(int) { return result_of(kill(getppid(), 0)); }

int connect_result(int domain, const sockaddr* addr, socklen_t len) {
  int s = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int rc = result_of(connect(s, addr, len));
  close(s);
  return rc;
}

// A work tree per test: ro/ (read_only, holds a file and a copy of true),
// rw/ (read_write, the agent's work dir), outside/ (not in the view).
class LandlockConfined : public ::testing::Test {
 protected:
  void SetUp() override {
    if (landlock_abi() < 1) GTEST_SKIP() << "this kernel has no Landlock";
    char tmpl[] = "/tmp/smol-landlock-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    root_ = tmpl;
    for (const char* d : {"ro", "rw", "outside"}) fs::create_directory(root_ / d);
    std::ofstream(root_ / "ro/file.txt") << "hello";
    std::ofstream(root_ / "ro/victim.txt") << "truncate me";
    fs::copy_file("/usr/bin/true", root_ / "ro/true");
    fs::permissions(root_ / "ro/true",
                    fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }

  std::string path(const std::string& rel) const { return (root_ / rel).string(); }

  std::vector<PathRule> view() const {
    return {{"/usr", Access::read_exec},
            {path("ro"), Access::read_only},
            {path("rw"), Access::read_write}};
  }
  LandlockRuleset ruleset(int abi = landlock_abi()) const {
    return LandlockRuleset(view(), LandlockMode::required, abi);
  }
  static void require_abi(int abi) {
    if (landlock_abi() < abi) GTEST_SKIP() << "needs Landlock ABI " << abi;
  }

  fs::path root_;
};

TEST_F(LandlockConfined, ReadsUnderReadOnlyDirButCannotWriteThere) {
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(allowed(rs, [&](int) { return read_one_byte(path("ro/file.txt")); }), "success");
  EXPECT_EQ(confined(rs, [&](int) { return open_result(path("ro/file.txt"), O_WRONLY); }),
            "EACCES");
  EXPECT_EQ(confined(rs, create_in(path("ro"))), "EACCES");
}

TEST_F(LandlockConfined, WritesCreatesAndRemovesInReadWriteWorkDir) {
  LandlockRuleset rs = ruleset();
  auto work = [&](int) {
    std::string f = path("rw/made"), g = path("rw/sub");
    int err = open_result(f, O_WRONLY | O_CREAT | O_TRUNC);
    if (err == 0) err = result_of(mkdir(g.c_str(), 0755));
    if (err == 0) err = result_of(rename(f.c_str(), (g + "/made").c_str()));
    if (err == 0) err = result_of(unlink((g + "/made").c_str()));
    if (err == 0) err = result_of(rmdir(g.c_str()));
    return err;
  };
  EXPECT_EQ(allowed(rs, work), "success");
}

TEST_F(LandlockConfined, CannotReadFilesOutsideTheView) {
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(confined(rs, [](int) { return read_one_byte("/etc/shadow"); }), "EACCES");
}

TEST_F(LandlockConfined, CannotCreateFilesOutsideTheView) {
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(confined(rs, create_in(path("outside"))), "EACCES");
}

TEST_F(LandlockConfined, CannotRenameOrLinkWorkFilesIntoReadOnlyDir) {
  LandlockRuleset rs = ruleset();
  // The file is made inside the probe, in the work dir, where that is allowed.
  auto move_out = [&](bool link_it) {
    return [&, link_it](int run) {
      std::string name = (link_it ? "linked" : "moved") + std::to_string(run);
      std::string from = path("rw/" + name), to = path("ro/" + name);
      int err = open_result(from, O_WRONLY | O_CREAT | O_EXCL);
      if (err != 0) return err;
      return result_of(link_it ? link(from.c_str(), to.c_str()) : rename(from.c_str(), to.c_str()));
    };
  };
  // EACCES (no make_reg in ro/) prevails over EXDEV (refer), as documented.
  EXPECT_EQ(confined(rs, move_out(false)), "EACCES");
  EXPECT_EQ(confined(rs, move_out(true)), "EACCES");
}

TEST_F(LandlockConfined, ExecutesFromReadExecDirButNotFromReadOnlyDir) {
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(allowed(rs, [](int) { return exec_result("/usr/bin/true"); }), "success");
  EXPECT_EQ(confined(rs, [&](int) { return exec_result(path("ro/true")); }), "EACCES");
}

TEST_F(LandlockConfined, CannotTruncateReadOnlyFile) {
  require_abi(3);
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(confined(rs, truncate_file(path("ro/victim.txt"))), "EACCES");
}

TEST_F(LandlockConfined, FileRuleGrantsThatFileAndNothingBeside) {
  LandlockRuleset rs({{path("ro/file.txt"), Access::read_write}}, LandlockMode::required);
  EXPECT_EQ(allowed(rs, [&](int) { return open_result(path("ro/file.txt"), O_WRONLY); }),
            "success");
  EXPECT_EQ(confined(rs, [&](int) { return read_one_byte(path("ro/victim.txt")); }), "EACCES");
}

class LandlockConfinedNet : public LandlockConfined {
 protected:
  // A listener the probes connect to; bound by the unconfined test process.
  UniqueFd listen_on(int domain, const sockaddr* addr, socklen_t len) {
    UniqueFd s(check_sys(socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    check_sys(bind(s.get(), addr, len), "bind");
    check_sys(listen(s.get(), 8), "listen");
    return s;
  }
  sockaddr_in tcp_listener() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    tcp_ = listen_on(AF_INET, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    check_sys(getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&a), &len), "getsockname");
    return a;
  }
  UniqueFd tcp_;
};

TEST_F(LandlockConfinedNet, CannotConnectToTcpPortOnLoopback) {
  require_abi(4);
  LandlockRuleset rs = ruleset();
  sockaddr_in a = tcp_listener();
  auto probe = [&](int) {
    return connect_result(AF_INET, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  };
  EXPECT_EQ(confined(rs, probe), "EACCES");
}

TEST_F(LandlockConfinedNet, CannotConnectToAbstractUnixSocketOutsideItsDomain) {
  require_abi(6);
  LandlockRuleset rs = ruleset();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string name = "smol-landlock-test-" + std::to_string(getpid());
  std::memcpy(a.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  UniqueFd listener = listen_on(AF_UNIX, reinterpret_cast<sockaddr*>(&a), len);
  auto probe = [&](int) {
    return connect_result(AF_UNIX, reinterpret_cast<const sockaddr*>(&a), len);
  };
  EXPECT_EQ(confined(rs, probe), "EPERM");
}

TEST_F(LandlockConfined, CannotSignalTheDaemon) {
  require_abi(6);
  LandlockRuleset rs = ruleset();
  EXPECT_EQ(confined(rs, signal_parent), "EPERM");
}

TEST_F(LandlockConfinedNet, OlderAbiLeavesNewerRightsUnhandled) {
  require_abi(4);
  LandlockRuleset v3 = ruleset(3);
  sockaddr_in a = tcp_listener();
  auto tcp = [&](int) {
    return connect_result(AF_INET, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  };
  EXPECT_EQ(allowed(v3, tcp), "success");
  EXPECT_EQ(allowed(v3, signal_parent), "success");
  EXPECT_EQ(confined(v3, truncate_file(path("ro/victim.txt"))), "EACCES");
}

// A mount the child makes itself (a fresh /proc, a tmpfs /tmp) is unknown
// to the daemon's ruleset, so it is denied unless the child adds a rule.
TEST_F(LandlockConfined, FreshMountInChildIsDeniedUntilTheChildAllowsIt) {
  std::string mnt = path("ro/mnt");
  fs::create_directory(mnt);
  auto mount_tmpfs = [&](const LandlockRuleset* grant) {
    return [&, grant]() {
      if (unshare(CLONE_NEWNS) != 0) return -1;
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return -1;
      if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) return -1;
      if (grant == nullptr) return 0;
      return LandlockRuleset::allow_dir_in_child(grant->fd(), mnt.c_str(),
                                                 grant->dir_rights(Access::read_write));
    };
  };
  auto write_in_mount = [&](int) { return open_result(mnt + "/x", O_WRONLY | O_CREAT); };

  EXPECT_EQ(err_name(run_probe(-1, write_in_mount, 0, mount_tmpfs(nullptr))), "success");
  LandlockRuleset plain = ruleset();
  EXPECT_EQ(err_name(run_probe(plain.fd(), write_in_mount, 1, mount_tmpfs(nullptr))), "EACCES");
  LandlockRuleset granted = ruleset();
  EXPECT_EQ(err_name(run_probe(granted.fd(), write_in_mount, 1, mount_tmpfs(&granted))), "success");
}

TEST_F(LandlockConfined, MountingIsRefusedOnceRestricted) {
  LandlockRuleset rs = ruleset();
  std::string mnt = path("rw");
  auto try_mount = [&](int) {
    if (unshare(CLONE_NEWNS) != 0) return errno;
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
    return result_of(mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m"));
  };
  EXPECT_EQ(confined(rs, try_mount), "EPERM");
}

}  // namespace
}  // namespace smol::sandbox
