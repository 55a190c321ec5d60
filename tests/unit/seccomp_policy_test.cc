#include "sandbox/seccomp_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace smol::sandbox {
namespace {

std::set<std::string> names(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::vector<std::string> strings(std::span<const std::string_view> v) {
  return {v.begin(), v.end()};
}

TEST(SeccompPolicy, ProfilesAndListsNameOnlyKnownSyscalls) {
  EXPECT_EQ(unknown_syscall(default_profile().allow), std::nullopt);
  EXPECT_EQ(unknown_syscall(strict_profile().allow), std::nullopt);
  EXPECT_EQ(unknown_syscall(strings(always_denied_syscalls())), std::nullopt);
  EXPECT_EQ(unknown_syscall(strings(spawn_path_syscalls())), std::nullopt);
}

TEST(SeccompPolicy, UnknownSyscallNamesTheFirstUnknownName) {
  std::vector<std::string> v{"read", "frobnicate", "write", "nope"};
  EXPECT_EQ(unknown_syscall(v), "frobnicate");
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{}), std::nullopt);
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{""}), "");
}

TEST(SeccompPolicy, NamesOfOtherArchitecturesAreKnown) {
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{"socketcall", "_llseek"}), std::nullopt);
}

TEST(SeccompPolicy, StrictIsASmallerDefaultWithoutProcessesOrExec) {
  auto d = names(default_profile().allow);
  auto s = names(strict_profile().allow);
  EXPECT_TRUE(std::includes(d.begin(), d.end(), s.begin(), s.end()));
  EXPECT_LT(s.size(), d.size());
  for (const char* n : {"execve", "execveat", "fork", "vfork", "socket", "chmod", "shmget"}) {
    EXPECT_TRUE(d.contains(n)) << n;
    EXPECT_FALSE(s.contains(n)) << n;
  }
  for (const char* n : {"clone", "futex", "mmap", "mprotect", "read", "sendmsg", "getrandom"})
    EXPECT_TRUE(s.contains(n)) << n;
}

TEST(SeccompPolicy, ProfilesListNothingAlwaysDenied) {
  for (const auto& p : {default_profile(), strict_profile()}) {
    auto allowed = names(p.allow);
    for (std::string_view d : always_denied_syscalls()) EXPECT_FALSE(allowed.contains(std::string(d))) << d;
    EXPECT_TRUE(p.deny.empty());
    EXPECT_EQ(p.action, ViolationAction::kill);
  }
}

TEST(SeccompPolicy, ActionNamesRoundTrip) {
  EXPECT_EQ(violation_action_name(ViolationAction::kill), "kill");
  EXPECT_EQ(violation_action_name(ViolationAction::eperm), "errno");
  EXPECT_EQ(parse_violation_action("kill"), ViolationAction::kill);
  EXPECT_EQ(parse_violation_action("errno"), ViolationAction::eperm);
  EXPECT_EQ(parse_violation_action("KILL"), std::nullopt);
  EXPECT_EQ(parse_violation_action("eperm"), std::nullopt);
}

TEST(SeccompPolicy, PoliciesCompareByValue) {
  EXPECT_EQ(default_profile(), default_profile());
  EXPECT_FALSE(default_profile() == strict_profile());
  SeccompPolicy p = default_profile();
  p.action = ViolationAction::eperm;
  EXPECT_FALSE(p == default_profile());
}

}  // namespace
}  // namespace smol::sandbox
