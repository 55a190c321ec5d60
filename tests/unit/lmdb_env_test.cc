#include "storage/lmdb_env.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/sys_error.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage {
namespace {

constexpr size_t kTinyMap = 64 << 10;

class LmdbEnvTest : public ::testing::Test {
 protected:

  std::string db_path() const { return dir_.path() + "/swarmd.mdb"; }

  test::ScratchDir dir_{"smol-lmdb-env"};
};

// The LmdbError body throws, or nullopt when it throws none.
std::optional<LmdbError> lmdb_error(const std::function<void()>& body) {
  try {
    body();
  } catch (const LmdbError& e) {
    return e;
  }
  return std::nullopt;
}

std::string read_value(const LmdbEnv& env, const NamedDb& db, std::string_view key) {
  Txn txn = env.begin_read();
  std::optional<std::string_view> v = txn.get(db, key);
  return v ? std::string(*v) : "<missing>";
}

TEST_F(LmdbEnvTest, CreatesOneFileWithMode0600AndItsLock) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  struct stat st;
  ASSERT_EQ(stat(db_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(std::filesystem::exists(db_path() + "-lock"));
  EXPECT_EQ(env.map_size(), size_t{1} << 30);
}

TEST_F(LmdbEnvTest, PutGetDelRoundTrip) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  env.write([&](Txn& txn) { txn.put(db, "k", std::string("v\0w", 3)); });
  EXPECT_EQ(read_value(env, db, "k"), std::string("v\0w", 3));
  bool deleted = false, deleted_again = true;
  env.write([&](Txn& txn) { deleted = txn.del(db, "k"); });
  env.write([&](Txn& txn) { deleted_again = txn.del(db, "k"); });
  EXPECT_TRUE(deleted);
  EXPECT_FALSE(deleted_again);
  EXPECT_EQ(read_value(env, db, "k"), "<missing>");
}

TEST_F(LmdbEnvTest, ForEachVisitsKeysInOrder) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  env.write([&](Txn& txn) {
    for (const char* k : {"b", "c", "a"}) txn.put(db, k, k);
  });
  std::string seen;
  env.begin_read().for_each(db, [&](std::string_view k, std::string_view v) {
    EXPECT_EQ(k, v);
    seen += k;
  });
  EXPECT_EQ(seen, "abc");
}

TEST_F(LmdbEnvTest, ScanStartsAtTheFirstKeyNotBelowFromAndStopsWhenAsked) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  env.write([&](Txn& txn) {
    for (const char* k : {"a/1", "b/1", "b/2", "b/3", "c/1"}) txn.put(db, k, k);
  });
  Txn txn = env.begin_read();
  auto walk = [&](std::string_view from, std::string_view prefix) {
    std::string seen;
    txn.scan(db, from, [&](std::string_view k, std::string_view v) {
      EXPECT_EQ(k, v);
      if (!k.starts_with(prefix)) return false;
      seen += std::string(k) + " ";
      return true;
    });
    return seen;
  };
  EXPECT_EQ(walk("b/", "b/"), "b/1 b/2 b/3 ");
  EXPECT_EQ(walk(std::string("b/1\0", 4), "b/"), "b/2 b/3 ");  // after b/1
  EXPECT_EQ(walk("", ""), "a/1 b/1 b/2 b/3 c/1 ");
  EXPECT_EQ(walk("c/2", ""), "");
  EXPECT_EQ(walk("bz", "b"), "");
}

TEST_F(LmdbEnvTest, ScanFromAKeyLongerThanLmdbStoresSkipsWhatSortsBeforeIt) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  const size_t max = static_cast<size_t>(mdb_env_get_maxkeysize(env.raw_env()));
  const std::string longest(max, 'k');
  env.write([&](Txn& txn) {
    txn.put(db, longest, "longest");
    txn.put(db, "l", "after");
  });
  std::string seen;
  env.begin_read().scan(db, longest + std::string(1, '\0'), [&](std::string_view, std::string_view v) {
    seen += std::string(v) + " ";
    return true;
  });
  EXPECT_EQ(seen, "after ");
}

TEST_F(LmdbEnvTest, ExceptionInWriteAbortsEverything) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  auto fails_midway = [&](Txn& txn) {
    txn.put(db, "a", "1");
    txn.put(db, "b", "2");
    throw std::runtime_error("agent spec rejected");
  };
  EXPECT_THROW(env.write(fails_midway), std::runtime_error);
  EXPECT_EQ(read_value(env, db, "a"), "<missing>");
  EXPECT_EQ(read_value(env, db, "b"), "<missing>");
}

TEST_F(LmdbEnvTest, DataSurvivesCloseAndReopen) {
  {
    LmdbEnv env = LmdbEnv::open(db_path(), {});
    NamedDb db = env.open_db("things");
    env.write([&](Txn& txn) { txn.put(db, "k", "kept"); });
  }
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  EXPECT_EQ(read_value(env, env.open_db("things"), "k"), "kept");
}

TEST_F(LmdbEnvTest, FullMapGrowsAndTheWriteSucceeds) {
  LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap});
  NamedDb db = env.open_db("things");
  // One value far larger than the whole map: several doublings in one write.
  std::string big(1 << 20, 'x');
  env.write([&](Txn& txn) { txn.put(db, "big", big); });
  EXPECT_GT(env.map_size(), big.size());
  EXPECT_EQ(read_value(env, db, "big"), big);
}

TEST_F(LmdbEnvTest, ReopenWithSmallerMapKeepsGrownData) {
  std::string big(1 << 20, 'y');
  {
    LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap});
    NamedDb db = env.open_db("things");
    env.write([&](Txn& txn) { txn.put(db, "big", big); });
  }
  LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap});
  EXPECT_GT(env.map_size(), big.size());
  EXPECT_EQ(read_value(env, env.open_db("things"), "big"), big);
}

TEST_F(LmdbEnvTest, GrowthStopsAtMaxMapSize) {
  LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap, .max_map_size = 4 * kTinyMap});
  NamedDb db = env.open_db("things");
  auto e = lmdb_error([&] {
    env.write([&](Txn& txn) { txn.put(db, "big", std::string(1 << 20, 'x')); });
  });
  ASSERT_TRUE(e) << "a 1 MiB value fit in a 256 KiB map";
  EXPECT_TRUE(e->is_map_full()) << e->what();
  EXPECT_EQ(std::string(e->what()).rfind("mdb_put(things/big): MDB_MAP_FULL", 0), 0u) << e->what();
  EXPECT_EQ(env.map_size(), 4 * kTinyMap);
}

TEST_F(LmdbEnvTest, NoGrowthWhileAReadTxnIsOpen) {
  LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap});
  NamedDb db = env.open_db("things");
  Txn reader = env.begin_read();
  auto e = lmdb_error([&] {
    env.write([&](Txn& txn) { txn.put(db, "big", std::string(1 << 20, 'x')); });
  });
  ASSERT_TRUE(e) << "grew the map under an open transaction";
  EXPECT_TRUE(e->is_map_full()) << e->what();
  EXPECT_EQ(env.map_size(), kTinyMap);
}

TEST_F(LmdbEnvTest, GrowthOnAnotherThreadWaitsForThisThreadsReadTxnToEnd) {
  LmdbEnv env = LmdbEnv::open(db_path(), {.map_size = kTinyMap});
  NamedDb db = env.open_db("things");
  env.write([&](Txn& txn) { txn.put(db, "old", "seen"); });
  std::string big(1 << 20, 'x');
  std::optional<Txn> reader = env.begin_read();
  std::atomic<bool> written = false;
  std::thread writer([&] {
    env.write([&](Txn& txn) { txn.put(db, "big", big); });
    written = true;
  });
  // The writer fills the map and waits to grow it; the reader is unharmed.
  EXPECT_EQ(reader->get(db, "old"), std::optional<std::string_view>("seen"));
  EXPECT_FALSE(written);
  reader.reset();
  writer.join();
  EXPECT_TRUE(written);
  EXPECT_GT(env.map_size(), big.size());
  EXPECT_EQ(read_value(env, db, "big"), big);
}

TEST_F(LmdbEnvTest, ErrorNamesDatabaseAndKey) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  std::string key(600, 'k');  // LMDB keys stop at 511 bytes
  auto e = lmdb_error([&] { env.write([&](Txn& txn) { txn.put(db, key, "v"); }); });
  ASSERT_TRUE(e) << "a 600-byte key was accepted";
  EXPECT_EQ(e->code(), MDB_BAD_VALSIZE);
  EXPECT_EQ(std::string(e->what()).rfind("mdb_put(things/" + key + "): ", 0), 0u) << e->what();
}

// Names come from users: looking up one LMDB could never store (empty, or
// longer than a key may be) finds nothing rather than failing.
TEST_F(LmdbEnvTest, AKeyThatCannotBeStoredIsNotFound) {
  LmdbEnv env = LmdbEnv::open(db_path(), {});
  NamedDb db = env.open_db("things");
  Txn txn = env.begin_read();
  EXPECT_EQ(txn.get(db, ""), std::nullopt);
  EXPECT_EQ(txn.get(db, std::string(600, 'k')), std::nullopt);
}

TEST_F(LmdbEnvTest, OpenInMissingDirectoryNamesThePath) {
  std::string path = dir_.path() + "/missing/swarmd.mdb";
  auto e = lmdb_error([&] { LmdbEnv::open(path, {}); });
  ASSERT_TRUE(e) << "opened " << path;
  EXPECT_EQ(e->code(), ENOENT);
  EXPECT_TRUE(e->is_not_found());
  EXPECT_EQ(e->what(), "mdb_env_open(" + path + "): No such file or directory");
}

TEST_F(LmdbEnvTest, OpenInUnwritableDirectoryNamesThePath) {
  ASSERT_EQ(chmod(dir_.path().c_str(), 0500), 0);
  // With CAP_DAC_OVERRIDE (tests run as root) mode bits do not stop us; sysfs
  // refuses new files to everyone.
  std::string dir = access(dir_.path().c_str(), W_OK) == 0 ? "/sys" : dir_.path();
  std::string path = dir + "/swarmd.mdb";
  auto e = lmdb_error([&] { LmdbEnv::open(path, {}); });
  ASSERT_TRUE(e) << "opened " << path;
  EXPECT_EQ(e->code(), EACCES);
  EXPECT_EQ(e->what(), "mdb_env_open(" + path + "): Permission denied");
}

}  // namespace
}  // namespace smol::storage
