// The [sandbox] tables of a swarm spec, as a user writes them: through
// parse_swarm_spec, so positions, paths and the resolved policy are what
// `swarmctl up` reports and what the agents get.
#include "supervisor/sandbox_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "supervisor/sandbox_profiles.h"
#include "supervisor/swarm_spec.h"
#include "tests/unit/bad_spec.h"
#include "tests/unit/print_sandbox_policy.h"

namespace smol::spec {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

// A valid swarm whose [sandbox] table holds `table`, from line 3 on.
std::string swarm_sandbox(std::string_view table) {
  return "name = \"hello\"\n"
         "[sandbox]\n" +
         std::string(table) +
         "\n[[agents]]\n"
         "role = \"greeter\"\n"
         "command = [\"smol-echo-agent\"]\n";
}

// A valid swarm whose one group's [agents.sandbox] table holds `table`,
// from line 6 on.
std::string group_sandbox(std::string_view table) {
  return "name = \"hello\"\n"
         "[[agents]]\n"
         "role = \"greeter\"\n"
         "command = [\"smol-echo-agent\"]\n"
         "[agents.sandbox]\n" +
         std::string(table) + "\n";
}

sandbox::SandboxPolicy policy_of(const std::string& text, size_t group = 0) {
  return parse_swarm_spec(text, "hello.toml").agents.at(group).sandbox;
}

// --- Good tables ---------------------------------------------------------

TEST(SandboxSpec, WithoutATableEveryGroupGetsTheDefaultProfile) {
  SwarmSpec spec = parse_swarm_spec(
      "name = \"hello\"\n"
      "[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n"
      "[[agents]]\nrole = \"b\"\ncommand = [\"x\"]\n",
      "hello.toml");
  for (const AgentGroupSpec& g : spec.agents) EXPECT_EQ(g.sandbox, builtin_profile("default"));
}

TEST(SandboxSpec, ReadsEveryKey) {
  sandbox::SandboxPolicy p = policy_of(swarm_sandbox(R"(profile = "strict"
action = "errno"
landlock = "best-effort"
allow = ["execve", "socket"]
deny = ["unlink", "rename"]
read_only = ["/opt/models", "/usr/share/dict"]
tmp_size = "2MiB"
max_runtime = "1h30m"
[sandbox.rlimits]
nofile = 16
nproc = 1
fsize = 1048576
as = "64MiB"
stack = "128KiB"
cpu = "10m")"));
  sandbox::SandboxPolicy strict = builtin_profile("strict");
  EXPECT_EQ(p.profile, "strict");
  EXPECT_EQ(p.seccomp.action, sandbox::ViolationAction::eperm);
  EXPECT_EQ(p.landlock, sandbox::LandlockMode::best_effort);
  std::vector<std::string> allow = strict.seccomp.allow;
  allow.insert(allow.end(), {"execve", "socket"});
  EXPECT_EQ(p.seccomp.allow, allow);
  EXPECT_THAT(p.seccomp.deny, ElementsAre("unlink", "rename"));
  EXPECT_THAT(p.read_only, ElementsAre("/opt/models", "/usr/share/dict"));
  EXPECT_EQ(p.tmp_size, 2u << 20);
  EXPECT_EQ(p.max_runtime, milliseconds(90 * 60 * 1000));
  EXPECT_EQ(p.rlimits.nofile, 16u);
  EXPECT_EQ(p.rlimits.nproc, 1u);
  EXPECT_EQ(p.rlimits.fsize, 1u << 20);
  EXPECT_EQ(p.rlimits.as, 64u << 20);
  EXPECT_EQ(p.rlimits.stack, 128u << 10);
  EXPECT_EQ(p.rlimits.cpu, 600u);
}

TEST(SandboxSpec, AcceptsTheEndsOfEachRange) {
  sandbox::SandboxPolicy p = policy_of(swarm_sandbox(R"(tmp_size = "16GiB"
max_runtime = "720h"
[sandbox.rlimits]
nofile = 1048576
nproc = 1000000
fsize = "16TiB"
as = "128TiB"
stack = "1GiB"
cpu = "720h")"));
  EXPECT_EQ(p.tmp_size, 16ull << 30);
  EXPECT_EQ(p.max_runtime, milliseconds(720ll * 3600 * 1000));
  EXPECT_EQ(p.rlimits.nofile, 1u << 20);
  EXPECT_EQ(p.rlimits.nproc, 1'000'000u);
  EXPECT_EQ(p.rlimits.fsize, 16ull << 40);
  EXPECT_EQ(p.rlimits.as, 128ull << 40);
  EXPECT_EQ(p.rlimits.stack, 1u << 30);
  EXPECT_EQ(p.rlimits.cpu, 720u * 3600);
}

TEST(SandboxSpec, AGroupOverridesTheSwarmKeyByKeyAndAddsToItsLists) {
  SwarmSpec spec = parse_swarm_spec(R"(name = "hello"
[sandbox]
action = "errno"
landlock = "required"
allow = ["execve"]
deny = ["unlink"]
read_only = ["/opt/models"]
max_runtime = "10m"
[sandbox.rlimits]
nofile = 100
cpu = "1h"

[[agents]]
role = "lead"
command = ["x"]

[[agents]]
role = "worker"
command = ["x"]
[agents.sandbox]
action = "kill"
allow = ["fork", "execve"]
deny = ["rename"]
read_only = ["/srv/data", "/opt/models"]
max_runtime = "0s"
[agents.sandbox.rlimits]
nofile = 200
)",
                                    "hello.toml");
  const sandbox::SandboxPolicy& lead = spec.agents[0].sandbox;
  const sandbox::SandboxPolicy& worker = spec.agents[1].sandbox;
  sandbox::SandboxPolicy def = builtin_profile("default");

  EXPECT_EQ(lead.seccomp.action, sandbox::ViolationAction::eperm);
  EXPECT_EQ(lead.landlock, sandbox::LandlockMode::required);
  EXPECT_EQ(lead.max_runtime, milliseconds(600'000));
  EXPECT_EQ(lead.rlimits.nofile, 100u);
  EXPECT_THAT(lead.seccomp.deny, ElementsAre("unlink"));
  EXPECT_THAT(lead.read_only, ElementsAre("/opt/models"));

  EXPECT_EQ(worker.profile, "default");
  EXPECT_EQ(worker.seccomp.action, sandbox::ViolationAction::kill);
  EXPECT_EQ(worker.landlock, sandbox::LandlockMode::required);  // the swarm's
  EXPECT_EQ(worker.max_runtime, milliseconds(0));               // "0s": none
  EXPECT_EQ(worker.rlimits.nofile, 200u);
  EXPECT_EQ(worker.rlimits.cpu, 3600u);                // the swarm's
  EXPECT_EQ(worker.rlimits.nproc, def.rlimits.nproc);  // the profile's
  EXPECT_THAT(worker.seccomp.deny, ElementsAre("unlink", "rename"));
  EXPECT_THAT(worker.read_only, ElementsAre("/opt/models", "/srv/data"));
  // Both already in the default profile: listed once.
  EXPECT_EQ(worker.seccomp.allow, def.seccomp.allow);
}

TEST(SandboxSpec, AGroupsProfileReplacesTheSwarmsButKeepsTheSwarmsKeys) {
  SwarmSpec spec = parse_swarm_spec(R"(name = "hello"
[sandbox]
profile = "strict"
tmp_size = "8MiB"
[[agents]]
role = "shell"
command = ["x"]
sandbox = { profile = "default" }
[[agents]]
role = "compute"
command = ["x"]
)",
                                    "hello.toml");
  EXPECT_EQ(spec.agents[0].sandbox.profile, "default");
  EXPECT_EQ(spec.agents[0].sandbox.seccomp, builtin_profile("default").seccomp);
  EXPECT_EQ(spec.agents[0].sandbox.tmp_size, 8u << 20);
  EXPECT_EQ(spec.agents[1].sandbox.profile, "strict");
  EXPECT_EQ(spec.agents[1].sandbox.tmp_size, 8u << 20);
}

TEST(SandboxSpec, ADenyWinsOverAnAllowInTheSameResolvedPolicy) {
  // Deny wins in the filter (seccomp_policy.h); the policy keeps both lists.
  sandbox::SandboxPolicy p =
      policy_of(swarm_sandbox("deny = [\"execve\"]") + "[agents.sandbox]\nallow = [\"execve\"]\n");
  EXPECT_THAT(p.seccomp.deny, ElementsAre("execve"));
  EXPECT_EQ(std::count(p.seccomp.allow.begin(), p.seccomp.allow.end(), "execve"), 1);
}

TEST(SandboxSpec, SpecsWithTheSameSandboxCompareEqualAndDifferentOnesDoNot) {
  auto spec = [](std::string_view table) { return parse_swarm_spec(swarm_sandbox(table), "f"); };
  EXPECT_EQ(spec("allow = [\"seccomp\"]"), spec("allow = [\"seccomp\"]"));
  EXPECT_FALSE(spec("allow = [\"seccomp\"]") == spec("allow = [\"sched_rr_get_interval\"]"));
  EXPECT_FALSE(spec("") == spec("tmp_size = \"1MiB\""));
}

TEST(SandboxSpec, PathsUnderDevOnlyByNameAreFine) {
  EXPECT_THAT(policy_of(swarm_sandbox("read_only = [\"/devices\", \"/system\", \"/opt/.hidden\"]"))
                  .read_only,
              ElementsAre("/devices", "/system", "/opt/.hidden"));
}

TEST(SandboxSpec, AProfileFileMayNotNameAnotherProfile) {
  toml_check::Problems problems("mine.toml");
  std::optional<toml::table> doc = toml_check::parse_document(
      "profile = \"strict\"\nallow = [\"read\"]\n", "mine.toml", problems);
  ASSERT_TRUE(doc);
  SandboxTable t = read_profile_table(*doc, problems);
  EXPECT_THAT(t.allow, ElementsAre("read"));
  EXPECT_THAT(problems.lines(),
              ElementsAre("mine.toml:1:11: profile = \"strict\": a profile cannot start from "
                          "another"));
}

// --- Each rule, with its position -----------------------------------------

const std::vector<BadSpec> kBadSandboxes = {
    {"UnknownKeyGetsASuggestion", swarm_sandbox("alow = [\"read\"]"),
     "hello.toml:3:1: unknown key 'alow' in sandbox; did you mean 'allow'?"},
    {"UnknownKeyOfAGroupGetsASuggestion", group_sandbox("landlok = \"required\""),
     "hello.toml:6:1: unknown key 'landlok' in agents[0].sandbox; did you mean 'landlock'?"},
    {"UnknownKeyFarFromAnyListsThem", swarm_sandbox("seccomp = \"on\""),
     "hello.toml:3:1: unknown key 'seccomp' in sandbox; expected profile, action, landlock, "
     "allow, deny, read_only, tmp_size, max_runtime or rlimits"},
    {"UnknownRlimitGetsASuggestion", swarm_sandbox("[sandbox.rlimits]\nnofiles = 64"),
     "hello.toml:4:1: unknown key 'nofiles' in sandbox.rlimits; did you mean 'nofile'?"},
    {"SandboxThatIsNotATable",
     "name = \"hello\"\nsandbox = \"strict\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n",
     "hello.toml:2:11: sandbox = \"strict\": must be a table"},
    {"RlimitsThatAreNotATable", swarm_sandbox("rlimits = 5"),
     "hello.toml:3:11: sandbox.rlimits = 5: must be a table"},
    {"UnknownProfile", swarm_sandbox("profile = \"lax\""),
     "hello.toml:3:11: sandbox.profile = \"lax\": must be \"default\" or \"strict\""},
    {"UnknownProfileOfAGroup", group_sandbox("profile = \"Strict\""),
     "hello.toml:6:11: agents[0].sandbox.profile = \"Strict\": must be \"default\" or \"strict\""},
    {"UnknownAction", swarm_sandbox("action = \"eperm\""),
     "hello.toml:3:10: sandbox.action = \"eperm\": must be \"kill\" or \"errno\""},
    {"UnknownLandlockMode", swarm_sandbox("landlock = \"yes\""),
     "hello.toml:3:12: sandbox.landlock = \"yes\": must be \"required\" or \"best-effort\""},
    {"UnknownSyscallInAllowAtItsElement", swarm_sandbox("allow = [\"read\", \"frob\"]"),
     "hello.toml:3:18: sandbox.allow[1] = \"frob\": is not a system call libseccomp knows"},
    {"UnknownSyscallInAGroupsDeny", group_sandbox("deny = [\"unlink\", \"exceve\"]"),
     "hello.toml:6:19: agents[0].sandbox.deny[1] = \"exceve\": is not a system call libseccomp "
     "knows"},
    {"AllowOfAnAlwaysDeniedSyscall", swarm_sandbox("allow = [\"ptrace\"]"),
     "hello.toml:3:10: sandbox.allow[0] = \"ptrace\": is denied to every agent, whatever a policy "
     "allows"},
    {"DenyOfASyscallTheSpawnNeeds", swarm_sandbox("deny = [\"exit_group\"]"),
     "hello.toml:3:9: sandbox.deny[0] = \"exit_group\": cannot be denied: the daemon needs it to "
     "start every agent"},
    {"AllowThatIsNotAnArray", swarm_sandbox("allow = \"read\""),
     "hello.toml:3:9: sandbox.allow = \"read\": must be an array"},
    {"AllowOfANumber", swarm_sandbox("allow = [0]"),
     "hello.toml:3:10: sandbox.allow[0] = 0: must be a string"},
    {"SyscallNameWithANulByte", swarm_sandbox("deny = [\"read\\u0000\"]"),
     "hello.toml:3:9: sandbox.deny[0] = \"read\\u0000\": is not a system call libseccomp knows"},
    {"RelativeReadOnlyPathLeavingTheSpecsDirectory", swarm_sandbox("read_only = [\"../models\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"../models\": must be normalized: no \"//\", \".\" "
     "or \"..\" and no trailing '/'"},
    {"ReadOnlyRoot", group_sandbox("read_only = [\"/\"]"),
     "hello.toml:6:14: agents[0].sandbox.read_only[0] = \"/\": must not be \"/\": the agent would "
     "see the whole host"},
    {"ReadOnlyPathWithATrailingSlash", swarm_sandbox("read_only = [\"/opt/\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/opt/\": must be normalized: no \"//\", \".\" or "
     "\"..\" and no trailing '/'"},
    {"ReadOnlyPathWithADoubleSlash", swarm_sandbox("read_only = [\"/opt//models\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/opt//models\": must be normalized: no \"//\", "
     "\".\" or \"..\" and no trailing '/'"},
    {"ReadOnlyPathWithDotDot", swarm_sandbox("read_only = [\"/opt/../etc/shadow\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/opt/../etc/shadow\": must be normalized: no "
     "\"//\", \".\" or \"..\" and no trailing '/'"},
    {"ReadOnlyPathWithDot", swarm_sandbox("read_only = [\"/opt/./models\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/opt/./models\": must be normalized: no \"//\", "
     "\".\" or \"..\" and no trailing '/'"},
    {"ReadOnlyPathUnderProc", swarm_sandbox("read_only = [\"/usr\", \"/proc/1/root\"]"),
     "hello.toml:3:22: sandbox.read_only[1] = \"/proc/1/root\": must not be under /proc, /sys or "
     "/dev: the sandbox makes those afresh for each agent"},
    {"ReadOnlyDev", swarm_sandbox("read_only = [\"/dev\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/dev\": must not be under /proc, /sys or /dev: the "
     "sandbox makes those afresh for each agent"},
    {"ReadOnlyPathWithANulByte", swarm_sandbox("read_only = [\"/opt\\u0000x\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/opt\\u0000x\": must not contain NUL bytes"},
    {"ReadOnlyPathTooLong", swarm_sandbox("read_only = [\"/" + std::string(4095, 'a') + "\"]"),
     "hello.toml:3:14: sandbox.read_only[0] = \"/" + std::string(58, 'a') +
         "…: must be shorter than 4096 bytes"},
    {"TmpSizeBelow1MiB", swarm_sandbox("tmp_size = \"512KiB\""),
     "hello.toml:3:12: sandbox.tmp_size = \"512KiB\": must be between 1MiB and 16GiB"},
    {"TmpSizeAbove16GiB", group_sandbox("tmp_size = \"17GiB\""),
     "hello.toml:6:12: agents[0].sandbox.tmp_size = \"17GiB\": must be between 1MiB and 16GiB"},
    {"TmpSizeThatIsNotASize", swarm_sandbox("tmp_size = \"big\""),
     "hello.toml:3:12: sandbox.tmp_size = \"big\": must be a size like \"64KiB\" or \"1MiB\", or "
     "a number of bytes"},
    {"MaxRuntimeAbove720h", swarm_sandbox("max_runtime = \"721h\""),
     "hello.toml:3:15: sandbox.max_runtime = \"721h\": must be between 0s and 720h"},
    {"MaxRuntimeWithoutUnit", swarm_sandbox("max_runtime = 600"),
     "hello.toml:3:15: sandbox.max_runtime = 600: must be a duration string like \"10s\" or "
     "\"500ms\""},
    {"NofileBelow16", swarm_sandbox("[sandbox.rlimits]\nnofile = 8"),
     "hello.toml:4:10: sandbox.rlimits.nofile = 8: must be between 16 and 1048576"},
    {"NofileAsAString", group_sandbox("rlimits = { nofile = \"64\" }"),
     "hello.toml:6:22: agents[0].sandbox.rlimits.nofile = \"64\": must be an integer"},
    {"NprocOfZero", swarm_sandbox("[sandbox.rlimits]\nnproc = 0"),
     "hello.toml:4:9: sandbox.rlimits.nproc = 0: must be between 1 and 1000000"},
    {"FsizeBelow1MiB", swarm_sandbox("[sandbox.rlimits]\nfsize = \"1KiB\""),
     "hello.toml:4:9: sandbox.rlimits.fsize = \"1KiB\": must be between 1MiB and 16TiB"},
    {"AsBelow64MiB", swarm_sandbox("[sandbox.rlimits]\nas = \"1MiB\""),
     "hello.toml:4:6: sandbox.rlimits.as = \"1MiB\": must be between 64MiB and 128TiB"},
    {"StackAbove1GiB", swarm_sandbox("[sandbox.rlimits]\nstack = \"2GiB\""),
     "hello.toml:4:9: sandbox.rlimits.stack = \"2GiB\": must be between 128KiB and 1GiB"},
    {"CpuOfAFractionOfASecond", swarm_sandbox("[sandbox.rlimits]\ncpu = \"1.5s\""),
     "hello.toml:4:7: sandbox.rlimits.cpu = \"1.5s\": must be a whole number of seconds, like "
     "\"90s\" or \"10m\""},
    {"CpuOfZero", swarm_sandbox("[sandbox.rlimits]\ncpu = \"0s\""),
     "hello.toml:4:7: sandbox.rlimits.cpu = \"0s\": must be between 1s and 720h"},
    {"CpuAsAnInteger", swarm_sandbox("[sandbox.rlimits]\ncpu = 60"),
     "hello.toml:4:7: sandbox.rlimits.cpu = 60: must be a duration string like \"10s\" or "
     "\"500ms\""},
};

INSTANTIATE_TEST_SUITE_P(SandboxSpec, BadSpecTest, ::testing::ValuesIn(kBadSandboxes),
                         bad_spec_name);

TEST(SandboxSpec, ReportsEveryProblemOfEveryTableAtOnce) {
  EXPECT_THAT(
      problems_of(R"(name = "hello"
[sandbox]
allow = ["frob", "read", "ptrace"]
tmp_size = "1KiB"
[[agents]]
role = "a"
command = ["x"]
[agents.sandbox]
profile = "lax"
read_only = ["../up"]
)"),
      ElementsAre("hello.toml:3:10: sandbox.allow[0] = \"frob\": is not a system call libseccomp "
                  "knows",
                  "hello.toml:3:26: sandbox.allow[2] = \"ptrace\": is denied to every agent, "
                  "whatever a policy allows",
                  "hello.toml:4:12: sandbox.tmp_size = \"1KiB\": must be between 1MiB and 16GiB",
                  "hello.toml:9:11: agents[0].sandbox.profile = \"lax\": must be \"default\" or "
                  "\"strict\"",
                  "hello.toml:10:14: agents[0].sandbox.read_only[0] = \"../up\": must be "
                  "normalized: no \"//\", \".\" or \"..\" and no trailing '/'"));
}

}  // namespace
}  // namespace smol::spec
