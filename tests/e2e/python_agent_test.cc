// Agents in Python, speaking the jsonl protocol (docs/jsonl-protocol.md)
// through a real swarmd: the example of examples/python-agent as shipped
// (its swarm.toml, agent.py and smolswarms.py) beside C++ agents, and
// tests/e2e/jsonl_probe.py writing raw lines to see how swarmd answers
// lines it cannot take.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kExampleDir = std::string(SMOL_SOURCE_DIR) + "/examples/python-agent";
const std::string kProbe = std::string(SMOL_SOURCE_DIR) + "/tests/e2e/jsonl_probe.py";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// s as a TOML basic string (JSON's escapes are TOML's).
std::string quoted(const std::string& s) { return nlohmann::json(s).dump(); }

std::string toml_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + quoted(items[i]);
  return out + "]";
}

class PythonAgent : public ::testing::Test {
 protected:
  // examples/python-agent/swarm.toml (swarm "pyswarm") with its paths
  // made absolute (it is written elsewhere, beside no example), then
  // `extra` groups.
  static std::string example_spec(const std::string& extra = "") {
    std::string spec = read_file(kExampleDir + "/swarm.toml");
    for (const std::string file : {"./agent.py", "smolswarms.py"}) {
      std::string quoted_file = "\"" + file + "\"";
      size_t at = spec.find(quoted_file);
      EXPECT_NE(at, std::string::npos) << file;
      if (at != std::string::npos) {
        std::string name = file.substr(file.find_first_not_of("./"));
        spec.replace(at, quoted_file.size(), quoted(kExampleDir + "/" + name));
      }
    }
    return spec + extra;
  }

  // A smol-chat-agent group running a script.
  static std::string chat(const std::string& role, const std::vector<std::string>& args) {
    std::vector<std::string> command{bin("smol-chat-agent")};
    command.insert(command.end(), args.begin(), args.end());
    return "\n[[agents]]\nrole = \"" + role + "\"\ncommand = " + toml_array(command) + "\n";
  }

  // A jsonl_probe group writing `lines`.
  static std::string probe(const std::string& role, const std::vector<std::string>& lines) {
    std::vector<std::string> command{"/usr/bin/python3", kProbe};
    command.insert(command.end(), lines.begin(), lines.end());
    return "\n[[agents]]\nrole = \"" + role + "\"\ncommand = " + toml_array(command) +
           "\nprotocol = \"jsonl\"\n[agents.sandbox]\nread_only = " + toml_array({kProbe}) + "\n";
  }

  // Starts swarm `name` from spec (which names it so).
  void up(const std::string& name, const std::string& spec) {
    swarm = name;
    RunResult r = daemon.ctl({"up", dir.write(swarm + ".toml", spec)});
    ASSERT_EQ(r.status, 0) << r.err << "\n" << spec << "\n" << logs("py-0") << logs("probe-0");
  }

  std::string logs(const std::string& agent) const {
    return daemon.ctl({"logs", swarm + "/" + agent}).out;
  }

  bool log_says(const std::string& agent, const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    return eventually([&] { return logs(agent).find(text) != std::string::npos; }, timeout);
  }

  // The agent's row of `swarmctl ps --json`.
  nlohmann::json agent(const std::string& id) const {
    nlohmann::json ps = daemon.ctl_json({"ps", swarm});
    for (const auto& a : ps["agents"]) {
      if (a["id"] == id) return a;
    }
    ADD_FAILURE() << "no agent " << id << " in " << daemon.ctl({"ps", swarm}).out;
    return nlohmann::json::object();
  }

  // The probe's line right after "sent <line>": what swarmd answered.
  std::string answer_to(const std::string& log, const std::string& line) const {
    std::string sent = "sent " + line + "\n";
    size_t at = log.find(sent);
    if (at == std::string::npos) return "";
    at += sent.size();
    return log.substr(at, log.find('\n', at) - at);
  }

  TempDir dir;
  Daemon daemon{dir};
  std::string swarm;
};

TEST_F(PythonAgent, TheExampleSwarmComesUpAsShippedAndAnswersVibeChecks) {
  // The example's own file: its relative paths are beside it.
  swarm = "pyswarm";
  RunResult r = daemon.ctl({"up", kExampleDir + "/swarm.toml"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (std::string id : {"py-0", "py-1"}) {
    nlohmann::json a = agent(id);
    EXPECT_EQ(a["state"], "ready") << a.dump();
    EXPECT_EQ(a["role"], "py");
    EXPECT_GT(a["pid"].get<int>(), 0);
    EXPECT_TRUE(log_says(id, id + ": ready in swarm pyswarm as py/" + id.substr(3))) << logs(id);
  }
  RunResult vibe = daemon.ctl({"vibe", "pyswarm"});
  ASSERT_EQ(vibe.status, 0) << vibe.out << vibe.err;
  EXPECT_THAT(vibe.out, HasSubstr("swarm pyswarm: 3 ok, 0 degraded, 0 failing, 0 silent"));
  nlohmann::json check = daemon.ctl_json({"vibe", "pyswarm"})["check"];
  ASSERT_EQ(check["agents"].size(), 3u) << check.dump();
  for (const auto& a : check["agents"]) {
    if (a["id"] == "echo-0") continue;
    EXPECT_TRUE(a["answered"].get<bool>()) << a.dump();
    EXPECT_EQ(a["health"], "ok") << a.dump();
    EXPECT_THAT(a["note"].get<std::string>(), StartsWith("messages seen: ")) << a.dump();
  }
}

TEST_F(PythonAgent, PythonAndCppAgentsMessageEachOther) {
  up("pyswarm", example_spec(chat("chat", {"request", "py-0", "what is new", "5000"})));
  // py-0's hello reaches everyone else, Python and C++ alike.
  EXPECT_TRUE(log_says("chat-0", "got broadcast from py-0 [hello]: hello from py-0"))
      << logs("chat-0");
  EXPECT_TRUE(log_says("py-1", "py-1: broadcast from py-0 [hello]: hello from py-0"))
      << logs("py-1");
  EXPECT_TRUE(log_says("py-0", "py-0: said hello to 3 agents\n")) << logs("py-0");
  // A C++ agent's request is answered by the Python one...
  EXPECT_TRUE(log_says("chat-0", "reply: re: what is new")) << logs("chat-0");
  EXPECT_THAT(logs("py-0"), HasSubstr("py-0: request from chat-0 [ask]: what is new"));
  // ...and the Python agents' requests (agent.py --ask echo-0 ping) by the C++ one.
  for (std::string id : {"py-0", "py-1"}) {
    EXPECT_TRUE(log_says(id, id + ": reply from echo-0: echo: ping")) << logs(id);
  }
  // The operator's direct message.
  RunResult dm = daemon.ctl({"dm", "pyswarm/py-1", "--topic", "task", "index the docs"});
  ASSERT_EQ(dm.status, 0) << dm.err;
  EXPECT_TRUE(log_says("py-1", "py-1: dm from operator [task]: index the docs")) << logs("py-1");
  RunResult b = daemon.ctl({"broadcast", "pyswarm", "news", "all hands"});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_TRUE(log_says("py-0", "py-0: broadcast from operator [news]: all hands")) << logs("py-0");
  EXPECT_THAT(logs("py-0"), Not(HasSubstr("Traceback")));
}

TEST_F(PythonAgent, ARequestToNoOneFailsWithSwarmdsReason) {
  std::string spec = example_spec();
  size_t at = spec.find("\"--ask\", \"echo-0\"");
  ASSERT_NE(at, std::string::npos) << spec;
  spec.replace(at, 17, "\"--ask\", \"ghost-3\"");
  up("pyswarm", spec);
  EXPECT_TRUE(log_says("py-0", "py-0: request failed: ")) << logs("py-0");
  EXPECT_THAT(logs("py-0"), HasSubstr("ghost-3"));
  // The agent carries on.
  ASSERT_EQ(daemon.ctl({"dm", "pyswarm/py-0", "still there?"}).status, 0);
  EXPECT_TRUE(log_says("py-0", "py-0: dm from operator []: still there?")) << logs("py-0");
}

TEST_F(PythonAgent, WorkingMemoryHoldsWhatThePythonAgentsWrote) {
  up("pyswarm", example_spec());
  for (std::string id : {"py-0", "py-1"}) {
    EXPECT_TRUE(log_says(id, id + ": recalled notes/" + id + ": " + id + " started and says hello"))
        << logs(id);
    RunResult get = daemon.ctl({"mem", "get", "pyswarm", "working", "notes/" + id});
    ASSERT_EQ(get.status, 0) << get.err;
    EXPECT_EQ(get.out, id + " started and says hello");
    nlohmann::json e = daemon.ctl_json({"mem", "get", "pyswarm", "working", "notes/" + id})["entry"];
    EXPECT_EQ(e["writer"], id);
    EXPECT_EQ(e["tags"], nlohmann::json::array({"python"}));
  }
}

TEST_F(PythonAgent, DownStopsThePythonAgentsCleanly) {
  up("pyswarm", example_spec());
  std::vector<pid_t> pids = daemon.agent_pids("pyswarm");
  ASSERT_EQ(pids.size(), 3u);
  RunResult down = daemon.ctl({"down", "pyswarm"});
  ASSERT_EQ(down.status, 0) << down.err;
  for (pid_t p : pids) EXPECT_FALSE(process_exists(p)) << "agent pid " << p << " survived down";
  for (std::string id : {"py-0", "py-1"}) {
    nlohmann::json a = agent(id);
    EXPECT_EQ(a["state"], "exited") << a.dump();
    EXPECT_EQ(a["last_exit"]["reason"], "stopped") << a.dump();
    // They left on their own when asked, not at SIGTERM or SIGKILL.
    EXPECT_EQ(a["last_exit"]["signal"], 0) << a.dump();
    EXPECT_EQ(a["last_exit"]["code"], 0) << a.dump();
    EXPECT_THAT(logs(id), HasSubstr(id + ": shutting down after "));
  }
}

TEST_F(PythonAgent, ALineSwarmdCannotTakeGetsAnErrorAndTheAgentCarriesOn) {
  up("probe", "name = \"probe\"\n" + probe("probe", {"{not json", "[1, 2]", "{\"op\":\"bogus\",\"id\":9}",
                     "{\"op\":\"send\",\"id\":10}", "{\"op\":\"bogus\",\"id\":3,\"x\":1e400}",
                     "{\"op\":\"mem.get\",\"id\":11,\"tier\":\"working\",\"key\":\"nothing\"}"}));
  ASSERT_TRUE(log_says("probe-0", "probe done")) << logs("probe-0");
  std::string out = logs("probe-0");
  EXPECT_THAT(answer_to(out, "{not json"), StartsWith("got {\"error\":")) << out;
  EXPECT_THAT(answer_to(out, "{not json"), HasSubstr("\"op\":\"error\"")) << out;
  EXPECT_THAT(answer_to(out, "[1, 2]"), HasSubstr("\"op\":\"error\"")) << out;
  EXPECT_THAT(answer_to(out, "[1, 2]"), HasSubstr("not a JSON object")) << out;
  EXPECT_THAT(answer_to(out, "{\"op\":\"bogus\",\"id\":9}"), HasSubstr("bogus")) << out;
  EXPECT_THAT(answer_to(out, "{\"op\":\"bogus\",\"id\":9}"), HasSubstr("\"id\":9,\"op\":\"error\""))
      << out;
  EXPECT_THAT(answer_to(out, "{\"op\":\"send\",\"id\":10}"),
              HasSubstr("\"id\":10,\"op\":\"error\""))
      << out;
  // A number too big for a double is a bad line too (not a parse error to
  // the JSON library, which once left the bridge deaf to every later line).
  EXPECT_THAT(answer_to(out, "{\"op\":\"bogus\",\"id\":3,\"x\":1e400}"),
              HasSubstr("\"op\":\"error\""))
      << out;
  EXPECT_THAT(answer_to(out, "{\"op\":\"bogus\",\"id\":3,\"x\":1e400}"), HasSubstr("bad line"))
      << out;
  // After all that, the connection still works.
  EXPECT_THAT(answer_to(out, "{\"op\":\"mem.get\",\"id\":11,\"tier\":\"working\",\"key\":\"nothing\"}"),
              HasSubstr("\"found\":false,\"id\":11,\"op\":\"ok\""))
      << out;
  EXPECT_EQ(agent("probe-0")["state"], "ready");
  ASSERT_EQ(daemon.ctl({"dm", "probe/probe-0", "still there?"}).status, 0);
  EXPECT_TRUE(log_says("probe-0", "\"payload\":\"still there?\"")) << logs("probe-0");
  EXPECT_EQ(daemon.ctl({"vibe", "probe"}).status, 0);
}

TEST_F(PythonAgent, AnEndlessLineStopsTheAgentAsProtocolError) {
  up("probe", "name = \"probe\"\n" + probe("probe", {"--await", "--endless", std::to_string(3 << 20)}) +
     probe("bystander", {}));
  ASSERT_EQ(daemon.ctl({"dm", "probe/probe-0", "go"}).status, 0);
  ASSERT_TRUE(eventually([&] {
    return agent("probe-0")["last_exit"]["reason"] == "protocol_error";
  })) << daemon.ctl({"ps", "probe"}).out << logs("probe-0");
  EXPECT_THAT(logs("probe-0"), HasSubstr("writing 3145728 bytes without a newline"));
  EXPECT_THAT(agent("probe-0")["last_exit"]["detail"].get<std::string>(),
              HasSubstr("protocol error: sent a line longer than"));
  EXPECT_THAT(daemon.ctl({"events", "probe"}).out, HasSubstr("probe-0: protocol error"));
  // The rest of the swarm carries on.
  EXPECT_EQ(agent("bystander-0")["state"], "ready");
  ASSERT_EQ(daemon.ctl({"dm", "probe/bystander-0", "ok?"}).status, 0);
  EXPECT_TRUE(log_says("bystander-0", "\"payload\":\"ok?\"")) << logs("bystander-0");
}

// Cap'n Proto Text cannot hold a NUL byte: a key with one is refused,
// naming the field, rather than cut off there (a put of "a\0b" once stored
// "a"); a payload, which is Data, keeps one.
TEST_F(PythonAgent, ANulByteIsRefusedInAKeyAndKeptInAPayload) {
  std::string put = "{\"op\":\"mem.put\",\"id\":20,\"tier\":\"working\",\"key\":\"a\\u0000b\","
                    "\"value\":\"v\"}";
  std::string send = "{\"op\":\"send\",\"id\":21,\"to\":\"peer-0\",\"payload\":\"x\\u0000y\"}";
  up("probe", "name = \"probe\"\n" + probe("probe", {put, send}) + probe("peer", {}));
  ASSERT_TRUE(log_says("probe-0", "probe done")) << logs("probe-0");
  std::string out = logs("probe-0");
  EXPECT_THAT(answer_to(out, put), HasSubstr("\"id\":20,\"op\":\"error\"")) << out;
  EXPECT_THAT(answer_to(out, put), HasSubstr("field 'key' contains a NUL byte")) << out;
  EXPECT_THAT(answer_to(out, send), HasSubstr("\"id\":21,\"op\":\"ok\"")) << out;
  EXPECT_TRUE(log_says("peer-0", "\"payload\":\"x\\u0000y\"")) << logs("peer-0");
}

// hello's answer carries the grants the next lines need: a line that came in
// the same write as hello waits for it, instead of being told to say hello.
TEST_F(PythonAgent, ALineInTheSameWriteAsHelloIsAnsweredAfterIt) {
  std::string get = "{\"op\":\"mem.get\",\"id\":77,\"tier\":\"working\",\"key\":\"k\"}";
  up("probe", "name = \"probe\"\n" + probe("probe", {"--with-hello", get}));
  ASSERT_TRUE(log_says("probe-0", "probe done")) << logs("probe-0");
  std::string out = logs("probe-0");
  std::string first = answer_to(out, "with hello " + get);
  EXPECT_THAT(first, HasSubstr("\"id\":1,")) << out;
  EXPECT_THAT(out, HasSubstr("\"found\":false,\"id\":77,\"op\":\"ok\"")) << out;
  EXPECT_THAT(out, Not(HasSubstr("say hello first"))) << out;
}

// A reset (the agent closed its end with the daemon's answer unread) ends
// the connection as a hang-up: the agent, still running, is stopped after
// the grace, as one that closed it cleanly is.
TEST_F(PythonAgent, AnAgentThatResetsItsConnectionAndKeepsRunningIsStopped) {
  up("probe", "name = \"probe\"\n" + probe("probe", {"--reset"}));
  ASSERT_TRUE(log_says("probe-0", "closed with the answer unread")) << logs("probe-0");
  ASSERT_TRUE(eventually([&] { return agent("probe-0")["last_exit"]["reason"] == "protocol_error"; }))
      << daemon.ctl({"ps", "probe"}).out << logs("probe-0");
  EXPECT_THAT(agent("probe-0")["last_exit"]["detail"].get<std::string>(),
              HasSubstr("closed its connection to swarmd but kept running"));
}

// An agent that stops reading holds its messages' deliveries in flight;
// stopping it then (here with its swarm) must not leave them writing for a
// bridge that is gone.
TEST_F(PythonAgent, StoppingAnAgentThatStoppedReadingLeavesTheDaemonRunning) {
  up("probe", "name = \"probe\"\n" + probe("probe", {"--stall"}));
  ASSERT_TRUE(log_says("probe-0", "reading no more")) << logs("probe-0");
  // A 900 KB message (on stdin: too long for an argument), which the
  // agent's full socket leaves half written.
  RunResult dm = run({"/bin/sh", "-c",
                      "head -c 900000 /dev/zero | tr '\\0' m | " + bin("swarmctl") + " --socket " +
                          daemon.socket() + " dm probe/probe-0 -"});
  ASSERT_EQ(dm.status, 0) << dm.err;
  RunResult down = daemon.ctl({"down", "probe"});
  EXPECT_EQ(down.status, 0) << down.err;
  // The daemon is still there, and still serves.
  RunResult ls = daemon.ctl({"ls"});
  EXPECT_EQ(ls.status, 0) << ls.err;
  up("again", "name = \"again\"\n" + probe("probe", {}));
  EXPECT_EQ(agent("probe-0")["state"], "ready");
}

}  // namespace
}  // namespace smol::test
