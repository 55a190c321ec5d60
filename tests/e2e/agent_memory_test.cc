// Swarm memory as agents use it: the Memory capability each agent gets at
// hello, through the real daemon and real agents (smol-memory-agent runs a
// script of operations and prints one line per operation). Tiers shared and
// private, the grant of [agents.permissions] memory refusing what it does
// not allow (with a message, a metric and an event), provenance kept by an
// agent's consolidation, the swarm's [memory] quota, and bad arguments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class AgentMemory : public ::testing::Test {
 protected:
  // Starts swarm "am" from a spec: `head` (top-level tables) then the groups.
  void up(const std::string& head, const std::string& groups) {
    RunResult r = daemon.ctl({"up", dir.write("am.toml", "name = \"am\"\n" + head + "\n" + groups)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // One smol-memory-agent of `role`, running `script`; `memory` is its
  // [agents.permissions] memory grant as TOML ("" = the defaults).
  static std::string agent(const std::string& role, const std::vector<std::string>& script,
                           const std::string& memory = "") {
    std::string cmd = "[\"" + bin("smol-memory-agent") + "\"";
    for (const auto& op : script) cmd += ", \"" + escaped(op) + "\"";
    std::string perms = memory.empty() ? "" : "[agents.permissions]\nmemory = " + memory + "\n";
    return "[[agents]]\nrole = \"" + role + "\"\ncommand = " + cmd + "]\n" + perms;
  }

  // A TOML basic string's contents.
  static std::string escaped(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '"' ? std::string("\\\"") : std::string(1, c);
    return out;
  }

  std::string logs(const std::string& agent) { return daemon.ctl({"logs", "am/" + agent}).out; }

  // The agent's output once its script is done.
  std::string script_output(const std::string& agent) {
    EXPECT_TRUE(eventually([&] { return logs(agent).find("\ndone\n") != std::string::npos; },
                           std::chrono::seconds(20)))
        << logs(agent);
    return logs(agent);
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(AgentMemory, AgentsShareWorkingMemoryAndRecallAcrossTiers) {
  up("", agent("writer",
               {"put working plan \"write the parser first\" todo,parser",
                "put long_term style \"tabs are banned in the parser\"",
                "put short_term note \"the parser needs a lexer\"", "get working plan",
                "get short_term note", "recall parser 5", "recall parser 5 long_term",
                "send reader-0 go"},
               "{ long_term = \"rw\" }") +
             agent("reader", {"wait", "get working plan", "get long_term style",
                              "get short_term note", "recall parser 5", "ls working"}));

  std::string w = script_output("writer-0");
  EXPECT_THAT(w, HasSubstr("put working plan \"write the parser first\" todo,parser: ok"));
  EXPECT_THAT(w, HasSubstr("get working plan: write the parser first"));
  EXPECT_THAT(w, HasSubstr("get short_term note: the parser needs a lexer"));
  // Its own short-term entry is recalled with the shared ones.
  EXPECT_THAT(w, testing::ContainsRegex("recall parser 5: [a-z_:,]*short_term:note"));
  EXPECT_THAT(w, HasSubstr("recall parser 5 long_term: long_term:style\n"));
  EXPECT_THAT(w, Not(HasSubstr("error")));

  std::string r = script_output("reader-0");
  EXPECT_THAT(r, HasSubstr("wait: from writer-0 topic go"));
  EXPECT_THAT(r, HasSubstr("get working plan: write the parser first"));
  EXPECT_THAT(r, HasSubstr("get long_term style: tabs are banned in the parser"));
  // Short-term memory is private: the same key names the reader's own, empty tier.
  EXPECT_THAT(r, HasSubstr("get short_term note: (none)"));
  EXPECT_THAT(r, HasSubstr("recall parser 5: "));
  EXPECT_THAT(r, Not(HasSubstr("short_term:note")));
  EXPECT_THAT(r, HasSubstr("ls working: plan\n"));

  // The operator sees what the agent wrote, and who wrote it.
  EXPECT_EQ(daemon.ctl({"mem", "get", "am", "working", "plan"}).out, "write the parser first");
  auto e = daemon.ctl_json({"mem", "get", "am", "short-term", "note", "--agent", "writer-0"})["entry"];
  EXPECT_EQ(e["owner"], "writer-0");
  EXPECT_EQ(e["writer"], "writer-0");
  EXPECT_EQ(e["tags"], nlohmann::json::array());
  EXPECT_GT(e["expires_unix_millis"].get<int64_t>(), 0);
}

TEST_F(AgentMemory, AWriteOutsideTheGrantIsRefusedCountedAndReported) {
  up("", agent("worker", {"can", "put long_term k v", "get long_term k", "put working k v"},
               "{ long_term = \"r\" }"));
  std::string out = script_output("worker-0");
  EXPECT_THAT(out, HasSubstr("can: short_term=rw working=rw long_term=r"));
  const std::string refusal =
      "permission denied: role 'worker' may only read long_term memory ([agents.permissions] "
      "memory.long_term = \"r\")";
  EXPECT_THAT(out, HasSubstr("put long_term k v: error: memory put: " + refusal));
  // Reading long_term is allowed, and the refusal did not end the agent's session.
  EXPECT_THAT(out, HasSubstr("get long_term k: (none)"));
  EXPECT_THAT(out, HasSubstr("put working k v: ok"));
  EXPECT_EQ(daemon.ctl({"mem", "get", "am", "long-term", "k"}).status, 1);

  EXPECT_EQ(daemon.metric("smolswarms_permission_denied_total{op=\"memory_write\",role=\"worker\","
                   "swarm=\"am\"}"),
            1);
  EXPECT_THAT(daemon.ctl({"events", "am"}).out, HasSubstr(refusal));
}

TEST_F(AgentMemory, ATierGrantedNoneRefusesReads) {
  up("", agent("blind", {"can", "get working k", "ls working", "recall anything 5 working",
                         "recall anything 5", "put short_term k v"},
               "{ working = \"none\" }"));
  std::string out = script_output("blind-0");
  EXPECT_THAT(out, HasSubstr("can: short_term=rw working=none long_term=r"));
  const std::string refusal =
      "permission denied: role 'blind' may not use working memory ([agents.permissions] "
      "memory.working = \"none\")";
  EXPECT_THAT(out, HasSubstr("get working k: error: memory get: " + refusal));
  EXPECT_THAT(out, HasSubstr("ls working: error: memory list: " + refusal));
  EXPECT_THAT(out, HasSubstr("recall anything 5 working: error: memory recall: " + refusal));
  // No tiers named: every readable one, which leaves working out.
  EXPECT_THAT(out, HasSubstr("recall anything 5: \n"));
  EXPECT_THAT(out, HasSubstr("put short_term k v: ok"));
  EXPECT_EQ(daemon.metric("smolswarms_permission_denied_total{op=\"memory_read\",role=\"blind\","
                   "swarm=\"am\"}"),
            3);
}

TEST_F(AgentMemory, ConsolidationByAnAgentKeepsProvenance) {
  up("", agent("thinker",
               {"put short_term idea \"cache the index\" perf", "consolidate short_term idea",
                "consolidate working idea long_term", "get short_term idea", "show working idea"}));
  std::string out = script_output("thinker-0");
  EXPECT_THAT(out, HasSubstr("consolidate short_term idea: working writer=thinker-0 tags=perf "
                             "passed=short_term:thinker-0,working:thinker-0 recalls=0"));
  // long_term is read-only by default: moving into it needs write access there.
  EXPECT_THAT(out, HasSubstr("consolidate working idea long_term: error: memory consolidate: "
                             "permission denied: role 'thinker' may only read long_term memory"));
  EXPECT_THAT(out, HasSubstr("get short_term idea: (none)"));
  EXPECT_THAT(out, HasSubstr("show working idea: working writer=thinker-0"));

  auto e = daemon.ctl_json({"mem", "get", "am", "working", "idea"})["entry"];
  EXPECT_EQ(e["value"], "cache the index");
  EXPECT_EQ(e["writer"], "thinker-0");
  ASSERT_EQ(e["tiers_passed"].size(), 2u);
  EXPECT_EQ(e["tiers_passed"][1]["by"], "thinker-0");
}

TEST_F(AgentMemory, TheSwarmsQuotaAndBadArgumentsComeBackAsErrors) {
  up("[memory]\nmax_entries = 3\n",
     agent("filler", {"put working k1 v", "put working k2 v", "put long_term k3 v",
                      "put working k4 v", "put-big working big 2000000", "rm working nosuch",
                      "rm working k1", "put working k5 v"},
           "{ long_term = \"rw\" }"));
  std::string out = script_output("filler-0");
  EXPECT_THAT(out, HasSubstr("put long_term k3 v: ok"));
  EXPECT_THAT(out, HasSubstr("put working k4 v: error: memory put: swarm am: quota max_entries "
                             "exceeded"));
  EXPECT_THAT(out, HasSubstr("put-big working big 2000000: error: memory put: value: 2000000 "
                             "bytes"));
  EXPECT_THAT(out, HasSubstr("rm working nosuch: error: memory remove: "));
  EXPECT_THAT(out, HasSubstr("rm working k1: ok"));
  // Deleting freed an entry of the quota.
  EXPECT_THAT(out, HasSubstr("put working k5 v: ok"));
  // The agent is still served after its errors.
  EXPECT_EQ(daemon.ctl_json({"ps", "am"})["agents"][0]["state"], "ready");
}

TEST_F(AgentMemory, ShortTermEntriesLiveTheSwarmsTtl) {
  up("[memory]\nshort_term_ttl = \"2h\"\n", agent("jotter", {"put short_term note v"}));
  ASSERT_THAT(script_output("jotter-0"), HasSubstr("put short_term note v: ok"));
  auto e = daemon.ctl_json({"mem", "get", "am", "short-term", "note", "--agent", "jotter-0"})["entry"];
  EXPECT_EQ(e["expires_unix_millis"].get<int64_t>() - e["updated_unix_millis"].get<int64_t>(),
            2 * 3600 * 1000);
}

}  // namespace
}  // namespace smol::test
