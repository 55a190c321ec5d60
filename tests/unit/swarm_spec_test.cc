#include "supervisor/swarm_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "tests/unit/bad_spec.h"

namespace smol::spec {
namespace {

using std::chrono::milliseconds;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

// A valid swarm whose one group ends with `extra`, which starts on line 5.
std::string group_with(std::string_view extra) {
  return "name = \"hello\"\n"
         "[[agents]]\n"
         "role = \"greeter\"\n"
         "command = [\"smol-echo-agent\"]\n" +
         std::string(extra) + "\n";
}

// A valid swarm whose one group is exactly `body`, which starts on line 3.
std::string group_of(std::string_view body) {
  return "name = \"hello\"\n[[agents]]\n" + std::string(body) + "\n";
}

// True when a problem line holds no raw control character from the input.
// (A plain predicate: the tests link gtest, not gmock's library.)
bool is_printable(const std::string& line) {
  return std::none_of(line.begin(), line.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}
const auto IsPrintable = [] { return ::testing::Truly(is_printable); };

// --- Good specs -----------------------------------------------------------

TEST(SwarmSpec, ParsesTheHelloExample) {
  std::ifstream file(std::filesystem::path(__FILE__).parent_path() / "../../examples/hello.toml");
  ASSERT_TRUE(file) << "examples/hello.toml not found";
  std::stringstream text;
  text << file.rdbuf();

  SwarmSpec spec = parse_swarm_spec(text.str(), "hello.toml");

  EXPECT_EQ(spec.name, "hello");
  ASSERT_THAT(spec.agents, SizeIs(1));
  const AgentGroupSpec& g = spec.agents[0];
  EXPECT_EQ(g.role, "greeter");
  EXPECT_THAT(g.command, ElementsAre("smol-echo-agent"));
  EXPECT_EQ(g.count, 4u);
  EXPECT_THAT(g.env, ElementsAre(std::pair<std::string, std::string>("GREETING", "hi")));
  EXPECT_EQ(spec.total_agents(), 4u);
}

TEST(SwarmSpec, LeftOutKeysTakeTheirDefaults) {
  SwarmSpec spec = parse_swarm_spec(group_with(""), "hello.toml");
  const AgentGroupSpec& g = spec.agents.at(0);
  EXPECT_EQ(g.count, 1u);
  EXPECT_TRUE(g.env.empty());
  EXPECT_EQ(g.restart, RestartPolicy::never);
  EXPECT_EQ(g.max_restarts, 5u);
  EXPECT_EQ(g.ready_timeout, std::nullopt);
}

TEST(SwarmSpec, ReadsEveryGroupKey) {
  SwarmSpec spec = parse_swarm_spec(R"(
name = "research-1"

[[agents]]
role = "lead"
command = ["/opt/agents/lead", "--model", "small"]
restart = "always"
max_restarts = 0
ready_timeout = "1.5s"

[[agents]]
role = "worker_2"
command = ["./bin/worker"]
count = 3
restart = "on-failure"
max_restarts = 1000
ready_timeout = "2m"
env = { ZED = "last in the alphabet, first in the file", ALPHA = "", PATH = "/bin" }
)",
                                    "research.toml");
  EXPECT_EQ(spec.name, "research-1");
  ASSERT_THAT(spec.agents, SizeIs(2));

  const AgentGroupSpec& lead = spec.agents[0];
  EXPECT_EQ(lead.role, "lead");
  EXPECT_THAT(lead.command, ElementsAre("/opt/agents/lead", "--model", "small"));
  EXPECT_EQ(lead.restart, RestartPolicy::always);
  EXPECT_EQ(lead.max_restarts, 0u);
  EXPECT_EQ(lead.ready_timeout, milliseconds(1500));

  const AgentGroupSpec& worker = spec.agents[1];
  EXPECT_EQ(worker.role, "worker_2");
  EXPECT_THAT(worker.command, ElementsAre("./bin/worker"));
  EXPECT_EQ(worker.count, 3u);
  EXPECT_EQ(worker.restart, RestartPolicy::on_failure);
  EXPECT_EQ(worker.max_restarts, 1000u);
  EXPECT_EQ(worker.ready_timeout, milliseconds(120'000));
  using Var = std::pair<std::string, std::string>;
  EXPECT_THAT(worker.env, ElementsAre(Var("ZED", "last in the alphabet, first in the file"),
                                      Var("ALPHA", ""), Var("PATH", "/bin")));
  EXPECT_EQ(spec.total_agents(), 4u);
}

TEST(SwarmSpec, EnvAsASubTableKeepsFileOrder) {
  SwarmSpec spec = parse_swarm_spec(group_with("[agents.env]\nB = \"2\"\nA = \"1\""), "x.toml");
  using Var = std::pair<std::string, std::string>;
  EXPECT_THAT(spec.agents.at(0).env, ElementsAre(Var("B", "2"), Var("A", "1")));
}

TEST(SwarmSpec, AcceptsValuesAtTheirLimits) {
  std::string name(kMaxNameLength, 'a');
  SwarmSpec spec = parse_swarm_spec("name = \"" + name + R"("
[[agents]]
role = "0"
command = ["a"]
count = 10000
max_restarts = 1000
ready_timeout = "10ms"
)",
                                    "x.toml");
  EXPECT_EQ(spec.name, name);
  EXPECT_EQ(spec.total_agents(), kMaxAgentsPerSwarm);
  EXPECT_EQ(spec.agents[0].ready_timeout, milliseconds(10));
  EXPECT_EQ(
      parse_swarm_spec(group_with("ready_timeout = \"1h\""), "x.toml").agents[0].ready_timeout,
      milliseconds(3'600'000));
}

TEST(SwarmSpec, AcceptsAThousandGroups) {
  std::string text = "name = \"big\"\n";
  for (int i = 0; i < 1000; ++i) {
    text += "[[agents]]\nrole = \"r" + std::to_string(i) + "\"\ncommand = [\"a\"]\n";
  }
  EXPECT_EQ(parse_swarm_spec(text, "x.toml").agents.size(), kMaxGroups);
}

// --- Bad specs: each names the file, line, column, path, value and rule ---

const std::vector<BadSpec> kBadSpecs = {
    {"RejectsCountOfZero", group_with("count = 0"),
     "hello.toml:5:9: agents[0].count = 0: must be between 1 and 10000"},
    {"RejectsCountAboveTheGroupLimit", group_with("count = 10001"),
     "hello.toml:5:9: agents[0].count = 10001: must be between 1 and 10000"},
    {"RejectsCountGivenAsAString", group_with("count = \"4\""),
     "hello.toml:5:9: agents[0].count = \"4\": must be an integer"},
    {"RejectsCountGivenAsAFloat", group_with("count = 4.0"),
     "hello.toml:5:9: agents[0].count = 4.0: must be an integer"},
    {"RejectsUnknownKeySuggestingTheClosest", group_with("cuont = 4"),
     "hello.toml:5:1: unknown key 'cuont' in agents[0]; did you mean 'count'?"},
    {"RejectsUnknownKeyListingTheKnownOnesWhenNoneIsClose", group_with("colour = \"red\""),
     "hello.toml:5:1: unknown key 'colour' in agents[0]; expected role, command, count, env, "
     "restart, max_restarts, ready_timeout, sandbox, limits, permissions or protocol"},
    {"RejectsNameWithUppercaseAndSpace",
     "name = \"Hello World\"\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]",
     "hello.toml:1:8: name = \"Hello World\": must be 1 to 63 characters of a-z, 0-9, '_' and '-', "
     "starting with a letter or digit"},
    {"RejectsNameStartingWithDash", "name = \"-x\"\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]",
     "hello.toml:1:8: name = \"-x\": must be 1 to 63 characters of a-z, 0-9, '_' and '-', "
     "starting with a letter or digit"},
    {"RejectsNameLongerThan63",
     "name = \"" + std::string(64, 'a') + "\"\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]",
     "hello.toml:1:8: name = \"" + std::string(59, 'a') +
         "…: must be 1 to 63 characters of a-z, "
         "0-9, '_' and '-', starting with a letter or digit"},
    {"RejectsNameOfWrongType", "name = 7\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]",
     "hello.toml:1:8: name = 7: must be a string"},
    {"RejectsEmptyAgentsArray", "name = \"hello\"\nagents = []\n",
     "hello.toml:2:10: agents = []: must be one or more [[agents]] sections"},
    {"RejectsAgentsThatAreNotTables", "name = \"hello\"\nagents = [1]\n",
     "hello.toml:2:11: agents[0] = 1: must be a table, written as an [[agents]] section"},
    {"RejectsRoleWithForbiddenCharacters", group_of("role = \"Greeter!\"\ncommand = [\"a\"]"),
     "hello.toml:3:8: agents[0].role = \"Greeter!\": must be 1 to 63 characters of a-z, 0-9, '_' "
     "and '-', starting with a letter or digit"},
    {"RejectsDuplicateRoleAtTheSecondOne",
     group_with("[[agents]]\nrole = \"greeter\"\ncommand = [\"b\"]"),
     "hello.toml:6:8: agents[1].role = \"greeter\": is also the role of agents[0]; roles must be "
     "unique within a swarm"},
    {"RejectsEmptyCommand", group_of("role = \"a\"\ncommand = []"),
     "hello.toml:4:11: agents[0].command = []: must be a non-empty array of strings, the program "
     "and its arguments, like [\"smol-echo-agent\", \"--verbose\"]"},
    {"RejectsCommandGivenAsAString", group_of("role = \"a\"\ncommand = \"smol-echo-agent -v\""),
     "hello.toml:4:11: agents[0].command = \"smol-echo-agent -v\": must be a non-empty array of "
     "strings, the program and its arguments, like [\"smol-echo-agent\", \"--verbose\"]"},
    {"RejectsEmptyArgumentAtItsPosition", group_of("role = \"a\"\ncommand = [\"a\", \"\"]"),
     "hello.toml:4:17: agents[0].command[1] = \"\": must not be empty"},
    {"RejectsNonStringArgument", group_of("role = \"a\"\ncommand = [\"a\", 1]"),
     "hello.toml:4:17: agents[0].command[1] = 1: must be a string"},
    {"RejectsNulInCommandShowingItEscaped", group_of("role = \"a\"\ncommand = [\"a\\u0000b\"]"),
     "hello.toml:4:12: agents[0].command[0] = \"a\\u0000b\": must not contain NUL bytes"},
    {"RejectsProgramPathEndingInSlash", group_of("role = \"a\"\ncommand = [\"bin/\"]"),
     "hello.toml:4:12: agents[0].command[0] = \"bin/\": must name a program file, not a directory"},
    {"RejectsEnvNameThatIsNotAnIdentifierAtTheKey",
     group_with("env = { OK = \"1\", 1BAD = \"2\" }"),
     "hello.toml:5:19: agents[0].env.1BAD: variable names must match [A-Za-z_][A-Za-z0-9_]*"},
    {"RejectsEnvNamesReservedForTheDaemon", group_with("env = { SMOLSWARMS_AGENT_ID = \"me\" }"),
     "hello.toml:5:9: agents[0].env.SMOLSWARMS_AGENT_ID: names starting with SMOLSWARMS_ are "
     "reserved for the daemon"},
    {"RejectsEnvValueThatIsNotAString", group_with("env = { PORT = 8080 }"),
     "hello.toml:5:16: agents[0].env.PORT = 8080: must be a string"},
    {"RejectsEnvThatIsNotATable", group_with("env = \"A=b\""),
     "hello.toml:5:7: agents[0].env = \"A=b\": must be a table"},
    {"RejectsUnknownRestartPolicyListingTheChoices", group_with("restart = \"on_failure\""),
     "hello.toml:5:11: agents[0].restart = \"on_failure\": must be \"never\", \"on-failure\" or "
     "\"always\""},
    {"RejectsNegativeMaxRestarts", group_with("max_restarts = -1"),
     "hello.toml:5:16: agents[0].max_restarts = -1: must be between 0 and 1000"},
    {"RejectsMaxRestartsAbove1000", group_with("max_restarts = 1001"),
     "hello.toml:5:16: agents[0].max_restarts = 1001: must be between 0 and 1000"},
    {"RejectsReadyTimeoutBelow10ms", group_with("ready_timeout = \"5ms\""),
     "hello.toml:5:17: agents[0].ready_timeout = \"5ms\": must be between 10ms and 1h"},
    {"RejectsReadyTimeoutAboveAnHour", group_with("ready_timeout = \"61m\""),
     "hello.toml:5:17: agents[0].ready_timeout = \"61m\": must be between 10ms and 1h"},
    {"RejectsReadyTimeoutWithoutAUnit", group_with("ready_timeout = \"10\""),
     "hello.toml:5:17: agents[0].ready_timeout = \"10\": must be a number with a unit ms, s, m or "
     "h, like \"500ms\", \"1.5s\" or \"2m\""},
    {"RejectsReadyTimeoutGivenAsANumber", group_with("ready_timeout = 10"),
     "hello.toml:5:17: agents[0].ready_timeout = 10: must be a duration string like \"10s\" or "
     "\"500ms\""},
    {"RejectsMoreThan10000AgentsAtTheGroupThatCrossesTheLimit",
     group_with("count = 6000\n"
                "[[agents]]\nrole = \"b\"\ncommand = [\"b\"]\ncount = 4001\n"
                "[[agents]]\nrole = \"c\"\ncommand = [\"c\"]\ncount = 5"),
     "hello.toml:9:9: agents[1].count = 4001: brings the swarm to 10001 agents; at most 10000 are "
     "allowed in total"},
    {"RejectsCrossingTheAgentLimitWithADefaultCountAtTheGroup",
     group_with("count = 10000\n[[agents]]\nrole = \"b\"\ncommand = [\"b\"]"),
     "hello.toml:6:1: agents[1]: brings the swarm to 10001 agents; at most 10000 are allowed in "
     "total"},
    {"ReportsRedefinedKeyWithTomlsPositionAndDescription", "name = \"hello\"\nname = \"again\"\n",
     "hello.toml:2:8: Error while parsing key-value pair: cannot redefine existing string 'name'"},
};

INSTANTIATE_TEST_SUITE_P(SwarmSpec, BadSpecTest, ::testing::ValuesIn(kBadSpecs), bad_spec_name);

TEST(SwarmSpec, RejectsUnknownTopLevelKey) {
  EXPECT_THAT(problems_of("nmae = \"hello\"\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]\n"),
              ElementsAre("hello.toml:1:1: unknown key 'nmae'; did you mean 'name'?",
                          "hello.toml:1:1: missing required key 'name'"));
}

TEST(SwarmSpec, RejectsMissingNameAndAgentsAtTheTop) {
  EXPECT_THAT(problems_of(""), ElementsAre("hello.toml:1:1: missing required key 'name'",
                                           "hello.toml:1:1: missing required key 'agents'"));
}

TEST(SwarmSpec, RejectsGroupWithoutRoleOrCommandAtTheGroupsHeader) {
  EXPECT_THAT(problems_of(group_of("count = 2")),
              ElementsAre("hello.toml:2:1: agents[0]: missing required key 'role'",
                          "hello.toml:2:1: agents[0]: missing required key 'command'"));
}

TEST(SwarmSpec, RejectsMoreThanAThousandGroupsAtTheFirstOneTooMany) {
  std::string text = "name = \"big\"\n";
  for (int i = 0; i <= 1000; ++i) {
    text += "[[agents]]\nrole = \"r" + std::to_string(i) + "\"\ncommand = [\"a\"]\n";
  }
  // Group i starts on line 2 + 3 * i.
  EXPECT_THAT(problems_of(text),
              ElementsAre("hello.toml:3002:1: agents[1000]: a swarm has at most 1000 [[agents]] "
                          "sections"));
}

TEST(SwarmSpec, ReportsSyntaxErrorsWithTomlsPositionAndDescription) {
  EXPECT_THAT(problems_of(group_with("count = ")),
              ElementsAre(AllOf(HasSubstr("hello.toml:5:"), HasSubstr("Error while parsing"))));
}

// --- Several problems at once -----------------------------------------------

TEST(SwarmSpec, ReportsEveryProblemInFileOrder) {
  std::vector<std::string> problems = problems_of(R"(name = "Bad Name"
[[agents]]
role = "a"
command = []
count = 0
restart = "sometimes"
[[agents]]
role = "a"
command = ["b"]
ready_timout = "1s"
)");
  EXPECT_THAT(problems,
              ElementsAre(HasSubstr("hello.toml:1:8: name = \"Bad Name\""),
                          HasSubstr("hello.toml:4:11: agents[0].command = []"),
                          HasSubstr("hello.toml:5:9: agents[0].count = 0"),
                          HasSubstr("hello.toml:6:11: agents[0].restart = \"sometimes\""),
                          HasSubstr("hello.toml:8:8: agents[1].role = \"a\": is also the role"),
                          "hello.toml:10:1: unknown key 'ready_timout' in agents[1]; did you mean "
                          "'ready_timeout'?"));
}

TEST(SwarmSpec, WhatJoinsTheProblemsOnePerLine) {
  try {
    parse_swarm_spec(group_with("count = 0\nrestart = 1"), "hello.toml");
    FAIL() << "accepted";
  } catch (const SpecError& e) {
    EXPECT_EQ(std::string(e.what()),
              "hello.toml:5:9: agents[0].count = 0: must be between 1 and 10000\n"
              "hello.toml:6:11: agents[0].restart = 1: must be a string");
  }
}

TEST(SwarmSpec, CapsAFloodOfProblems) {
  std::string text = "name = \"flood\"\n";
  for (int i = 0; i < 500; ++i) text += "[[agents]]\n";
  std::vector<std::string> problems = problems_of(text);
  ASSERT_THAT(problems, SizeIs(101));
  EXPECT_EQ(problems.back(), "hello.toml: 900 more problems not shown");
}

// --- Hostile input: always an error, never a crash -------------------------

TEST(SwarmSpec, RejectsBinaryGarbage) {
  std::mt19937 random(42);
  for (int round = 0; round < 200; ++round) {
    std::string garbage(1 + random() % 512, '\0');
    for (char& c : garbage) c = static_cast<char>(random());
    EXPECT_THAT(problems_of(garbage), AllOf(Not(SizeIs(0)), Each(IsPrintable())));
  }
}

TEST(SwarmSpec, RejectsAMegabyteNameWithAShortMessage) {
  std::string text = "name = \"" + std::string(1 << 20, 'a') + "\"\n[[agents]]\nrole = \"a\"\n" +
                     "command = [\"a\"]\n";
  std::vector<std::string> problems = problems_of(text);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_THAT(problems[0], HasSubstr("hello.toml:1:8: name = \"aaaa"));
  EXPECT_LT(problems[0].size(), 300u);
}

TEST(SwarmSpec, RejectsDeeplyNestedArrays) {
  std::string deep = "name = " + std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_THAT(problems_of(deep), ElementsAre(HasSubstr("exceeded maximum nested value depth")));
  // Just inside toml++'s limit: it parses, and the message shows the value cut short.
  std::string nested = "name = " + std::string(200, '[') + std::string(200, ']') +
                       "\n[[agents]]\nrole = \"a\"\ncommand = [\"a\"]";
  std::vector<std::string> problems = problems_of(nested);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_THAT(problems[0],
              AllOf(HasSubstr("hello.toml:1:8: name = [[[["), HasSubstr("…: must be a string")));
}

TEST(SwarmSpec, RejectsRawNulBytesInTheText) {
  std::string text = group_with("count = 1");
  text[3] = '\0';
  EXPECT_THAT(problems_of(text), ElementsAre(AllOf(HasSubstr("hello.toml:1:"), IsPrintable())));
  EXPECT_THAT(problems_of(std::string("name = \"a\0b\"", 11)),
              ElementsAre(AllOf(HasSubstr("hello.toml:1:"), IsPrintable())));
}

TEST(SwarmSpec, EscapesControlCharactersFromTheInput) {
  std::vector<std::string> problems = problems_of(
      "name = \"\\u001b[31mred\\r\"\n\"key\\nwith\\u009bnewline\" = 1\n"
      "[[agents]]\nrole = \"a\"\ncommand = [\"a\"]\n");
  EXPECT_THAT(problems, Each(IsPrintable()));
  EXPECT_THAT(problems, Contains(HasSubstr("name = \"\\u001B[31mred\\r\"")));
  EXPECT_THAT(problems, Contains(HasSubstr("unknown key 'key\\nwith\\u009Bnewline'")));
  std::string c1 = "\xc2\x9b";
  EXPECT_THAT(problems, Each(Not(HasSubstr(c1))));
}

TEST(SwarmSpec, EscapesControlCharactersInTheSourceName) {
  try {
    parse_swarm_spec("", "evil\x1b[2J.toml");
    FAIL() << "accepted";
  } catch (const SpecError& e) {
    EXPECT_THAT(e.problems(), Contains(HasSubstr("evil\\u001B[2J.toml:1:1: missing required key")));
  }
}

}  // namespace
}  // namespace smol::spec
