// sandbox::spawn() with a ConfineSpec, below the daemon: what the caller
// learns when confinement cannot be honoured or a step in the child fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <filesystem>

#include "sandbox/spawn.h"
#include "supervisor/sandbox_profiles.h"

namespace smol::sandbox {
namespace {

using ::testing::HasSubstr;

class Confined : public ::testing::Test {
 protected:
  Confined() {
    char tmpl[] = "/tmp/smol-confine-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    spec_.skeleton = std::make_shared<const RootSkeleton>(RootSkeleton::prepare(dir_ + "/root"));
    spec_.seccomp = std::make_shared<const SeccompProgram>(spec::builtin_profile("default").seccomp);
    spec_.work_dir = dir_ + "/work/agent";
    spec_.uid = spec_.gid = 1879048192;
    spec_.hostname = "confined";
  }
  ~Confined() override { std::filesystem::remove_all(dir_); }

  // Spawns /bin/true confined by spec_, with fd 3 a socketpair end and its
  // output discarded; returns its exit status, or throws what spawn threw.
  int run_true() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd a(sv[0]), b(sv[1]);
    SpawnRequest req{"/bin/true", {"true"}, {}, b.get(), 2, spec_};
    Child child = spawn(req);
    siginfo_t info{};
    EXPECT_EQ(::waitid(P_PIDFD, static_cast<id_t>(child.pidfd.get()), &info, WEXITED), 0);
    return info.si_status;
  }

  std::string dir_;
  ConfineSpec spec_;
};

TEST_F(Confined, AConfinedChildRunsAndItsWorkDirIsMadeForItsUid) {
  EXPECT_EQ(run_true(), 0);
  struct stat st {};
  ASSERT_EQ(::stat(spec_.work_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, spec_.uid);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST_F(Confined, RootIsRefusedBeforeAnythingIsSpawned) {
  spec_.uid = 0;
  try {
    run_true();
    FAIL() << "uid 0 was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("uid or gid 0"));
  }
}

// A step inside the child fails: the caller gets the step and errno, and
// no child is left (spawn reaped it).
TEST_F(Confined, AStepFailingInTheChildIsReportedByName) {
  spec_.rlimits.nofile = 3;  // no room for the seccomp listener's fd
  try {
    run_true();
    FAIL() << "spawn succeeded";
  } catch (const SpawnError& e) {
    EXPECT_EQ(e.step(), "seccomp(SECCOMP_SET_MODE_FILTER)");
    EXPECT_EQ(e.code(), EMFILE);
    EXPECT_THAT(e.what(), HasSubstr("Too many open files"));
  }
  siginfo_t info{};
  EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(Confined, AMissingReadOnlyPathIsRefusedNamingIt) {
  spec_.read_only = {"/nonexistent/models"};
  try {
    run_true();
    FAIL() << "spawn succeeded";
  } catch (const SysError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/models"));
    EXPECT_TRUE(e.is_not_found());
  }
}

}  // namespace
}  // namespace smol::sandbox
