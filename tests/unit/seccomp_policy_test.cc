#include "sandbox/seccomp_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace smol::sandbox {
namespace {

std::vector<std::string> strings(std::span<const std::string_view> v) {
  return {v.begin(), v.end()};
}

TEST(SeccompPolicy, ListsNameOnlyKnownSyscalls) {
  EXPECT_EQ(unknown_syscall(strings(always_denied_syscalls())), std::nullopt);
  EXPECT_EQ(unknown_syscall(strings(spawn_path_syscalls())), std::nullopt);
}

TEST(SeccompPolicy, UnknownSyscallNamesTheFirstUnknownName) {
  std::vector<std::string> v{"read", "frobnicate", "write", "nope"};
  EXPECT_EQ(unknown_syscall(v), "frobnicate");
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{}), std::nullopt);
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{""}), "");
}

TEST(SeccompPolicy, ANameWithANulByteIsUnknownEvenIfItsPrefixIsKnown) {
  std::vector<std::string> v{std::string("read\0x", 6)};
  EXPECT_EQ(unknown_syscall(v), v[0]);
}

TEST(SeccompPolicy, NamesOfOtherArchitecturesAreKnown) {
  EXPECT_EQ(unknown_syscall(std::vector<std::string>{"socketcall", "_llseek"}), std::nullopt);
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
  const SeccompPolicy base{{"read", "write"}, {"unlink"}, ViolationAction::kill};
  SeccompPolicy p = base;
  EXPECT_EQ(p, base);
  p.action = ViolationAction::eperm;
  EXPECT_FALSE(p == base);
  p = base;
  p.allow.pop_back();
  EXPECT_FALSE(p == base);
  p = base;
  p.deny.clear();
  EXPECT_FALSE(p == base);
}

}  // namespace
}  // namespace smol::sandbox
