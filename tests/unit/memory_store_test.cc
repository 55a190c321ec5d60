#include "storage/memory_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "storage/memory_codec.h"
#include "storage/memory_sorted_set.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage::memory {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;  // Unix ms
constexpr int64_t kMinute = 60'000;

class ManualClock final : public Clock {
 public:
  int64_t now_ms() override { return now; }
  int64_t now = kStart;
};

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { open(); }
  void TearDown() override { close(); }

  void open(LmdbEnv::Options env_options = {}, Options options = {}) {
    env_.reset(new LmdbEnv(LmdbEnv::open(dir_.path() + "/swarmd.mdb", env_options)));
    options.clock = &clock_;
    store_ = std::make_unique<Store>(*env_, options);
  }
  void close() {
    store_.reset();
    env_.reset();
  }

  WriteResult put(Tier tier, std::string agent, std::string key, std::string value,
                  std::vector<std::string> tags = {}) {
    return store_->put({.swarm = "alpha",
                        .tier = tier,
                        .agent = std::move(agent),
                        .key = std::move(key),
                        .value = std::move(value),
                        .tags = std::move(tags)});
  }
  std::optional<Entry> get(Tier tier, std::string agent, std::string key) {
    return store_->get({"alpha", tier, std::move(agent), std::move(key)});
  }
  // Keys of recall hits, best first.
  std::vector<std::string> recall_keys(std::string query, TierSet tiers = TierSet::all(),
                                       std::string agent = "a1", std::vector<std::string> tags = {},
                                       size_t k = 10) {
    std::vector<std::string> keys;
    for (const RecallHit& h : store_->recall({.swarm = "alpha",
                                              .agent = std::move(agent),
                                              .query = std::move(query),
                                              .k = k,
                                              .tiers = tiers,
                                              .tags = std::move(tags)})) {
      keys.push_back(h.entry.key);
    }
    return keys;
  }
  std::vector<std::string> list_keys(Tier tier, std::string agent, std::string prefix = "") {
    std::vector<std::string> keys;
    ListPage page = store_->list({.swarm = "alpha", .tier = tier, .agent = std::move(agent),
                                  .prefix = std::move(prefix)});
    for (const Entry& e : page.entries) keys.push_back(e.key);
    return keys;
  }

  test::ScratchDir dir_{"smol-mem-store"};
  ManualClock clock_;
  std::unique_ptr<LmdbEnv> env_;
  std::unique_ptr<Store> store_;
};

// The invalid_argument message of body, or "" when it throws none.
template <typename F>
std::string invalid_argument(F&& body) {
  try {
    body();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST_F(MemoryStoreTest, PutGetListDeleteInEveryTier) {
  for (Tier tier : {Tier::short_term, Tier::working, Tier::long_term}) {
    SCOPED_TRACE(tier_name(tier));
    ASSERT_TRUE(put(tier, "a1", "notes/b", "second note", {"x", "a", "x"}).status.ok());
    ASSERT_TRUE(put(tier, "a1", "notes/a", "first note").status.ok());
    ASSERT_TRUE(put(tier, "a1", "other", "not a note").status.ok());

    std::optional<Entry> e = get(tier, "a1", "notes/b");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->value, "second note");
    EXPECT_EQ(e->tags, (std::vector<std::string>{"a", "x"}));
    EXPECT_EQ(e->tier, tier);
    EXPECT_EQ(e->provenance.writer, "a1");
    EXPECT_EQ(e->provenance.created_ms, kStart);
    EXPECT_EQ(e->provenance.tiers, (std::vector<TierStep>{{tier, kStart, "a1"}}));
    EXPECT_EQ(e->expires_ms, tier == Tier::short_term ? kStart + 10 * kMinute : 0);

    EXPECT_EQ(list_keys(tier, "a1", "notes/"), (std::vector<std::string>{"notes/a", "notes/b"}));
    EXPECT_EQ(list_keys(tier, "a1"), (std::vector<std::string>{"notes/a", "notes/b", "other"}));

    EXPECT_TRUE(store_->del({"alpha", tier, "a1", "notes/a"}).status.ok());
    EXPECT_FALSE(get(tier, "a1", "notes/a"));
    EXPECT_TRUE(store_->del({"alpha", tier, "a1", "notes/a"}).status.is_not_found());
    EXPECT_EQ(list_keys(tier, "a1", "notes/"), (std::vector<std::string>{"notes/b"}));
  }
  Usage u = store_->usage("alpha");
  EXPECT_EQ(u.entries, 6u);
  EXPECT_EQ(u.entries_by_tier, (std::array<uint64_t, 3>{2, 2, 2}));
}

TEST_F(MemoryStoreTest, ListPagesThroughAPrefixInKeyOrder) {
  for (int i = 0; i < 250; ++i) {
    char key[16];
    snprintf(key, sizeof key, "k/%03d", i);
    store_->submit_put({.swarm = "alpha", .tier = Tier::working, .key = key, .value = "v"}, nullptr);
  }
  store_->submit_put({.swarm = "alpha", .tier = Tier::working, .key = "l/0", .value = "v"}, nullptr);
  store_->flush();

  std::vector<std::string> seen;
  ListRequest req{.swarm = "alpha", .tier = Tier::working, .prefix = "k/", .limit = 100};
  int pages = 0;
  for (;; ++pages) {
    ListPage page = store_->list(req);
    for (const Entry& e : page.entries) {
      seen.push_back(e.key);
      EXPECT_TRUE(e.value.empty());
      EXPECT_EQ(e.value_size, 1u);
    }
    if (page.next_start_after.empty()) break;
    req.start_after = page.next_start_after;
  }
  EXPECT_EQ(pages + 1, 3);
  ASSERT_EQ(seen.size(), 250u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen.front(), "k/000");
  EXPECT_EQ(seen.back(), "k/249");
}

TEST_F(MemoryStoreTest, ShortTermEntriesArePrivateToTheirOwner) {
  ASSERT_TRUE(put(Tier::short_term, "a1", "plan", "secret plan about rockets").status.ok());

  EXPECT_TRUE(get(Tier::short_term, "a1", "plan"));
  EXPECT_FALSE(get(Tier::short_term, "a2", "plan"));
  EXPECT_TRUE(list_keys(Tier::short_term, "a2").empty());
  EXPECT_TRUE(recall_keys("rockets", TierSet::all(), "a2").empty());
  EXPECT_TRUE(recall_keys("rockets", TierSet::all(), "").empty());
  EXPECT_TRUE(store_->del({"alpha", Tier::short_term, "a2", "plan"}).status.is_not_found());
  EXPECT_TRUE(store_->consolidate({.from = {"alpha", Tier::short_term, "a2", "plan"}})
                  .status.is_not_found());

  EXPECT_EQ(recall_keys("rockets", TierSet::all(), "a1"), (std::vector<std::string>{"plan"}));
  EXPECT_EQ(list_keys(Tier::short_term, "a1"), (std::vector<std::string>{"plan"}));
  // The other agent's key of the same name is its own entry.
  ASSERT_TRUE(put(Tier::short_term, "a2", "plan", "another plan").status.ok());
  EXPECT_EQ(get(Tier::short_term, "a1", "plan")->value, "secret plan about rockets");
  EXPECT_EQ(get(Tier::short_term, "a2", "plan")->value, "another plan");
}

TEST_F(MemoryStoreTest, ShortTermEntriesExpireThroughTheIncrementalMethod) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(put(Tier::short_term, "a1", "k" + std::to_string(i), "fleeting thought").status.ok());
  }
  ASSERT_TRUE(store_->put({.swarm = "alpha", .tier = Tier::short_term, .agent = "a1", .key = "long",
                           .value = "fleeting but lasting", .ttl_ms = 60 * kMinute})
                  .status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "w", "fleeting shared").status.ok());

  clock_.now = kStart + 10 * kMinute - 1;
  EXPECT_EQ(store_->expire(100).removed, 0u);
  EXPECT_TRUE(get(Tier::short_term, "a1", "k0"));
  // A re-put restarts the time-to-live.
  ASSERT_TRUE(put(Tier::short_term, "a1", "k4", "fleeting thought, refreshed").status.ok());

  clock_.now = kStart + 10 * kMinute;
  // Expired entries are invisible at once, though expire() has not run yet.
  EXPECT_FALSE(get(Tier::short_term, "a1", "k0"));
  EXPECT_EQ(list_keys(Tier::short_term, "a1"), (std::vector<std::string>{"k4", "long"}));
  std::vector<std::string> visible = recall_keys("fleeting");
  std::sort(visible.begin(), visible.end());
  EXPECT_EQ(visible, (std::vector<std::string>{"k4", "long", "w"}));
  EXPECT_EQ(store_->usage("alpha").entries, 7u);  // they still count until removed

  uint64_t commits = store_->counters().commits;
  ExpireReport r = store_->expire(2);
  EXPECT_EQ(r.removed, 2u);
  EXPECT_TRUE(r.more);
  r = store_->expire(2);
  EXPECT_EQ(r.removed, 2u);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(store_->counters().commits, commits + 2);  // one small transaction each
  EXPECT_EQ(store_->expire(2).removed, 0u);
  EXPECT_EQ(store_->counters().commits, commits + 2);  // nothing due: no write at all

  Usage u = store_->usage("alpha");
  EXPECT_EQ(u.entries, 3u);
  EXPECT_EQ(u.entries_by_tier[0], 2u);
  std::vector<std::string> keys = recall_keys("fleeting");
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"k4", "long", "w"}));

  clock_.now = kStart + 61 * kMinute;
  EXPECT_EQ(store_->expire(10).removed, 2u);
  EXPECT_EQ(store_->usage("alpha").entries, 1u);
  EXPECT_EQ(recall_keys("fleeting"), (std::vector<std::string>{"w"}));
}

// BM25 by hand, with the store's parameters (k1 = 1.2, b = 0.75).
double bm25_term(double n, double df, double tf, double len, double avgdl) {
  double idf = std::log(1 + (n - df + 0.5) / (df + 0.5));
  return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / avgdl));
}

TEST_F(MemoryStoreTest, RecallRanksBm25AsComputedByHand) {
  ASSERT_TRUE(put(Tier::working, "a1", "d1", "The cat sat on the mat.").status.ok());  // 6 words
  ASSERT_TRUE(put(Tier::working, "a1", "d2", "the dog SAT").status.ok());             // 3 words
  ASSERT_TRUE(put(Tier::working, "a1", "d3", "a cat, and a cat").status.ok());        // 5 words
  // N = 3, avgdl = 14/3; df(cat) = 2 (d1, d3), df(sat) = 2 (d1, d2).
  const double avgdl = 14.0 / 3;
  const double d1 = bm25_term(3, 2, 1, 6, avgdl) + bm25_term(3, 2, 1, 6, avgdl);
  const double d2 = bm25_term(3, 2, 1, 3, avgdl);
  const double d3 = bm25_term(3, 2, 2, 5, avgdl);
  ASSERT_GT(d1, d3);
  ASSERT_GT(d3, d2);

  std::vector<RecallHit> hits = store_->recall({.swarm = "alpha", .query = "cat sat cat"});
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].entry.key, "d1");
  EXPECT_EQ(hits[1].entry.key, "d3");
  EXPECT_EQ(hits[2].entry.key, "d2");
  EXPECT_NEAR(hits[0].score, d1, 1e-9);
  EXPECT_NEAR(hits[1].score, d3, 1e-9);
  EXPECT_NEAR(hits[2].score, d2, 1e-9);
  EXPECT_EQ(hits[0].entry.value, "The cat sat on the mat.");

  EXPECT_EQ(recall_keys("cat sat", TierSet::all(), "a1", {}, 1), (std::vector<std::string>{"d1"}));
  EXPECT_TRUE(recall_keys("zebra").empty());
  EXPECT_TRUE(recall_keys("  ,;  ").empty());
}

TEST_F(MemoryStoreTest, RecallFiltersByTiersAndTags) {
  ASSERT_TRUE(put(Tier::working, "a1", "w-red", "launch window", {"red"}).status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "w-blue", "launch window", {"blue"}).status.ok());
  ASSERT_TRUE(put(Tier::long_term, "a1", "l-red", "launch window", {"red", "old"}).status.ok());
  ASSERT_TRUE(put(Tier::short_term, "a1", "s-red", "launch window", {"red"}).status.ok());

  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(recall_keys("launch")),
            (std::vector<std::string>{"l-red", "s-red", "w-blue", "w-red"}));
  EXPECT_EQ(recall_keys("launch", {Tier::long_term}), (std::vector<std::string>{"l-red"}));
  EXPECT_EQ(sorted(recall_keys("launch", {Tier::working})),
            (std::vector<std::string>{"w-blue", "w-red"}));
  EXPECT_EQ(sorted(recall_keys("launch", TierSet::all(), "a1", {"red"})),
            (std::vector<std::string>{"l-red", "s-red", "w-red"}));
  EXPECT_EQ(recall_keys("launch", TierSet::all(), "a1", {"red", "old"}),
            (std::vector<std::string>{"l-red"}));
  EXPECT_EQ(recall_keys("launch", {Tier::working, Tier::short_term}, "a1", {"old"}),
            std::vector<std::string>{});
  // k = 1 with a filter that rejects the best candidates still finds one.
  EXPECT_EQ(recall_keys("launch", TierSet::all(), "a1", {"old"}, 1),
            (std::vector<std::string>{"l-red"}));
}

TEST_F(MemoryStoreTest, ConsolidateByKeyMovesUpAndKeepsProvenance) {
  ASSERT_TRUE(put(Tier::short_term, "a1", "idea", "use a bigger antenna", {"radio"}).status.ok());
  clock_.now += kMinute;
  ASSERT_TRUE(store_->consolidate({.from = {"alpha", Tier::short_term, "a1", "idea"}, .by = "a1"})
                  .status.ok());
  EXPECT_FALSE(get(Tier::short_term, "a1", "idea"));
  std::optional<Entry> w = get(Tier::working, "a2", "idea");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, "use a bigger antenna");
  EXPECT_EQ(w->tags, (std::vector<std::string>{"radio"}));
  EXPECT_EQ(w->owner, "");
  EXPECT_EQ(w->expires_ms, 0);
  EXPECT_EQ(w->provenance.writer, "a1");
  EXPECT_EQ(w->provenance.created_ms, kStart);
  EXPECT_EQ(w->provenance.tiers,
            (std::vector<TierStep>{{Tier::short_term, kStart, "a1"}, {Tier::working, kStart + kMinute, "a1"}}));
  // Recall finds it in its new tier only; it no longer expires.
  EXPECT_EQ(recall_keys("antenna", {Tier::working}, "a2"), (std::vector<std::string>{"idea"}));
  EXPECT_TRUE(recall_keys("antenna", {Tier::short_term}, "a1").empty());
  clock_.now += 20 * kMinute;
  EXPECT_EQ(store_->expire(10).removed, 0u);
  EXPECT_TRUE(get(Tier::working, "a1", "idea"));

  ASSERT_TRUE(store_->consolidate({.from = {"alpha", Tier::working, "", "idea"}}).status.ok());
  std::optional<Entry> l = get(Tier::long_term, "", "idea");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->provenance.tiers.size(), 3u);
  EXPECT_EQ(l->provenance.tiers[2], (TierStep{Tier::long_term, kStart + 21 * kMinute, ""}));
  EXPECT_EQ(store_->usage("alpha").entries_by_tier, (std::array<uint64_t, 3>{0, 0, 1}));

  // A destination that has the key already is not overwritten.
  ASSERT_TRUE(put(Tier::working, "a1", "idea", "a newer idea").status.ok());
  WriteResult r = store_->consolidate({.from = {"alpha", Tier::working, "", "idea"}});
  EXPECT_EQ(r.status.code(), ErrorCode::already_exists);
  EXPECT_NE(r.status.message().find("long_term already holds key 'idea'"), std::string::npos);
  EXPECT_EQ(get(Tier::long_term, "", "idea")->value, "use a bigger antenna");
  EXPECT_TRUE(get(Tier::working, "", "idea"));
}

TEST_F(MemoryStoreTest, ConsolidateByRuleOnRecallCountAndOnAge) {
  ASSERT_TRUE(put(Tier::working, "a1", "hot1", "comet trajectory").status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "hot2", "comet tail").status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "cold", "asteroid belt").status.ok());
  for (int i = 0; i < 2; ++i) EXPECT_EQ(recall_keys("comet").size(), 2u);
  EXPECT_TRUE(store_->has_pending());  // recall counts wait for a flush
  store_->flush();
  EXPECT_EQ(get(Tier::working, "", "hot1")->provenance.recall_count, 2u);
  EXPECT_EQ(get(Tier::working, "", "hot1")->provenance.last_recalled_ms, kStart);
  EXPECT_EQ(get(Tier::working, "", "cold")->provenance.recall_count, 0u);

  WriteResult r = store_->consolidate_by_rule(
      {.swarm = "alpha", .from = Tier::working, .rule = {.min_recalls = 2}, .by = "janitor"});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.moved, 2u);
  EXPECT_EQ(r.resume_after, "");
  std::optional<Entry> hot = get(Tier::long_term, "", "hot1");
  ASSERT_TRUE(hot);
  EXPECT_EQ(hot->provenance.recall_count, 2u);
  EXPECT_EQ(hot->provenance.tiers.back(), (TierStep{Tier::long_term, kStart, "janitor"}));
  EXPECT_TRUE(get(Tier::working, "", "cold"));

  // By age, in small scans that resume where the last one stopped.
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(put(Tier::short_term, i % 2 ? "a1" : "a2", "n" + std::to_string(i), "note").status.ok());
    clock_.now += kMinute;
  }
  // Now n0..n5 are 6..1 minutes old; at least 4 minutes: n0, n1, n2.
  RuleRequest rule{.swarm = "alpha", .from = Tier::short_term, .rule = {.min_age_ms = 4 * kMinute},
                   .max_scan = 2};
  size_t moved = 0;
  int calls = 0;
  for (;; ++calls) {
    WriteResult step = store_->consolidate_by_rule(rule);
    ASSERT_TRUE(step.status.ok());
    moved += step.moved;
    if (step.resume_after.empty()) break;
    rule.start_after = step.resume_after;
  }
  EXPECT_EQ(moved, 3u);
  EXPECT_GE(calls, 2);
  std::vector<std::string> working = list_keys(Tier::working, "");
  EXPECT_EQ(working, (std::vector<std::string>{"cold", "n0", "n1", "n2"}));
  EXPECT_EQ(list_keys(Tier::short_term, "a1"), (std::vector<std::string>{"n3", "n5"}));
  EXPECT_EQ(get(Tier::working, "", "n1")->provenance.tiers.front().by, "a1");
}

TEST_F(MemoryStoreTest, OpeningAnOlderStoreDeletesItsKeySetsAndKeepsItsEntriesAndExpiry) {
  ASSERT_TRUE(put(Tier::short_term, "a1", "plan", "rockets").status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "w0", "shared").status.ok());
  store_.reset();
  // What an older store also kept: each (swarm, tier)'s keys in a sorted
  // set, big enough here to take several chunks.
  NamedDb sets = env_->open_db(kDbNames[2]);
  auto records = [&] {
    size_t n = 0;
    env_->begin_read().for_each(sets, [&](std::string_view, std::string_view) { ++n; });
    return n;
  };
  const size_t expiry_records = records();
  env_->write([&](Txn& txn) {
    SetWriter w(txn, sets);
    w.insert(std::string(kOldKeysetPrefix) + std::string("alpha\0s", 7), std::string("a1\0plan", 7));
    for (int i = 0; i < 2000; ++i) {
      w.insert(std::string(kOldKeysetPrefix) + std::string("alpha\0w", 7),
               "w" + std::to_string(i) + std::string(40, 'x'));
    }
    w.write_back();
  });
  ASSERT_GT(records(), expiry_records + 10);

  store_ = std::make_unique<Store>(*env_, Options{.clock = &clock_});
  EXPECT_EQ(records(), expiry_records);
  EXPECT_EQ(list_keys(Tier::working, ""), (std::vector<std::string>{"w0"}));
  EXPECT_EQ(list_keys(Tier::short_term, "a1"), (std::vector<std::string>{"plan"}));
  clock_.now += 11 * kMinute;
  EXPECT_EQ(store_->expire(10).removed, 1u);
}

// Scores of a recall, by key.
std::map<std::string, double> scores(Store& store, const std::string& query) {
  std::map<std::string, double> out;
  for (const RecallHit& h : store.recall({.swarm = "alpha", .query = query, .k = 100})) {
    out[h.entry.key] = h.score;
  }
  return out;
}

TEST_F(MemoryStoreTest, IndexStaysConsistentThroughRePutsDeletesAndMoves) {
  ASSERT_TRUE(put(Tier::working, "a1", "fruit", "apple banana apple").status.ok());
  ASSERT_TRUE(put(Tier::working, "a1", "fruit", "cherry").status.ok());
  EXPECT_TRUE(recall_keys("apple banana").empty());
  EXPECT_EQ(recall_keys("cherry"), (std::vector<std::string>{"fruit"}));
  ASSERT_TRUE(store_->del({"alpha", Tier::working, "", "fruit"}).status.ok());
  EXPECT_TRUE(recall_keys("cherry").empty());

  // Churn one store; build the end state directly in another; the scores
  // (which depend on N, df, avgdl and every tf) must agree exactly.
  const std::vector<std::string> words = {"red", "green", "blue", "cyan", "magenta", "yellow"};
  auto text = [&](int i, int salt) {
    std::string t;
    for (int j = 0; j < 3 + (i + salt) % 5; ++j) t += words[(i * 7 + j * (salt + 1)) % words.size()] + " ";
    return t;
  };
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(put(Tier::working, "a1", "e" + std::to_string(i), text(i, 0)).status.ok());
  for (int i = 0; i < 40; i += 3) ASSERT_TRUE(store_->del({"alpha", Tier::working, "", "e" + std::to_string(i)}).status.ok());
  for (int i = 1; i < 40; i += 3) ASSERT_TRUE(put(Tier::working, "a1", "e" + std::to_string(i), text(i, 1)).status.ok());
  for (int i = 2; i < 40; i += 6) {
    ASSERT_TRUE(store_->consolidate({.from = {"alpha", Tier::working, "", "e" + std::to_string(i)}}).status.ok());
  }
  std::map<std::string, double> churned = scores(*store_, "red blue magenta");

  ManualClock other_clock;
  LmdbEnv other_env = LmdbEnv::open(dir_.path() + "/other.mdb", {});
  Store other(other_env, {.clock = &other_clock});
  for (int i = 0; i < 40; ++i) {
    if (i % 3 == 0) continue;
    Tier tier = (i % 6 == 2) ? Tier::long_term : Tier::working;
    ASSERT_TRUE(other.put({.swarm = "alpha", .tier = tier, .key = "e" + std::to_string(i),
                           .value = text(i, i % 3 == 1 ? 1 : 0)})
                    .status.ok());
  }
  std::map<std::string, double> fresh = scores(other, "red blue magenta");
  ASSERT_EQ(churned.size(), fresh.size());
  for (const auto& [key, score] : fresh) EXPECT_NEAR(churned[key], score, 1e-9) << key;
}

TEST_F(MemoryStoreTest, AKeyWrittenSeveralTimesInOneBatchIsIndexedOnceAsItsLastValue) {
  auto put_later = [&](std::string key, std::string value) {
    store_->submit_put({.swarm = "alpha", .key = std::move(key), .value = std::move(value)}, nullptr);
  };
  put_later("k", "alpha beta");
  put_later("j", "alpha delta");
  put_later("k", "gamma alpha");
  put_later("gone", "alpha epsilon");
  store_->submit_delete({"alpha", Tier::working, "", "gone"}, nullptr);
  store_->flush();
  EXPECT_TRUE(recall_keys("beta").empty());
  EXPECT_TRUE(recall_keys("epsilon").empty());
  EXPECT_EQ(recall_keys("gamma"), (std::vector<std::string>{"k"}));
  EXPECT_EQ(store_->usage("alpha").entries, 2u);

  ManualClock other_clock;
  LmdbEnv other_env = LmdbEnv::open(dir_.path() + "/other.mdb", {});
  Store other(other_env, {.clock = &other_clock});
  ASSERT_TRUE(other.put({.swarm = "alpha", .key = "j", .value = "alpha delta"}).status.ok());
  ASSERT_TRUE(other.put({.swarm = "alpha", .key = "k", .value = "gamma alpha"}).status.ok());
  EXPECT_EQ(scores(*store_, "alpha gamma delta"), scores(other, "alpha gamma delta"));
}

TEST_F(MemoryStoreTest, QuotasRefuseGrowthNamingSwarmQuotaAndAmountsAndDeletesFreeThem) {
  store_->set_quota("alpha", {.max_bytes = 100, .max_entries = 3});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(put(Tier::working, "a1", "k" + std::to_string(i), "v").status.ok());
  WriteResult r = put(Tier::working, "a1", "k3", "v");
  EXPECT_TRUE(r.status.is_quota_exceeded());
  EXPECT_EQ(r.status.message(),
            "swarm alpha: quota max_entries exceeded: 3 entries stored, 1 more would pass the limit 3");
  // Replacing an entry adds none.
  EXPECT_TRUE(put(Tier::working, "a1", "k0", "w").status.ok());
  // Other swarms have their own quota.
  EXPECT_TRUE(store_->put({.swarm = "beta", .key = "k3", .value = "v"}).status.ok());

  ASSERT_TRUE(store_->del({"alpha", Tier::working, "", "k1"}).status.ok());
  EXPECT_TRUE(put(Tier::working, "a1", "k3", "v").status.ok());

  // k0, k2, k3: 3 entries of key 2 + value 1 = 9 bytes; a 92-byte value for
  // k0 makes it 9 - 3 + 94 = 100: fits.
  EXPECT_EQ(store_->usage("alpha").bytes, 9u);
  EXPECT_TRUE(put(Tier::working, "a1", "k0", std::string(92, 'x')).status.ok());
  r = put(Tier::working, "a1", "k0", std::string(93, 'x'));
  EXPECT_TRUE(r.status.is_quota_exceeded());
  EXPECT_EQ(r.status.message(),
            "swarm alpha: quota max_bytes exceeded: 100 bytes stored, this put of 95 bytes would "
            "make it 101, over the limit 100");
  EXPECT_EQ(get(Tier::working, "", "k0")->value, std::string(92, 'x'));
  Usage u = store_->usage("alpha");
  EXPECT_EQ(u.bytes, 100u);
  EXPECT_EQ(u.entries, 3u);
  ASSERT_TRUE(store_->del({"alpha", Tier::working, "", "k0"}).status.ok());
  EXPECT_EQ(store_->usage("alpha").bytes, 6u);
}

TEST_F(MemoryStoreTest, GroupCommitPutsAHundredWritesInOneTransaction) {
  uint64_t commits = store_->counters().commits;
  std::vector<int> called(100, 0);
  for (int i = 0; i < 100; ++i) {
    store_->submit_put({.swarm = "alpha", .key = "k" + std::to_string(i), .value = "word" + std::to_string(i)},
                       [&called, i](const WriteResult& r) {
                         EXPECT_TRUE(r.status.ok()) << r.status.message();
                         ++called[i];
                       });
  }
  EXPECT_EQ(store_->pending(), 100u);
  EXPECT_FALSE(get(Tier::working, "", "k0"));  // not committed yet
  FlushReport report = store_->flush();
  EXPECT_TRUE(report.committed);
  EXPECT_EQ(report.writes, 100u);
  EXPECT_EQ(report.failed, 0u);
  EXPECT_EQ(store_->counters().commits, commits + 1);
  EXPECT_EQ(called, std::vector<int>(100, 1));
  EXPECT_EQ(store_->pending(), 0u);
  EXPECT_EQ(store_->usage("alpha").entries, 100u);
  EXPECT_EQ(store_->flush().writes, 0u);  // nothing left: no transaction
  EXPECT_EQ(store_->counters().commits, commits + 1);
  EXPECT_EQ(recall_keys("word42"), (std::vector<std::string>{"k42"}));
}

TEST_F(MemoryStoreTest, AFailingWriteDoesNotFailTheOthersInItsBatch) {
  store_->set_quota("alpha", {.max_entries = 5});
  std::vector<WriteResult> results;
  auto record = [&results](const WriteResult& r) { results.push_back(r); };
  for (int i = 0; i < 4; ++i) {
    store_->submit_put({.swarm = "alpha", .key = "k" + std::to_string(i), .value = "v"}, record);
  }
  store_->submit_delete({"alpha", Tier::working, "", "missing"}, record);
  store_->submit_put({.swarm = "alpha", .key = "k4", .value = "v"}, record);
  store_->submit_put({.swarm = "alpha", .key = "k5", .value = "v"}, record);  // the 6th entry
  store_->submit_consolidate({.from = {"alpha", Tier::working, "", "k0"}}, record);
  store_->submit_put({.swarm = "alpha", .key = "k6", .value = "v"}, record);  // a move frees nothing
  store_->submit_delete({"alpha", Tier::working, "", "k1"}, record);
  store_->submit_put({.swarm = "alpha", .key = "k7", .value = "v"}, record);  // fits after the delete
  uint64_t commits = store_->counters().commits;
  FlushReport report = store_->flush();
  EXPECT_EQ(store_->counters().commits, commits + 1);
  ASSERT_EQ(results.size(), 11u);
  std::vector<ErrorCode> codes;
  for (const WriteResult& r : results) codes.push_back(r.status.code());
  using E = ErrorCode;
  EXPECT_EQ(codes, (std::vector<E>{E::ok, E::ok, E::ok, E::ok, E::not_found, E::ok, E::quota_exceeded,
                                   E::ok, E::quota_exceeded, E::ok, E::ok}));
  EXPECT_EQ(report.failed, 3u);
  EXPECT_EQ(list_keys(Tier::working, ""), (std::vector<std::string>{"k2", "k3", "k4", "k7"}));
  EXPECT_EQ(list_keys(Tier::long_term, ""), (std::vector<std::string>{"k0"}));
  EXPECT_EQ(store_->usage("alpha").entries, 5u);
}

TEST_F(MemoryStoreTest, CallbacksMaySubmitWritesForTheNextFlush) {
  int second = 0;
  store_->submit_put({.swarm = "alpha", .key = "a", .value = "v"}, [&](const WriteResult&) {
    store_->submit_put({.swarm = "alpha", .key = "b", .value = "v"}, [&](const WriteResult& r) {
      EXPECT_TRUE(r.status.ok());
      ++second;
    });
  });
  store_->flush();
  EXPECT_EQ(second, 0);
  EXPECT_EQ(store_->pending(), 1u);
  store_->flush();
  EXPECT_EQ(second, 1);
}

TEST_F(MemoryStoreTest, ABatchThatFillsTheMapRunsAgainInAGrownMapAndCommitsOnce) {
  close();
  std::filesystem::remove(dir_.path() + "/swarmd.mdb");
  std::filesystem::remove(dir_.path() + "/swarmd.mdb-lock");
  open({.map_size = 256 << 10});
  std::string value;
  for (int i = 0; i < 200; ++i) value += "word" + std::to_string(i % 50) + " ";
  int ok = 0;
  for (int i = 0; i < 300; ++i) {
    store_->submit_put({.swarm = "alpha", .key = "k" + std::to_string(i), .value = value},
                       [&ok](const WriteResult& r) { ok += r.status.ok(); });
  }
  uint64_t commits = store_->counters().commits, bodies = store_->counters().write_bodies;
  store_->flush();
  EXPECT_EQ(ok, 300);
  EXPECT_EQ(store_->counters().commits, commits + 1);
  EXPECT_GT(store_->counters().write_bodies, bodies + 1);  // ran again after growing
  EXPECT_GT(env_->map_size(), size_t{256} << 10);
  Usage u = store_->usage("alpha");
  EXPECT_EQ(u.entries, 300u);  // counted once, not once per run
  EXPECT_EQ(recall_keys("word7", TierSet::all(), "a1", {}, 1000).size(), 300u);
}

TEST_F(MemoryStoreTest, WorkingAndLongTermSurviveReopeningAndStillRecall) {
  ASSERT_TRUE(put(Tier::working, "a1", "w", "orbital mechanics notes", {"space"}).status.ok());
  ASSERT_TRUE(put(Tier::long_term, "a1", "l", "orbital resonance is subtle").status.ok());
  ASSERT_TRUE(put(Tier::short_term, "a1", "s", "orbital scratch").status.ok());
  std::map<std::string, double> before = scores(*store_, "orbital resonance");
  close();
  open();
  std::optional<Entry> w = get(Tier::working, "", "w");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, "orbital mechanics notes");
  EXPECT_EQ(w->tags, (std::vector<std::string>{"space"}));
  EXPECT_EQ(get(Tier::long_term, "", "l")->value, "orbital resonance is subtle");
  EXPECT_EQ(store_->usage("alpha").entries, 3u);
  EXPECT_EQ(scores(*store_, "orbital resonance"), before);
  EXPECT_EQ(recall_keys("orbital resonance", TierSet::all(), "a1")[0], "l");
  // And takes new writes after the docids it had handed out.
  ASSERT_TRUE(put(Tier::working, "a1", "w2", "orbital").status.ok());
  EXPECT_EQ(recall_keys("orbital", {Tier::working}).size(), 2u);
}

TEST_F(MemoryStoreTest, BadArgumentsNameTheFieldAndTheLimit) {
  auto put_req = [](std::string swarm, Tier tier, std::string agent, std::string key, size_t size) {
    return PutRequest{.swarm = swarm, .tier = tier, .agent = agent, .key = key, .value = std::string(size, 'v')};
  };
  auto submit = [&](PutRequest r) { return invalid_argument([&] { store_->submit_put(r, nullptr); }); };
  EXPECT_EQ(submit(put_req("alpha", Tier::working, "", "", 1)), "key: empty");
  EXPECT_EQ(submit(put_req("alpha", Tier::working, "", std::string(513, 'k'), 1)),
            "key: 513 bytes, the limit is 512 (Limits::max_key_bytes)");
  EXPECT_EQ(submit(put_req("alpha", Tier::working, "", "k", (1 << 20) + 1)),
            "value: 1048577 bytes, the limit is 1048576 (Limits::max_value_bytes)");
  EXPECT_EQ(submit(put_req("alpha", static_cast<Tier>(7), "", "k", 1)),
            "tier: unknown value 7 (short_term, working, long_term)");
  EXPECT_EQ(submit(put_req("al/pha", Tier::working, "", "k", 1)), "swarm: 'al/pha' contains '/'");
  EXPECT_EQ(submit(put_req("", Tier::working, "", "k", 1)), "swarm: empty");
  EXPECT_EQ(submit(put_req("alpha", Tier::short_term, "", "k", 1)), "agent: empty");
  EXPECT_EQ(invalid_argument([] { parse_tier("ltm"); }),
            "tier: unknown 'ltm' (short_term, working, long_term)");
  EXPECT_EQ(parse_tier("long_term"), Tier::long_term);
  EXPECT_EQ(invalid_argument([&] { store_->submit_put({.swarm = "alpha", .key = "k", .ttl_ms = 5}, nullptr); }),
            "ttl_ms: only short_term entries expire");
  EXPECT_EQ(invalid_argument([&] { store_->consolidate({.from = {"alpha", Tier::long_term, "", "k"}}); }),
            "tier: long_term is the top tier; nothing to consolidate into");
  EXPECT_EQ(invalid_argument([&] { store_->get({"alpha", Tier::working, "", std::string(600, 'k')}); }),
            "key: 600 bytes, the limit is 512 (Limits::max_key_bytes)");
  EXPECT_EQ(invalid_argument([&] { store_->recall({.swarm = "alpha", .query = "x", .k = 0}); }),
            "k: must be at least 1");
  EXPECT_EQ(invalid_argument([&] { store_->list({.swarm = "alpha", .limit = 5000}); }),
            "limit: 5000, the limit is 1000 (Limits::max_list_limit)");
  EXPECT_EQ(store_->pending(), 0u);  // nothing bad was queued
}

// LMDB takes keys of at most 511 bytes, and an entry's key in it is swarm,
// tier, agent and key together: within max_key_bytes, a key can still be
// too long for LMDB with a long swarm or owner name. Such a write is refused
// on its own, up front, instead of failing every write of its batch (of any
// swarm) at mdb_put.
TEST_F(MemoryStoreTest, AKeyTooLongForLmdbWithItsNamesIsRefusedAloneBeforeItsBatch) {
  std::string swarm(100, 's'), agent(100, 'a');
  std::vector<WriteResult> results;
  auto record = [&results](const WriteResult& r) { results.push_back(r); };
  store_->submit_put({.swarm = "beta", .key = "innocent", .value = "v"}, record);
  EXPECT_EQ(invalid_argument([&] {
              store_->submit_put({.swarm = swarm, .key = std::string(500, 'k'), .value = "v"}, record);
            }),
            "key: 500 bytes, which with swarm '" + swarm +
                "' make 603 bytes of stored key, the limit is 511 (LMDB's key size)");
  EXPECT_EQ(invalid_argument([&] {
              store_->submit_put({.swarm = "alpha", .tier = Tier::short_term, .agent = agent,
                                  .key = std::string(410, 'k'), .value = "v"},
                                 record);
            }),
            "key: 410 bytes, which with swarm 'alpha' and agent '" + agent +
                "' make 518 bytes of stored key, the limit is 511 (LMDB's key size)");
  EXPECT_EQ(invalid_argument([&] {
              store_->submit_delete({swarm, Tier::working, "", std::string(500, 'k')}, record);
            }).substr(0, 21),
            "key: 500 bytes, which");
  store_->flush();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.message();
  EXPECT_TRUE(store_->get({"beta", Tier::working, "", "innocent"}));
  // The longest key that fits is taken.
  std::string longest(511 - swarm.size() - 3, 'k');
  EXPECT_TRUE(store_->put({.swarm = swarm, .key = longest, .value = "v"}).status.ok());
  EXPECT_TRUE(store_->get({swarm, Tier::working, "", longest}));
}

// A batch commits on another thread in swarmd (take, commit, finish): an
// expiry index that cannot be read skips that round, and the writes of the
// batch still commit and are answered.
TEST_F(MemoryStoreTest, AnUnreadableExpiryIndexSkipsExpiryButNotTheWrites) {
  NamedDb sets = env_->open_db("mem_sets");
  env_->write([&](Txn& txn) { txn.put(sets, "hE", std::string("\x07garbage", 8)); });
  std::optional<WriteResult> answer;
  store_->submit_put({.swarm = "alpha", .tier = Tier::working, .key = "k", .value = "v"},
                     [&](const WriteResult& r) { answer = r; });
  Batch batch = store_->take_batch(10);
  store_->commit_batch(batch);
  FlushReport report = store_->finish_batch(batch);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->status.ok()) << answer->status.message();
  EXPECT_FALSE(batch.expiry_failure.empty());
  EXPECT_EQ(report.expired.removed, 0u);
  EXPECT_TRUE(get(Tier::working, "", "k"));
}

// The expiry round runs in its batch's transaction. An expiry index that
// turns out corrupt as the round reads it (a chunk past the first) skips
// the round, and the batch's writes, of any swarm, commit without it.
TEST_F(MemoryStoreTest, AnExpiryIndexCorruptPastItsFirstChunkSkipsTheRoundButNotTheWrites) {
  for (int i = 0; i < 300; ++i) {
    store_->submit_put({.swarm = "alpha", .tier = Tier::short_term, .agent = "a1",
                        .key = "k" + std::to_string(i), .value = "v"},
                       nullptr);
  }
  store_->flush();
  clock_.now = kStart + 11 * kMinute;  // every one is due
  NamedDb sets = env_->open_db("mem_sets");
  env_->write([&](Txn& txn) { txn.put(sets, std::string("c\x01" "E\0\0\0\x01", 7), "\xff"); });
  std::optional<WriteResult> answer;
  store_->submit_put({.swarm = "beta", .key = "k", .value = "v"},
                     [&](const WriteResult& r) { answer = r; });
  Batch batch = store_->take_batch(256);
  store_->commit_batch(batch);
  FlushReport report = store_->finish_batch(batch);
  ASSERT_TRUE(answer);
  EXPECT_TRUE(answer->status.ok()) << answer->status.message();
  EXPECT_NE(batch.expiry_failure.find("corrupt"), std::string::npos) << batch.expiry_failure;
  EXPECT_EQ(report.expired.removed, 0u);
  EXPECT_TRUE(store_->get({"beta", Tier::working, "", "k"}));
}

// A write that runs into a corrupt record of the expiry index (a short-term
// put adds to it) fails alone, saying so; the other writes of its batch,
// of any swarm, are stored. It once failed the whole batch, each time.
TEST_F(MemoryStoreTest, AWriteThatMeetsACorruptExpiryIndexFailsAloneNotItsBatch) {
  NamedDb sets = env_->open_db("mem_sets");
  env_->write([&](Txn& txn) { txn.put(sets, "hE", std::string("\x07garbage", 8)); });
  std::vector<std::optional<WriteResult>> answers(3);
  auto answer = [&answers](size_t i) { return [&answers, i](const WriteResult& r) { answers[i] = r; }; };
  store_->submit_put({.swarm = "alpha", .key = "before", .value = "v"}, answer(0));
  store_->submit_put({.swarm = "alpha", .tier = Tier::short_term, .agent = "a1", .key = "s",
                      .value = "v"},
                     answer(1));
  store_->submit_put({.swarm = "beta", .key = "after", .value = "v"}, answer(2));
  store_->flush();
  ASSERT_TRUE(answers[0] && answers[1] && answers[2]);
  EXPECT_TRUE(answers[0]->status.ok()) << answers[0]->status.message();
  EXPECT_TRUE(answers[2]->status.ok()) << answers[2]->status.message();
  EXPECT_FALSE(answers[1]->status.ok());
  EXPECT_EQ(answers[1]->status.code(), ErrorCode::corrupt) << answers[1]->status.message();
  EXPECT_NE(answers[1]->status.message().find("corrupt record"), std::string::npos)
      << answers[1]->status.message();
  EXPECT_TRUE(store_->get({"alpha", Tier::working, "", "before"}));
  EXPECT_TRUE(store_->get({"beta", Tier::working, "", "after"}));
  EXPECT_FALSE(store_->get({"alpha", Tier::short_term, "a1", "s"}));
}

// Taken but never committed (its job failed before it ran): every write is
// answered as failed, none as done.
TEST_F(MemoryStoreTest, ABatchThatNeverCommittedAnswersItsWritesAsFailed) {
  std::optional<WriteResult> answer;
  store_->submit_put({.swarm = "alpha", .tier = Tier::working, .key = "k", .value = "v"},
                     [&](const WriteResult& r) { answer = r; });
  Batch batch = store_->take_batch(0);
  store_->finish_batch(batch);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status.code(), ErrorCode::storage);
  EXPECT_FALSE(get(Tier::working, "", "k"));
}

}  // namespace
}  // namespace smol::storage::memory
