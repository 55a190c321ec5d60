// Durability of the memory store: LmdbSync on a real MDB_env, and when the
// store turns commit syncing off and syncs (batch, none, fsync).
#include <gtest/gtest.h>
#include <lmdb.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/sys_error.h"
#include "storage/lmdb_sync.h"
#include "storage/memory_store.h"
#include "tests/unit/scratch_dir.h"

namespace smol::storage::memory {
namespace {

class ManualClock final : public Clock {
 public:
  int64_t now_ms() override { return now; }
  int64_t now = 1'700'000'000'000;
};

// Stands in for the MDB_env's flag, which the LmdbEnv does not expose (see
// lmdb_sync.h); records what the store asks of it.
class RecordingSync final : public CommitSync {
 public:
  void set_commit_sync(bool on) override {
    commit_sync = on;
    calls.push_back(on ? "sync-on" : "sync-off");
  }
  void sync() override { calls.push_back("sync"); }

  bool commit_sync = true;
  std::vector<std::string> calls;
};

class MemorySyncTest : public ::testing::Test {
 protected:
  void SetUp() override { env_.reset(new LmdbEnv(LmdbEnv::open(dir_.path() + "/swarmd.mdb", {}))); }
  void TearDown() override { env_.reset(); }

  void put(Store& store, const std::string& key) {
    ASSERT_TRUE(store.put({.swarm = "alpha", .key = key, .value = "v"}).status.ok());
  }

  test::ScratchDir dir_{"smol-mem-sync"};
  ManualClock clock_;
  std::unique_ptr<LmdbEnv> env_;
};

TEST_F(MemorySyncTest, LmdbSyncTogglesNoSyncOnARealEnvironmentAndSyncs) {
  MDB_env* raw = nullptr;
  ASSERT_EQ(mdb_env_create(&raw), 0);
  std::unique_ptr<MDB_env, decltype(&mdb_env_close)> env(raw, &mdb_env_close);
  std::string path = dir_.path() + "/raw.mdb";
  ASSERT_EQ(mdb_env_open(raw, path.c_str(), MDB_NOSUBDIR, 0600), 0);
  LmdbSync sync(raw, path);
  unsigned flags = 0;

  sync.set_commit_sync(false);
  mdb_env_get_flags(raw, &flags);
  EXPECT_TRUE(flags & MDB_NOSYNC);
  {
    MDB_txn* txn = nullptr;
    ASSERT_EQ(mdb_txn_begin(raw, nullptr, 0, &txn), 0);
    MDB_dbi dbi;
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    MDB_val k{1, const_cast<char*>("k")}, v{1, const_cast<char*>("v")};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
  }
  sync.sync();
  sync.set_commit_sync(true);
  mdb_env_get_flags(raw, &flags);
  EXPECT_FALSE(flags & MDB_NOSYNC);
  {
    UnsyncedCommits scope(&sync);
    mdb_env_get_flags(raw, &flags);
    EXPECT_TRUE(flags & MDB_NOSYNC);
  }
  mdb_env_get_flags(raw, &flags);
  EXPECT_FALSE(flags & MDB_NOSYNC);
}

TEST_F(MemorySyncTest, FsyncModeLeavesLmdbsOwnSyncedCommitAlone) {
  RecordingSync sync;
  Store store(*env_, {.durability = Durability::fsync, .commit_sync = &sync, .clock = &clock_});
  put(store, "k");
  EXPECT_TRUE(sync.calls.empty());
  EXPECT_EQ(store.sync_due_in_ms(), -1);
}

TEST_F(MemorySyncTest, BatchModeCommitsUnsyncedAndSyncsAtMostEveryInterval) {
  RecordingSync sync;
  Store store(*env_, {.durability = Durability::batch, .batch_sync_ms = 50, .commit_sync = &sync,
                      .clock = &clock_});
  EXPECT_EQ(store.sync_due_in_ms(), -1);  // nothing unsynced yet

  clock_.now += 10;
  put(store, "a");  // 10 ms after the store's start: no sync yet
  EXPECT_EQ(sync.calls, (std::vector<std::string>{"sync-off", "sync-on"}));
  EXPECT_TRUE(sync.commit_sync);  // other tables' commits still sync
  EXPECT_EQ(store.sync_due_in_ms(), 40);
  EXPECT_FALSE(store.sync_if_due());

  clock_.now += 20;
  put(store, "b");
  EXPECT_EQ(store.counters().syncs, 0u);
  clock_.now += 20;  // 50 ms since the last sync
  EXPECT_EQ(store.sync_due_in_ms(), 0);
  EXPECT_TRUE(store.sync_if_due());
  EXPECT_EQ(store.counters().syncs, 1u);
  EXPECT_EQ(store.sync_due_in_ms(), -1);

  clock_.now += 60;  // a flush long after the last sync syncs at once
  sync.calls.clear();
  FlushReport report;
  store.submit_put({.swarm = "alpha", .key = "c", .value = "v"}, nullptr);
  report = store.flush();
  EXPECT_TRUE(report.synced);
  EXPECT_EQ(sync.calls, (std::vector<std::string>{"sync-off", "sync-on", "sync"}));
  EXPECT_EQ(store.counters().syncs, 2u);
  EXPECT_TRUE(store.get({"alpha", Tier::working, "", "c"}));
}

TEST_F(MemorySyncTest, NoneModeNeverSyncs) {
  RecordingSync sync;
  Store store(*env_, {.durability = Durability::none, .commit_sync = &sync, .clock = &clock_});
  for (int i = 0; i < 3; ++i) {
    clock_.now += 1000;
    put(store, "k" + std::to_string(i));
  }
  EXPECT_EQ(store.counters().syncs, 0u);
  EXPECT_EQ(store.sync_due_in_ms(), -1);
  EXPECT_FALSE(store.sync_if_due());
  EXPECT_TRUE(sync.commit_sync);
}

TEST_F(MemorySyncTest, BatchAndNoneNeedACommitSync) {
  try {
    Store store(*env_, {.durability = Durability::batch, .clock = &clock_});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "durability: batch needs Options::commit_sync to turn commit syncing off");
  }
  EXPECT_THROW(Store(*env_, {.durability = Durability::none, .clock = &clock_}), std::invalid_argument);
}

}  // namespace
}  // namespace smol::storage::memory
