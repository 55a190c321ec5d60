// The [limits] tables of a swarm spec, as a user writes them: through
// parse_swarm_spec, so positions, paths and values are what `swarmctl up`
// reports and what the swarm's cgroups get.
#include "supervisor/limits_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/swarm_spec.h"
#include "tests/unit/bad_spec.h"

namespace smol::sandbox {

// Lets gtest show limits as fields rather than bytes.
void PrintTo(const CgroupLimits& l, std::ostream* os) {
  auto field = [&](const char* name, const auto& value) {
    *os << name << '=';
    if (value) {
      *os << *value;
    } else {
      *os << "unset";
    }
  };
  field("{memory", l.memory);
  field(", memory_swap", l.memory_swap);
  field(", pids", l.pids);
  field(", cpu", l.cpu);
  field(", io_weight", l.io_weight);
  *os << '}';
}

}  // namespace smol::sandbox

namespace smol::spec {
namespace {

using ::testing::ElementsAre;

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kTiB = 1ull << 40;

// A valid swarm of one group, with a [limits] table holding `pool` (from
// line 3 on) and an [agents.limits] table holding `agent` (from line 8 when
// pool is one line), each left out when nullopt.
std::string pool_and_group(std::optional<std::string_view> pool,
                           std::optional<std::string_view> agent) {
  std::string text = "name = \"hello\"\n";
  if (pool) text += "[limits]\n" + std::string(*pool) + "\n";
  text += "[[agents]]\nrole = \"greeter\"\ncommand = [\"smol-echo-agent\"]\n";
  if (agent) text += "[agents.limits]\n" + std::string(*agent) + "\n";
  return text;
}

// The pool holds `table`, from line 3 on.
std::string swarm_limits(std::string_view table) { return pool_and_group(table, std::nullopt); }

// The group's table holds `table`, from line 6 on.
std::string group_limits(std::string_view table) { return pool_and_group(std::nullopt, table); }

sandbox::CgroupLimits pool_of(const std::string& text) {
  return parse_swarm_spec(text, "hello.toml").limits;
}

sandbox::CgroupLimits agent_limits_of(const std::string& text, size_t group = 0) {
  return parse_swarm_spec(text, "hello.toml").agents.at(group).limits;
}

// --- Good tables ---------------------------------------------------------

TEST(LimitsSpec, WithoutTablesNothingIsLimited) {
  SwarmSpec spec = parse_swarm_spec(
      "name = \"hello\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n", "hello.toml");
  EXPECT_EQ(spec.limits, sandbox::CgroupLimits{});
  EXPECT_EQ(spec.agents[0].limits, sandbox::CgroupLimits{});
}

// A table and what it reads as, in the pool and in a group alike.
struct GoodTable {
  std::string behaviour;  // the test's name
  std::string table;
  sandbox::CgroupLimits limits;
};

void PrintTo(const GoodTable& good, std::ostream* os) { *os << good.behaviour; }

// Limits with one field set.
template <typename T, typename V>
sandbox::CgroupLimits only(std::optional<T> sandbox::CgroupLimits::*field, V value) {
  sandbox::CgroupLimits limits;
  limits.*field = static_cast<T>(value);
  return limits;
}

const std::vector<GoodTable> kGoodTables = {
    {"EveryKey",
     "memory = \"2GiB\"\nmemory_swap = \"1GiB\"\npids = 512\ncpu = 1.5\nio_weight = 100",
     {.memory = 2 * kGiB, .memory_swap = kGiB, .pids = 512, .cpu = 1.5, .io_weight = 100}},
    {"TheLowEndOfEachRange",
     "memory = \"4MiB\"\nmemory_swap = 0\npids = 1\ncpu = 0.01\nio_weight = 1",
     {.memory = 4 * kMiB, .memory_swap = 0, .pids = 1, .cpu = 0.01, .io_weight = 1}},
    {"TheHighEndOfEachRange",
     "memory = \"16TiB\"\nmemory_swap = 17592186044416\npids = 4194304\ncpu = 1024\n"
     "io_weight = 10000",
     {.memory = 16 * kTiB,
      .memory_swap = 16 * kTiB,
      .pids = 4194304,
      .cpu = 1024.0,
      .io_weight = 10000}},
    {"MemoryAsAnIntegerIsBytes", "memory = 4194304",
     only(&sandbox::CgroupLimits::memory, 4 * kMiB)},
    {"MemoryInDecimalUnits", "memory = \"10MB\"", only(&sandbox::CgroupLimits::memory, 10'000'000)},
    {"CpuAsAnInteger", "cpu = 2", only(&sandbox::CgroupLimits::cpu, 2.0)},
    {"AnEmptyTable", "", {}},
};

class GoodTableTest : public ::testing::TestWithParam<GoodTable> {};

TEST_P(GoodTableTest, ReadsTheSameAsThePoolAndAsAGroup) {
  EXPECT_EQ(pool_of(swarm_limits(GetParam().table)), GetParam().limits);
  EXPECT_EQ(agent_limits_of(group_limits(GetParam().table)), GetParam().limits);
}

INSTANTIATE_TEST_SUITE_P(LimitsSpec, GoodTableTest, ::testing::ValuesIn(kGoodTables),
                         [](const auto& info) { return info.param.behaviour; });

TEST(LimitsSpec, ThePoolIsNotCopiedIntoTheGroupsNorAGroupsIntoAnother) {
  SwarmSpec spec = parse_swarm_spec(R"(name = "hello"
[limits]
memory = "1GiB"
[[agents]]
role = "lead"
command = ["x"]
limits = { pids = 10 }
[[agents]]
role = "worker"
command = ["x"]
)",
                                    "hello.toml");
  EXPECT_EQ(spec.limits.memory, kGiB);
  EXPECT_EQ(spec.limits.pids, std::nullopt);
  EXPECT_EQ(spec.agents[0].limits.memory, std::nullopt);
  EXPECT_EQ(spec.agents[0].limits.pids, 10u);
  EXPECT_EQ(spec.agents[1].limits, sandbox::CgroupLimits{});
}

TEST(LimitsSpec, AGroupMayAskForAsMuchAsThePool) {
  sandbox::CgroupLimits agent = agent_limits_of(pool_and_group(
      "memory = \"2GiB\"\npids = 512\ncpu = 1.5", "memory = 2147483648\npids = 512\ncpu = 1.5"));
  EXPECT_EQ(agent.memory, 2 * kGiB);
  EXPECT_EQ(agent.pids, 512u);
  EXPECT_EQ(agent.cpu, 1.5);
}

TEST(LimitsSpec, KeysThePoolLeavesUnsetBoundNoGroup) {
  sandbox::CgroupLimits agent =
      agent_limits_of(pool_and_group("memory = \"1GiB\"", "pids = 4194304\ncpu = 1024"));
  EXPECT_EQ(agent.pids, 4194304u);
  EXPECT_EQ(agent.cpu, 1024.0);
}

TEST(LimitsSpec, ThePoolBoundsGroupsWhereverItIsWritten) {
  // A [limits] header after the [[agents]] sections is still the root's.
  EXPECT_THAT(problems_of(R"(name = "hello"
[[agents]]
role = "greeter"
command = ["x"]
[agents.limits]
pids = 100
[limits]
pids = 10
)"),
              ElementsAre("hello.toml:6:8: agents[0].limits.pids = 100: exceeds the swarm's "
                          "[limits] pids = 10"));
}

TEST(LimitsSpec, SpecsWithTheSameLimitsCompareEqualAndDifferentOnesDoNot) {
  auto spec = [](std::string_view pool, std::string_view agent) {
    return parse_swarm_spec(pool_and_group(pool, agent), "f");
  };
  EXPECT_EQ(spec("memory = \"1GiB\"", "cpu = 1"), spec("memory = 1073741824", "cpu = 1.0"));
  EXPECT_FALSE(spec("memory = \"1GiB\"", "cpu = 1") == spec("memory = \"2GiB\"", "cpu = 1"));
  EXPECT_FALSE(spec("memory = \"1GiB\"", "cpu = 1") == spec("memory = \"1GiB\"", "cpu = 0.5"));
  EXPECT_FALSE(spec("pids = 5", "") == spec("", "pids = 5"));
}

// --- Each rule, with its position -----------------------------------------

const std::vector<BadSpec> kBadLimits = {
    // Tables and keys.
    {"LimitsThatAreNotATable",
     "name = \"hello\"\nlimits = \"2GiB\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n",
     "hello.toml:2:10: limits = \"2GiB\": must be a table"},
    {"GroupLimitsThatAreNotATable",
     "name = \"hello\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\nlimits = 512\n",
     "hello.toml:5:10: agents[0].limits = 512: must be a table"},
    {"MisspeltLimitsTableGetsASuggestion",
     "name = \"hello\"\n[limit]\nmemory = \"1GiB\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n",
     "hello.toml:2:2: unknown key 'limit'; did you mean 'limits'?"},
    {"MisspeltGroupLimitsTableGetsASuggestion",
     "name = \"hello\"\n[[agents]]\nrole = \"a\"\ncommand = [\"x\"]\n[agents.limit]\npids = 1\n",
     "hello.toml:5:9: unknown key 'limit' in agents[0]; did you mean 'limits'?"},
    {"UnknownKeyGetsASuggestion", swarm_limits("memroy = \"1GiB\""),
     "hello.toml:3:1: unknown key 'memroy' in limits; did you mean 'memory'?"},
    {"UnknownKeyOfAGroupGetsASuggestion", group_limits("cpus = 2"),
     "hello.toml:6:1: unknown key 'cpus' in agents[0].limits; did you mean 'cpu'?"},
    {"IoWeightWithADashGetsASuggestion", group_limits("io-weight = 100"),
     "hello.toml:6:1: unknown key 'io-weight' in agents[0].limits; did you mean 'io_weight'?"},
    {"UnknownKeyFarFromAnyListsThem", swarm_limits("nofile = 64"),
     "hello.toml:3:1: unknown key 'nofile' in limits; expected memory, memory_swap, pids, cpu or "
     "io_weight"},

    // memory
    {"MemoryBelow4MiB", swarm_limits("memory = \"4095KiB\""),
     "hello.toml:3:10: limits.memory = \"4095KiB\": must be between 4MiB and 16TiB"},
    {"MemoryOfOneByteTooFewAsAnInteger", swarm_limits("memory = 4194303"),
     "hello.toml:3:10: limits.memory = 4194303: must be between 4MiB and 16TiB"},
    {"MemoryOfZero", group_limits("memory = 0"),
     "hello.toml:6:10: agents[0].limits.memory = 0: must be between 4MiB and 16TiB"},
    {"MemoryAbove16TiB", group_limits("memory = 17592186044417"),
     "hello.toml:6:10: agents[0].limits.memory = 17592186044417: must be between 4MiB and 16TiB"},
    {"MemoryAbove16TiBAsAString", swarm_limits("memory = \"17TiB\""),
     "hello.toml:3:10: limits.memory = \"17TiB\": must be between 4MiB and 16TiB"},
    {"MemoryThatIsNotASize", swarm_limits("memory = \"2 GiB\""),
     "hello.toml:3:10: limits.memory = \"2 GiB\": must be a size like \"64KiB\" or \"1MiB\", or "
     "a number of bytes"},
    {"MemoryThatIsNegative", swarm_limits("memory = -1"),
     "hello.toml:3:10: limits.memory = -1: must be a size like \"64KiB\" or \"1MiB\", or a number "
     "of bytes"},
    {"MemoryAsAFloat", swarm_limits("memory = 1.5"),
     "hello.toml:3:10: limits.memory = 1.5: must be a size like \"64KiB\" or \"1MiB\", or a "
     "number of bytes"},

    // memory_swap
    {"MemorySwapAbove16TiB", swarm_limits("memory = \"1GiB\"\nmemory_swap = \"32TiB\""),
     "hello.toml:4:15: limits.memory_swap = \"32TiB\": must be between 0B and 16TiB"},
    {"MemorySwapThatIsNegative", swarm_limits("memory = \"1GiB\"\nmemory_swap = -1"),
     "hello.toml:4:15: limits.memory_swap = -1: must be a size like \"64KiB\" or \"1MiB\", or a "
     "number of bytes"},
    {"MemorySwapWithoutMemory", swarm_limits("memory_swap = \"1GiB\""),
     "hello.toml:3:15: limits.memory_swap = \"1GiB\": needs memory set in the same table: it is "
     "swap on top of that memory"},
    {"MemorySwapOfAGroupWithMemoryOnlyInThePool",
     pool_and_group("memory = \"1GiB\"", "memory_swap = 0"),
     "hello.toml:8:15: agents[0].limits.memory_swap = 0: needs memory set in the same table: it is "
     "swap on top of that memory"},

    // pids
    {"PidsOfZero", swarm_limits("pids = 0"),
     "hello.toml:3:8: limits.pids = 0: must be between 1 and 4194304"},
    {"PidsAbovePidMaxLimit", group_limits("pids = 4194305"),
     "hello.toml:6:8: agents[0].limits.pids = 4194305: must be between 1 and 4194304"},
    {"PidsAsAString", swarm_limits("pids = \"512\""),
     "hello.toml:3:8: limits.pids = \"512\": must be an integer"},
    {"PidsAsAFloat", swarm_limits("pids = 512.0"),
     "hello.toml:3:8: limits.pids = 512.0: must be an integer"},

    // cpu
    {"CpuBelowOneHundredthOfACore", swarm_limits("cpu = 0.001"),
     "hello.toml:3:7: limits.cpu = 0.001: must be between 0.01 and 1024"},
    {"CpuOfZero", group_limits("cpu = 0"),
     "hello.toml:6:7: agents[0].limits.cpu = 0: must be between 0.01 and 1024"},
    {"CpuThatIsNegative", swarm_limits("cpu = -1.5"),
     "hello.toml:3:7: limits.cpu = -1.5: must be between 0.01 and 1024"},
    {"CpuAbove1024Cores", swarm_limits("cpu = 1024.01"),
     "hello.toml:3:7: limits.cpu = 1024.01: must be between 0.01 and 1024"},
    {"CpuAbove1024CoresAsAnInteger", group_limits("cpu = 1025"),
     "hello.toml:6:7: agents[0].limits.cpu = 1025: must be between 0.01 and 1024"},
    {"CpuThatIsNotANumber", swarm_limits("cpu = nan"),
     "hello.toml:3:7: limits.cpu = nan: must be between 0.01 and 1024"},
    {"CpuThatIsInfinite", swarm_limits("cpu = inf"),
     "hello.toml:3:7: limits.cpu = inf: must be between 0.01 and 1024"},
    {"CpuAsAString", swarm_limits("cpu = \"1.5\""),
     "hello.toml:3:7: limits.cpu = \"1.5\": must be a number of cores, like 1.5 or 2"},
    {"CpuAsAPercentage", group_limits("cpu = \"150%\""),
     "hello.toml:6:7: agents[0].limits.cpu = \"150%\": must be a number of cores, like 1.5 or 2"},

    // io_weight
    {"IoWeightOfZero", swarm_limits("io_weight = 0"),
     "hello.toml:3:13: limits.io_weight = 0: must be between 1 and 10000"},
    {"IoWeightAbove10000", group_limits("io_weight = 10001"),
     "hello.toml:6:13: agents[0].limits.io_weight = 10001: must be between 1 and 10000"},
    {"IoWeightAsAString", swarm_limits("io_weight = \"100\""),
     "hello.toml:3:13: limits.io_weight = \"100\": must be an integer"},

    // A group against the pool.
    {"GroupMemoryAboveThePools", pool_and_group("memory = \"2GiB\"", "memory = \"4GiB\""),
     "hello.toml:8:10: agents[0].limits.memory = \"4GiB\": exceeds the swarm's [limits] memory = "
     "\"2GiB\""},
    {"GroupMemoryOneByteAboveThePoolsInteger",
     pool_and_group("memory = 4194304", "memory = 4194305"),
     "hello.toml:8:10: agents[0].limits.memory = 4194305: exceeds the swarm's [limits] memory = "
     "4194304"},
    {"GroupPidsAboveThePools", pool_and_group("pids = 512", "pids = 513"),
     "hello.toml:8:8: agents[0].limits.pids = 513: exceeds the swarm's [limits] pids = 512"},
    {"GroupCpuAboveThePools", pool_and_group("cpu = 1.5", "cpu = 2"),
     "hello.toml:8:7: agents[0].limits.cpu = 2: exceeds the swarm's [limits] cpu = 1.5"},
    {"GroupCpuJustAboveThePools", pool_and_group("cpu = 1", "cpu = 1.01"),
     "hello.toml:8:7: agents[0].limits.cpu = 1.01: exceeds the swarm's [limits] cpu = 1"},
};

INSTANTIATE_TEST_SUITE_P(LimitsSpec, BadSpecTest, ::testing::ValuesIn(kBadLimits), bad_spec_name);

TEST(LimitsSpec, SwapAndIoWeightOfAGroupMayExceedThePools) {
  // io_weight is relative to siblings; swap is checked against nothing.
  sandbox::CgroupLimits agent = agent_limits_of(
      pool_and_group("memory = \"1GiB\"\nmemory_swap = 0\nio_weight = 10",
                     "memory = \"1GiB\"\nmemory_swap = \"1GiB\"\nio_weight = 1000"));
  EXPECT_EQ(agent.memory_swap, kGiB);
  EXPECT_EQ(agent.io_weight, 1000u);
}

TEST(LimitsSpec, ABadPoolValueIsReportedOnceAndBoundsNoGroup) {
  // The pool's memory is wrong, so it cannot be held against the group's;
  // swap beside a bad memory value is not reported as missing its memory.
  EXPECT_THAT(problems_of(pool_and_group("memory = \"2 GiB\"\nmemory_swap = \"1GiB\"",
                                         "memory = \"4GiB\"")),
              ElementsAre("hello.toml:3:10: limits.memory = \"2 GiB\": must be a size like "
                          "\"64KiB\" or \"1MiB\", or a number of bytes"));
}

TEST(LimitsSpec, ReportsEveryProblemOfEveryTableAtOnceInFileOrder) {
  EXPECT_THAT(
      problems_of(R"(name = "hello"
[limits]
memory = "2GiB"
pids = 0
cpu = 1.5
[[agents]]
role = "lead"
command = ["x"]
[agents.limits]
memory = "4GiB"
cpu = 1
[[agents]]
role = "worker"
command = ["x"]
[agents.limits]
cpu = 2
memory_swap = "1GiB"
iow = 5
)"),
      ElementsAre(
          "hello.toml:4:8: limits.pids = 0: must be between 1 and 4194304",
          "hello.toml:10:10: agents[0].limits.memory = \"4GiB\": exceeds the swarm's [limits] "
          "memory = \"2GiB\"",
          "hello.toml:16:7: agents[1].limits.cpu = 2: exceeds the swarm's [limits] cpu = 1.5",
          "hello.toml:17:15: agents[1].limits.memory_swap = \"1GiB\": needs memory set in the "
          "same table: it is swap on top of that memory",
          "hello.toml:18:1: unknown key 'iow' in agents[1].limits; expected memory, memory_swap, "
          "pids, cpu or io_weight"));
}

}  // namespace
}  // namespace smol::spec
