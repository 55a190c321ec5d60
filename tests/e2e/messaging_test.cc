// Agents messaging each other through swarmd, as a swarm's author meets it:
// broadcast, direct messages in order, requests and their deadlines,
// backpressure that holds a flooder back without stalling anyone else,
// permissions granted per role, protocol errors, and the operator's
// `swarmctl dm` and `swarmctl broadcast`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class Messaging : public ::testing::Test {
 protected:
  void up(const std::string& groups) {
    RunResult r = daemon.ctl({"up", dir.write("m.toml", "name = \"m\"\n" + groups)});
    ASSERT_EQ(r.status, 0) << r.err;
  }

  // A group of smol-chat-agents; args are its options and script.
  static std::string chat(const std::string& role, int count, const std::vector<std::string>& args,
                          const std::string& extra = "") {
    std::string cmd = "[\"" + bin("smol-chat-agent") + "\"";
    for (const auto& a : args) cmd += ", \"" + a + "\"";
    return "[[agents]]\nrole = \"" + role + "\"\ncommand = " + cmd + "]\ncount = " +
           std::to_string(count) + "\n" + extra;
  }

  std::string logs(const std::string& agent) {
    return daemon.ctl({"logs", "m/" + agent}).out;
  }

  bool log_says(const std::string& agent, const std::string& text,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return eventually([&] { return logs(agent).find(text) != std::string::npos; }, timeout);
  }

  TempDir dir;
  Daemon daemon{dir};
};

TEST_F(Messaging, BroadcastReachesEveryAgentButTheSender) {
  up(chat("listener", 3, {}) + chat("talker", 1, {"broadcast", "news", "hello all"}));
  ASSERT_TRUE(log_says("talker-0", "broadcast: 3 recipients, refused [ ]")) << logs("talker-0");
  for (std::string id : {"listener-0", "listener-1", "listener-2"}) {
    EXPECT_TRUE(log_says(id, "got broadcast from talker-0 [news]: hello all")) << logs(id);
  }
  EXPECT_THAT(logs("talker-0"), Not(HasSubstr("got broadcast")));
  EXPECT_GE(daemon.metric("smolswarms_messages_total{kind=\"broadcast\",swarm=\"m\"}"), 3);
}

TEST_F(Messaging, DirectMessagesArriveInOrderPerSenderUnderLoad) {
  up(chat("sink", 1, {"--quiet", "--expect", "5000"}) +
     chat("src", 3, {"flood", "sink-0", "5000"}));
  for (std::string id : {"src-0", "src-1", "src-2"}) {
    EXPECT_TRUE(log_says("sink-0", "in order: 5000 from " + id, std::chrono::seconds(60)))
        << logs("sink-0");
  }
  EXPECT_THAT(logs("sink-0"), Not(HasSubstr("out of order")));
  // role/index addresses the same agent as its id.
  ASSERT_EQ(daemon.ctl({"dm", "m/sink/0", "by role and index"}).status, 0);
  EXPECT_TRUE(log_says("sink-0", "in order")) << logs("sink-0");
}

TEST_F(Messaging, RequestsGetTheirReplyOrFailAtTheirDeadline) {
  up(chat("answerer", 1, {}) + chat("mute", 1, {"--no-reply"}) +
     chat("asker", 1, {"request", "answerer-0", "what time is it", "5000", "request", "mute-0",
                       "hello?", "300"}));
  ASSERT_TRUE(log_says("asker-0", "script done")) << logs("asker-0");
  std::string out = logs("asker-0");
  EXPECT_THAT(out, HasSubstr("reply: re: what time is it"));
  EXPECT_THAT(out, HasSubstr("request failed: request to mute-0: request to mute-0 timed out"));
  EXPECT_THAT(logs("mute-0"), HasSubstr("got request from asker-0 [ask]: hello?"));
  EXPECT_GE(daemon.metric("smolswarms_messages_refused_total{reason=\"timeout\",swarm=\"m\"}"), 1);
}

// A request is one of the sender's messages: it arrives after the direct
// messages sent before it, even those still queued in the SDK.
TEST_F(Messaging, ARequestArrivesAfterTheMessagesSentBeforeIt) {
  up(chat("answerer", 1, {"--expect", "300"}) +
     chat("asker", 1, {"sends-then-request", "answerer-0", "300"}));
  ASSERT_TRUE(log_says("asker-0", "script done")) << logs("asker-0");
  EXPECT_THAT(logs("asker-0"), HasSubstr("reply: re: after 300"));
  std::string got = logs("answerer-0");
  size_t last_dm = got.rfind("got dm from asker-0 [seq]: 299");
  size_t request = got.find("got request from asker-0 [ask]: after 300");
  ASSERT_NE(last_dm, std::string::npos) << got;
  ASSERT_NE(request, std::string::npos) << got;
  EXPECT_LT(last_dm, request) << got;
  EXPECT_THAT(got, HasSubstr("in order: 300 from asker-0"));
}

// Whatever a handler throws, even no std::exception, the agent goes on
// receiving.
TEST_F(Messaging, AHandlerThatThrowsDoesNotCutTheAgentOff) {
  up(chat("a", 1, {"--throw-on", "boom"}));
  ASSERT_EQ(daemon.ctl({"dm", "m/a-0", "--topic", "boom", "first"}).status, 0);
  ASSERT_EQ(daemon.ctl({"dm", "m/a-0", "second"}).status, 0);
  EXPECT_TRUE(log_says("a-0", "got dm from operator: second")) << logs("a-0");
  EXPECT_THAT(logs("a-0"), HasSubstr("it threw something that is not a std::exception"));
}

// request() polls for a fast reply instead of sleeping (reply_wait.h); an
// agent whose peer takes its time must not spin through the wait. 50
// replies 10 ms apart cost ~500 ms of CPU spun through, 2-4 ms waited for.
TEST_F(Messaging, ARequesterWaitingOnSlowRepliesDoesNotSpin) {
  up(chat("answerer", 1, {"--slow", "10", "--quiet"}) +
     chat("asker", 1, {"requests", "answerer-0", "50"}));
  ASSERT_TRUE(log_says("asker-0", "script done")) << logs("asker-0");
  std::smatch m;
  std::string out = logs("asker-0");
  ASSERT_TRUE(std::regex_search(out, m, std::regex("50 replies in (\\d+) us of CPU"))) << out;
  EXPECT_LT(std::stol(m[1]), 50000) << out;
}

TEST_F(Messaging, AFlooderIsHeldBackBySlowReceiverWhileOthersFlow) {
  // slow-0 takes 20 ms per message: 20000 messages would take minutes.
  up(chat("slow", 1, {"--quiet", "--slow", "20"}) + chat("flooder", 1, {"flood", "slow-0", "20000"}) +
     chat("fast", 1, {}) + chat("third", 1, {"dm", "fast-0", "ping"}));
  EXPECT_TRUE(log_says("fast-0", "got dm from third-0: ping")) << logs("fast-0");
  // The daemon holds at most one queue's worth for slow-0 (1024 messages),
  // and the flooder is still held back.
  ASSERT_TRUE(eventually([&] {
    return daemon.metric("smolswarms_queue_depth{swarm=\"m\"}") >= 1000;
  }, std::chrono::seconds(20)));
  EXPECT_LE(daemon.metric("smolswarms_queue_depth{swarm=\"m\"}"), 1024);
  EXPECT_THAT(logs("flooder-0"), Not(HasSubstr("flooded")));
  // Broadcasts skip the full queue instead of waiting for it.
  RunResult b = daemon.ctl({"broadcast", "m", "news", "hi"});
  EXPECT_EQ(b.status, 1);
  EXPECT_THAT(b.err, HasSubstr("not delivered to slow-0: their queues are full"));
  EXPECT_THAT(b.out, HasSubstr("queued for 3 agents of swarm m"));
  EXPECT_TRUE(log_says("fast-0", "got broadcast from operator [news]: hi"));
  // A held-back swarm still stops at once.
  EXPECT_EQ(daemon.ctl({"down", "m"}).status, 0);
}

TEST_F(Messaging, PermissionsAreCapabilitiesGrantedPerRole) {
  std::string planner_perms =
      "[agents.permissions]\nbroadcast = false\ndm = [\"worker\"]\n";
  std::string worker_perms = "[agents.permissions]\ndm = []\n";
  up(chat("worker", 1, {"dm", "planner-0", "can I?"}, worker_perms) + chat("critic", 1, {}) +
     chat("planner", 1,
          {"dm", "worker-0", "do this", "dm", "critic-0", "psst", "dm", "other/worker-0", "forged",
           "broadcast", "all", "hi", "reply", "4242", "forged answer"},
          planner_perms));
  ASSERT_TRUE(log_says("planner-0", "script done")) << logs("planner-0");
  EXPECT_TRUE(log_says("worker-0", "got dm from planner-0: do this"));
  std::string planner = logs("planner-0");
  EXPECT_THAT(planner, HasSubstr("got undeliverable from critic-0: psst (permission denied: role "
                                 "'planner' may not message role 'critic'"));
  EXPECT_THAT(planner, HasSubstr("got undeliverable from other/worker-0: forged (no agent "
                                 "'other/worker-0' in swarm m"));
  EXPECT_THAT(planner, HasSubstr("broadcast failed: broadcast: this agent's role may not broadcast"));
  EXPECT_TRUE(log_says("planner-0", "reply: no request 4242 is waiting for an answer"));
  EXPECT_THAT(logs("critic-0"), Not(HasSubstr("psst")));
  EXPECT_THAT(logs("worker-0"),
              HasSubstr("dm failed: send: this agent's role may not send direct messages"));
  EXPECT_TRUE(eventually([&] {
    return daemon.metric("smolswarms_permission_denied_total{op=\"dm\",role=\"planner\",swarm=\"m\"}") == 2;
  }));
  RunResult events = daemon.ctl({"events", "m"});
  EXPECT_THAT(events.out, HasSubstr("planner-0: permission denied: role 'planner' may not message "
                                    "role 'critic'"));
}

TEST_F(Messaging, ABadDmRoleInTheSpecIsAnErrorAtItsPosition) {
  RunResult r = daemon.ctl({"up", dir.write("bad.toml", "name = \"b\"\n" +
                                                            chat("a", 1, {},
                                                                 "[agents.permissions]\ndm = "
                                                                 "[\"ghost\"]\n"))});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("bad.toml:7:7: agents[0].permissions.dm[0] = \"ghost\": is not the "
                               "role of any [[agents]] section of this swarm"));
}

TEST_F(Messaging, OversizedOrMalformedMessagesStopTheSenderAsProtocolError) {
  up(chat("sink", 1, {}) + chat("big", 1, {"await", "big", "sink-0", "2000000"}) +
     chat("noise", 1, {"await", "garbage"}));
  ASSERT_EQ(daemon.ctl({"broadcast", "m", "go", "now"}).status, 0);
  for (std::string id : {"big-0", "noise-0"}) {
    ASSERT_TRUE(eventually([&] {
      nlohmann::json ps = daemon.ctl_json({"ps", "m"});
      for (const auto& a : ps["agents"]) {
        if (a["id"] == id && a["last_exit"]["reason"] == "protocol_error") return true;
      }
      return false;
    })) << daemon.ctl({"ps", "m"}).out;
  }
  std::string events = daemon.ctl({"events", "m"}).out;
  EXPECT_THAT(events, HasSubstr("big-0: protocol error: sent a message payload of 2000000 bytes; "
                                "at most 1048576 are allowed"));
  EXPECT_THAT(events, HasSubstr("noise-0: protocol error: sent what swarmd cannot accept"));
  ASSERT_EQ(daemon.ctl({"dm", "m/sink-0", "still here?"}).status, 0);
  EXPECT_TRUE(log_says("sink-0", "got dm from operator: still here?"));
  EXPECT_GE(daemon.metric("smolswarms_messages_refused_total{reason=\"protocol_error\",swarm=\"m\"}"), 2);
}

// An agent that asks and never reads the answers would have the daemon keep
// them all (and once crashed it freeing them): past the backlog limit of its
// connection it is stopped, and the rest of the swarm carries on.
TEST_F(Messaging, AnAgentThatNeverReadsItsAnswersIsStoppedAtTheBacklogLimit) {
  up(chat("sink", 1, {}) + chat("deaf", 1, {"await", "deaf", "600000"}));
  ASSERT_EQ(daemon.ctl({"dm", "m/deaf-0", "--topic", "go", "now"}).status, 0);
  ASSERT_TRUE(eventually([&] {
    nlohmann::json ps = daemon.ctl_json({"ps", "m"});
    for (const auto& a : ps["agents"]) {
      if (a["id"] == "deaf-0" && a["last_exit"]["reason"] == "protocol_error") return true;
    }
    return false;
  }, std::chrono::seconds(60))) << daemon.ctl({"ps", "m"}).out << daemon.ctl({"logs", "m/deaf-0"}).out;
  EXPECT_THAT(daemon.ctl({"events", "m"}).out,
              HasSubstr("deaf-0: protocol error: sent what swarmd cannot accept: the peer stopped "
                        "reading its socket"));
  ASSERT_EQ(daemon.ctl({"dm", "m/sink-0", "still here?"}).status, 0);
  EXPECT_TRUE(log_says("sink-0", "got dm from operator: still here?"));
}

// Before hello, too, what swarmd cannot accept stops the agent as a
// protocol error that says what was wrong. Both once read as a hang-up
// (stopped only after the grace, "closed its connection to swarmd but kept
// running"): bytes that are no message, and a well-formed message that
// breaks the RPC protocol.
struct BeforeHello {
  const char* flag;
  const char* why;
};
void PrintTo(const BeforeHello& b, std::ostream* os) { *os << b.flag; }

class MessagingBeforeHello : public Messaging, public ::testing::WithParamInterface<BeforeHello> {};

TEST_P(MessagingBeforeHello, IsAProtocolErrorThatSaysWhy) {
  // Not up(): the swarm never comes up whole, so `up` may fail.
  daemon.ctl({"up", dir.write("m.toml", "name = \"m\"\n" + chat("sink", 1, {}) +
                                            chat("noise", 1, {GetParam().flag}))});
  ASSERT_TRUE(eventually([&] {
    nlohmann::json ps = daemon.ctl_json({"ps", "m"});
    for (const auto& a : ps["agents"]) {
      if (a["id"] == "noise-0" && a["last_exit"]["reason"] == "protocol_error") return true;
    }
    return false;
  })) << daemon.ctl({"ps", "m"}).out << daemon.ctl({"logs", "m/noise-0"}).out;
  std::string events = daemon.ctl({"events", "m"}).out;
  EXPECT_THAT(events, HasSubstr("noise-0: protocol error: sent what swarmd cannot accept: "));
  EXPECT_THAT(events, HasSubstr(GetParam().why));
}

INSTANTIATE_TEST_SUITE_P(
    Sent, MessagingBeforeHello,
    ::testing::Values(BeforeHello{"--garbage-first", "Message has too many segments"},
                      BeforeHello{"--bad-rpc-first", "'Finish' for invalid question ID"}),
    [](const auto& info) { return std::string(info.param.flag[2] == 'g' ? "Garbage" : "BadRpc"); });

TEST_F(Messaging, ATopicLongerThanAnyTopicIsAProtocolError) {
  up(chat("sink", 1, {}) + chat("loud", 1, {"await", "longtopic", "sink-0", "5000"}));
  ASSERT_EQ(daemon.ctl({"dm", "m/loud-0", "--topic", "go", "now"}).status, 0);
  ASSERT_TRUE(eventually([&] {
    nlohmann::json ps = daemon.ctl_json({"ps", "m"});
    return ps["agents"][1]["last_exit"]["reason"] == "protocol_error";
  })) << daemon.ctl({"ps", "m"}).out;
  EXPECT_THAT(daemon.ctl({"events", "m"}).out,
              HasSubstr("loud-0: protocol error: sent a topic of 5000 bytes; at most 1024 are allowed"));
}

// An agent that dies with messages it never read resets its connection
// (ECONNRESET on the daemon's side): that is a crash, not a protocol error.
TEST_F(Messaging, AnAgentThatCrashesWithUnreadMessagesIsACrash) {
  up(chat("victim", 1, {"--quiet", "--slow", "200", "--crash-after", "700"}) +
     chat("src", 1, {"await", "flood", "victim-0", "500"}));
  ASSERT_EQ(daemon.ctl({"dm", "m/src-0", "--topic", "go", "now"}).status, 0);
  ASSERT_TRUE(eventually([&] {
    nlohmann::json ps = daemon.ctl_json({"ps", "m"});
    return ps["agents"][0]["state"] == "exited";
  })) << daemon.ctl({"ps", "m"}).out;
  nlohmann::json ps = daemon.ctl_json({"ps", "m"});
  EXPECT_EQ(ps["agents"][0]["last_exit"]["reason"], "crashed") << ps.dump();
}

TEST_F(Messaging, TheOperatorSendsAndSeesTrafficInTheEventStream) {
  up(chat("a", 2, {}));
  RunResult dm = daemon.ctl({"dm", "m/a-1", "--topic", "orders", "start"});
  ASSERT_EQ(dm.status, 0) << dm.err;
  EXPECT_THAT(dm.out, HasSubstr("queued for m/a-1"));
  EXPECT_TRUE(log_says("a-1", "got dm from operator [orders]: start"));
  RunResult b = daemon.ctl({"broadcast", "m", "news", "hello"});
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_THAT(b.out, HasSubstr("queued for 2 agents of swarm m"));
  RunResult unknown = daemon.ctl({"dm", "m/zed-9", "hi"});
  EXPECT_EQ(unknown.status, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no agent 'zed-9' in swarm m"));
  EXPECT_TRUE(eventually([&] {
    return daemon.ctl({"events", "m"}).out.find("swarm m: messages: 2 broadcast, 1 dm") !=
           std::string::npos;
  }));
}

// The operator's messages meet the agents' bounds (a broadcast copies its
// payload into every mailbox), and swarmctl does not read endless input.
TEST_F(Messaging, TheOperatorIsHeldToTheMessageBounds) {
  up(chat("a", 2, {}));
  auto ctl_stdin = [&](const std::string& feed, const std::string& args) {
    return run({"/bin/sh", "-c",
                feed + " | " + bin("swarmctl") + " --socket " + daemon.socket() + " " + args});
  };
  RunResult dm = ctl_stdin("head -c 1048577 /dev/zero", "dm m/a-0 -");
  EXPECT_EQ(dm.status, 1);
  EXPECT_THAT(dm.err, HasSubstr("a message payload of 1048577 bytes; at most 1048576 are allowed "
                                "([messaging] max_payload)"));
  RunResult cast = ctl_stdin("head -c 1048577 /dev/zero", "broadcast m news -");
  EXPECT_EQ(cast.status, 1);
  EXPECT_THAT(cast.err, HasSubstr("a message payload of 1048577 bytes"));
  RunResult topic = daemon.ctl({"broadcast", "m", std::string(1025, 't'), "hi"});
  EXPECT_EQ(topic.status, 1);
  EXPECT_THAT(topic.err, HasSubstr("a topic of 1025 bytes; at most 1024 are allowed"));
  RunResult endless = ctl_stdin("cat /dev/zero", "dm m/a-0 -");
  EXPECT_EQ(endless.status, 1);
  EXPECT_THAT(endless.err, HasSubstr("stdin holds more than 16 MiB"));
  // Nothing of it was delivered; a message within the bounds still is.
  ASSERT_EQ(daemon.ctl({"dm", "m/a-0", "small"}).status, 0);
  EXPECT_TRUE(log_says("a-0", "got dm from operator: small"));
  EXPECT_THAT(logs("a-0"), Not(HasSubstr("[news]")));
}

TEST_F(Messaging, MessagesToAnAgentThatStoppedForGoodAreRefused) {
  up(chat("a", 1, {}) + "[[agents]]\nrole = \"gone\"\ncommand = [\"" + bin("smol-echo-agent") +
     "\", \"--exit-after\", \"1000\"]\n");
  ASSERT_TRUE(eventually([&] {
    return daemon.ctl_json({"ps", "m"})["agents"][1]["state"] == "exited";
  }));
  RunResult r = daemon.ctl({"dm", "m/gone-0", "anyone?"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("gone-0 has stopped for good"));
}

}  // namespace
}  // namespace smol::test
