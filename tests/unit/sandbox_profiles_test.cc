#include "supervisor/sandbox_profiles.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/unit/print_sandbox_policy.h"

namespace smol::spec {
namespace {

using ::testing::ElementsAre;

std::set<std::string> names(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

TEST(SandboxProfiles, ShipDefaultAndStrict) {
  EXPECT_THAT(builtin_profile_names(), ElementsAre("default", "strict"));
  EXPECT_EQ(builtin_profile("default").profile, "default");
  EXPECT_EQ(builtin_profile("strict").profile, "strict");
}

TEST(SandboxProfiles, EmbeddedTextIsTheFileInTheSourceTree) {
  for (const ProfileSource& source : builtin_profile_sources()) {
    std::ifstream file(std::filesystem::path(__FILE__).parent_path() / "../../profiles" /
                       (std::string(source.name) + ".toml"));
    ASSERT_TRUE(file) << source.name;
    std::stringstream text;
    text << file.rdbuf();
    EXPECT_EQ(text.str(), source.text) << source.name << ": configure the build again";
  }
}

TEST(SandboxProfiles, NameOnlyKnownSyscallsAndNothingAlwaysDenied) {
  for (const std::string& name : builtin_profile_names()) {
    sandbox::SeccompPolicy p = builtin_profile(name).seccomp;
    EXPECT_EQ(sandbox::unknown_syscall(p.allow), std::nullopt) << name;
    auto allowed = names(p.allow);
    EXPECT_EQ(allowed.size(), p.allow.size()) << name << " lists a syscall twice";
    for (std::string_view d : sandbox::always_denied_syscalls()) {
      EXPECT_FALSE(allowed.contains(std::string(d))) << name << ": " << d;
    }
    EXPECT_TRUE(p.deny.empty()) << name;
    EXPECT_EQ(p.action, sandbox::ViolationAction::kill) << name;
  }
}

TEST(SandboxProfiles, StrictIsASmallerDefaultWithoutProcessesOrExec) {
  auto d = names(builtin_profile("default").seccomp.allow);
  auto s = names(builtin_profile("strict").seccomp.allow);
  EXPECT_TRUE(std::includes(d.begin(), d.end(), s.begin(), s.end()));
  EXPECT_LT(s.size(), d.size());
  for (const char* n : {"execve", "execveat", "fork", "vfork", "socket", "chmod", "shmget"}) {
    EXPECT_TRUE(d.contains(n)) << n;
    EXPECT_FALSE(s.contains(n)) << n;
  }
  for (const char* n : {"clone", "futex", "mmap", "mprotect", "read", "sendmsg", "getrandom"}) {
    EXPECT_TRUE(s.contains(n)) << n;
  }
}

// A profile but its allowlist, which the tests above check.
sandbox::SandboxPolicy without_allowlist(sandbox::SandboxPolicy p) {
  p.seccomp.allow.clear();
  return p;
}

// What a profile must be, but its allowlist: no deny list, no read-only
// paths, no max_runtime, a violation kills, and no limit on address space,
// stack or CPU time.
sandbox::SandboxPolicy expected(std::string name, sandbox::LandlockMode landlock,
                                std::uint64_t tmp_size, std::uint64_t nofile, std::uint64_t nproc,
                                std::uint64_t fsize) {
  sandbox::SandboxPolicy p;
  p.profile = std::move(name);
  p.seccomp.action = sandbox::ViolationAction::kill;
  p.landlock = landlock;
  p.tmp_size = tmp_size;
  p.rlimits.nofile = nofile;
  p.rlimits.nproc = nproc;
  p.rlimits.fsize = fsize;
  return p;
}

TEST(SandboxProfiles, DefaultIsBestEffortWithRoomyLimits) {
  EXPECT_EQ(
      without_allowlist(builtin_profile("default")),
      expected("default", sandbox::LandlockMode::best_effort, 64u << 20, 1024, 512, 1u << 30));
}

TEST(SandboxProfiles, StrictRequiresLandlockWithTightLimits) {
  EXPECT_EQ(without_allowlist(builtin_profile("strict")),
            expected("strict", sandbox::LandlockMode::required, 16u << 20, 256, 64, 256u << 20));
}

TEST(SandboxProfiles, UnknownNameIsRefusedListingTheProfiles) {
  try {
    builtin_profile("lax");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "no sandbox profile named \"lax\"; the profiles are \"default\" and \"strict\"");
  }
}

TEST(SandboxProfiles, ResolveStartsFromDefaultWhenNoTableNamesAProfile) {
  EXPECT_EQ(resolve_sandbox({}, {}), builtin_profile("default"));
}

TEST(SandboxProfiles, ResolveTakesTheGroupsProfileOverTheSwarms) {
  SandboxTable swarm, group;
  swarm.profile = "strict";
  EXPECT_EQ(resolve_sandbox(swarm, group), builtin_profile("strict"));
  group.profile = "default";
  EXPECT_EQ(resolve_sandbox(swarm, group), builtin_profile("default"));
}

TEST(SandboxProfiles, ResolveAppliesTheSwarmThenTheGroup) {
  SandboxTable swarm, group;
  swarm.profile = "strict";
  swarm.action = sandbox::ViolationAction::eperm;
  swarm.tmp_size = 2u << 20;
  swarm.allow = {"execve"};
  swarm.deny = {"unlink"};
  swarm.read_only = {"/opt/models"};
  swarm.rlimits.nofile = 100;
  swarm.rlimits.cpu = 60;
  group.tmp_size = 3u << 20;
  group.allow = {"execve", "fork"};
  group.deny = {"rename"};
  group.read_only = {"/srv/data"};
  group.rlimits.nofile = 200;

  sandbox::SandboxPolicy p = resolve_sandbox(swarm, group);
  sandbox::SandboxPolicy strict = builtin_profile("strict");
  EXPECT_EQ(p.profile, "strict");
  EXPECT_EQ(p.seccomp.action, sandbox::ViolationAction::eperm);
  EXPECT_EQ(p.landlock, strict.landlock);
  EXPECT_EQ(p.tmp_size, 3u << 20);
  ASSERT_EQ(p.seccomp.allow.size(), strict.seccomp.allow.size() + 2);
  EXPECT_THAT(std::vector(p.seccomp.allow.end() - 2, p.seccomp.allow.end()),
              ElementsAre("execve", "fork"));
  EXPECT_THAT(p.seccomp.deny, ElementsAre("unlink", "rename"));
  EXPECT_THAT(p.read_only, ElementsAre("/opt/models", "/srv/data"));
  EXPECT_EQ(p.rlimits.nofile, 200u);
  EXPECT_EQ(p.rlimits.nproc, strict.rlimits.nproc);
  EXPECT_EQ(p.rlimits.cpu, 60u);
}

}  // namespace
}  // namespace smol::spec
