#include "supervisor/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace smol::config {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

// The message parse_config throws for text, which must be rejected.
std::string error_of(std::string_view text, Config base = {}) {
  try {
    parse_config(text, "swarmd.toml", base);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

TEST(Config, DefaultsNeedNoFile) {
  Config c = parse_config("", "swarmd.toml");
  EXPECT_EQ(c, Config{});
  EXPECT_EQ(c.state_dir, "/var/lib/smolswarms");
  EXPECT_EQ(c.socket_path, "/run/smolswarms/swarmd.sock");
  EXPECT_EQ(c.admin_group, "smolswarms");
  EXPECT_EQ(c.socket_mode, 0660u);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.ready_timeout, milliseconds(10'000));
  EXPECT_EQ(c.stop_grace, milliseconds(5'000));
  EXPECT_EQ(c.log_ring_bytes, 64u * 1024);
  EXPECT_EQ(c.log_file_bytes, 1024u * 1024);
  EXPECT_EQ(c.agent_uid_base, 1879048192u);
  EXPECT_EQ(c.agent_uid_count, 65536u);
}

TEST(Config, ReadsEveryKey) {
  Config c = parse_config(R"(
state_dir = "/srv/smol"
log_level = "debug"
[control]
socket = "/tmp/swarmd.sock"
group = "wheel"
socket_mode = "0600"
[metrics]
listen = "[::1]:0"
[agents]
ready_timeout = "1.5s"
stop_grace = "2m"
log_ring = "4KiB"
log_file_max = "0"
[sandbox]
uid_base = 1000
uid_count = 1
[messaging]
queue_messages = 10
queue_bytes = "64KiB"
max_payload = "2KiB"
request_timeout = "5s"
[memory]
durability = "batch"
batch_sync = "20ms"
)",
                          "swarmd.toml");
  EXPECT_EQ(c.state_dir, "/srv/smol");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.socket_path, "/tmp/swarmd.sock");
  EXPECT_EQ(c.admin_group, "wheel");
  EXPECT_EQ(c.socket_mode, 0600u);
  EXPECT_EQ(c.metrics_listen, "[::1]:0");
  EXPECT_EQ(c.ready_timeout, milliseconds(1500));
  EXPECT_EQ(c.stop_grace, milliseconds(120'000));
  EXPECT_EQ(c.log_ring_bytes, 4096u);
  EXPECT_EQ(c.log_file_bytes, 0u);
  EXPECT_EQ(c.agent_uid_base, 1000u);
  EXPECT_EQ(c.agent_uid_count, 1u);
  EXPECT_EQ(c.messaging.mailbox.messages, 10u);
  EXPECT_EQ(c.messaging.mailbox.bytes, 65536u);
  EXPECT_EQ(c.messaging.max_payload, 2048u);
  EXPECT_EQ(c.messaging.default_request_deadline, milliseconds(5000));
  EXPECT_EQ(c.memory_durability, Config::Durability::batch);
  EXPECT_EQ(c.memory_batch_sync, milliseconds(20));
}

TEST(Config, OverlayKeepsWhatItDoesNotMention) {
  Config base = parse_config("state_dir = \"/srv/a\"\n[metrics]\nlisten = \"off\"\n", "file");
  Config c = parse_config("[control]\nsocket = \"/tmp/s.sock\"\n", "command line", base);
  EXPECT_EQ(c.state_dir, "/srv/a");
  EXPECT_EQ(c.metrics_listen, "off");
  EXPECT_EQ(c.socket_path, "/tmp/s.sock");
  EXPECT_EQ(c.log_level, "info");
}

TEST(Config, LaterLayerWins) {
  Config base = parse_config("log_level = \"debug\"", "file");
  EXPECT_EQ(parse_config("log_level = \"error\"", "command line", base).log_level, "error");
}

TEST(Config, AcceptsByteSizesAsIntegersAndListenAddressesOfEachKind) {
  Config c = parse_config("[agents]\nlog_ring = 65536\nlog_file_max = \"1GiB\"", "f");
  EXPECT_EQ(c.log_ring_bytes, 65536u);
  EXPECT_EQ(c.log_file_bytes, 1ull << 30);
  for (const char* listen : {"0.0.0.0:9464", "localhost:65535", "[::]:80", "off"}) {
    EXPECT_EQ(
        parse_config(std::string("[metrics]\nlisten = \"") + listen + "\"", "f").metrics_listen,
        listen);
  }
}

TEST(Config, ToTomlParsesBackToTheSameConfig) {
  Config defaults;
  EXPECT_EQ(parse_config(to_toml(defaults), "printed"), defaults);

  Config odd;
  odd.state_dir = "/srv/with \"quotes\" and \\ and ünïcode";
  odd.socket_path = "/tmp/x.sock";
  odd.admin_group = "ops.team-1";
  odd.socket_mode = 07;
  odd.metrics_listen = "[fe80::1]:1";
  odd.log_level = "warning";
  odd.ready_timeout = milliseconds(3'600'250);
  odd.stop_grace = milliseconds(10);
  odd.log_ring_bytes = 4096 + 512;
  odd.log_file_bytes = 0;
  odd.agent_uid_base = 4'000'000'000u;
  odd.agent_uid_count = 294'967'294u;
  odd.messaging.mailbox.messages = 7;
  odd.messaging.mailbox.bytes = 1 << 20;
  odd.messaging.max_payload = 4096;
  odd.messaging.default_request_deadline = milliseconds(1500);
  odd.memory_durability = Config::Durability::none;
  odd.memory_batch_sync = milliseconds(3);
  // Parsed on top of something else, so every key must really be written.
  Config elsewhere = parse_config("log_level = \"debug\"\n[agents]\nlog_file_max = \"2MiB\"", "f");
  EXPECT_EQ(parse_config(to_toml(odd), "printed", elsewhere), odd);
}

TEST(Config, ToTomlIsCommentedAndShowsHumanUnits) {
  std::string text = to_toml(Config{});
  EXPECT_THAT(text, HasSubstr("# "));
  EXPECT_THAT(text, HasSubstr("socket_mode = \"0660\"\n"));
  EXPECT_THAT(text, HasSubstr("ready_timeout = \"10s\"\n"));
  EXPECT_THAT(text, HasSubstr("log_ring = \"64KiB\"\n"));
  EXPECT_THAT(text, HasSubstr("log_file_max = \"1MiB\"\n"));
  EXPECT_THAT(text, HasSubstr("\n[sandbox]\n"));
  EXPECT_THAT(text, HasSubstr("uid_base = 1879048192\n"));
  EXPECT_THAT(text, HasSubstr("uid_count = 65536\n"));
  EXPECT_EQ(text, to_toml(Config{}));
}

// --- Each rule, with its position -------------------------------------------

// A config with one mistake and the exact message it must be reported with.
struct BadConfig {
  std::string behaviour;  // the test's name
  std::string text;
  std::string message;
};

const std::vector<BadConfig> kBadConfigs = {
    {"RejectsUnknownKeySuggestingTheClosest", "[control]\nsocket_mod = \"0660\"",
     "swarmd.toml:2:1: unknown key 'socket_mod' in control; did you mean 'socket_mode'?"},
    {"RejectsUnknownSectionListingTheKnownKeys", "[logging]\nlevel = \"debug\"",
     "swarmd.toml:1:2: unknown key 'logging'; expected state_dir, log_level, control, metrics, "
     "agents, sandbox, cgroups, messaging or memory"},
    {"RejectsAnUnknownDurability", "[memory]\ndurability = \"sometimes\"",
     "swarmd.toml:2:14: memory.durability = \"sometimes\": must be \"fsync\", \"batch\" or "
     "\"none\""},
    {"RejectsABatchSyncPastTenSeconds", "[memory]\nbatch_sync = \"1m\"",
     "swarmd.toml:2:14: memory.batch_sync = \"1m\": must be between 1ms and 10s"},
    {"RejectsAPayloadBoundPastTheReadersLimit", "[messaging]\nmax_payload = \"16MiB\"",
     "swarmd.toml:2:15: messaging.max_payload = \"16MiB\": must be between 1KiB and 8MiB"},
    {"RejectsSectionThatIsNotATable", "control = \"/run/s.sock\"",
     "swarmd.toml:1:11: control = \"/run/s.sock\": must be a table"},
    {"RejectsRelativeStateDir", "state_dir = \"var/lib/smol\"",
     "swarmd.toml:1:13: state_dir = \"var/lib/smol\": must be an absolute path, starting with '/'"},
    {"RejectsStateDirOfWrongType", "state_dir = 5",
     "swarmd.toml:1:13: state_dir = 5: must be a string"},
    {"RejectsNulInAPath", "state_dir = \"/a\\u0000b\"",
     "swarmd.toml:1:13: state_dir = \"/a\\u0000b\": must not contain NUL bytes"},
    {"RejectsRelativeSocketPath", "[control]\nsocket = \"swarmd.sock\"",
     "swarmd.toml:2:10: control.socket = \"swarmd.sock\": must be an absolute path, starting with "
     "'/'"},
    {"RejectsSocketPathTooLongForAUnixSocket",
     "[control]\nsocket = \"/" + std::string(107, 's') + "\"",
     "swarmd.toml:2:10: control.socket = \"/" + std::string(58, 's') +
         "…: must be at most 107 bytes long, the limit of a Unix socket address"},
    {"RejectsBadGroupName", "[control]\ngroup = \"-admins\"",
     "swarmd.toml:2:9: control.group = \"-admins\": must be a group name: 1 to 32 letters, "
     "digits, '_', '.' or '-', not starting with '-'"},
    {"RejectsSocketModeThatIsNotOctal", "[control]\nsocket_mode = \"0690\"",
     "swarmd.toml:2:15: control.socket_mode = \"0690\": must be an octal string like \"0660\", at "
     "most \"0777\""},
    {"RejectsSocketModeAbove0777", "[control]\nsocket_mode = \"1777\"",
     "swarmd.toml:2:15: control.socket_mode = \"1777\": must be an octal string like \"0660\", at "
     "most \"0777\""},
    {"RejectsSocketModeGivenAsAnInteger", "[control]\nsocket_mode = 0o660",
     "swarmd.toml:2:15: control.socket_mode = 0o660: must be an octal string like \"0660\", at "
     "most \"0777\""},
    {"RejectsListenWithoutPort", "[metrics]\nlisten = \"localhost\"",
     "swarmd.toml:2:10: metrics.listen = \"localhost\": must be \"off\" or host:port, like "
     "\"127.0.0.1:9464\" or \"[::1]:9464\""},
    {"RejectsListenPortOutOfRange", "[metrics]\nlisten = \"127.0.0.1:65536\"",
     "swarmd.toml:2:10: metrics.listen = \"127.0.0.1:65536\": the port must be a number from 0 to "
     "65535"},
    {"RejectsUnbracketedIPv6Listen", "[metrics]\nlisten = \"::1:9464\"",
     "swarmd.toml:2:10: metrics.listen = \"::1:9464\": an IPv6 address must be in brackets, like "
     "\"[::1]:9464\""},
    {"RejectsBracketsAroundSomethingElse", "[metrics]\nlisten = \"[localhost]:1\"",
     "swarmd.toml:2:10: metrics.listen = \"[localhost]:1\": the address in brackets must be an "
     "IPv6 address, like \"[::1]:9464\""},
    {"RejectsEmptyListenHost", "[metrics]\nlisten = \":9464\"",
     "swarmd.toml:2:10: metrics.listen = \":9464\": the host must be a host name or an IPv4 "
     "address, like \"127.0.0.1\""},
    {"RejectsUnknownLogLevel", "log_level = \"verbose\"",
     "swarmd.toml:1:13: log_level = \"verbose\": must be \"error\", \"warning\", \"notice\", "
     "\"info\" or \"debug\""},
    {"RejectsStopGraceBelow10ms", "[agents]\nstop_grace = \"5ms\"",
     "swarmd.toml:2:14: agents.stop_grace = \"5ms\": must be at least 10ms"},
    {"RejectsReadyTimeoutOfZero", "[agents]\nready_timeout = \"0s\"",
     "swarmd.toml:2:17: agents.ready_timeout = \"0s\": must be at least 10ms"},
    {"RejectsDurationWithoutUnit", "[agents]\nstop_grace = 5",
     "swarmd.toml:2:14: agents.stop_grace = 5: must be a duration string like \"10s\" or "
     "\"500ms\""},
    {"RejectsLogRingBelow4KiB", "[agents]\nlog_ring = \"1KiB\"",
     "swarmd.toml:2:12: agents.log_ring = \"1KiB\": must be between 4KiB and 16MiB"},
    {"RejectsLogRingAbove16MiB", "[agents]\nlog_ring = \"17MiB\"",
     "swarmd.toml:2:12: agents.log_ring = \"17MiB\": must be between 4KiB and 16MiB"},
    {"RejectsLogFileMaxBetweenZeroAndItsMinimum", "[agents]\nlog_file_max = \"1KiB\"",
     "swarmd.toml:2:16: agents.log_file_max = \"1KiB\": must be 0 (no file) or between 64KiB and "
     "1GiB"},
    {"RejectsLogFileMaxAbove1GiB", "[agents]\nlog_file_max = 2147483648",
     "swarmd.toml:2:16: agents.log_file_max = 2147483648: must be 0 (no file) or between 64KiB "
     "and 1GiB"},
    {"RejectsSizeThatIsNotASize", "[agents]\nlog_ring = \"64 kilobytes\"",
     "swarmd.toml:2:12: agents.log_ring = \"64 kilobytes\": must be a size like \"64KiB\" or "
     "\"1MiB\", or a number of bytes"},
    {"RejectsNegativeSize", "[agents]\nlog_ring = -1",
     "swarmd.toml:2:12: agents.log_ring = -1: must be a size like \"64KiB\" or \"1MiB\", or a "
     "number of bytes"},
    {"RejectsAgentUidBaseOfZero", "[sandbox]\nuid_base = 0",
     "swarmd.toml:2:12: sandbox.uid_base = 0: must be between 1000 and 4294967293"},
    {"RejectsAgentUidBaseAmongSystemAccounts", "[sandbox]\nuid_base = 999",
     "swarmd.toml:2:12: sandbox.uid_base = 999: must be between 1000 and 4294967293"},
    {"RejectsAgentUidBaseAsAString", "[sandbox]\nuid_base = \"200000\"",
     "swarmd.toml:2:12: sandbox.uid_base = \"200000\": must be an integer"},
    {"RejectsEmptyAgentUidRange", "[sandbox]\nuid_count = 0",
     "swarmd.toml:2:13: sandbox.uid_count = 0: must be between 1 and 4294966294"},
    {"RejectsAgentUidRangeReachingTheUnusableUids",
     "[sandbox]\nuid_base = 4294900000\nuid_count = 67295",
     "swarmd.toml:3:13: sandbox.uid_count = 67295: uid_base + uid_count must be at most "
     "4294967294: the last two uids are not usable"},
    {"RejectsAgentUidBaseThatPushesTheDefaultCountPastTheEnd", "[sandbox]\nuid_base = 4294967000",
     "swarmd.toml:2:12: sandbox.uid_base = 4294967000: uid_base + uid_count must be at most "
     "4294967294: the last two uids are not usable"},
    {"RejectsUnknownSandboxKeySuggestingTheClosest", "[sandbox]\nuid_bse = 1000",
     "swarmd.toml:2:1: unknown key 'uid_bse' in sandbox; did you mean 'uid_base'?"},
    {"ReportsUnquotedValueAsTomlSyntaxError", "log_level = info",
     "swarmd.toml:1:16: Error while parsing floating-point: expected value-terminator, saw 'o'"},
    {"ReportsBrokenHeaderAsTomlSyntaxError", "[control\nsocket = \"/s\"",
     "swarmd.toml:1:9: Error while parsing table header: expected ']', saw '\\n'"},
};

// Lets gtest show a case by its name rather than its bytes.
void PrintTo(const BadConfig& bad, std::ostream* os) { *os << bad.behaviour; }

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, IsReportedWithPositionAndRule) {
  EXPECT_EQ(error_of(GetParam().text), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Config, BadConfigTest, ::testing::ValuesIn(kBadConfigs),
                         [](const auto& info) { return info.param.behaviour; });

TEST(Config, AgentUidRangeMayEndJustBeforeTheUnusableUids) {
  Config c = parse_config("[sandbox]\nuid_base = 4294900000\nuid_count = 67294", "f");
  EXPECT_EQ(c.agent_uid_base, 4'294'900'000u);
  EXPECT_EQ(c.agent_uid_count, 67'294u);
}

TEST(Config, AgentUidRangeIsCheckedAsTheLayersLeaveIt) {
  Config base = parse_config("[sandbox]\nuid_base = 4294000000\nuid_count = 1", "file");
  EXPECT_EQ(error_of("[sandbox]\nuid_count = 1000000", base),
            "swarmd.toml:2:13: sandbox.uid_count = 1000000: uid_base + uid_count must be at most "
            "4294967294: the last two uids are not usable");
  Config moved = parse_config("[sandbox]\nuid_base = 1000", "command line", base);
  EXPECT_EQ(moved.agent_uid_base, 1000u);
  EXPECT_EQ(moved.agent_uid_count, 1u);
}

TEST(Config, AcceptsTheLongestSocketPathAUnixSocketHolds) {
  std::string path = "/" + std::string(106, 's');
  EXPECT_EQ(parse_config("[control]\nsocket = \"" + path + "\"", "f").socket_path, path);
}

TEST(Config, ReportsEveryProblemOnePerLine) {
  EXPECT_EQ(error_of("log_level = \"loud\"\n[agents]\nstop_grace = \"1ms\"\nlog_rign = \"8KiB\""),
            "swarmd.toml:1:13: log_level = \"loud\": must be \"error\", \"warning\", \"notice\", "
            "\"info\" or \"debug\"\n"
            "swarmd.toml:3:14: agents.stop_grace = \"1ms\": must be at least 10ms\n"
            "swarmd.toml:4:1: unknown key 'log_rign' in agents; did you mean 'log_ring'?");
}

TEST(Config, CommandLineSourceNameAppearsInMessages) {
  try {
    parse_config("state_dir = \"relative\"", "command line");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("command line:1:13: state_dir = \"relative\""));
  }
}

}  // namespace
}  // namespace smol::config
