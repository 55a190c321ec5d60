#include "storage/swarm_table.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/sys_error.h"

namespace smol::storage {
namespace {

class SwarmTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/smol-swarm-table-XXXXXX";
    if (!mkdtemp(tmpl)) throw SysError(errno, "mkdtemp", tmpl);
    path_ = std::string(tmpl) + "/swarmd.mdb";
  }
  void TearDown() override { std::filesystem::remove_all(std::filesystem::path(path_).parent_path()); }

  std::string path_;
};

SwarmRecord record(std::string name, SwarmStatus status = SwarmStatus::active) {
  SwarmRecord r;
  r.name = std::move(name);
  r.spec_toml = "[swarm]\nname = \"" + r.name + "\"\n";
  r.status = status;
  return r;
}

std::vector<std::string> names(const std::vector<SwarmRecord>& records) {
  std::vector<std::string> out;
  for (const SwarmRecord& r : records) out.push_back(r.name);
  return out;
}

void expect_same(const SwarmRecord& a, const SwarmRecord& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.spec_toml, b.spec_toml);
  EXPECT_EQ(a.source_name, b.source_name);
  EXPECT_EQ(a.base_dir, b.base_dir);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.created_unix_ms, b.created_unix_ms);
  EXPECT_EQ(a.stopped_unix_ms, b.stopped_unix_ms);
  EXPECT_EQ(a.last_error, b.last_error);
}

TEST_F(SwarmTableTest, RoundTripsEveryField) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  SwarmRecord r{.name = "alpha",
                .spec_toml = "[swarm]\nname = \"alpha\"\n[[agents]]\nrole = \"lead\" # ünïcode\n",
                .source_name = "/home/op/alpha.toml",
                .base_dir = "/home/op",
                .status = SwarmStatus::failed,
                .created_unix_ms = 1'700'000'000'123,
                .stopped_unix_ms = INT64_MIN,
                .last_error = "agent lead-0 crashed 5 times"};
  table.put(r);
  std::optional<SwarmRecord> got = table.get("alpha");
  ASSERT_TRUE(got);
  expect_same(*got, r);
  EXPECT_FALSE(table.get("beta"));
}

TEST_F(SwarmTableTest, EveryStatusRoundTrips) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  for (SwarmStatus s : {SwarmStatus::active, SwarmStatus::stopped, SwarmStatus::failed}) {
    table.put(record("s", s));
    EXPECT_EQ(table.get("s")->status, s);
  }
}

TEST_F(SwarmTableTest, PutReplacesByName) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  table.put(record("alpha"));
  SwarmRecord second = record("alpha", SwarmStatus::stopped);
  second.spec_toml = "replaced";
  table.put(second);
  ASSERT_EQ(table.list().size(), 1u);
  expect_same(*table.get("alpha"), second);
}

TEST_F(SwarmTableTest, ListIsSortedByName) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  EXPECT_TRUE(table.list().empty());
  for (const char* n : {"gamma", "alpha", "beta", "Zulu"}) table.put(record(n));
  EXPECT_EQ(names(table.list()), (std::vector<std::string>{"Zulu", "alpha", "beta", "gamma"}));
}

TEST_F(SwarmTableTest, RemoveDeletesOnlyThatSwarm) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  table.put(record("alpha"));
  table.put(record("beta"));
  EXPECT_TRUE(table.remove("alpha"));
  EXPECT_FALSE(table.remove("alpha"));
  EXPECT_FALSE(table.get("alpha"));
  EXPECT_EQ(names(table.list()), std::vector<std::string>{"beta"});
}

TEST_F(SwarmTableTest, RecordsSurviveCloseAndReopen) {
  SwarmRecord r = record("alpha", SwarmStatus::stopped);
  r.last_error = "kept";
  {
    LmdbEnv env = LmdbEnv::open(path_, {});
    SwarmTable(env).put(r);
  }
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  ASSERT_TRUE(table.get("alpha"));
  expect_same(*table.get("alpha"), r);
}

TEST_F(SwarmTableTest, MarkActiveAsStoppedTouchesOnlyActiveRecords) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  SwarmRecord failed = record("c", SwarmStatus::failed);
  failed.stopped_unix_ms = 5;
  table.put(record("a"));
  table.put(record("b"));
  table.put(failed);
  EXPECT_EQ(table.mark_active_as_stopped(1000), 2u);
  for (const char* n : {"a", "b"}) {
    EXPECT_EQ(table.get(n)->status, SwarmStatus::stopped);
    EXPECT_EQ(table.get(n)->stopped_unix_ms, 1000);
  }
  expect_same(*table.get("c"), failed);
  EXPECT_EQ(table.mark_active_as_stopped(2000), 0u);
}

// Values sit right after their key in an LMDB page, so an odd-length name
// leaves the capnp words unaligned: decoding must not assume alignment.
TEST_F(SwarmTableTest, ReadsValuesLmdbStoredUnaligned) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  table.put(record("abc"));
  NamedDb db = env.open_db("swarms");
  auto value = env.begin_read().get(db, "abc");
  ASSERT_TRUE(value);
  EXPECT_NE(reinterpret_cast<uintptr_t>(value->data()) % 8, 0u);
  expect_same(*table.get("abc"), record("abc"));
}

TEST_F(SwarmTableTest, TenMegabytesIntoATinyMapAllReadBack) {
  LmdbEnv env = LmdbEnv::open(path_, {.map_size = 64 << 10});
  SwarmTable table(env);
  constexpr int kSwarms = 100;
  for (int i = 0; i < kSwarms; ++i) {
    SwarmRecord r = record("swarm-" + std::to_string(1000 + i));
    r.spec_toml = std::string(100 << 10, static_cast<char>('a' + i % 26));
    table.put(r);
  }
  std::vector<SwarmRecord> all = table.list();
  ASSERT_EQ(all.size(), size_t{kSwarms});
  for (int i = 0; i < kSwarms; ++i) {
    EXPECT_EQ(all[i].name, "swarm-" + std::to_string(1000 + i));
    EXPECT_EQ(all[i].spec_toml, std::string(100 << 10, static_cast<char>('a' + i % 26)));
  }
  EXPECT_GE(env.map_size(), size_t{10} << 20);
}

class CorruptSwarmTableTest : public SwarmTableTest,
                              public ::testing::WithParamInterface<std::string> {};

TEST_P(CorruptSwarmTableTest, CorruptValueIsAnErrorNamingTheKey) {
  LmdbEnv env = LmdbEnv::open(path_, {});
  SwarmTable table(env);
  NamedDb db = env.open_db("swarms");
  env.write([&](Txn& txn) { txn.put(db, "broken", GetParam()); });
  try {
    table.get("broken");
    FAIL() << "decoded garbage";
  } catch (const LmdbError& e) {
    EXPECT_TRUE(e.is_corrupt()) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("decode(swarms/broken): corrupt record: ", 0), 0u)
        << e.what();
  }
  // The others stay readable, and the daemon can still start.
  table.put(record("alive"));
  std::vector<LmdbError> unreadable;
  EXPECT_EQ(names(table.list(&unreadable)), std::vector<std::string>{"alive"});
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_TRUE(unreadable[0].is_corrupt());
  EXPECT_EQ(table.mark_active_as_stopped(1), 1u);
  EXPECT_EQ(table.get("alive")->status, SwarmStatus::stopped);
  EXPECT_TRUE(table.remove("broken"));  // the way out for an operator
}

INSTANTIATE_TEST_SUITE_P(
    Garbage, CorruptSwarmTableTest,
    ::testing::Values(std::string(), std::string("not capnp"),
                      // A segment table announcing 2^28 words that are not there.
                      std::string("\0\0\0\0\0\0\0\x10" "abcdefgh", 16),
                      // A root pointer leading out of its one-word segment.
                      std::string("\0\0\0\0\x01\0\0\0" "\xfc\xff\xff\x7f\x01\0\x01\0", 16)));

}  // namespace
}  // namespace smol::storage
