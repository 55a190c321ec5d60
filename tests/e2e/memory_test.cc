// `swarmctl mem ...`: the swarm's memory tiers through the real daemon, as
// an operator uses them: put, get, ls, recall, consolidate, rm, what survives
// a restart, and the errors a person can make.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <optional>
#include <string>

#include "storage/lmdb_env.h"
#include "storage/memory_store.h"
#include "tests/e2e/harness.h"

namespace smol::test {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

class Memory : public ::testing::Test {
 protected:
  void SetUp() override { up(*daemon); }

  // A swarm named "mem" that ran and stopped: known to `swarmctl ls`.
  void up(const Daemon& d) {
    std::string spec = "name = \"mem\"\n[[agents]]\nrole = \"a\"\ncommand = [\"" +
                       bin("smol-echo-agent") + "\"]\n";
    ASSERT_EQ(d.ctl({"up", dir.write("mem.toml", spec)}).status, 0);
    ASSERT_EQ(d.ctl({"down", "mem"}).status, 0);
  }

  RunResult put(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"mem", "put", "mem"};
    all.insert(all.end(), args.begin(), args.end());
    return daemon->ctl(all);
  }

  // swarmctl with stdin from a file.
  RunResult ctl_stdin(const std::string& input_file, const std::string& args) {
    return run({"/bin/sh", "-c",
                "exec \"" + bin("swarmctl") + "\" --socket \"" + daemon->socket() + "\" " + args +
                    " < \"" + input_file + "\""});
  }

  TempDir dir;
  std::optional<Daemon> daemon{std::in_place, dir};
};

TEST_F(Memory, PutGetAndListAcrossTiersWithTags) {
  ASSERT_EQ(put({"working", "plan", "write the parser first", "--tag", "todo", "--tag", "parser"})
                .status,
            0);
  ASSERT_EQ(put({"long-term", "style", "tabs are banned"}).status, 0);
  RunResult r = put({"short-term", "scratch", "half a thought", "--agent", "a-0", "--ttl", "5m"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("put short-term scratch in swarm mem"));

  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "plan"}).out, "write the parser first");
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "long_term", "style"}).out, "tabs are banned");
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "short-term", "scratch", "--agent", "a-0"}).out,
            "half a thought");
  // Another agent does not see a-0's short-term entry.
  r = daemon->ctl({"mem", "get", "mem", "short-term", "scratch", "--agent", "a-1"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("no short_term entry 'scratch' of agent 'a-1'"));

  // A value from stdin.
  std::string file = dir.write("v.txt", "from stdin\n");
  r = ctl_stdin(file, "mem put mem working piped -");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "piped"}).out, "from stdin\n");

  r = daemon->ctl({"mem", "ls", "mem", "working"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("^KEY +SIZE +TAGS +WRITER +UPDATED +RECALLS\n"));
  EXPECT_THAT(r.out, ContainsRegex("\npiped +11B +- +- +[0-9]+s +0\n"));
  EXPECT_THAT(r.out, ContainsRegex("\nplan +22B +parser,todo +- +[0-9]+s +0\n"));
  r = daemon->ctl({"mem", "ls", "mem", "working", "--prefix", "pl"});
  EXPECT_THAT(r.out, HasSubstr("plan"));
  EXPECT_THAT(r.out, Not(HasSubstr("piped")));

  auto j = daemon->ctl_json({"mem", "ls", "mem", "short-term", "--agent", "a-0"});
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["key"], "scratch");
  EXPECT_EQ(j["entries"][0]["owner"], "a-0");
  EXPECT_GT(j["entries"][0]["expires_unix_millis"].get<int64_t>(), 0);
}

TEST_F(Memory, RecallRanksTheBestMatchFirst) {
  ASSERT_EQ(put({"working", "cats", "cats purr and sleep all day on the sofa"}).status, 0);
  ASSERT_EQ(put({"working", "dogs", "dogs bark at the mail carrier", "--tag", "pets"}).status, 0);
  ASSERT_EQ(put({"long-term", "lmdb", "lmdb is a memory mapped key value store with "
                 "transactions; lmdb commits are durable"}).status, 0);
  ASSERT_EQ(put({"long-term", "rust", "rust has a borrow checker"}).status, 0);
  ASSERT_EQ(put({"short-term", "note", "check lmdb map size", "--agent", "a-0"}).status, 0);

  auto j = daemon->ctl_json({"mem", "recall", "mem", "lmdb durable commits"});
  ASSERT_GE(j["hits"].size(), 1u);
  EXPECT_EQ(j["hits"][0]["entry"]["key"], "lmdb");
  EXPECT_EQ(j["hits"][0]["entry"]["tier"], "long_term");
  // Without --agent no short-term entry is searched.
  for (const auto& h : j["hits"]) EXPECT_NE(h["entry"]["key"], "note");

  RunResult r = daemon->ctl({"mem", "recall", "mem", "lmdb map", "--agent", "a-0", "-k", "1"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("^SCORE +TIER +KEY +EXCERPT\n[0-9.]+ +short-term +note +check "
                                   "lmdb map size\n$"));

  j = daemon->ctl_json({"mem", "recall", "mem", "dogs cats", "--tier", "working", "--tag", "pets"});
  ASSERT_EQ(j["hits"].size(), 1u);
  EXPECT_EQ(j["hits"][0]["entry"]["key"], "dogs");
  j = daemon->ctl_json({"mem", "recall", "mem", "lmdb", "--tier", "working"});
  EXPECT_EQ(j["hits"].size(), 0u);
}

TEST_F(Memory, ConsolidationKeepsProvenanceAndRmDeletes) {
  ASSERT_EQ(put({"short-term", "idea", "cache the index", "--agent", "a-0", "--tag", "perf"})
                .status,
            0);
  RunResult r = daemon->ctl({"mem", "consolidate", "mem", "short-term", "idea", "--agent", "a-0"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("moved idea from short-term to working"));
  r = daemon->ctl({"mem", "consolidate", "mem", "working", "idea", "--to", "long-term"});
  ASSERT_EQ(r.status, 0) << r.err;

  auto e = daemon->ctl_json({"mem", "get", "mem", "long-term", "idea"})["entry"];
  EXPECT_EQ(e["tier"], "long_term");
  EXPECT_EQ(e["value"], "cache the index");
  EXPECT_EQ(e["writer"], "a-0");
  EXPECT_EQ(e["tags"], nlohmann::json::array({"perf"}));
  EXPECT_GT(e["created_unix_millis"].get<int64_t>(), 0);
  ASSERT_EQ(e["tiers_passed"].size(), 3u);
  EXPECT_EQ(e["tiers_passed"][0]["tier"], "short_term");
  EXPECT_EQ(e["tiers_passed"][0]["by"], "a-0");
  EXPECT_EQ(e["tiers_passed"][1]["tier"], "working");
  EXPECT_EQ(e["tiers_passed"][1]["by"], "a-0");
  EXPECT_EQ(e["tiers_passed"][2]["tier"], "long_term");
  EXPECT_EQ(e["tiers_passed"][2]["by"], "");
  // It left the tiers it passed.
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "idea"}).status, 1);

  ASSERT_EQ(daemon->ctl({"mem", "rm", "mem", "long-term", "idea"}).status, 0);
  r = daemon->ctl({"mem", "get", "mem", "long-term", "idea"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("swarm 'mem' has no long_term entry 'idea'"));
  r = daemon->ctl({"mem", "rm", "mem", "long-term", "idea"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("idea"));
}

TEST_F(Memory, WorkingAndLongTermSurviveARestart) {
  ASSERT_EQ(put({"working", "w", "still here"}).status, 0);
  ASSERT_EQ(put({"long-term", "l", "forever", "--tag", "keep"}).status, 0);
  std::string state = daemon->state_dir();
  ASSERT_EQ(daemon->stop(), 0);
  daemon.reset();

  DaemonOptions opts;
  opts.state_dir = state;
  daemon.emplace(dir, opts);
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "w"}).out, "still here");
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "long-term", "l"}).out, "forever");
  auto j = daemon->ctl_json({"mem", "recall", "mem", "forever", "--tag", "keep"});
  ASSERT_EQ(j["hits"].size(), 1u);
  EXPECT_EQ(j["hits"][0]["entry"]["key"], "l");
}

// Before memory.mdb, swarmd kept the memory in swarmd.mdb: a daemon
// started on such a state dir carries it over, and nothing is lost.
TEST_F(Memory, MemoryThatAnEarlierSwarmdKeptInItsStateFileIsCarriedOver) {
  TempDir own;
  std::string state = own.path() + "/state";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  {
    auto env = storage::LmdbEnv::open(state + "/swarmd.mdb", {});
    storage::memory::Store store(env, {});
    ASSERT_TRUE(store.put({.swarm = "mem", .tier = storage::memory::Tier::long_term,
                           .key = "lesson", .value = "measure before tuning",
                           .tags = {"kept"}}).status.ok());
  }
  DaemonOptions opts;
  opts.state_dir = state;
  Daemon d(own, opts);
  up(d);  // the swarm the memory belongs to
  EXPECT_EQ(d.ctl({"mem", "get", "mem", "long-term", "lesson"}).out, "measure before tuning");
  auto j = d.ctl_json({"mem", "recall", "mem", "tuning", "--tag", "kept"});
  ASSERT_EQ(j["hits"].size(), 1u);
  EXPECT_EQ(j["hits"][0]["entry"]["key"], "lesson");
  ASSERT_EQ(d.ctl({"mem", "put", "mem", "working", "new", "after the move"}).status, 0);
  ASSERT_EQ(d.stop(), 0);
  Daemon again(own, opts);  // nothing left to move; both entries stay
  EXPECT_EQ(again.ctl({"mem", "get", "mem", "long-term", "lesson"}).out, "measure before tuning");
  EXPECT_EQ(again.ctl({"mem", "get", "mem", "working", "new"}).out, "after the move");
}

TEST_F(Memory, AShortTermEntryDoesNotOutliveItsTtl) {
  ASSERT_EQ(put({"short-term", "blink", "gone soon", "--agent", "a-0", "--ttl", "1s"}).status, 0);
  ASSERT_EQ(put({"working", "stays", "here"}).status, 0);
  // Expired entries are invisible at once and removed by the daemon's
  // incremental expiry (every second) soon after.
  EXPECT_TRUE(eventually([&] {
    return daemon->ctl({"mem", "get", "mem", "short-term", "blink", "--agent", "a-0"}).status == 1;
  }));
  EXPECT_TRUE(eventually([&] {
    return daemon->metric("smolswarms_memory_entries{swarm=\"mem\",tier=\"short_term\"}") == 0;
  }));
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "stays"}).out, "here");
  // A TTL about as short as the write takes: stored, and perhaps expired by
  // the answer, which says so; either way the put succeeded.
  RunResult r = put({"short-term", "flash", "v", "--agent", "a-0", "--ttl", "1ms"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("put short-term flash in swarm mem (1B"));
}

// batch and none answer a write once committed, not synced: a daemon that
// stops (or crashes: the OS still has the pages) loses none of it.
TEST_F(Memory, UnderEachDurabilityWhatWasAnsweredSurvivesARestart) {
  for (std::string durability : {"batch", "none"}) {
    TempDir own;  // beside the fixture's daemon, which holds the usual socket path
    std::string config = own.write("memory.toml",
                                   "[memory]\ndurability = \"" + durability + "\"\n");
    DaemonOptions opts;
    opts.extra_args = {"--config", config};
    Daemon d(own, opts);
    up(d);
    ASSERT_EQ(d.ctl({"mem", "put", "mem", "working", "k", durability}).status, 0);
    std::string state = d.state_dir();
    ASSERT_EQ(d.stop(SIGKILL), 128 + SIGKILL);

    DaemonOptions again = opts;
    again.state_dir = state;
    Daemon restarted(own, again);
    EXPECT_EQ(restarted.ctl({"mem", "get", "mem", "working", "k"}).out, durability);
  }
}

TEST_F(Memory, MistakesGetClearMessages) {
  RunResult r = daemon->ctl({"mem", "put", "nosuch", "working", "k", "v"});
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("no swarm named 'nosuch'"));

  r = put({"forever", "k", "v"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown tier 'forever': expected short-term, working or long-term"));

  r = put({"short-term", "k", "v"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("short-term entries belong to one agent: name it with --agent"));

  r = daemon->ctl({"mem", "recall", "mem", "x", "--tier", "nope"});
  EXPECT_EQ(r.status, 2);
  r = daemon->ctl({"mem", "recall", "mem", "x", "--tier", "short-term"});
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.err, HasSubstr("short-term entries belong to one agent: name it with --agent"));

  std::string big = dir.write("big", std::string((1 << 20) + 1, 'x'));
  r = ctl_stdin(big, "mem put mem working big -");
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.err, HasSubstr("value"));
  EXPECT_THAT(r.err, HasSubstr("1048577"));
  EXPECT_EQ(daemon->ctl({"mem", "get", "mem", "working", "big"}).status, 1);
}

// Keys, tags and values are agents' words: on the operator's terminal an
// escape sequence in them is spelled out, not obeyed; other scripts read as
// written.
TEST_F(Memory, WhatAgentsWroteCannotDriveTheOperatorsTerminal) {
  ASSERT_EQ(put({"working", "evil\x1b]0;pwned\a\x1b[31mRED", "Grüße aus Köln\x1b[2J", "--tag",
                 "t\x1b[8m"})
                .status,
            0);
  for (const auto& args : {std::vector<std::string>{"mem", "ls", "mem", "working"},
                           std::vector<std::string>{"mem", "recall", "mem", "köln"}}) {
    RunResult r = daemon->ctl(args);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\a'), std::string::npos) << r.out;
    EXPECT_THAT(r.out, HasSubstr("evil\\x1b]0;pwned\\x07\\x1b[31mRED")) << r.out;
  }
  EXPECT_THAT(daemon->ctl({"mem", "ls", "mem", "working"}).out, HasSubstr("t\\x1b[8m"));
  EXPECT_THAT(daemon->ctl({"mem", "recall", "mem", "köln"}).out,
              HasSubstr("Grüße aus Köln\\x1b[2J"));
}

TEST_F(Memory, OpsShowInTheMetrics) {
  ASSERT_EQ(put({"working", "m", "measured"}).status, 0);
  std::string address = daemon->ctl_json({"status"})["status"]["metrics_address"];
  std::string body = http_get(address, "/metrics");
  EXPECT_THAT(body, ContainsRegex("smolswarms_memory_ops_total\\{[^}]*op=\"put\"[^}]*\\} 1"));
  EXPECT_THAT(body, ContainsRegex("smolswarms_memory_entries\\{swarm=\"mem\",tier=\"working\"\\} 1"));
  EXPECT_THAT(body, ContainsRegex("smolswarms_memory_commit_seconds_count [1-9]"));
  EXPECT_THAT(body, ContainsRegex("smolswarms_db_bytes\\{file=\"memory.mdb\"\\} [1-9]"));
  EXPECT_THAT(body, ContainsRegex("smolswarms_db_bytes\\{file=\"swarmd.mdb\"\\} [1-9]"));
}

}  // namespace
}  // namespace smol::test
